#pragma once

// A SessionStore decorator that records what the store does for the
// engine's metrics: append and snapshot latency, snapshot bytes, failures,
// and persistence_up (the alarm: down while calls fail UNAVAILABLE, up as
// soon as the store answers anything, even a refusal).
//
// Thread-safe (as the store it wraps).

#include "services/session_engine/engine_metrics.h"
#include "services/session_engine/session_store.h"
#include "common/time/clock.h"

namespace orch::session_engine {

class MeteredSessionStore final : public SessionStore {
 public:
  // `store`, `metrics` and `clock` must outlive this.
  MeteredSessionStore(SessionStore* store, EngineMetrics* metrics, time::Clock* clock)
      : store_(store), metrics_(metrics), clock_(clock) {}

  absl::StatusOr<uint64_t> Append(const std::string& session_id, uint64_t epoch, int node,
                                  const std::string& document_sha256,
                                  const std::vector<event::v1::LogEntry>& entries) override;
  void AppendAsync(const std::string& session_id, uint64_t epoch, int node, const std::string& document_sha256,
                   std::vector<event::v1::LogEntry> entries, AppendDone done) override;
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

 private:
  // persistence_up from the outcome of a call; returns it unchanged.
  const absl::Status& Saw(const absl::Status& s);

  SessionStore* const store_;
  EngineMetrics* const metrics_;
  time::Clock* const clock_;
};

}  // namespace orch::session_engine
