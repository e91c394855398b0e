#pragma once

#include <memory>

#include "common/redis/client_base.h"

namespace orch::redis {

// A client for one Redis server (options.nodes[0]) over one pipelined
// connection, plus one for writes that wait for replicas. When the server cannot be reached, requests fail at once with
// UNAVAILABLE (no waiting for the timeout) until the reconnect backoff has
// passed and a new connection attempt is made by the next request.
class StandaloneClient : public ClientBase {
 public:
  // `options` must have passed ValidateRedisOptions. Does not connect.
  static absl::StatusOr<std::unique_ptr<StandaloneClient>> Create(const RedisOptions& options);
  ~StandaloneClient() override;

  bool is_cluster() const override { return false; }

 protected:
  void Route(std::shared_ptr<Request> req) override;
  void ShutdownInLoop() override;

 private:
  explicit StandaloneClient(RedisOptions options) : ClientBase(std::move(options)) {}
  std::unique_ptr<Connection> conn_;             // loop thread
  std::unique_ptr<Connection> replicated_conn_;  // loop thread: ReplicaWait writes
};

}  // namespace orch::redis
