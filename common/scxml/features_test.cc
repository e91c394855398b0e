// Charts written here for features of the issue that interpreter_test.cc and
// compiler_test.cc do not cover, each with its expected behaviour, with the
// ECMAScript data model: limits, error.communication, <invoke> autoforward /
// finalize / cancellation on exit / idlocation, <donedata>, <send> namelist /
// param / content, the _event fields, early and late binding — and the
// regressions found by fuzzing (tests/fuzz) and by the replay test.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/base/json.h"
#include "common/scxml/compiler.h"
#include "common/scxml/delay.h"
#include "common/scxml/interpreter.h"
#include "common/scxml/testing/recording_environment.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "orch/scxml/v1/snapshot.pb.h"

namespace orch::scxml {
namespace {

using ::orch::testing::IsOk;
using ::orch::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kOpen[] = R"X(<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript")X";

std::shared_ptr<const Document> Compile(const std::string& body, const std::string& attrs = "") {
  auto doc =
      CompileDocument(std::string(kOpen) + attrs + ">" + body + "</scxml>", "f.scxml", EcmascriptCompileOptions());
  EXPECT_THAT(doc, IsOk());
  return doc.ok() ? *doc : nullptr;
}

std::unique_ptr<Interpreter> Start(std::shared_ptr<const Document> doc, RecordingEnvironment* env,
                                   InterpreterOptions options = EcmascriptSessionOptions("s")) {
  auto s = Interpreter::Create(std::move(doc), env, std::move(options));
  EXPECT_THAT(s, IsOk());
  if (!s.ok()) return nullptr;
  (*s)->SetNow(1'000'000);
  EXPECT_THAT((*s)->Start(), IsOk());
  (*s)->RunUntilIdle();
  return *std::move(s);
}

void Send(Interpreter& s, const std::string& name, const std::string& data = "undefined") {
  Event e;
  e.name = name;
  e.data = data;
  ASSERT_THAT(s.Enqueue(std::move(e)), IsOk());
  s.RunUntilIdle();
}

// ---------------------------------------------------------------- limits

// A livelock of eventless transitions is cut at max_microsteps with
// error.execution, and it stays cut: RunUntilIdle returns after a bounded
// amount of work instead of restarting the livelock 100,000 times (fuzzing
// found the driver spinning; tests/fuzz/corpus/scxml_run/foreach_errors.txt).
TEST(LimitsTest, LivelockIsCutAndDoesNotSpinTheDriver) {
  RecordingEnvironment env(EcmascriptCompileOptions());
  InterpreterOptions options = EcmascriptSessionOptions("s");
  options.max_microsteps = 20;
  auto s = Start(Compile(R"X(
    <state id="a"><transition target="b"><log label="t" expr="1"/></transition></state>
    <state id="b"><transition target="a"/></state>)X"), &env, options);
  ASSERT_NE(s, nullptr);
  EXPECT_FALSE(s->finished());
  EXPECT_LE(env.logs.size(), 40u);  // at most two cut macrosteps' worth
  const size_t after_start = env.logs.size();
  EXPECT_EQ(s->RunUntilIdle(), StepResult::kIdle);
  EXPECT_LE(env.logs.size() - after_start, 20u);  // one more slice, then idle
}

// A long eventless chain (a counter) is cut into slices of max_microsteps,
// one per driver call (RunUntilIdle), and ends; the chart then sees the
// error.execution the cut raised.
TEST(LimitsTest, LongEventlessChainContinuesAfterTheCut) {
  RecordingEnvironment env(EcmascriptCompileOptions());
  InterpreterOptions options = EcmascriptSessionOptions("s");
  options.max_microsteps = 10;
  auto s = Start(Compile(R"X(
    <datamodel><data id="n" expr="0"/><data id="errors" expr="0"/></datamodel>
    <state id="a"><transition cond="n &lt; 25" target="a"><assign location="n" expr="n + 1"/></transition>
      <transition event="error.execution" target="done"><assign location="errors" expr="errors + 1"/></transition></state>
    <final id="done"><onentry><log label="n" expr="n"/><log label="errors" expr="errors"/></onentry></final>)X"), &env,
                 options);
  ASSERT_NE(s, nullptr);
  EXPECT_FALSE(s->finished());  // Start and one RunUntilIdle: two slices of 10
  EXPECT_TRUE(env.logs.empty());
  s->RunUntilIdle();
  EXPECT_EQ(s->final_state(), "done");
  EXPECT_THAT(env.logs, ElementsAre("n=25", "errors=1"));
}

TEST(LimitsTest, HugeDocumentIsRejectedAtLoadWithDefaults) {
  std::string huge = std::string(kOpen) + "><state id=\"a\"/><!--" + std::string(17 << 20, 'x') + "--></scxml>";
  EXPECT_THAT(CompileDocument(huge, "huge.scxml", EcmascriptCompileOptions()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("huge.scxml:1:1: document is")));
}

TEST(LimitsTest, TooManyStates) {
  CompileOptions options = EcmascriptCompileOptions();
  options.max_states = 5;
  std::string body;
  for (int i = 0; i < 10; ++i) body += absl::StrCat("<state id=\"s", i, "\"/>");
  EXPECT_THAT(CompileDocument(std::string(kOpen) + ">" + body + "</scxml>", "many.scxml", options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("more than 5 states")));
}

// Events with huge data are refused at the door, as are bytes a snapshot
// could not hold (fuzzing: tests/fuzz/corpus/scxml_run/regress_invalid_utf8_event.txt).
TEST(LimitsTest, EnqueueRefusesHugeAndNonUtf8Events) {
  RecordingEnvironment env(EcmascriptCompileOptions());
  InterpreterOptions options = EcmascriptSessionOptions("s");
  options.max_event_bytes = 1000;
  auto s = Start(Compile(R"X(<state id="a"/>)X"), &env, options);
  ASSERT_NE(s, nullptr);
  Event big;
  big.name = "big";
  big.data = "\"" + std::string(2000, 'x') + "\"";
  EXPECT_THAT(s->Enqueue(big), StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("limit is 1000")));
  Event bad;
  bad.name = "ke\xff\x90y";
  EXPECT_THAT(s->Enqueue(bad), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("UTF-8")));
  Event surrogate;
  surrogate.name = "x";
  surrogate.data = "\"\xed\xa0\x80\"";  // U+D800 encoded: not UTF-8
  EXPECT_THAT(s->Enqueue(surrogate), StatusIs(absl::StatusCode::kInvalidArgument));
  Event fine;
  fine.name = "caf\xc3\xa9.\xf0\x9f\x98\x80";
  fine.data = "{\"k\":\"\xe2\x82\xac\"}";
  EXPECT_THAT(s->Enqueue(fine), IsOk());
  EXPECT_EQ(s->pending_external(), 1u);
}

