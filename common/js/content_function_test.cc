// Content runs in one call: the generated function's source, and
// EcmascriptDataModel::RunContent checked against the same elements run one
// call at a time (as the interpreter does without runs) on a second data
// model from the same compiled code: same result, same state (Serialize).

#include "common/js/content_function.h"

#include <memory>
#include <string>
#include <vector>

#include "common/js/data_model_test_support.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace orch::js {
namespace {

using ::orch::testing::IsOk;
using ::orch::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using scxml::ContentNode;
using scxml::ContentResult;
using scxml::DataModel;

// Builders of content trees; ops are numbered by Number() in the order of
// evaluation, as BuildContentRuns does.
ContentNode Assign(uint32_t location, uint32_t expr) {
  ContentNode n;
  n.kind = ContentNode::Kind::kAssign;
  n.location = location;
  n.expr = expr;
  return n;
}

ContentNode If(std::vector<std::pair<uint32_t, std::vector<ContentNode>>> branches) {
  ContentNode n;
  n.kind = ContentNode::Kind::kIf;
  for (auto& [cond, body] : branches) n.branches.push_back({cond, 0, std::move(body)});
  return n;
}

ContentNode Foreach(uint32_t array, uint32_t item, uint32_t index, std::vector<ContentNode> body) {
  ContentNode n;
  n.kind = ContentNode::Kind::kForeach;
  n.expr = array;
  n.item = item;
  n.index = index;
  n.body = std::move(body);
  return n;
}

void Number(std::vector<ContentNode>& nodes, uint32_t* next) {
  for (ContentNode& n : nodes) {
    switch (n.kind) {
      case ContentNode::Kind::kAssign:
        n.op = (*next)++;
        break;
      case ContentNode::Kind::kIf:
        for (ContentNode::Branch& b : n.branches) {
          if (b.cond != DataModel::kNoCode) b.op = (*next)++;
          Number(b.body, next);
        }
        break;
      case ContentNode::Kind::kForeach:
        n.op = (*next)++;
        n.step_op = (*next)++;
        Number(n.body, next);
        break;
    }
  }
}

std::vector<ContentNode> Numbered(std::vector<ContentNode> nodes) {
  uint32_t next = 0;
  Number(nodes, &next);
  return nodes;
}

// The elements one call at a time, as Interpreter::ExecuteNode runs them;
// false (and `failed`) at the first error.
bool RunElements(DataModel& dm, const std::vector<ContentNode>& nodes, ContentResult* failed) {
  auto fail = [&](uint32_t op, absl::Status s) {
    failed->outcome = ContentResult::Outcome::kFailed;
    failed->failed_op = op;
    failed->status = std::move(s);
    return false;
  };
  for (const ContentNode& n : nodes) {
    switch (n.kind) {
      case ContentNode::Kind::kAssign:
        if (absl::Status s = dm.Assign(n.location, n.expr); !s.ok()) return fail(n.op, s);
        break;
      case ContentNode::Kind::kIf:
        for (const ContentNode::Branch& b : n.branches) {
          bool take = true;
          if (b.cond != DataModel::kNoCode) {
            absl::StatusOr<bool> v = dm.EvalCondition(b.cond);
            if (!v.ok()) return fail(b.op, v.status());
            take = *v;
          }
          if (take) {
            if (!RunElements(dm, b.body, failed)) return false;
            break;
          }
        }
        break;
      case ContentNode::Kind::kForeach: {
        absl::StatusOr<size_t> len = dm.ForeachBegin(n.expr);
        if (!len.ok()) return fail(n.op, len.status());
        bool ok = true;
        for (size_t i = 0; i < *len && ok; ++i) {
          if (absl::Status s = dm.ForeachStep(i, n.item, n.index); !s.ok()) {
            dm.ForeachEnd();
            return fail(n.step_op, s);
          }
          ok = RunElements(dm, n.body, failed);
        }
        dm.ForeachEnd();
        if (!ok) return false;
        break;
      }
    }
  }
  return true;
}

class RunContentTest : public EcmascriptDataModelTest {
 protected:
  // Runs `nodes` both ways on two fresh data models (after `setup`, a
  // script id or kNoCode) and expects the same outcome and state; returns
  // RunContent's result.
  ContentResult Compare(const Code& code, uint32_t setup, const std::vector<ContentNode>& nodes) {
    auto fused = Make(code);
    auto elements = Fresh();
    if (setup != DataModel::kNoCode) {
      EXPECT_THAT(fused->Execute(setup), IsOk());
      EXPECT_THAT(elements->Execute(setup), IsOk());
    }
    ContentResult expected;
    expected.outcome = RunElements(*elements, nodes, &expected) ? ContentResult::Outcome::kDone
                                                                : ContentResult::Outcome::kFailed;
    ContentResult got = fused->RunContent(0, nodes);
    EXPECT_EQ(static_cast<int>(got.outcome), static_cast<int>(expected.outcome));
    EXPECT_EQ(got.failed_op, expected.failed_op);
    EXPECT_EQ(got.status, expected.status);
    auto a = fused->Serialize();
    auto b = elements->Serialize();
    EXPECT_THAT(a, IsOk());
    EXPECT_THAT(b, IsOk());
    if (a.ok() && b.ok()) {
      EXPECT_EQ(*a, *b);
    }
    fused_ = std::move(fused);
    return got;
  }

