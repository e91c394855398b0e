#pragma once

// A Clock that moves only when told to, for tests:
//
//   time::SimulatedClock clock;           // wall 2026-01-01T00:00:00Z, monotonic 1,000,000
//   NodeLease lease(&clock, ...);
//   clock.Advance(absl::Milliseconds(600));   // the lease has run out
//
// Advance() moves both readings; SetWallMs() steps only the wall clock (an
// NTP step). WaitUntil() returns once the simulated deadline is reached:
// waiting threads re-check the simulated time every `poll` of real time
// (1 ms by default), so a test that advances the clock wakes them without a
// sleep of its own.
//
// Thread-safe.

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"
#include "common/time/clock.h"

namespace orch::time {

class SimulatedClock final : public Clock {
 public:
  static constexpr int64_t kDefaultWallMs = 1767225600000;  // 2026-01-01T00:00:00Z
  static constexpr int64_t kDefaultMonotonicMs = 1000000;

  explicit SimulatedClock(int64_t wall_ms = kDefaultWallMs, int64_t monotonic_ms = kDefaultMonotonicMs,
                          absl::Duration poll = absl::Milliseconds(1))
      : wall_ms_(wall_ms), monotonic_ms_(monotonic_ms), poll_(poll) {}

  int64_t NowMs() const override { return wall_ms_.load(); }
  int64_t MonotonicMs() const override { return monotonic_ms_.load(); }
  bool WaitUntil(absl::CondVar* cv, absl::Mutex* mu, int64_t deadline_ms) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) override;

  // Moves both clocks forward (`d` must not be negative).
  void Advance(absl::Duration d);
  void AdvanceMs(int64_t ms) { Advance(absl::Milliseconds(ms)); }
  // Steps the wall clock only (forwards or backwards).
  void SetWallMs(int64_t wall_ms) { wall_ms_.store(wall_ms); }

 private:
  std::atomic<int64_t> wall_ms_;
  std::atomic<int64_t> monotonic_ms_;
  const absl::Duration poll_;
};

}  // namespace orch::time
