#pragma once

// SessionsBackend over gRPC. Where each node's primary serves is read from
// its lease ("node:<n>", written by session-engine) through persistence-proxy
// — the gateway never talks to Redis. A background thread refreshes the
// leases of every node it knows every `lease_refresh` (so a takeover is
// followed within that time); a node seen for the first time is looked up at
// once, its calls waiting for the answer. A call that fails UNAVAILABLE makes
// the gateway re-read the lease; if the primary changed and the call is safe
// to repeat, it is sent once more to the new primary.
//
// Calls use gRPC's callback API: no thread waits for an engine.

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/grpc/channel.h"
#include "orch/persistence/v1/persistence.grpc.pb.h"
#include "orch/session/v1/sessions.grpc.pb.h"
#include "services/rest_gateway/sessions_backend.h"

namespace grpc {
class ClientContext;
}

namespace orch::rest_gateway {

struct GrpcBackendOptions {
  std::string proxy_endpoint;               // persistence-proxy
  grpc_util::ChannelOptions proxy_channel;
  grpc_util::ChannelOptions engine_channel; // TLS to the engines, if they serve it
  absl::Duration lease_refresh = absl::Milliseconds(500);
  absl::Duration call_timeout = absl::Seconds(5);
  std::vector<int> nodes;                   // looked up from the start
  int engine_connections = 4;               // HTTP/2 connections per engine, calls spread over them
};

class GrpcBackend final : public SessionsBackend {
 public:
  explicit GrpcBackend(GrpcBackendOptions options);
  ~GrpcBackend() override;

  void StartSession(int node, sv1::StartSessionRequest req, bool retry_safe,
                    Done<sv1::StartSessionResponse> done) override;
  void SendEvent(int node, sv1::SendEventRequest req, bool retry_safe, Done<sv1::SendEventResponse> done) override;
  void Request(int node, sv1::RequestEventRequest req, absl::Duration deadline,
               Done<sv1::RequestEventResponse> done) override;
  void QuerySession(int node, sv1::QuerySessionRequest req, Done<sv1::QuerySessionResponse> done) override;
  void TerminateSession(int node, sv1::TerminateSessionRequest req, Done<sv1::TerminateSessionResponse> done) override;
  NodeStatus Node(int node) override;
  bool StoreReachable() override { return store_reachable_.load(); }

  // Cancels every call in flight (they answer CANCELLED), waits for their
  // callbacks (at most `wait`), stops the refresher. Idempotent.
  void Shutdown(absl::Duration wait);

  struct Route {
    std::shared_ptr<sv1::Sessions::Stub> stub;
    std::string endpoint;
  };
  // Finds the node's primary (waiting for a first lookup if needed), then
  // calls `then`; UNAVAILABLE naming the node when it has none.
  void Resolve(int node, std::function<void(absl::StatusOr<Route>)> then);
  // Re-reads the node's lease now; `then` gets the (possibly new) route.
  void Refresh(int node, std::function<void(absl::StatusOr<Route>)> then);

  // In-flight bookkeeping for Shutdown.
  bool Begin(::grpc::ClientContext* ctx);
  void End(::grpc::ClientContext* ctx);
  absl::Duration call_timeout() const { return options_.call_timeout; }

 private:
  struct NodeEntry {
    bool configured = false;     // in routing.nodes: always refreshed
    absl::Time last_used;        // others are refreshed while used in the last minute
    bool looked_up = false;
    bool lookup_in_flight = false;
    NodeStatus status;
    std::shared_ptr<const std::vector<std::shared_ptr<sv1::Sessions::Stub>>> stubs;
    std::vector<std::function<void(absl::StatusOr<Route>)>> waiters;
  };

  void StartLookup(int node);                      // with mu_ held; at most one per node
  void OnLease(int node, const ::grpc::Status& s, const orch::persistence::v1::GetLeaseResponse& r);
  absl::StatusOr<Route> RouteOf(int node, const NodeEntry& e);
  void RefreshLoop();

  const GrpcBackendOptions options_;
  std::unique_ptr<orch::persistence::v1::Persistence::Stub> proxy_;
  std::atomic<bool> store_reachable_{false};

  std::mutex mu_;
  std::map<int, NodeEntry> nodes_;
  // By endpoint: one stub per connection.
  std::map<std::string, std::shared_ptr<const std::vector<std::shared_ptr<sv1::Sessions::Stub>>>> stubs_;
  std::atomic<uint64_t> next_stub_{0};
  std::set<::grpc::ClientContext*> in_flight_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread refresher_;
};

}  // namespace orch::rest_gateway
