#include "services/call_watcher/targets.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace orch::call_watcher {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

cv1::TargetEvent Ev(const std::string& target, cv1::TargetState state, int64_t at, const std::string& call = "") {
  cv1::TargetEvent e;
  e.set_target(target);
  e.set_state(state);
  e.set_time_unix_ms(at);
  e.set_call_uuid(call);
  return e;
}

TEST(TargetBoardTest, LongestIdleReadyTargetsFirst) {
  TargetBoard b;
  b.Apply(Ev("a1", cv1::READY, 300), 0);
  b.Apply(Ev("a2", cv1::READY, 100), 0);
  b.Apply(Ev("a3", cv1::NOT_READY, 50), 0);
  b.Apply(Ev("a4", cv1::READY, 200), 0);
  b.Apply(Ev("a4", cv1::READY, 250), 0);   // still ready: idle since 200
  EXPECT_THAT(b.Candidates({"a1", "a2", "a3", "a4", "nobody", "a2"}, 0), ElementsAre("a2", "a4", "a1"));
  EXPECT_EQ(b.Best({"a1", "a2", "a3", "a4", "nobody", "a2"}, 0), "a2");
  EXPECT_EQ(b.Best({"a3", "nobody"}, 0), "");
  b.Apply(Ev("a2", cv1::BUSY, 400, "c9"), 0);
  b.Apply(Ev("a2", cv1::READY, 500), 0);   // idle again: now the newest
  EXPECT_THAT(b.Candidates({"a1", "a2", "a4"}, 0), ElementsAre("a4", "a1", "a2"));
}

TEST(TargetBoardTest, ReservationsHideATargetUntilReleasedOrExpired) {
  TargetBoard b;
  b.Apply(Ev("a1", cv1::READY, 1), 0);
  b.Apply(Ev("a2", cv1::READY, 2), 0);
  b.BeginReserve("a1", "c1");
  EXPECT_THAT(b.Candidates({"a1", "a2"}, 0), ElementsAre("a2"));
  EXPECT_TRUE(b.EndReserve("a1", "c1", /*won=*/true, /*until_ms=*/1000, 0));
  EXPECT_THAT(b.Candidates({"a1", "a2"}, 0), ElementsAre("a2"));
  EXPECT_THAT(b.Expire(999), IsEmpty());
  auto expired = b.Expire(1000);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].target, "a1");
  EXPECT_EQ(expired[0].call, "c1");
  EXPECT_FALSE(expired[0].landed);
  EXPECT_THAT(b.Candidates({"a1", "a2"}, 0), ElementsAre("a2"));   // the caller decides
  EXPECT_TRUE(b.Extend("a1", "c1", 2000));
  EXPECT_THAT(b.Expire(1999), IsEmpty());
  EXPECT_TRUE(b.Unreserve("a1", "c1"));
  EXPECT_THAT(b.Expire(5000), IsEmpty());
  EXPECT_THAT(b.Candidates({"a1", "a2"}, 0), ElementsAre("a1", "a2"));

  b.BeginReserve("a2", "c2");
  EXPECT_TRUE(b.Unreserve("a2", "c2"));
  EXPECT_FALSE(b.Unreserve("a2", "c2"));
}

TEST(TargetBoardTest, ALostReservationSkipsTheTargetUntilItsNextEvent) {
  TargetBoard b;
  b.Apply(Ev("a1", cv1::READY, 1), 0);
  b.BeginReserve("a1", "c1");
  EXPECT_TRUE(b.EndReserve("a1", "c1", /*won=*/false, 0, /*retry_ms=*/500));
  EXPECT_THAT(b.Candidates({"a1"}, 100), IsEmpty());
  EXPECT_THAT(b.Candidates({"a1"}, 500), ElementsAre("a1"));
  b.BeginReserve("a1", "c1");
  EXPECT_TRUE(b.EndReserve("a1", "c1", false, 0, 500));
  b.Apply(Ev("a1", cv1::READY, 1), 0);
  EXPECT_THAT(b.Candidates({"a1"}, 100), ElementsAre("a1"));
}

