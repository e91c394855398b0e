#pragma once

// SessionLog: a session's durable state as session-engine keeps it in
// persistence-proxy. Per session: an append-only log of LogEntry (seq 1, 2,
// ...), the latest snapshot (which trims the entries it covers), a free-text
// state, its node and document; per node: a registry of its sessions.
// Implementations: RemoteSessionStore (gRPC to the proxy, which keeps it in
// Redis) and FakeSessionStore (in memory); session_store_conformance.h checks
// both against the same rules.
//
// Fencing: every write carries the writer's epoch (its node lease's,
// lease_store.h). A write whose epoch is older than the highest the session
// has seen is refused with ABORTED ("fenced: ..."); a write with a newer
// epoch succeeds and raises it, fencing the older writer from then on.
//
// Errors of every call:
//   INVALID_ARGUMENT  malformed input (an empty id or one with '{', '}',
//                     spaces or control bytes; see each call)
//   UNAVAILABLE       the store was not reached or did not answer in time:
//                     a write may or may not have happened. Retrying the
//                     identical call is safe.
// A call refused with any other error wrote nothing (but for the registry
// entry of a refused append at seq 1: see ListNodeSessions).
//
// Calls block the calling thread (at most the implementation's request
// timeout). Thread-safe.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "orch/event/v1/event.pb.h"

namespace orch::session_engine {

struct LoadedSession {
  std::string snapshot;          // empty when none was stored
  uint64_t snapshot_covers_seq = 0;
  uint64_t last_seq = 0;         // the session's last appended seq
  uint64_t epoch = 0;            // highest writer epoch the session has seen
  std::string document_sha256;
  std::string state;             // SetState's last value ("" when never set)
  std::vector<orch::event::v1::LogEntry> entries;  // seq > snapshot_covers_seq, in order
};

class SessionLog {
 public:
  // ListNodeSessions' state of a listed id under which no session exists.
  static constexpr char kGone[] = "<gone>";

  virtual ~SessionLog() = default;

  // Appends `entries` (seqs consecutive, set by the caller; each entry's
  // epoch 0 or `epoch`; each with an event, started or terminated). The
  // stored entries carry `epoch`, and `append_time` when unset is stamped
  // with the store's clock. An append whose first seq is 1 creates the
  // session, of `node` and document `document_sha256` (later appends ignore
  // both). Returns the session's last seq.
  //
  // Idempotent: entries already stored under their seqs with the same
  // content (append_time aside) and epoch are skipped, so an identical retry
  // after an unknown outcome answers the session's last seq and stores
  // nothing twice; new entries after them are appended.
  //   NOT_FOUND         unknown session and the first seq is not 1
  //   ABORTED           fenced; the first new seq is not last + 1 (a gap); a
  //                     seq already stored with other content or another
  //                     epoch, or already covered by a snapshot
  //   INVALID_ARGUMENT  no entries, seq 0, seqs not consecutive, an entry's
  //                     epoch not `epoch`, an entry without a kind
  virtual absl::StatusOr<uint64_t> Append(const std::string& session_id, uint64_t epoch, int node,
                                          const std::string& document_sha256,
                                          const std::vector<orch::event::v1::LogEntry>& entries) = 0;

  // Append without waiting for the answer: `done` gets what Append would
  // have returned, on one of the store's threads, or on the calling thread
  // when the answer is known at once (as in this default, which waits).
  // `done` must not wait for anything.
  using AppendDone = std::function<void(absl::StatusOr<uint64_t>)>;
  virtual void AppendAsync(const std::string& session_id, uint64_t epoch, int node, const std::string& document_sha256,
                           std::vector<orch::event::v1::LogEntry> entries, AppendDone done) {
    done(Append(session_id, epoch, node, document_sha256, entries));
  }

  // Stores `bytes` as the snapshot covering seqs up to `covers_seq`, replacing
  // the stored one, then trims the entries it covers (in that order: a
  // failure never loses an entry that no snapshot covers).
  //   NOT_FOUND, ABORTED (fenced)
  //   FAILED_PRECONDITION  covers_seq beyond the last seq, or below the
  //                        stored snapshot's (equal replaces it)
  virtual absl::Status PutSnapshot(const std::string& session_id, uint64_t epoch, uint64_t covers_seq,
                                   const std::string& bytes) = 0;

  // The session: its snapshot and every entry after it.
  //   NOT_FOUND
  virtual absl::StatusOr<LoadedSession> Load(const std::string& session_id) = 0;

  // Deletes the session and its registry entry; an append at seq 1 then
  // creates a new session under the id.
  //   NOT_FOUND, ABORTED (fenced)
  virtual absl::Status Delete(const std::string& session_id, uint64_t epoch) = 0;

  // Sets the session's state (free text, at most 200 bytes), read back by
  // Load and ListNodeSessions.
  //   NOT_FOUND, ABORTED (fenced), INVALID_ARGUMENT (too long)
  virtual absl::Status SetState(const std::string& session_id, uint64_t epoch, const std::string& state) = 0;

  // One page of the node's registry. `*cursor`: "" or "0" to start, then
  // what the previous page left there; "0" once the listing is complete.
  // `page_size` is a hint (0: 100): a page may hold more or fewer ids, even
  // none before the end. A complete listing holds every session created
  // with `node` and not deleted, at least once.
  //
  // An append whose first seq is 1 registers the id with its node before
  // the append is checked, so the registry may also hold ids under which no
  // session exists (or one of another node). With `states`, each listed
  // id's SetState value, in the same order, read in the same round trip:
  // "" if never set, kGone when no session exists under the id.
  //   INVALID_ARGUMENT  a cursor that is not a number
  virtual absl::StatusOr<std::vector<std::string>> ListNodeSessions(int node, std::string* cursor,
                                                                    uint32_t page_size,
                                                                    std::vector<std::string>* states = nullptr) = 0;
};

}  // namespace orch::session_engine
