#pragma once

// rest-gateway's Prometheus metrics (names in README.md). Without a
// MetricsServer every call is a no-op (unit tests). Thread-safe.

#include <cstddef>
#include <memory>
#include "absl/strings/string_view.h"

namespace orch::metrics {
class MetricsServer;
}

namespace orch::rest_gateway {

class GatewayMetrics {
 public:
  explicit GatewayMetrics(metrics::MetricsServer* server);
  ~GatewayMetrics();

  // One answered request: `endpoint` is a fixed name ("event", "start", ...).
  void ObserveRequest(absl::string_view endpoint, int status, double seconds);
  void CountAuthFailure();
  void CountRateLimited();
  void SetNodeUp(int node, bool up);
  void SetConnections(size_t open, uint64_t accepted_total, uint64_t refused_total, uint64_t tls_failures_total);

 private:
  struct Families;
  std::unique_ptr<Families> f_;
};

}  // namespace orch::rest_gateway
