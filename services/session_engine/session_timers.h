#pragma once

// SessionTimers: the timers the engine keeps at the scheduler for its
// sessions.
//
// Wake: how a persistent session with delayed sends pending can leave
// memory. Before such a session deactivates, the engine registers one
// wake timer with the scheduler at its earliest due time (timer id
// "wake:<session id>", so that a later deactivation replaces it); the
// scheduler then calls Sessions.WakeSession, the session is activated from
// the store and its sends fire at their original due times as in any
// recovery. `<cancel>` needs no call here: a wake that finds nothing due
// activates the session, which deactivates again when idle.
//
// A failure keeps the session in memory (it is tried again at the next
// housekeeping round): a sleeping session is never without its wake.
//
// Maximum age (hung sessions): when a session starts with a maximum age
// (scxml.max-session-age-ms, or its document's <scxml _maxSessionAge>), two
// timers: at start + age the session gets the event `session.maxage`
// (data: {age_ms}), and `grace` later it is terminated (reason "maximum
// session age") unless it has ended by then (the terminate of an ended
// session is done, not a failure). A failure to store them is logged and
// counted; the session runs without its limit.
//
// Production: the scheduler's ScheduleTimer (blocking, with a deadline).
// Thread-safe.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/grpc/channel.h"

namespace orch::session_engine {

class SessionTimers {
 public:
  virtual ~SessionTimers() = default;
  // Stored (durable) when OK.
  virtual absl::Status ScheduleWake(const std::string& session_id, int64_t due_unix_ms) = 0;
  virtual absl::Status ScheduleMaxAge(const std::string& session_id, int64_t age_ms, int64_t ends_unix_ms,
                                      int64_t grace_ms) = 0;
};

// The timers' ids for a session.
std::string WakeTimerId(const std::string& session_id);
std::string MaxAgeTimerId(const std::string& session_id);   // the event
std::string EndTimerId(const std::string& session_id);      // the terminate

// The event a session gets when its maximum age is reached.
inline constexpr char kMaxAgeEvent[] = "session.maxage";

// `endpoint`: the scheduler's "host:port" (any replica; connects lazily).
std::unique_ptr<SessionTimers> NewGrpcSessionTimers(const std::string& endpoint,
                                                    const grpc_util::ChannelOptions& channel,
                                                    absl::Duration timeout);

}  // namespace orch::session_engine
