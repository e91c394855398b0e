#include "common/time/clock.h"

#include <chrono>

#include "absl/time/clock.h"

namespace orch::time {

Clock* RealClock::Get() {
  static RealClock* const clock = new RealClock();
  return clock;
}

int64_t RealClock::NowMs() const { return absl::ToUnixMillis(absl::Now()); }

int64_t RealClock::MonotonicMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool RealClock::WaitUntil(absl::CondVar* cv, absl::Mutex* mu, int64_t deadline_ms) const {
  const int64_t left = deadline_ms - MonotonicMs();
  if (left <= 0) return true;
  cv->WaitWithTimeout(mu, absl::Milliseconds(left));
  return MonotonicMs() >= deadline_ms;
}

}  // namespace orch::time
