// WorkerPool on a SimulatedClock: order, RunOn, timers by the wall clock,
// housekeeping, stop. "Has the worker looked at the clock since?" is
// answered by two RunOn barriers (a task runs, then that loop round fires
// timers and housekeeping; the next task runs after it), never by sleeping.

#include "services/session_engine/worker_pool.h"

#include <atomic>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/testing/status_matchers.h"
#include "common/time/simulated_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace orch::session_engine {
namespace {

using ::testing::ElementsAre;

class RecordingHandler final : public WorkerPool::Handler {
 public:
  void OnTimer(int worker, const std::string& key, int64_t due_ms) override {
    absl::MutexLock l(&mu);
    timers.push_back(key);
  }
  void OnHousekeeping(int worker) override { housekeeping.fetch_add(1); }
  void OnStop(int worker) override { stops.fetch_add(1); }

  absl::Mutex mu;
  std::vector<std::string> timers ABSL_GUARDED_BY(mu);
  std::atomic<int> housekeeping{0};
  std::atomic<int> stops{0};
};

class WorkerPoolTest : public ::testing::Test {
 protected:
  void Barrier(int worker) {
    ASSERT_OK(pool_.RunOn(worker, [] { return absl::OkStatus(); }));
    ASSERT_OK(pool_.RunOn(worker, [] { return absl::OkStatus(); }));
  }
  std::vector<std::string> Timers() {
    absl::MutexLock l(&handler_.mu);
    return handler_.timers;
  }

  time::SimulatedClock clock_;
  RecordingHandler handler_;
  WorkerPool pool_{2, &clock_, &handler_, /*housekeeping_ms=*/200};
};

TEST_F(WorkerPoolTest, TasksRunInOrderOnTheirWorkerAndRunOnReturnsTheStatus) {
  pool_.Start();
  std::vector<int> order;
  for (int i = 0; i < 100; ++i) pool_.Post(1, [&order, i] { order.push_back(i); });
  EXPECT_THAT(pool_.RunOn(1, [&] {
    EXPECT_TRUE(pool_.OnThread(1));
    EXPECT_FALSE(pool_.OnThread(0));
    // Inline on its own thread.
    return pool_.RunOn(1, [] { return absl::NotFoundError("inner"); });
  }),
              testing::StatusIs(absl::StatusCode::kNotFound));
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
  EXPECT_EQ(pool_.WorkerOf("abc"), pool_.WorkerOf("abc"));
  pool_.Stop();
}

TEST_F(WorkerPoolTest, TimersFireWhenTheWallClockReachesThemInDueOrder) {
  pool_.Start();
  const int64_t now = clock_.NowMs();
  ASSERT_OK(pool_.RunOn(0, [&] {
    pool_.AddTimer(0, now + 1000, "late");
    pool_.AddTimer(0, now + 500, "early");
    return absl::OkStatus();
  }));
  clock_.AdvanceMs(499);
  Barrier(0);
  EXPECT_TRUE(Timers().empty());
  clock_.AdvanceMs(1);
  Barrier(0);
  EXPECT_THAT(Timers(), ElementsAre("early"));
  // A wall clock stepped forward fires the rest at once.
  clock_.SetWallMs(now + 5000);
  Barrier(0);
  EXPECT_THAT(Timers(), ElementsAre("early", "late"));
  pool_.Stop();
}

TEST_F(WorkerPoolTest, AnIdleWorkerWakesForItsTimerWithoutAnyTask) {
  pool_.Start();
  const int64_t now = clock_.NowMs();
  ASSERT_OK(pool_.RunOn(0, [&] {
    pool_.AddTimer(0, now + 100, "t");
    return absl::OkStatus();
  }));
  clock_.AdvanceMs(100);
  // No task is posted: the worker must see the simulated time by itself.
  {
    absl::MutexLock l(&handler_.mu);
    handler_.mu.AwaitWithTimeout(
        absl::Condition(+[](std::vector<std::string>* t) { return !t->empty(); }, &handler_.timers),
        absl::Seconds(10));
  }
  EXPECT_THAT(Timers(), ElementsAre("t"));
  pool_.Stop();
}

TEST_F(WorkerPoolTest, HousekeepingRunsEveryPeriodOfTheClock) {
  pool_.Start();
  Barrier(0);
  Barrier(1);  // both loops have started (their first period counts from then)
  EXPECT_EQ(handler_.housekeeping.load(), 0);
  clock_.AdvanceMs(200);
  Barrier(0);
  Barrier(1);
  EXPECT_EQ(handler_.housekeeping.load(), 2);  // once per worker
  pool_.Stop();
}

TEST_F(WorkerPoolTest, StopRunsWhatIsQueuedThenOnStopOnEachWorker) {
  pool_.Start();
  std::atomic<int> ran{0};
  for (int i = 0; i < 50; ++i) pool_.Post(i % 2, [&] { ran.fetch_add(1); });
  pool_.Stop();
  EXPECT_EQ(ran.load(), 50);
  EXPECT_EQ(handler_.stops.load(), 2);
  EXPECT_EQ(pool_.queued(0), 0u);
}

}  // namespace
}  // namespace orch::session_engine
