#include "services/call_watcher/call_metrics.h"

#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace orch::call_watcher {

struct CallMetrics::Families {
  prometheus::Family<prometheus::Counter>* events;
  prometheus::Counter* duplicates;
  prometheus::Family<prometheus::Counter>* rejected;
  prometheus::Counter* sessions_started;
  prometheus::Family<prometheus::Counter>* sessions_failed;
  prometheus::Family<prometheus::Counter>* delivery_failed;
  prometheus::Family<prometheus::Counter>* actions;
  prometheus::Family<prometheus::Counter>* default_routes;
  prometheus::Family<prometheus::Counter>* reservations;
  prometheus::Histogram* queue_wait;
  prometheus::Histogram* route_latency;
  prometheus::Gauge* links;
  prometheus::Counter* reload_failures;
  prometheus::Family<prometheus::Counter>* store_errors;
  prometheus::Counter* calls_expired;
  prometheus::Family<prometheus::Gauge>* owned;
  prometheus::Counter* takeovers;
  prometheus::Gauge* buffered;
  prometheus::Gauge* treatments;
  prometheus::Counter* orphaned;
  prometheus::Counter* session_ended;
  absl::Mutex mu;
  std::set<int> owned_nodes ABSL_GUARDED_BY(mu);   // nodes with an orch_calls_owned series
};

CallMetrics::CallMetrics(prometheus::Registry* reg, const std::string& prefix) {
  if (reg == nullptr) return;
  f_ = std::make_unique<Families>();
  auto family = [&](const char* name, const char* help) {
    return &prometheus::BuildCounter().Name(prefix + "_" + name).Help(help).Register(*reg);
  };
  f_->events = family("events_total", "Events received from adapters, by type.");
  f_->duplicates = &family("duplicate_events_total", "Events dropped as duplicates (seq already received).")->Add({});
  f_->rejected = family("rejected_events_total", "Events answered with Rejected, by reason.");
  f_->sessions_started = &family("sessions_started_total", "Sessions started for calls.")->Add({});
  f_->sessions_failed = family("session_start_failures_total", "Calls whose session could not be started, by reason.");
  f_->delivery_failed = family("event_delivery_failures_total", "Call events that could not reach their session, by reason.");
  f_->actions = family("actions_total", "Module actions of sessions, by module, action and outcome.");
  f_->default_routes = family("default_routes_total", "Calls given their DN's default route, by reason.");
  f_->reservations = family("reservations_total", "Target reservations tried, by outcome.");
  f_->reload_failures = &family("config_reload_failures_total", "DN file reloads that failed (the previous file stays).")->Add({});
  f_->store_errors = family("store_errors_total", "CallStore (persistence-proxy) calls that failed, by operation.");
  f_->calls_expired = &family("calls_expired_total", "Calls ended by call-watcher: no RELEASED within calls.call-ttl-ms.")->Add({});
  const prometheus::Histogram::BucketBoundaries wait{0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300};
  f_->queue_wait = &prometheus::BuildHistogram()
                        .Name(prefix + "_queue_wait_seconds")
                        .Help("Time from queue:submit to a reserved target.")
                        .Register(*reg)
                        .Add({}, wait);
  const prometheus::Histogram::BucketBoundaries lat{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};
  f_->route_latency = &prometheus::BuildHistogram()
                           .Name(prefix + "_route_latency_seconds")
                           .Help("Time from a call's route request to the switch's answer to its route.")
                           .Register(*reg)
                           .Add({}, lat);
  f_->owned = &prometheus::BuildGauge()
                   .Name("orch_calls_owned")
                   .Help("Calls this call-watcher knows whose session runs, by the node that owns them.")
                   .Register(*reg);
  f_->takeovers = &prometheus::BuildCounter()
                       .Name("orch_calls_reserved_takeovers_total")
                       .Help("Calls whose session started on their reserved node (the assigned one had no primary).")
                       .Register(*reg)
                       .Add({});
  f_->buffered = &prometheus::BuildGauge()
                      .Name("orch_calls_events_buffered")
                      .Help("Call events waiting because their session's node has no primary or it is restarting.")
                      .Register(*reg)
                      .Add({});
  f_->treatments = &prometheus::BuildGauge()
                        .Name("orch_calls_treatments_pending")
                        .Help("Treatments applied and not yet ended.")
                        .Register(*reg)
                        .Add({});
  f_->orphaned = &prometheus::BuildCounter()
                      .Name("orch_calls_orphaned_total")
                      .Help("Calls whose session was gone (NOT_FOUND) before the call was routed: they got "
                            "their default route.")
                      .Register(*reg)
                      .Add({});
  f_->session_ended = &prometheus::BuildCounter()
                           .Name("orch_calls_session_ended_total")
                           .Help("Calls routed or over whose session was gone (NOT_FOUND) while events were "
                                 "left: the strategy ended, or a memory-only session was lost with its node.")
                           .Register(*reg)
                           .Add({});
  f_->links = &prometheus::BuildGauge().Name(prefix + "_links_connected").Help("Adapter links connected.")
                   .Register(*reg).Add({});
}

