#include "services/scheduler/scheduler.h"

#include "orch/scheduler/v1/scheduler.grpc.pb.h"

namespace orch::scheduler {
namespace {

// The Scheduler API is registered so that clients and reflection see the
// contract; every RPC answers UNIMPLEMENTED until durable timers land.
class Scheduler final : public process::Component {
 public:
  std::vector<::grpc::Service*> Services() override { return {&scheduler_}; }

 private:
  orch::scheduler::v1::Scheduler::Service scheduler_;
};

}  // namespace

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
        return std::make_unique<Scheduler>();
      },
  };
}

}  // namespace orch::scheduler
