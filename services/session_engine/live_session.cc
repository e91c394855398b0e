#include "services/session_engine/live_session.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/scxml/modules.h"
#include "common/sessionapi/value_json.h"
#include "services/session_engine/log_entries.h"

namespace orch::session_engine {

namespace ev = orch::event::v1;
namespace sv1 = orch::session::v1;

namespace {
constexpr size_t kMaxLogLines = 100;  // per macrostep, for watchers

bool DocumentSendsRecovered(const scxml::Document& doc) {
  auto it = doc.extensions.find("_sendSessionRecovered");
  return it != doc.extensions.end() && it->second == "true";
}
}  // namespace

// The interpreter's environment: this session's effects, to the outbox.
class LiveSession::Env final : public scxml::InterpreterEnvironment {
 public:
  explicit Env(LiveSession* s) : s_(s) {}

  void Log(const scxml::Interpreter&, std::string_view label, std::string_view value) override {
    if (s_->replaying_) return;
    s_->outbox_->Log(*s_, label, value);
    if (s_->collect_logs_ && s_->logs_.size() < kMaxLogLines) {
      s_->logs_.push_back(absl::StrCat(absl::string_view(label.data(), label.size()), ": ",
                                       absl::string_view(value.data(), value.size())));
    }
  }
  absl::Status SendExternal(const scxml::Interpreter&, const std::string& target, const std::string& type,
                            const scxml::Event& event) override {
    return s_->outbox_->Send(*s_, target, type, event);
  }
  absl::StatusOr<std::shared_ptr<const scxml::Document>> LoadDocument(const std::string& src,
                                                                      const std::string& base) override {
    return s_->outbox_->LoadDocument(src, base);
  }
  absl::StatusOr<std::shared_ptr<const scxml::Document>> CompileSource(const std::string& source,
                                                                       const std::string& name) override {
    return s_->outbox_->CompileSource(source, name);
  }

