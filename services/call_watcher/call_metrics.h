#pragma once

// call-watcher's metrics (orch_call_watcher_..., and orch_calls_...). Every method is a no-op
// on an instance built with a null registry (unit tests that do not look).
// Thread-safe.

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"

namespace prometheus {
class Registry;
}

namespace orch::call_watcher {

class CallMetrics {
 public:
  // `prefix` is "orch_call_watcher"; `registry` may be null.
  CallMetrics(prometheus::Registry* registry, const std::string& prefix);
  ~CallMetrics();

  void Event(absl::string_view type);                 // events_total{type}
  void Duplicate();                                   // duplicate_events_total
  void Rejected(absl::string_view reason);            // rejected_events_total{reason}
  void SessionStarted();                              // sessions_started_total
  void SessionFailed(absl::string_view reason);       // session_start_failures_total{reason}
  void DeliveryFailed(absl::string_view reason);      // event_delivery_failures_total{reason}
  void Action(absl::string_view module, absl::string_view action, absl::string_view outcome);  // actions_total
  void DefaultRoute(absl::string_view reason);        // default_routes_total{reason}
  void Reservation(absl::string_view outcome);        // reservations_total{outcome: won, lost, error, dropped, extended, extension_failed, freed}
  void QueueWait(double seconds);                     // queue_wait_seconds
  void RouteLatency(double seconds);                  // route_latency_seconds (route request -> routed)
  void LinkConnected(int delta);                      // links_connected
  void ConfigReloadFailure();                         // config_reload_failures_total
  void StoreError(absl::string_view op);              // store_errors_total{op}
  void CallExpired();                                 // calls_expired_total
  // High availability (ha-contract D1.6, D2): names shared by every
  // call-watcher replica, without the process prefix.
  void CallsOwned(const std::map<int, int64_t>& by_node);   // orch_calls_owned{node} (absent nodes: 0)
  void ReservedTakeover();                            // orch_calls_reserved_takeovers_total
  void EventsBuffered(int64_t n);                     // orch_calls_events_buffered
  void TreatmentsPending(int64_t n);                  // orch_calls_treatments_pending
  void Orphaned();                                    // orch_calls_orphaned_total
  void SessionEnded();                                // orch_calls_session_ended_total

 private:
  struct Families;
  std::unique_ptr<Families> f_;
};

}  // namespace orch::call_watcher
