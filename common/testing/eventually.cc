#include "common/testing/eventually.h"

#include "absl/time/clock.h"

namespace orch::testing {

bool Eventually(const std::function<bool()>& pred, absl::Duration limit, absl::Duration every) {
  const absl::Time end = absl::Now() + limit;
  while (absl::Now() < end) {
    if (pred()) return true;
    absl::SleepFor(every);
  }
  return pred();
}

}  // namespace orch::testing
