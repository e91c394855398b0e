// CallRestarter on FakeSessionStore's call records and a SimulatedClock:
// which calls make the backlog, the gate while it loads, cycles of
// `per_cycle` restarts `cycle_ms` apart (in simulated time), failures and
// retries, the metrics, and a pass ended by deposition.

#include "services/session_engine/call_restarter.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/metrics/metrics_server.h"
#include "common/sessionapi/session_id.h"
#include "common/testing/eventually.h"
#include "common/testing/status_matchers.h"
#include "common/time/simulated_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "services/session_engine/fake_session_store.h"

namespace orch::session_engine {
namespace {

namespace pv1 = orch::persistence::v1;
using ::orch::testing::StatusIs;
using ::testing::HasSubstr;

bool Eventually(const std::function<bool()>& pred) {
  return testing::Eventually(pred, absl::Seconds(10), absl::Milliseconds(2));
}

std::string SessionOf(const std::string& call) { return sessionapi::SessionIdForKey(1, "call:" + call); }

class CallRestarterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = metrics::MetricsServer::Start("127.0.0.1:0", "orch_session_engine", "test");
    ASSERT_OK(m);
    server_ = *std::move(m);
    metrics_ = std::make_unique<EngineMetrics>(server_.get());
  }
  void TearDown() override {
    if (restarter_) restarter_->Stop();
  }

  // A claimed call, bound to `owner` (0: not bound).
  void AddCall(const std::string& call, int owner, bool restart) {
    pv1::CallRecord r;
    r.set_call_uuid(call);
    r.set_restart_on_switchover(restart);
    ASSERT_TRUE(store_.ClaimCall(r));
    if (owner != 0) {
      auto b = store_.BindCall(call, owner, sessionapi::SessionIdForKey(owner, "call:" + call));
      ASSERT_OK(b);
      ASSERT_TRUE(b->bound);
    }
  }

  void NewRestarter(size_t per_cycle, uint32_t cycle_ms, CallRestarter::Restart restart) {
    restarter_ = std::make_unique<CallRestarter>(
        CallRestarter::Options{.node_id = 1, .per_cycle = per_cycle, .cycle_ms = cycle_ms, .page = 3}, &store_,
        &clock_, metrics_.get(), [this](const std::string& id) { return id == in_memory_; }, std::move(restart));
  }

  void StartPass() {
    restarter_->Start(7, [] { return true; }, [this] { loaded_calls_.fetch_add(1); });
  }

  double Metric(const std::string& name) {
    for (const auto& family : server_->registry().Collect()) {
      if (family.name != name) continue;
      const auto& m = family.metric.at(0);
      return family.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
    }
    ADD_FAILURE() << "no metric " << name;
    return -1;
  }
  // A histogram's observation count and sum.
  std::pair<uint64_t, double> Histogram(const std::string& name) {
    for (const auto& family : server_->registry().Collect()) {
      if (family.name != name) continue;
      const auto& h = family.metric.at(0).histogram;
      return {h.sample_count, h.sample_sum};
    }
    ADD_FAILURE() << "no histogram " << name;
    return {0, -1};
  }

  // What the restart function saw: call, simulated time, its own gate.
  struct Seen {
    std::string call;
    int64_t at;
    absl::Status gate;
  };
  CallRestarter::Restart Recording(std::function<absl::Status(const std::string&)> answer = nullptr) {
    return [this, answer](const pv1::CallRecord& r, uint64_t epoch) {
      EXPECT_EQ(epoch, 7u);
      absl::Status gate = restarter_->Check(r.session_id());
      absl::MutexLock l(&mu_);
      seen_.push_back({r.call_uuid(), clock_.MonotonicMs(), gate});
      return answer ? answer(r.call_uuid()) : absl::OkStatus();
    };
  }
  std::vector<Seen> SeenSoFar() {
    absl::MutexLock l(&mu_);
    return seen_;
  }

  time::SimulatedClock clock_;
  FakeSessionStore store_{&clock_};
  std::unique_ptr<metrics::MetricsServer> server_;
  std::unique_ptr<EngineMetrics> metrics_;
  std::unique_ptr<CallRestarter> restarter_;
  std::string in_memory_;
  std::atomic<int> loaded_calls_{0};
  absl::Mutex mu_;
  std::vector<Seen> seen_ ABSL_GUARDED_BY(mu_);
};

