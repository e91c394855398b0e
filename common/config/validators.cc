#include "common/config/validators.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace orch::config {
namespace {

absl::Status CheckHostPort(const std::string& s, int min_port) {
  const std::string what = absl::StrCat("'", s, "' is not host:port");
  const auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, " (for example 127.0.0.1:7001 or [::1]:7001)"));
  }
  std::string host = s.substr(0, colon);
  if (host.front() == '[') {
    if (host.back() != ']' || host.size() < 3) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": an IPv6 host is written [addr]"));
    }
  } else if (host.find(':') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": write IPv6 hosts as [addr]"));
  }
  if (host.find_first_of(" \t/") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": bad host"));
  }
  int port = 0;
  if (!absl::SimpleAtoi(s.substr(colon + 1), &port) || port < min_port || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": the port must be ", min_port, "..65535"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateListenAddress(const Value& value) {
  return CheckHostPort(std::get<std::string>(value), 0);
}

absl::Status ValidateEndpoint(const Value& value) {
  return CheckHostPort(std::get<std::string>(value), 1);
}

absl::Status ValidateEndpointList(const Value& value) {
  const auto& list = std::get<std::vector<std::string>>(value);
  if (list.empty()) return absl::InvalidArgumentError("at least one host:port is required");
  for (const auto& s : list) {
    if (auto st = CheckHostPort(s, 1); !st.ok()) return st;
  }
  return absl::OkStatus();
}

}  // namespace orch::config
