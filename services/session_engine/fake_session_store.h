#pragma once

// An in-memory SessionStore with persistence-proxy's rules — fencing by
// epoch, sequence gaps, idempotent identical retries, trimming after a
// snapshot, the node registry, document hashes, leases with epochs and TTLs
// — for unit tests of the engine's logic. session_store_conformance_fake_test
// runs the conformance suite (session_store_conformance.h) on it, the same
// suite tests/persistence runs on RemoteSessionStore against a real proxy
// and Redis, so where the two differ a test fails.
//
// Lease TTLs run on the injected clock (a SimulatedClock in tests that
// drive time; RealClock by default). Stored entries get `append_time` from
// its wall clock. Not modelled: the proxy's size limits and the TTLs of
// sessions and documents (30 days by default).
//
// Calls' records (call_records.h) are seeded as call-watcher would write
// them (ClaimCall, RecordCallEvent, DeleteCall); their TTLs are not modelled.
//
// Thread-safe. SetUnavailable(true) makes every call fail with UNAVAILABLE;
// SetCallsUnavailable(true) only the calls of CallRecords.

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/time/clock.h"
#include "services/session_engine/session_store.h"

namespace orch::session_engine {

class FakeSessionStore final : public SessionStore {
 public:
  // `clock` must outlive the store.
  explicit FakeSessionStore(time::Clock* clock = time::RealClock::Get()) : clock_(clock) {}

  absl::StatusOr<uint64_t> Append(const std::string& session_id, uint64_t epoch, int node,
                                  const std::string& document_sha256,
                                  const std::vector<orch::event::v1::LogEntry>& entries) override;
  // Answers at once, unless asynchronous appends are held (HoldAsyncAppends).
  void AppendAsync(const std::string& session_id, uint64_t epoch, int node, const std::string& document_sha256,
                   std::vector<orch::event::v1::LogEntry> entries, AppendDone done) override;
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
  absl::StatusOr<CallBinding> BindCall(const std::string& call_uuid, int node, const std::string& session_id) override;
  absl::StatusOr<std::vector<orch::persistence::v1::CallRecord>> ListNodeCalls(int node, std::string* cursor,
                                                                               uint32_t limit) override;
  absl::StatusOr<std::vector<orch::event::v1::Event>> ReadCallEvents(const std::string& call_uuid) override;

  void SetUnavailable(bool unavailable);
  void SetCallsUnavailable(bool unavailable);
  // call-watcher's side of the calls' records (persistence.proto's rules):
  // ClaimCall creates the record unless one exists (false then);
  // RecordCallEvent appends to its events (NOT_FOUND without a record);
  // DeleteCall removes both.
  bool ClaimCall(const orch::persistence::v1::CallRecord& record);
  absl::Status RecordCallEvent(const std::string& call_uuid, const orch::event::v1::Event& event);
  void DeleteCall(const std::string& call_uuid);
  absl::StatusOr<orch::persistence::v1::CallRecord> GetCall(const std::string& call_uuid);
  // While held, AppendAsync calls wait unanswered (and unwritten), as on a
  // slow proxy; un-holding appends and answers them, in order, on the
  // calling thread.
  void HoldAsyncAppends(bool hold);
  size_t HeldAsyncAppends();
  // Test inspection.
  size_t LogSize(const std::string& session_id);
  size_t Appends();
  bool HasSession(const std::string& session_id);
  // Makes the lease expire now (as if its holder stopped renewing).
  void ExpireLease(const std::string& name);
  // Stores `source` under `sha256` unchecked: what a corrupted (or
  // hand-edited) store would hold, which PutDocument refuses to write.
  void CorruptDocument(const std::string& sha256, const std::string& source);

 private:
  struct Session {
    int node = 0;
    uint64_t epoch = 0;
    uint64_t last = 0;
    std::string doc;
    std::string state;
    std::map<uint64_t, orch::event::v1::LogEntry> log;  // as stored: with epoch and append_time
    std::string snapshot;
    uint64_t snapshot_covers = 0;
  };
  struct Lease {
    std::string holder, endpoint;
    uint64_t epoch = 0;
    int64_t expires_ms = 0;  // clock_->MonotonicMs() at which it expires
  };
  struct HeldAppend {
    std::string session_id;
    uint64_t epoch;
    int node;
    std::string document_sha256;
    std::vector<orch::event::v1::LogEntry> entries;
    AppendDone done;
  };
  absl::Status Check() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CheckCalls() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The lease `name` if held (not expired), else nullptr.
  Lease* HeldLease(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  time::Clock* const clock_;
  absl::Mutex mu_;
  bool unavailable_ ABSL_GUARDED_BY(mu_) = false;
  size_t appends_ ABSL_GUARDED_BY(mu_) = 0;
  bool hold_async_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<HeldAppend> held_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Session> sessions_ ABSL_GUARDED_BY(mu_);
  std::map<int, std::set<std::string>> registry_ ABSL_GUARDED_BY(mu_);  // node -> session ids
  std::map<std::string, std::string> documents_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Lease> leases_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> lease_epochs_ ABSL_GUARDED_BY(mu_);  // outlive their leases
  struct Call {
    orch::persistence::v1::CallRecord record;
    std::vector<orch::event::v1::Event> events;
  };
  bool calls_unavailable_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, Call> calls_ ABSL_GUARDED_BY(mu_);
  std::map<int, std::set<std::string>> node_calls_ ABSL_GUARDED_BY(mu_);  // node -> bound call_uuids
};

}  // namespace orch::session_engine
