// Unit tests of the pure request parsing: routes (endpoints, methods, ids,
// event names, path traversal), percent-decoding, forms and the fields of a
// query string plus a body.

#include "services/rest_gateway/request_parsing.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace orch::rest_gateway {
namespace {

using ::orch::testing::IsOk;
using ::orch::testing::IsOkAndHolds;
using ::orch::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

constexpr char kRandom[] = "0K3M5P7R9T1V3X5Z7B9D1F3H5J7L9N1Q";  // 32 chars [0-9A-Z]
const std::string kId = absl::StrCat("~1~", kRandom);
const std::string kId7 = absl::StrCat("~7~", kRandom);

std::string Session(absl::string_view id, absl::string_view rest) {
  return absl::StrCat("/scxml/session/", id, rest);
}

// ---------------------------------------------------------------- ParseRoute

TEST(ParseRouteTest, FixedEndpoints) {
  struct Case {
    const char* path;
    Endpoint endpoint;
    const char* allow;
  };
  const Case cases[] = {
      {"/healthz", Endpoint::kHealthz, "GET,HEAD"},
      {"/readyz", Endpoint::kReadyz, "GET,HEAD"},
      {"/openapi.yaml", Endpoint::kOpenApi, "GET,HEAD"},
      {"/ors/help", Endpoint::kHelp, "GET,HEAD"},
      {"/scxml/session/start", Endpoint::kStart, "POST"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path);
    const std::string method = std::string(c.allow) == "POST" ? "POST" : "GET";
    auto r = ParseRoute(method, c.path);
    ASSERT_THAT(r, IsOk());
    EXPECT_EQ(r->endpoint, c.endpoint);
    EXPECT_TRUE(r->method_allowed);
    EXPECT_EQ(r->allow, c.allow);
    EXPECT_EQ(r->path, c.path);
    EXPECT_EQ(r->query, "");
    EXPECT_EQ(r->session_id, "");
  }
}

TEST(ParseRouteTest, HeadIsAllowedOnPublicGets) {
  for (const char* p : {"/healthz", "/readyz", "/openapi.yaml", "/ors/help"}) {
    auto r = ParseRoute("HEAD", p);
    ASSERT_THAT(r, IsOk()) << p;
    EXPECT_TRUE(r->method_allowed) << p;
  }
}

TEST(ParseRouteTest, SessionEndpoints) {
  auto q = ParseRoute("GET", Session(kId7, "/query"));
  ASSERT_THAT(q, IsOk());
  EXPECT_EQ(q->endpoint, Endpoint::kQuery);
  EXPECT_EQ(q->session_id, kId7);
  EXPECT_EQ(q->node, 7);
  EXPECT_TRUE(q->method_allowed);
  EXPECT_EQ(q->allow, "GET,POST");

  auto qp = ParseRoute("POST", Session(kId, "/query"));
  ASSERT_THAT(qp, IsOk());
  EXPECT_EQ(qp->endpoint, Endpoint::kQuery);
  EXPECT_TRUE(qp->method_allowed);

  auto t = ParseRoute("POST", Session(kId, "/terminate"));
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->endpoint, Endpoint::kTerminate);
  EXPECT_EQ(t->node, 1);
  EXPECT_EQ(t->allow, "POST");

  auto e = ParseRoute("POST", Session(kId, "/event/order.placed"));
  ASSERT_THAT(e, IsOk());
  EXPECT_EQ(e->endpoint, Endpoint::kEvent);
  EXPECT_EQ(e->name, "order.placed");
  EXPECT_EQ(e->session_id, kId);
  EXPECT_EQ(e->allow, "POST");

  auto rq = ParseRoute("POST", Session(kId, "/request/get.price"));
  ASSERT_THAT(rq, IsOk());
  EXPECT_EQ(rq->endpoint, Endpoint::kRequest);
  EXPECT_EQ(rq->name, "get.price");
}

