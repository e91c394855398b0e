#pragma once

// Makes a session's next input durable: stamps the entry (seq = last + 1,
// append_time = now but never before the previous entry's, the lease's
// epoch), appends it for a persistent session, and on success advances the
// entry's last seq and time. In-memory sessions are only stamped.
//
// Failures, by the store's code:
//   ABORTED      a newer epoch wrote the session: this instance is fenced
//                (NodeLease::Fence) and the caller gets the lease's
//                UNAVAILABLE naming the primary — except for the first entry
//                of a keyed start, where it means "that key exists with other
//                parameters" (ALREADY_EXISTS);
//   anything else the outcome is unknown (a timed-out append may still land):
//                the session is evicted from memory, so it is re-read from its
//                log next time and runs exactly what the log holds; the caller
//                gets UNAVAILABLE (retry with the same effect id is safe).
//
// Thread-safe; REQUIRES the entry's `mu` (one append per session at a time).

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "common/time/clock.h"
#include "orch/event/v1/event.pb.h"
#include "services/session_engine/node_lease.h"
#include "services/session_engine/session_registry.h"
#include "services/session_engine/session_log.h"

namespace orch::session_engine {

class SessionWriter {
 public:
  using Evict = std::function<void(const std::shared_ptr<SessionEntry>&)>;

  // `store`, `lease` and `clock` must outlive the writer.
  SessionWriter(SessionLog* store, NodeLease* lease, time::Clock* clock, int node_id, Evict evict)
      : store_(store), lease_(lease), clock_(clock), node_id_(node_id), evict_(std::move(evict)) {}

  // Stamps and appends `*entry`. Returns its seq.
  absl::StatusOr<uint64_t> Write(const std::shared_ptr<SessionEntry>& session, event::v1::LogEntry* entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(session->mu);
  // The `started` entry of a new session (seq 1). `keyed`: started with an
  // idempotency key. On failure nothing of the session is left in the
  // store (best effort) and the caller removes the entry.
  absl::StatusOr<uint64_t> WriteFirst(const std::shared_ptr<SessionEntry>& session, event::v1::LogEntry* entry,
                                      bool keyed) ABSL_EXCLUSIVE_LOCKS_REQUIRED(session->mu);

  // Write of an input without holding the lock across the append, in
  // steps: BeginAsync (lock held) stamps `*entry`, checks the lease and
  // marks the session writing; the caller lets go of the lock and appends
  // (SessionLog::AppendAsync); with the answer, EndAsync (lock held again)
  // clears the mark and means the answer as Write does. Persistent
  // sessions only; REQUIRES no append in flight (!session.writing).
  absl::Status BeginAsync(SessionEntry& session, event::v1::LogEntry* entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(session.mu);
  absl::StatusOr<uint64_t> EndAsync(const std::shared_ptr<SessionEntry>& session, const event::v1::LogEntry& entry,
                                    const absl::Status& appended) ABSL_EXCLUSIVE_LOCKS_REQUIRED(session->mu);

 private:
  // What the first entry's failures mean depends on what is written.
  enum class Kind { kInput, kStart, kKeyedStart };
  absl::StatusOr<uint64_t> WriteEntry(const std::shared_ptr<SessionEntry>& session, event::v1::LogEntry* entry,
                                      Kind kind) ABSL_EXCLUSIVE_LOCKS_REQUIRED(session->mu);
  void Stamp(SessionEntry& session, event::v1::LogEntry* entry) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(session.mu);
  // What the append's answer means for the session (see the class comment).
  absl::StatusOr<uint64_t> Finish(const std::shared_ptr<SessionEntry>& session, const event::v1::LogEntry& entry,
                                  Kind kind, const absl::Status& appended) ABSL_EXCLUSIVE_LOCKS_REQUIRED(session->mu);

  SessionLog* const store_;
  NodeLease* const lease_;
  time::Clock* const clock_;
  const int node_id_;
  const Evict evict_;
};

}  // namespace orch::session_engine
