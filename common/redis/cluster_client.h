#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/redis/client_base.h"
#include "common/redis/cluster_slots.h"

namespace orch::redis {

// A Redis Cluster client: a slot map from CLUSTER SLOTS (asked of the seeds
// and of known nodes in turn), one pipelined connection per node, MOVED
// (map updated, request re-sent, topology refreshed), ASK (ASKING + one
// redirect), TRYAGAIN/CLUSTERDOWN and unreachable nodes (retried with backoff
// until the request's deadline, topology refreshed). Requests that were
// written to a connection that then broke fail with UNAVAILABLE: they may have
// executed, so only the caller can decide to repeat them.
class ClusterClient : public ClientBase {
 public:
  // `options` must have passed ValidateRedisOptions. Does not connect: the
  // first request triggers the first topology query.
  static absl::StatusOr<std::unique_ptr<ClusterClient>> Create(const RedisOptions& options);
  ~ClusterClient() override;

  bool is_cluster() const override { return true; }

 protected:
  void Route(std::shared_ptr<Request> req) override;
  void ShutdownInLoop() override;
  void OnReply(Connection* conn, std::shared_ptr<Request> req, RedisReply reply) override;
  void OnRequestFailed(Connection* conn, std::shared_ptr<Request> req, absl::Status status,
                       bool maybe_sent) override;
  void OnDisconnected(Connection* conn, const absl::Status& why) override;

 private:
  explicit ClusterClient(RedisOptions options) : ClientBase(std::move(options)) {}

  // The node's ordinary connection, or its connection for writes that wait
  // for replicas.
  Connection* GetConnection(const std::string& address, bool replicated = false);
  void RetryLater(std::shared_ptr<Request> req, absl::Status why);
  // Asks for the topology soon (at most one query in flight, and at most one
  // every kMinRefreshInterval).
  void RequestRefresh();
  void StartRefresh();
  void OnSlots(const std::string& address, const std::string& host,
               absl::StatusOr<RedisReply> reply);

  // Loop-thread state.
  SlotMap map_;
  std::map<std::string, std::unique_ptr<Connection>> connections_;
  std::map<std::string, std::unique_ptr<Connection>> replicated_connections_;
  std::vector<std::shared_ptr<Request>> waiting_;  // for a topology
  bool refreshing_ = false;
  absl::Time last_refresh_ = absl::InfinitePast();
  std::optional<EventLoop::TimerId> refresh_timer_;
  size_t refresh_candidate_ = 0;
  size_t any_master_ = 0;
};

}  // namespace orch::redis
