#include "services/session_engine/session_engine.h"

#include "absl/strings/str_cat.h"
#include "orch/session/v1/sessions.grpc.pb.h"

namespace orch::session_engine {

// The API is registered as a contract only (every RPC answers UNIMPLEMENTED)
// until the issue that builds this process lands.
process::ProcessDefinition Definition() {
  return {
      .name = "session-engine",
      .description = "runs SCXML sessions of one node (primary or standby)",
      .metrics_prefix = "orch_session_engine",
      .default_grpc_listen = "127.0.0.1:7101",
      .default_metrics_listen = "127.0.0.1:9101",
      .add_options =
          [](config::Schema* s) {
            s->Add({.section = "orchestration", .name = "node-id", .type = config::OptionType::kInt,
                    .default_value = int64_t{1},
                    .help = "this node's id: session ids are ~<node-id>~..., one lease per node",
                    .min = 1, .max = 9999});
          },
      .node_name = [](const config::Config& c) { return absl::StrCat(c.GetInt("orchestration.node-id")); },
      .create = [](const process::RunContext&) -> absl::StatusOr<std::unique_ptr<process::Component>> {
        return std::make_unique<process::ContractOnly<orch::session::v1::Sessions::Service>>();
      },
  };
}

}  // namespace orch::session_engine
