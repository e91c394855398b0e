#include "services/session_engine/grpc_peer_sessions.h"

#include "common/base/status_macros.h"

namespace orch::session_engine {

absl::StatusOr<std::unique_ptr<GrpcPeerSessions>> GrpcPeerSessions::Create(Options options, time::Clock* clock) {
  std::unique_ptr<GrpcPeerSessions> self(new GrpcPeerSessions());
  self->reader_ = std::make_unique<sessionapi::GrpcLeaseReader>(
      grpc_util::MakeChannel(options.proxy_endpoint, options.proxy_channel));
  ASSIGN_OR_RETURN(self->directory_, sessionapi::NodeDirectory::Create(self->reader_.get(), clock, {}));
  sessionapi::SessionsClientOptions client;
  client.channel = options.peer_channel;
  client.connections_per_endpoint = 1;
  client.call_timeout = options.call_timeout;
  ASSIGN_OR_RETURN(self->client_, sessionapi::SessionsClient::Create(self->directory_.get(), clock, client));
  return self;
}

GrpcPeerSessions::~GrpcPeerSessions() {
  if (client_) client_->Shutdown(absl::ZeroDuration());
  if (directory_) directory_->Shutdown();
}

void GrpcPeerSessions::SendEvent(int node, session::v1::SendEventRequest request,
                                 std::function<void(absl::Status)> done) {
  client_->SendEvent(node, std::move(request), {.retry_safe = true},
                     [done = std::move(done)](absl::StatusOr<session::v1::SendEventResponse> r) { done(r.status()); });
}

}  // namespace orch::session_engine
