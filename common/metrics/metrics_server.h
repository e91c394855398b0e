#pragma once

// Prometheus metrics of one process, served on their own HTTP port at
// /metrics (text format 0.0.4, by prometheus-cpp's civetweb exposer).
//
// Names follow orch_<process>_<thing>_<unit> with `_total` for counters:
// the server owns the prefix and registers two metrics every process has,
//   <prefix>_build_info{version="..."}  1
//   <prefix>_start_time_seconds         Unix time the process started
// Components add their own to registry().

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace prometheus {
class Exposer;
class Registry;
}  // namespace prometheus

namespace orch::metrics {

class MetricsServer {
 public:
  // Listens on `listen` ("host:port", port 0 = any). `prefix` is
  // "orch_<process>" (e.g. "orch_session_engine"). Errors: ALREADY_EXISTS
  // when the port is taken, INVALID_ARGUMENT for an address this host cannot
  // listen on; the message names the address.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& listen,
                                                              std::string prefix,
                                                              std::string_view version);
  ~MetricsServer();

  prometheus::Registry& registry() { return *registry_; }
  // <prefix>_cluster_info{cluster="...",digest="..."} 1: the cluster file
  // this process loaded (common/cluster). Processes of one cluster whose
  // digests differ disagree on cluster-wide options (an alert rule compares
  // them). Call once.
  void SetClusterInfo(const std::string& cluster, const std::string& digest);
  const std::string& prefix() const { return prefix_; }
  // prefix() + "_" + suffix.
  std::string Name(std::string_view suffix) const;
  // The address actually bound, with the real port.
  const std::string& address() const { return address_; }
  int port() const { return port_; }

 private:
  MetricsServer() = default;

  std::string prefix_;
  std::string address_;
  int port_ = 0;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace orch::metrics
