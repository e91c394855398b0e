// Content runs: which elements BuildContentRuns groups, and that a session
// whose data model runs them in one call behaves exactly like one whose
// data model leaves every element to the interpreter (same configurations,
// logs, error events and snapshot bytes).

#include "common/scxml/content_runs.h"

#include <memory>
#include <string>
#include <vector>

#include "common/scxml/compiler.h"
#include "common/scxml/interpreter.h"
#include "common/scxml/testing/recording_environment.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "orch/scxml/v1/snapshot.pb.h"

namespace orch::scxml {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::shared_ptr<const Document> CompileEcmascript(const std::string& body) {
  auto doc = CompileDocument(
      R"(<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript">)" + body +
          "</scxml>",
      "t.scxml", EcmascriptCompileOptions());
  EXPECT_TRUE(doc.ok()) << doc.status();
  return doc.ok() ? *doc : nullptr;
}

TEST(ContentRunsTest, GroupsConsecutiveDataModelElements) {
  auto doc = CompileEcmascript(R"(
    <datamodel><data id="x" expr="0"/><data id="a" expr="[1,2]"/></datamodel>
    <state id="s">
      <onentry>
        <assign location="x" expr="1"/>
        <assign location="x" expr="2"/>
        <log label="l" expr="x"/>
        <assign location="x" expr="3"/>
        <if cond="x &gt; 1"><assign location="x" expr="4"/><elseif cond="x"/><else/></if>
        <foreach array="a" item="v" index="i"><raise event="r"/>
          <assign location="x" expr="v"/><assign location="x" expr="v + 1"/></foreach>
      </onentry>
    </state>)");
  ASSERT_NE(doc, nullptr);
  const Block& block = doc->states[1].onentry[0];
  ASSERT_EQ(block.size(), 6u);
  // [assign, assign] log [assign, if] foreach (a <raise> inside: not in a
  // run, but its two assigns are one)
  EXPECT_EQ(block[0].run, 0u);
  EXPECT_EQ(block[0].run_length, 2u);
  EXPECT_EQ(block[1].run, kNoCode);
  EXPECT_EQ(block[2].run, kNoCode);
  EXPECT_EQ(block[3].run, 1u);
  EXPECT_EQ(block[3].run_length, 2u);
  EXPECT_EQ(block[4].run, kNoCode);  // inside run 1
  EXPECT_EQ(block[5].run, kNoCode);
  EXPECT_EQ(block[5].body[1].run, 2u);
  EXPECT_EQ(block[5].body[1].run_length, 2u);
  ASSERT_EQ(doc->content_runs.size(), 3u);

  // Ops in the order of evaluation, each reported as its element.
  const ContentRun& run = doc->content_runs[1];
  ASSERT_EQ(run.nodes.size(), 2u);
  EXPECT_EQ(run.nodes[0].op, 0u);
  ASSERT_EQ(run.nodes[1].branches.size(), 3u);
  EXPECT_EQ(run.nodes[1].branches[0].op, 1u);
  EXPECT_EQ(run.nodes[1].branches[0].body[0].op, 2u);
  EXPECT_EQ(run.nodes[1].branches[1].op, 3u);
  EXPECT_EQ(run.nodes[1].branches[2].cond, kNoCode);
  ASSERT_EQ(run.ops.size(), 4u);
  EXPECT_STREQ(run.ops[0].tag, "<assign>");
  EXPECT_STREQ(run.ops[1].tag, "<if>");
  EXPECT_STREQ(run.ops[2].tag, "<assign>");
  EXPECT_EQ(run.ops[1].where, block[4].where);  // the <if>
}

TEST(ContentRunsTest, LoneAssignAndContentAssignAreNotRuns) {
  auto doc = CompileEcmascript(R"(
    <datamodel><data id="x"/></datamodel>
    <state id="s"><onentry><assign location="x" expr="1"/></onentry>
      <onexit><assign location="x">{"a": 1}</assign><assign location="x" expr="2"/></onexit></state>)");
  ASSERT_NE(doc, nullptr);
  EXPECT_EQ(doc->states[1].onentry[0][0].run, kNoCode);
  EXPECT_EQ(doc->states[1].onexit[0][0].run, kNoCode);
  EXPECT_EQ(doc->states[1].onexit[0][1].run, kNoCode);
  EXPECT_TRUE(doc->content_runs.empty());
}

