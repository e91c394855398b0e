#pragma once

// SessionsClient: the Sessions API of "node N's primary", for any process
// that calls sessions it does not own (rest-gateway; session-engine's sends
// to other nodes).
//
//   auto client = SessionsClient::Create(directory.get(), time::RealClock::Get(),
//                                        {.channel = engine_tls});
//   (*client)->SendEvent(node, std::move(req), {.retry_safe = has_effect_id},
//                        [](absl::StatusOr<sv1::SendEventResponse> r) { ... });
//
// - Where: NodeDirectory::Resolve (a first use waits for the lease read).
// - How: gRPC's callback API, so no thread waits for an engine; channels
//   from common/grpc (plaintext, TLS or mutual TLS, `options.channel`),
//   `connections_per_endpoint` HTTP/2 connections per engine with calls
//   spread over them. Channels to an endpoint that is no longer any node's
//   primary are dropped at the next call after the directory changed, so
//   at most one set per live primary (plus the one being used) is kept.
// - Deadline: `CallOptions.deadline`, else `options.call_timeout`, for the
//   whole call: the lease lookup, the call and a repeat.
// - After UNAVAILABLE (the primary died, or a standby answered) the node's
//   lease is read again at once; if another endpoint now holds it and the
//   caller said the call is safe to repeat (`retry_safe`: idempotent, or
//   carrying an idempotency key or effect id), it is sent there once more.
//
// Errors (`done`'s status):
//   - the engine's own answer, code and message unchanged: INVALID_ARGUMENT,
//     NOT_FOUND (no such session), FAILED_PRECONDITION (the session is
//     another node's; finished), OUT_OF_RANGE (input over the engine's size
//     limit), RESOURCE_EXHAUSTED (engine load), ABORTED, ALREADY_EXISTS, ...
//   - UNAVAILABLE: no primary is known for the node, the store could not be
//     asked for a first lookup, the primary could not be reached or said it
//     is not the primary (and no repeat was made or it failed too), or the
//     client is shut down. The message names the node.
//   - DEADLINE_EXCEEDED: the deadline passed first.
//   - CANCELLED: Shutdown's grace ran out while the call was in flight.
//
// Threading: thread-safe. `done` runs exactly once: on a gRPC callback
// thread after a call, on the LeaseReader's thread when the call ended
// while waiting for a lease read, or inline before the method returns when
// the answer needs no I/O (no primary known, shut down). It must not block;
// it may start new calls (not Shutdown, which would wait for it).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/grpc/channel.h"
#include "common/sessionapi/node_directory.h"
#include "common/time/clock.h"
#include "orch/session/v1/sessions.pb.h"

namespace grpc {
class ClientContext;
}

namespace orch::sessionapi {

namespace sv1 = ::orch::session::v1;

template <typename T>
using Done = std::function<void(absl::StatusOr<T>)>;

struct SessionsClientOptions {
  grpc_util::ChannelOptions channel;    // TLS to the engines when channel.tls.ca_pem is set
  int connections_per_endpoint = 4;     // HTTP/2 connections per engine (>= 1)
  absl::Duration call_timeout = absl::Seconds(5);   // default deadline of a call (> 0)
};

struct CallOptions {
  // The whole call, a repeat included; zero: SessionsClientOptions.call_timeout.
  absl::Duration deadline = absl::ZeroDuration();
  // The call may be sent again to a new primary after an UNAVAILABLE.
  bool retry_safe = false;
};

class SessionsClient {
 public:
  // `directory` and `clock` are not owned and must outlive the client.
  // INVALID_ARGUMENT naming the option when `options` is not valid.
  static absl::StatusOr<std::unique_ptr<SessionsClient>> Create(NodeDirectory* directory, time::Clock* clock,
                                                                SessionsClientOptions options);
  // Shutdown(zero).
  ~SessionsClient();

  void StartSession(int node, sv1::StartSessionRequest req, CallOptions call, Done<sv1::StartSessionResponse> done);
  void SendEvent(int node, sv1::SendEventRequest req, CallOptions call, Done<sv1::SendEventResponse> done);
  // Never repeated (a request is answered by the session once), whatever
  // `call.retry_safe` says.
  void Request(int node, sv1::RequestEventRequest req, CallOptions call, Done<sv1::RequestEventResponse> done);
  void QuerySession(int node, sv1::QuerySessionRequest req, CallOptions call, Done<sv1::QuerySessionResponse> done);
  void TerminateSession(int node, sv1::TerminateSessionRequest req, CallOptions call,
                        Done<sv1::TerminateSessionResponse> done);
  void WakeSession(int node, sv1::WakeSessionRequest req, CallOptions call, Done<sv1::WakeSessionResponse> done);

  // New calls answer UNAVAILABLE from now on; calls in flight get `grace`
  // (on the injected clock) to finish, then are cancelled (CANCELLED).
  // Returns once every call's `done` has returned. Idempotent.
  void Shutdown(absl::Duration grace);

  // Endpoints whose channels are kept (for tests of the eviction).
  size_t CachedEndpoints() const;

 private:
  struct Endpoint;   // the stubs of one engine, one per connection

  SessionsClient(NodeDirectory* directory, time::Clock* clock, SessionsClientOptions options);

  // One call: resolve, send, maybe refresh and repeat. `Method` is the
  // generated stub's async method for Req/Resp.
  template <typename Req, typename Resp, typename Method>
  void Invoke(int node, std::shared_ptr<const Req> req, Method method, bool retry_safe,
              std::chrono::system_clock::time_point deadline, int attempt, Done<Resp> done);
  template <typename Req, typename Resp, typename Method>
  void Start(int node, Req req, const CallOptions& call, bool retry_safe, Method method, Done<Resp> done);

  // The stubs for `endpoint`, created on first use; drops those of
  // endpoints that are no longer a primary when the directory changed.
  std::shared_ptr<const Endpoint> EndpointFor(const std::string& endpoint) ABSL_LOCKS_EXCLUDED(mu_);
  // Counted calls, for Shutdown: a call from its start until its `done`
  // has returned; a context while its RPC is in flight.
  bool BeginCall() ABSL_LOCKS_EXCLUDED(mu_);
  void EndCall() ABSL_LOCKS_EXCLUDED(mu_);
  bool Track(::grpc::ClientContext* ctx) ABSL_LOCKS_EXCLUDED(mu_);
  void Untrack(::grpc::ClientContext* ctx) ABSL_LOCKS_EXCLUDED(mu_);

  NodeDirectory* const directory_;
  time::Clock* const clock_;
  const SessionsClientOptions options_;
  std::atomic<uint64_t> next_connection_{0};

  mutable absl::Mutex mu_;
  absl::CondVar cv_;   // calls ending while stopping_
  std::map<std::string, std::shared_ptr<const Endpoint>> endpoints_ ABSL_GUARDED_BY(mu_);
  uint64_t swept_version_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<::grpc::ClientContext*> in_flight_ ABSL_GUARDED_BY(mu_);
  int64_t calls_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;   // grace over: new RPCs are cancelled at once
};

}  // namespace orch::sessionapi
