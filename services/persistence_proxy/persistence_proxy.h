#pragma once

#include "common/process/process.h"

namespace orch::persistence_proxy {

// What persistence-proxy adds to the common process runtime: its options, its
// metrics prefix and default ports, and its component.
process::ProcessDefinition Definition();

}  // namespace orch::persistence_proxy
