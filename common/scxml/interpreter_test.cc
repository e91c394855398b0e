// The interpreter on charts that need no data (null data model): structure,
// document order, conflicts, history, parallel completion, delayed sends,
// invoke, limits. Charts with ECMAScript are tested in common/js and by the
// W3C suite (tests/conformance).

#include "common/scxml/interpreter.h"

#include "common/scxml/compiler.h"
#include "common/scxml/testing/recording_environment.h"
#include "common/testing/status_matchers.h"
#include "orch/scxml/v1/snapshot.pb.h"
#include "gtest/gtest.h"

namespace orch::scxml {
namespace {

using ::testing::ElementsAre;

std::shared_ptr<const Document> Compile(const std::string& body, const std::string& attrs = "") {
  auto doc = CompileDocument(
      R"(<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="null")" + attrs + ">" + body + "</scxml>",
      "t.scxml", CompileOptions());
  EXPECT_TRUE(doc.ok()) << doc.status();
  return doc.ok() ? *doc : nullptr;
}

std::unique_ptr<Interpreter> Start(std::shared_ptr<const Document> doc, RecordingEnvironment* env,
                                   int64_t now = 1000) {
  InterpreterOptions options;
  options.session_id = "s";
  auto s = Interpreter::Create(std::move(doc), env, options);
  EXPECT_TRUE(s.ok()) << s.status();
  (*s)->SetNow(now);
  EXPECT_TRUE((*s)->Start().ok());
  (*s)->RunUntilIdle();
  return *std::move(s);
}

void Send(Interpreter& s, const std::string& name) {
  Event e;
  e.name = name;
  ASSERT_TRUE(s.Enqueue(e).ok());
  s.RunUntilIdle();
}

TEST(InterpreterTest, EntersInitialAndFollowsEvents) {
  RecordingEnvironment env;
  auto s = Start(Compile(R"(
    <state id="a"><onentry><log label="enter" expr="'a'"/></onentry>
      <transition event="go" target="b"/></state>
    <state id="b"><transition event="end" target="f"/></state>
    <final id="f"/>)"), &env);
  EXPECT_THAT(s->ActiveStates(false), ElementsAre("a"));
  Send(*s, "nothing");
  EXPECT_THAT(s->ActiveStates(false), ElementsAre("a"));
  Send(*s, "go");
  EXPECT_THAT(s->ActiveStates(false), ElementsAre("b"));
  Send(*s, "end");
  EXPECT_TRUE(s->finished());
  EXPECT_EQ(s->final_state(), "f");
  EXPECT_THAT(s->ActiveStates(false), ElementsAre("f"));
  EXPECT_THAT(env.logs, ElementsAre("enter=\"a\""));
}

TEST(InterpreterTest, RaiseIsProcessedBeforeExternalEventsInOrder) {
  RecordingEnvironment env;
  auto s = Start(Compile(R"(
    <state id="a"><onentry><raise event="one"/><raise event="two"/></onentry>
      <transition event="one" target="b"/></state>
    <state id="b"><transition event="two" target="c"/><transition event="ext" target="a"/></state>
    <state id="c"/>)"), &env);
  EXPECT_THAT(s->ActiveStates(false), ElementsAre("c"));
}

TEST(InterpreterTest, ParallelCompletionRaisesDoneState) {
  RecordingEnvironment env;
  auto s = Start(Compile(R"(
    <parallel id="p">
      <state id="r1"><state id="r1a"><transition event="e1" target="r1f"/></state><final id="r1f"/></state>
      <state id="r2"><state id="r2a"><transition event="e2" target="r2f"/></state><final id="r2f"/></state>
      <transition event="done.state.p" target="ok"/>
    </parallel>
    <final id="ok"/>)"), &env);
  EXPECT_THAT(s->ActiveStates(true), ElementsAre("r1a", "r2a"));
  Send(*s, "e1");
  EXPECT_THAT(s->ActiveStates(true), ElementsAre("r1f", "r2a"));
  EXPECT_FALSE(s->finished());
  Send(*s, "e2");
  EXPECT_EQ(s->final_state(), "ok");
}

TEST(InterpreterTest, DeepAndShallowHistory) {
  const std::string chart = R"(
    <state id="outer" initial="x">
      <history id="hist" type="TYPE"><transition target="x"/></history>
      <state id="x" initial="x1"><state id="x1"><transition event="next" target="x2"/></state><state id="x2"/></state>
      <transition event="leave" target="away"/>
    </state>
    <state id="away"><transition event="back" target="hist"/></state>)";
  RecordingEnvironment env;
  std::string deep = chart;
  deep.replace(deep.find("TYPE"), 4, "deep");
  auto s = Start(Compile(deep), &env);
  Send(*s, "next");
  Send(*s, "leave");
  Send(*s, "back");
  EXPECT_THAT(s->ActiveStates(true), ElementsAre("x2"));
  std::string shallow = chart;
  shallow.replace(shallow.find("TYPE"), 4, "shallow");
  auto t = Start(Compile(shallow), &env);
  Send(*t, "next");
  Send(*t, "leave");
  Send(*t, "back");
  EXPECT_THAT(t->ActiveStates(true), ElementsAre("x1"));  // x re-entered at its initial state
}

TEST(InterpreterTest, ConflictingTransitionsFirstInDocumentOrderWins) {
  RecordingEnvironment env;
  auto s = Start(Compile(R"(
    <parallel id="p">
      <state id="a"><transition event="e" target="out1"/></state>
      <state id="b"><transition event="e" target="out2"/></state>
    </parallel>
    <state id="out1"/><state id="out2"/>)"), &env);
  Send(*s, "e");
  EXPECT_THAT(s->ActiveStates(false), ElementsAre("out1"));
}

TEST(InterpreterTest, ChildTransitionPreemptsAncestor) {
  RecordingEnvironment env;
  auto s = Start(Compile(R"(
    <state id="p"><state id="c"><transition event="e" target="fromchild"/></state>
      <transition event="e" target="fromparent"/></state>
    <state id="fromchild"/><state id="fromparent"/>)"), &env);
  Send(*s, "e");
  EXPECT_THAT(s->ActiveStates(false), ElementsAre("fromchild"));
}

TEST(InterpreterTest, InternalTransitionDoesNotExitSource) {
  RecordingEnvironment env;
  auto s = Start(Compile(R"(
    <state id="p" initial="c1"><onexit><log label="exit" expr="'p'"/></onexit>
      <transition event="e" type="internal" target="c2"/>
      <state id="c1"/><state id="c2"/></state>)"), &env);
  Send(*s, "e");
  EXPECT_THAT(s->ActiveStates(true), ElementsAre("c2"));
  EXPECT_TRUE(env.logs.empty());
}

TEST(InterpreterTest, DelayedSendFiresAtItsTimeAndCancelStopsIt) {
  RecordingEnvironment env;
  auto s = Start(Compile(R"(
    <state id="a"><onentry><send event="tick" delay="2s"/><send id="c" event="cancelled" delay="1s"/>
      <cancel sendid="c"/></onentry>
      <transition event="cancelled" target="bad"/><transition event="tick" target="b"/></state>
    <state id="b"/><state id="bad"/>)"), &env, 1000);
  EXPECT_EQ(s->NextDueMs(), 3000);
  s->SetNow(2999);
  s->RunUntilIdle();
  EXPECT_THAT(s->ActiveStates(false), ElementsAre("a"));
  s->SetNow(3000);
  s->RunUntilIdle();
  EXPECT_THAT(s->ActiveStates(false), ElementsAre("b"));
  EXPECT_EQ(s->NextDueMs(), std::nullopt);
}

TEST(InterpreterTest, EventlessLivelockIsCutWithErrorExecution) {
  RecordingEnvironment env;
  InterpreterOptions options;
  options.session_id = "s1";
  options.max_microsteps = 50;
  auto s = Interpreter::Create(Compile(R"(
    <state id="a"><transition target="b"/><transition event="error.execution" target="stuck"/></state>
    <state id="b"><transition target="a"/><transition event="error.execution" target="stuck"/></state>
    <state id="stuck"/>)"), &env, options);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->Start().ok());  // returns: the macrostep was cut
  EXPECT_FALSE((*s)->finished());
}

TEST(InterpreterTest, InvokedChildTalksToParentAndEndsWithDoneInvoke) {
  RecordingEnvironment env;
  env.documents["child.scxml"] = Compile(R"(
    <state id="c"><onentry><send target="#_parent" event="hello"/></onentry>
      <transition event="bye" target="cf"/></state><final id="cf"/>)");
  auto s = Start(Compile(R"(
    <state id="wrap"><invoke id="kid" src="child.scxml"/>
      <state id="p"><transition event="hello" target="p2"/></state>
      <state id="p2"><onentry><send target="#_kid" event="bye"/></onentry></state>
      <transition event="done.invoke.kid" target="ok"/>
    </state>
    <final id="ok"/>)"), &env);
  EXPECT_EQ(s->final_state(), "ok");
}

TEST(InterpreterTest, SendToUnknownInvokeIsErrorCommunication) {
  RecordingEnvironment env;
  auto s = Start(Compile(R"(
    <state id="a"><onentry><send target="#_nobody" event="x"/></onentry>
      <transition event="error.communication" target="ok"/></state>
    <final id="ok"/>)"), &env);
  EXPECT_EQ(s->final_state(), "ok");
}

// A transition of a parallel state is replaced by a transition of one of
// its descendants when their exit sets intersect (Appendix D
// removeConflictingTransitions), whatever came first in the enabled set.
TEST(InterpreterTest, DescendantTransitionReplacesAncestorsInParallel) {
  RecordingEnvironment env;
  auto s = Start(Compile(R"(
    <parallel id="p">
      <state id="r1"><state id="a1"/></state>
      <state id="r2" initial="b1"><state id="b1"><transition event="e" target="b2"/></state><state id="b2"/></state>
      <transition event="e" target="out"/>
    </parallel>
    <state id="out"/>)"), &env);
  Send(*s, "e");
  EXPECT_THAT(s->ActiveStates(true), ElementsAre("a1", "b2"));
}

// Two transitions in one microstep (two regions): exit sets are merged and
// exited in reverse document order, then entered in document order.
TEST(InterpreterTest, TwoRegionsTransitionInOneMicrostepInDocumentOrder) {
  RecordingEnvironment env;
  auto s = Start(Compile(R"(
    <parallel id="p">
      <state id="r1" initial="a1">
        <state id="a1"><onexit><log label="exit" expr="'a1'"/></onexit><transition event="e" target="a2"/></state>
        <state id="a2"><onentry><log label="enter" expr="'a2'"/></onentry></state></state>
      <state id="r2" initial="b1">
        <state id="b1"><onexit><log label="exit" expr="'b1'"/></onexit><transition event="e" target="b2"/></state>
        <state id="b2"><onentry><log label="enter" expr="'b2'"/></onentry></state></state>
    </parallel>)"), &env);
  Send(*s, "e");
  EXPECT_THAT(s->ActiveStates(true), ElementsAre("a2", "b2"));
  EXPECT_THAT(env.logs, ElementsAre("exit=\"b1\"", "exit=\"a1\"", "enter=\"a2\"", "enter=\"b2\""));
}

// A transition whose target is a <history>: its domain and effective targets
// come from the recorded history, not from the document.
TEST(InterpreterTest, TransitionToHistoryUsesRecordedConfiguration) {
  RecordingEnvironment env;
  auto s = Start(Compile(R"(
    <state id="outer" initial="p">
      <history id="h" type="deep"><transition target="q2"/></history>
      <parallel id="p">
        <state id="r1" initial="x1"><state id="x1"><transition event="n" target="x2"/></state><state id="x2"/></state>
        <state id="r2" initial="y1"><state id="y1"><transition event="n" target="y2"/></state><state id="y2"/></state>
      </parallel>
      <state id="q" initial="q1"><state id="q1"/><state id="q2"/></state>
      <transition event="leave" target="away"/>
      <transition event="hist" type="internal" target="h"/>
    </state>
    <state id="away"><transition event="back" target="h"/></state>)"), &env);
  Send(*s, "n");
  EXPECT_THAT(s->ActiveStates(true), ElementsAre("x2", "y2"));
  Send(*s, "leave");
  Send(*s, "back");  // deep history: both regions as they were
  EXPECT_THAT(s->ActiveStates(true), ElementsAre("x2", "y2"));
  Send(*s, "hist");  // internal, targets inside: outer is not exited
  EXPECT_THAT(s->ActiveStates(true), ElementsAre("x2", "y2"));
  // Without a recorded history the default transition's targets count.
  auto t = Start(Compile(R"(
    <state id="outer" initial="q">
      <history id="h" type="deep"><transition target="q2"/></history>
      <state id="q" initial="q1"><state id="q1"/><state id="q2"/></state>
    </state>
    <state id="start"><transition event="go" target="h"/></state>)", R"( initial="start")"), &env);
  Send(*t, "go");
  EXPECT_THAT(t->ActiveStates(true), ElementsAre("q2"));
}

TEST(InterpreterTest, InConditionsSeeTheConfiguration) {
  RecordingEnvironment env;
  auto s = Start(Compile(R"xml(
    <parallel id="p">
      <state id="r1" initial="a"><state id="a"><transition event="e" target="b"/></state><state id="b"/></state>
      <state id="r2" initial="c">
        <state id="c"><transition event="check" cond="In('b')" target="d"/><transition event="check" cond="In('zz')" target="bad"/></state>
        <state id="d"/><state id="bad"/></state>
    </parallel>)xml"), &env);
  Send(*s, "check");
  EXPECT_THAT(s->ActiveStates(true), ElementsAre("a", "c"));
  Send(*s, "e");
  Send(*s, "check");
  EXPECT_THAT(s->ActiveStates(true), ElementsAre("b", "d"));
}

// A macrostep cut by the microstep limit leaves states to invoke and events
// queued; the snapshot holds them and a restored session holds the same.
TEST(InterpreterTest, SnapshotOfACutMacrostepRoundTrips) {
  RecordingEnvironment env;
  InterpreterOptions options;
  options.session_id = "s1";
  options.max_microsteps = 7;
  auto doc = Compile(R"(
    <state id="a"><onentry><raise event="r"/></onentry><transition target="b"/></state>
    <state id="b"><onentry><raise event="r"/></onentry><transition target="a"/></state>)");
  auto s = Interpreter::Create(doc, &env, options);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->Start().ok());
  v1::SessionSnapshot snap;
  ASSERT_OK((*s)->Snapshot(&snap));
  EXPECT_FALSE(snap.to_invoke().empty());
  EXPECT_FALSE(snap.internal_queue().empty());
  auto restored = Interpreter::Restore(doc, &env, options, snap);
  ASSERT_TRUE(restored.ok()) << restored.status();
  v1::SessionSnapshot again;
  ASSERT_OK((*restored)->Snapshot(&again));
  EXPECT_EQ(again.SerializeAsString(), snap.SerializeAsString());
  // Both go on the same way.
  for (int i = 0; i < 3; ++i) {
    (*s)->Step();
    (*restored)->Step();
    ASSERT_OK((*s)->Snapshot(&snap));
    ASSERT_OK((*restored)->Snapshot(&again));
    EXPECT_EQ(again.SerializeAsString(), snap.SerializeAsString());
  }
}

// RunUntilIdle returns once nothing more is due; a delayed send due later
// stays pending, one due now is delivered in the same call.
TEST(InterpreterTest, RunUntilIdleStopsWhenNothingIsDue) {
  RecordingEnvironment env;
  auto s = Start(Compile(R"(
    <state id="a"><transition event="go" target="b"/></state>
    <state id="b"><onentry><send event="later" delay="1s"/></onentry><transition event="later" target="c"/></state>
    <state id="c"/>)"), &env, 1000);
  Event e;
  e.name = "go";
  ASSERT_OK(s->Enqueue(e));
  EXPECT_EQ(s->RunUntilIdle(), StepResult::kProgressed);
  EXPECT_THAT(s->ActiveStates(true), ElementsAre("b"));
  EXPECT_EQ(s->RunUntilIdle(), StepResult::kIdle);
  s->SetNow(2000);
  EXPECT_EQ(s->RunUntilIdle(), StepResult::kProgressed);
  EXPECT_THAT(s->ActiveStates(true), ElementsAre("c"));
  EXPECT_EQ(s->RunUntilIdle(), StepResult::kIdle);
}

// Enqueue's UTF-8 check skips ASCII eight bytes at a time: bad bytes after
// and inside such runs, and sequences cut at the end, are still refused.
TEST(InterpreterTest, EnqueueChecksUtf8AfterLongAsciiRuns) {
  RecordingEnvironment env;
  auto s = Start(Compile(R"(<state id="a"/>)"), &env);
  for (size_t pad : {0, 1, 7, 8, 9, 15, 16, 17, 31}) {
    const std::string ascii(pad, 'x');
    for (const std::string& bad : {std::string("\xff"), std::string("\xc3"), std::string("\xe2\x82"),
                                   std::string("\xed\xa0\x80"), std::string("\xc0\xaf")}) {
      Event e;
      e.name = "ev";
      e.data = ascii + bad + ascii;
      EXPECT_EQ(s->Enqueue(e).code(), absl::StatusCode::kInvalidArgument) << pad;
      e.data = ascii + bad;
      EXPECT_EQ(s->Enqueue(e).code(), absl::StatusCode::kInvalidArgument) << pad;
    }
    Event good;
    good.name = "ev";
    good.data = ascii + "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" + ascii;
    EXPECT_TRUE(s->Enqueue(good).ok()) << pad;
  }
  EXPECT_EQ(s->pending_external(), 9u);
}

// Snapshot at every boundary of a run and restore into a fresh interpreter:
// the same states, the same pending timers, the same child, the same end.
TEST(InterpreterTest, SnapshotRestoreContinuesExactly) {
  RecordingEnvironment env;
  env.documents["child.scxml"] = Compile(R"(
    <state id="c"><transition event="ping" target="c2"/></state>
    <state id="c2"><onentry><send target="#_parent" event="pong"/></onentry>
      <transition event="bye" target="cf"/></state><final id="cf"/>)");
  auto doc = Compile(R"(
    <state id="wrap" initial="w1"><invoke id="kid" src="child.scxml"/>
      <history id="h" type="deep"><transition target="w1"/></history>
      <state id="w1"><onentry><send id="t" event="timer" delay="5s"/></onentry>
        <transition event="go" target="w2"/></state>
      <state id="w2"><onentry><send target="#_kid" event="ping"/></onentry>
        <transition event="pong" target="w3"/></state>
      <state id="w3"><transition event="timer" target="late"/></state>
      <state id="late"><onentry><send target="#_kid" event="bye"/></onentry></state>
      <transition event="done.invoke.kid" target="ok"/>
    </state>
    <final id="ok"/>)");
  auto roundtrip = [&](std::unique_ptr<Interpreter> s) {
    v1::SessionSnapshot snap;
    EXPECT_OK(s->Snapshot(&snap));
    std::string bytes = snap.SerializeAsString();
    v1::SessionSnapshot parsed;
    EXPECT_TRUE(parsed.ParseFromString(bytes));
    InterpreterOptions options;
    auto restored = Interpreter::Restore(doc, &env, options, parsed);
    EXPECT_TRUE(restored.ok()) << restored.status();
    v1::SessionSnapshot again;
    EXPECT_OK((*restored)->Snapshot(&again));
    EXPECT_EQ(again.SerializeAsString(), bytes);  // restore loses nothing
    return *std::move(restored);
  };
  auto s = roundtrip(Start(doc, &env, 1000));
  EXPECT_EQ(s->NextDueMs(), 6000);
  ASSERT_OK(s->Enqueue(Event{.name = "go"}));
  s = roundtrip(std::move(s));
  while (s->RunRound() != StepResult::kIdle) s = roundtrip(std::move(s));
  EXPECT_THAT(s->ActiveStates(true), ElementsAre("w3"));
  s->SetNow(6000);
  while (s->RunRound() != StepResult::kIdle && !s->finished()) s = roundtrip(std::move(s));
  s->RunUntilIdle();
  EXPECT_EQ(s->final_state(), "ok");
}

}  // namespace
}  // namespace orch::scxml
