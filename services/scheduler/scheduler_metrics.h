#pragma once

// scheduler's metrics (orch_scheduler_...). Every method is a no-op on an
// instance built with a null registry (unit tests that do not look).
// Series of the fixed label sets are created up front, so that they read 0
// before their first event and cost no label lookup per timer.
// Thread-safe.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"

namespace prometheus {
class Registry;
}

namespace orch::scheduler {

// How a firing ended.
enum class Outcome {
  kDone,      // the action happened (or had already: an idempotent repeat)
  kDropped,   // nothing to act on (the session is gone): done
  kFailed,    // a terminal failure (an unknown document...): recorded, not retried
  kRetry,     // the engine is down or busy: fired again after the claim timeout
};
const char* OutcomeName(Outcome o);

class SchedulerMetrics {
 public:
  // `prefix` is "orch_scheduler"; `registry` may be null.
  SchedulerMetrics(prometheus::Registry* registry, const std::string& prefix);
  ~SchedulerMetrics();

  void Scheduled(absl::string_view action, bool immediate);   // timers_scheduled_total{action}, immediate_total
  void PastDue();                                             // past_due_total (beyond past-due-latency-ms)
  void Fired(absl::string_view action, Outcome o);            // timers_fired_total{action,outcome}
  void Failure(absl::string_view action, absl::string_view reason);   // failures_total{action,reason}
  void Lateness(double seconds);                              // fire_lateness_seconds
  void Claimed(int64_t n);                                    // claimed_total
  void StaleAck();                                            // stale_acks_total
  void StoreError(absl::string_view op);                      // store_errors_total{op}
  void StoreUp(bool up);                                      // store_up
  void Pending(int64_t n);                                    // timers_pending (this replica's buckets)
  void Held(int64_t n);                                       // timers_held (claimed, waiting to fire here)
  void Buckets(int64_t owned, int64_t live_replicas, int slot);   // buckets_owned, replicas_live, member_slot

 private:
  struct Families;
  std::unique_ptr<Families> f_;
};

}  // namespace orch::scheduler
