#include "services/scheduler/scheduler.h"

#include "orch/scheduler/v1/scheduler.grpc.pb.h"

namespace orch::scheduler {

// The API is registered as a contract only: every RPC answers UNIMPLEMENTED,
// because this process has no implementation behind it yet.
process::ProcessDefinition Definition() {
  return {
      .name = "scheduler",
      .description = "durable timers: delayed events, sessions to start or stop later",
      .metrics_prefix = "orch_scheduler",
      .default_grpc_listen = "127.0.0.1:7103",
      .default_metrics_listen = "127.0.0.1:9103",
      .add_options = nullptr,
      .node_name = nullptr,
      .create = [](const process::RunContext&) -> absl::StatusOr<std::unique_ptr<process::Component>> {
        return std::make_unique<process::ContractOnly<orch::scheduler::v1::Scheduler::Service>>();
      },
  };
}

}  // namespace orch::scheduler
