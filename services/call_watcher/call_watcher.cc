#include "services/call_watcher/call_watcher.h"

#include "orch/calls/v1/calls.grpc.pb.h"

namespace orch::call_watcher {

// The API is registered as a contract only: every RPC answers UNIMPLEMENTED,
// because this process has no implementation behind it yet.
process::ProcessDefinition Definition() {
  return {
      .name = "call-watcher",
      .description = "the telephony feed: which node runs which call",
      .metrics_prefix = "orch_call_watcher",
      .default_grpc_listen = "127.0.0.1:7104",
      .default_metrics_listen = "127.0.0.1:9104",
      .add_options = nullptr,
      .node_name = nullptr,
      .create = [](const process::RunContext&) -> absl::StatusOr<std::unique_ptr<process::Component>> {
        return std::make_unique<process::ContractOnly<orch::calls::v1::CallWatcher::Service>>();
      },
  };
}

}  // namespace orch::call_watcher
