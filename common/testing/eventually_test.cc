#include "common/testing/eventually.h"

#include "gtest/gtest.h"

namespace orch::testing {
namespace {

TEST(EventuallyTest, TrueAtOnceIsCalledOnce) {
  int calls = 0;
  EXPECT_TRUE(Eventually([&] { return ++calls > 0; }));
  EXPECT_EQ(calls, 1);
}

TEST(EventuallyTest, PollsUntilTheConditionHolds) {
  int calls = 0;
  EXPECT_TRUE(Eventually([&] { return ++calls == 3; }, absl::Seconds(30), absl::Milliseconds(1)));
  EXPECT_EQ(calls, 3);
}

TEST(EventuallyTest, GivesUpAfterTheLimitHavingAskedAgainAtTheEnd) {
  int calls = 0;
  EXPECT_FALSE(Eventually([&] { return ++calls < 0; }, absl::Milliseconds(30), absl::Milliseconds(10)));
  EXPECT_GE(calls, 2);  // at least the first call and the last one at the limit
}

}  // namespace
}  // namespace orch::testing
