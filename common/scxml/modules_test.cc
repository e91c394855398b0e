// Functional-module elements (modules.h): compiled as executable content,
// executed as sends of the module's type with a request id written to the
// 'requestid' location, and `_genesys.ixn.interactions` fed from events.

#include "common/scxml/modules.h"

#include <memory>
#include <string>
#include <vector>

#include "common/scxml/compiler.h"
#include "common/scxml/interpreter.h"
#include "common/scxml/testing/recording_environment.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace orch::scxml {
namespace {

using ::orch::testing::IsOk;
using ::orch::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kOpen[] =
    R"X(<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript"
        xmlns:ixn="http://www.genesyslab.com/modules/interaction"
        xmlns:dialog="www.genesyslab.com/modules/dialog"
        xmlns:queue="http://www.genesyslab.com/modules/queue">)X";

// Accepts every external send and records it; refuses when `refuse` is set.
class ActionEnvironment : public RecordingEnvironment {
 public:
  struct Sent {
    std::string target, type, name, sendid, data;
  };
  absl::Status SendExternal(const Interpreter&, const std::string& target, const std::string& type,
                            const Event& event) override {
    if (refuse) return absl::UnavailableError("call-watcher is down");
    sent.push_back({target, type, event.name, event.sendid, event.data});
    return absl::OkStatus();
  }
  bool refuse = false;
  std::vector<Sent> sent;
};

std::unique_ptr<Interpreter> StartChart(const std::string& body, ActionEnvironment* env, std::string genesys = "") {
  auto doc = CompileDocument(std::string(kOpen) + body + "</scxml>", "m.scxml", EcmascriptCompileOptions());
  EXPECT_THAT(doc, IsOk());
  if (!doc.ok()) return nullptr;
  auto options = EcmascriptSessionOptions("s");
  options.genesys = std::move(genesys);
  auto s = Interpreter::Create(*doc, env, std::move(options));
  EXPECT_THAT(s, IsOk());
  if (!s.ok()) return nullptr;
  (*s)->SetNow(1'000'000);
  EXPECT_THAT((*s)->Start(), IsOk());
  (*s)->RunUntilIdle();
  return *std::move(s);
}

std::string Var(Interpreter& s, const std::string& name) {
  auto v = s.ReadData(name);
  return v.ok() ? *v : std::string(v.status().message());
}

TEST(ModulesTest, NamespacesWithAndWithoutHttp) {
  EXPECT_EQ(ModuleOfNamespace("http://www.genesyslab.com/modules/interaction"), "interaction");
  EXPECT_EQ(ModuleOfNamespace("www.genesyslab.com/modules/queue"), "queue");
  EXPECT_EQ(ModuleOfNamespace("http://www.genesyslab.com/modules/session"), "");
  EXPECT_EQ(ModuleOfNamespace("http://www.w3.org/2005/07/scxml"), "");
  EXPECT_EQ(ModuleOfSendType(ModuleSendType("dialog")), "dialog");
}

TEST(ModulesTest, ActionIsASendWithEvaluatedAttributesAndChildren) {
  ActionEnvironment env;
  auto s = StartChart(R"X(
    <datamodel><data id="rid"/><data id="agent" expr="'a1'"/></datamodel>
    <state id="q"><onentry>
      <queue:submit requestid="rid" interactionid="'call-1'" queue="'vq'" timeout="10+20" priority="2" route="true">
        <queue:targets>
          <queue:target name="agent" type="agent"/>
          <queue:target name="'sales'" type="'agentgroup'" weight="'60'"/>
        </queue:targets>
      </queue:submit>
    </onentry></state>)X",
                &env);
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(env.sent.size(), 1u);
  const auto& a = env.sent[0];
  EXPECT_EQ(a.type, "http://www.genesyslab.com/modules/queue");
  EXPECT_EQ(a.name, "submit");
  EXPECT_EQ(a.sendid, "s.req1");
  EXPECT_EQ(Var(*s, "rid"), "\"s.req1\"");
  EXPECT_EQ(a.data,
            R"({"module":"queue","action":"submit","requestid":"s.req1","interactionid":"call-1",)"
            R"("target_requestid":null,"params":{"queue":"vq","timeout":30,"priority":2,"route":true,)"
            R"("targets":[{"target":[{"name":"a1","type":"agent"},{"name":"sales","type":"agentgroup","weight":"60"}]}]}})");
}

