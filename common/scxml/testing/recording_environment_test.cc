#include "common/scxml/testing/recording_environment.h"

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace orch::scxml {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

std::shared_ptr<const Document> Compile(const std::string& body) {
  auto doc = CompileDocument(
      R"(<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="null">)" + body + "</scxml>",
      "t.scxml", CompileOptions());
  EXPECT_OK(doc);
  return doc.ok() ? *doc : nullptr;
}

std::unique_ptr<Interpreter> Start(std::shared_ptr<const Document> doc, RecordingEnvironment* env) {
  InterpreterOptions options;
  options.session_id = "s";
  auto s = Interpreter::Create(std::move(doc), env, options);
  EXPECT_OK(s);
  (*s)->SetNow(1000);
  EXPECT_OK((*s)->Start());
  Settle(s->get());
  return *std::move(s);
}

TEST(RecordingEnvironmentTest, RecordsLogsAndRefusedSendsWithChildrenNamed) {
  RecordingEnvironment env;
  env.documents["child.scxml"] = Compile(R"(<state id="c"><onentry><log label="in" expr="'child'"/></onentry></state>)");
  auto s = Start(Compile(R"(
    <state id="a"><invoke id="kid" src="child.scxml"/>
      <onentry><log label="in" expr="'root'"/><send target="#_scxml_elsewhere" event="ping"/></onentry>
      <transition event="error.communication"><log label="refused" expr="'yes'"/></transition></state>)"),
                 &env);
  ASSERT_EQ(env.logs.size(), 3u);
  EXPECT_EQ(env.logs[0], "in=\"root\"");
  EXPECT_EQ(env.logs[1], "refused=\"yes\"");
  EXPECT_THAT(env.logs[2], AllOf(StartsWith("s."), HasSubstr(": in=\"child\"")));
  EXPECT_THAT(env.external, ElementsAre("#_scxml_elsewhere ping"));
  EXPECT_THAT(env.transcript, HasSubstr("log s in=\"root\"\nexternal s -> #_scxml_elsewhere () ping undefined\n"));
}

TEST(RecordingEnvironmentTest, UnknownDocumentsAreNotFound) {
  RecordingEnvironment env;
  EXPECT_THAT(env.LoadDocument("nowhere.scxml", ""),
              ::orch::testing::StatusIs(absl::StatusCode::kNotFound, HasSubstr("nowhere.scxml")));
}

TEST(RecordingEnvironmentTest, RecordsNothingBeyondTheLimit) {
  RecordingEnvironment env;
  env.max_recorded_bytes = 20;
  env.Append("0123456789");
  env.Append("0123456789A");  // does not fit: dropped, and the record is full
  env.Append("B");
  EXPECT_EQ(env.transcript, "0123456789");
  RecordingEnvironment silent;
  silent.max_recorded_bytes = 0;
  auto s = Start(Compile(R"(<state id="a"><onentry><log label="x" expr="'y'"/></onentry></state>)"), &silent);
  EXPECT_THAT(silent.logs, IsEmpty());
  EXPECT_THAT(silent.transcript, IsEmpty());
}

TEST(AdvanceClockTest, FiresEachDelayedSendAtItsTime) {
  RecordingEnvironment env;
  auto s = Start(Compile(R"(
    <state id="a"><onentry><send event="t1" delay="1s"/><send event="t2" delay="3s"/></onentry>
      <transition event="t1" target="b"/></state>
    <state id="b"><transition event="t2" target="c"/></state>
    <state id="c"/>)"), &env);
  AdvanceClock(s.get(), 999);
  EXPECT_THAT(s->ActiveStates(true), ElementsAre("a"));
  AdvanceClock(s.get(), 1);
  EXPECT_THAT(s->ActiveStates(true), ElementsAre("b"));
  EXPECT_EQ(s->now(), 2000);
  AdvanceClock(s.get(), 5000);
  EXPECT_THAT(s->ActiveStates(true), ElementsAre("c"));
  EXPECT_EQ(s->now(), 7000);
}

}  // namespace
}  // namespace orch::scxml
