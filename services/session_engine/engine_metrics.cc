#include "services/session_engine/engine_metrics.h"

#include "common/metrics/metrics_server.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace orch::session_engine {

namespace {
const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
  return *b;
}
}  // namespace

struct EngineMetrics::Families {
  prometheus::Gauge* in_memory;
  prometheus::Gauge* pending_creations;
  prometheus::Counter* started_persistent;
  prometheus::Counter* started_memory;
  prometheus::Histogram* creation_seconds;
  prometheus::Counter* ended;
  prometheus::Counter* events;
  prometheus::Counter* duplicates;
  prometheus::Counter* reactivations;
  prometheus::Counter* recoveries;
  prometheus::Counter* deactivations;
  prometheus::Counter* wake_failures;
  prometheus::Counter* max_age_failures;
  prometheus::Counter* fenced;
  prometheus::Histogram* queueing;
  prometheus::Histogram* fetch;
  prometheus::Histogram* append_ok;
  prometheus::Counter* append_failed;
  prometheus::Histogram* snapshot_seconds;
  prometheus::Counter* snapshot_bytes;
  prometheus::Counter* snapshot_failed;
  prometheus::Gauge* persistence_up;
  prometheus::Gauge* primary;
  prometheus::Gauge* epoch;
  prometheus::Gauge* recovery_seconds;
  prometheus::Counter* restarted;
  prometheus::Counter* restart_failures;
  prometheus::Counter* restart_cycles;
  prometheus::Histogram* restart_cycle_sessions;
  prometheus::Histogram* restart_cycle_work;
  prometheus::Histogram* restart_cycle_period;
  prometheus::Gauge* restart_backlog;
};

EngineMetrics::EngineMetrics(metrics::MetricsServer* m) {
  if (m == nullptr) return;
  f_ = std::make_unique<Families>();
  auto& reg = m->registry();
  auto gauge = [&](const char* name, const char* help) {
    return &prometheus::BuildGauge().Name(m->Name(name)).Help(help).Register(reg).Add({});
  };
  auto counter = [&](const char* name, const char* help) {
    return &prometheus::BuildCounter().Name(m->Name(name)).Help(help).Register(reg).Add({});
  };
  auto histogram = [&](const char* name, const char* help) {
    return &prometheus::BuildHistogram().Name(m->Name(name)).Help(help).Register(reg).Add({}, LatencyBuckets());
  };
  f_->in_memory = gauge("sessions_in_memory", "Sessions held in memory by this instance (active sessions).");
  f_->pending_creations = gauge("pending_creations", "StartSession calls in progress.");
  auto& started = prometheus::BuildCounter()
                      .Name(m->Name("sessions_started_total"))
                      .Help("Sessions started, by persistence.")
                      .Register(reg);
  f_->started_persistent = &started.Add({{"persistent", "true"}});
  f_->started_memory = &started.Add({{"persistent", "false"}});
  f_->creation_seconds = histogram("session_creation_seconds", "StartSession: document to first macrostep done.");
  f_->ended = counter("sessions_ended_total", "Sessions that reached a final state or were terminated.");
  f_->events = counter("inputs_applied_total", "Log entries (events, timers) applied to sessions.");
  f_->duplicates = counter("duplicate_events_total", "Events dropped because their effect id was delivered before.");
  auto& act = prometheus::BuildCounter()
                  .Name(m->Name("session_activations_total"))
                  .Help("Sessions brought into memory from the store: after a crash/takeover (recovery) or deactivation.")
                  .Register(reg);
  f_->recoveries = &act.Add({{"kind", "recovery"}});
  f_->reactivations = &act.Add({{"kind", "reactivation"}});
  f_->deactivations = counter("session_deactivations_total", "Idle sessions snapshotted and dropped from memory.");
  f_->wake_failures = counter("wake_schedule_failures_total",
                              "Idle sessions with delayed sends kept in memory: their wake timer was not stored.");
  f_->max_age_failures = counter("max_age_schedule_failures_total",
                                 "Sessions started with a maximum age whose end could not be scheduled.");
  f_->fenced = counter("fenced_total", "Times this instance stopped serving because a newer primary exists.");
  f_->queueing = histogram("event_queue_seconds", "Time an input waits in its worker's queue.");
  f_->fetch = histogram("document_fetch_seconds", "Fetching and compiling a document for StartSession.");
  f_->append_ok = histogram("persistence_append_seconds", "Successful appends to a session's log.");
  f_->append_failed = counter("persistence_append_failures_total", "Appends that failed (nothing acknowledged).");
  f_->snapshot_seconds = histogram("snapshot_seconds", "Storing a snapshot.");
  f_->snapshot_bytes = counter("snapshot_bytes_total", "Bytes of snapshots stored.");
  f_->snapshot_failed = counter("snapshot_failures_total", "Snapshots that could not be stored.");
  f_->persistence_up = gauge("persistence_up", "0 while persistence-proxy/Redis cannot be reached (the persistence alarm).");
  f_->primary = gauge("lease_primary", "1 while this instance holds its node's lease (primary), else 0 (standby).");
  f_->epoch = gauge("lease_epoch", "The epoch of the node lease this instance holds or last held.");
  f_->recovery_seconds = gauge("recovery_pass_seconds", "Duration of the last proactive recovery pass after becoming primary.");
  f_->restarted = counter("sessions_restarted_total",
                          "Memory-only call sessions started again from their recorded events after a takeover.");
  f_->restart_failures = counter("session_restart_failures_total",
                                 "Call sessions that could not be restarted after a takeover (logged).");
  f_->restart_cycles = counter("restart_cycles_total", "Cycles of call-session restarts worked.");
  // How the restarts were paced, from the metrics alone: sessions per cycle
  // (session-processing-threads but the last), how long a cycle's restarts
  // took, and start-to-start periods (that time + session-restart-timeout).
  f_->restart_cycle_sessions =
      &prometheus::BuildHistogram()
           .Name(m->Name("restart_cycle_sessions"))
           .Help("Call sessions restarted together in one cycle.")
           .Register(reg)
           .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256});
  const prometheus::Histogram::BucketBoundaries cycle_buckets{0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07,
                                                               0.08, 0.1,  0.15, 0.2,  0.3,  0.5,  1,    2.5};
  f_->restart_cycle_work = &prometheus::BuildHistogram()
                                .Name(m->Name("restart_cycle_work_seconds"))
                                .Help("Time a cycle's restarts took, from its first start to its last answer.")
                                .Register(reg)
                                .Add({}, cycle_buckets);
  f_->restart_cycle_period = &prometheus::BuildHistogram()
                                  .Name(m->Name("restart_cycle_period_seconds"))
                                  .Help("From one cycle's start to the next's (its work + session-restart-timeout).")
                                  .Register(reg)
                                  .Add({}, cycle_buckets);
  f_->restart_backlog = gauge("restart_backlog", "Call sessions waiting to be restarted after a takeover.");
  f_->persistence_up->Set(1);
}

