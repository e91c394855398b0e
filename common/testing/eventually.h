#pragma once

// Waiting for a condition that another thread or process makes true, with
// a bound, for tests that cannot drive a SimulatedClock (real processes,
// real sockets).

#include <functional>

#include "absl/time/time.h"

namespace orch::testing {

// Calls `pred` every `every` until it returns true (then true) or `limit`
// has passed (then false, after one last call at or past the limit).
bool Eventually(const std::function<bool()>& pred, absl::Duration limit = absl::Seconds(15),
                absl::Duration every = absl::Milliseconds(50));

}  // namespace orch::testing
