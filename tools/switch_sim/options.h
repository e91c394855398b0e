#pragma once

// The command line of switch-sim (README.md lists every option).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/tls/tls_files.h"
#include "tools/switch_sim/simulator.h"

namespace orch::switch_sim {

struct CliOptions {
  SimOptions sim;
  tls::TlsPaths tls{.cert_option = "--tls-cert", .key_option = "--tls-key", .ca_option = "--tls-ca"};
  std::string server_name;
  std::string outcomes;                 // "" = no outcome file
  bool json = false;
  bool expect_no_double_routes = true;
};

// Parses argv[1..]. INVALID_ARGUMENT naming the option for anything wrong.
// `now_ms` seeds the default run id, so two runs never share call uuids.
absl::StatusOr<CliOptions> ParseOptions(const std::vector<std::string>& args, int64_t now_ms);

extern const char kUsage[];

}  // namespace orch::switch_sim