TEST(ParseRouteTest, MultiDigitNode) {
  auto r = ParseRoute("GET", Session(absl::StrCat("~9999~", kRandom), "/query"));
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->node, 9999);
}

TEST(ParseRouteTest, QueryStringIsSplitOffRaw) {
  auto r = ParseRoute("POST", Session(kId, "/event/go?a=1&b=%20x"));
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->name, "go");
  EXPECT_EQ(r->query, "a=1&b=%20x");
  EXPECT_EQ(r->path, Session(kId, "/event/go"));
  // Only the first '?' splits.
  auto r2 = ParseRoute("GET", "/healthz?x=?y");
  ASSERT_THAT(r2, IsOk());
  EXPECT_EQ(r2->query, "x=?y");
}

TEST(ParseRouteTest, EncodedIdAndNameAreDecoded) {
  // '~' may be sent percent-encoded.
  auto r = ParseRoute("POST", Session(absl::StrCat("%7E1%7e", kRandom), "/event/a%2Eb"));
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->session_id, kId);
  EXPECT_EQ(r->name, "a.b");
  // Names are ASCII parts (docs/api/openapi.yaml EventName): UTF-8
  // letters are refused.
  EXPECT_THAT(ParseRoute("POST", Session(kId, "/event/caf%C3%A9")), StatusIs(absl::StatusCode::kInvalidArgument));
  auto ok = ParseRoute("POST", Session(kId, "/event/call.agent-ready:v2_x"));
  ASSERT_THAT(ok, IsOk());
  EXPECT_EQ(ok->name, "call.agent-ready:v2_x");
}

TEST(ParseRouteTest, WrongMethodIsReportedWithAllow) {
  struct Case {
    const char* method;
    std::string target;
    const char* allow;
  };
  const Case cases[] = {
      {"POST", "/healthz", "GET,HEAD"},
      {"DELETE", "/readyz", "GET,HEAD"},
      {"PUT", "/openapi.yaml", "GET,HEAD"},
      {"POST", "/ors/help", "GET,HEAD"},
      {"GET", "/scxml/session/start", "POST"},
      {"HEAD", "/scxml/session/start", "POST"},
      {"DELETE", Session(kId, "/query"), "GET,POST"},
      {"GET", Session(kId, "/terminate"), "POST"},
      {"GET", Session(kId, "/event/go"), "POST"},
      {"PUT", Session(kId, "/request/go"), "POST"},
      // Methods are case-sensitive, and a prefix of an allowed one is not it.
      {"get", "/healthz", "GET,HEAD"},
      {"POS", "/scxml/session/start", "POST"},
      {"", "/healthz", "GET,HEAD"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.method, " ", c.target));
    auto r = ParseRoute(c.method, c.target);
    ASSERT_THAT(r, IsOk());
    EXPECT_FALSE(r->method_allowed);
    EXPECT_EQ(r->allow, c.allow);
  }
}

