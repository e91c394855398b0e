// ProactiveRecovery on FakeSessionStore's registry and a SimulatedClock: what
// a pass activates, what it skips, and how it treats an activation that
// fails for a while, fails for good, or finds the session ended.

#include "services/session_engine/proactive_recovery.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/testing/eventually.h"
#include "common/testing/status_matchers.h"
#include "common/time/simulated_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/session_engine/fake_session_store.h"

namespace orch::session_engine {
namespace {

using ::orch::testing::Eventually;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

class ProactiveRecoveryTest : public ::testing::Test {
 protected:
  ProactiveRecoveryTest() : store_(&clock_), registry_(100, [](const std::string&) { return 0; }) {}
  ~ProactiveRecoveryTest() override {
    if (recovery_) recovery_->Stop();
  }

  // A session of node 1 in the store, with `state` ("" = active).
  void AddSession(const std::string& id, const std::string& state = "") {
    orch::event::v1::LogEntry e;
    e.set_seq(1);
    e.mutable_started()->set_document_sha256("doc");
    ASSERT_OK(store_.Append(id, 1, 1, "doc", {e}).status());
    if (!state.empty()) ASSERT_OK(store_.SetState(id, 1, state));
  }

  // `script[id]`: the answers of its successive activations (the last repeats).
  void Start(std::map<std::string, std::vector<absl::StatusOr<bool>>> script) {
    script_ = std::move(script);
    recovery_ = std::make_unique<ProactiveRecovery>(
        ProactiveRecovery::Options{.node_id = 1, .batch = 2, .pause_ms = 10, .page = 3}, &store_, &registry_,
        &clock_,
        [this](const std::string& id) -> absl::StatusOr<bool> {
          absl::MutexLock l(&mu_);
          calls_.push_back(id);
          auto it = script_.find(id);
          if (it == script_.end()) return true;
          const size_t n = attempts_[id]++;
          return it->second[std::min(n, it->second.size() - 1)];
        },
        [this](double) {
          absl::MutexLock l(&mu_);
          done_ = true;
        });
    recovery_->Start([] { return true; });
  }
  // Advances the simulated clock until the pass is done (each pause is 10 ms).
  bool RunToEnd() {
    return Eventually([&] {
      clock_.AdvanceMs(10);
      absl::MutexLock l(&mu_);
      return done_;
    }, absl::Seconds(10), absl::Milliseconds(2));
  }
  std::vector<std::string> Calls() {
    absl::MutexLock l(&mu_);
    return calls_;
  }

  time::SimulatedClock clock_;
  FakeSessionStore store_;
  SessionRegistry registry_;
  std::unique_ptr<ProactiveRecovery> recovery_;
  absl::Mutex mu_;
  std::map<std::string, std::vector<absl::StatusOr<bool>>> script_;
  std::map<std::string, size_t> attempts_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

TEST_F(ProactiveRecoveryTest, ActivatesTheNodesSessionsButDeactivatedOnesOverEveryPage) {
  for (int i = 0; i < 7; ++i) AddSession(absl::StrCat("s", i));
  AddSession("sleeping", kStateDeactivated);
  Start({});
  ASSERT_TRUE(RunToEnd());
  std::vector<std::string> calls = Calls();
  EXPECT_EQ(calls.size(), 7u);
  EXPECT_THAT(calls, ::testing::Not(::testing::Contains("sleeping")));
}

// A session whose store read fails for a while (a failover of Redis, the
// proxy restarting) is tried again after the listing; one that failed for
// good or ended is not.
TEST_F(ProactiveRecoveryTest, AnActivationThatFailsForAWhileIsTriedAgainAndOneThatEndedIsNot) {
  for (const char* id : {"ok", "busy", "ended", "broken", "stuck"}) AddSession(id);
  Start({{"busy", {absl::UnavailableError("proxy"), absl::DeadlineExceededError("slow"), true}},
         {"ended", {absl::NotFoundError("no session")}},
         {"broken", {absl::DataLossError("log does not parse")}},
         {"stuck", {absl::UnavailableError("proxy")}}});
  ASSERT_TRUE(RunToEnd());
  std::map<std::string, int> count;
  for (const std::string& id : Calls()) ++count[id];
  EXPECT_EQ(count["ok"], 1);
  EXPECT_EQ(count["busy"], 3);   // the third attempt restores it
  EXPECT_EQ(count["ended"], 1);
  EXPECT_EQ(count["broken"], 1);
  EXPECT_EQ(count["stuck"], ProactiveRecovery::kAttempts);
}

TEST_F(ProactiveRecoveryTest, AStopEndsThePassWithoutItsRetries) {
  for (int i = 0; i < 4; ++i) AddSession(absl::StrCat("s", i));
  Start({{"s0", {absl::UnavailableError("proxy")}}});
  ASSERT_TRUE(Eventually([&] { return !Calls().empty(); }));
  recovery_->Stop();
  const size_t seen = Calls().size();
  clock_.AdvanceMs(1000);
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(Calls().size(), seen);
  absl::MutexLock l(&mu_);
  EXPECT_FALSE(done_);
}

}  // namespace
}  // namespace orch::session_engine
