#pragma once

// An in-memory SessionStore with persistence-proxy's rules (sequence gaps,
// idempotent identical retries, fencing by epoch, trim after snapshot,
// leases with epochs and expiry), for unit tests of the engine's logic. The
// real store is tested against real Redis in tests/persistence; the engine
// against the real proxy in tests/session and tests/fault.
//
// Thread-safe. `SetUnavailable(true)` makes every call fail with UNAVAILABLE.

#include <map>
#include <mutex>
#include <set>

#include "absl/time/clock.h"
#include "services/session_engine/session_store.h"

namespace orch::session_engine {

class FakeSessionStore final : public SessionStore {
 public:
  absl::StatusOr<uint64_t> Append(const std::string& session_id, uint64_t epoch, int node,
                                  const std::string& document_sha256,
                                  const std::vector<orch::event::v1::LogEntry>& entries) override;
  absl::Status PutSnapshot(const std::string& session_id, uint64_t epoch, uint64_t covers_seq,
                           const std::string& bytes) override;
  absl::StatusOr<LoadedSession> Load(const std::string& session_id) override;
  absl::Status Delete(const std::string& session_id, uint64_t epoch) override;
  absl::Status SetState(const std::string& session_id, uint64_t epoch, const std::string& state) override;
  absl::StatusOr<std::vector<std::string>> ListNodeSessions(int node, std::string* cursor, uint32_t page_size,
                                                            std::vector<std::string>* states) override;
  absl::Status PutDocument(const std::string& sha256, const std::string& source) override;
  absl::StatusOr<std::string> GetDocument(const std::string& sha256) override;
  absl::StatusOr<LeaseState> AcquireLease(const std::string& name, const std::string& holder,
                                          const std::string& endpoint, uint32_t ttl_ms) override;
  absl::Status RenewLease(const std::string& name, const std::string& holder, uint64_t epoch,
                          uint32_t ttl_ms) override;
  absl::Status ReleaseLease(const std::string& name, const std::string& holder, uint64_t epoch) override;
  absl::StatusOr<LeaseState> GetLease(const std::string& name) override;

  void SetUnavailable(bool unavailable);
  // Test inspection.
  size_t LogSize(const std::string& session_id);
  size_t Appends();
  bool HasSession(const std::string& session_id);
  // Makes the lease expire now (as if its holder stopped renewing).
  void ExpireLease(const std::string& name);

 private:
  struct Session {
    int node = 0;
    uint64_t epoch = 0;
    uint64_t last = 0;
    std::string doc;
    std::string state;
    std::map<uint64_t, orch::event::v1::LogEntry> log;
    std::string snapshot;
    uint64_t snapshot_covers = 0;
  };
  struct Lease {
    std::string holder, endpoint;
    uint64_t epoch = 0;
    absl::Time expires;
  };
  absl::Status Check();

  std::mutex mu_;
  bool unavailable_ = false;
  size_t appends_ = 0;
  std::map<std::string, Session> sessions_;
  std::map<std::string, std::string> documents_;
  std::map<std::string, Lease> leases_;
  std::map<std::string, uint64_t> lease_epochs_;
};

}  // namespace orch::session_engine