TEST(ModulesTest, RequestIdIsAnInputForCancelAndStop) {
  ActionEnvironment env;
  auto s = StartChart(R"X(
    <datamodel><data id="sub"/><data id="sub2"/></datamodel>
    <state id="q"><onentry>
      <queue:submit requestid="sub"><queue:targets><queue:target name="'a'" type="agent"/></queue:targets></queue:submit>
      <queue:cancel requestid="sub"/>
      <dialog:playandcollect requestid="sub2">
        <dialog:prompts type="ann"><dialog:prompt text="'hello.wav'" interrupt="true"/></dialog:prompts>
        <dialog:input max_digits="4" term_digits="'#'"/>
        <param name="LANGUAGE" expr="'en'"/>
      </dialog:playandcollect>
    </onentry></state>)X",
                &env);
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(env.sent.size(), 3u);
  EXPECT_THAT(env.sent[1].data, HasSubstr(R"("requestid":"s.req2","interactionid":null,"target_requestid":"s.req1")"));
  EXPECT_EQ(Var(*s, "sub2"), "\"s.req3\"");
  EXPECT_THAT(env.sent[2].data,
              HasSubstr(R"("params":{"prompts":[{"type":"ann","prompt":[{"text":"hello.wav","interrupt":true}]}],)"
                        R"("input":[{"max_digits":4,"term_digits":"#"}],"parameters":{"LANGUAGE":"en"}})"));
}

TEST(ModulesTest, ARefusedActionIsTheModulesErrorEvent) {
  ActionEnvironment env;
  env.refuse = true;
  auto s = StartChart(R"X(
    <datamodel><data id="r"/><data id="got" expr="null"/></datamodel>
    <state id="a">
      <onentry><ixn:redirect requestid="r" to="'7001'"/></onentry>
      <transition event="error.interaction.redirect" cond="_event.data.requestid === r" target="b">
        <assign location="got" expr="_event.data.error + ': ' + _event.data.description"/>
      </transition>
    </state>
    <state id="b"/>)X",
                &env);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(Var(*s, "got"), "\"unavailable: call-watcher is down\"");
}

TEST(ModulesTest, AFailingAttributeRaisesErrorExecutionAndSendsNothing) {
  ActionEnvironment env;
  auto s = StartChart(R"X(
    <datamodel><data id="got" expr="null"/></datamodel>
    <state id="a">
      <onentry><dialog:playsound requestid="r" type="no.such.thing" duration="5"/></onentry>
      <transition event="error.execution" target="b"><assign location="got" expr="_event.data.message"/></transition>
    </state>
    <state id="b"/>)X",
                &env);
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(env.sent.empty());
  EXPECT_THAT(Var(*s, "got"), HasSubstr("m.scxml:"));
  EXPECT_THAT(Var(*s, "got"), HasSubstr("<dialog:playsound>"));
}

TEST(ModulesTest, EventsFeedGenesysInteractions) {
  ActionEnvironment env;
  auto s = StartChart(R"X(
    <datamodel><data id="ani" expr="null"/><data id="tenant" expr="null"/></datamodel>
    <state id="a">
      <transition event="interaction.added" target="b">
        <assign location="ani" expr="_genesys.ixn.interactions[_event.data.interactionid].voice.ani"/>
        <assign location="tenant" expr="_genesys.session.tenant"/>
        <ixn:terminate interactionid="_event.data.interactionid"/>
      </transition>
    </state>
    <state id="b"/>)X",
                &env, R"({"session":{"tenant":"acme"},"ixn":{"interactions":{}}})");
  ASSERT_NE(s, nullptr);
  Event e;
  e.name = "interaction.added";
  e.data = R"({"interactionid":"c1","interaction":{"interactionid":"c1","voice":{"ani":"+15550001"}}})";
  ASSERT_THAT(s->Enqueue(std::move(e)), IsOk());
  s->RunUntilIdle();
  EXPECT_EQ(Var(*s, "ani"), "\"+15550001\"");
  EXPECT_EQ(Var(*s, "tenant"), "\"acme\"");
  ASSERT_EQ(env.sent.size(), 1u);
  EXPECT_THAT(env.sent[0].data, HasSubstr(R"("interactionid":"c1")"));
}

TEST(ModulesTest, DocumentsWithoutModulesHaveNoGenesys) {
  ActionEnvironment env;
  auto s = StartChart(R"X(<datamodel><data id="t" expr="typeof _genesys"/></datamodel><state id="a"/>)X", &env);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(Var(*s, "t"), "\"undefined\"");
}

TEST(ModulesTest, UnknownActionIsALoadErrorNamingTheModulesActions) {
  auto doc = CompileDocument(std::string(kOpen) + R"X(<state id="a"><onentry>
      <ixn:teleport/></onentry></state></scxml>)X",
                             "m.scxml", EcmascriptCompileOptions());
  EXPECT_THAT(doc, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("m.scxml:5:")));
  EXPECT_THAT(doc.status().message(), HasSubstr("<ixn:teleport>: the interaction module has no action 'teleport'"));
  EXPECT_THAT(doc.status().message(), HasSubstr("redirect"));
}

TEST(ModulesTest, ReplayRegeneratesTheSameRequestIds) {
  const std::string body = R"X(
    <datamodel><data id="r"/></datamodel>
    <state id="a"><transition event="go"><dialog:playsound requestid="r" duration="1"/></transition></state>)X";
  ActionEnvironment env1, env2;
  auto s1 = StartChart(body, &env1);
  auto s2 = StartChart(body, &env2);
  ASSERT_NE(s1, nullptr);
  ASSERT_NE(s2, nullptr);
  for (auto* s : {s1.get(), s2.get()}) {
    for (int i = 0; i < 3; ++i) {
      Event e;
      e.name = "go";
      ASSERT_THAT(s->Enqueue(std::move(e)), IsOk());
      s->RunUntilIdle();
    }
  }
  ASSERT_EQ(env1.sent.size(), 3u);
  ASSERT_EQ(env2.sent.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(env1.sent[i].data, env2.sent[i].data);
  EXPECT_EQ(env1.sent[2].sendid, "s.req3");
}

}  // namespace
}  // namespace orch::scxml
