#include "common/sessionapi/sessions_client.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/grpc/status.h"
#include "grpcpp/grpcpp.h"
#include "orch/session/v1/sessions.grpc.pb.h"

namespace orch::sessionapi {

struct SessionsClient::Endpoint {
  std::vector<std::unique_ptr<sv1::Sessions::Stub>> stubs;
};

namespace {

// One RPC in flight: its context and response live until its callback ran.
template <typename Resp>
struct Rpc {
  ::grpc::ClientContext ctx;
  Resp resp;
};

using Stub = sv1::Sessions::Stub::async_interface;

// The generated stub's callback method for Req/Resp (named through this
// type, which picks the std::function overload over the reactor one).
template <typename Req, typename Resp>
using AsyncMethod = void (Stub::*)(::grpc::ClientContext*, const Req*, Resp*, std::function<void(::grpc::Status)>);

}  // namespace

absl::StatusOr<std::unique_ptr<SessionsClient>> SessionsClient::Create(NodeDirectory* directory, time::Clock* clock,
                                                                        SessionsClientOptions options) {
  if (options.connections_per_endpoint < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("connections_per_endpoint must be at least 1 (got ", options.connections_per_endpoint, ")"));
  }
  if (options.call_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("call_timeout must be positive (got ", absl::FormatDuration(options.call_timeout), ")"));
  }
  return std::unique_ptr<SessionsClient>(new SessionsClient(directory, clock, std::move(options)));
}

SessionsClient::SessionsClient(NodeDirectory* directory, time::Clock* clock, SessionsClientOptions options)
    : directory_(directory), clock_(clock), options_(std::move(options)) {}

SessionsClient::~SessionsClient() { Shutdown(absl::ZeroDuration()); }

void SessionsClient::Shutdown(absl::Duration grace) {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
  const int64_t due = clock_->MonotonicMs() + absl::ToInt64Milliseconds(grace);
  while (calls_ > 0 && !cancelled_ && !clock_->WaitUntil(&cv_, &mu_, due)) {
  }
  if (!cancelled_) {
    cancelled_ = true;
    for (::grpc::ClientContext* ctx : in_flight_) ctx->TryCancel();
  }
  while (calls_ > 0) cv_.Wait(&mu_);
}

bool SessionsClient::BeginCall() {
  absl::MutexLock lock(&mu_);
  if (stopping_) return false;
  ++calls_;
  return true;
}

void SessionsClient::EndCall() {
  absl::MutexLock lock(&mu_);
  if (--calls_ == 0 && stopping_) cv_.SignalAll();
}

bool SessionsClient::Track(::grpc::ClientContext* ctx) {
  absl::MutexLock lock(&mu_);
  if (cancelled_) return false;
  in_flight_.insert(ctx);
  return true;
}

void SessionsClient::Untrack(::grpc::ClientContext* ctx) {
  absl::MutexLock lock(&mu_);
  in_flight_.erase(ctx);
}

size_t SessionsClient::CachedEndpoints() const {
  absl::MutexLock lock(&mu_);
  return endpoints_.size();
}

std::shared_ptr<const SessionsClient::Endpoint> SessionsClient::EndpointFor(const std::string& endpoint) {
  // Asked before taking mu_: the directory has its own lock.
  const uint64_t version = directory_->Version();
  bool sweep;
  {
    absl::MutexLock lock(&mu_);
    sweep = version != swept_version_;
  }
  const std::set<std::string> live = sweep ? directory_->PrimaryEndpoints() : std::set<std::string>();
  absl::MutexLock lock(&mu_);
  if (sweep) {
    // Calls in flight keep their stubs; only the cache lets go.
    for (auto it = endpoints_.begin(); it != endpoints_.end();) {
      it = (it->first != endpoint && !live.contains(it->first)) ? endpoints_.erase(it) : std::next(it);
    }
    swept_version_ = version;
  }
  std::shared_ptr<const Endpoint>& e = endpoints_[endpoint];
  if (e == nullptr) {
    auto made = std::make_shared<Endpoint>();
    for (int i = 0; i < options_.connections_per_endpoint; ++i) {
      grpc_util::ChannelOptions o = options_.channel;
      o.connection_index = i;
      made->stubs.push_back(sv1::Sessions::NewStub(grpc_util::MakeChannel(endpoint, o)));
    }
    e = std::move(made);
  }
  return e;
}

