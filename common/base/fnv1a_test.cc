#include "common/base/fnv1a.h"

#include <string>

#include "gtest/gtest.h"

namespace orch {
namespace {

static_assert(Fnv1a64("") == 1469598103934665603ULL);

TEST(Fnv1a64Test, PinnedValues) {
  EXPECT_EQ(Fnv1a64(""), 1469598103934665603ULL);
  EXPECT_EQ(Fnv1a64("a"), 4953267810257967366ULL);
  EXPECT_EQ(Fnv1a64("foobar"), 9870438755804841970ULL);
  EXPECT_EQ(Fnv1a64("call-42"), 10137948504617111528ULL);
}

// Session-engine's Math.random seeds (SeedOf: Fnv1a64(id), 0 mapped to 1)
// of two session ids: a session restored or replayed by any engine version
// must draw the same numbers.
TEST(Fnv1a64Test, SessionSeedsOfTheEngine) {
  EXPECT_EQ(Fnv1a64("~1~029I4G7KGCET96MLCCSH5B5AES01M138"), 6590919639606686160ULL);
  EXPECT_EQ(Fnv1a64("~4665~ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"), 17807960920049512134ULL);
}

// Bytes above 0x7F are taken as unsigned (a signed char would change them).
TEST(Fnv1a64Test, HighBytesAreUnsigned) {
  EXPECT_EQ(Fnv1a64("\xff"), (1469598103934665603ULL ^ 0xffULL) * 1099511628211ULL);
  EXPECT_EQ(Fnv1a64(std::string("\0", 1)), 1469598103934665603ULL * 1099511628211ULL);
}

}  // namespace
}  // namespace orch
