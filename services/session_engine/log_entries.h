#pragma once

// Small helpers over orch.event.v1.LogEntry shared by the engine's parts.

#include <cstdint>
#include <string>

#include "common/scxml/interpreter.h"
#include "orch/event/v1/event.pb.h"

namespace orch::session_engine {

// The entry's append_time in Unix milliseconds.
int64_t EntryTimeMs(const event::v1::LogEntry& e);
void SetEntryTime(event::v1::LogEntry* e, int64_t unix_ms);

// The SCXML external event an `event` entry delivers.
scxml::Event ToScxmlEvent(const event::v1::Event& e);

// The seed of a session's Math.random: FNV-1a of its id, stable across
// builds and machines (a replay on another node draws the same numbers).
uint64_t SeedOf(const std::string& session_id);

}  // namespace orch::session_engine
