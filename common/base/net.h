#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace orch {

struct HostPort {
  std::string host;  // without IPv6 brackets
  int port = 0;
};

// "host:port" or "[v6]:port".
absl::StatusOr<HostPort> SplitHostPort(const std::string& address);

// Whether `address` is a well-formed "host:port" or "[v6]:port" with a port
// in min_port..65535 (0 lets a listener's kernel pick one; a peer needs 1).
// Control characters are refused anywhere. The INVALID_ARGUMENT message is
// one line that quotes the address and says what is wrong, without naming
// where it came from (the caller adds that).
absl::Status ValidateHostPort(const std::string& address, int min_port);

// Binds (and releases) a TCP socket at `address` to learn, before a server
// library tries, whether it can listen there. The error says why not in
// words ("address already in use", "cannot assign requested address", an
// unknown host): server libraries often report only "failed to bind".
absl::Status CheckCanListen(const std::string& address);

}  // namespace orch
