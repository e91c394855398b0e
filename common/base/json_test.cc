#include "common/base/json.h"

#include "gtest/gtest.h"

namespace orch {
namespace {

TEST(JsonStringTest, PlainAndQuoted) {
  EXPECT_EQ(JsonString("abc"), "\"abc\"");
  EXPECT_EQ(JsonString("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonString(""), "\"\"");
}

TEST(JsonStringTest, ControlCharactersAreEscaped) {
  EXPECT_EQ(JsonString("a\nb\tc\r"), "\"a\\nb\\tc\\r\"");
  EXPECT_EQ(JsonString(std::string("\x01\x1f\x7f", 3)), "\"\\u0001\\u001f\\u007f\"");
  EXPECT_EQ(JsonString(std::string("a\0b", 3)), "\"a\\u0000b\"");
}

TEST(JsonStringTest, ValidUtf8IsKept) {
  EXPECT_EQ(JsonString("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
}

TEST(JsonStringTest, InvalidUtf8BecomesReplacementCharacter) {
  const std::string kFffd = "\xEF\xBF\xBD";
  EXPECT_EQ(JsonString("a\xFF" "b"), "\"a" + kFffd + "b\"");
  EXPECT_EQ(JsonString("\xC3"), "\"" + kFffd + "\"");                 // truncated
  EXPECT_EQ(JsonString("\xC0\xAF"), "\"" + kFffd + kFffd + "\"");     // overlong
  EXPECT_EQ(JsonString("\xED\xA0\x80"), "\"" + kFffd + kFffd + kFffd + "\"");  // surrogate
}

}  // namespace
}  // namespace orch
