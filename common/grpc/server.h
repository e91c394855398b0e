#pragma once

// A gRPC server as every Orchestrion process runs it:
//  - the standard health service (grpc.health.v1.Health), SERVING once
//    started, NOT_SERVING from the start of Shutdown;
//  - server reflection;
//  - plaintext or TLS, with client certificates required when a client CA
//    is given (mutual TLS);
//  - per-method metrics <prefix>_grpc_server_handled_total{grpc_method,
//    grpc_code} and <prefix>_grpc_server_handling_seconds{grpc_method};
//  - SO_REUSEPORT off, so two processes can never share a port by accident;
//  - synchronous handlers' threads kept (up to `sync_threads_kept` idle
//    ones) rather than ended after each call: gRPC's default keeps two, so a
//    handler that waits (an append, a request) made it create and end a
//    thread per call under load.
//
// Thread-safe after Start.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/tls/tls_files.h"

namespace grpc {
class Server;
class Service;
}  // namespace grpc

namespace orch::metrics {
class MetricsServer;
}

namespace orch::grpc_util {

struct GrpcServerOptions {
  std::string listen;   // "host:port"; port 0 = any
  tls::TlsFiles tls;    // TLS when tls.enabled(); mutual TLS when tls.ca_pem is set too
  int sync_threads_kept = 64;
};

class GrpcServer {
 public:
  // Starts serving `services` (not owned; they must outlive the server).
  // `metrics` may be null. ALREADY_EXISTS when the port is taken,
  // INVALID_ARGUMENT for an address this host cannot listen on.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(
      const GrpcServerOptions& options, const std::vector<::grpc::Service*>& services,
      metrics::MetricsServer* metrics);
  // Shuts down with no grace if Shutdown was not called.
  ~GrpcServer();

  // The address actually bound, with the real port.
  const std::string& address() const { return address_; }
  int port() const { return port_; }

  // Overall health status ("" service and every registered one).
  void SetServing(bool serving);
  // Health status of one service ("orch.persistence.v1.Persistence").
  void SetServing(const std::string& service, bool serving);

  // Health goes NOT_SERVING, new calls are refused, calls in flight get up
  // to `grace` to finish and are then cancelled. Returns when all are done.
  void Shutdown(absl::Duration grace);

 private:
  GrpcServer() = default;

  std::string address_;
  int port_ = 0;
  bool shut_down_ = false;
  std::unique_ptr<::grpc::Server> server_;
};

}  // namespace orch::grpc_util