TEST_F(CallRestarterTest, TheBacklogIsThisNodesRestartableCallsNotInMemory) {
  AddCall("a", 1, true);
  AddCall("b", 1, false);       // not restartable
  AddCall("c", 2, true);        // another node's
  AddCall("d", 1, true);        // its session is in memory
  AddCall("e", 0, true);        // never bound
  AddCall("f", 1, true);
  in_memory_ = SessionOf("d");
  NewRestarter(8, 50, Recording());
  StartPass();
  ASSERT_TRUE(Eventually([&] { return SeenSoFar().size() == 2 && restarter_->backlog() == 0; }));
  std::vector<std::string> calls;
  for (const Seen& s : SeenSoFar()) {
    calls.push_back(s.call);
    // While a call is restarted its session id is refused.
    EXPECT_THAT(s.gate, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("is being restarted")));
  }
  EXPECT_THAT(calls, ::testing::UnorderedElementsAre("a", "f"));
  EXPECT_OK(restarter_->Check(SessionOf("a")));
  EXPECT_OK(restarter_->Check(SessionOf("b")));
  EXPECT_EQ(loaded_calls_.load(), 1);
  EXPECT_EQ(Metric("orch_session_engine_sessions_restarted_total"), 2);
  EXPECT_EQ(Metric("orch_session_engine_restart_backlog"), 0);
}

TEST_F(CallRestarterTest, NothingIsServedUntilTheBacklogIsLoaded) {
  AddCall("a", 1, true);
  NewRestarter(8, 50, Recording());
  // Before any pass (a standby) the gate is closed too.
  EXPECT_THAT(restarter_->Check("~1~x"), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("being listed")));
  store_.SetCallsUnavailable(true);
  StartPass();
  absl::SleepFor(absl::Milliseconds(20));  // real time for the first list to fail
  EXPECT_FALSE(restarter_->loaded());
  EXPECT_THAT(restarter_->Check("~1~x"), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(loaded_calls_.load(), 0);
  EXPECT_TRUE(SeenSoFar().empty());
  store_.SetCallsUnavailable(false);
  ASSERT_TRUE(Eventually([&] {
    clock_.AdvanceMs(100);  // the list is retried every 500 ms
    return restarter_->loaded();
  }));
  // `loaded` runs just after the gate opens, on the restarter's thread.
  ASSERT_TRUE(Eventually([&] { return loaded_calls_.load() == 1; }));
  ASSERT_TRUE(Eventually([&] { return SeenSoFar().size() == 1; }));
  EXPECT_OK(restarter_->Check("~1~x"));
}

TEST_F(CallRestarterTest, CyclesOfPerCycleRestartsArePausedCycleMsApart) {
  for (int i = 0; i < 20; ++i) AddCall(absl::StrCat("call-", i), 1, true);
  NewRestarter(8, 50, Recording());
  const int64_t t0 = clock_.MonotonicMs();
  StartPass();
  ASSERT_TRUE(Eventually([&] { return restarter_->cycles() == 1; }));
  EXPECT_EQ(SeenSoFar().size(), 8u);
  EXPECT_EQ(restarter_->backlog(), 12u);
  clock_.AdvanceMs(49);
  absl::SleepFor(absl::Milliseconds(20));  // real time: a cycle started too early would show
  EXPECT_EQ(SeenSoFar().size(), 8u);
  clock_.AdvanceMs(1);
  ASSERT_TRUE(Eventually([&] { return restarter_->cycles() == 2; }));
  EXPECT_EQ(SeenSoFar().size(), 16u);
  clock_.AdvanceMs(50);
  ASSERT_TRUE(Eventually([&] { return restarter_->cycles() == 3; }));
  const std::vector<Seen> seen = SeenSoFar();
  ASSERT_EQ(seen.size(), 20u);
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].at - t0, static_cast<int64_t>(i / 8) * 50) << "restart " << i;
  }
  EXPECT_EQ(restarter_->backlog(), 0u);
  EXPECT_EQ(Metric("orch_session_engine_restart_cycles_total"), 3);
  EXPECT_EQ(Metric("orch_session_engine_sessions_restarted_total"), 20);
  // The pacing, from the metrics: cycles of 8, 8 and 4, started 50 ms apart
  // (the restarts themselves take no simulated time here).
  EXPECT_EQ(Histogram("orch_session_engine_restart_cycle_sessions"), std::make_pair(uint64_t{3}, 20.0));
  EXPECT_EQ(Histogram("orch_session_engine_restart_cycle_work_seconds"), std::make_pair(uint64_t{3}, 0.0));
  const auto period = Histogram("orch_session_engine_restart_cycle_period_seconds");
  EXPECT_EQ(period.first, 2u);
  EXPECT_DOUBLE_EQ(period.second, 0.1);
}

// SIGHUP's session-restart-timeout: the pause after the cycle under way and
// every later one.
TEST_F(CallRestarterTest, ANewCycleMsAppliesFromTheNextPause) {
  for (int i = 0; i < 24; ++i) AddCall(absl::StrCat("call-", i), 1, true);
  NewRestarter(8, 50, Recording());
  const int64_t t0 = clock_.MonotonicMs();
  StartPass();
  ASSERT_TRUE(Eventually([&] { return restarter_->cycles() == 1; }));
  restarter_->SetCycleMs(200);   // the pause under way keeps its 50 ms
  clock_.AdvanceMs(50);
  ASSERT_TRUE(Eventually([&] { return restarter_->cycles() == 2; }));
  clock_.AdvanceMs(199);
  absl::SleepFor(absl::Milliseconds(20));  // a cycle at the old pace would show
  EXPECT_EQ(SeenSoFar().size(), 16u);
  clock_.AdvanceMs(1);
  ASSERT_TRUE(Eventually([&] { return restarter_->cycles() == 3; }));
  const std::vector<Seen> seen = SeenSoFar();
  ASSERT_EQ(seen.size(), 24u);
  EXPECT_EQ(seen[8].at - t0, 50);
  EXPECT_EQ(seen[16].at - t0, 250);
}