  std::unique_ptr<DataModel> fused_;  // the last Compare's fused data model
};

TEST_F(RunContentTest, AssignsIfAndNestedForeachLikeElementByElement) {
  Code c;
  const uint32_t setup = c.Script("var n = 0, best = null, rows = [[1, 2], [3], []], seen = ''; var cell, r;");
  const uint32_t n = c.Loc("n");
  const uint32_t best = c.Loc("best");
  const uint32_t seen = c.Loc("seen");
  std::vector<ContentNode> nodes = Numbered({
      Assign(n, c.Expr("n + 1")),
      Foreach(c.Expr("rows"), c.Loc("row"), c.Loc("r"),
              {Foreach(c.Expr("row"), c.Loc("cell"), DataModel::kNoCode,
                       {If({{c.Cond("cell > 2"), {Assign(best, c.Expr("cell"))}},
                            {c.Cond("cell === 2"), {Assign(seen, c.Expr("seen + 'two'"))}},
                            {DataModel::kNoCode, {Assign(n, c.Expr("n + cell"))}}}),
                        Assign(seen, c.Expr("seen + r"))})}),
      Assign(c.Loc("rows[0][0]"), c.Expr("typeof row + typeof cell")),
  });
  const uint32_t check = c.Expr("[n, best, seen, row, rows[0][0]]");
  ContentResult r = Compare(c, setup, nodes);
  EXPECT_EQ(r.outcome, ContentResult::Outcome::kDone);
  // The loop variable `row` did not exist: it is declared like `var`.
  EXPECT_THAT(fused_->EvalValue(check), ::orch::testing::IsOkAndHolds(R"([2,3,"0two01",[],"objectnumber"])"));
}

TEST_F(RunContentTest, ForeachIteratesOverACopyAndSkipsDeclaringForEmptyArrays) {
  Code c;
  const uint32_t setup = c.Script("var a = [1, 2], sum = 0;");
  std::vector<ContentNode> nodes = Numbered({
      Foreach(c.Expr("a"), c.Loc("v"), DataModel::kNoCode,
              {Assign(c.Loc("a[a.length]"), c.Expr("v * 10")), Assign(c.Loc("sum"), c.Expr("sum + v"))}),
      Foreach(c.Expr("[]"), c.Loc("never"), c.Loc("neverIndex"), {}),
  });
  const uint32_t check = c.Expr("[sum, a.length, typeof never, typeof neverIndex]");
  EXPECT_EQ(Compare(c, setup, nodes).outcome, ContentResult::Outcome::kDone);
  EXPECT_THAT(fused_->EvalValue(check),
              ::orch::testing::IsOkAndHolds(R"([3,4,"undefined","undefined"])"));
}

TEST_F(RunContentTest, ErrorsStopTheRunAtTheFailingOperation) {
  Code c;
  const uint32_t setup = c.Script("var n = 0, obj = null, list = [1, 2, 3], cells = [{}, {}, null];");
  const uint32_t n = c.Loc("n");
  // An assignment through null, a throwing condition, a non-array, an
  // undeclared location: each stops the run where the element would.
  for (const char* f : {"assign", "cond", "array", "undeclared"}) {
    const std::string failing = f;
    SCOPED_TRACE(failing);
    std::vector<ContentNode> nodes = Numbered({
        Assign(n, c.Expr("n + 1")),
        Foreach(c.Expr(failing == "array" ? "obj" : "list"), c.Loc("item"), c.Loc("i"),
                {Assign(n, c.Expr("n + item")),
                 If({{c.Cond(failing == "cond" ? "i === 1 && obj.x" : "false"), {}},
                     {DataModel::kNoCode,
                      {Assign(c.Loc(failing == "assign" ? "cells[i].x" : "n"), c.Expr("n"))}}})}),
        Assign(c.Loc(failing == "undeclared" ? "nowhere" : "n"), c.Expr("n * 100")),
    });
    ContentResult r = Compare(c, setup, nodes);
    EXPECT_EQ(r.outcome, ContentResult::Outcome::kFailed);
    EXPECT_THAT(r.status, StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST_F(RunContentTest, FailureNamesTheOperationsCode) {
  Code c;
  const uint32_t setup = c.Script("var n = 0, obj = null;");
  const uint32_t bad = c.Loc("obj.field");
  std::vector<ContentNode> nodes = Numbered({Assign(c.Loc("n"), c.Expr("1")), Assign(bad, c.Expr("2"))});
  const uint32_t check = c.Expr("n");
  ContentResult r = Compare(c, setup, nodes);
  ASSERT_EQ(r.outcome, ContentResult::Outcome::kFailed);
  EXPECT_EQ(r.failed_op, 1u);
  EXPECT_THAT(std::string(r.status.message()), StartsWith(c.specs[bad].where + ": TypeError"));
  EXPECT_THAT(fused_->EvalValue(check), ::orch::testing::IsOkAndHolds("1"));
}

TEST_F(RunContentTest, TheRunSharesOneWorkBudget) {
  Code c;
  const uint32_t setup = c.Script("function spin() { for (;;) {} }");
  const uint32_t x = c.Loc("x");
  const uint32_t declare = c.Script("var x;");
  std::vector<ContentNode> nodes = Numbered({Assign(x, c.Expr("1")), Assign(x, c.Expr("spin()"))});
  const uint32_t check = c.Expr("x");
  scxml::DataModelLimits limits;
  limits.max_work_per_call = 100'000;
  auto dm = Make(c, limits);
  ASSERT_THAT(dm->Execute(setup), IsOk());
  ASSERT_THAT(dm->Execute(declare), IsOk());
  ContentResult r = dm->RunContent(0, nodes);
  ASSERT_EQ(r.outcome, ContentResult::Outcome::kFailed);
  // The budget is the run's: its exhaustion is reported at the run's first
  // operation.
  EXPECT_EQ(r.failed_op, 0u);
  EXPECT_THAT(r.status, StatusIs(absl::StatusCode::kDeadlineExceeded,
                                 HasSubstr(c.specs[x].where + ": execution budget")));
  // The data model stays usable, and the first assignment happened.
  EXPECT_THAT(dm->EvalValue(check), ::orch::testing::IsOkAndHolds("1"));
}

TEST_F(RunContentTest, TextsThatMightDifferInStrictModeAreLeftToTheElements) {
  Code c;
  const uint32_t setup = c.Script("var x = 0;");
  // An object literal (it could define getters): not fusable.
  std::vector<ContentNode> nodes =
      Numbered({Assign(c.Loc("x"), c.Expr("1")), Assign(c.Loc("x"), c.Expr("{a: 1}.a"))});
  const uint32_t check = c.Expr("x");
  auto dm = Make(c);
  ASSERT_THAT(dm->Execute(setup), IsOk());
  EXPECT_EQ(dm->RunContent(0, nodes).outcome, ContentResult::Outcome::kNotRun);
  EXPECT_EQ(dm->RunContent(0, nodes).outcome, ContentResult::Outcome::kNotRun);  // remembered
  EXPECT_THAT(dm->EvalValue(check), ::orch::testing::IsOkAndHolds("0"));  // nothing ran
}

TEST(ContentFunctionSourceTest, NamesOfOursAvoidTheTexts) {
  std::vector<std::string> texts = {"$orch_v", "a", "x"};
  std::vector<ContentNode> nodes = Numbered({Assign(1, 0), Foreach(1, 2, DataModel::kNoCode, {})});
  auto source = ContentFunctionSource(nodes, [&](uint32_t id, CodeUse) -> std::optional<std::string_view> {
    return texts[id];
  });
  ASSERT_TRUE(source.has_value());
  EXPECT_THAT(*source, StartsWith("function($orch_v_c,$orch_v_d){\"use strict\";"));
  EXPECT_THAT(*source, HasSubstr("$orch_v_d(\"x\")"));
  EXPECT_EQ(ContentFunctionSource(nodes, [](uint32_t, CodeUse use) -> std::optional<std::string_view> {
              if (use == CodeUse::kVariable) return std::nullopt;
              return "a";
            }),
            std::nullopt);
}

TEST(ContentFunctionSourceTest, OperationCodeIsWhatTheOperationsOwnCallNames) {
  // assign(loc 0 <- 1); if (cond 2) { assign(loc 3 <- 4) } else if (cond 5) {};
  // foreach (array 6, item 7, index 8) { assign(loc 9 <- 10) }
  std::vector<ContentNode> nodes = Numbered({
      Assign(0, 1),
      If({{2, {Assign(3, 4)}}, {5, {}}}),
      Foreach(6, 7, 8, {Assign(9, 10)}),
  });
  const std::vector<uint32_t> expected = {0, 2, 3, 5, 6, 7, 9};
  for (uint32_t op = 0; op < expected.size(); ++op) EXPECT_EQ(OperationCode(nodes, op), expected[op]) << op;
  EXPECT_EQ(OperationCode(nodes, 7), DataModel::kNoCode);
}

}  // namespace
}  // namespace orch::js