// A data model that runs no content run: every element goes through the
// interpreter, one data-model call each.
class ElementByElement final : public DataModel {
 public:
  explicit ElementByElement(std::unique_ptr<DataModel> inner) : inner_(std::move(inner)) {}
  absl::Status Init(std::string_view a, std::string_view b, std::string_view c, uint64_t d) override {
    return inner_->Init(a, b, c, d);
  }
  absl::Status DeclareData(std::string_view id, std::string_view v) override { return inner_->DeclareData(id, v); }
  absl::Status DeclareDataExpr(std::string_view id, uint32_t e) override { return inner_->DeclareDataExpr(id, e); }
  absl::StatusOr<bool> EvalCondition(uint32_t c) override { return inner_->EvalCondition(c); }
  absl::StatusOr<std::string> EvalValue(uint32_t e) override { return inner_->EvalValue(e); }
  absl::StatusOr<std::string> EvalString(uint32_t e) override { return inner_->EvalString(e); }
  absl::Status Assign(uint32_t l, uint32_t e) override { return inner_->Assign(l, e); }
  absl::Status AssignValue(uint32_t l, std::string_view v) override { return inner_->AssignValue(l, v); }
  absl::Status Execute(uint32_t s) override { return inner_->Execute(s); }
  absl::Status SetEvent(const EventFields& e) override { return inner_->SetEvent(e); }
  absl::StatusOr<size_t> ForeachBegin(uint32_t a) override { return inner_->ForeachBegin(a); }
  absl::Status ForeachStep(size_t i, uint32_t item, uint32_t index) override {
    return inner_->ForeachStep(i, item, index);
  }
  void ForeachEnd() override { inner_->ForeachEnd(); }
  absl::StatusOr<std::string> Serialize() override { return inner_->Serialize(); }
  absl::Status Restore(std::string_view bytes) override { return inner_->Restore(bytes); }
  size_t MemoryBytes() const override { return inner_->MemoryBytes(); }

 private:
  std::unique_ptr<DataModel> inner_;
};

class ElementByElementFactory final : public DataModelFactory {
 public:
  absl::StatusOr<std::shared_ptr<const CompiledCode>> Compile(const std::vector<CodeSpec>& specs) override {
    return EcmascriptFactory()->Compile(specs);
  }
  absl::StatusOr<std::unique_ptr<DataModel>> Create(std::shared_ptr<const CompiledCode> code, DataModelHost* host,
                                                    const DataModelLimits& limits) override {
    auto inner = EcmascriptFactory()->Create(std::move(code), host, limits);
    if (!inner.ok()) return inner.status();
    return std::unique_ptr<DataModel>(new ElementByElement(*std::move(inner)));
  }
};

// What a session did: configuration and logs after each event, then the
// snapshot's bytes.
struct Trace {
  std::vector<std::string> steps;
  std::string snapshot;
};

Trace RunSession(const std::shared_ptr<const Document>& doc, DataModelFactory* factory,
          const std::vector<std::string>& events) {
  RecordingEnvironment env;
  InterpreterOptions options = EcmascriptSessionOptions("s");
  options.ecmascript = factory;
  auto s = Interpreter::Create(doc, &env, options);
  EXPECT_TRUE(s.ok()) << s.status();
  Trace t;
  if (!s.ok()) return t;
  (*s)->SetNow(1000);
  EXPECT_TRUE((*s)->Start().ok());
  Settle(s->get());
  auto record = [&] {
    std::string line;
    for (const std::string& a : (*s)->ActiveStates(true)) line += a + " ";
    for (const std::string& l : env.logs) line += "| " + l;
    env.logs.clear();
    t.steps.push_back(line);
  };
  record();
  for (const std::string& name : events) {
    Event e;
    e.name = name;
    EXPECT_TRUE((*s)->Enqueue(e).ok());
    Settle(s->get());
    record();
  }
  v1::SessionSnapshot snap;
  EXPECT_TRUE((*s)->Snapshot(&snap).ok());
  t.snapshot = snap.SerializeAsString();
  return t;
}

