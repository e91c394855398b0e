#include "common/time/simulated_clock.h"

#include "common/base/check.h"

namespace orch::time {

bool SimulatedClock::WaitUntil(absl::CondVar* cv, absl::Mutex* mu, int64_t deadline_ms) const {
  if (MonotonicMs() >= deadline_ms) return true;
  // A signal wakes the caller at once; otherwise it looks at the simulated
  // time again after `poll_` of real time.
  cv->WaitWithTimeout(mu, poll_);
  return MonotonicMs() >= deadline_ms;
}

void SimulatedClock::Advance(absl::Duration d) {
  const int64_t ms = absl::ToInt64Milliseconds(d);
  ORCH_CHECK(ms >= 0, "SimulatedClock::Advance by a negative duration");
  wall_ms_.fetch_add(ms);
  monotonic_ms_.fetch_add(ms);
}

}  // namespace orch::time
