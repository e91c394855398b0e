#pragma once

// After a takeover, restores the node's sessions that were in memory on the
// previous primary without waiting for their next event. It pages through
// the node's registry (ListNodeSessions with each session's state, one
// round trip per page), skips deactivated, gone and already-active ones, and
// activates the rest in batches of `batch` (one thread each),
// `pause_ms` apart. An activation that fails for a while (UNAVAILABLE,
// DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED: the store or the worker is busy) is
// tried again after the listing, up to kAttempts times in all: a session
// whose only pending work is a delayed send has no next event to wake it.
// NOT_FOUND is a session that ended meanwhile. A pass stops as soon as
// `still_current()` is false (the role changed) or Stop() is called.
//
// Thread-safe. One pass runs at a time, on the recovery's own thread.

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/time/clock.h"
#include "services/session_engine/session_registry.h"
#include "services/session_engine/session_log.h"

namespace orch::session_engine {

// The session meta's state while a session is deactivated (only in the
// store): recovery skips such sessions.
inline constexpr char kStateDeactivated[] = "deactivated";
inline constexpr char kStateActive[] = "active";

class ProactiveRecovery {
 public:
  struct Options {
    int node_id = 1;
    size_t batch = 4;          // sessions activated at once
    uint32_t pause_ms = 100;   // between batches
    uint32_t page = 1000;      // registry page size
  };
  // Activates one session: true when this call restored it, false when it
  // was in memory already (another event activated it first), or why not.
  using Activate = std::function<absl::StatusOr<bool>(const std::string& session_id)>;
  static constexpr int kAttempts = 3;

  // Every pointer must outlive this.
  ProactiveRecovery(Options options, SessionLog* store, SessionRegistry* registry, time::Clock* clock,
                    Activate activate, std::function<void(double seconds)> on_done);
  ~ProactiveRecovery();

  // Starts a pass (after the previous one has stopped).
  void Start(std::function<bool()> still_current);
  // Stops the pass in progress and waits for it.
  void Stop();
  // The pause between batches from the next one on. Any thread.
  void SetPauseMs(uint32_t ms) { pause_ms_.store(ms, std::memory_order_relaxed); }

 private:
  void Run(const std::function<bool()>& still_current);
  // Waits up to `ms` unless stopped; false when stopped.
  bool Pause(int64_t ms);
  struct Tally {
    size_t restored = 0, already = 0, ended = 0, failed = 0;
  };
  // Activates `ids` in batches; the retryable failures go to `retry`.
  // False when the pass was stopped.
  bool ActivateAll(const std::vector<std::string>& ids, const std::function<bool()>& stopped, Tally* tally,
                std::vector<std::string>* retry);

  const Options options_;
  std::atomic<uint32_t> pause_ms_;
  SessionLog* const store_;
  SessionRegistry* const registry_;
  time::Clock* const clock_;
  const Activate activate_;
  const std::function<void(double)> on_done_;
  absl::Mutex mu_;
  absl::CondVar cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace orch::session_engine
