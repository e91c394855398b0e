#include "common/scxml/compiler.h"

#include "common/testing/status_matchers.h"
#include "gtest/gtest.h"

namespace orch::scxml {
namespace {

using ::orch::testing::StatusIs;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kHead[] = R"(<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="null")";

std::vector<std::string> Problems(const std::string& body, const std::string& attrs = "") {
  CompileOptions options;
  return ValidateDocument(std::string(kHead) + attrs + ">\n" + body + "\n</scxml>", "t.scxml", options);
}

TEST(CompilerTest, ValidDocumentCompiles) {
  CompileOptions options;
  auto doc = CompileDocument(std::string(kHead) + R"( initial="a">
  <state id="a"><transition event="go" target="b"/></state>
  <parallel id="b"><state id="b1"/><state id="b2"><history id="h" type="deep"><transition target="b2x"/></history><state id="b2x"/></state></parallel>
  <final id="done"/>
</scxml>)", "t.scxml", options);
  ASSERT_TRUE(doc.ok()) << doc.status();
  const Document& d = **doc;
  ASSERT_EQ(d.states.size(), 8u);  // root, a, b, b1, b2, h, b2x, done
  EXPECT_EQ(d.states[1].id, "a");
  EXPECT_EQ(d.states[1].kind, StateKind::kAtomic);
  EXPECT_EQ(d.states[2].kind, StateKind::kParallel);
  EXPECT_EQ(d.states[4].kind, StateKind::kCompound);
  EXPECT_EQ(d.states[5].kind, StateKind::kHistory);
  EXPECT_TRUE(d.states[5].deep);
  EXPECT_EQ(d.states[2].last_descendant, 6u);
  EXPECT_EQ(d.transitions[d.states[1].transitions[0]].targets, std::vector<uint32_t>{2});
  EXPECT_EQ(d.sha256.size(), 64u);
}

// <session:response>'s checks (what it compiles to: features_test.cc).
TEST(CompilerTest, SessionResponseAttributesAreChecked) {
  EXPECT_THAT(Problems("<state id=\"a\"><onentry><s:response target=\"x\"/></onentry></state>",
                       " xmlns:s=\"http://www.genesyslab.com/modules/session\""),
              Contains(HasSubstr("unknown attribute 'target'")));
}

TEST(CompilerTest, ProblemsNameFileLineColumnAndElement) {
  auto p = Problems(R"(<state id="a">
  <transition event="go" target="nowhere"/>
</state>
<state id="a"/>)");
  EXPECT_THAT(p, Contains(HasSubstr("t.scxml:5:1: <state>: duplicate id 'a'")));
  EXPECT_THAT(p, Contains(HasSubstr("t.scxml:3:3: <transition>: unknown target 'nowhere'")));
}

TEST(CompilerTest, BadAttributeCombinations) {
  auto p = Problems(R"(<state id="a"><onentry>
  <send event="x" eventexpr="'y'" target="#_internal" targetexpr="'z'" id="i" idlocation="l"/>
</onentry></state>)");
  EXPECT_THAT(p, Contains(HasSubstr("'event' and 'eventexpr' cannot both be given")));
  EXPECT_THAT(p, Contains(HasSubstr("'target' and 'targetexpr' cannot both be given")));
  EXPECT_THAT(p, Contains(HasSubstr("'id' and 'idlocation' cannot both be given")));
}

// The rule of common/scxml/delay.h; features_test.cc checks that delayexpr
// values follow the same one.
TEST(CompilerTest, SendDelayIsACss2TimeWithinTheLimit) {
  auto send = [](const std::string& delay) {
    return Problems("<state id=\"a\"><onentry><send event=\"e\" delay=\"" + delay + "\"/></onentry></state>");
  };
  EXPECT_THAT(send(" 5s"), IsEmpty());
  EXPECT_THAT(send(".5s"), IsEmpty());
  EXPECT_THAT(send("1000000000s"), IsEmpty());
  EXPECT_THAT(send("5 s"), Contains(HasSubstr("<send>: delay '5 s' is not a time such as 500ms")));
  EXPECT_THAT(send("1e3ms"), Contains(HasSubstr("delay '1e3ms' is not a time")));
  EXPECT_THAT(send("1000000001s"), Contains(HasSubstr("delay '1000000001s' is longer than the limit")));
}

TEST(CompilerTest, MisplacedAndUnknownElements) {
  EXPECT_THAT(Problems("<transition target=\"a\"/><state id=\"a\"/>"),
              Contains(HasSubstr("<transition>: not allowed as a child of <scxml>")));
  EXPECT_THAT(Problems("<state id=\"a\"><bogus/></state>"), Contains(HasSubstr("<bogus>: not allowed in <state>")));
  EXPECT_THAT(Problems("<parallel id=\"p\"><final id=\"f\"/></parallel>"),
              Contains(HasSubstr("<final> is not allowed in <parallel>")));
  EXPECT_THAT(Problems("<state id=\"a\" initial=\"b\"/>"), Contains(HasSubstr("an atomic state cannot have an initial state")));
  EXPECT_THAT(Problems("<state id=\"a\"><onentry><raise/></onentry></state>"), Contains(HasSubstr("'event' is required")));
  EXPECT_THAT(Problems("<state id=\"a\" colour=\"red\"/>"), Contains(HasSubstr("unknown attribute 'colour'")));
}

TEST(CompilerTest, InitialMustBeADescendant) {
  EXPECT_THAT(Problems("<state id=\"a\" initial=\"b\"><state id=\"a1\"/></state><state id=\"b\"/>"),
              Contains(HasSubstr("initial state 'b' is not a descendant")));
  EXPECT_THAT(Problems("<state id=\"a\"/>", " initial=\"zz\""), Contains(HasSubstr("unknown initial state 'zz'")));
}

TEST(CompilerTest, MalformedXmlAndWrongNamespace) {
  CompileOptions options;
  EXPECT_THAT(CompileDocument("<scxml xmlns=\"http://www.w3.org/2005/07/scxml\">\n<state id=\"a\">\n</scxml>", "m.scxml", options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("m.scxml:2:9: malformed XML: Opening and ending tag mismatch")));
  EXPECT_THAT(CompileDocument("<scxml><state id=\"a\"/></scxml>", "n.scxml", options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("must be <scxml> in namespace")));
  EXPECT_THAT(CompileDocument("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><scxml xmlns=\"http://www.w3.org/2005/07/scxml\"><state id=\"a\"><onentry><log label=\"&e;\"/></onentry></state></scxml>", "x.scxml", options),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CompilerTest, NullDataModelRejectsExpressions) {
  EXPECT_THAT(Problems("<state id=\"a\"><transition cond=\"1 + 1\" target=\"a\"/></state>"),
              ElementsAre(HasSubstr("accepts only In('state') conditions")));
  EXPECT_THAT(Problems("<state id=\"a\"><transition cond=\"In('a')\" target=\"a\"/></state>"), IsEmpty());
}

TEST(CompilerTest, LimitsAreEnforced) {
  CompileOptions options;
  options.xml.max_bytes = 100;
  EXPECT_THAT(CompileDocument(std::string(kHead) + "><state id=\"a\"/>" + std::string(200, ' ') + "</scxml>", "big.scxml", options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("the limit is 100")));
  CompileOptions deep;
  deep.xml.max_depth = 10;
  std::string nested;
  for (int i = 0; i < 20; ++i) nested += "<state id=\"s" + std::to_string(i) + "\">";
  for (int i = 0; i < 20; ++i) nested += "</state>";
  EXPECT_THAT(CompileDocument(std::string(kHead) + ">" + nested + "</scxml>", "deep.scxml", deep),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nests deeper than 10")));
}

TEST(CompilerTest, InterpreterTables) {
  CompileOptions options;
  auto doc = CompileDocument(std::string(kHead) + R"( initial="a">
  <state id="a"><transition event="go" target="b b"/><transition target="h"/></state>
  <parallel id="b"><state id="b1"/><state id="b2"><history id="h" type="deep"><transition target="b2x"/></history><state id="b2x">
    <transition event="in" type="internal" target="b2"/></state></state></parallel>
  <state id="c" initial="c1"><transition event="x" type="internal" target="c2"/>
    <state id="c1"><transition event="y" target="c2"/></state><state id="c2"/></state>
</scxml>)", "t.scxml", options);
  ASSERT_TRUE(doc.ok()) << doc.status();
  const Document& d = **doc;
  // root, a, b, b1, b2, h, b2x, c, c1, c2
  ASSERT_EQ(d.state_info.size(), d.states.size());
  ASSERT_EQ(d.transition_info.size(), d.transitions.size());
  EXPECT_TRUE(d.has_eventless);
  EXPECT_TRUE(d.has_history);
  EXPECT_TRUE(d.state_info[1].atomic);
  EXPECT_FALSE(d.state_info[2].atomic);
  EXPECT_TRUE(d.state_info[1].eventless_chain);
  EXPECT_TRUE(d.state_info[1].evented_chain);
  EXPECT_FALSE(d.state_info[3].eventless_chain);
  EXPECT_FALSE(d.state_info[3].evented_chain);
  EXPECT_TRUE(d.state_info[6].evented_chain);
  EXPECT_TRUE(d.state_info[4].has_history_child);
  EXPECT_EQ(d.state_info[4].last_descendant, 6u);
  const TransitionInfo& go = d.transition_info[d.states[1].transitions[0]];
  EXPECT_FALSE(go.dynamic);
  EXPECT_EQ(go.effective_targets, std::vector<uint32_t>{2});  // duplicates dropped
  EXPECT_EQ(go.domain, 0);
  EXPECT_TRUE(d.transition_info[d.states[1].transitions[1]].dynamic);  // to a <history>
  // Internal to a descendant of a compound source: the source is the domain.
  EXPECT_EQ(d.transition_info[d.states[7].transitions[0]].domain, 7);
  // Between siblings: their compound parent.
  EXPECT_EQ(d.transition_info[d.states[8].transitions[0]].domain, 7);
  // Internal from an atomic state to its parent: the least common compound
  // ancestor containing both strictly (b is parallel): the root.
  EXPECT_EQ(d.transition_info[d.states[6].transitions[0]].domain, 0);
  std::vector<std::string> ids;
  for (uint32_t s : d.states_by_id) ids.push_back(d.states[s].id);
  EXPECT_THAT(ids, ElementsAre("a", "b", "b1", "b2", "b2x", "c", "c1", "c2", "h"));
}

TEST(CompilerTest, HistoryDefaultLeadingBackToItselfIsRejected) {
  EXPECT_THAT(Problems(R"(<state id="p"><history id="h"><transition target="h"/></history><state id="a"/></state>)"),
              Contains(HasSubstr("the default transition of history 'h' leads back to it")));
  EXPECT_THAT(Problems(R"(<state id="p"><history id="h1"><transition target="h2"/></history>
    <history id="h2" type="deep"><transition target="h1"/></history><state id="a"/></state>)"),
              Contains(HasSubstr("leads back to it")));
  EXPECT_THAT(Problems(R"(<state id="p"><history id="h1"><transition target="h2"/></history>
    <history id="h2" type="deep"><transition target="a"/></history><state id="a"/></state>)"),
              IsEmpty());
}

TEST(EventMatchesTest, Descriptors) {
  EXPECT_TRUE(EventMatches("*", "anything"));
  EXPECT_TRUE(EventMatches("error", "error.execution"));
  EXPECT_TRUE(EventMatches("error.execution", "error.execution"));
  EXPECT_FALSE(EventMatches("error.exec", "error.execution"));
  EXPECT_FALSE(EventMatches("errors", "error"));
}

TEST(ContentTest, JsonOrNormalizedString) {
  EXPECT_EQ(ContentTextToJson(" 123 "), "123");
  EXPECT_EQ(ContentTextToJson("{\"a\": [1, true]}"), "{\"a\": [1, true]}");
  EXPECT_EQ(ContentTextToJson("\n this is \n  a string "), "\"this is a string\"");
  EXPECT_EQ(ContentTextToJson("{bad"), "\"{bad\"");
  EXPECT_TRUE(IsJson("null"));
  EXPECT_FALSE(IsJson("01"));
  EXPECT_FALSE(IsJson("[1,]"));
}

}  // namespace
}  // namespace orch::scxml
