#pragma once

// session-engine's Prometheus metrics (names in README.md), covering the
// seeds' performance counters: sessions in memory, pending creations,
// creation time and rate, event queuing time, fetch time, persistence
// latency, recoveries, deactivations, the lease. Without a MetricsServer
// every call is a no-op (unit tests).
//
// Thread-safe.

#include <cstddef>
#include <cstdint>
#include <memory>

namespace orch::metrics {
class MetricsServer;
}

namespace orch::session_engine {

class EngineMetrics {
 public:
  explicit EngineMetrics(metrics::MetricsServer* server);
  ~EngineMetrics();

  void SessionsInMemory(int delta);
  void PendingCreations(int delta);
  void SessionStarted(bool persistent, double seconds);
  void CountEnded();
  void CountEvent();
  void CountDuplicate();
  void CountActivation(bool recovery);   // recovery: after a crash or takeover
  void CountDeactivation();
  void CountWakeFailure();
  void CountMaxAgeFailure();
  void CountFenced();
  void ObserveQueueing(double seconds);
  void ObserveFetch(double seconds);
  void ObserveAppend(double seconds, bool ok);
  void ObserveSnapshot(double seconds, size_t bytes, bool ok);
  void SetPersistenceUp(bool up);
  void SetRole(bool primary);
  void SetEpoch(uint64_t epoch);
  void RecoveryDone(double seconds);
  // Restart without persistence (CallRestarter).
  void CountSessionRestarted();
  void CountRestartFailure();
  // One cycle of restarts: its size, how long its restarts took, and the time
  // since the previous cycle of the same backlog began (0 for the first).
  void ObserveRestartCycle(size_t sessions, double work_seconds, double period_seconds);
  void SetRestartBacklog(size_t calls);

 private:
  struct Families;
  std::unique_ptr<Families> f_;
};

}  // namespace orch::session_engine
