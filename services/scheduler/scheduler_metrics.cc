#include "services/scheduler/scheduler_metrics.h"

#include <map>
#include <string>

#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace orch::scheduler {

namespace {
constexpr const char* kActions[] = {"deliver", "start", "terminate", "wake"};
constexpr Outcome kOutcomes[] = {Outcome::kDone, Outcome::kDropped, Outcome::kFailed, Outcome::kRetry};
}  // namespace

const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kDone:
      return "done";
    case Outcome::kDropped:
      return "dropped";
    case Outcome::kFailed:
      return "failed";
    case Outcome::kRetry:
      return "retry";
  }
  return "unknown";
}

struct SchedulerMetrics::Families {
  prometheus::Family<prometheus::Counter>* scheduled;
  prometheus::Counter* immediate;
  prometheus::Counter* past_due;
  prometheus::Family<prometheus::Counter>* fired;
  std::map<std::pair<std::string, Outcome>, prometheus::Counter*> fired_series;
  prometheus::Family<prometheus::Counter>* failures;
  prometheus::Histogram* lateness;
  prometheus::Counter* claimed;
  prometheus::Counter* stale_acks;
  prometheus::Family<prometheus::Counter>* store_errors;
  prometheus::Gauge* store_up;
  prometheus::Gauge* pending;
  prometheus::Gauge* held;
  prometheus::Gauge* buckets;
  prometheus::Gauge* replicas;
  prometheus::Gauge* slot;
};

SchedulerMetrics::SchedulerMetrics(prometheus::Registry* reg, const std::string& prefix) {
  if (reg == nullptr) return;
  f_ = std::make_unique<Families>();
  auto counter = [&](const char* name, const char* help) {
    return &prometheus::BuildCounter().Name(prefix + "_" + name).Help(help).Register(*reg);
  };
  auto gauge = [&](const char* name, const char* help) {
    return &prometheus::BuildGauge().Name(prefix + "_" + name).Help(help).Register(*reg).Add({});
  };
  f_->scheduled = counter("timers_scheduled_total", "Timers stored by ScheduleTimer, by action.");
  f_->immediate = &counter("immediate_total", "Timers scheduled with a due time already reached: fired at once.")->Add({});
  f_->past_due = &counter("past_due_total",
                          "Timers scheduled with a due time past by more than scheduler.past-due-latency-ms.")
                      ->Add({});
  f_->fired = counter("timers_fired_total", "Firings of timers by this replica, by action and outcome.");
  for (const char* a : kActions) {
    for (Outcome o : kOutcomes) {
      f_->fired_series[{a, o}] = &f_->fired->Add({{"action", a}, {"outcome", OutcomeName(o)}});
    }
  }
  f_->failures = counter("failures_total", "Firings that failed, by action and reason (the engine's status code).");
  f_->claimed = &counter("claimed_total", "Timers this replica claimed to fire (its share).")->Add({});
  f_->stale_acks = &counter("stale_acks_total",
                            "Firings whose timer had changed meanwhile (cancelled, rescheduled, replaced or claimed "
                            "again): the acknowledgement removed nothing.")
                        ->Add({});
  f_->store_errors = counter("store_errors_total", "persistence-proxy calls that failed, by operation.");
  f_->store_up = gauge("store_up", "1 while persistence-proxy answers; 0 after a failed call (new timers are refused).");
  f_->pending = gauge("timers_pending", "Timers stored in the buckets this replica polls, claimed ones included.");
  f_->held = gauge("timers_held", "Timers claimed by this replica that wait for their due time or their firing.");
  f_->buckets = gauge("buckets_owned", "Buckets this replica polls.");
  f_->replicas = gauge("replicas_live", "Scheduler replicas holding a member slot, as this replica last read them.");
  f_->slot = gauge("member_slot", "This replica's member slot (-1: none).");
  const prometheus::Histogram::BucketBoundaries late{0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  f_->lateness = &prometheus::BuildHistogram()
                      .Name(prefix + "_fire_lateness_seconds")
                      .Help("Time from a timer's due time (the proxy's clock) to its firing.")
                      .Register(*reg)
                      .Add({}, late);
  f_->store_up->Set(1);
  f_->slot->Set(-1);
}

SchedulerMetrics::~SchedulerMetrics() = default;

void SchedulerMetrics::Scheduled(absl::string_view action, bool immediate) {
  if (!f_) return;
  f_->scheduled->Add({{"action", std::string(action)}}).Increment();
  if (immediate) f_->immediate->Increment();
}
void SchedulerMetrics::PastDue() {
  if (f_) f_->past_due->Increment();
}
void SchedulerMetrics::Fired(absl::string_view action, Outcome o) {
  if (!f_) return;
  auto it = f_->fired_series.find({std::string(action), o});
  if (it != f_->fired_series.end()) it->second->Increment();
}
void SchedulerMetrics::Failure(absl::string_view action, absl::string_view reason) {
  if (f_) f_->failures->Add({{"action", std::string(action)}, {"reason", std::string(reason)}}).Increment();
}
void SchedulerMetrics::Lateness(double seconds) {
  if (f_) f_->lateness->Observe(seconds < 0 ? 0 : seconds);
}
void SchedulerMetrics::Claimed(int64_t n) {
  if (f_) f_->claimed->Increment(static_cast<double>(n));
}
void SchedulerMetrics::StaleAck() {
  if (f_) f_->stale_acks->Increment();
}
void SchedulerMetrics::StoreError(absl::string_view op) {
  if (f_) f_->store_errors->Add({{"op", std::string(op)}}).Increment();
}
void SchedulerMetrics::StoreUp(bool up) {
  if (f_) f_->store_up->Set(up ? 1 : 0);
}
void SchedulerMetrics::Pending(int64_t n) {
  if (f_) f_->pending->Set(static_cast<double>(n));
}
void SchedulerMetrics::Held(int64_t n) {
  if (f_) f_->held->Set(static_cast<double>(n));
}
void SchedulerMetrics::Buckets(int64_t owned, int64_t live_replicas, int slot) {
  if (!f_) return;
  f_->buckets->Set(static_cast<double>(owned));
  f_->replicas->Set(static_cast<double>(live_replicas));
  f_->slot->Set(slot);
}

}  // namespace orch::scheduler
