#pragma once

// WatchSession streams. A Watcher is one stream's bounded queue: the
// session's worker pushes an update per applied entry, the gRPC thread
// takes them. A WatchHub holds the watchers of the sessions of ONE worker
// and builds their updates after each applied entry; it is used only on
// that worker's thread (no lock).
//
// Bounds: at most kMaxWatchers per session (RESOURCE_EXHAUSTED beyond), at
// most kMaxBuffered updates waiting per watcher (beyond: dropped, and the
// next update delivered says how many in `missed`).

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/time/clock.h"
#include "orch/event/v1/event.pb.h"
#include "orch/session/v1/sessions.pb.h"
#include "services/session_engine/live_session.h"

namespace orch::session_engine {

class Watcher {
 public:
  static constexpr size_t kMaxBuffered = 256;

  // Worker side. `close`: the last update (the session ended).
  void Push(session::v1::WatchSessionResponse update, bool close);
  // Worker side: the session left memory without ending (deactivated,
  // evicted, dropped): the stream ends after what is queued.
  void CloseStream();
  // gRPC side: waits until updates are queued, the stream is closed or the
  // deadline (monotonic ms on `clock`) passes; moves the queued updates to
  // `out`. Returns true when closed (after the queued updates).
  bool Take(time::Clock* clock, int64_t deadline_ms, std::deque<session::v1::WatchSessionResponse>* out);
  // The client went away: the hub forgets this watcher at its next update.
  void Abandon() { abandoned_ = true; }
  bool abandoned() const { return abandoned_.load(); }

 private:
  absl::Mutex mu_;
  absl::CondVar cv_;
  std::deque<session::v1::WatchSessionResponse> updates_ ABSL_GUARDED_BY(mu_);
  uint64_t missed_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> abandoned_{false};
};

class WatchHub {
 public:
  static constexpr size_t kMaxWatchers = 16;

  // Watches `session` (which then keeps its <log> lines for the updates).
  absl::Status Add(LiveSession& session, std::shared_ptr<Watcher> watcher);
  // After `entry` was applied to `session`: an update to each watcher.
  void Publish(LiveSession& session, const event::v1::LogEntry& entry);
  // The session left memory: watchers of an ended session get a last
  // `finished` update; otherwise their streams end (CloseStream).
  void Close(const std::string& session_id, bool finished);

 private:
  absl::flat_hash_map<std::string, std::vector<std::shared_ptr<Watcher>>> watchers_;
};

}  // namespace orch::session_engine
