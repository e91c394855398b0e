#pragma once

// PeerSessions over gRPC: node N's primary is read from its lease through
// the store, then SendEvent is called on it with the channel options
// (TLS and mutual TLS when configured) and a deadline. The peer's status
// codes are passed through; only a failure to reach it is UNAVAILABLE.
// Blocking: runs on the send router's sends thread.
//
// Thread-safe.

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/grpc/channel.h"
#include "orch/session/v1/sessions.grpc.pb.h"
#include "services/session_engine/send_router.h"
#include "services/session_engine/lease_store.h"

namespace orch::session_engine {

class GrpcPeerSessions final : public PeerSessions {
 public:
  static constexpr size_t kMaxStubs = 64;

  // `store` must outlive this.
  GrpcPeerSessions(LeaseStore* store, grpc_util::ChannelOptions channel, absl::Duration deadline)
      : store_(store), channel_(std::move(channel)), deadline_(deadline) {}

  void SendEvent(int node, session::v1::SendEventRequest request, std::function<void(absl::Status)> done) override;

 private:
  std::shared_ptr<session::v1::Sessions::Stub> StubFor(const std::string& endpoint);

  LeaseStore* const store_;
  const grpc_util::ChannelOptions channel_;
  const absl::Duration deadline_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<session::v1::Sessions::Stub>> stubs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace orch::session_engine
