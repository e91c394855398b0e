// Unit tests of RateLimiter on a fake clock (Acquire takes the time).

#include "services/rest_gateway/rate_limiter.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace orch::rest_gateway {
namespace {

using ::testing::Ge;

// How many of `n` acquisitions by `client` at `now` go ahead.
int Granted(RateLimiter& l, const std::string& client, double now, int n) {
  int ok = 0;
  for (int i = 0; i < n; ++i) ok += l.Acquire(client, now) == 0 ? 1 : 0;
  return ok;
}

TEST(RateLimiterTest, BurstThenRefusalWithRetryAfter) {
  RateLimiter l(/*rate=*/1, /*burst=*/3);
  EXPECT_EQ(l.Acquire("a", 100), 0);
  EXPECT_EQ(l.Acquire("a", 100), 0);
  EXPECT_EQ(l.Acquire("a", 100), 0);
  const int wait = l.Acquire("a", 100);
  EXPECT_THAT(wait, Ge(1));
  EXPECT_EQ(wait, 1);  // one token a second
  // Refusals do not take tokens (or make the wait longer).
  EXPECT_EQ(l.Acquire("a", 100), 1);
}

TEST(RateLimiterTest, RetryAfterIsTheWholeSecondsUntilAToken) {
  RateLimiter slow(/*rate=*/0.25, /*burst=*/1);
  EXPECT_EQ(slow.Acquire("a", 0), 0);
  EXPECT_EQ(slow.Acquire("a", 0), 4);
  EXPECT_EQ(slow.Acquire("a", 1), 3);
  EXPECT_EQ(slow.Acquire("a", 3.5), 1);  // 0.125 of a token missing: rounds up to 1 s
  EXPECT_EQ(slow.Acquire("a", 4), 0);

  RateLimiter fast(/*rate=*/100, /*burst=*/1);
  EXPECT_EQ(fast.Acquire("a", 0), 0);
  EXPECT_EQ(fast.Acquire("a", 0), 1);  // 10 ms away, but Retry-After is at least 1
}

TEST(RateLimiterTest, RefillsOverTime) {
  RateLimiter l(/*rate=*/2, /*burst=*/4);
  EXPECT_EQ(Granted(l, "a", 0, 10), 4);
  EXPECT_EQ(Granted(l, "a", 0.5, 10), 1);   // 2/s * 0.5 s
  EXPECT_EQ(Granted(l, "a", 1.0, 10), 1);
  EXPECT_EQ(Granted(l, "a", 2.0, 10), 2);
  // A long pause refills up to the burst, not beyond.
  EXPECT_EQ(Granted(l, "a", 1000, 10), 4);
}

TEST(RateLimiterTest, FractionalRefillAccumulates) {
  RateLimiter l(/*rate=*/1, /*burst=*/1);
  EXPECT_EQ(l.Acquire("a", 0), 0);
  EXPECT_GT(l.Acquire("a", 0.25), 0);
  EXPECT_GT(l.Acquire("a", 0.75), 0);
  EXPECT_EQ(l.Acquire("a", 1.0), 0);
}

TEST(RateLimiterTest, ClientsAreIndependent) {
  RateLimiter l(/*rate=*/1, /*burst=*/2);
  EXPECT_EQ(Granted(l, "a", 0, 5), 2);
  EXPECT_EQ(Granted(l, "b", 0, 5), 2);
  EXPECT_EQ(Granted(l, "token:alice", 0, 5), 2);
  EXPECT_GT(l.Acquire("a", 0), 0);
}

TEST(RateLimiterTest, RateZeroIsUnlimited) {
  RateLimiter l(/*rate=*/0, /*burst=*/0);
  EXPECT_EQ(Granted(l, "a", 0, 100000), 100000);
  RateLimiter negative(/*rate=*/-1, /*burst=*/5);
  EXPECT_EQ(Granted(negative, "a", 0, 1000), 1000);
}

TEST(RateLimiterTest, BurstBelowOneIsOne) {
  RateLimiter l(/*rate=*/1, /*burst=*/0);
  EXPECT_EQ(Granted(l, "a", 0, 5), 1);
  EXPECT_EQ(Granted(l, "a", 1, 5), 1);
}

TEST(RateLimiterTest, ClockGoingBackwardsDoesNotLockClientsOut) {
  // The API feeds wall-clock seconds: a step back (NTP) must not drain a
  // bucket into a debt of the size of the step.
  RateLimiter l(/*rate=*/1, /*burst=*/3);
  EXPECT_EQ(l.Acquire("a", 10000), 0);
  EXPECT_EQ(Granted(l, "a", 6400, 2), 2);  // one hour back: the two tokens left
  EXPECT_EQ(l.Acquire("a", 6400), 1);      // and then a normal refusal
  EXPECT_EQ(Granted(l, "a", 6403, 5), 3);  // refilling again from there
}

// max_clients = 16 is one bucket per shard: every further client in a shard
// shares the overflow bucket.
TEST(RateLimiterTest, ManyClientsShareTheOverflowBucket) {
  RateLimiter l(/*rate=*/0.01, /*burst=*/5, /*max_clients=*/16);
  int granted = 0;
  for (int i = 0; i < 1000; ++i) granted += l.Acquire(absl::StrCat("client-", i), 0) == 0 ? 1 : 0;
  // 16 own buckets (1000 clients hit all 16 shards) and the overflow's 5.
  // Unbounded, all 1000 would have gone ahead.
  EXPECT_EQ(granted, 16 + 5);
  // The first clients keep their own buckets.
  EXPECT_EQ(l.Acquire("client-0", 0), 0);
  // Another new client: its shard is full of busy buckets, the overflow is empty.
  EXPECT_GT(l.Acquire("newcomer", 1.5), 0);
}

TEST(RateLimiterTest, IdleClientsArePruned) {
  RateLimiter l(/*rate=*/0.01, /*burst=*/5, /*max_clients=*/16);
  for (int i = 0; i < 1000; ++i) l.Acquire(absl::StrCat("client-", i), 0);
  // Drain the overflow completely.
  for (int i = 0; i < 10; ++i) l.Acquire(absl::StrCat("drain-", i), 0);
  // At t=150 the owners' buckets (4 tokens + 1.5) have refilled: they are
  // idle and dropped, so a new client gets a full bucket of its own (5),
  // while the shared overflow has only refilled 1.5 tokens.
  EXPECT_EQ(Granted(l, "fresh", 150, 10), 5);
}

}  // namespace
}  // namespace orch::rest_gateway
