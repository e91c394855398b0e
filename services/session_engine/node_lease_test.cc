// NodeLease as a state machine: each Tick() is one store call, time is a
// SimulatedClock, the store is FakeSessionStore. No threads, no sleeps.

#include "services/session_engine/node_lease.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/testing/status_matchers.h"
#include "common/time/simulated_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/session_engine/fake_session_store.h"

namespace orch::session_engine {
namespace {

using ::orch::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Role = NodeLease::Role;

class RecordingListener final : public NodeLease::Listener {
 public:
  void OnPrimary(uint64_t epoch) override { events.push_back(absl::StrCat("primary ", epoch)); }
  void OnReacquired(uint64_t old_epoch, uint64_t epoch) override {
    events.push_back(absl::StrCat("reacquired ", old_epoch, "->", epoch));
  }
  void OnDeposed(const std::string& why) override { events.push_back("deposed"); }
  std::vector<std::string> events;
};

class NodeLeaseTest : public ::testing::Test {
 protected:
  NodeLease::Options Options(const std::string& instance, const std::string& endpoint) {
    NodeLease::Options o;
    o.node_id = 1;
    o.instance_id = instance;
    o.endpoint = endpoint;
    o.ttl_ms = 1000;
    o.renew_ms = 200;
    return o;
  }

  time::SimulatedClock clock_;
  FakeSessionStore store_{&clock_};
  RecordingListener a_events_, b_events_;
  NodeLease a_{Options("a", "10.0.0.1:7101"), &store_, &clock_, &a_events_};
  NodeLease b_{Options("b", "10.0.0.2:7101"), &store_, &clock_, &b_events_};
};

TEST_F(NodeLeaseTest, StartsAsAStandbyThatServesNothingUntilItHoldsTheLease) {
  EXPECT_EQ(a_.role(), Role::kStarting);
  EXPECT_THAT(a_.CheckServing(), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("no primary yet")));
  a_.Begin();
  EXPECT_EQ(a_.role(), Role::kStandby);
  const int64_t next = a_.Tick();
  EXPECT_EQ(a_.role(), Role::kPrimary);
  EXPECT_OK(a_.CheckServing());
  EXPECT_OK(a_.CheckWritable());
  EXPECT_EQ(next, clock_.MonotonicMs() + 200);  // renew after renew_ms
  EXPECT_THAT(a_events_.events, ElementsAre(absl::StrCat("primary ", a_.epoch())));
  EXPECT_EQ(a_.name(), "node:1");
}

TEST_F(NodeLeaseTest, AStandbyNamesThePrimaryAndTakesOverWhenTheLeaseExpires) {
  a_.Begin();
  b_.Begin();
  a_.Tick();
  const int64_t next = b_.Tick();
  EXPECT_EQ(b_.role(), Role::kStandby);
  // A standby retries at min(renew, max(100, ttl/10)).
  EXPECT_EQ(next, clock_.MonotonicMs() + 100);
  EXPECT_THAT(b_.CheckServing(), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("the primary is at 10.0.0.1:7101")));
  const uint64_t first_epoch = a_.epoch();

  store_.ExpireLease("node:1");  // a stopped renewing
  b_.Tick();
  EXPECT_EQ(b_.role(), Role::kPrimary);
  EXPECT_GT(b_.epoch(), first_epoch);

  // a comes back (it was paused): its renewal is refused and the lease is
  // held by b, so a is fenced and becomes a standby naming b.
  a_.Tick();
  EXPECT_EQ(a_.role(), Role::kFenced);
  EXPECT_THAT(a_events_.events.back(), "deposed");
  EXPECT_THAT(a_.CheckWritable(), StatusIs(absl::StatusCode::kUnavailable));
  a_.Tick();
  EXPECT_EQ(a_.role(), Role::kStandby);
  EXPECT_THAT(a_.CheckServing(), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("10.0.0.2:7101")));
}

// A primary paused (SIGSTOP) past its lease must not write when it resumes,
// even before its first renewal fails.
TEST_F(NodeLeaseTest, AZombiePrimaryRefusesWritesOnceItsLeaseMayHaveRunOut) {
  a_.Begin();
  a_.Tick();
  ASSERT_OK(a_.CheckWritable());
  clock_.AdvanceMs(899);
  EXPECT_OK(a_.CheckWritable());
  clock_.AdvanceMs(1);  // 0.9 × ttl after the renewal started
  EXPECT_THAT(a_.CheckWritable(), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("could not be renewed in time")));
  EXPECT_OK(a_.CheckServing());  // still primary until a renewal says otherwise
  a_.Tick();                      // the renewal succeeds (nobody took it)
  EXPECT_OK(a_.CheckWritable());
}

