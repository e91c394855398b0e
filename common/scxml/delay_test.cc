#include "common/scxml/delay.h"

#include <string>

#include "common/testing/status_matchers.h"
#include "gtest/gtest.h"

namespace orch::scxml {
namespace {

using ::orch::testing::IsOkAndHolds;
using ::orch::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ParseDelayTest, Css2Times) {
  EXPECT_THAT(ParseDelay("1s"), IsOkAndHolds(1000));
  EXPECT_THAT(ParseDelay("500ms"), IsOkAndHolds(500));
  EXPECT_THAT(ParseDelay("1.5s"), IsOkAndHolds(1500));
  EXPECT_THAT(ParseDelay(".5s"), IsOkAndHolds(500));
  EXPECT_THAT(ParseDelay("0s"), IsOkAndHolds(0));
  EXPECT_THAT(ParseDelay("0ms"), IsOkAndHolds(0));
  EXPECT_THAT(ParseDelay("007ms"), IsOkAndHolds(7));
}

TEST(ParseDelayTest, RoundsToTheNearestMillisecond) {
  EXPECT_THAT(ParseDelay("1.4ms"), IsOkAndHolds(1));
  EXPECT_THAT(ParseDelay("1.5ms"), IsOkAndHolds(2));
  EXPECT_THAT(ParseDelay(".0004s"), IsOkAndHolds(0));
  EXPECT_THAT(ParseDelay("0.0015s"), IsOkAndHolds(2));
}

TEST(ParseDelayTest, AsciiWhitespaceAroundIsIgnored) {
  EXPECT_THAT(ParseDelay(" 5s"), IsOkAndHolds(5000));
  EXPECT_THAT(ParseDelay("5s "), IsOkAndHolds(5000));
  EXPECT_THAT(ParseDelay("\t\n 250ms\r\n"), IsOkAndHolds(250));
}

TEST(ParseDelayTest, AnythingElseIsRefusedQuotingTheValue) {
  for (const char* bad : {"", " ", "s", "ms", "5", "5 s", "5sec", "5S", "5MS", "1m", "-1s", "+1s", "1e3ms",
                          "1.s", "1..5s", "0x10ms", "infs", "nans", "1,5s", "５s"}) {
    EXPECT_THAT(ParseDelay(bad), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr(std::string("'") + bad + "' is not a time such as 500ms"))) << bad;
  }
}

TEST(ParseDelayTest, LongerThanTheLimitIsRefused) {
  EXPECT_THAT(ParseDelay("1000000000s"), IsOkAndHolds(kMaxDelayMs));
  EXPECT_THAT(ParseDelay("1000000000000ms"), IsOkAndHolds(kMaxDelayMs));
  EXPECT_THAT(ParseDelay("1000000000001ms"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("longer than the limit of 1000000000000 ms")));
  EXPECT_THAT(ParseDelay("1000000001s"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("longer than")));
  EXPECT_THAT(ParseDelay(std::string(400, '9') + "s"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("...' (401 bytes) is longer than")));
}

}  // namespace
}  // namespace orch::scxml
