#pragma once

#include "common/process/process.h"

namespace orch::call_watcher {

// What call-watcher adds to the common process runtime: its options, its
// metrics prefix and default ports, and its component.
process::ProcessDefinition Definition();

}  // namespace orch::call_watcher