TEST(ParseRouteTest, UnknownPathsAreNotFound) {
  for (const std::string& t : std::vector<std::string>{
           "", "healthz", "/", "//", "/healthz/", "/healthz/x", "//healthz", "/HEALTHZ", "/metrics",
           "/ors", "/ors/help/x", "/ors/other", "/scxml", "/scxml/session", "/scxml/session/",
           "/scxml/session/start/", "/scxml/session/begin", "/scxml/sessions/start", Session(kId, ""),
           Session(kId, "/"), Session(kId, "/query/"), Session(kId, "/query/x"), Session(kId, "/terminate/x"),
           Session(kId, "/event"), Session(kId, "/event/a/b"), Session(kId, "/status"),
           Session(kId, "/request"), "/scxml/session/a/b/c/d/e/f/g/h"}) {
    SCOPED_TRACE(t);
    EXPECT_THAT(ParseRoute("GET", t), StatusIs(absl::StatusCode::kNotFound));
  }
  // An empty event name is a bad request, not an unknown path.
  EXPECT_THAT(ParseRoute("POST", Session(kId, "/event/")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
}

TEST(ParseRouteTest, PathTraversalNeverMatches) {
  for (const std::string& t : std::vector<std::string>{
           "/scxml/session/../x/query",
           "/scxml/session/./start",
           "/scxml/session/x/../start",
           "/scxml/session/%2e%2e/x/query",
           "/scxml/session/%2E%2E/x/query",
           "/scxml/session%2Fstart",
           "/scxml%2Fsession%2Fstart",
           "/scxml/session/start%2F",
           "/%2e%2e/healthz",
           "/healthz%2F",
           "/healthz%00",
           Session(kId, "%2Fquery"),
           Session(absl::StrCat(kId, "%2F..%2F"), "/query"),
           Session(kId, "/..%2Fterminate"),
           Session(kId, "/query%2F..%2Fterminate"),
       }) {
    SCOPED_TRACE(t);
    auto r = ParseRoute("POST", t);
    ASSERT_FALSE(r.ok()) << "matched endpoint " << static_cast<int>(r->endpoint);
    EXPECT_THAT(r, StatusIs(absl::StatusCode::kNotFound));
  }
}

TEST(ParseRouteTest, EncodedSlashInAnEventNameIsRefused) {
  // The name is one segment, decoded: a '/' in it is not a name character.
  EXPECT_THAT(ParseRoute("POST", Session(kId, "/event/a%2F..%2Fterminate")),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // '..' alone (encoded or not) is not a name.
  EXPECT_THAT(ParseRoute("POST", Session(kId, "/event/..")), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseRoute("POST", Session(kId, "/event/%2e%2e")), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ParseRouteTest, MalformedSessionIdsAreNotFound) {
  const std::string too_short(31, 'A');
  const std::string too_long(33, 'A');
  for (const std::string& id : std::vector<std::string>{
           absl::StrCat("~1~", too_short),
           absl::StrCat("~1~", too_long),
           absl::StrCat("~1~", std::string(31, 'A'), "a"),  // lower case
           absl::StrCat("~1~", std::string(31, 'A'), "-"),
           absl::StrCat("~1~", std::string(31, 'A'), "%C3%89"),  // non-ASCII
           absl::StrCat("~0~", kRandom),                        // node 0
           absl::StrCat("~00~", kRandom),
           absl::StrCat("~-1~", kRandom),
           absl::StrCat("~12345~", kRandom),  // node too long
           absl::StrCat("~x~", kRandom),
           absl::StrCat("~~", kRandom),
           absl::StrCat("1~", kRandom),
           absl::StrCat("~1", kRandom),
           absl::StrCat("~1~", std::string(31, 'A'), "%00"),  // NUL byte
           absl::StrCat("~1%00~", kRandom),
           std::string(kRandom),
           std::string(100000, 'A'),  // very long segment
           absl::StrCat("~1~", std::string(100000, 'A')),
           "start",
       }) {
    SCOPED_TRACE(id.substr(0, 80));
    EXPECT_THAT(ParseRoute("GET", Session(id, "/query")), StatusIs(absl::StatusCode::kNotFound));
    EXPECT_THAT(ParseRoute("POST", Session(id, "/event/go")), StatusIs(absl::StatusCode::kNotFound));
  }
}

TEST(ParseRouteTest, MalformedEscapesInThePathAreNotFound) {
  for (const std::string& t : std::vector<std::string>{"/healthz%", "/healthz%4", "/%zzhealthz",
                                                       Session(kId, "/event/a%"), Session(kId, "/event/a%G0")}) {
    SCOPED_TRACE(t);
    EXPECT_THAT(ParseRoute("POST", t), StatusIs(absl::StatusCode::kNotFound));
  }
}

TEST(ParseRouteTest, BadEventNamesAreInvalidArgument) {
  const std::string long_name(513, 'e');
  for (const std::string& name : std::vector<std::string>{
           "%FF",           // not UTF-8
           "a%C3",          // truncated sequence
           "%C0%AF",        // overlong '/'
           "%ED%A0%80",     // a surrogate
           "a%20b",         // space
           "a%09b",         // tab
           "a%00b",         // NUL
           "a%0Ab",         // newline
           "a%7F",          // DEL
           "a+b%20",        // space at the end
           ".a",            // leading '.'
           "a.",            // trailing '.'
           "%2Ea",
           long_name,
       }) {
    SCOPED_TRACE(name.substr(0, 40));
    auto e = ParseRoute("POST", Session(kId, absl::StrCat("/event/", name)));
    EXPECT_THAT(e, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("event name")));
    EXPECT_THAT(ParseRoute("POST", Session(kId, absl::StrCat("/request/", name))),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
  // '+' is not a space in a path, and not a name character either.
  EXPECT_THAT(ParseRoute("POST", Session(kId, "/event/a+b")), StatusIs(absl::StatusCode::kInvalidArgument));
  // 256 characters is the limit, inclusive.
  auto max = ParseRoute("POST", Session(kId, absl::StrCat("/event/", std::string(256, 'e'))));
  ASSERT_THAT(max, IsOk());
  EXPECT_EQ(max->name.size(), 256u);
}

TEST(ValidateEventNameTest, Rules) {
  EXPECT_THAT(ValidateEventName("go"), IsOk());
  EXPECT_THAT(ValidateEventName("a.b.c"), IsOk());
  EXPECT_THAT(ValidateEventName("error.send-failed:x_1"), IsOk());
  EXPECT_THAT(ValidateEventName("*"), StatusIs(absl::StatusCode::kInvalidArgument));   // no wildcards from outside
  EXPECT_THAT(ValidateEventName("a..b"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty part")));
  EXPECT_THAT(ValidateEventName(std::string(256, 'x')), IsOk());
  EXPECT_THAT(ValidateEventName(""), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(ValidateEventName(std::string(257, 'x')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("256")));
  EXPECT_THAT(ValidateEventName("\xFF"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateEventName(std::string("a\0b", 3)), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateEventName("a b"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateEventName("."), StatusIs(absl::StatusCode::kInvalidArgument));
}

// ------------------------------------------------------------- PercentDecode

TEST(PercentDecodeTest, DecodesEscapes) {
  EXPECT_THAT(PercentDecode("", false), IsOkAndHolds(""));
  EXPECT_THAT(PercentDecode("abc", false), IsOkAndHolds("abc"));
  EXPECT_THAT(PercentDecode("%41%62%2f%2F", false), IsOkAndHolds("Ab//"));
  EXPECT_THAT(PercentDecode("x%20y", false), IsOkAndHolds("x y"));
  EXPECT_THAT(PercentDecode("%00", false), IsOkAndHolds(std::string("\0", 1)));
  EXPECT_THAT(PercentDecode("%FF", false), IsOkAndHolds("\xFF"));
  EXPECT_THAT(PercentDecode("a%41", false), IsOkAndHolds("aA"));  // an escape at the very end
  EXPECT_THAT(PercentDecode("%2541", false), IsOkAndHolds("%41"));  // decoded once only
}

TEST(PercentDecodeTest, PlusIsSpaceOnlyWhenAsked) {
  EXPECT_THAT(PercentDecode("a+b", true), IsOkAndHolds("a b"));
  EXPECT_THAT(PercentDecode("a+b", false), IsOkAndHolds("a+b"));
  EXPECT_THAT(PercentDecode("a%2Bb", true), IsOkAndHolds("a+b"));
}

TEST(PercentDecodeTest, MalformedEscapes) {
  for (const char* s : {"%", "%4", "%zz", "%4g", "%g4", "a%", "a%4", "%%41", "% 41", "%-1", "abc%"}) {
    SCOPED_TRACE(s);
    EXPECT_THAT(PercentDecode(s, false), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("percent")));
    EXPECT_THAT(PercentDecode(s, true), StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

// ----------------------------------------------------------------- ParseForm

TEST(ParseFormTest, Pairs) {
  auto f = ParseForm("a=1&b=two+words&c=%26%3D&d=&e");
  ASSERT_THAT(f, IsOk());
  EXPECT_THAT(*f, ElementsAre(Pair("a", "1"), Pair("b", "two words"), Pair("c", "&="), Pair("d", ""),
                              Pair("e", "")));
}

TEST(ParseFormTest, EmptyAndEmptyPairs) {
  EXPECT_THAT(ParseForm(""), IsOkAndHolds(::testing::IsEmpty()));
  EXPECT_THAT(ParseForm("&&a=1&&"), IsOkAndHolds(ElementsAre(Pair("a", "1"))));
}

TEST(ParseFormTest, PlusInNamesAndEqualsInValues) {
  EXPECT_THAT(ParseForm("first+name=a=b"), IsOkAndHolds(ElementsAre(Pair("first name", "a=b"))));
}

TEST(ParseFormTest, RepeatedNameKeepsTheLast) {
  EXPECT_THAT(ParseForm("a=1&a=2"), IsOkAndHolds(ElementsAre(Pair("a", "2"))));
}

TEST(ParseFormTest, EmptyNamesAreRejected) {
  EXPECT_THAT(ParseForm("=x"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty name")));
  EXPECT_THAT(ParseForm("a=1&=2"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseForm("%41=1&="), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ParseFormTest, LongNamesAreRejected) {
  EXPECT_THAT(ParseForm(absl::StrCat(std::string(256, 'n'), "=1")), IsOk());
  EXPECT_THAT(ParseForm(absl::StrCat(std::string(257, 'n'), "=1")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("256")));
}

std::string ManyFields(int n, absl::string_view prefix = "f") {
  std::string s;
  for (int i = 0; i < n; ++i) absl::StrAppend(&s, i > 0 ? "&" : "", prefix, i, "=", i);
  return s;
}

TEST(ParseFormTest, AtMostAThousandFields) {
  auto ok = ParseForm(ManyFields(1000));
  ASSERT_THAT(ok, IsOk());
  EXPECT_EQ(ok->size(), 1000u);
  EXPECT_THAT(ParseForm(ManyFields(1001)), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1000")));
  // Repeating one name does not get around the bound.
  std::string same;
  for (int i = 0; i < 1001; ++i) absl::StrAppend(&same, "a=", i, "&");
  EXPECT_THAT(ParseForm(same), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ParseFormTest, NonUtf8IsRejected) {
  EXPECT_THAT(ParseForm("a=%FF"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("UTF-8")));
  EXPECT_THAT(ParseForm("%FF=a"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("UTF-8")));
  EXPECT_THAT(ParseForm("a=\xC3"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseForm("a=%C3%A9"), IsOkAndHolds(ElementsAre(Pair("a", "\xC3\xA9"))));
}

TEST(ParseFormTest, MalformedEscapesAreRejected) {
  EXPECT_THAT(ParseForm("a=%"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseForm("a=%4"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseForm("%zz=1"), StatusIs(absl::StatusCode::kInvalidArgument));
}

// --------------------------------------------------------------- ParseFields

const std::string kJson = "application/json";
const std::string kForm = "application/x-www-form-urlencoded";

TEST(ParseFieldsTest, EmptyBodyWithoutContentTypeIsFine) {
  auto f = ParseFields("", nullptr, "");
  ASSERT_THAT(f, IsOk());
  EXPECT_TRUE(f->members.empty());
  EXPECT_FALSE(f->value.has_value());
  // Even an unsupported content type does not matter without a body.
  const std::string xml = "text/xml";
  EXPECT_THAT(ParseFields("a=1", &xml, ""), IsOk());
}

TEST(ParseFieldsTest, QueryOnlyGivesStrings) {
  auto f = ParseFields("a=1&b=x+y", nullptr, "");
  ASSERT_THAT(f, IsOk());
  ASSERT_EQ(f->members.size(), 2u);
  EXPECT_EQ(f->members.at("a").string_value(), "1");
  EXPECT_EQ(f->members.at("b").string_value(), "x y");
}

TEST(ParseFieldsTest, JsonObjectKeepsTypes) {
  auto f = ParseFields("", &kJson, R"({"n": 5, "s": "x", "b": true, "z": null, "o": {"k": [1, 2]}})");
  ASSERT_THAT(f, IsOk());
  EXPECT_FALSE(f->value.has_value());
  ASSERT_EQ(f->members.size(), 5u);
  EXPECT_EQ(f->members.at("n").number_value(), 5);
  EXPECT_EQ(f->members.at("s").string_value(), "x");
  EXPECT_TRUE(f->members.at("b").bool_value());
  EXPECT_EQ(f->members.at("z").kind_case(), google::protobuf::Value::kNullValue);
  const auto& o = f->members.at("o").struct_value().fields();
  ASSERT_EQ(o.count("k"), 1u);
  EXPECT_EQ(o.at("k").list_value().values_size(), 2);
}

TEST(ParseFieldsTest, ContentTypeParametersAndCase) {
  for (const std::string& ct : {std::string("application/json; charset=utf-8"),
                                std::string("Application/JSON;Charset=UTF-8"),
                                std::string("application/json; charset=\"utf-8\""),
                                std::string(" application/json ")}) {
    SCOPED_TRACE(ct);
    auto f = ParseFields("", &ct, R"({"a": 1})");
    ASSERT_THAT(f, IsOk());
    EXPECT_EQ(f->members.at("a").number_value(), 1);
  }
}

TEST(ParseFieldsTest, NonObjectJsonIsOneValue) {
  auto s = ParseFields("", &kJson, R"("x")");
  ASSERT_THAT(s, IsOk());
  ASSERT_TRUE(s->value.has_value());
  EXPECT_EQ(s->value->string_value(), "x");
  EXPECT_TRUE(s->members.empty());

  auto l = ParseFields("", &kJson, "[1,2]");
  ASSERT_THAT(l, IsOk());
  ASSERT_TRUE(l->value.has_value());
  EXPECT_EQ(l->value->list_value().values_size(), 2);

  auto n = ParseFields("", &kJson, "5");
  ASSERT_THAT(n, IsOk());
  ASSERT_TRUE(n->value.has_value());
  EXPECT_EQ(n->value->number_value(), 5);

  auto z = ParseFields("", &kJson, "null");
  ASSERT_THAT(z, IsOk());
  ASSERT_TRUE(z->value.has_value());
  EXPECT_EQ(z->value->kind_case(), google::protobuf::Value::kNullValue);
}

TEST(ParseFieldsTest, JsonObjectAndQueryCombine) {
  auto f = ParseFields("q=1&both=query", &kJson, R"({"b": 2, "both": "body"})");
  ASSERT_THAT(f, IsOk());
  ASSERT_EQ(f->members.size(), 3u);
  EXPECT_EQ(f->members.at("q").string_value(), "1");
  EXPECT_EQ(f->members.at("b").number_value(), 2);
  // Body fields win over query parameters.
  EXPECT_EQ(f->members.at("both").string_value(), "body");
}

TEST(ParseFieldsTest, FormBodyOverridesQuery) {
  auto f = ParseFields("a=query&q=1", &kForm, "a=body&f=x+y");
  ASSERT_THAT(f, IsOk());
  ASSERT_EQ(f->members.size(), 3u);
  EXPECT_EQ(f->members.at("a").string_value(), "body");
  EXPECT_EQ(f->members.at("q").string_value(), "1");
  EXPECT_EQ(f->members.at("f").string_value(), "x y");
  EXPECT_FALSE(f->value.has_value());
}

TEST(ParseFieldsTest, NonObjectJsonWithQueryIsAnError) {
  EXPECT_THAT(ParseFields("a=1", &kJson, "[1]"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("query parameters")));
  EXPECT_THAT(ParseFields("a=1", &kJson, "\"s\""), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ParseFieldsTest, BrokenJson) {
  for (const char* body : {"{", "{\"a\":}", "[1,", "nul", "undefined", "   ", "{\"a\":1} x"}) {
    SCOPED_TRACE(body);
    EXPECT_THAT(ParseFields("", &kJson, body), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("JSON")));
  }
}

TEST(ParseFieldsTest, NonUtf8Json) {
  EXPECT_THAT(ParseFields("", &kJson, "{\"a\": \"\xFF\"}"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("UTF-8")));
  EXPECT_THAT(ParseFields("", &kJson, "\"\xC3\""), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ParseFieldsTest, JsonFieldNameBounds) {
  EXPECT_THAT(ParseFields("", &kJson, R"({"": 1})"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseFields("", &kJson, absl::StrCat("{\"", std::string(257, 'k'), "\": 1}")),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseFields("", &kJson, absl::StrCat("{\"", std::string(256, 'k'), "\": 1}")), IsOk());
}

TEST(ParseFieldsTest, TooManyFields) {
  std::string json = "{";
  for (int i = 0; i < 1001; ++i) absl::StrAppend(&json, i > 0 ? "," : "", "\"f", i, "\":", i);
  json += "}";
  EXPECT_THAT(ParseFields("", &kJson, json), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1000")));
  EXPECT_THAT(ParseFields("", &kForm, ManyFields(1001)), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseFields(ManyFields(1001), nullptr, ""), StatusIs(absl::StatusCode::kInvalidArgument));
  // Query and form together are bounded too.
  EXPECT_THAT(ParseFields(ManyFields(600, "q"), &kForm, ManyFields(600, "b")),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ParseFieldsTest, ErrorsNameWhereTheyAre) {
  EXPECT_THAT(ParseFields("a=%", &kJson, "{}"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("query")));
  EXPECT_THAT(ParseFields("", &kForm, "a=%zz"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("form")));
  EXPECT_THAT(ParseFields("", &kForm, "a=%FF"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("UTF-8")));
}

TEST(ParseFieldsTest, OtherCharsetsAreUnimplemented) {
  const std::string latin1 = "application/json; charset=latin1";
  EXPECT_THAT(ParseFields("", &latin1, R"({"a": 1})"),
              StatusIs(absl::StatusCode::kUnimplemented, HasSubstr("latin1")));
  const std::string form_latin1 = "application/x-www-form-urlencoded; charset=ISO-8859-1";
  EXPECT_THAT(ParseFields("", &form_latin1, "a=1"), StatusIs(absl::StatusCode::kUnimplemented));
}

TEST(ParseFieldsTest, MissingOrUnknownContentTypeWithABodyIsUnimplemented) {
  EXPECT_THAT(ParseFields("", nullptr, R"({"a": 1})"),
              StatusIs(absl::StatusCode::kUnimplemented, HasSubstr("Content-Type")));
  for (const std::string& ct : {std::string("text/plain"), std::string("application/xml"),
                                std::string("multipart/form-data; boundary=x"), std::string(""),
                                std::string("application/jsonx"), std::string("json")}) {
    SCOPED_TRACE(ct);
    EXPECT_THAT(ParseFields("", &ct, "a=1"), StatusIs(absl::StatusCode::kUnimplemented));
  }
}

TEST(ParseFieldsTest, UnimplementedMessageIsBounded) {
  const std::string huge(10000, 'x');
  auto f = ParseFields("", &huge, "a=1");
  ASSERT_THAT(f, StatusIs(absl::StatusCode::kUnimplemented));
  EXPECT_LT(f.status().message().size(), 300u);
}

}  // namespace
}  // namespace orch::rest_gateway
