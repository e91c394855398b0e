#include "services/call_watcher/call_watcher.h"

#include "orch/calls/v1/calls.grpc.pb.h"

namespace orch::call_watcher {
namespace {

// The CallWatcher API is registered so that clients and reflection see the
// contract; every RPC answers UNIMPLEMENTED until the telephony feed lands.
class CallWatcher final : public process::Component {
 public:
  std::vector<::grpc::Service*> Services() override { return {&calls_}; }

 private:
  orch::calls::v1::CallWatcher::Service calls_;
};

}  // namespace

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
        return std::make_unique<CallWatcher>();
      },
  };
}

}  // namespace orch::call_watcher
