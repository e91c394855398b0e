#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace orch {

// Reads a whole file. NOT_FOUND when it does not exist, PERMISSION_DENIED when
// it cannot be opened, INVALID_ARGUMENT for a directory or a file larger than
// `max_bytes`; the message names the path and the system's reason.
absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes = 64 << 20);

}  // namespace orch
