// Fuzz target: arbitrary bytes as a configuration file (and as environment
// values) must give a Config or a one-line INVALID_ARGUMENT — never a crash,
// a hang or an exception.

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/base/check.h"
#include "common/config/config.h"
#include "common/config/validators.h"

namespace {

const orch::config::Schema& FuzzSchema() {
  static const orch::config::Schema* schema = [] {
    using orch::config::OptionType;
    auto* s = new orch::config::Schema();
    s->Add({.section = "server", .name = "grpc-listen", .type = OptionType::kString,
            .default_value = std::string("127.0.0.1:0"), .help = "",
            .validate = orch::config::ValidateListenAddress});
    s->Add({.section = "server", .name = "shutdown-grace-ms", .type = OptionType::kInt,
            .default_value = int64_t{1}, .help = "", .min = 0, .max = 600000});
    s->Add({.section = "log", .name = "level", .type = OptionType::kString,
            .default_value = std::string("info"), .help = "", .allowed = {"debug", "info"}});
    s->Add({.section = "persistence", .name = "tls-enabled", .type = OptionType::kBool,
            .default_value = false, .help = ""});
    s->Add({.section = "persistence", .name = "redis-nodes", .type = OptionType::kStringList,
            .default_value = std::vector<std::string>{"a:1"}, .help = "",
            .validate = orch::config::ValidateEndpointList});
    s->Add({.section = "persistence", .name = "password", .type = OptionType::kString,
            .default_value = std::string(), .help = "", .secret = true});
    return s;
  }();
  return *schema;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto from_file = orch::config::Config::Parse(FuzzSchema(), text, "fuzz.toml", orch::MapEnvironment());
  if (!from_file.ok()) {
    ORCH_CHECK(from_file.status().code() == absl::StatusCode::kInvalidArgument, "unexpected code");
    ORCH_CHECK(from_file.status().message().find('\n') == absl::string_view::npos ||
                   text.find('\n') != std::string::npos,
               "multi-line error from single-line input");
  } else {
    // A valid configuration dumps to TOML that parses back to the same values.
    auto again = orch::config::Config::Parse(FuzzSchema(), from_file->Dump(), "dump.toml",
                                             orch::MapEnvironment());
    ORCH_CHECK(again.ok(), "Dump() of a valid config does not parse back");
    ORCH_CHECK(again->GetString("server.grpc-listen") == from_file->GetString("server.grpc-listen"),
               "round trip changed a value");
    ORCH_CHECK(again->GetStringList("persistence.redis-nodes") ==
                   from_file->GetStringList("persistence.redis-nodes"),
               "round trip changed a list");
  }
  orch::MapEnvironment env({{"ORCH_SERVER_SHUTDOWN_GRACE_MS", text},
                            {"ORCH_PERSISTENCE_REDIS_NODES", text},
                            {"ORCH_PERSISTENCE_TLS_ENABLED", text}});
  (void)orch::config::Config::Parse(FuzzSchema(), "", "", env);
  return 0;
}
