#include "services/rest_gateway/rest_gateway.h"

namespace orch::rest_gateway {

// The HTTP API arrives with the rest-gateway issue; today the process serves
// gRPC health and metrics only.
process::ProcessDefinition Definition() {
  return {
      .name = "rest-gateway",
      .description = "the HTTP API (/scxml/session/...), routed to the owning node",
      .metrics_prefix = "orch_rest_gateway",
      .default_grpc_listen = "127.0.0.1:7105",
      .default_metrics_listen = "127.0.0.1:9105",
      .add_options = nullptr,
      .node_name = nullptr,
      .create = nullptr,
  };
}

}  // namespace orch::rest_gateway
