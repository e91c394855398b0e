#pragma once

// SessionsBackend over common/sessionapi's SessionsClient: the engines are
// called over gRPC (callback API, TLS as configured, several connections
// each), and each node's primary is read from its lease through
// persistence-proxy (NodeDirectory over a GrpcLeaseReader) — the gateway
// never talks to Redis. Takeovers, the retry after a primary change and the
// error codes are SessionsClient's (sessions_client.h); this class only
// wires the parts together and answers the API's questions about nodes.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/grpc/channel.h"
#include "common/sessionapi/lease_reader.h"
#include "common/sessionapi/node_directory.h"
#include "common/sessionapi/sessions_client.h"
#include "services/rest_gateway/sessions_backend.h"

namespace orch::rest_gateway {

struct GrpcBackendOptions {
  std::string proxy_endpoint;               // persistence-proxy
  grpc_util::ChannelOptions proxy_channel;
  grpc_util::ChannelOptions engine_channel; // TLS to the engines, if they serve it
  absl::Duration lease_refresh = absl::Milliseconds(500);
  absl::Duration call_timeout = absl::Seconds(5);
  std::vector<int> nodes;                   // looked up from the start
  int engine_connections = 4;               // HTTP/2 connections per engine, calls spread over them
};

class GrpcBackend final : public SessionsBackend {
 public:
  // INVALID_ARGUMENT naming the option when `options` is not valid.
  static absl::StatusOr<std::unique_ptr<GrpcBackend>> Create(GrpcBackendOptions options);
  // Shutdown(zero) if Shutdown was not called.
  ~GrpcBackend() override;

  void StartSession(int node, sv1::StartSessionRequest req, bool retry_safe,
                    Done<sv1::StartSessionResponse> done) override;
  void SendEvent(int node, sv1::SendEventRequest req, bool retry_safe, Done<sv1::SendEventResponse> done) override;
  void Request(int node, sv1::RequestEventRequest req, absl::Duration deadline,
               Done<sv1::RequestEventResponse> done) override;
  void QuerySession(int node, sv1::QuerySessionRequest req, Done<sv1::QuerySessionResponse> done) override;
  void TerminateSession(int node, sv1::TerminateSessionRequest req, Done<sv1::TerminateSessionResponse> done) override;
  NodeStatus Node(int node) override { return directory_->Status(node); }
  bool StoreReachable() override { return directory_->StoreReachable(); }

  // New calls answer UNAVAILABLE; calls in flight get `grace`, then are
  // cancelled (CANCELLED); returns once every callback has run and the
  // lease refresh has stopped. Idempotent.
  void Shutdown(absl::Duration grace);

 private:
  GrpcBackend() = default;

  // Destroyed in reverse: the client before the directory it asks, the
  // directory before the reader it reads through.
  std::unique_ptr<sessionapi::GrpcLeaseReader> leases_;
  std::unique_ptr<sessionapi::NodeDirectory> directory_;
  std::unique_ptr<sessionapi::SessionsClient> client_;
};

}  // namespace orch::rest_gateway
