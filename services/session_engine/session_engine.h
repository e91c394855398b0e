#pragma once

#include "common/process/process.h"

namespace orch::session_engine {

// What session-engine adds to the common process runtime: its options, its
// metrics prefix and default ports, and its component.
process::ProcessDefinition Definition();

}  // namespace orch::session_engine
