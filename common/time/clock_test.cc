#include "common/time/clock.h"

#include <thread>

#include "common/time/simulated_clock.h"
#include "gtest/gtest.h"

namespace orch::time {
namespace {

TEST(RealClockTest, MonotonicNeverGoesBackAndWallIsUnixMs) {
  Clock* c = RealClock::Get();
  const int64_t a = c->MonotonicMs();
  const int64_t b = c->MonotonicMs();
  EXPECT_LE(a, b);
  EXPECT_GT(c->NowMs(), 1700000000000);  // after 2023
}

TEST(RealClockTest, WaitUntilAPastDeadlineReturnsAtOnce) {
  Clock* c = RealClock::Get();
  absl::Mutex mu;
  absl::CondVar cv;
  absl::MutexLock l(&mu);
  EXPECT_TRUE(c->WaitUntil(&cv, &mu, c->MonotonicMs() - 1));
}

TEST(SimulatedClockTest, AdvanceMovesBothClocksAndSetWallStepsOnlyTheWall) {
  SimulatedClock c;
  EXPECT_EQ(c.NowMs(), SimulatedClock::kDefaultWallMs);
  EXPECT_EQ(c.MonotonicMs(), SimulatedClock::kDefaultMonotonicMs);
  c.Advance(absl::Milliseconds(250));
  EXPECT_EQ(c.NowMs(), SimulatedClock::kDefaultWallMs + 250);
  EXPECT_EQ(c.MonotonicMs(), SimulatedClock::kDefaultMonotonicMs + 250);
  c.SetWallMs(5);
  EXPECT_EQ(c.NowMs(), 5);
  EXPECT_EQ(c.MonotonicMs(), SimulatedClock::kDefaultMonotonicMs + 250);
}

// A thread waiting for a simulated deadline an hour away wakes when the
// test advances the clock past it, not after an hour.
TEST(SimulatedClockTest, AWaiterWakesWhenTheClockIsAdvancedPastItsDeadline) {
  SimulatedClock c;
  absl::Mutex mu;
  absl::CondVar cv;
  bool woke = false;
  const int64_t deadline = c.MonotonicMs() + 3600 * 1000;
  std::thread waiter([&] {
    absl::MutexLock l(&mu);
    while (!c.WaitUntil(&cv, &mu, deadline)) {
    }
    woke = true;
  });
  {
    absl::MutexLock l(&mu);
    EXPECT_FALSE(woke);
  }
  c.Advance(absl::Hours(1));
  waiter.join();
  EXPECT_TRUE(woke);
}

TEST(SimulatedClockTest, ASignalWakesAWaiterBeforeItsDeadline) {
  SimulatedClock c;
  absl::Mutex mu;
  absl::CondVar cv;
  bool waiting = false;
  bool flag = false;
  bool deadline_passed = true;
  std::thread waiter([&] {
    absl::MutexLock l(&mu);
    waiting = true;
    while (!flag) deadline_passed = c.WaitUntil(&cv, &mu, c.MonotonicMs() + 1000);
  });
  {
    absl::MutexLock l(&mu);
    // The waiter holds `mu` until it waits: once this returns, it is waiting.
    mu.Await(absl::Condition(&waiting));
    flag = true;
    cv.Signal();
  }
  waiter.join();
  EXPECT_FALSE(deadline_passed);
}

}  // namespace
}  // namespace orch::time
