#pragma once

// Reusable Option::validate functions.

#include "absl/status/status.h"
#include "common/config/config.h"

namespace orch::config {

// "host:port" or "[ipv6]:port", port 0..65535 (0: the kernel picks one).
absl::Status ValidateListenAddress(const Value& value);
// The same, but port 1..65535 (a peer to connect to).
absl::Status ValidateEndpoint(const Value& value);
// Every entry of a list is an endpoint, and there is at least one.
absl::Status ValidateEndpointList(const Value& value);

}  // namespace orch::config
