#include "services/rest_gateway/grpc_backend.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/grpc/status.h"
#include "common/log/log.h"
#include "common/sessionapi/session_id.h"
#include "grpcpp/grpcpp.h"

namespace orch::rest_gateway {
namespace {

namespace pv1 = ::orch::persistence::v1;

constexpr absl::Duration kUnusedAfter = absl::Minutes(1);

// One call in flight: its context, request and response live until the
// callback has run.
template <typename Req, typename Resp>
struct CallState {
  ::grpc::ClientContext ctx;
  Req req;
  Resp resp;
};

// The async method of the generated stub for each request type.
template <typename Req, typename Resp>
using AsyncMethod = void (sv1::Sessions::Stub::async_interface::*)(::grpc::ClientContext*, const Req*, Resp*,
                                                                     std::function<void(::grpc::Status)>);

template <typename Req, typename Resp>
void Invoke(GrpcBackend* backend, int node, Req req, bool retry_safe, absl::Duration deadline,
            AsyncMethod<Req, Resp> method, Done<Resp> done, int attempt) {
  backend->Resolve(node, [=, req = std::move(req), done = std::move(done)](
                             absl::StatusOr<GrpcBackend::Route> route) mutable {
    if (!route.ok()) return done(route.status());
    auto call = std::make_shared<CallState<Req, Resp>>();
    call->req = std::move(req);
    call->ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    if (!backend->Begin(&call->ctx)) return done(absl::UnavailableError("rest-gateway is shutting down"));
    auto* async = route->stub->async();
    const std::string used = route->endpoint;
    (async->*method)(&call->ctx, &call->req, &call->resp,
                     [=, done = std::move(done)](::grpc::Status s) mutable {
                       backend->End(&call->ctx);
                       if (s.ok()) return done(std::move(call->resp));
                       absl::Status st = grpc_util::FromGrpcStatus(s);
                       if (s.error_code() != ::grpc::StatusCode::UNAVAILABLE) return done(st);
                       // The primary may have changed: read the lease again.
                       backend->Refresh(node, [=, done = std::move(done)](
                                                  absl::StatusOr<GrpcBackend::Route> fresh) mutable {
                         if (retry_safe && attempt == 0 && fresh.ok() && fresh->endpoint != used) {
                           return Invoke<Req, Resp>(backend, node, std::move(call->req), retry_safe, deadline, method,
                                                    std::move(done), attempt + 1);
                         }
                         done(absl::UnavailableError(absl::StrCat("node ", node, " is not reachable")));
                       });
                     });
  });
}

}  // namespace

GrpcBackend::GrpcBackend(GrpcBackendOptions options) : options_(std::move(options)) {
  proxy_ = pv1::Persistence::NewStub(grpc_util::MakeChannel(options_.proxy_endpoint, options_.proxy_channel));
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int n : options_.nodes) {
      nodes_[n].configured = true;
      StartLookup(n);
    }
  }
  refresher_ = std::thread([this] { RefreshLoop(); });
}

GrpcBackend::~GrpcBackend() { Shutdown(absl::Seconds(5)); }

void GrpcBackend::Shutdown(absl::Duration wait) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!stopping_) {
    stopping_ = true;
    for (auto* ctx : in_flight_) ctx->TryCancel();
    cv_.notify_all();
  }
  cv_.wait_for(lock, absl::ToChronoNanoseconds(wait), [&] {
    if (!in_flight_.empty()) return false;
    for (const auto& [n, e] : nodes_) {
      if (e.lookup_in_flight) return false;
    }
    return true;
  });
  lock.unlock();
  if (refresher_.joinable()) refresher_.join();
}

bool GrpcBackend::Begin(::grpc::ClientContext* ctx) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return false;
  in_flight_.insert(ctx);
  return true;
}

void GrpcBackend::End(::grpc::ClientContext* ctx) {
  std::lock_guard<std::mutex> lock(mu_);
  in_flight_.erase(ctx);
  if (stopping_) cv_.notify_all();
}

absl::StatusOr<GrpcBackend::Route> GrpcBackend::RouteOf(int node, const NodeEntry& e) {
  if (!e.status.up || e.stubs == nullptr || e.stubs->empty()) {
    if (!store_reachable_.load()) {
      return absl::UnavailableError(absl::StrCat("cannot find node ", node, "'s primary now"));
    }
    return absl::UnavailableError(absl::StrCat("node ", node, " has no primary"));
  }
  const auto& stubs = *e.stubs;
  return Route{stubs[next_stub_.fetch_add(1, std::memory_order_relaxed) % stubs.size()], e.status.endpoint};
}

void GrpcBackend::StartLookup(int node) {
  NodeEntry& e = nodes_[node];
  if (e.lookup_in_flight || stopping_) return;
  e.lookup_in_flight = true;
  auto call = std::make_shared<CallState<pv1::GetLeaseRequest, pv1::GetLeaseResponse>>();
  call->req.set_name(sessionapi::NodeLeaseName(node));
  call->ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
  proxy_->async()->GetLease(&call->ctx, &call->req, &call->resp,
                            [this, node, call](::grpc::Status s) { OnLease(node, s, call->resp); });
}

