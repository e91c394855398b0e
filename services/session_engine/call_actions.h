#pragma once

// CallActions: where sessions' functional-module actions (<ixn:redirect>,
// <dialog:playsound>, <queue:submit>, ...) go — the call-watcher replica
// that owns the session's interaction (InteractionBinding.watcher). The
// action's result comes back later as an event to the session, sent by
// call-watcher; this seam only hands the action over.
//
// Implementations: GrpcCallActions (CallWatcher.SubmitAction over gRPC);
// tests use their own recording fakes.
//
// Submit never blocks. `done` runs once, on any thread, with the hand-over's
// status within a bounded time (the implementation's deadline):
//   OK           accepted (or accepted before: the effect id is known)
//   NOT_FOUND    the replica does not know the interaction
//   UNAVAILABLE  the replica was not reached (or answered too late)
// Submits for one session_id reach the replica in the order of the calls:
// each is sent after the previous one's answer. Thread-safe.

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "orch/calls/v1/calls.pb.h"

namespace orch::session_engine {

class CallActions {
 public:
  virtual ~CallActions() = default;
  virtual void Submit(const std::string& watcher, calls::v1::SubmitActionRequest request,
                      std::function<void(absl::Status)> done) = 0;
};

}  // namespace orch::session_engine
