// WorkerPool on a SimulatedClock: order, RunOn, timers by the wall clock,
// housekeeping, stop, and who runs a worker (its own thread, or a thread
// that helps). "Has the worker's thread looked at the clock since?" is
// answered by two Post barriers (the thread runs a task, then that loop
// round fires timers and housekeeping; the next task runs after it), never
// by sleeping.

#include "services/session_engine/worker_pool.h"

#include <atomic>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/testing/eventually.h"
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
  void OnEnter(int worker) override {
    absl::MutexLock l(&mu);
    EXPECT_EQ(inside[worker], 0) << "two runners of worker " << worker;
    ++inside[worker];
    ++enters[worker];
  }
  void OnLeave(int worker) override {
    absl::MutexLock l(&mu);
    --inside[worker];
  }

  absl::Mutex mu;
  std::vector<std::string> timers ABSL_GUARDED_BY(mu);
  std::atomic<int> housekeeping{0};
  std::atomic<int> stops{0};
  int inside[2] ABSL_GUARDED_BY(mu) = {0, 0};
  int enters[2] ABSL_GUARDED_BY(mu) = {0, 0};
};

class WorkerPoolTest : public ::testing::Test {
 protected:
  // Post, unlike RunOn, never runs the task on the calling thread.
  void Barrier(int worker) {
    for (int i = 0; i < 2; ++i) {
      absl::Notification done;
      pool_.Post(worker, [&] { done.Notify(); });
      done.WaitForNotification();
    }
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

TEST_F(WorkerPoolTest, HelpRunsAnIdleWorkersQueueOnTheCallingThread) {
  pool_.Start();
  Barrier(0);
  ASSERT_TRUE(testing::Eventually([&] { return !pool_.busy(0); }));  // its thread has let go
  std::thread::id ran_on;
  bool on_worker = false;
  pool_.PostDeferred(0, [&] {
    ran_on = std::this_thread::get_id();
    on_worker = pool_.OnThread(0);
  });
  pool_.Help(0);
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  EXPECT_TRUE(on_worker);
  EXPECT_FALSE(pool_.OnThread(0));  // the role is given back
  {
    absl::MutexLock l(&handler_.mu);
    EXPECT_EQ(handler_.inside[0], 0);
  }
  pool_.Stop();
}

TEST_F(WorkerPoolTest, HelpStopsAtItsLimitAndTheWorkersThreadRunsTheRestInOrder) {
  pool_.Start();
  Barrier(0);
  ASSERT_TRUE(testing::Eventually([&] { return !pool_.busy(0); }));
  absl::Mutex mu;
  std::vector<std::pair<int, bool>> order;  // (task, ran on the helping thread)
  const auto me = std::this_thread::get_id();
  const int n = static_cast<int>(WorkerPool::kHelpLimit) + 10;
  for (int i = 0; i < n; ++i) {
    pool_.PostDeferred(0, [&, i] {
      absl::MutexLock l(&mu);
      order.emplace_back(i, std::this_thread::get_id() == me);
    });
  }
  pool_.Help(0);
  Barrier(0);
  absl::MutexLock l(&mu);
  ASSERT_EQ(order.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(order[i].first, i);
    EXPECT_EQ(order[i].second, i < static_cast<int>(WorkerPool::kHelpLimit)) << i;
  }
}

TEST_F(WorkerPoolTest, ATimerAddedByAHelperWakesTheSleepingWorkersThread) {
  pool_.Start();
  Barrier(0);
  const int64_t now = clock_.NowMs();
  pool_.PostDeferred(0, [&] { pool_.AddTimer(0, now + 10, "soon"); });
  pool_.Help(0);
  clock_.AdvanceMs(10);
  absl::MutexLock l(&handler_.mu);
  handler_.mu.AwaitWithTimeout(
      absl::Condition(+[](std::vector<std::string>* t) { return !t->empty(); }, &handler_.timers),
      absl::Seconds(10));
  EXPECT_THAT(handler_.timers, ElementsAre("soon"));
}

TEST_F(WorkerPoolTest, WorkPostedToTheOwnThreadByAHelperRunsThereNotOnTheHelper) {
  pool_.Start();
  Barrier(0);
  ASSERT_TRUE(testing::Eventually([&] { return !pool_.busy(0); }));
  absl::Notification ran;
  bool on_own = false;
  bool helper_is_own = true;
  pool_.PostDeferred(0, [&] {
    helper_is_own = pool_.OnOwnThread(0);
    pool_.PostToOwnThread(0, [&] {
      on_own = pool_.OnOwnThread(0) && pool_.OnThread(0);
      ran.Notify();
    });
  });
  pool_.Help(0);
  EXPECT_FALSE(helper_is_own);
  ASSERT_TRUE(ran.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(on_own);
}

TEST_F(WorkerPoolTest, OneRunnerAtATimeUnderConcurrentHelpers) {
  pool_.Start();
  std::atomic<int> ran{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        pool_.PostDeferred(i % 2, [&] { ran.fetch_add(1); });
        pool_.Help(i % 2);
      }
    });
  }
  for (auto& t : threads) t.join();
  Barrier(0);
  Barrier(1);
  EXPECT_EQ(ran.load(), 2000);  // OnEnter checks that no two threads ran one worker at once
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
