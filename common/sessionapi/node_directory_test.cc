#include "common/sessionapi/node_directory.h"

#include <optional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/sessionapi/fake_lease_reader.h"
#include "common/testing/status_matchers.h"
#include "common/time/simulated_clock.h"
#include "gtest/gtest.h"

namespace orch::sessionapi {
namespace {

using ::orch::testing::IsOkAndHolds;
using ::orch::testing::StatusIs;
using ::testing::HasSubstr;

// The answer a RouteDone got, if any yet.
class Answer {
 public:
  NodeDirectory::RouteDone Callback() {
    return [this](absl::StatusOr<std::string> r) {
      absl::MutexLock lock(&mu_);
      ++count_;
      route_ = std::move(r);
    };
  }
  bool answered() const {
    absl::MutexLock lock(&mu_);
    return count_ > 0;
  }
  int count() const {
    absl::MutexLock lock(&mu_);
    return count_;
  }
  absl::StatusOr<std::string> route() const {
    absl::MutexLock lock(&mu_);
    return route_;
  }

 private:
  mutable absl::Mutex mu_;
  int count_ ABSL_GUARDED_BY(mu_) = 0;
  absl::StatusOr<std::string> route_ ABSL_GUARDED_BY(mu_) = absl::UnknownError("no answer");
};

class NodeDirectoryTest : public ::testing::Test {
 protected:
  std::unique_ptr<NodeDirectory> Make(NodeDirectoryOptions options = {}) {
    auto d = NodeDirectory::Create(&leases_, &clock_, std::move(options));
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *std::move(d) : nullptr;
  }
  // Resolve, answered inline (the reader is not held).
  absl::StatusOr<std::string> ResolveNow(NodeDirectory& d, int node) {
    Answer a;
    d.Resolve(node, a.Callback());
    EXPECT_TRUE(a.answered());
    return a.route();
  }
  // Advances the clock by one refresh interval and waits until the
  // refresher's read of node `node` has been answered (its `answers`-th).
  void RefreshRound(int node, int answers) {
    clock_.Advance(absl::Milliseconds(500));
    ASSERT_TRUE(leases_.WaitForAnswers(node, answers)) << "node " << node << " read " << leases_.Reads(node)
                                                       << " times";
  }

