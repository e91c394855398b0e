#include "common/log/log.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace orch::log {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Configure("session-engine", "4", Level::kInfo);
    SetSinkForTesting([this](std::string_view line) { lines_.emplace_back(line); });
  }
  void TearDown() override { SetSinkForTesting(nullptr); }
  std::vector<std::string> lines_;
};

TEST_F(LogTest, LineHasFixedFieldsThenCallerFields) {
  Info("session started", {{"session", "~4~ABC"}, {"events", 3}, {"persist", true}, {"ratio", 0.5}});
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_THAT(lines_[0], MatchesRegex(R"(\{"ts":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z",)"
                                      R"("level":"info","process":"session-engine","node":"4",)"
                                      R"("msg":"session started","session":"~4~ABC","events":3,)"
                                      R"("persist":true,"ratio":0.5\})"));
}

TEST_F(LogTest, LevelFilters) {
  Debug("hidden");
  Warn("shown");
  SetLevel(Level::kError);
  Warn("hidden too");
  Error("shown too");
  SetLevel(Level::kDebug);
  Debug("debug now");
  ASSERT_EQ(lines_.size(), 3u);
  EXPECT_THAT(lines_[0], HasSubstr("\"level\":\"warn\""));
  EXPECT_THAT(lines_[1], HasSubstr("\"level\":\"error\""));
  EXPECT_THAT(lines_[2], HasSubstr("\"msg\":\"debug now\""));
}

TEST_F(LogTest, HostileTextStaysOneValidLine) {
  Error("bad\n{\"level\":\"info\"}", {{"detail", std::string_view("a\0b\xff", 4)}, {"nan", 0.0 / 0.0}});
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0].find('\n'), std::string::npos);
  EXPECT_THAT(lines_[0], HasSubstr(R"("msg":"bad\n{\"level\":\"info\"}")"));
  EXPECT_THAT(lines_[0], HasSubstr(R"("detail":"a\u0000b)" "\xEF\xBF\xBD" R"(")"));
  EXPECT_THAT(lines_[0], HasSubstr(R"("nan":null)"));
}

TEST(ParseLevelTest, KnownAndUnknown) {
  EXPECT_EQ(*ParseLevel("warn"), Level::kWarn);
  EXPECT_FALSE(ParseLevel("verbose").ok());
}

}  // namespace
}  // namespace orch::log
