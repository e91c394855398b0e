#pragma once

// Time, injected. Every component that reads the time or waits for it takes
// a `Clock*` instead of calling absl::Now() or std::chrono, so its tests can
// drive time with a SimulatedClock (simulated_clock.h) instead of sleeping.
//
//   time::Clock* clock = time::RealClock::Get();   // production
//   int64_t due = clock->MonotonicMs() + 500;
//   absl::MutexLock l(&mu_);
//   while (!stop_ && !clock->WaitUntil(&cv_, &mu_, due)) {}
//
// Two readings:
//   - NowMs(): the wall clock (Unix milliseconds). What is recorded: log
//     entry times, the session clock of a chart. It may step (NTP).
//   - MonotonicMs(): never goes back; for deadlines, ages and timeouts.
//
// Thread-safe: every method may be called from any thread.

#include <cstdint>

#include "absl/synchronization/mutex.h"

namespace orch::time {

class Clock {
 public:
  virtual ~Clock() = default;

  // Wall-clock time in Unix milliseconds.
  virtual int64_t NowMs() const = 0;
  // Monotonic milliseconds since an arbitrary origin.
  virtual int64_t MonotonicMs() const = 0;

  // Waits on `cv` with `mu` held (released while waiting, held again on
  // return) until `cv` is signalled or MonotonicMs() reaches `deadline_ms`.
  // Returns true when the deadline has passed. May return early
  // (spuriously): callers re-check their condition in a loop.
  virtual bool WaitUntil(absl::CondVar* cv, absl::Mutex* mu, int64_t deadline_ms) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) = 0;
};

// The system's clocks (CLOCK_REALTIME and CLOCK_MONOTONIC).
class RealClock final : public Clock {
 public:
  // The process-wide instance (never destroyed).
  static Clock* Get();

  int64_t NowMs() const override;
  int64_t MonotonicMs() const override;
  bool WaitUntil(absl::CondVar* cv, absl::Mutex* mu, int64_t deadline_ms) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) override;
};

}  // namespace orch::time