// Runs with errors at every kind of operation; each error.execution's data
// is logged, so the messages are compared too.
constexpr char kChart[] = R"xml(
  <datamodel>
    <data id="n" expr="0"/><data id="log" expr="[]"/><data id="list" expr="[1, 2, 3]"/>
    <data id="obj" expr="null"/><data id="mode" expr="'ok'"/><data id="holder" expr="({ok: {}})"/>
  </datamodel>
  <state id="s">
    <transition event="error.execution" target="s">
      <log label="error" expr="_event.data"/>
      <assign location="mode" expr="'ok'"/>
    </transition>
    <transition event="go" target="s">
      <assign location="mode" expr="'ok'"/>
    </transition>
    <transition event="bad_assign" target="s">
      <assign location="mode" expr="'bad_assign'"/>
    </transition>
    <transition event="bad_cond" target="s"><assign location="mode" expr="'bad_cond'"/></transition>
    <transition event="bad_array" target="s"><assign location="mode" expr="'bad_array'"/></transition>
    <transition event="bad_item" target="s"><assign location="mode" expr="'bad_item'"/></transition>
    <onentry>
      <assign location="n" expr="n + 1"/>
      <if cond="mode === 'never'">
        <assign location="n" expr="n + 100"/>
      <elseif cond="mode === 'bad_cond' ? obj.missing : false"/>
        <assign location="n" expr="-1"/>
      <else/>
        <assign location="n" expr="n + 10"/>
      </if>
      <foreach array="mode === 'bad_array' ? obj : list" item="fresh" index="idx">
        <assign location="n" expr="n + fresh"/>
        <if cond="mode === 'bad_item' &amp;&amp; idx === 1">
          <assign location="obj.field" expr="idx"/>
        </if>
        <assign location="list[idx + 3]" expr="fresh"/>
      </foreach>
      <assign location="holder[mode].n" expr="n"/>
      <assign location="n" expr="n + list.length"/>
    </onentry>
  </state>)xml";

TEST(ContentRunsTest, RunsBehaveLikeElementByElement) {
  auto doc = CompileEcmascript(kChart);
  ASSERT_NE(doc, nullptr);
  ASSERT_FALSE(doc->content_runs.empty());
  const std::vector<std::string> events = {"go", "bad_assign", "go", "bad_cond", "bad_array", "bad_item", "go"};
  ElementByElementFactory element_by_element;
  const Trace runs = RunSession(doc, EcmascriptFactory(), events);
  const Trace elements = RunSession(doc, &element_by_element, events);
  EXPECT_EQ(runs.steps, elements.steps);
  EXPECT_EQ(runs.snapshot, elements.snapshot);
  ASSERT_EQ(runs.steps.size(), events.size() + 1);
  // The errors did happen (the comparison is not between two quiet runs).
  std::string all;
  for (const std::string& s : runs.steps) all += s + "\n";
  EXPECT_THAT(all, HasSubstr("<foreach>: <foreach> array is not an array"));
  EXPECT_THAT(all, HasSubstr("<if>: "));
  EXPECT_THAT(all, HasSubstr("<assign>: "));
}

TEST(ContentRunsTest, RoutingChartMatchesElementByElement) {
  auto doc = CompileEcmascript(R"xml(
    <datamodel><data id="agents" expr="[{id: 'a', level: 1}, {id: 'b', level: 3}, {id: 'c', level: 2}]"/>
      <data id="best" expr="null"/><data id="bestLevel" expr="-1"/><data id="count" expr="0"/></datamodel>
    <state id="s">
      <transition event="pick" target="s"/>
      <onentry>
        <assign location="best" expr="null"/><assign location="bestLevel" expr="-1"/>
        <foreach array="agents" item="agent">
          <if cond="agent.level &gt; bestLevel">
            <assign location="best" expr="agent.id"/><assign location="bestLevel" expr="agent.level"/>
          </if>
        </foreach>
        <assign location="count" expr="count + 1"/>
        <log label="best" expr="[best, bestLevel, count, typeof agent].join(' ')"/>
      </onentry>
    </state>)xml");
  ASSERT_NE(doc, nullptr);
  ElementByElementFactory element_by_element;
  const Trace runs = RunSession(doc, EcmascriptFactory(), {"pick", "pick"});
  const Trace elements = RunSession(doc, &element_by_element, {"pick", "pick"});
  EXPECT_EQ(runs.steps, elements.steps);
  EXPECT_EQ(runs.snapshot, elements.snapshot);
  EXPECT_THAT(runs.steps, ElementsAre("s | best=\"b 3 1 object\"", "s | best=\"b 3 2 object\"",
                                      "s | best=\"b 3 3 object\""));
}

}  // namespace
}  // namespace orch::scxml
