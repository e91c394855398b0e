#pragma once

// SessionCalls: what a firing asks of session-engine, on the node the
// session (or the start) belongs to. Production: GrpcSessionCalls over
// common/sessionapi's SessionsClient (the node's primary from its lease,
// TLS, one repeat after a primary change: every call here is safe to repeat,
// carrying an effect id or an idempotency key, or being idempotent).
// Unit tests: a fake that answers what the test says.
//
// `done` runs exactly once, on any thread; it must not block.

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "orch/session/v1/sessions.pb.h"

namespace orch::sessionapi {
class SessionsClient;
}

namespace orch::scheduler {

namespace sv1 = ::orch::session::v1;

template <typename T>
using Done = std::function<void(absl::StatusOr<T>)>;

class SessionCalls {
 public:
  virtual ~SessionCalls() = default;
  virtual void StartSession(int node, sv1::StartSessionRequest req, Done<sv1::StartSessionResponse> done) = 0;
  virtual void SendEvent(int node, sv1::SendEventRequest req, Done<sv1::SendEventResponse> done) = 0;
  virtual void TerminateSession(int node, sv1::TerminateSessionRequest req,
                                Done<sv1::TerminateSessionResponse> done) = 0;
  virtual void WakeSession(int node, sv1::WakeSessionRequest req, Done<sv1::WakeSessionResponse> done) = 0;
};

// `client` is not owned and must outlive the returned object.
std::unique_ptr<SessionCalls> NewGrpcSessionCalls(sessionapi::SessionsClient* client);

}  // namespace orch::scheduler
