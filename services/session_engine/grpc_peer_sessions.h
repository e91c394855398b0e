#pragma once

// PeerSessions over common/sessionapi's SessionsClient: node N's primary is
// found from its lease (read through persistence-proxy, refreshed in the
// background, re-read after a failure), the call goes over gRPC with the
// configured TLS or mutual TLS, is repeated once on a new primary after a
// takeover (a send carries an effect id, so a repeat is safe), and the
// peer's own status codes come back unchanged. No thread waits: the client
// uses gRPC's callback API.
//
// Thread-safe. Destruction waits for the calls in flight.

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/grpc/channel.h"
#include "common/sessionapi/lease_reader.h"
#include "common/sessionapi/node_directory.h"
#include "common/sessionapi/sessions_client.h"
#include "common/time/clock.h"
#include "services/session_engine/send_router.h"

namespace orch::session_engine {

class GrpcPeerSessions final : public PeerSessions {
 public:
  struct Options {
    std::string proxy_endpoint;             // persistence-proxy, where the leases are read
    grpc_util::ChannelOptions proxy_channel;
    grpc_util::ChannelOptions peer_channel; // TLS to other nodes' engines
    absl::Duration call_timeout = absl::Seconds(5);
  };
  static absl::StatusOr<std::unique_ptr<GrpcPeerSessions>> Create(Options options, time::Clock* clock);
  ~GrpcPeerSessions() override;

  void SendEvent(int node, session::v1::SendEventRequest request, std::function<void(absl::Status)> done) override;

 private:
  GrpcPeerSessions() = default;

  std::unique_ptr<sessionapi::LeaseReader> reader_;
  std::unique_ptr<sessionapi::NodeDirectory> directory_;
  std::unique_ptr<sessionapi::SessionsClient> client_;
};

}  // namespace orch::session_engine