  time::SimulatedClock clock_;
  FakeLeaseReader leases_{&clock_};
};

TEST_F(NodeDirectoryTest, BadOptionsAreRefusedByName) {
  EXPECT_THAT(NodeDirectory::Create(&leases_, &clock_, {.refresh_interval = absl::ZeroDuration()}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("refresh_interval")));
  EXPECT_THAT(NodeDirectory::Create(&leases_, &clock_, {.unused_after = absl::Milliseconds(-1)}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unused_after")));
  EXPECT_THAT(NodeDirectory::Create(&leases_, &clock_, {.nodes = {1, 0}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nodes: 0")));
}

TEST_F(NodeDirectoryTest, ConfiguredNodesAreReadAtOnce) {
  leases_.SetPrimary(1, "a:1");
  auto d = Make({.nodes = {1, 2}});
  EXPECT_EQ(leases_.Reads(1), 1);
  EXPECT_EQ(leases_.Reads(2), 1);
  EXPECT_TRUE(d->StoreReachable());
  EXPECT_THAT(ResolveNow(*d, 1), IsOkAndHolds("a:1"));
  EXPECT_THAT(ResolveNow(*d, 2), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("node 2 has no primary")));
  EXPECT_EQ(leases_.Reads(1), 1) << "a known node is answered without a read";
  NodeStatus s = d->Status(1);
  EXPECT_TRUE(s.up);
  EXPECT_EQ(s.endpoint, "a:1");
  EXPECT_FALSE(d->Status(2).up);
  EXPECT_EQ(d->PrimaryEndpoints(), std::set<std::string>{"a:1"});
}

TEST_F(NodeDirectoryTest, FirstUseLooksUpOnceForEveryWaiter) {
  leases_.SetPrimary(3, "c:3");
  auto d = Make();
  leases_.Hold();
  std::vector<Answer> answers(8);
  std::vector<std::thread> threads;
  for (auto& a : answers) threads.emplace_back([&d, &a] { d->Resolve(3, a.Callback()); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(leases_.Reads(3), 1) << "one read shared by every caller";
  for (const auto& a : answers) EXPECT_FALSE(a.answered()) << "callers wait for the read";
  leases_.ReleaseHeld();
  for (const auto& a : answers) {
    EXPECT_EQ(a.count(), 1);
    EXPECT_THAT(a.route(), IsOkAndHolds("c:3"));
  }
  EXPECT_THAT(ResolveNow(*d, 3), IsOkAndHolds("c:3"));
  EXPECT_EQ(leases_.Reads(3), 1);
}

TEST_F(NodeDirectoryTest, StatusOfAnUnknownNodeLooksItUpWithoutWaiting) {
  leases_.SetPrimary(4, "d:4");
  auto d = Make();
  leases_.Hold();
  EXPECT_FALSE(d->Status(4).up) << "down until the read answers";
  EXPECT_EQ(leases_.HeldReads(), 1);
  leases_.ReleaseHeld();
  EXPECT_TRUE(d->Status(4).up);
  EXPECT_EQ(leases_.Reads(4), 1);
}

TEST_F(NodeDirectoryTest, BackgroundRefreshFollowsATakeover) {
  leases_.SetPrimary(1, "a:1");
  auto d = Make({.nodes = {1}});
  const uint64_t version = d->Version();
  leases_.SetPrimary(1, "b:1");
  EXPECT_THAT(ResolveNow(*d, 1), IsOkAndHolds("a:1")) << "not read again before the interval";
  EXPECT_EQ(leases_.Reads(1), 1);
  RefreshRound(1, 2);
  EXPECT_THAT(ResolveNow(*d, 1), IsOkAndHolds("b:1"));
  EXPECT_GT(d->Version(), version);
  EXPECT_EQ(d->PrimaryEndpoints(), std::set<std::string>{"b:1"});
  RefreshRound(1, 3);
  RefreshRound(1, 4);
}

TEST_F(NodeDirectoryTest, AnExpiredLeaseTakesTheRouteDownAndRetryAfterCountsDown) {
  // A primary that died: its lease is not renewed and runs out.
  leases_.SetPrimary(1, "a:1", absl::Milliseconds(2600));
  auto d = Make({.nodes = {1}});
  EXPECT_EQ(d->Status(1).retry_after_s, 3);
  RefreshRound(1, 2);   // 2100 ms left
  EXPECT_TRUE(d->Status(1).up);
  EXPECT_EQ(d->Status(1).retry_after_s, 3);
  RefreshRound(1, 3);   // 1600 ms left
  EXPECT_EQ(d->Status(1).retry_after_s, 2);
  RefreshRound(1, 4);
  RefreshRound(1, 5);
  RefreshRound(1, 6);   // 100 ms left
  EXPECT_TRUE(d->Status(1).up);
  EXPECT_EQ(d->Status(1).retry_after_s, 1);
  RefreshRound(1, 7);   // gone
  NodeStatus s = d->Status(1);
  EXPECT_FALSE(s.up);
  EXPECT_EQ(s.endpoint, "a:1") << "the last known endpoint stays for reports";
  EXPECT_EQ(s.retry_after_s, 1);
  EXPECT_THAT(ResolveNow(*d, 1), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("node 1 has no primary")));
  EXPECT_TRUE(d->PrimaryEndpoints().empty());
  // A new primary takes the node over.
  leases_.SetPrimary(1, "b:1");
  RefreshRound(1, 8);
  EXPECT_THAT(ResolveNow(*d, 1), IsOkAndHolds("b:1"));
}

TEST_F(NodeDirectoryTest, UnusedNodesAreForgottenAndLookedUpAgain) {
  leases_.SetPrimary(7, "g:7");
  // Node 99, always refreshed, marks each round: once its read of a round
  // has answered, the round is over.
  auto d = Make({.nodes = {99}, .unused_after = absl::Seconds(2)});
  EXPECT_THAT(ResolveNow(*d, 7), IsOkAndHolds("g:7"));
  // Refreshed while in use (2 s: 4 rounds)...
  for (int round = 1; round <= 4; ++round) RefreshRound(99, 1 + round);
  EXPECT_EQ(leases_.Reads(7), 5);
  EXPECT_EQ(d->PrimaryEndpoints(), std::set<std::string>{"g:7"});
  const uint64_t version = d->Version();
  // ...then forgotten: no read, and its primary is no longer live.
  RefreshRound(99, 6);
  RefreshRound(99, 7);
  EXPECT_EQ(leases_.Reads(7), 5);
  EXPECT_TRUE(d->PrimaryEndpoints().empty());
  EXPECT_GT(d->Version(), version);
  // Its next use waits for a fresh read.
  leases_.SetPrimary(7, "h:7");
  leases_.Hold();
  Answer a;
  d->Resolve(7, a.Callback());
  EXPECT_FALSE(a.answered());
  leases_.ReleaseHeld();
  EXPECT_THAT(a.route(), IsOkAndHolds("h:7"));
  EXPECT_EQ(leases_.Reads(7), 6);
}

TEST_F(NodeDirectoryTest, RefreshReadsNowAndSharesTheRead) {
  leases_.SetPrimary(1, "a:1");
  auto d = Make({.nodes = {1}});
  leases_.SetPrimary(1, "b:1");
  leases_.Hold();
  Answer first, second;
  d->Refresh(1, first.Callback());
  d->Refresh(1, second.Callback());
  EXPECT_EQ(leases_.HeldReads(), 1);
  leases_.ReleaseHeld();
  EXPECT_THAT(first.route(), IsOkAndHolds("b:1"));
  EXPECT_THAT(second.route(), IsOkAndHolds("b:1"));
  EXPECT_THAT(ResolveNow(*d, 1), IsOkAndHolds("b:1"));
}

TEST_F(NodeDirectoryTest, AnUnreachableStoreKeepsTheLastKnownPrimary) {
  leases_.SetPrimary(1, "a:1");
  auto d = Make({.nodes = {1}});
  leases_.FailReads(absl::UnavailableError("proxy down"));
  Answer a;
  d->Refresh(1, a.Callback());
  EXPECT_THAT(a.route(), IsOkAndHolds("a:1"));
  EXPECT_FALSE(d->StoreReachable());
  EXPECT_EQ(d->Status(1).retry_after_s, 1);
  // Nothing is known of a node first asked about now.
  EXPECT_THAT(ResolveNow(*d, 2),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("cannot find node 2's primary now")));
  leases_.FailReads(absl::OkStatus());
  RefreshRound(1, 3);   // 1 at the start, 1 Refresh, then this round
  EXPECT_TRUE(d->StoreReachable());
}

TEST_F(NodeDirectoryTest, ShutdownAnswersWaitersAndRefusesLaterCalls) {
  leases_.SetPrimary(1, "a:1");
  auto d = Make();
  leases_.Hold();
  Answer waiting;
  d->Resolve(1, waiting.Callback());
  std::thread stopper([&] { d->Shutdown(); });
  // Shutdown waits for the read in flight; releasing it lets it finish.
  leases_.ReleaseHeld();
  stopper.join();
  EXPECT_THAT(waiting.route(), IsOkAndHolds("a:1"));
  EXPECT_THAT(ResolveNow(*d, 1), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("shut down")));
  Answer refreshed;
  d->Refresh(1, refreshed.Callback());
  EXPECT_THAT(refreshed.route(), StatusIs(absl::StatusCode::kUnavailable));
  const int reads = leases_.Reads(1);
  clock_.Advance(absl::Seconds(5));
  EXPECT_EQ(leases_.Reads(1), reads) << "no refresh after Shutdown";
}

}  // namespace
}  // namespace orch::sessionapi