void GrpcBackend::OnLease(int node, const ::grpc::Status& s, const pv1::GetLeaseResponse& r) {
  std::vector<std::function<void(absl::StatusOr<Route>)>> waiters;
  absl::StatusOr<Route> route = absl::UnavailableError("");
  {
    std::lock_guard<std::mutex> lock(mu_);
    NodeEntry& e = nodes_[node];
    e.lookup_in_flight = false;
    e.looked_up = true;
    store_reachable_.store(s.ok());
    if (s.ok()) {
      const bool up = !r.holder().empty() && !r.endpoint().empty() && r.remaining_ms() > 0;
      if (up && r.endpoint() != e.status.endpoint) {
        auto& stubs = stubs_[r.endpoint()];
        if (stubs == nullptr) {
          auto v = std::make_shared<std::vector<std::shared_ptr<sv1::Sessions::Stub>>>();
          for (int i = 0; i < std::max(1, options_.engine_connections); ++i) {
            grpc_util::ChannelOptions o = options_.engine_channel;
            o.connection_index = i;
            v->push_back(sv1::Sessions::NewStub(grpc_util::MakeChannel(r.endpoint(), o)));
          }
          stubs = std::move(v);
        }
        if (!e.status.endpoint.empty()) {
          log::Info("node primary changed", {{"engine_node", absl::StrCat(node)}, {"endpoint", r.endpoint()}});
        }
        e.stubs = stubs;
      }
      e.status.up = up;
      if (up) e.status.endpoint = r.endpoint();
      e.status.retry_after_s =
          std::max(1, static_cast<int>(std::ceil(static_cast<double>(r.remaining_ms()) / 1000.0)));
    } else {
      // The store is unreachable: keep the last known route (the primary is
      // probably still serving) but say so when it is gone.
      e.status.retry_after_s = 1;
    }
    route = RouteOf(node, e);
    waiters.swap(e.waiters);
    if (stopping_) cv_.notify_all();
  }
  for (auto& w : waiters) w(route);
}

void GrpcBackend::Resolve(int node, std::function<void(absl::StatusOr<Route>)> then) {
  absl::StatusOr<Route> route = absl::UnavailableError("");
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      route = absl::UnavailableError("rest-gateway is shutting down");
    } else {
      NodeEntry& e = nodes_[node];
      const absl::Time now = absl::Now();
      // A node nobody asked about for a while is not refreshed: look it up
      // again before trusting what is known.
      if (!e.configured && now - e.last_used > kUnusedAfter) e.looked_up = false;
      e.last_used = now;
      if (!e.looked_up) {
        e.waiters.push_back(std::move(then));
        StartLookup(node);
        return;
      }
      route = RouteOf(node, e);
    }
  }
  then(std::move(route));
}

void GrpcBackend::Refresh(int node, std::function<void(absl::StatusOr<Route>)> then) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      nodes_[node].waiters.push_back(std::move(then));
      StartLookup(node);
      return;
    }
  }
  then(absl::UnavailableError("rest-gateway is shutting down"));
}

NodeStatus GrpcBackend::Node(int node) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) {
    if (!stopping_) StartLookup(node);
    return {};
  }
  return it->second.status;
}

void GrpcBackend::RefreshLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, absl::ToChronoNanoseconds(options_.lease_refresh), [&] { return stopping_; });
    if (stopping_) break;
    const absl::Time now = absl::Now();
    for (auto& [n, e] : nodes_) {
      // Only nodes in use: ids naming thousands of nodes must not make the
      // gateway poll thousands of leases.
      if (e.configured || now - e.last_used <= kUnusedAfter) StartLookup(n);
    }
  }
}

void GrpcBackend::StartSession(int node, sv1::StartSessionRequest req, bool retry_safe,
                               Done<sv1::StartSessionResponse> done) {
  Invoke<sv1::StartSessionRequest, sv1::StartSessionResponse>(this, node, std::move(req), retry_safe,
                                                               options_.call_timeout,
                                                               &sv1::Sessions::Stub::async_interface::StartSession,
                                                               std::move(done), 0);
}

void GrpcBackend::SendEvent(int node, sv1::SendEventRequest req, bool retry_safe, Done<sv1::SendEventResponse> done) {
  Invoke<sv1::SendEventRequest, sv1::SendEventResponse>(this, node, std::move(req), retry_safe,
                                                        options_.call_timeout,
                                                        &sv1::Sessions::Stub::async_interface::SendEvent,
                                                        std::move(done), 0);
}

void GrpcBackend::Request(int node, sv1::RequestEventRequest req, absl::Duration deadline,
                          Done<sv1::RequestEventResponse> done) {
  Invoke<sv1::RequestEventRequest, sv1::RequestEventResponse>(this, node, std::move(req), false, deadline,
                                                              &sv1::Sessions::Stub::async_interface::Request,
                                                              std::move(done), 0);
}

void GrpcBackend::QuerySession(int node, sv1::QuerySessionRequest req, Done<sv1::QuerySessionResponse> done) {
  Invoke<sv1::QuerySessionRequest, sv1::QuerySessionResponse>(this, node, std::move(req), true, options_.call_timeout,
                                                              &sv1::Sessions::Stub::async_interface::QuerySession,
                                                              std::move(done), 0);
}

void GrpcBackend::TerminateSession(int node, sv1::TerminateSessionRequest req,
                                   Done<sv1::TerminateSessionResponse> done) {
  Invoke<sv1::TerminateSessionRequest, sv1::TerminateSessionResponse>(
      this, node, std::move(req), true, options_.call_timeout,
      &sv1::Sessions::Stub::async_interface::TerminateSession, std::move(done), 0);
}

}  // namespace orch::rest_gateway
