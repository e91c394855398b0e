#pragma once

// GrpcCallStore: CallStore (call_store.h) over gRPC to persistence-proxy
// (the ClaimCall .. ReleaseTarget and RecordCallEvent RPCs of
// orch.persistence.v1.Persistence);
// the TTLs run on Redis's clock. tests/persistence/call_store_conformance_test.cc
// holds it to the same rules as FakeCallStore against a real proxy and Redis.
//
// Every call has a deadline (`request_timeout`). The proxy's status codes
// pass through, its message prefixed with the operation; a proxy not reached
// or not answering in time (UNAVAILABLE, DEADLINE_EXCEEDED) is UNAVAILABLE.
// TTLs are checked here (the wire's ttl_ms = 0 would mean the proxy's
// default); the keys are checked by the proxy, whose INVALID_ARGUMENT names
// the field. Thread-safe: the channel is shared by all threads.

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "common/grpc/channel.h"
#include "services/call_watcher/call_store.h"

namespace orch::persistence::v1 {
class Persistence;
}

namespace orch::call_watcher {

class GrpcCallStore final : public CallStore {
 public:
  // `target`: the proxy's "host:port" (connects lazily).
  GrpcCallStore(const std::string& target, const grpc_util::ChannelOptions& options,
                absl::Duration request_timeout);
  ~GrpcCallStore() override;

  absl::StatusOr<ClaimResult> ClaimCall(const CallRecord& record, absl::Duration ttl) override;
  absl::StatusOr<CallRecord> GetCall(absl::string_view call_uuid) override;
  absl::StatusOr<bool> DeleteCall(absl::string_view call_uuid) override;
  absl::StatusOr<uint64_t> RecordCallEvent(absl::string_view call_uuid,
                                           const ::orch::event::v1::Event& event) override;
  absl::StatusOr<std::string> ReserveTarget(absl::string_view target, absl::string_view holder,
                                            absl::Duration ttl) override;
  absl::StatusOr<bool> ReleaseTarget(absl::string_view target, absl::string_view holder) override;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace orch::call_watcher
