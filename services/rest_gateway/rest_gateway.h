#pragma once

#include "common/process/process.h"

namespace orch::rest_gateway {

// What rest-gateway adds to the common process runtime: its options, its
// metrics prefix and default ports, and its component.
process::ProcessDefinition Definition();

}  // namespace orch::rest_gateway