EngineMetrics::~EngineMetrics() = default;

void EngineMetrics::SessionsInMemory(int delta) {
  if (f_) f_->in_memory->Increment(delta);
}
void EngineMetrics::PendingCreations(int delta) {
  if (f_) f_->pending_creations->Increment(delta);
}
void EngineMetrics::SessionStarted(bool persistent, double seconds) {
  if (!f_) return;
  (persistent ? f_->started_persistent : f_->started_memory)->Increment();
  f_->creation_seconds->Observe(seconds);
}
void EngineMetrics::CountEnded() {
  if (f_) f_->ended->Increment();
}
void EngineMetrics::CountEvent() {
  if (f_) f_->events->Increment();
}
void EngineMetrics::CountDuplicate() {
  if (f_) f_->duplicates->Increment();
}
void EngineMetrics::CountActivation(bool recovery) {
  if (f_) (recovery ? f_->recoveries : f_->reactivations)->Increment();
}
void EngineMetrics::CountDeactivation() {
  if (f_) f_->deactivations->Increment();
}
void EngineMetrics::CountWakeFailure() {
  if (f_) f_->wake_failures->Increment();
}
void EngineMetrics::CountMaxAgeFailure() {
  if (f_) f_->max_age_failures->Increment();
}
void EngineMetrics::CountFenced() {
  if (f_) f_->fenced->Increment();
}
void EngineMetrics::ObserveQueueing(double seconds) {
  if (f_) f_->queueing->Observe(seconds);
}
void EngineMetrics::ObserveFetch(double seconds) {
  if (f_) f_->fetch->Observe(seconds);
}
void EngineMetrics::ObserveAppend(double seconds, bool ok) {
  if (!f_) return;
  if (ok) {
    f_->append_ok->Observe(seconds);
  } else {
    f_->append_failed->Increment();
  }
}
void EngineMetrics::ObserveSnapshot(double seconds, size_t bytes, bool ok) {
  if (!f_) return;
  if (!ok) {
    f_->snapshot_failed->Increment();
    return;
  }
  f_->snapshot_seconds->Observe(seconds);
  f_->snapshot_bytes->Increment(static_cast<double>(bytes));
}
void EngineMetrics::SetPersistenceUp(bool up) {
  if (f_) f_->persistence_up->Set(up ? 1 : 0);
}
void EngineMetrics::RecoveryDone(double seconds) {
  if (f_) f_->recovery_seconds->Set(seconds);
}
void EngineMetrics::SetEpoch(uint64_t epoch) {
  if (f_) f_->epoch->Set(static_cast<double>(epoch));
}
void EngineMetrics::CountSessionRestarted() {
  if (f_) f_->restarted->Increment();
}
void EngineMetrics::CountRestartFailure() {
  if (f_) f_->restart_failures->Increment();
}
void EngineMetrics::ObserveRestartCycle(size_t sessions, double work_seconds, double period_seconds) {
  if (!f_) return;
  f_->restart_cycles->Increment();
  f_->restart_cycle_sessions->Observe(static_cast<double>(sessions));
  f_->restart_cycle_work->Observe(work_seconds);
  if (period_seconds > 0) f_->restart_cycle_period->Observe(period_seconds);
}
void EngineMetrics::SetRestartBacklog(size_t calls) {
  if (f_) f_->restart_backlog->Set(static_cast<double>(calls));
}
void EngineMetrics::SetRole(bool primary) {
  if (f_) f_->primary->Set(primary ? 1 : 0);
}

}  // namespace orch::session_engine
