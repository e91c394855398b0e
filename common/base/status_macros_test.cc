#include "common/base/status_macros.h"

#include <memory>

#include "common/testing/status_matchers.h"
#include "gtest/gtest.h"

namespace orch {
namespace {

using ::orch::testing::IsOk;
using ::orch::testing::IsOkAndHolds;
using ::orch::testing::StatusIs;
using ::testing::HasSubstr;

absl::Status FailIf(bool fail) {
  return fail ? absl::InvalidArgumentError("failed") : absl::OkStatus();
}

absl::Status Twice(bool first, bool second, int* reached) {
  RETURN_IF_ERROR(FailIf(first));
  *reached = 1;
  RETURN_IF_ERROR(FailIf(second));
  *reached = 2;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<int>> MakeInt(int v) {
  if (v < 0) return absl::OutOfRangeError("negative");
  return std::make_unique<int>(v);
}

absl::StatusOr<int> AddOne(int v) {
  ASSIGN_OR_RETURN(auto p, MakeInt(v));  // move-only value
  int existing = 0;
  ASSIGN_OR_RETURN(existing, absl::StatusOr<int>(*p + 1));
  return existing;
}

TEST(StatusMacrosTest, ReturnIfErrorStopsAtFirstError) {
  int reached = 0;
  EXPECT_THAT(Twice(false, false, &reached), IsOk());
  EXPECT_EQ(reached, 2);
  reached = 0;
  EXPECT_THAT(Twice(false, true, &reached), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(reached, 1);
  reached = 0;
  EXPECT_THAT(Twice(true, false, &reached), StatusIs(absl::StatusCode::kInvalidArgument, "failed"));
  EXPECT_EQ(reached, 0);
}

TEST(StatusMacrosTest, AssignOrReturn) {
  EXPECT_THAT(AddOne(41), IsOkAndHolds(42));
  EXPECT_THAT(AddOne(-1), StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("neg")));
}

TEST(StatusMatchersTest, MatchersRejectWhatTheyShould) {
  EXPECT_THAT(absl::InternalError("x"), ::testing::Not(IsOk()));
  EXPECT_THAT(absl::StatusOr<int>(3), ::testing::Not(IsOkAndHolds(4)));
  EXPECT_THAT(absl::StatusOr<int>(absl::NotFoundError("gone")), ::testing::Not(IsOkAndHolds(4)));
  EXPECT_THAT(absl::NotFoundError("gone"),
              ::testing::Not(StatusIs(absl::StatusCode::kNotFound, "here")));
  EXPECT_THAT(absl::StatusOr<int>(absl::NotFoundError("gone")),
              StatusIs(absl::StatusCode::kNotFound, "gone"));
}

}  // namespace
}  // namespace orch