CallMetrics::~CallMetrics() = default;

void CallMetrics::Event(absl::string_view type) {
  if (f_) f_->events->Add({{"type", std::string(type)}}).Increment();
}
void CallMetrics::Duplicate() {
  if (f_) f_->duplicates->Increment();
}
void CallMetrics::Rejected(absl::string_view reason) {
  if (f_) f_->rejected->Add({{"reason", std::string(reason)}}).Increment();
}
void CallMetrics::SessionStarted() {
  if (f_) f_->sessions_started->Increment();
}
void CallMetrics::SessionFailed(absl::string_view reason) {
  if (f_) f_->sessions_failed->Add({{"reason", std::string(reason)}}).Increment();
}
void CallMetrics::DeliveryFailed(absl::string_view reason) {
  if (f_) f_->delivery_failed->Add({{"reason", std::string(reason)}}).Increment();
}
void CallMetrics::Action(absl::string_view module, absl::string_view action, absl::string_view outcome) {
  if (f_) {
    f_->actions->Add({{"module", std::string(module)}, {"action", std::string(action)}, {"outcome", std::string(outcome)}})
        .Increment();
  }
}
void CallMetrics::DefaultRoute(absl::string_view reason) {
  if (f_) f_->default_routes->Add({{"reason", std::string(reason)}}).Increment();
}
void CallMetrics::Reservation(absl::string_view outcome) {
  if (f_) f_->reservations->Add({{"outcome", std::string(outcome)}}).Increment();
}
void CallMetrics::QueueWait(double seconds) {
  if (f_) f_->queue_wait->Observe(seconds);
}
void CallMetrics::RouteLatency(double seconds) {
  if (f_) f_->route_latency->Observe(seconds);
}
void CallMetrics::LinkConnected(int delta) {
  if (f_) f_->links->Increment(delta);
}
void CallMetrics::ConfigReloadFailure() {
  if (f_) f_->reload_failures->Increment();
}
void CallMetrics::StoreError(absl::string_view op) {
  if (f_) f_->store_errors->Add({{"op", std::string(op)}}).Increment();
}

void CallMetrics::CallExpired() {
  if (f_) f_->calls_expired->Increment();
}

void CallMetrics::CallsOwned(const std::map<int, int64_t>& by_node) {
  if (!f_) return;
  absl::MutexLock l(&f_->mu);
  for (int n : f_->owned_nodes) {
    if (!by_node.contains(n)) f_->owned->Add({{"node", std::to_string(n)}}).Set(0);
  }
  for (const auto& [n, count] : by_node) {
    f_->owned->Add({{"node", std::to_string(n)}}).Set(static_cast<double>(count));
    f_->owned_nodes.insert(n);
  }
}
void CallMetrics::ReservedTakeover() {
  if (f_) f_->takeovers->Increment();
}
void CallMetrics::EventsBuffered(int64_t n) {
  if (f_) f_->buffered->Set(static_cast<double>(n));
}
void CallMetrics::TreatmentsPending(int64_t n) {
  if (f_) f_->treatments->Set(static_cast<double>(n));
}
void CallMetrics::Orphaned() {
  if (f_) f_->orphaned->Increment();
}
void CallMetrics::SessionEnded() {
  if (f_) f_->session_ended->Increment();
}

}  // namespace orch::call_watcher
