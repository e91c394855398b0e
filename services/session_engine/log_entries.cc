#include "services/session_engine/log_entries.h"

#include "common/base/fnv1a.h"
#include "common/sessionapi/value_json.h"

namespace orch::session_engine {

int64_t EntryTimeMs(const event::v1::LogEntry& e) {
  return e.append_time().seconds() * 1000 + e.append_time().nanos() / 1000000;
}

void SetEntryTime(event::v1::LogEntry* e, int64_t unix_ms) {
  e->mutable_append_time()->set_seconds(unix_ms / 1000);
  e->mutable_append_time()->set_nanos(static_cast<int32_t>((unix_ms % 1000) * 1000000));
}

scxml::Event ToScxmlEvent(const event::v1::Event& e) {
  scxml::Event out;
  out.name = e.name();
  out.type = scxml::Event::Type::kExternal;
  out.sendid = e.send_id();
  out.origin = e.origin();
  out.origintype = e.origin_type();
  out.invokeid = e.invoke_id();
  out.data = e.has_data() ? sessionapi::ValueToJson(e.data()) : "undefined";
  return out;
}

uint64_t SeedOf(const std::string& session_id) {
  const uint64_t h = Fnv1a64(session_id);
  return h == 0 ? 1 : h;
}

}  // namespace orch::session_engine
