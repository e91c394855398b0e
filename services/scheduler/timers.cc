#include "services/scheduler/timers.h"

#include <sys/random.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/base/fnv1a.h"
#include "common/sessionapi/session_id.h"

namespace orch::scheduler {

namespace {

bool IdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == ':' || c == '@' || c == '-' || c == '~';
}

absl::Status ValidateSessionId(absl::string_view id, absl::string_view field) {
  if (id.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
  auto node = sessionapi::NodeOfSessionId(id);
  if (!node.ok()) return absl::InvalidArgumentError(absl::StrCat(field, ": ", node.status().message()));
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateTimerId(absl::string_view id, absl::string_view field) {
  if (id.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": must not be empty"));
  if (id.size() > kMaxTimerIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": longer than ", kMaxTimerIdBytes, " characters"));
  }
  for (char c : id) {
    if (!IdChar(c)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": only letters, digits and . _ : @ - are allowed"));
    }
  }
  return absl::OkStatus();
}

std::string NewTimerId() {
  static constexpr char kAlphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
  unsigned char bytes[26];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    const ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  std::string id = "t-";
  for (unsigned char b : bytes) id.push_back(kAlphabet[b % 32]);
  return id;
}

absl::StatusOr<int64_t> DueMs(const google::protobuf::Timestamp& due, bool present, absl::string_view field) {
  if (!present) return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
  if (due.nanos() < 0 || due.nanos() > 999999999) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": nanos out of range"));
  }
  if (due.seconds() < kMinDueMs / 1000 || due.seconds() > kMaxDueMs / 1000) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": before 1970 or after 9999"));
  }
  return due.seconds() * 1000 + due.nanos() / 1000000;
}

absl::Status ValidateTimer(const sched::Timer& t, const std::vector<int>& nodes) {
  if (!t.timer_id().empty()) {
    if (auto s = ValidateTimerId(t.timer_id()); !s.ok()) return s;
  }
  if (auto due = DueMs(t.due_time(), t.has_due_time()); !due.ok()) return due.status();
  if (!t.reply_to().empty()) {
    if (auto s = ValidateSessionId(t.reply_to(), "timer.reply_to"); !s.ok()) return s;
  }
  switch (t.action_case()) {
    case sched::Timer::kDeliverEvent: {
      if (auto s = ValidateSessionId(t.deliver_event().session_id(), "timer.deliver_event.session_id"); !s.ok()) {
        return s;
      }
      if (t.deliver_event().event().name().empty()) {
        return absl::InvalidArgumentError("timer.deliver_event.event.name: required");
      }
      return absl::OkStatus();
    }
    case sched::Timer::kStartSession: {
      const auto& st = t.start_session();
      if (st.document_url().empty()) return absl::InvalidArgumentError("timer.start_session.document_url: required");
      if (st.node() != 0 && !nodes.empty() && std::find(nodes.begin(), nodes.end(), st.node()) == nodes.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("timer.start_session.node: ", st.node(), " is not among scheduler.nodes"));
      }
      if (st.node() < 0 || st.node() > 9999) {
        return absl::InvalidArgumentError("timer.start_session.node: must be 1..9999 (or 0: chosen)");
      }
      return absl::OkStatus();
    }
    case sched::Timer::kTerminateSession:
      return ValidateSessionId(t.terminate_session().session_id(), "timer.terminate_session.session_id");
    case sched::Timer::kWakeSession:
      return ValidateSessionId(t.wake_session().session_id(), "timer.wake_session.session_id");
    case sched::Timer::ACTION_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      "timer: one action is required (deliver_event, start_session, terminate_session or wake_session)");
}

int BucketOf(absl::string_view timer_id, int buckets) {
  return static_cast<int>(Fnv1a64(std::string_view(timer_id.data(), timer_id.size())) %
                          static_cast<uint64_t>(buckets));
}

std::string BucketName(int bucket) { return absl::StrCat("timers-", bucket); }

std::string SubjectSession(const sched::Timer& t) {
  switch (t.action_case()) {
    case sched::Timer::kDeliverEvent:
      return t.deliver_event().session_id();
    case sched::Timer::kTerminateSession:
      return t.terminate_session().session_id();
    case sched::Timer::kWakeSession:
      return t.wake_session().session_id();
    case sched::Timer::kStartSession:
      if (t.start_session().node() <= 0) return "";
      return sessionapi::SessionIdForKey(t.start_session().node(), StartKey(t.timer_id()));
    case sched::Timer::ACTION_NOT_SET:
      break;
  }
  return "";
}

std::string StartKey(absl::string_view timer_id) { return absl::StrCat("timer:", timer_id); }

std::string EffectId(absl::string_view timer_id, int64_t due_ms, absl::string_view what) {
  return what.empty() ? absl::StrCat("timer/", timer_id, "/", due_ms)
                      : absl::StrCat("timer/", timer_id, "/", due_ms, "/", what);
}

const char* ActionName(const sched::Timer& t) {
  switch (t.action_case()) {
    case sched::Timer::kDeliverEvent:
      return "deliver";
    case sched::Timer::kStartSession:
      return "start";
    case sched::Timer::kTerminateSession:
      return "terminate";
    case sched::Timer::kWakeSession:
      return "wake";
    case sched::Timer::ACTION_NOT_SET:
      break;
  }
  return "none";
}

}  // namespace orch::scheduler
