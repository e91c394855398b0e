#include "services/session_engine/session_writer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "services/session_engine/log_entries.h"

namespace orch::session_engine {

void SessionWriter::Stamp(SessionEntry& session, event::v1::LogEntry* entry) const {
  entry->set_seq(session.last_seq + 1);
  SetEntryTime(entry, std::max(clock_->NowMs(), session.last_time_ms));
  entry->set_epoch(lease_->epoch());
}

absl::StatusOr<uint64_t> SessionWriter::Write(const std::shared_ptr<SessionEntry>& session,
                                              event::v1::LogEntry* entry) {
  return WriteEntry(session, entry, Kind::kInput);
}

absl::StatusOr<uint64_t> SessionWriter::WriteFirst(const std::shared_ptr<SessionEntry>& session,
                                                   event::v1::LogEntry* entry, bool keyed) {
  return WriteEntry(session, entry, keyed ? Kind::kKeyedStart : Kind::kStart);
}

absl::StatusOr<uint64_t> SessionWriter::WriteEntry(const std::shared_ptr<SessionEntry>& session,
                                                   event::v1::LogEntry* entry, Kind kind) {
  Stamp(*session, entry);
  absl::Status appended;
  if (session->persistent) {
    if (absl::Status s = lease_->CheckWritable(); !s.ok()) return s;
    appended = store_->Append(session->id, entry->epoch(), node_id_, session->document_sha256, {*entry}).status();
  }
  return Finish(session, *entry, kind, appended);
}

absl::Status SessionWriter::BeginAsync(SessionEntry& session, event::v1::LogEntry* entry) {
  Stamp(session, entry);
  if (absl::Status s = lease_->CheckWritable(); !s.ok()) return s;
  session.writing = true;
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> SessionWriter::EndAsync(const std::shared_ptr<SessionEntry>& session,
                                                 const event::v1::LogEntry& entry, const absl::Status& appended) {
  session->writing = false;
  return Finish(session, entry, Kind::kInput, appended);
}

absl::StatusOr<uint64_t> SessionWriter::Finish(const std::shared_ptr<SessionEntry>& session,
                                               const event::v1::LogEntry& entry, Kind kind,
                                               const absl::Status& appended) {
  const absl::Status& s = appended;
  if (s.code() == absl::StatusCode::kAborted) {
    if (kind == Kind::kKeyedStart) {
      return absl::AlreadyExistsError("a session with this idempotency key exists with other parameters");
    }
    lease_->Fence(absl::StrCat("append to ", session->id, " refused: ", s.message()));
    return lease_->CheckServing();
  }
  if (!s.ok() && kind == Kind::kInput) {
    evict_(session);
    return absl::UnavailableError(absl::StrCat(
        "the event could not be made durable (it may still be applied; retry with the same effect_id): ",
        s.message()));
  }
  if (!s.ok()) {
    (void)store_->Delete(session->id, entry.epoch());  // best effort: the append may land later
    return absl::UnavailableError(absl::StrCat("the session could not be made durable: ", s.message()));
  }
  session->last_seq = entry.seq();
  session->last_time_ms = EntryTimeMs(entry);
  return entry.seq();
}

}  // namespace orch::session_engine