TEST_F(CallRestarterTest, ACyclesRestartsRunAtOnce) {
  for (int i = 0; i < 4; ++i) AddCall(absl::StrCat("call-", i), 1, true);
  // Each restart waits until all four are inside: one after another, the
  // first would wait forever (bounded here: it gives up after 10 s and the
  // test sees a restart that did not find the others).
  absl::Mutex m;
  int inside = 0;
  bool all_met = true;
  NewRestarter(4, 50, [&](const pv1::CallRecord& r, uint64_t) {
    absl::MutexLock l(&m);
    ++inside;
    auto four = [&] { return inside == 4; };
    if (!m.AwaitWithTimeout(absl::Condition(&four), absl::Seconds(10))) all_met = false;
    return absl::OkStatus();
  });
  StartPass();
  ASSERT_TRUE(Eventually([&] { return restarter_->cycles() == 1; }));
  absl::MutexLock l(&m);
  EXPECT_EQ(inside, 4);
  EXPECT_TRUE(all_met);
}

TEST_F(CallRestarterTest, ACallThatEndedBeforeItsTurnIsNoFailure) {
  AddCall("ended", 1, true);
  AddCall("good", 1, true);
  NewRestarter(8, 50, Recording([](const std::string& call) -> absl::Status {
    if (call == "ended") return absl::NotFoundError("ReadCallEvents ended: no such call");
    return absl::OkStatus();
  }));
  StartPass();
  ASSERT_TRUE(Eventually([&] { return restarter_->cycles() == 1 && restarter_->backlog() == 0; }));
  EXPECT_EQ(Metric("orch_session_engine_sessions_restarted_total"), 1);
  EXPECT_EQ(Metric("orch_session_engine_session_restart_failures_total"), 0);
}

TEST_F(CallRestarterTest, AFailedRestartLeavesTheBacklogAndUnavailableIsRetriedThreeTimes) {
  AddCall("bad", 1, true);
  AddCall("down", 1, true);
  AddCall("good", 1, true);
  NewRestarter(8, 50, Recording([](const std::string& call) -> absl::Status {
    if (call == "bad") return absl::InvalidArgumentError("start_request does not parse");
    if (call == "down") return absl::UnavailableError("store down");
    return absl::OkStatus();
  }));
  StartPass();
  ASSERT_TRUE(Eventually([&] { return restarter_->cycles() == 1; }));
  EXPECT_OK(restarter_->Check(SessionOf("bad")));
  EXPECT_THAT(restarter_->Check(SessionOf("down")), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(Metric("orch_session_engine_session_restart_failures_total"), 1);
  ASSERT_TRUE(Eventually([&] {
    clock_.AdvanceMs(10);
    return restarter_->backlog() == 0;
  }));
  int down = 0;
  for (const Seen& s : SeenSoFar()) down += s.call == "down";
  EXPECT_EQ(down, 3);
  EXPECT_OK(restarter_->Check(SessionOf("down")));
  EXPECT_EQ(Metric("orch_session_engine_session_restart_failures_total"), 2);
  EXPECT_EQ(Metric("orch_session_engine_sessions_restarted_total"), 1);
}

TEST_F(CallRestarterTest, ResetEndsThePassAndClosesTheGate) {
  for (int i = 0; i < 5; ++i) AddCall(absl::StrCat("call-", i), 1, true);
  // Deposed while restarting the first call (one per cycle): no other call
  // is restarted.
  NewRestarter(1, 50, [this](const pv1::CallRecord& r, uint64_t) {
    {
      absl::MutexLock l(&mu_);
      seen_.push_back({r.call_uuid(), 0, absl::OkStatus()});
    }
    restarter_->Reset();
    return absl::OkStatus();
  });
  StartPass();
  ASSERT_TRUE(Eventually([&] { return SeenSoFar().size() == 1; }));
  restarter_->Stop();
  EXPECT_EQ(SeenSoFar().size(), 1u);
  EXPECT_FALSE(restarter_->loaded());
  EXPECT_THAT(restarter_->Check("~1~x"), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(restarter_->backlog(), 0u);
  // The next pass lists the calls again (the first one too: its record is
  // all there is).
  StartPass();
  ASSERT_TRUE(Eventually([&] { return SeenSoFar().size() == 2; }));
}

}  // namespace
}  // namespace orch::session_engine
