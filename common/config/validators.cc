#include "common/config/validators.h"

#include "common/base/net.h"

namespace orch::config {

absl::Status ValidateListenAddress(const Value& value) {
  return ValidateHostPort(std::get<std::string>(value), 0);
}

absl::Status ValidateEndpoint(const Value& value) {
  return ValidateHostPort(std::get<std::string>(value), 1);
}

absl::Status ValidateEndpointList(const Value& value) {
  const auto& list = std::get<std::vector<std::string>>(value);
  if (list.empty()) return absl::InvalidArgumentError("at least one host:port is required");
  for (const auto& s : list) {
    if (auto st = ValidateHostPort(s, 1); !st.ok()) return st;
  }
  return absl::OkStatus();
}

}  // namespace orch::config
