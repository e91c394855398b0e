#include "services/persistence_proxy/persistence_proxy.h"

#include "absl/strings/str_cat.h"
#include "common/config/validators.h"
#include "orch/persistence/v1/persistence.grpc.pb.h"

namespace orch::persistence_proxy {
namespace {

using config::OptionType;


// The seeds' [persistence] section (Configure ORS with Redis Cluster), plus
// the cluster name of the key prefix ORS:<cluster>:.
void AddOptions(config::Schema* s) {
  auto str = [&](const char* name, const char* help, bool secret = false) {
    s->Add({.section = "persistence", .name = name, .type = OptionType::kString,
            .default_value = std::string(), .help = help, .secret = secret});
  };
  s->Add({.section = "persistence", .name = "type", .type = OptionType::kString,
          .default_value = std::string("redis"), .help = "storage type", .allowed = {"redis"}});
  s->Add({.section = "persistence", .name = "redis-nodes", .type = OptionType::kStringList,
          .default_value = std::vector<std::string>{"127.0.0.1:6379"},
          .help = "seed addresses host:port (one for standalone, any masters for a cluster)",
          .validate = config::ValidateEndpointList});
  s->Add({.section = "persistence", .name = "cluster-name", .type = OptionType::kString,
          .default_value = std::string("orch"), .help = "keys live under ORS:<cluster-name>:",
          .validate = [](const config::Value& v) -> absl::Status {
            const auto& name = std::get<std::string>(v);
            if (name.empty() || name.find_first_of(":{} \t\r\n") != std::string::npos) {
              return absl::InvalidArgumentError("must be non-empty, without ':', '{', '}' or spaces");
            }
            return absl::OkStatus();
          }});
  str("username", "ACL user name (empty: default user)");
  str("password", "ACL or AUTH password", /*secret=*/true);
  s->Add({.section = "persistence", .name = "tls-enabled", .type = OptionType::kBool,
          .default_value = false, .help = "TLS to Redis"});
  str("tls-cert", "client certificate (PEM) for Redis TLS; needs tls-key");
  str("tls-key", "client private key (PEM); needs tls-cert");
  str("tls-cacert", "CA bundle (PEM) that verifies Redis");
  str("tls-cacertdir", "directory of CA certificates, instead of tls-cacert");
  str("tls-sni", "server name to send and verify, instead of the host of redis-nodes");
  s->AddCheck([](const config::Config& c) -> absl::Status {
    if (c.GetString("persistence.tls-cert").empty() != c.GetString("persistence.tls-key").empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("persistence.tls-cert and persistence.tls-key: set both or neither (",
                       c.IsSet("persistence.tls-cert") ? c.Origin("persistence.tls-cert")
                                                       : c.Origin("persistence.tls-key"),
                       ")"));
    }
    if (!c.GetBool("persistence.tls-enabled")) {
      for (const char* key : {"persistence.tls-cert", "persistence.tls-cacert",
                              "persistence.tls-cacertdir", "persistence.tls-sni"}) {
        if (!c.GetString(key).empty()) {
          return absl::InvalidArgumentError(absl::StrCat(
              c.Origin(key), ": ", key, " is set but persistence.tls-enabled is false"));
        }
      }
    }
    return absl::OkStatus();
  });
}

}  // namespace

process::ProcessDefinition Definition() {
  return {
      .name = "persistence-proxy",
      .description = "the only process that talks to Redis: logs, snapshots, leases, schedules",
      .metrics_prefix = "orch_persistence",
      .default_grpc_listen = "127.0.0.1:7102",
      .default_metrics_listen = "127.0.0.1:9102",
      .add_options = AddOptions,
      .node_name = nullptr,
      .create = [](const process::RunContext&) -> absl::StatusOr<std::unique_ptr<process::Component>> {
        return std::make_unique<process::ContractOnly<orch::persistence::v1::Persistence::Service>>();
      },
  };
}

}  // namespace orch::persistence_proxy
