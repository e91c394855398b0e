#include "common/base/utf8.h"

#include <string>

#include "gtest/gtest.h"

namespace orch {
namespace {

TEST(Utf8Test, Validity) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9 \xF0\x9F\x98\x80"));
  EXPECT_TRUE(IsValidUtf8(std::string("nul\0inside", 10)));
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));    // U+10FFFF
  EXPECT_TRUE(IsValidUtf8("\xED\x9F\xBF"));        // U+D7FF, just below the surrogates
  EXPECT_FALSE(IsValidUtf8("\xC3"));               // truncated
  EXPECT_FALSE(IsValidUtf8("\xE2\x82"));           // truncated
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));           // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));       // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));       // surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));   // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xF8\x88\x80\x80\x80"));  // five-byte form
  EXPECT_FALSE(IsValidUtf8("\x80"));               // lone continuation byte
  EXPECT_FALSE(IsValidUtf8("ok\xFF"));
}

// The eight-bytes-at-a-time ASCII path must not skip a bad byte at any
// offset, nor reject a good sequence that straddles a word boundary.
TEST(Utf8Test, EveryOffsetAroundTheAsciiFastPath) {
  for (size_t pad = 0; pad <= 17; ++pad) {
    const std::string ascii(pad, 'x');
    for (const std::string bad : {"\xFF", "\xC3", "\xE2\x82", "\xED\xA0\x80", "\xC0\xAF"}) {
      EXPECT_FALSE(IsValidUtf8(ascii + bad)) << pad;
      EXPECT_FALSE(IsValidUtf8(ascii + bad + ascii + ascii)) << pad;
    }
    for (const std::string good : {"\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80"}) {
      EXPECT_TRUE(IsValidUtf8(ascii + good + ascii)) << pad;
    }
  }
}

TEST(Utf8Test, SequenceLength) {
  EXPECT_EQ(Utf8SequenceLength("a", 0), 1u);
  EXPECT_EQ(Utf8SequenceLength("\xC3\xA9", 0), 2u);
  EXPECT_EQ(Utf8SequenceLength("\xE2\x82\xAC", 0), 3u);
  EXPECT_EQ(Utf8SequenceLength("\xF0\x9F\x98\x80", 0), 4u);
  EXPECT_EQ(Utf8SequenceLength("x\xF0\x9F\x98\x80", 1), 4u);
  EXPECT_EQ(Utf8SequenceLength("\xF0\x9F\x98", 0), 0u);  // runs past the end
  EXPECT_EQ(Utf8SequenceLength("\xC3(", 0), 0u);          // not a continuation byte
  EXPECT_EQ(Utf8SequenceLength("\xED\xA0\x80", 0), 0u);   // surrogate
}

}  // namespace
}  // namespace orch
