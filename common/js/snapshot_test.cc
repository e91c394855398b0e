// Serialize/Restore of the ECMAScript data model (snapshot.cc), through the
// public DataModel interface.

#include <memory>
#include <string>
#include <vector>

#include "common/js/ecmascript_data_model.h"
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

class FakeHost : public scxml::DataModelHost {
 public:
  bool In(std::string_view) override { return false; }
  int64_t NowMs() override { return 1000; }
};

class SnapshotTest : public ::testing::Test {
 protected:
  uint32_t Add(CodeKind kind, std::string text) {
    uint32_t id = static_cast<uint32_t>(specs_.size());
    specs_.push_back({id, kind, std::move(text), "t:" + std::to_string(id)});
    return id;
  }
  uint32_t Script(std::string t) { return Add(CodeKind::kScript, std::move(t)); }
  uint32_t Expr(std::string t) { return Add(CodeKind::kExpression, std::move(t)); }

  void CompileAll() {
    auto compiled = factory_.Compile(specs_);
    ASSERT_THAT(compiled, IsOk());
    code_ = *compiled;
  }
  std::unique_ptr<scxml::DataModel> New(uint64_t seed = 99) {
    auto dm = factory_.Create(code_, &host_, {});
    EXPECT_THAT(dm, IsOk());
    EXPECT_THAT((*dm)->Init("sid", "name", R"({"scxml":{"location":"#_scxml_sid"}})", seed), IsOk());
    return std::move(*dm);
  }

  EcmascriptDataModelFactory factory_;
  std::shared_ptr<const scxml::CompiledCode> code_;
  std::vector<CodeSpec> specs_;
  FakeHost host_;
};

TEST_F(SnapshotTest, RoundTripsStateFunctionsAndSharing) {
  uint32_t setup = Script(R"(
    function Counter(start) { this.n = start; }
    Counter.prototype.inc = function () { this.n += 1; return this.n; };
    Counter.tag = 'ctor';
    var c = new Counter(5);
    var nested = {a: [1, 'two', {three: 3}], when: new Date(86400000), re: /a+b/gi,
                  specials: [NaN, Infinity, -Infinity, -0], nothing: null, u: undefined};
    nested.self = nested;
    var alias = nested.a;
    var sparse = []; sparse[5] = 'x';
    var frozen = Object.freeze({k: 1});
    var err = new TypeError('bad');
    var m = Math.max;
    var proto = Object.prototype;
    var io = _ioprocessors;
    function twice(x) { return 2 * x; }
    twice.calls = 0;
  )");
  uint32_t check = Expr(R"(
    [c.inc(), c instanceof Counter, Counter.tag, nested.self === nested, alias === nested.a,
     nested.a[2].three, nested.when.getTime(), nested.re.test('xAAB'), nested.re.global,
     isNaN(nested.specials[0]), nested.specials[1], 1 / nested.specials[3], nested.nothing,
     'u' in nested, sparse.length, 4 in sparse, Object.isFrozen(frozen), err instanceof TypeError,
     err.message, m(1, 7), proto === Object.prototype, io === _ioprocessors, twice(21),
     twice.calls, typeof _event].join('|')
  )");
  CompileAll();
  auto a = New();
  ASSERT_THAT(a->Execute(setup), IsOk());
  auto bytes = a->Serialize();
  ASSERT_THAT(bytes, IsOk());

  auto b = New();
  ASSERT_THAT(b->Restore(*bytes), IsOk());
  const std::string expected =
      "6|true|ctor|true|true|3|86400000|true|true|true|Infinity|-Infinity||true|6|false|true|true|"
      "bad|7|true|true|42|0|undefined";
  EXPECT_THAT(b->EvalString(check), IsOkAndHolds(expected));
  EXPECT_THAT(a->EvalString(check), IsOkAndHolds(expected));
}

TEST_F(SnapshotTest, SerializationIsDeterministicAndStable) {
  uint32_t setup = Script(R"(
    var list = []; for (var i = 0; i < 20; i++) list.push({id: i, name: 'item' + i});
    var index = {}; list.forEach(function (x) { index[x.name] = x; });
    function helper(a) { return a.id; }
  )");
  CompileAll();
  auto a = New();
  ASSERT_THAT(a->Execute(setup), IsOk());
  auto b = New();
  ASSERT_THAT(b->Execute(setup), IsOk());
  auto sa = a->Serialize();
  auto sb = b->Serialize();
  ASSERT_THAT(sa, IsOk());
  ASSERT_THAT(sb, IsOk());
  EXPECT_EQ(*sa, *sb);  // same state, same bytes
  EXPECT_THAT(a->Serialize(), IsOkAndHolds(*sa));

  auto c = New();
  ASSERT_THAT(c->Restore(*sa), IsOk());
  EXPECT_THAT(c->Serialize(), IsOkAndHolds(*sa));  // byte-identical re-serialization
}

TEST_F(SnapshotTest, PrngContinuesAfterRestore) {
  uint32_t r = Expr("Math.random()");
  CompileAll();
  auto a = New(12345);
  ASSERT_THAT(a->EvalValue(r), IsOk());
  ASSERT_THAT(a->EvalValue(r), IsOk());
  auto bytes = a->Serialize();
  ASSERT_THAT(bytes, IsOk());
  auto b = New(777);  // a different seed: the snapshot's state wins
  ASSERT_THAT(b->Restore(*bytes), IsOk());
  for (int i = 0; i < 5; ++i) {
    auto va = a->EvalValue(r);
    ASSERT_THAT(va, IsOk());
    EXPECT_THAT(b->EvalValue(r), IsOkAndHolds(*va));
  }
}

TEST_F(SnapshotTest, EventSurvivesRestore) {
  uint32_t keep = Script("var saved = _event;");
  uint32_t check = Expr("[_event.name, _event.data.k, saved === _event].join(',')");
  CompileAll();
  auto a = New();
  ASSERT_THAT(a->SetEvent({.name = "go", .type = "external", .data = R"({"k":"v"})"}), IsOk());
  ASSERT_THAT(a->Execute(keep), IsOk());
  auto bytes = a->Serialize();
  ASSERT_THAT(bytes, IsOk());
  auto b = New();
  ASSERT_THAT(b->Restore(*bytes), IsOk());
  EXPECT_THAT(b->EvalString(check), IsOkAndHolds("go,v,true"));
}

TEST_F(SnapshotTest, ClosuresAreAClearError) {
  uint32_t setup = Script("var counter = (function () { var n = 0; return function () { return ++n; }; })();");
  CompileAll();
  auto a = New();
  ASSERT_THAT(a->Execute(setup), IsOk());
  EXPECT_THAT(a->Serialize(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                       HasSubstr("variable 'counter'")));
}

TEST_F(SnapshotTest, BoundFunctionsAndSymbolsAreErrors) {
  uint32_t bound = Script("var b = function () {}.bind(null);");
  uint32_t sym = Script("b = undefined; var s = Symbol('x');");
  CompileAll();
  auto a = New();
  ASSERT_THAT(a->Execute(bound), IsOk());
  EXPECT_THAT(a->Serialize(), StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("bound")));
  ASSERT_THAT(a->Execute(sym), IsOk());
  EXPECT_THAT(a->Serialize(), StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("Symbol")));
}

TEST_F(SnapshotTest, RejectsCorruptInput) {
  CompileAll();
  auto a = New();
  auto bytes = a->Serialize();
  ASSERT_THAT(bytes, IsOk());
  auto b = New();
  EXPECT_THAT(b->Restore("garbage"), StatusIs(absl::StatusCode::kInvalidArgument));
  std::string flipped = *bytes;
  flipped[flipped.size() / 2] ^= 0x40;
  EXPECT_THAT(b->Restore(flipped), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(b->Restore(bytes->substr(0, bytes->size() - 1)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(b->Restore(*bytes), IsOk());
}

TEST_F(SnapshotTest, EmptyStateIsSmall) {
  CompileAll();
  auto a = New();
  auto bytes = a->Serialize();
  ASSERT_THAT(bytes, IsOk());
  EXPECT_LT(bytes->size(), 64u);
}

}  // namespace
}  // namespace orch::js
