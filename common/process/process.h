#pragma once

// The runtime shared by the five Orchestrion processes. A process's main() is
//
//   int main(int argc, char** argv) {
//     return orch::process::Run(argc, argv, orch::scheduler::Definition());
//   }
//
// and Run does, in order:
//   1. flags: --config <file>, --check-config [--strict-env], --help, --version;
//   2. SIGINT and SIGTERM blocked in every thread (handled by steps 7 and 8);
//   3. configuration: the common options below plus the process's own
//      (docs/configuration.md), file then ORCH_* environment, and the
//      cluster file, which is required (docs/cluster.md);
//   4. logging (JSON lines on stderr), gRPC's own logs routed into it;
//   5. the metrics server, then the process's Component, then the gRPC
//      server with health, reflection and the component's services;
//   6. one "serving" log line with the bound addresses;
//   7. on SIGHUP: the configuration is read again; options marked
//      reloadable that changed take effect (Component::Reload), a change to
//      any other is refused with a message (common/process/reload.h);
//   8. on SIGINT/SIGTERM: health NOT_SERVING, in-flight calls get
//      server.shutdown-grace-ms to finish, the component stops, exit 0.
//      A second signal during shutdown exits at once with status 1.
//
// Exit status: 0 after a clean shutdown, 2 for bad flags or configuration
// (file, option, TLS file, or a component refusing to start with
// INVALID_ARGUMENT / FAILED_PRECONDITION), 1 when start-up fails for another
// reason (a port in use, any other component failure). Every failure is one log line
// that names the problem.
//
// Common options:
//   [server]  grpc-listen, tls-cert, tls-key, tls-client-ca, shutdown-grace-ms
//   [metrics] listen
//   [log]     level (reloadable)

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config/config.h"

namespace grpc {
class Service;
}

namespace orch::metrics {
class MetricsServer;
}
namespace orch::grpc_util {
class GrpcServer;
}

namespace orch::process {

// What a process runs besides the common runtime.
class Component {
 public:
  virtual ~Component() = default;
  // gRPC services to register; owned by the component.
  virtual std::vector<::grpc::Service*> Services() = 0;
  // Called once the gRPC server serves (e.g. to set per-service health).
  virtual void OnServing(grpc_util::GrpcServer& server) {}
  // SIGHUP: `changed` are the component's options marked reloadable whose
  // values differ in `next`, the configuration read again. Apply them all
  // and return OK, or apply none and return why (the running values stay).
  // Called on the signal thread, concurrently with the component's work.
  virtual absl::Status Reload(const config::Config& next, const std::vector<std::string>& changed);
  // Called once the gRPC server has stopped (no call is running). Release
  // resources, flush what must be flushed.
  virtual void Stop() {}
};

struct RunContext {
  const config::Config& config;
  metrics::MetricsServer& metrics;
};

struct ProcessDefinition {
  std::string name;                    // "session-engine": logs' "process" field
  std::string description;             // one line, for --help
  std::string metrics_prefix;          // "orch_session_engine"
  std::string default_grpc_listen;     // "127.0.0.1:7101"
  std::string default_metrics_listen;  // "127.0.0.1:9101"
  // Adds the process's own options (may be empty).
  std::function<void(config::Schema*)> add_options;
  // The "node" field of log lines; the host name when empty.
  std::function<std::string(const config::Config&)> node_name;
  // Builds the component once configuration, logging and metrics are up.
  std::function<absl::StatusOr<std::unique_ptr<Component>>(const RunContext&)> create;
};

// The common options with this process's defaults, plus its own.
config::Schema BuildSchema(const ProcessDefinition& def);

// Runs the process until SIGINT/SIGTERM; returns the exit status.
int Run(int argc, char** argv, const ProcessDefinition& def);

// A component with no services and nothing to stop, for processes whose
// API is not served yet.
class NoServices final : public Component {
 public:
  std::vector<::grpc::Service*> Services() override { return {}; }
};

// A component that registers a generated gRPC service as is, so clients and
// reflection see the contract while every RPC answers UNIMPLEMENTED (the
// generated base class's behaviour). For processes whose API is not built
// yet. Instantiate it where the generated header is included.
template <typename GeneratedService>
class ContractOnly final : public Component {
 public:
  std::vector<::grpc::Service*> Services() override { return {&service_}; }

 private:
  GeneratedService service_;
};

}  // namespace orch::process