TEST(TargetBoardTest, LogoutWhileReservedReportsTheCall) {
  TargetBoard b;
  b.Apply(Ev("a1", cv1::READY, 1), 0);
  b.BeginReserve("a1", "c1");
  b.EndReserve("a1", "c1", true, 1000, 0);
  EXPECT_EQ(b.Apply(Ev("a1", cv1::LOGGED_OUT, 5), 0).left, "c1");
  EXPECT_EQ(b.Find("a1")->reserved_for, "c1");   // the caller's to drop
  EXPECT_TRUE(b.Unreserve("a1", "c1"));
  // An answer for an attempt the target no longer has is ignored.
  b.Apply(Ev("a1", cv1::READY, 6), 0);
  b.BeginReserve("a1", "c2");
  EXPECT_EQ(b.Apply(Ev("a1", cv1::NOT_READY, 7), 0).left, "c2");
  EXPECT_TRUE(b.Unreserve("a1", "c2"));
  EXPECT_FALSE(b.EndReserve("a1", "c2", true, 1000, 0));
  // Landing its own call loses nothing.
  b.Apply(Ev("a1", cv1::READY, 8), 0);
  b.BeginReserve("a1", "c3");
  b.EndReserve("a1", "c3", true, 1000, 0);
  const TargetChange landed = b.Apply(Ev("a1", cv1::BUSY, 9, "c3"), 0);
  EXPECT_EQ(landed.left, "");
  EXPECT_EQ(landed.landed, "c3");
}

// A landed reservation is the target's until it is READY again: through
// the call, its wrap-up (NOT_READY) and its TTL; then the store's release
// is owed once.
TEST(TargetBoardTest, ALandedReservationLastsUntilTheTargetIsReadyAgain) {
  TargetBoard b;
  b.Apply(Ev("a1", cv1::READY, 1), 0);
  b.BeginReserve("a1", "c1");
  b.EndReserve("a1", "c1", true, 1000, 0);
  EXPECT_TRUE(b.Land("a1", "c1"));   // ESTABLISHED seen before the target's BUSY
  EXPECT_FALSE(b.Land("a1", "c2"));
  TargetChange ch = b.Apply(Ev("a1", cv1::READY, 2), 0);   // a repeat, not the call leaving
  EXPECT_EQ(ch.freed, "");
  EXPECT_EQ(b.Apply(Ev("a1", cv1::BUSY, 3, "c1"), 0).left, "");
  EXPECT_EQ(b.Apply(Ev("a1", cv1::NOT_READY, 4), 0).left, "");   // wrap-up
  auto expired = b.Expire(1000);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_TRUE(expired[0].landed);
  EXPECT_TRUE(b.Extend("a1", "c1", 2000));
  EXPECT_EQ(b.Find("a1")->reserved_for, "c1");
  EXPECT_EQ(b.TakeOwedRelease("a1"), "");
  ch = b.Apply(Ev("a1", cv1::READY, 5), 0);
  EXPECT_EQ(ch.freed, "c1");
  EXPECT_EQ(ch.left, "");
  EXPECT_THAT(b.Candidates({"a1"}, 0), ElementsAre("a1"));
  EXPECT_EQ(b.TakeOwedRelease("a1"), "c1");
  EXPECT_EQ(b.TakeOwedRelease("a1"), "");

  // Logging out frees it too; a new reservation starts unlanded.
  b.BeginReserve("a1", "c2");
  b.EndReserve("a1", "c2", true, 3000, 0);
  EXPECT_EQ(b.Apply(Ev("a1", cv1::BUSY, 6, "c2"), 0).landed, "c2");
  EXPECT_EQ(b.Apply(Ev("a1", cv1::LOGGED_OUT, 7), 0).freed, "c2");
  b.Apply(Ev("a1", cv1::READY, 8), 0);
  b.BeginReserve("a1", "c3");
  b.EndReserve("a1", "c3", true, 4000, 0);
  EXPECT_EQ(b.Apply(Ev("a1", cv1::NOT_READY, 9), 0).left, "c3");   // not landed: the target left
}

TEST(WaitingQueueTest, PriorityThenAge) {
  WaitingQueue q;
  q.Add({.call_uuid = "c1", .request_id = "r1", .priority = 1});
  q.Add({.call_uuid = "c2", .request_id = "r2", .priority = 5, .deadline_ms = 100});
  q.Add({.call_uuid = "c3", .request_id = "r3", .priority = 1, .deadline_ms = 50});
  q.Add({.call_uuid = "c1", .request_id = "r4", .priority = 5});
  EXPECT_THAT(q.InOrder(), ElementsAre("r2", "r4", "r1", "r3"));
  EXPECT_THAT(q.Expired(60), ElementsAre("r3"));
  EXPECT_THAT(q.OfCall("c1"), ::testing::UnorderedElementsAre("r1", "r4"));
  EXPECT_TRUE(q.Remove("r2"));
  EXPECT_FALSE(q.Remove("r2"));
  EXPECT_THAT(q.InOrder(), ElementsAre("r4", "r1", "r3"));
  ASSERT_NE(q.Find("r1"), nullptr);
  EXPECT_EQ(q.Find("r2"), nullptr);
}

}  // namespace
}  // namespace orch::call_watcher
