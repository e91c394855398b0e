#pragma once

// After a takeover, starts again the node's call sessions that ran without
// persistence and were lost with the old primary (restart without
// persistence: docs/design/call-watcher.md, the calls' contract D4).
//
// A pass, on the restarter's own thread (never a gRPC thread):
//   1. Loads the restart backlog: pages through the node's calls
//      (CallRecords::ListNodeCalls; retried every 500 ms while the store
//      does not answer; UNIMPLEMENTED, a proxy without call records, is an
//      empty list) and keeps every record with restart_on_switchover
//      whose owner is this node and whose session is not in memory. Until
//      the backlog is loaded the instance does not answer as primary:
//      Check() refuses every session id, and `loaded` is told once it is.
//   2. Works it in cycles: `per_cycle` restarts (session-processing-threads)
//      at once, one thread each, then a pause of `cycle_ms`
//      (session-restart-timeout) after each cycle ends. Each restart is
//      `restart(record, epoch)` (called concurrently); a call leaves the
//      backlog when it returns OK (restarted), NOT_FOUND (the call ended
//      meanwhile: its record is gone; not a failure) or another error
//      (logged naming the call, counted as a failure). UNAVAILABLE is
//      retried in a later cycle, up to 3 attempts.
// While a session id is in the backlog Check() answers UNAVAILABLE "session
// <id> is being restarted" (call-watcher buffers the call's events and
// retries its start).
//
// Reset() (deposed) closes the gate and ends the pass without waiting for
// it; Stop() also waits. A pass also ends when `still_current()` is false,
// leaving the gate as it is: the caller then resets or starts another pass
// (a lease re-acquired with a new epoch lists again what is left).
//
// Metrics (EngineMetrics): sessions restarted, restart failures, cycles, the
// backlog's size.
//
// Thread-safe.

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/time/clock.h"
#include "orch/persistence/v1/persistence.pb.h"
#include "services/session_engine/call_records.h"
#include "services/session_engine/engine_metrics.h"

namespace orch::session_engine {

class CallRestarter {
 public:
  struct Options {
    int node_id = 1;
    size_t per_cycle = 8;      // restarts per cycle
    uint32_t cycle_ms = 50;    // pause after each cycle
    uint32_t page = 1000;      // ListNodeCalls page size
  };
  // Restarts one call's session (record.session_id); `epoch` is the lease's
  // for this pass. Returns once the session is in memory, its replay queued.
  using Restart = std::function<absl::Status(const orch::persistence::v1::CallRecord& record, uint64_t epoch)>;
  using InMemory = std::function<bool(const std::string& session_id)>;

  // Every pointer must outlive this; `metrics` may not be null (a no-op
  // EngineMetrics is fine).
  CallRestarter(Options options, CallRecords* store, time::Clock* clock, EngineMetrics* metrics, InMemory in_memory,
                Restart restart);
  ~CallRestarter();

  // Starts a pass for `epoch` (ending the previous one first). `loaded` runs
  // on the restarter's thread once the backlog is loaded.
  void Start(uint64_t epoch, std::function<bool()> still_current, std::function<void()> loaded);
  // Closes the gate (nothing is served until a pass has loaded its backlog)
  // and ends the pass in progress without waiting for it. Any thread.
  void Reset();
  // Reset, and waits for the pass to end.
  void Stop();

  // UNAVAILABLE while the backlog is loading or `session_id` is in it.
  absl::Status Check(const std::string& session_id) const;
  bool loaded() const;
  size_t backlog() const;
  // Cycles worked so far (all passes).
  uint64_t cycles() const;
  // The pause after each cycle, for the pauses that begin from now on
  // (SIGHUP's session-restart-timeout). Any thread.
  void SetCycleMs(uint32_t ms) { cycle_ms_.store(ms, std::memory_order_relaxed); }

 private:
  struct Item {
    orch::persistence::v1::CallRecord record;
    int attempts = 0;
  };
  void Run(uint64_t pass, uint64_t epoch, const std::function<bool()>& still_current,
           const std::function<void()>& loaded);
  // Lists the backlog (false: the pass ended first).
  bool Load(uint64_t pass, const std::function<bool()>& still_current, std::deque<Item>* todo);
  // Waits until `deadline_ms` unless the pass ends; false when it ended.
  bool WaitUntil(uint64_t pass, int64_t deadline_ms);
  bool Current(uint64_t pass) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return pass == pass_; }
  // The call leaves the backlog.
  void Done(uint64_t pass, const std::string& session_id);

  const Options options_;
  std::atomic<uint32_t> cycle_ms_;
  CallRecords* const store_;
  time::Clock* const clock_;
  EngineMetrics* const metrics_;
  const InMemory in_memory_;
  const Restart restart_;

  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  uint64_t pass_ ABSL_GUARDED_BY(mu_) = 0;  // incremented by Start and Reset: older passes end
  bool loading_ ABSL_GUARDED_BY(mu_) = true;
  absl::flat_hash_set<std::string> backlog_ ABSL_GUARDED_BY(mu_);  // session ids
  uint64_t cycles_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;  // Start and Stop only (the lease thread, then Stop)
};

}  // namespace orch::session_engine
