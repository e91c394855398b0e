#pragma once

// What session-engine needs from persistence-proxy, behind an interface
// (RemoteSessionStore speaks gRPC to the proxy). Calls block the calling
// thread for at most the store's request timeout; errors are the proxy's
// codes: UNAVAILABLE (Redis or the proxy unreachable: nothing was written),
// ABORTED (fenced by a newer epoch, or a sequence conflict), NOT_FOUND.
//
// Thread-safe.

#include <cstdint>
#include <string>
#include <vector>

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
  std::vector<orch::event::v1::LogEntry> entries;  // seq > snapshot_covers_seq
};

struct LeaseState {
  bool acquired = false;
  uint64_t epoch = 0;
  std::string holder;    // the current holder (when not acquired)
  std::string endpoint;
  uint32_t remaining_ms = 0;
};

class SessionStore {
 public:
  virtual ~SessionStore() = default;

  // Appends consecutive entries (seqs set by the caller). Returns the last seq.
  virtual absl::StatusOr<uint64_t> Append(const std::string& session_id, uint64_t epoch, int node,
                                          const std::string& document_sha256,
                                          const std::vector<orch::event::v1::LogEntry>& entries) = 0;
  // Stores a snapshot covering entries up to `covers_seq`, then trims them.
  virtual absl::Status PutSnapshot(const std::string& session_id, uint64_t epoch, uint64_t covers_seq,
                                   const std::string& bytes) = 0;
  // Snapshot plus the entries after it. NOT_FOUND for an unknown session.
  virtual absl::StatusOr<LoadedSession> Load(const std::string& session_id) = 0;
  virtual absl::Status Delete(const std::string& session_id, uint64_t epoch) = 0;
  virtual absl::Status SetState(const std::string& session_id, uint64_t epoch, const std::string& state) = 0;
  // One page of a node's registered sessions; `*cursor` "0" when done. With
  // `states`, also each one's SetState value ("" if never set, "<gone>" if
  // deleted meanwhile), read in the same round trip.
  virtual absl::StatusOr<std::vector<std::string>> ListNodeSessions(int node, std::string* cursor,
                                                                    uint32_t page_size,
                                                                    std::vector<std::string>* states = nullptr) = 0;

  virtual absl::Status PutDocument(const std::string& sha256, const std::string& source) = 0;
  virtual absl::StatusOr<std::string> GetDocument(const std::string& sha256) = 0;

  virtual absl::StatusOr<LeaseState> AcquireLease(const std::string& name, const std::string& holder,
                                                  const std::string& endpoint, uint32_t ttl_ms) = 0;
  // ABORTED when the lease is no longer ours (expired and taken, or released).
  virtual absl::Status RenewLease(const std::string& name, const std::string& holder, uint64_t epoch,
                                  uint32_t ttl_ms) = 0;
  virtual absl::Status ReleaseLease(const std::string& name, const std::string& holder, uint64_t epoch) = 0;
  // The current holder; holder empty when the lease is free.
  virtual absl::StatusOr<LeaseState> GetLease(const std::string& name) = 0;
};

}  // namespace orch::session_engine
