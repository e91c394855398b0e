#include "common/js/utf8.h"

#include "gtest/gtest.h"

namespace orch::js {
namespace {

TEST(CesuToUtf8Test, KeepsValidUtf8) {
  EXPECT_EQ(CesuToUtf8("abc"), "abc");
  EXPECT_EQ(CesuToUtf8("caf\xC3\xA9 \xF0\x9F\x98\x80 \xED\x9F\xBF"), "caf\xC3\xA9 \xF0\x9F\x98\x80 \xED\x9F\xBF");
}

TEST(CesuToUtf8Test, JoinsSurrogatePairs) {
  // U+1F600 as CESU-8: ED A0 BD ED B8 80.
  EXPECT_EQ(CesuToUtf8("x\xED\xA0\xBD\xED\xB8\x80y"), "x\xF0\x9F\x98\x80y");
}

TEST(CesuToUtf8Test, ReplacesLoneSurrogates) {
  EXPECT_EQ(CesuToUtf8("\xED\xA0\xBDx"), "\xEF\xBF\xBDx");
  EXPECT_EQ(CesuToUtf8("\xED\xB8\x80"), "\xEF\xBF\xBD");
  EXPECT_EQ(CesuToUtf8("\xED\xA0"), "\xED\xA0");  // truncated: kept as is
}

}  // namespace
}  // namespace orch::js