TEST_F(NodeLeaseTest, AFenceFromAnyThreadStopsServingAtOnce) {
  a_.Begin();
  a_.Tick();
  const uint64_t gen = a_.generation();
  a_.Fence("append refused");
  EXPECT_EQ(a_.role(), Role::kFenced);
  EXPECT_NE(a_.generation(), gen);
  EXPECT_THAT(a_.CheckServing(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(a_.CheckWritable(), StatusIs(absl::StatusCode::kUnavailable));
  a_.Fence("again");  // only a primary is fenced
  EXPECT_EQ(std::count(a_events_.events.begin(), a_events_.events.end(), "deposed"), 1);
}

TEST_F(NodeLeaseTest, AnUnreachableStoreKeepsThePrimaryUntilItsLeaseMayHaveRunOut) {
  a_.Begin();
  a_.Tick();
  store_.SetUnavailable(true);
  clock_.AdvanceMs(200);
  const int64_t next = a_.Tick();
  EXPECT_EQ(a_.role(), Role::kPrimary);  // keeps serving in-memory sessions
  EXPECT_EQ(next, clock_.MonotonicMs() + 200);
  EXPECT_OK(a_.CheckWritable());
  clock_.AdvanceMs(700);  // 900 ms after the last successful renewal
  EXPECT_THAT(a_.CheckWritable(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_OK(a_.CheckServing());
}

TEST_F(NodeLeaseTest, ALeaseThatExpiredWhileTheStoreWasUnreachableIsAcquiredAgainWithANewEpoch) {
  a_.Begin();
  a_.Tick();
  const uint64_t first = a_.epoch();
  store_.SetUnavailable(true);
  a_.Tick();
  store_.ExpireLease("node:1");
  store_.SetUnavailable(false);
  a_.Tick();  // renewal refused, nobody holds it: ours again
  EXPECT_EQ(a_.role(), Role::kPrimary);
  EXPECT_GT(a_.epoch(), first);
  EXPECT_EQ(a_events_.events.back(), absl::StrCat("reacquired ", first, "->", a_.epoch()));
  EXPECT_OK(a_.CheckWritable());
}

TEST_F(NodeLeaseTest, AStandbyThatCannotReachTheStoreRetriesLater) {
  store_.SetUnavailable(true);
  a_.Begin();
  const int64_t next = a_.Tick();
  EXPECT_EQ(a_.role(), Role::kStandby);
  EXPECT_EQ(next, clock_.MonotonicMs() + 500);
}

TEST_F(NodeLeaseTest, StoppingAPrimaryKeepsItWritableUntilReleaseThenTheStandbyTakesOver) {
  a_.Begin();
  b_.Begin();
  a_.Tick();
  b_.Tick();
  ASSERT_EQ(b_.role(), Role::kStandby);
  EXPECT_TRUE(a_.BeginStop());
  EXPECT_EQ(a_.role(), Role::kStopped);
  EXPECT_THAT(a_.CheckServing(), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("shutting down")));
  EXPECT_OK(a_.CheckWritable());  // last snapshots
  a_.Release();
  b_.Tick();
  EXPECT_EQ(b_.role(), Role::kPrimary);
  const int64_t now = clock_.MonotonicMs();
  EXPECT_EQ(a_.Tick(), now + 200);  // a stopped lease does nothing
  EXPECT_EQ(a_.role(), Role::kStopped);
}

// A standby whose primary stopped renewing tries again right after the
// lease runs out, not a whole poll later.
TEST_F(NodeLeaseTest, AStandbyRetriesJustAfterTheHoldersLeaseRunsOut) {
  a_.Begin();
  b_.Begin();
  a_.Tick();
  clock_.AdvanceMs(950);  // a renews no more: 50 ms left
  const int64_t next = b_.Tick();
  EXPECT_EQ(b_.role(), Role::kStandby);
  EXPECT_EQ(next, clock_.MonotonicMs() + 51);  // not + 100
  clock_.AdvanceMs(51);
  b_.Tick();
  EXPECT_EQ(b_.role(), Role::kPrimary);
}

}  // namespace
}  // namespace orch::session_engine