 private:
  LiveSession* const s_;
};

LiveSession::LiveSession(std::string id, bool persistent, std::shared_ptr<const scxml::Document> doc,
                         std::string url, SessionOutbox* outbox)
    : id_(std::move(id)),
      persistent_(persistent),
      doc_(std::move(doc)),
      document_url_(std::move(url)),
      outbox_(outbox),
      env_(std::make_unique<Env>(this)) {}

LiveSession::~LiveSession() = default;

scxml::InterpreterOptions LiveSession::InterpreterOptionsFor(const SessionConfig& config, uint64_t seed) const {
  scxml::InterpreterOptions io;
  io.session_id = id_;
  io.ecmascript = config.ecmascript;
  io.limits = config.limits;
  io.random_seed = seed;
  io.max_microsteps = config.max_microsteps;
  return io;
}

absl::Status LiveSession::StartFrom(const ev::LogEntry& started, const SessionConfig& config) {
  scxml::InterpreterOptions io = InterpreterOptionsFor(config, started.started().random_seed());
  for (const auto& [name, value] : started.started().parameters()) {
    io.initial_data[name] = sessionapi::ValueToJson(value);
  }
  interaction_ = started.started().interaction();
  if (doc_->genesys) io.genesys = scxml::GenesysJson(interaction_.tenant(), config.server_name, config.cluster);
  ASSIGN_OR_RETURN(interp_, scxml::Interpreter::Create(doc_, env_.get(), std::move(io)));
  send_recovered_ = DocumentSendsRecovered(*doc_);
  interp_->SetNow(EntryTimeMs(started));
  effects_in_entry_ = 0;
  applied_seq_ = started.seq();
  RETURN_IF_ERROR(interp_->Start());
  interp_->RunUntilIdle();
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<LiveSession>> LiveSession::Start(std::string id, bool persistent,
                                                                std::shared_ptr<const scxml::Document> doc,
                                                                const ev::LogEntry& started,
                                                                const SessionConfig& config, SessionOutbox* outbox,
                                                                int64_t now_mono_ms) {
  std::string url = started.started().document_url();
  std::unique_ptr<LiveSession> s(new LiveSession(std::move(id), persistent, std::move(doc), std::move(url), outbox));
  RETURN_IF_ERROR(s->StartFrom(started, config));
  s->unsnapshotted_since_ms_ = now_mono_ms;
  s->last_activity_ms_ = now_mono_ms;
  return s;
}

absl::StatusOr<std::unique_ptr<LiveSession>> LiveSession::Restore(std::string id,
                                                                  std::shared_ptr<const scxml::Document> doc,
                                                                  const sv1::SessionRecord* record,
                                                                  const std::vector<ev::LogEntry>& entries,
                                                                  const SessionConfig& config,
                                                                  SessionOutbox* outbox, int64_t now_mono_ms) {
  std::string url;
  if (record != nullptr) {
    url = record->document_url();
  } else if (!entries.empty() && entries[0].has_started()) {
    url = entries[0].started().document_url();
  } else {
    return absl::DataLossError(absl::StrCat("session ", id, " has neither a snapshot nor its first entry"));
  }
  std::unique_ptr<LiveSession> s(new LiveSession(std::move(id), /*persistent=*/true, std::move(doc), std::move(url),
                                                 outbox));
  s->replaying_ = true;
  size_t first = 0;
  if (record != nullptr) {
    auto in = scxml::Interpreter::Restore(s->doc_, s->env_.get(), s->InterpreterOptionsFor(config, 1),
                                          record->interpreter());
    if (!in.ok()) {
      return absl::DataLossError(absl::StrCat("cannot restore session ", s->id_, ": ", in.status().message()));
    }
    s->interp_ = *std::move(in);
    s->applied_seq_ = record->covers_seq();
    s->snapshot_seq_ = record->covers_seq();
    s->send_recovered_ = record->send_recovered();
    s->interaction_ = record->interaction();
  } else {
    RETURN_IF_ERROR(s->StartFrom(entries[0], config));
    first = 1;
  }
  for (size_t i = first; i < entries.size(); ++i) {
    if (entries[i].seq() <= s->applied_seq_) continue;
    s->Apply(entries[i]);
    if (s->ended()) break;
  }
  s->replaying_ = false;
  s->unsnapshotted_since_ms_ = now_mono_ms;
  s->last_activity_ms_ = now_mono_ms;
  return s;
}

void LiveSession::Apply(const ev::LogEntry& entry) {
  if (interp_ == nullptr) return;
  scxml::Interpreter& in = *interp_;
  in.SetNow(std::max(in.now(), EntryTimeMs(entry)));
  effects_in_entry_ = 0;
  if (entry.seq() != 0) applied_seq_ = entry.seq();  // the effect ids of this entry's sends use it
  switch (entry.kind_case()) {
    case ev::LogEntry::kEvent:
      // A refused event (queue full, bad UTF-8) is dropped; the log still
      // holds it and a replay refuses it the same way.
      (void)in.Enqueue(ToScxmlEvent(entry.event()));
      break;
    case ev::LogEntry::kTerminated:
      interp_.reset();  // cancels invoked children; no final state
      return;
    case ev::LogEntry::kClock:
      clock_pending_ = false;
      break;
    default:
      break;
  }
  in.RunUntilIdle();
}

absl::StatusOr<sv1::SessionRecord> LiveSession::BuildRecord(bool deactivated,
                                                            const std::vector<std::string>& effect_ids) const {
  if (interp_ == nullptr) return absl::FailedPreconditionError(absl::StrCat("session ", id_, " has ended"));
  sv1::SessionRecord record;
  record.set_format_version(1);
  record.set_document_sha256(doc_->sha256);
  if (!interaction_.interaction_id().empty()) *record.mutable_interaction() = interaction_;
  record.set_document_url(document_url_);
  record.set_covers_seq(applied_seq_);
  record.set_clock_ms(interp_->now());
  record.set_send_recovered(send_recovered_);
  record.set_deactivated(deactivated);
  for (const auto& e : effect_ids) record.add_effect_ids(e);
  RETURN_IF_ERROR(interp_->Snapshot(record.mutable_interpreter()));
  return record;
}

void LiveSession::Touch(int64_t now_mono_ms) {
  last_activity_ms_ = now_mono_ms;
  // While everything is covered, the age of "the oldest unsnapshotted
  // entry" starts from the latest activity.
  if (applied_seq_ <= snapshot_seq_) unsnapshotted_since_ms_ = now_mono_ms;
}

void LiveSession::MarkSnapshotted(int64_t now_mono_ms) {
  snapshot_seq_ = applied_seq_;
  unsnapshotted_since_ms_ = now_mono_ms;
}

bool LiveSession::NeedsSnapshot(int64_t now_mono_ms, const SessionPolicy& policy, bool drained) const {
  if (!persistent_ || interp_ == nullptr || !drained || sends_in_flight_->load() > 0) return false;
  if (applied_seq_ <= snapshot_seq_) return false;
  return applied_seq_ - snapshot_seq_ >= policy.snapshot_every_entries ||
         now_mono_ms - unsnapshotted_since_ms_ >= policy.snapshot_every_ms;
}

bool LiveSession::IsIdle(int64_t now_mono_ms, int64_t now_wall_ms, const SessionPolicy& policy,
                         bool drained) const {
  if (!persistent_ || interp_ == nullptr || policy.deactivate_idle_ms == 0 || !drained ||
      now_mono_ms - last_activity_ms_ < policy.deactivate_idle_ms || sends_in_flight_->load() != 0) {
    return false;
  }
  const std::optional<int64_t> due = interp_->NextDueMs();
  return !due.has_value() || (policy.sleep_min_ms > 0 && *due - now_wall_ms >= policy.sleep_min_ms);
}

std::optional<int64_t> LiveSession::NextDueMs() const {
  if (interp_ == nullptr) return std::nullopt;
  return interp_->NextDueMs();
}

std::optional<int64_t> LiveSession::TakeTimerToArm() {
  std::optional<int64_t> due = NextDueMs();
  if (!due) {
    timer_due_ = INT64_MAX;
    return std::nullopt;
  }
  if (*due == timer_due_) return std::nullopt;
  timer_due_ = *due;
  return due;
}

bool LiveSession::TimerFired(int64_t due_ms) {
  if (interp_ == nullptr || due_ms != timer_due_) return false;
  timer_due_ = INT64_MAX;
  return true;
}

std::string LiveSession::NextEffectId() {
  return persistent_ ? absl::StrCat(id_, "/", applied_seq_, "/", effects_in_entry_++)
                     : absl::StrCat(id_, "/m", ++volatile_effects_);
}

}  // namespace orch::session_engine
