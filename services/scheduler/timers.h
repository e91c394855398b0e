#pragma once

// What a timer is, apart from where it is stored and who fires it: the
// checks of a timer the API accepts, the bucket its id falls in, the session
// it acts on, the ids that make its effect happen once, and the past-due
// rule. No I/O, no clock of its own.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "orch/scheduler/v1/scheduler.pb.h"

namespace orch::scheduler {

namespace sched = ::orch::scheduler::v1;

inline constexpr size_t kMaxTimerIdBytes = 128;
// Due times the API accepts: 1970-01-01 up to the end of 9999 (UTC), ms.
inline constexpr int64_t kMinDueMs = 0;
inline constexpr int64_t kMaxDueMs = 253402300799999;

// 1..128 characters of [A-Za-z0-9._:@~-]; INVALID_ARGUMENT naming the field.
absl::Status ValidateTimerId(absl::string_view id, absl::string_view field = "timer.timer_id");

// A fresh id ("t-" and 26 base-32 characters from getrandom).
std::string NewTimerId();

// The due time in ms since the epoch; INVALID_ARGUMENT naming `field` when
// it is missing, malformed or outside 1970..9999.
absl::StatusOr<int64_t> DueMs(const google::protobuf::Timestamp& due, bool present,
                              absl::string_view field = "timer.due_time");

// Everything ScheduleTimer checks, before anything is stored: the id (when
// set), the due time, exactly one action and its fields (session ids that
// parse, an event name, a document URL, a start's node among `nodes` when
// set), reply_to. INVALID_ARGUMENT naming the first bad field.
absl::Status ValidateTimer(const sched::Timer& t, const std::vector<int>& nodes);

// The bucket (0..buckets-1) of a timer id: FNV-1a, the same in every
// replica and version. The store's bucket name is BucketName(b).
int BucketOf(absl::string_view timer_id, int buckets);
std::string BucketName(int bucket);

// The session the timer acts on: the target of a delivery, terminate or
// wake; for a start, the session it will create (its node must be set).
std::string SubjectSession(const sched::Timer& t);

// A start's idempotency key: two firings of one timer start one session.
std::string StartKey(absl::string_view timer_id);
// The effect id of what a firing delivers (an event, or the reply to
// reply_to): the same for every firing of one timer at one due time.
std::string EffectId(absl::string_view timer_id, int64_t due_ms, absl::string_view what = "");

// The seeds' past-due rule, read as "a grace after" (services/scheduler/
// README.md): a due time counts as passed when due + latency <= now.
// Either way such a timer is stored first and fired at once.
inline bool PastDue(int64_t due_ms, int64_t now_ms, int64_t latency_ms) { return due_ms + latency_ms <= now_ms; }

// The action's name in metrics and logs: "deliver", "start", "terminate",
// "wake" ("none" when unset).
const char* ActionName(const sched::Timer& t);

}  // namespace orch::scheduler