template <typename Req, typename Resp, typename Method>
void SessionsClient::Invoke(int node, std::shared_ptr<const Req> req, Method method, bool retry_safe,
                            std::chrono::system_clock::time_point deadline, int attempt, Done<Resp> done) {
  directory_->Resolve(node, [=, this, done = std::move(done)](absl::StatusOr<std::string> endpoint) mutable {
    if (!endpoint.ok()) return done(endpoint.status());
    std::shared_ptr<const Endpoint> e = EndpointFor(*endpoint);
    auto rpc = std::make_shared<Rpc<Resp>>();
    rpc->ctx.set_deadline(deadline);
    if (!Track(&rpc->ctx)) return done(absl::CancelledError("the sessions client is shut down"));
    Stub* stub = e->stubs[next_connection_.fetch_add(1, std::memory_order_relaxed) % e->stubs.size()]->async();
    // `keep` rides along: the stub stays alive while its call is in flight.
    (stub->*method)(&rpc->ctx, req.get(), &rpc->resp,
                    [=, this, keep = std::move(e), used = *endpoint, done = std::move(done)](::grpc::Status s) mutable {
      Untrack(&rpc->ctx);
      if (s.ok()) return done(std::move(rpc->resp));
      if (s.error_code() != ::grpc::StatusCode::UNAVAILABLE) return done(grpc_util::FromGrpcStatus(s));
      absl::Status failed = absl::UnavailableError(absl::StrCat("node ", node, " (", used, "): ", s.error_message()));
      // The primary may have changed: read the lease again, so this call
      // (when safe) and the next ones go to the new one.
      directory_->Refresh(node, [=, this, done = std::move(done)](absl::StatusOr<std::string> fresh) mutable {
        if (retry_safe && attempt == 0 && fresh.ok() && *fresh != used &&
            std::chrono::system_clock::now() < deadline) {
          return Invoke<Req, Resp>(node, req, method, retry_safe, deadline, attempt + 1, std::move(done));
        }
        done(failed);
      });
    });
  });
}

template <typename Req, typename Resp, typename Method>
void SessionsClient::Start(int node, Req req, const CallOptions& call, bool retry_safe, Method method,
                           Done<Resp> done) {
  if (!BeginCall()) return done(absl::UnavailableError("the sessions client is shut down"));
  const absl::Duration timeout = call.deadline > absl::ZeroDuration() ? call.deadline : options_.call_timeout;
  const auto deadline = std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout);
  Invoke<Req, Resp>(node, std::make_shared<const Req>(std::move(req)), method, retry_safe, deadline, 0,
                    Done<Resp>([this, done = std::move(done)](absl::StatusOr<Resp> r) {
                      done(std::move(r));
                      EndCall();
                    }));
}

void SessionsClient::StartSession(int node, sv1::StartSessionRequest req, CallOptions call,
                                  Done<sv1::StartSessionResponse> done) {
  Start(node, std::move(req), call, call.retry_safe,
        AsyncMethod<sv1::StartSessionRequest, sv1::StartSessionResponse>(&Stub::StartSession), std::move(done));
}

void SessionsClient::SendEvent(int node, sv1::SendEventRequest req, CallOptions call,
                               Done<sv1::SendEventResponse> done) {
  Start(node, std::move(req), call, call.retry_safe,
        AsyncMethod<sv1::SendEventRequest, sv1::SendEventResponse>(&Stub::SendEvent), std::move(done));
}

void SessionsClient::Request(int node, sv1::RequestEventRequest req, CallOptions call,
                             Done<sv1::RequestEventResponse> done) {
  Start(node, std::move(req), call, false,
        AsyncMethod<sv1::RequestEventRequest, sv1::RequestEventResponse>(&Stub::Request), std::move(done));
}

void SessionsClient::QuerySession(int node, sv1::QuerySessionRequest req, CallOptions call,
                                  Done<sv1::QuerySessionResponse> done) {
  Start(node, std::move(req), call, call.retry_safe,
        AsyncMethod<sv1::QuerySessionRequest, sv1::QuerySessionResponse>(&Stub::QuerySession), std::move(done));
}

void SessionsClient::TerminateSession(int node, sv1::TerminateSessionRequest req, CallOptions call,
                                      Done<sv1::TerminateSessionResponse> done) {
  Start(node, std::move(req), call, call.retry_safe,
        AsyncMethod<sv1::TerminateSessionRequest, sv1::TerminateSessionResponse>(&Stub::TerminateSession),
        std::move(done));
}

void SessionsClient::WakeSession(int node, sv1::WakeSessionRequest req, CallOptions call,
                                 Done<sv1::WakeSessionResponse> done) {
  Start(node, std::move(req), call, call.retry_safe,
        AsyncMethod<sv1::WakeSessionRequest, sv1::WakeSessionResponse>(&Stub::WakeSession), std::move(done));
}

}  // namespace orch::sessionapi
