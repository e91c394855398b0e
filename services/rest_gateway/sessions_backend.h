#pragma once

// What the HTTP API needs from the session engines: the Sessions calls,
// addressed by node, answered asynchronously (callbacks run on a library
// thread and must not block), and what is known about each node's primary.
// GrpcBackend (grpc_backend.h, over common/sessionapi's SessionsClient) is
// the real one; the API's unit tests use a fake.

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/sessionapi/node_directory.h"
#include "orch/session/v1/sessions.pb.h"

namespace orch::rest_gateway {

template <typename T>
using Done = std::function<void(absl::StatusOr<T>)>;

namespace sv1 = ::orch::session::v1;

// up, endpoint, retry_after_s (when down: a useful Retry-After).
using NodeStatus = ::orch::sessionapi::NodeStatus;

class SessionsBackend {
 public:
  virtual ~SessionsBackend() = default;

  // `retry_safe`: the call may be sent again to a new primary after an
  // UNAVAILABLE (it is idempotent, or carries an idempotency key).
  virtual void StartSession(int node, sv1::StartSessionRequest req, bool retry_safe,
                            Done<sv1::StartSessionResponse> done) = 0;
  virtual void SendEvent(int node, sv1::SendEventRequest req, bool retry_safe,
                         Done<sv1::SendEventResponse> done) = 0;
  // `deadline`: the whole call, a little more than req.timeout_ms.
  virtual void Request(int node, sv1::RequestEventRequest req, absl::Duration deadline,
                       Done<sv1::RequestEventResponse> done) = 0;
  virtual void QuerySession(int node, sv1::QuerySessionRequest req, Done<sv1::QuerySessionResponse> done) = 0;
  virtual void TerminateSession(int node, sv1::TerminateSessionRequest req,
                                Done<sv1::TerminateSessionResponse> done) = 0;

  // What is known now (never blocks). A node never asked about is looked
  // up in the background and reported down meanwhile.
  virtual NodeStatus Node(int node) = 0;
  // persistence-proxy answered the latest lease lookup.
  virtual bool StoreReachable() = 0;
};

}  // namespace orch::rest_gateway
