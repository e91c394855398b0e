#pragma once

// SessionStore over gRPC to persistence-proxy (proto/orch/persistence/v1):
// the contracts of session_log.h, document_store.h and lease_store.h, which
// tests/persistence/session_store_conformance_test.cc checks against a real
// proxy and Redis, and of call_records.h (one RPC each: BindCall,
// ListNodeCalls, ReadCallEvents). The proxy's status codes pass through
// unchanged. Every
// call has a deadline (`request_timeout`); a call that cannot reach the proxy
// in time returns UNAVAILABLE. The channel is shared by all threads.

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "common/grpc/channel.h"
#include "services/session_engine/session_store.h"

namespace orch::persistence::v1 {
class Persistence;
}

namespace orch::session_engine {

class RemoteSessionStore final : public SessionStore {
 public:
  // `append_stream`: appends go over one AppendEventsBatchStream (batched
  // with other sessions' appends, append_stream.h) instead of unary calls.
  RemoteSessionStore(const std::string& target, const grpc_util::ChannelOptions& options,
                     absl::Duration request_timeout, bool append_stream = true);
  ~RemoteSessionStore() override;

  absl::StatusOr<uint64_t> Append(const std::string& session_id, uint64_t epoch, int node,
                                  const std::string& document_sha256,
                                  const std::vector<orch::event::v1::LogEntry>& entries) override;
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

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace orch::session_engine