// A <send> whose data is larger than the event limit is refused with
// error.execution, carrying the send's id.
TEST(LimitsTest, OversizedSendIsErrorExecution) {
  RecordingEnvironment env(EcmascriptCompileOptions());
  InterpreterOptions options = EcmascriptSessionOptions("s");
  options.max_event_bytes = 1000;
  auto s = Start(Compile(R"X(
    <datamodel><data id="big" expr="new Array(3000).join('x')"/></datamodel>
    <state id="a"><onentry><send id="huge" event="self"><content expr="big"/></send></onentry>
      <transition event="error.execution" target="ok"><log label="sendid" expr="_event.sendid"/></transition>
      <transition event="self" target="wrong"/></state>
    <final id="ok"/><final id="wrong"/>)X"), &env, options);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->final_state(), "ok");
  EXPECT_THAT(env.logs, ElementsAre("sendid=\"huge\""));
}

// A <foreach> over a big array cannot fill memory through the queues: the
// internal queue, the pending delayed sends and the data of one <send> are
// bounded, and going beyond raises error.execution.
TEST(LimitsTest, RaiseAndSendInBigLoopsAreBounded) {
  RecordingEnvironment env(EcmascriptCompileOptions());
  InterpreterOptions options = EcmascriptSessionOptions("s");
  options.max_internal_queue = 50;
  options.max_pending_sends = 5;
  options.max_event_bytes = 1000;
  auto s = Start(Compile(R"X(
    <datamodel><data id="raised" expr="0"/><data id="fired" expr="0"/><data id="errors" expr="[]"/>
      <data id="big" expr="new Array(2000).join('x')"/></datamodel>
    <state id="a">
      <onentry>
        <foreach array="[1,2,3,4,5,6,7,8,9,10]" item="i"><send event="later" delay="1s"/></foreach>
      </onentry>
      <onentry><send event="fat"><content expr="big"/></send></onentry>
      <onentry>
        <foreach array="new Array(100).join(',').split(',')" item="i"><raise event="r"/></foreach>
      </onentry>
      <transition event="r"><assign location="raised" expr="raised + 1"/></transition>
      <transition event="later"><assign location="fired" expr="fired + 1"/></transition>
      <transition event="error.execution"><script>errors.push(_event.data.message.replace(/^.*: /, ''));</script></transition>
      <transition event="show"><log label="raised" expr="raised"/><log label="fired" expr="fired"/>
        <log label="errors" expr="errors"/></transition>
    </state>)X"), &env, options);
  ASSERT_NE(s, nullptr);
  s->SetNow(1'001'000);
  s->RunUntilIdle();
  Send(*s, "show");
  // Two errors were queued before the loop, so 48 raises fit.
  EXPECT_THAT(env.logs, ElementsAre("raised=48", "fired=5",
                                    "errors=[\"more than 5 delayed sends pending\",\"2001 bytes; the limit is "
                                    "1000\",\"internal queue full (50 events)\"]"));
}

// XML errors whose libxml2 text spans lines are still one problem line
// (fuzzing: tests/fuzz/corpus/scxml_parse/regress_multiline_xml_error.scxml).
TEST(LimitsTest, MalformedXmlProblemIsOneLine) {
  const std::string bad = std::string(kOpen) + "><state id=\"a\">\xa1\x44OC\xac\xa6</state></scxml>";
  std::vector<std::string> problems = ValidateDocument(bad, "bad.scxml", EcmascriptCompileOptions());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_THAT(problems[0], HasSubstr("bad.scxml:1:"));
  EXPECT_EQ(problems[0].find('\n'), std::string::npos) << problems[0];
}

// ---------------------------------------------------------------- errors

TEST(ErrorCommunicationTest, UnreachableTargetsRaiseErrorCommunicationWithSendid) {
  RecordingEnvironment env(EcmascriptCompileOptions());
  auto s = Start(Compile(R"X(
    <datamodel><data id="id1"/><data id="seen" expr="[]"/></datamodel>
    <state id="a">
      <onentry>
        <send event="x" target="#_scxml_nobody" idlocation="id1"/>
        <send id="web" event="y" target="http://127.0.0.1:9/" type="http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor"/>
        <send id="kid" event="z" target="#_nokid"/>
      </onentry>
      <transition event="error.communication"><script>seen.push(_event.sendid + ':' + _event.type);</script></transition>
      <transition event="go" target="b"><log label="seen" expr="seen.join(' ')"/><log label="id1" expr="id1"/></transition>
    </state>
    <state id="b"/>)X"), &env);
  ASSERT_NE(s, nullptr);
  Send(*s, "go");
  EXPECT_THAT(env.logs, ElementsAre("seen=\"s.send1:platform web:platform kid:platform\"", "id1=\"s.send1\""));
  EXPECT_THAT(env.external, ElementsAre("#_scxml_nobody x", "http://127.0.0.1:9/ y"));
}

TEST(ErrorExecutionTest, BadSendTypeAndTargetAreErrorExecution) {
  RecordingEnvironment env(EcmascriptCompileOptions());
  auto s = Start(Compile(R"X(
    <datamodel><data id="errs" expr="0"/></datamodel>
    <state id="a">
      <onentry><send event="x" type="no-such-type"/></onentry>
      <onentry><send event="y" targetexpr="'mailto:x'"/></onentry>
      <transition event="error.execution"><assign location="errs" expr="errs + 1"/></transition>
      <transition event="go" target="b"><log label="errs" expr="errs"/></transition>
    </state><state id="b"/>)X"), &env);
  ASSERT_NE(s, nullptr);
  Send(*s, "go");
  EXPECT_THAT(env.logs, ElementsAre("errs=2"));
}

// delay and delayexpr follow one rule (common/scxml/delay.h): the same text
// gives the same delay, and a value beyond the limit is refused by both.
TEST(DelayTest, DelayexprBehavesLikeDelay) {
  RecordingEnvironment env(EcmascriptCompileOptions());
  auto s = Start(Compile(R"X(
    <state id="a">
      <onentry><send event="by_delay" delay=" 5s"/><send event="by_expr" delayexpr="' 5s'"/>
        <send event="by_delay" delay="5s "/><send event="by_expr" delayexpr="'5s '"/></onentry>
      <transition event="by_delay"><log label="fired" expr="'delay'"/></transition>
      <transition event="by_expr"><log label="fired" expr="'delayexpr'"/></transition>
      <transition event="error.execution"><log label="error" expr="_event.data.message"/></transition>
    </state>)X"), &env);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->NextDueMs(), 1'000'000 + 5000);
  s->SetNow(1'000'000 + 4999);
  s->RunUntilIdle();
  EXPECT_THAT(env.logs, ElementsAre());
  s->SetNow(1'000'000 + 5000);
  s->RunUntilIdle();
  EXPECT_THAT(env.logs, ElementsAre("fired=\"delay\"", "fired=\"delayexpr\"", "fired=\"delay\"",
                                    "fired=\"delayexpr\""));
}

TEST(DelayTest, DelayexprBeyondTheLimitIsRefusedLikeDelay) {
  EXPECT_THAT(CompileDocument(std::string(kOpen) + R"X(><state id="a"><onentry>
                <send event="e" delay="1000000001s"/></onentry></state></scxml>)X",
                              "f.scxml", EcmascriptCompileOptions()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("delay '1000000001s' is longer than the limit")));
  RecordingEnvironment env(EcmascriptCompileOptions());
  auto s = Start(Compile(R"X(
    <state id="a">
      <onentry><send event="longest" delayexpr="'1000000000s'"/></onentry>
      <onentry><send event="too_long" delayexpr="'1000000001s'"/></onentry>
      <onentry><send event="spaced" delayexpr="'5 s'"/></onentry>
      <transition event="error.execution"><log label="error" expr="_event.data.message"/></transition>
    </state>)X"), &env);
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(env.logs.size(), 2u);
  EXPECT_THAT(env.logs[0], HasSubstr("<send> delayexpr: '1000000001s' is longer than the limit of 1000000000000 ms"));
  EXPECT_THAT(env.logs[1], HasSubstr("<send> delayexpr: '5 s' is not a time such as 500ms"));
  EXPECT_EQ(s->NextDueMs(), 1'000'000 + kMaxDelayMs);
}

// ---------------------------------------------------------------- invoke

const char kCounterChild[] = R"X(
  <content><scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript">
    <datamodel><data id="n" expr="0"/></datamodel>
    <state id="c">
      <onexit><log label="child-exit" expr="n"/></onexit>
      <transition event="tick"><assign location="n" expr="n + 1"/>
        <send event="count" target="#_parent"><param name="n" expr="n"/></send></transition>
      <transition event="end" target="cf"/>
    </state>
    <final id="cf"><donedata><param name="total" expr="n"/></donedata></final>
  </scxml></content>)X";

TEST(InvokeTest, AutoforwardFinalizeAndDoneInvoke) {
  RecordingEnvironment env(EcmascriptCompileOptions());
  auto s = Start(Compile(std::string(R"X(
    <datamodel><data id="last" expr="0"/><data id="kid"/></datamodel>
    <state id="p">
      <invoke idlocation="kid" autoforward="true">)X") + kCounterChild + R"X(
        <finalize><assign location="last" expr="_event.data.n * 10"/></finalize>
      </invoke>
      <transition event="count"><log label="last" expr="last"/></transition>
      <transition event="done.invoke" target="over"><log label="done" expr="_event.data"/>
        <log label="invokeid" expr="_event.invokeid === kid"/></transition>
    </state>
    <final id="over"/>)X"), &env);
  ASSERT_NE(s, nullptr);
  Send(*s, "tick");   // forwarded; the child counts and answers
  Send(*s, "tick");
  Send(*s, "end");
  EXPECT_EQ(s->final_state(), "over");
  // <finalize> ran before the transition on each "count" (last = n * 10).
  EXPECT_THAT(env.logs, ElementsAre("last=10", "last=20", "s.2: child-exit=2", "done={\"total\":2}", "invokeid=true"));
}

TEST(InvokeTest, LeavingTheStateCancelsTheChild) {
  RecordingEnvironment env(EcmascriptCompileOptions());
  auto s = Start(Compile(std::string(R"X(
    <datamodel><data id="kid"/></datamodel>
    <state id="p">
      <invoke idlocation="kid">)X") + kCounterChild + R"X(</invoke>
      <transition event="tick"><send event="tick" targetexpr="'#_' + kid"/></transition>
      <transition event="count"><log label="count" expr="_event.data.n"/></transition>
      <transition event="leave" target="q"/>
    </state>
    <state id="q">
      <onentry><send id="late" event="tick" targetexpr="'#_' + kid"/></onentry>
      <transition event="error.communication"><log label="gone" expr="_event.sendid"/></transition>
      <transition event="done.invoke" target="wrong"/>
    </state>
    <final id="wrong"/>)X"), &env);
  ASSERT_NE(s, nullptr);
  Send(*s, "tick");
  Send(*s, "leave");
  // Cancelled: its onexit runs (it is exited), no done.invoke, and sends to it fail.
  EXPECT_FALSE(s->finished());
  EXPECT_THAT(s->ActiveStates(false), ElementsAre("q"));
  EXPECT_THAT(env.logs, ElementsAre("count=1", "gone=\"late\""));
}

TEST(InvokeTest, IdlocationAndGeneratedIds) {
  RecordingEnvironment env(EcmascriptCompileOptions());
  auto s = Start(Compile(std::string(R"X(
    <datamodel><data id="kid"/><data id="sid"/></datamodel>
    <state id="p">
      <onentry><send event="later" delay="1s" idlocation="sid"/></onentry>
      <invoke idlocation="kid">)X") + kCounterChild + R"X(</invoke>
      <transition event="show"><log label="kid" expr="kid"/><log label="sid" expr="sid"/></transition>
    </state>)X"), &env);
  ASSERT_NE(s, nullptr);
  Send(*s, "show");
  EXPECT_THAT(env.logs, ElementsAre("kid=\"p.s.inv2\"", "sid=\"s.send1\""));
}

// Unbounded recursion of <invoke> (a chart that invokes itself through
// <content expr>) must not crash; it is cut somewhere (error.execution or a
// refused child) and the parent keeps working.
TEST(InvokeTest, SelfInvocationThroughContentExprIsBounded) {
  RecordingEnvironment env(EcmascriptCompileOptions());
  const std::string self = std::string(kOpen) + R"X(>
    <datamodel><data id="src"/><data id="depth" expr="0"/></datamodel>
    <state id="r"><invoke><content expr="src"/><param name="src" expr="src"/><param name="depth" expr="depth + 1"/></invoke></state>
    </scxml>)X";
  InterpreterOptions options = EcmascriptSessionOptions("s");
  options.initial_data["src"] = orch::JsonString(self);
  auto doc = CompileDocument(self, "self.scxml", EcmascriptCompileOptions());
  ASSERT_THAT(doc, IsOk());
  auto s = Start(*doc, &env, options);
  ASSERT_NE(s, nullptr);
  EXPECT_FALSE(s->finished());
  // The chain stops at max_invoke_depth (16 levels of children: s.2,
  // s.2.2, ...; the counter gave 1 to the generated invoke id), where the
  // deepest session's own <invoke> failed.
  std::string deepest = "s";
  int levels = 0;
  while (levels < 100 && s->FindSession(deepest + ".2") != nullptr) {
    deepest += ".2";
    ++levels;
  }
  EXPECT_EQ(levels, 16);
}

// ---------------------------------------------------------------- data

TEST(DoneDataTest, ParamsAndContentBecomeDoneStateData) {
  RecordingEnvironment env(EcmascriptCompileOptions());
  auto s = Start(Compile(R"X(
    <datamodel><data id="x" expr="5"/></datamodel>
    <state id="outer" initial="c1">
      <state id="c1"><transition event="go" target="f1"/></state>
      <final id="f1"><donedata><param name="a" expr="x + 1"/><param name="b" location="x"/></donedata></final>
      <transition event="done.state.outer" target="second"><log label="d1" expr="_event.data"/></transition>
    </state>
    <state id="second" initial="c2">
      <state id="c2"><transition event="go" target="f2"/></state>
      <final id="f2"><donedata><content expr="[x, 'y']"/></donedata></final>
      <transition event="done.state.second" target="end"><log label="d2" expr="_event.data"/></transition>
    </state>
    <final id="end"/>)X"), &env);
  ASSERT_NE(s, nullptr);
  Send(*s, "go");
  Send(*s, "go");
  EXPECT_EQ(s->final_state(), "end");
  EXPECT_THAT(env.logs, ElementsAre("d1={\"a\":6,\"b\":5}", "d2=[5,\"y\"]"));
}

TEST(SendDataTest, NamelistParamAndContent) {
  RecordingEnvironment env(EcmascriptCompileOptions());
  auto s = Start(Compile(R"X(
    <datamodel><data id="v1" expr="1"/><data id="v2" expr="{k: [true, null]}"/></datamodel>
    <state id="a">
      <onentry>
        <send event="nl" namelist="v1 v2"><param name="p" expr="'pv'"/></send>
        <send event="ct"><content>{"inline": 1}</content></send>
        <send event="tx"><content>  some   text  </content></send>
        <send event="ce"><content expr="v2.k"/></send>
      </onentry>
      <transition event="*"><log expr="_event.name + ' ' + JSON.stringify(_event.data)"/></transition>
    </state>)X"), &env);
  ASSERT_NE(s, nullptr);
  EXPECT_THAT(env.logs, ElementsAre("=\"nl {\\\"v1\\\":1,\\\"v2\\\":{\\\"k\\\":[true,null]},\\\"p\\\":\\\"pv\\\"}\"",
                                    "=\"ct {\\\"inline\\\":1}\"", "=\"tx \\\"some text\\\"\"",
                                    "=\"ce [true,null]\""));
}

TEST(EventFieldsTest, AllFieldsForEachKindOfEvent) {
  RecordingEnvironment env(EcmascriptCompileOptions());
  auto s = Start(Compile(R"X(
    <datamodel><data id="kid"/></datamodel>
    <script>function show(e) { return [e.name, e.type, e.sendid, e.origin, e.origintype, e.invokeid,
        JSON.stringify(e.data)].map(function (x) { return x === undefined ? 'u' : String(x); }).join('|'); }</script>
    <state id="a">
      <onentry>
        <raise event="r"/>
        <send id="ext" event="e"><param name="q" expr="1"/></send>
        <assign location="undefined_var" expr="1"/>
      </onentry>
      <invoke id="child"><content><scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript">
        <state id="c"><onentry><send event="up" target="#_parent"/></onentry></state></scxml></content></invoke>
      <transition event="*"><log expr="show(_event)"/></transition>
    </state>)X"), &env);
  ASSERT_NE(s, nullptr);
  Send(*s, "outside", "{\"o\":2}");
  ASSERT_EQ(env.logs.size(), 5u);
  EXPECT_EQ(env.logs[0], "=\"r|internal|u|u|u|u|u\"");
  EXPECT_THAT(env.logs[1], HasSubstr("error.execution|platform|u|u|u|u|{\\\"message\\\":"));
  EXPECT_EQ(env.logs[2],
            "=\"e|external|ext|#_scxml_s|http://www.w3.org/TR/scxml/#SCXMLEventProcessor|u|{\\\"q\\\":1}\"");
  EXPECT_EQ(env.logs[3],
            "=\"up|external|u|#_scxml_s.1|http://www.w3.org/TR/scxml/#SCXMLEventProcessor|child|u\"");
  EXPECT_EQ(env.logs[4], "=\"outside|external|u|u|u|u|{\\\"o\\\":2}\"");
}

TEST(BindingTest, EarlyBindingInitializesEveryDataAtStart) {
  RecordingEnvironment env(EcmascriptCompileOptions());
  auto s = Start(Compile(R"X(
    <state id="a"><transition event="look" target="b"><log label="v" expr="String(v)"/></transition></state>
    <state id="b"><datamodel><data id="v" expr="'set'"/></datamodel></state>)X"), &env);
  ASSERT_NE(s, nullptr);
  Send(*s, "look");
  EXPECT_THAT(env.logs, ElementsAre("v=\"set\""));
}

TEST(BindingTest, LateBindingAssignsOnFirstEntry) {
  RecordingEnvironment env(EcmascriptCompileOptions());
  auto s = Start(Compile(R"X(
    <datamodel><data id="t" expr="0"/></datamodel>
    <state id="a"><transition event="look" target="b"><log label="before" expr="String(v)"/></transition></state>
    <state id="b"><datamodel><data id="v" expr="'set ' + t"/></datamodel>
      <onentry><log label="entry" expr="v"/><assign location="t" expr="t + 1"/></onentry>
      <transition event="again" target="a"/></state>)X",
                         R"X( binding="late")X"), &env);
  ASSERT_NE(s, nullptr);
  Send(*s, "look");
  Send(*s, "again");
  Send(*s, "look");  // assigned only on the first entry
  EXPECT_THAT(env.logs, ElementsAre("before=\"undefined\"", "entry=\"set 0\"", "before=\"set 0\"", "entry=\"set 0\""));
}

// ---------------------------------------------------------------- snapshots

// A variable holding _event.data is the same object as _event.data after a
// restore (found by the replay test: Restore set _event again, a new object).
TEST(SnapshotFeatureTest, EventIdentitySurvivesRestore) {
  RecordingEnvironment env(EcmascriptCompileOptions());
  auto doc = Compile(R"X(
    <datamodel><data id="kept" expr="null"/></datamodel>
    <state id="a">
      <transition event="keep"><assign location="kept" expr="_event.data"/><log label="same" expr="kept === _event.data"/></transition>
      <transition event="check"><log label="check" expr="kept.n"/></transition>
    </state>)X");
  auto s = Start(doc, &env);
  ASSERT_NE(s, nullptr);
  Send(*s, "keep", "{\"n\":1}");
  v1::SessionSnapshot snap;
  ASSERT_THAT(s->Snapshot(&snap), IsOk());
  auto r = Interpreter::Restore(doc, &env, EcmascriptSessionOptions("s"), snap);
  ASSERT_THAT(r, IsOk());
  v1::SessionSnapshot again;
  ASSERT_THAT((*r)->Snapshot(&again), IsOk());
  EXPECT_EQ(again.SerializeAsString(), snap.SerializeAsString());
  Send(**r, "check");
  EXPECT_THAT(env.logs, ElementsAre("same=true", "check=1"));
}

// <session:response> (the Orchestration Server's answer to an HTTP request)
// is a <send> to the request's origin, in both spellings of the namespace,
// anywhere executable content goes.
TEST(CompilerTest, SessionResponseIsASendToTheOrigin) {
  for (const char* ns : {"http://www.genesyslab.com/modules/session", "www.genesyslab.com/modules/session"}) {
    auto doc = CompileDocument(std::string(R"(<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" )"
                                           R"(datamodel="ecmascript" xmlns:session=")") + ns + R"(" initial="a">
  <state id="a"><transition event="ask">
    <if cond="true"><session:response event="answer" namelist="x"/></if>
    <session:response/>
    <session:response eventexpr="'r'" originexpr="'#_scxml_request-1'"><param name="p" expr="1"/></session:response>
  </transition></state>
</scxml>)", "t.scxml", EcmascriptCompileOptions());
    ASSERT_TRUE(doc.ok()) << ns << ": " << doc.status();
    const Document& d = **doc;
    const Block& actions = d.transitions[d.states[1].transitions[0]].actions;
    ASSERT_EQ(actions.size(), 3u);
    const ExecNode& nested = actions[0].branches[0].body[0];
    EXPECT_EQ(nested.kind, ExecKind::kSend);
    EXPECT_EQ(nested.event, "answer");
    ASSERT_NE(nested.targetexpr, kNoCode);
    EXPECT_EQ(d.code[nested.targetexpr].text, "_event.origin");
    EXPECT_EQ(actions[1].event, "response");   // the default name
    EXPECT_EQ(d.code[actions[2].targetexpr].text, "'#_scxml_request-1'");
    EXPECT_EQ(actions[2].params.size(), 1u);
  }
}

}  // namespace
}  // namespace orch::scxml
