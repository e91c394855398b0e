#pragma once

// WakeScheduler: how a persistent session with delayed sends pending can
// leave memory. Before such a session deactivates, the engine registers one
// wake timer with the scheduler at its earliest due time (timer id
// "wake:<session id>", so that a later deactivation replaces it); the
// scheduler then calls Sessions.WakeSession, the session is activated from
// the store and its sends fire at their original due times as in any
// recovery. `<cancel>` needs no call here: a wake that finds nothing due
// activates the session, which deactivates again when idle.
//
// Production: GrpcWakeScheduler (the scheduler's ScheduleTimer, blocking,
// with a deadline). A failure keeps the session in memory (it is tried again
// at the next housekeeping round): a sleeping session is never without its
// wake. Thread-safe.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/grpc/channel.h"

namespace orch::session_engine {

class WakeScheduler {
 public:
  virtual ~WakeScheduler() = default;
  // Stored (durable) when OK.
  virtual absl::Status ScheduleWake(const std::string& session_id, int64_t due_unix_ms) = 0;
};

// The wake timer's id for a session.
std::string WakeTimerId(const std::string& session_id);

// `endpoint`: the scheduler's "host:port" (any replica; connects lazily).
std::unique_ptr<WakeScheduler> NewGrpcWakeScheduler(const std::string& endpoint,
                                                    const grpc_util::ChannelOptions& channel,
                                                    absl::Duration timeout);

}  // namespace orch::session_engine
