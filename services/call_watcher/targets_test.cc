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
  EXPECT_EQ(expired[0], std::make_pair(std::string("a1"), std::string("c1")));
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
  EXPECT_EQ(b.Apply(Ev("a1", cv1::LOGGED_OUT, 5), 0), "c1");
  EXPECT_EQ(b.Find("a1")->reserved_for, "");
  // An answer for an attempt the target no longer has is ignored.
  b.Apply(Ev("a1", cv1::READY, 6), 0);
  b.BeginReserve("a1", "c2");
  EXPECT_EQ(b.Apply(Ev("a1", cv1::NOT_READY, 7), 0), "c2");
  EXPECT_FALSE(b.EndReserve("a1", "c2", true, 1000, 0));
  // Landing its own call keeps nothing to report.
  b.Apply(Ev("a1", cv1::READY, 8), 0);
  b.BeginReserve("a1", "c3");
  b.EndReserve("a1", "c3", true, 1000, 0);
  EXPECT_EQ(b.Apply(Ev("a1", cv1::BUSY, 9, "c3"), 0), "");
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
