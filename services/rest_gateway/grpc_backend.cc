#include "services/rest_gateway/grpc_backend.h"

#include <utility>

#include "common/time/clock.h"

namespace orch::rest_gateway {

absl::StatusOr<std::unique_ptr<GrpcBackend>> GrpcBackend::Create(GrpcBackendOptions options) {
  auto self = std::unique_ptr<GrpcBackend>(new GrpcBackend());
  time::Clock* clock = time::RealClock::Get();
  self->leases_ = std::make_unique<sessionapi::GrpcLeaseReader>(
      grpc_util::MakeChannel(options.proxy_endpoint, options.proxy_channel));
  auto directory = sessionapi::NodeDirectory::Create(
      self->leases_.get(), clock, {.nodes = options.nodes, .refresh_interval = options.lease_refresh});
  if (!directory.ok()) return directory.status();
  self->directory_ = *std::move(directory);
  auto client = sessionapi::SessionsClient::Create(self->directory_.get(), clock,
                                                   {.channel = options.engine_channel,
                                                    .connections_per_endpoint = options.engine_connections,
                                                    .call_timeout = options.call_timeout});
  if (!client.ok()) return client.status();
  self->client_ = *std::move(client);
  return self;
}

GrpcBackend::~GrpcBackend() { Shutdown(absl::ZeroDuration()); }

void GrpcBackend::Shutdown(absl::Duration grace) {
  if (client_) client_->Shutdown(grace);
  if (directory_) directory_->Shutdown();
}

void GrpcBackend::StartSession(int node, sv1::StartSessionRequest req, bool retry_safe,
                               Done<sv1::StartSessionResponse> done) {
  client_->StartSession(node, std::move(req), {.retry_safe = retry_safe}, std::move(done));
}

void GrpcBackend::SendEvent(int node, sv1::SendEventRequest req, bool retry_safe, Done<sv1::SendEventResponse> done) {
  client_->SendEvent(node, std::move(req), {.retry_safe = retry_safe}, std::move(done));
}

void GrpcBackend::Request(int node, sv1::RequestEventRequest req, absl::Duration deadline,
                          Done<sv1::RequestEventResponse> done) {
  client_->Request(node, std::move(req), {.deadline = deadline}, std::move(done));
}

void GrpcBackend::QuerySession(int node, sv1::QuerySessionRequest req, Done<sv1::QuerySessionResponse> done) {
  client_->QuerySession(node, std::move(req), {.retry_safe = true}, std::move(done));
}

void GrpcBackend::TerminateSession(int node, sv1::TerminateSessionRequest req,
                                   Done<sv1::TerminateSessionResponse> done) {
  client_->TerminateSession(node, std::move(req), {.retry_safe = true}, std::move(done));
}

}  // namespace orch::rest_gateway
