#include "services/session_engine/grpc_peer_sessions.h"

#include "absl/strings/str_cat.h"
#include "common/grpc/status.h"
#include "grpcpp/grpcpp.h"

namespace orch::session_engine {

std::shared_ptr<session::v1::Sessions::Stub> GrpcPeerSessions::StubFor(const std::string& endpoint) {
  absl::MutexLock l(&mu_);
  auto it = stubs_.find(endpoint);
  if (it != stubs_.end()) return it->second;
  // Primaries come and go: a bounded cache, emptied when full.
  if (stubs_.size() >= kMaxStubs) stubs_.clear();
  auto stub = std::shared_ptr<session::v1::Sessions::Stub>(
      session::v1::Sessions::NewStub(grpc_util::MakeChannel(endpoint, channel_)));
  stubs_.emplace(endpoint, stub);
  return stub;
}

void GrpcPeerSessions::SendEvent(int node, session::v1::SendEventRequest request,
                                 std::function<void(absl::Status)> done) {
  auto lease = store_->GetLease(absl::StrCat("node:", node));
  if (lease.status().code() == absl::StatusCode::kNotFound || (lease.ok() && lease->holder.empty())) {
    done(absl::UnavailableError(absl::StrCat("node ", node, " has no primary")));
    return;
  }
  if (!lease.ok()) {
    done(absl::UnavailableError(absl::StrCat("cannot read the lease of node ", node, ": ", lease.status().message())));
    return;
  }
  auto stub = StubFor(lease->endpoint);
  session::v1::SendEventResponse resp;
  ::grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(deadline_));
  done(grpc_util::FromGrpcStatus(stub->SendEvent(&ctx, request, &resp)));
}

}  // namespace orch::session_engine
