#include "common/js/ecmascript_data_model.h"

#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/js/data_model_test_support.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace orch::js {
namespace {

using ::orch::testing::IsOk;
using ::orch::testing::IsOkAndHolds;
using ::orch::testing::StatusIs;
using ::testing::HasSubstr;
using scxml::CodeKind;
using scxml::CodeSpec;
using scxml::DataModel;

// ---- Compile ----

TEST_F(EcmascriptDataModelTest, CompileReportsSyntaxErrorWithWhere) {
  Code code;
  code.Expr("1 + 1");
  code.Expr("return");
  auto compiled = factory_.Compile(code.specs);
  EXPECT_THAT(compiled, StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("doc.scxml:2:1: SyntaxError")));
}

TEST_F(EcmascriptDataModelTest, CompileRejectsScriptSyntaxErrorAndBadLocation) {
  Code a;
  a.Script("function (");
  EXPECT_THAT(factory_.Compile(a.specs), StatusIs(absl::StatusCode::kInvalidArgument,
                                                  HasSubstr("doc.scxml:1:1")));
  for (const char* bad : {"'continue'", "f()", "a + b", "1", "a, b", "x = 1", "this", ""}) {
    Code b;
    b.Loc(bad);
    EXPECT_THAT(factory_.Compile(b.specs), StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
  for (const char* good : {"x", "foo.bar.baz ", "a[0]", "a['k'].b", "f().x", "a[f(1)]"}) {
    Code c;
    c.Loc(good);
    EXPECT_THAT(factory_.Compile(c.specs), IsOk()) << good;
  }
}

TEST_F(EcmascriptDataModelTest, CompileRejectsNonDenseIds) {
  std::vector<CodeSpec> specs = {{1, CodeKind::kExpression, "1", "w"}};
  EXPECT_THAT(factory_.Compile(specs), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(EcmascriptDataModelTest, DeferredCompileErrorsSurfaceAtUse) {
  EcmascriptDataModelFactory lenient({.defer_compile_errors = true});
  Code code;
  uint32_t bad = code.Expr("return");
  uint32_t good = code.Expr("2");
  uint32_t bad_item = code.Loc("'continue'");
  auto compiled = lenient.Compile(code.specs);
  ASSERT_THAT(compiled, IsOk());
  auto dm = lenient.Create(*compiled, &host_, {});
  ASSERT_THAT(dm, IsOk());
  ASSERT_THAT((*dm)->Init("s", "n", "{}", 1), IsOk());
  EXPECT_THAT((*dm)->EvalValue(bad), StatusIs(absl::StatusCode::kInvalidArgument,
                                              HasSubstr("doc.scxml:1:1: SyntaxError")));
  EXPECT_THAT((*dm)->EvalValue(good), IsOkAndHolds("2"));
  // W3C test 277: <data expr="return"> leaves the variable undefined.
  EXPECT_THAT((*dm)->DeclareDataExpr("Var1", bad), StatusIs(absl::StatusCode::kInvalidArgument));
  uint32_t ids = good;
  (void)ids;
  EXPECT_THAT((*dm)->AssignValue(bad_item, "1"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(EcmascriptDataModelTest, CreateRejectsForeignCodeAndNullHost) {
  class Other : public scxml::CompiledCode {};
  EXPECT_THAT(factory_.Create(std::make_shared<Other>(), &host_, {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  auto compiled = factory_.Compile({});
  ASSERT_THAT(compiled, IsOk());
  EXPECT_THAT(factory_.Create(*compiled, nullptr, {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// ---- Data, expressions, conditions ----

TEST_F(EcmascriptDataModelTest, DeclareDataAndEvaluate) {
  Code code;
  uint32_t sum = code.Expr("a.x + b[1]");
  uint32_t cond = code.Cond("a.x > 1 && typeof late === 'undefined'");
  uint32_t str = code.Expr("a");
  uint32_t obj = code.Expr("({n: 1, s: 'x', u: undefined, f: function(){}, arr: [1, undefined]})");
  uint32_t semi = code.Expr("new Date(5).getTime();");
  auto dm = Make(code);
  EXPECT_THAT(dm->DeclareData("a", R"({"x": 2})"), IsOk());
  EXPECT_THAT(dm->DeclareData("b", "[1, 40]"), IsOk());
  EXPECT_THAT(dm->DeclareData("late", "undefined"), IsOk());
  EXPECT_THAT(dm->EvalValue(sum), IsOkAndHolds("42"));
  EXPECT_THAT(dm->EvalCondition(cond), IsOkAndHolds(true));
  EXPECT_THAT(dm->EvalString(str), IsOkAndHolds("[object Object]"));
  EXPECT_THAT(dm->EvalValue(obj), IsOkAndHolds(R"({"n":1,"s":"x","arr":[1,null]})"));
  EXPECT_THAT(dm->EvalValue(semi), IsOkAndHolds("5"));
}

TEST_F(EcmascriptDataModelTest, EvalValueEncodingRules) {
  Code code;
  uint32_t undef = code.Expr("undefined");
  uint32_t fn = code.Expr("function(){}");
  uint32_t nan = code.Expr("[NaN, Infinity, -0]");
  uint32_t date = code.Expr("new Date(0)");
  uint32_t cyclic = code.Expr("(function(){ var o = {}; o.self = o; return o; })()");
  uint32_t str = code.Expr("'caf\\u00e9 \\uD83D\\uDE00'");
  auto dm = Make(code);
  EXPECT_THAT(dm->EvalValue(undef), IsOkAndHolds("undefined"));
  EXPECT_THAT(dm->EvalValue(fn), IsOkAndHolds("undefined"));
  EXPECT_THAT(dm->EvalValue(nan), IsOkAndHolds("[null,null,0]"));
  EXPECT_THAT(dm->EvalValue(date), IsOkAndHolds(R"("1970-01-01T00:00:00.000Z")"));
  EXPECT_THAT(dm->EvalValue(cyclic), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(dm->EvalValue(str), IsOkAndHolds("\"caf\xC3\xA9 \xF0\x9F\x98\x80\""));
  EXPECT_THAT(dm->EvalString(str), IsOkAndHolds("caf\xC3\xA9 \xF0\x9F\x98\x80"));
}

TEST_F(EcmascriptDataModelTest, EvalStringIsJsString) {
  Code code;
  uint32_t a = code.Expr("[1, 'a', null]");
  uint32_t b = code.Expr("1/3");
  uint32_t c = code.Expr("undefined");
  uint32_t d = code.Expr("({toString: function(){ throw new Error('boom'); }})");
  auto dm = Make(code);
  EXPECT_THAT(dm->EvalString(a), IsOkAndHolds("1,a,"));
  EXPECT_THAT(dm->EvalString(b), IsOkAndHolds("0.3333333333333333"));
  EXPECT_THAT(dm->EvalString(c), IsOkAndHolds("undefined"));
  EXPECT_THAT(dm->EvalString(d), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("boom")));
}

TEST_F(EcmascriptDataModelTest, ErrorsAreInvalidArgumentAndModelStaysUsable) {
  Code code;
  uint32_t thrower = code.Expr("undefinedVariable + 1");
  uint32_t ok = code.Expr("1 + 1");
  uint32_t throw_script = code.Script("throw new TypeError('nope')");
  auto dm = Make(code);
  EXPECT_THAT(dm->EvalValue(thrower), StatusIs(absl::StatusCode::kInvalidArgument,
                                               HasSubstr("doc.scxml:1:1: ReferenceError")));
  EXPECT_THAT(dm->Execute(throw_script), StatusIs(absl::StatusCode::kInvalidArgument,
                                                  HasSubstr("TypeError: nope")));
  EXPECT_THAT(dm->EvalValue(ok), IsOkAndHolds("2"));
  EXPECT_THAT(dm->EvalValue(999), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(EcmascriptDataModelTest, DeclareDataErrors) {
  Code code;
  uint32_t bad = code.Expr("nope.nope");
  uint32_t check = code.Cond("typeof v === 'undefined'");
  auto dm = Make(code);
  EXPECT_THAT(dm->DeclareData("1abc", "1"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(dm->DeclareData("var", "1"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(dm->DeclareData("_sessionid", "1"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(dm->DeclareData("v", "{not json"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(dm->EvalCondition(check), IsOkAndHolds(true));  // exists, undefined
  EXPECT_THAT(dm->DeclareDataExpr("w", bad), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(dm->DeclareData("w", "3"), IsOk());
}

// ---- Assignment ----

TEST_F(EcmascriptDataModelTest, AssignAndAssignValue) {
  Code code;
  uint32_t loc_x = code.Loc("x");
  uint32_t loc_deep = code.Loc("o.inner['k']");
  uint32_t expr = code.Expr("x * 2");
  uint32_t read = code.Expr("o.inner.k + x");
  auto dm = Make(code);
  ASSERT_THAT(dm->DeclareData("x", "21"), IsOk());
  ASSERT_THAT(dm->DeclareData("o", R"({"inner":{}})"), IsOk());
  EXPECT_THAT(dm->Assign(loc_x, expr), IsOk());
  EXPECT_THAT(dm->AssignValue(loc_deep, R"("v")"), IsOk());
  EXPECT_THAT(dm->EvalValue(read), IsOkAndHolds(R"("v42")"));
  EXPECT_THAT(dm->EvalValue(loc_deep), IsOkAndHolds(R"("v")"));  // a location read as a value
  EXPECT_THAT(dm->AssignValue(loc_x, "undefined"), IsOk());
  EXPECT_THAT(dm->EvalValue(loc_x), IsOkAndHolds("undefined"));
}

TEST_F(EcmascriptDataModelTest, AssignToUndeclaredIsAnError) {
  Code code;
  uint32_t undeclared = code.Loc("neverDeclared");
  uint32_t deep = code.Loc("foo.bar.baz");  // W3C test 286
  uint32_t one = code.Expr("1");
  uint32_t check = code.Cond("typeof neverDeclared === 'undefined'");
  uint32_t not_loc = code.Expr("x");
  auto dm = Make(code);
  EXPECT_THAT(dm->Assign(undeclared, one), StatusIs(absl::StatusCode::kInvalidArgument,
                                                    HasSubstr("neverDeclared")));
  EXPECT_THAT(dm->Assign(deep, one), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(dm->EvalCondition(check), IsOkAndHolds(true));
  EXPECT_THAT(dm->Assign(not_loc, one), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(EcmascriptDataModelTest, SystemVariablesAreReadOnly) {
  Code code;
  uint32_t one = code.Expr("27");
  std::vector<uint32_t> locs;
  for (const char* v : {"_sessionid", "_name", "_ioprocessors", "_event"}) locs.push_back(code.Loc(v));
  uint32_t event_name = code.Loc("_event.name");
  uint32_t io_loc = code.Loc("_ioprocessors.scxml.location");
  uint32_t read = code.Expr("[_sessionid, _name, _ioprocessors.scxml.location, typeof _event]");
  uint32_t script = code.Script("_sessionid = 'x'; var _name = 'y';");
  auto dm = Make(code);
  for (uint32_t loc : locs) {
    EXPECT_THAT(dm->Assign(loc, one), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("read-only")));
  }
  EXPECT_THAT(dm->AssignValue(io_loc, "1"), StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_THAT(dm->SetEvent({.name = "e", .type = "internal"}), IsOk());
  EXPECT_THAT(dm->Assign(event_name, one), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(dm->Execute(script), IsOk());  // sloppy script: silently ignored
  EXPECT_THAT(dm->EvalValue(read),
              IsOkAndHolds(R"(["sess-1","machine","#_scxml_sess-1","object"])"));
}

// ---- Scripts ----

TEST_F(EcmascriptDataModelTest, ScriptsDefineGlobals) {
  Code code;
  uint32_t script = code.Script("var counter = 1; function inc(n) { counter += n; return counter; }");
  uint32_t call = code.Expr("inc(2)");
  uint32_t redeclare = code.Script("var Var1 = 1");  // W3C test 303
  uint32_t loc = code.Loc("Var1");
  uint32_t two = code.Expr("2");
  uint32_t check = code.Cond("Var1 == 1");
  auto dm = Make(code);
  ASSERT_THAT(dm->Execute(script), IsOk());
  EXPECT_THAT(dm->EvalValue(call), IsOkAndHolds("3"));
  ASSERT_THAT(dm->DeclareData("Var1", "0"), IsOk());
  ASSERT_THAT(dm->Assign(loc, two), IsOk());
  ASSERT_THAT(dm->Execute(redeclare), IsOk());
  EXPECT_THAT(dm->EvalCondition(check), IsOkAndHolds(true));
}

TEST_F(EcmascriptDataModelTest, FunctionDataAndConstructors) {
  Code code;
  uint32_t fn = code.Expr("function(invar) {return invar + 1;}");  // W3C test 453
  uint32_t cond = code.Cond("var1(2) == 3");
  uint32_t script = code.Script("function testobject() { this.bar = 0; }");  // W3C test 452
  uint32_t foo = code.Loc("foo");
  uint32_t foo_bar = code.Loc("foo.bar");
  uint32_t make = code.Expr("new testobject();");
  uint32_t one = code.Expr("1");
  uint32_t check = code.Cond("foo.bar == 1");
  auto dm = Make(code);
  ASSERT_THAT(dm->DeclareDataExpr("var1", fn), IsOk());
  EXPECT_THAT(dm->EvalCondition(cond), IsOkAndHolds(true));
  ASSERT_THAT(dm->DeclareData("foo", "0"), IsOk());
  ASSERT_THAT(dm->Execute(script), IsOk());
  ASSERT_THAT(dm->Assign(foo, make), IsOk());
  ASSERT_THAT(dm->Assign(foo_bar, one), IsOk());
  EXPECT_THAT(dm->EvalCondition(check), IsOkAndHolds(true));
}

// ---- Events and In() ----

TEST_F(EcmascriptDataModelTest, EventFields) {
  Code code;
  uint32_t bound = code.Cond("_event");
  uint32_t fields = code.Expr(
      "[_event.name, _event.type, _event.sendid, typeof _event.origin, _event.origintype,"
      " _event.invokeid, _event.data.amount]");
  uint32_t no_data = code.Cond(
      "_event.data === undefined && _event.sendid === undefined && _event.raw === undefined");
  uint32_t raw = code.Expr("_event.raw");
  auto dm = Make(code);
  EXPECT_THAT(dm->EvalCondition(bound), IsOkAndHolds(false));  // W3C test 319
  ASSERT_THAT(dm->SetEvent({.name = "order.created",
                            .type = "external",
                            .sendid = "s1",
                            .origintype = "http://www.w3.org/TR/scxml/#SCXMLEventProcessor",
                            .invokeid = "inv",
                            .data = R"({"amount": 150})",
                            .raw = "amount=150"}),
              IsOk());
  EXPECT_THAT(dm->EvalValue(raw), IsOkAndHolds(R"("amount=150")"));
  EXPECT_THAT(dm->EvalValue(fields),
              IsOkAndHolds(R"(["order.created","external","s1","undefined",)"
                           R"("http://www.w3.org/TR/scxml/#SCXMLEventProcessor","inv",150])"));
  ASSERT_THAT(dm->SetEvent({.name = "e2", .type = "internal"}), IsOk());
  EXPECT_THAT(dm->EvalCondition(no_data), IsOkAndHolds(true));
  EXPECT_THAT(dm->SetEvent({.name = "e3", .type = "internal", .data = "{bad"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(dm->EvalCondition(no_data), IsOkAndHolds(true));
}

// `_event` is built lazily (docs/design/js-data-model.md, "Lazy _event"):
// none of that may show.
TEST_F(EcmascriptDataModelTest, LazyEventIsReadOnlyStableAndFresh) {
  Code code;
  uint32_t keep = code.Script("var kept = _event; _event = 5; _event.name = 'x'; kept.data.extra = 1;");
  uint32_t same = code.Cond(
      "kept === _event && _event.name === 'e1' && Object.isFrozen(_event) &&"
      " !Object.isFrozen(_event.data) && _event.data.extra === 1 &&"
      " Object.getOwnPropertyDescriptor(this, '_event').writable === false");
  uint32_t after = code.Cond("kept !== _event && kept.name === 'e1' && _event.name === 'e2'");
  uint32_t name_loc = code.Loc("_event.name");
  uint32_t event_loc = code.Loc("_event");
  uint32_t value = code.Expr("'y'");
  uint32_t strict = code.Script("(function () { 'use strict'; _event = 1; })()");
  uint32_t fourth = code.Cond("_event.name === 'e4' && _event.data.k === 4");
  auto dm = Make(code);
  ASSERT_THAT(dm->SetEvent({.name = "e1", .type = "external", .data = R"({"k":1})"}), IsOk());
  ASSERT_THAT(dm->Execute(keep), IsOk());
  EXPECT_THAT(dm->EvalCondition(same), IsOkAndHolds(true));
  EXPECT_THAT(dm->Assign(name_loc, value), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(dm->Assign(event_loc, value), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(dm->Execute(strict), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("TypeError")));
  ASSERT_THAT(dm->SetEvent({.name = "e2", .type = "external", .data = R"({"k":2})"}), IsOk());
  // Not read yet: still read-only, to strict code and to <assign>.
  EXPECT_THAT(dm->Execute(strict), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("TypeError")));
  EXPECT_THAT(dm->Assign(name_loc, value), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(dm->EvalCondition(after), IsOkAndHolds(true));
  // An event nobody read is replaced by the next one.
  ASSERT_THAT(dm->SetEvent({.name = "e3", .type = "external", .data = R"({"k":3})"}), IsOk());
  ASSERT_THAT(dm->SetEvent({.name = "e4", .type = "external", .data = R"({"k":4})"}), IsOk());
  EXPECT_THAT(dm->EvalCondition(fourth), IsOkAndHolds(true));
}

TEST_F(EcmascriptDataModelTest, LazyEventFromNestedFunctionsAndTypeof) {
  Code code;
  uint32_t define = code.Script("function f() { return (function () { return _event.data.k; })(); }");
  uint32_t call = code.Expr("[typeof _event, f(), _event.name].join(',')");
  uint32_t first = code.Expr("typeof _event");
  auto dm = Make(code);
  ASSERT_THAT(dm->Execute(define), IsOk());
  EXPECT_THAT(dm->EvalString(first), IsOkAndHolds("undefined"));  // no event yet (W3C 319)
  ASSERT_THAT(dm->SetEvent({.name = "go", .type = "internal", .data = R"({"k":"v"})"}), IsOk());
  EXPECT_THAT(dm->EvalString(call), IsOkAndHolds("object,v,go"));
  // Data outside the fast JSON subset, and XML, are built at once.
  ASSERT_THAT(dm->SetEvent({.name = "u", .type = "internal", .data = R"({"k":"\u00e9", "n": 1.5e3})"}), IsOk());
  EXPECT_THAT(dm->EvalString(call), IsOkAndHolds("object,\xC3\xA9,u"));
}

TEST_F(EcmascriptDataModelTest, PendingEventSerializesLikeABuiltOne) {
  Code code;
  uint32_t read = code.Cond("_event.name === 'go'");
  uint32_t check = code.Expr("[_event.name, _event.data.k, _event.type].join(',')");
  uint32_t type_of = code.Expr("typeof _event");
  auto dm = Make(code);
  ASSERT_THAT(dm->SetEvent({.name = "go", .type = "external", .data = R"({"k":"v"})"}), IsOk());
  auto pending = dm->Serialize();  // never read
  ASSERT_THAT(pending, IsOk());
  auto other = Fresh();
  ASSERT_THAT(other->SetEvent({.name = "go", .type = "external", .data = R"({"k":"v"})"}), IsOk());
  ASSERT_THAT(other->EvalCondition(read), IsOkAndHolds(true));
  auto built = other->Serialize();
  ASSERT_THAT(built, IsOk());
  EXPECT_EQ(*pending, *built);
  auto restored = Fresh();
  ASSERT_THAT(restored->Restore(*pending), IsOk());
  EXPECT_THAT(restored->EvalString(check), IsOkAndHolds("go,v,external"));
  // Restoring a snapshot without an event over a pending one: undefined again.
  auto empty = Fresh()->Serialize();
  ASSERT_THAT(empty, IsOk());
  ASSERT_THAT(restored->SetEvent({.name = "later", .type = "external", .data = "{}"}), IsOk());
  ASSERT_THAT(restored->Restore(*empty), IsOk());
  EXPECT_THAT(restored->EvalString(type_of), IsOkAndHolds("undefined"));
}

// The fast JSON path (event data, DeclareData, AssignValue) gives exactly what
// JSON.parse gives, and leaves everything else to it.
// indexOf/lastIndexOf without fromIndex take the dense-array fast path
// (ORCH_DUK_INDEXOF_FAST_PATH); with fromIndex they take Duktape's generic
// loop. Both must agree on every kind of array and element.
TEST_F(EcmascriptDataModelTest, IndexOfFastPathMatchesTheGenericPath) {
  Code code;
  uint32_t mismatches = code.Expr(
      "(function () {"
      "  var o = {}, holes = [1, , 3], longer = [1, 2], sparse = [];"
      "  longer.length = 5; sparse[100] = 'x';"
      "  var arrays = [[], [1, 2, 3, 2], ['a', 'b', 'a'], [NaN, 0, -0, '0', null, undefined, o, false],"
      "                holes, longer, sparse, Object.freeze([1, 1]), [o, [o]]];"
      "  var needles = [1, 2, 3, 'a', 'b', 'c', NaN, 0, -0, '0', null, undefined, o, false, 'x', [o]];"
      "  var bad = [];"
      "  arrays.forEach(function (a, i) {"
      "    needles.forEach(function (x, j) {"
      "      if (a.indexOf(x) !== a.indexOf(x, 0)) bad.push('indexOf ' + i + ' ' + j);"
      "      if (a.lastIndexOf(x) !== a.lastIndexOf(x, a.length - 1)) bad.push('lastIndexOf ' + i + ' ' + j);"
      "    });"
      "  });"
      "  return bad;"
      "})()");
  uint32_t results = code.Expr(
      "[[1, 2, 3, 2].indexOf(2), [1, 2, 3, 2].lastIndexOf(2), [NaN].indexOf(NaN), [-0].indexOf(0),"
      " [1, , 3].indexOf(undefined), [1, , 3].indexOf(3), Array.prototype.indexOf.call('abc', 'b')]");
  auto dm = Make(code);
  EXPECT_THAT(dm->EvalValue(mismatches), IsOkAndHolds("[]"));
  EXPECT_THAT(dm->EvalValue(results), IsOkAndHolds("[1,3,-1,0,-1,2,1]"));
}

TEST_F(EcmascriptDataModelTest, JsonFastPathMatchesJsonParse) {
  Code code;
  uint32_t loc = code.Loc("v");
  uint32_t compare = code.Cond(
      "(function (a, b) {"
      "  function same(x, y) {"
      "    if (typeof x !== typeof y) return false;"
      "    if (typeof x === 'number') return x === y ? (x !== 0 || 1 / x === 1 / y) : (x !== x && y !== y);"
      "    if (x === null || typeof x !== 'object') return x === y;"
      "    if (Array.isArray(x) !== Array.isArray(y) || Object.getPrototypeOf(x) !== Object.getPrototypeOf(y)) return false;"
      "    var kx = Object.getOwnPropertyNames(x), ky = Object.getOwnPropertyNames(y);"
      "    if (kx.join('\\u0001') !== ky.join('\\u0001')) return false;"
      "    for (var i = 0; i < kx.length; i++) {"
      "      var dx = Object.getOwnPropertyDescriptor(x, kx[i]), dy = Object.getOwnPropertyDescriptor(y, kx[i]);"
      "      if (dx.writable !== dy.writable || dx.enumerable !== dy.enumerable || dx.configurable !== dy.configurable) return false;"
      "      if (!same(dx.value, dy.value)) return false;"
      "    }"
      "    return Object.isExtensible(x) === Object.isExtensible(y);"
      "  }"
      "  return same(a, b);"
      "})(v, JSON.parse(src))");
  uint32_t parses = code.Cond("(function () { try { JSON.parse(src); return true; } catch (e) { return false; } })()");
  auto dm = Make(code);
  const char* texts[] = {
      R"({"id":"c1","skill":"billing","language":"en","priority":3,"ani":"+49301234568"})",
      R"( { "a" : [ 1 , -0 , 0 , 123456789012345 , true , false , null , "x" ] , "b" : { } , "c" : [ ] } )",
      R"({"__proto__": {"x": 1}, "toString": 1, "constructor": "c", "0": "zero", "1": 1, "a": 1, "a": 2})",
      R"(["esc \" \\ \/ \b \f \n \r \t", "caf\u00e9", "\ud83d\ude00", "é ✓ 😀"])",
      R"([1.5, -2.5e-3, 1E400, -1e-400, 12345678901234567890, 0.1, 9007199254740993, 1e+2])",
      R"([[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]])",
      R"("just a string")", "42", "-0", "true", "null", R"({"k":{"k":{"k":[{"k":[]}]}}})",
      // Not JSON: both must refuse.
      "{", "[1,]", R"({"a" 1})", "01", "1.", "-", ".5", "[1] x", "{'a':1}", "\"\t\"", "tru", "[", "",
  };
  for (const char* text : texts) {
    SCOPED_TRACE(text);
    std::string quoted = "\"";
    for (const char* c = text; *c; ++c) {
      if (*c == '"' || *c == '\\') quoted.push_back('\\');
      if (*c == '\t') {
        quoted.append("\\t");
        continue;
      }
      quoted.push_back(*c);
    }
    quoted.push_back('"');
    ASSERT_THAT(dm->DeclareData("src", quoted), IsOk());
    ASSERT_THAT(dm->DeclareData("v", "null"), IsOk());
    auto ok = dm->EvalCondition(parses);
    ASSERT_THAT(ok, IsOk());
    absl::Status assigned = dm->AssignValue(loc, text);
    EXPECT_EQ(assigned.ok(), *ok) << assigned;
    if (assigned.ok() && *ok) EXPECT_THAT(dm->EvalCondition(compare), IsOkAndHolds(true));
  }
}

// <assign> is one call when the expression allows it
// (docs/design/js-data-model.md, "<assign> in one call");
// the result must be that of "evaluate expr, then assign to location".
TEST_F(EcmascriptDataModelTest, FusedAssignmentKeepsSemantics) {
  Code code;
  uint32_t setup = code.Script(
      "var o = {x: 0}; var first = o; var n = 1;"
      "function replace() { o = {x: 0}; return 7; }"
      "function who() { return this === globalThis; }");
  uint32_t o_x = code.Loc("o.x");
  uint32_t n_loc = code.Loc("n");
  uint32_t undeclared = code.Loc("nope");
  uint32_t call_replace = code.Expr("replace()");
  uint32_t plus = code.Expr("n + 1");
  uint32_t self = code.Expr("this === globalThis && who()");
  uint32_t fn = code.Expr("function () { return n; }");
  uint32_t check = code.Expr("[o.x, first.x, n].join(',')");
  uint32_t sloppy_in_expr = code.Expr("(function () { implicitGlobal = 1; return 2; })()");
  uint32_t n_str = code.Expr("String(n) + ',' + implicitGlobal");
  auto dm = Make(code);
  ASSERT_THAT(dm->Execute(setup), IsOk());
  ASSERT_THAT(dm->Assign(o_x, call_replace), IsOk());  // expr first: the new o gets x
  ASSERT_THAT(dm->Assign(n_loc, plus), IsOk());
  EXPECT_THAT(dm->EvalString(check), IsOkAndHolds("7,0,2"));
  EXPECT_THAT(dm->Assign(undeclared, plus), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ReferenceError")));
  ASSERT_THAT(dm->Assign(n_loc, self), IsOk());
  // A function literal keeps the global scope (serializable) and sloppy mode.
  ASSERT_THAT(dm->Assign(o_x, fn), IsOk());
  EXPECT_THAT(dm->Serialize(), IsOk());
  ASSERT_THAT(dm->Assign(n_loc, sloppy_in_expr), IsOk());
  EXPECT_THAT(dm->EvalString(n_str), IsOkAndHolds("2,1"));
  ASSERT_THAT(dm->Assign(n_loc, self), IsOk());
  EXPECT_THAT(dm->EvalString(n_str), IsOkAndHolds("true,1"));
}

// The Duktape patches (docs/design/js-data-model.md, "Duktape configuration"): global variable
// access, obj.name reads and writes keep [[Get]]/[[Put]]/[[Delete]] semantics.
TEST_F(EcmascriptDataModelTest, PropertyFastPathsKeepSemantics) {
  Code code;
  uint32_t script = code.Script(R"(
    var log = [];
    var proto = { inherited: 1, get viaGetter() { log.push('get'); return 2; },
                  set viaSetter(v) { log.push('set ' + v); } };
    var o = Object.create(proto);
    o.own = 3;
    o.viaSetter = 4;                      // the inherited setter runs, no own property
    var ro = Object.create(Object.defineProperty({}, 'fixed', { value: 5, writable: false }));
    ro.fixed = 6;                         // sloppy: ignored (inherited read-only)
    var frozen = Object.freeze({ k: 7 });
    frozen.k = 8;                         // ignored
    var arr = [1, 2, 3]; arr.named = 'n';
    var str = new String('abc');
    function args() { return arguments; }
    var a = args(9, 10);
    var withProto = JSON.parse('{"__proto__": 11}');
    var plain = {}; plain.__proto__ = proto;   // the Object.prototype accessor
    x = 12;                               // implicit global: configurable
    var declared = 13;
    var deletedX = delete x, deletedDeclared = delete declared;
    function strictCaller() { 'use strict'; return 1; }
  )");
  uint32_t check = code.Expr(R"([
    o.own, o.inherited, o.viaGetter, Object.prototype.hasOwnProperty.call(o, 'viaSetter'),
    ro.fixed, Object.prototype.hasOwnProperty.call(ro, 'fixed'), frozen.k,
    arr.length, arr.named, arr[1], str.length, str[1], a.length, a[0],
    Object.getPrototypeOf(withProto) === Object.prototype, withProto.__proto__,
    Object.getPrototypeOf(plain) === proto, plain.inherited,
    typeof x, deletedX, deletedDeclared, declared, o.missing, log.join('|'),
    (function () { try { return strictCaller.caller; } catch (e) { return e.name; } })()
  ].join(','))");
  uint32_t strict_put = code.Script("(function () { 'use strict'; frozen.k = 1; })()");
  auto dm = Make(code);
  ASSERT_THAT(dm->Execute(script), IsOk());
  EXPECT_THAT(dm->EvalString(check),
              IsOkAndHolds("3,1,2,false,5,false,7,3,n,2,3,b,2,9,true,11,true,1,undefined,true,false,"
                           "13,,set 4|get,TypeError"));
  EXPECT_THAT(dm->Execute(strict_put), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("TypeError")));
}

TEST_F(EcmascriptDataModelTest, InCallsHost) {
  Code code;
  uint32_t cond = code.Cond("_event.data.amount > 100 && In('s1')");
  auto dm = Make(code);
  ASSERT_THAT(dm->SetEvent({.name = "e", .type = "external", .data = R"({"amount": 101})"}), IsOk());
  EXPECT_THAT(dm->EvalCondition(cond), IsOkAndHolds(false));
  host_.active.insert("s1");
  EXPECT_THAT(dm->EvalCondition(cond), IsOkAndHolds(true));
}

// ---- Clock and PRNG ----

TEST_F(EcmascriptDataModelTest, DateUsesHostClockInUtc) {
  Code code;
  uint32_t now = code.Expr("new Date().getTime()");
  uint32_t now2 = code.Expr("Date.now()");
  uint32_t tz = code.Expr("new Date(0).getTimezoneOffset()");
  auto dm = Make(code);
  EXPECT_THAT(dm->EvalValue(now), IsOkAndHolds("1700000000123"));
  host_.now_ms = 5;
  EXPECT_THAT(dm->EvalValue(now2), IsOkAndHolds("5"));
  EXPECT_THAT(dm->EvalValue(tz), IsOkAndHolds("0"));
}

TEST_F(EcmascriptDataModelTest, MathRandomIsSeeded) {
  Code code;
  uint32_t r = code.Expr("[Math.random(), Math.random(), Math.random()]");
  uint32_t range = code.Cond(
      "(function(){ for (var i = 0; i < 1000; i++) { var x = Math.random();"
      " if (!(x >= 0 && x < 1)) return false; } return true; })()");
  auto a = Make(code, {}, 7);
  auto b = Fresh({}, 7);
  auto c = Fresh({}, 8);
  auto ra = a->EvalValue(r);
  ASSERT_THAT(ra, IsOk());
  EXPECT_THAT(b->EvalValue(r), IsOkAndHolds(*ra));
  EXPECT_THAT(c->EvalValue(r), IsOkAndHolds(::testing::Ne(*ra)));
  EXPECT_THAT(a->EvalCondition(range), IsOkAndHolds(true));
}

// ---- Limits ----

TEST_F(EcmascriptDataModelTest, InfiniteLoopHitsBudgetAndModelRecovers) {
  Code code;
  uint32_t loop = code.Script("while (true) {}");
  uint32_t cond = code.Cond("(function(){ while(true){} })()");
  uint32_t catching = code.Script("while (true) { try { while (true) {} } catch (e) {} }");
  uint32_t finally_loop = code.Script("try { while (true) {} } finally { while (true) {} }");
  uint32_t ok = code.Expr("1 + 1");
  auto dm = Make(code, {.max_work_per_call = 2'000'000});
  EXPECT_THAT(dm->Execute(loop), StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(dm->EvalValue(ok), IsOkAndHolds("2"));
  EXPECT_THAT(dm->EvalCondition(cond), StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(dm->Execute(catching), StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(dm->Execute(finally_loop), StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(dm->EvalValue(ok), IsOkAndHolds("2"));
}

TEST_F(EcmascriptDataModelTest, BudgetIsPerCallAndDeterministic) {
  Code code;
  // About 10 instructions per iteration: 50,000 iterations fit in 2M, 500,000 do not.
  uint32_t small = code.Script("for (var i = 0; i < 50000; i++) {}");
  uint32_t big = code.Script("for (var j = 0; j < 500000; j++) {}");
  auto dm = Make(code, {.max_work_per_call = 2'000'000});
  for (int i = 0; i < 5; ++i) EXPECT_THAT(dm->Execute(small), IsOk());
  EXPECT_THAT(dm->Execute(big), StatusIs(absl::StatusCode::kDeadlineExceeded));
}

TEST_F(EcmascriptDataModelTest, RecursionDepthIsBounded) {
  Code code;
  uint32_t script = code.Script("function depth(n) { return n == 0 ? 0 : 1 + depth(n - 1); }");
  uint32_t shallow = code.Expr("depth(150)");
  uint32_t deep = code.Expr("depth(250)");
  auto dm = Make(code, {.max_call_depth = 200});
  ASSERT_THAT(dm->Execute(script), IsOk());
  EXPECT_THAT(dm->EvalValue(shallow), IsOkAndHolds("150"));
  EXPECT_THAT(dm->EvalValue(deep), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("callstack limit")));
  EXPECT_THAT(dm->EvalValue(shallow), IsOkAndHolds("150"));
}

TEST_F(EcmascriptDataModelTest, MemoryCapGivesResourceExhaustedAndRecovers) {
  Code code;
  uint32_t hog = code.Script("var hog = []; while (true) { hog.push('xxxxxxxxxxxxxxxx' + hog.length); }");
  uint32_t big_string = code.Expr("new Array(1 << 22).join('ab')");
  uint32_t clear = code.Script("hog = undefined;");
  uint32_t ok = code.Expr("[1,2,3].map(function(x){ return x * 2; })");
  auto dm = Make(code, {.max_memory_bytes = 2 << 20});
  EXPECT_THAT(dm->Execute(hog), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_LE(dm->MemoryBytes(), size_t{2} << 20);
  EXPECT_THAT(dm->Execute(clear), IsOk());
  EXPECT_THAT(dm->EvalValue(ok), IsOkAndHolds("[2,4,6]"));
  EXPECT_THAT(dm->EvalValue(big_string), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(dm->EvalValue(ok), IsOkAndHolds("[2,4,6]"));
}

TEST_F(EcmascriptDataModelTest, CatchingTheMemoryErrorDoesNotContinueTheCall) {
  Code code;
  uint32_t loop = code.Script(
      "var caught = 0; while (true) { try { new Array(1 << 22).join('ab'); } catch (e) { caught++; } }");
  uint32_t caught = code.Expr("caught <= 1");
  auto dm = Make(code, {.max_memory_bytes = 2 << 20});
  EXPECT_THAT(dm->Execute(loop), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(dm->EvalValue(caught), IsOkAndHolds("true"));
}

TEST_F(EcmascriptDataModelTest, TinyMemoryCapFailsCreateOrInit) {
  auto compiled = factory_.Compile({});
  ASSERT_THAT(compiled, IsOk());
  auto dm = factory_.Create(*compiled, &host_, {.max_memory_bytes = 1024});
  if (dm.ok()) {
    EXPECT_THAT((*dm)->Init("s", "n", "{}", 1), StatusIs(absl::StatusCode::kResourceExhausted));
  } else {
    EXPECT_THAT(dm, StatusIs(absl::StatusCode::kResourceExhausted));
  }
}

TEST_F(EcmascriptDataModelTest, EngineInternalsAreNotReachable) {
  Code code;
  uint32_t probe = code.Expr(
      "[typeof Duktape, typeof Proxy, typeof Uint8Array, typeof performance, typeof JSON,"
      " typeof Math.max]");
  auto dm = Make(code);
  EXPECT_THAT(dm->EvalValue(probe),
              IsOkAndHolds(R"(["undefined","undefined","undefined","undefined","object","function"])"));
}

// ---- Sessions sharing a worker heap ----

TEST_F(EcmascriptDataModelTest, BuiltinsAreFrozenForEverySession) {
  Code code;
  uint32_t tamper = code.Script(
      "Array.prototype.x = 1; Object.prototype.y = 2; Math.PI = 3; JSON.parse = null;"
      "String.prototype.trim = null; Object.getPrototypeOf(function(){}).z = 4;");
  uint32_t strict_tamper = code.Script("'use strict'; Array.prototype.x = 1;");
  uint32_t probe = code.Expr(
      "[[].x, ({}).y, Math.PI === 3, typeof JSON.parse, typeof ' a'.trim,"
      " (function(){}).z, Object.isFrozen(Array.prototype)]");
  auto a = Make(code);
  auto b = Fresh();
  EXPECT_THAT(a->Execute(tamper), IsOk());  // sloppy mode: silently ignored
  EXPECT_THAT(a->Execute(strict_tamper), StatusIs(absl::StatusCode::kInvalidArgument,
                                                  HasSubstr("TypeError")));
  const std::string untouched = R"([null,null,false,"function","function",null,true])";
  EXPECT_THAT(a->EvalValue(probe), IsOkAndHolds(untouched));
  EXPECT_THAT(b->EvalValue(probe), IsOkAndHolds(untouched));
}

TEST_F(EcmascriptDataModelTest, GlobalsAreSeparatePerSession) {
  Code code;
  uint32_t define = code.Script(
      "var v = 'a'; function f() { return 'fa'; } implicit = 1; Math = 'mine';"
      " delete JSON; globalThis.viaThis = 2; this.viaThis2 = 3;");
  uint32_t probe = code.Expr(
      "[typeof v, typeof f, typeof implicit, typeof Math, typeof JSON, typeof viaThis,"
      " typeof viaThis2, globalThis === this]");
  uint32_t loc = code.Loc("v");
  uint32_t value = code.Expr("'b'");
  auto a = Make(code);
  auto b = Fresh();
  ASSERT_THAT(a->Execute(define), IsOk());
  EXPECT_THAT(a->EvalValue(probe), IsOkAndHolds(
      R"(["string","function","number","string","undefined","number","number",true])"));
  EXPECT_THAT(b->EvalValue(probe), IsOkAndHolds(
      R"(["undefined","undefined","undefined","object","object","undefined","undefined",true])"));
  // Assignment to an undeclared variable stays an error in the other session.
  EXPECT_THAT(b->Assign(loc, value), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(b->DeclareData("v", "1"), IsOk());
  EXPECT_THAT(a->EvalValue(loc), IsOkAndHolds("\"a\""));
  EXPECT_THAT(b->EvalValue(loc), IsOkAndHolds("1"));
}

TEST_F(EcmascriptDataModelTest, SystemVariablesAndClockArePerSession) {
  Code code;
  uint32_t probe = code.Expr("[_sessionid, _ioprocessors.scxml.location, Date.now(), In('s')]");
  auto a = Make(code);
  FakeHost other;
  other.now_ms = 5;
  auto b = factory_.Create(compiled_, &other, {});
  ASSERT_THAT(b, IsOk());
  ASSERT_THAT((*b)->Init("sess-2", "m", R"({"scxml":{"location":"#_scxml_sess-2"}})", 1), IsOk());
  other.active.insert("s");
  EXPECT_THAT(a->EvalValue(probe),
              IsOkAndHolds(R"(["sess-1","#_scxml_sess-1",1700000000123,false])"));
  EXPECT_THAT((*b)->EvalValue(probe), IsOkAndHolds(R"(["sess-2","#_scxml_sess-2",5,true])"));
}

TEST_F(EcmascriptDataModelTest, MemoryIsAccountedPerSession) {
  Code code;
  uint32_t grow = code.Script("var big = []; for (var i = 0; i < 20000; i++) big.push({i: i});");
  auto a = Make(code);
  auto b = Fresh();
  size_t b_before = b->MemoryBytes();
  EXPECT_LT(b_before, size_t{16} << 10);
  ASSERT_THAT(a->Execute(grow), IsOk());
  EXPECT_GT(a->MemoryBytes(), size_t{500} << 10);
  EXPECT_LT(b->MemoryBytes(), b_before + 1024);
}

TEST_F(EcmascriptDataModelTest, ManySessionsComeAndGoWithoutGrowth) {
  Code code;
  // Functions make reference cycles (f.prototype.constructor === f) that
  // only a mark-and-sweep frees.
  uint32_t script = code.Script("function f() {} var o = {self: null}; o.self = o; var s = 'x' + 1;");
  Make(code).reset();
  CollectCurrentThreadGarbage();
  size_t base = CurrentThreadHeapStats().total_bytes;
  for (int i = 0; i < 3000; ++i) {
    auto dm = Fresh();
    ASSERT_THAT(dm->Execute(script), IsOk());
  }
  EXPECT_EQ(CurrentThreadHeapStats().live_sessions, 0u);
  CollectCurrentThreadGarbage();
  EXPECT_LT(CurrentThreadHeapStats().total_bytes, base + (64 << 10));
}

// Shared code stays bound to the last session that ran it; when that session
// ends, nothing of it may stay reachable through the code.
TEST_F(EcmascriptDataModelTest, EndedSessionIsNotKeptBySharedCode) {
  Code code;
  uint32_t script = code.Script("var big = new Array(2001).join('xxxxx');");
  uint32_t loc = code.Loc("n");
  uint32_t expr = code.Expr("big.length");
  uint32_t cond = code.Cond("n === 10000");
  auto keeper = Make(code);  // keeps the document's code loaded
  auto run = [&](DataModel* dm) {
    ASSERT_THAT(dm->Execute(script), IsOk());
    ASSERT_THAT(dm->DeclareData("n", "0"), IsOk());
    ASSERT_THAT(dm->Assign(loc, expr), IsOk());  // the fused assignment, bound to dm
    ASSERT_THAT(dm->EvalCondition(cond), IsOkAndHolds(true));
  };
  run(Fresh().get());  // loads (and charges to the worker) every function the code needs
  run(keeper.get());
  run(Fresh().get());  // the code is now bound to a session that has ended
  CollectCurrentThreadGarbage();
  const size_t after_end = CurrentThreadHeapStats().total_bytes;
  run(keeper.get());  // rebinds all of it to the keeper (same state as before)
  CollectCurrentThreadGarbage();
  const size_t after_rebind = CurrentThreadHeapStats().total_bytes;
  // Had the ended session's environment been kept by the code, rebinding
  // would have freed it (~2 KB here).
  EXPECT_LE(after_end, after_rebind + 512);
}

TEST_F(EcmascriptDataModelTest, UseFromAnotherThreadIsRefusedAndThreadsAreIndependent) {
  Code code;
  uint32_t expr = code.Expr("1 + 1");
  uint32_t script = code.Script("var t = 'main';");
  auto dm = Make(code);
  absl::StatusOr<std::string> from_other = "";
  std::string other_thread_result;
  std::thread t([&] {
    from_other = dm->EvalValue(expr);
    // A data model created on this thread uses this thread's worker heap.
    auto own = factory_.Create(compiled_, &host_, {});
    ASSERT_THAT(own, IsOk());
    ASSERT_THAT((*own)->Init("s", "n", "{}", 1), IsOk());
    auto v = (*own)->EvalValue(expr);
    other_thread_result = v.ok() ? *v : v.status().ToString();
  });
  t.join();
  EXPECT_THAT(from_other, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(other_thread_result, "2");
  EXPECT_THAT(dm->Execute(script), IsOk());
}

// ---- foreach ----

TEST_F(EcmascriptDataModelTest, ForeachShallowCopyAndDeclaresVariables) {
  Code code;
  uint32_t arr = code.Expr("Var1");
  uint32_t item = code.Loc("Var3");
  uint32_t index = code.Loc("Var4");
  uint32_t grow = code.Loc("Var1");
  uint32_t concat = code.Expr("[].concat(Var1, [4])");
  uint32_t check = code.Expr("[Var3, Var4, Var1.length]");
  auto dm = Make(code);
  ASSERT_THAT(dm->DeclareData("Var1", "[1,2,3]"), IsOk());
  auto n = dm->ForeachBegin(arr);
  ASSERT_THAT(n, IsOkAndHolds(3u));
  for (size_t i = 0; i < *n; ++i) {
    ASSERT_THAT(dm->ForeachStep(i, item, index), IsOk());
    ASSERT_THAT(dm->Assign(grow, concat), IsOk());  // W3C test 460: the loop does not see it
  }
  dm->ForeachEnd();
  EXPECT_THAT(dm->EvalValue(check), IsOkAndHolds("[3,2,6]"));
}

TEST_F(EcmascriptDataModelTest, ForeachNests) {
  Code code;
  uint32_t outer = code.Expr("[[1,2],[3]]");
  uint32_t row = code.Loc("row");
  uint32_t inner = code.Expr("row");
  uint32_t cell = code.Loc("cell");
  uint32_t i_loc = code.Loc("i");
  uint32_t acc = code.Loc("acc");
  uint32_t add = code.Expr("acc + cell * (i + 1)");
  auto dm = Make(code);
  ASSERT_THAT(dm->DeclareData("acc", "0"), IsOk());
  auto n = dm->ForeachBegin(outer);
  ASSERT_THAT(n, IsOkAndHolds(2u));
  for (size_t r = 0; r < *n; ++r) {
    ASSERT_THAT(dm->ForeachStep(r, row, scxml::DataModel::kNoCode), IsOk());
    auto m = dm->ForeachBegin(inner);
    ASSERT_THAT(m, IsOk());
    for (size_t c = 0; c < *m; ++c) {
      ASSERT_THAT(dm->ForeachStep(c, cell, i_loc), IsOk());
      ASSERT_THAT(dm->Assign(acc, add), IsOk());
    }
    dm->ForeachEnd();
    // The outer loop's copy is intact after the inner loop.
    ASSERT_THAT(dm->ForeachStep(r, row, scxml::DataModel::kNoCode), IsOk());
  }
  dm->ForeachEnd();
  EXPECT_THAT(dm->EvalValue(acc), IsOkAndHolds("8"));  // 1*1 + 2*2 + 3*1
}

TEST_F(EcmascriptDataModelTest, ForeachErrors) {
  Code code;
  uint32_t not_array = code.Expr("7");
  uint32_t arr = code.Expr("[1]");
  uint32_t deep_item = code.Loc("a.b");
  uint32_t sys_item = code.Loc("_event");
  uint32_t item = code.Loc("x");
  auto dm = Make(code);
  EXPECT_THAT(dm->ForeachBegin(not_array), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(dm->ForeachStep(0, item, scxml::DataModel::kNoCode),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_THAT(dm->ForeachBegin(arr), IsOkAndHolds(1u));
  EXPECT_THAT(dm->ForeachStep(0, deep_item, scxml::DataModel::kNoCode),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(dm->ForeachStep(0, sys_item, scxml::DataModel::kNoCode),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(dm->ForeachStep(1, item, scxml::DataModel::kNoCode),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(dm->ForeachStep(0, item, scxml::DataModel::kNoCode), IsOk());
  dm->ForeachEnd();
}

TEST_F(EcmascriptDataModelTest, InitTwiceFails) {
  Code code;
  auto dm = Make(code);
  EXPECT_THAT(dm->Init("a", "b", "{}", 1), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(EcmascriptDataModelTest, SetEventBeforeInitFails) {
  Code code;
  uint32_t read = code.Expr("typeof _event");
  auto dm = Make(code);
  auto early = factory_.Create(compiled_, &host_, {});
  ASSERT_THAT(early, IsOk());
  EXPECT_THAT((*early)->SetEvent({.name = "e", .type = "external"}),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // Nothing leaked into the worker's template global.
  EXPECT_THAT(dm->EvalString(read), IsOkAndHolds("undefined"));
  EXPECT_THAT(Fresh()->EvalString(read), IsOkAndHolds("undefined"));
}

}  // namespace
}  // namespace orch::js
