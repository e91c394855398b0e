#pragma once

// What StandaloneClient and ClusterClient share: the I/O thread, request
// lifetime (timers, completion exactly once, stats), TLS context, batches and
// EVALSHA with script loading. Internal to common/redis.

#include <openssl/ssl.h>

#include <atomic>
#include <memory>
#include <unordered_map>

#include "common/redis/connection.h"
#include "common/redis/event_loop.h"
#include "common/redis/redis_client.h"

namespace orch::redis {

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

// Builds the client TLS context (verification on, CA, client certificate).
// FAILED_PRECONDITION/INVALID_ARGUMENT naming the option on failure.
absl::StatusOr<SslCtxPtr> MakeClientSslContext(const RedisOptions& options);

class ClientBase : public RedisClient, public ConnectionListener {
 public:
  using RedisClient::EvalSha;
  using RedisClient::EvalShaWire;
  using RedisClient::Execute;
  using RedisClient::ExecuteBatch;
  void Execute(std::vector<std::string> args, absl::Duration timeout, const ReplicaWait& wait,
               Callback done) override;
  void ExecuteBatch(std::vector<std::vector<std::string>> commands, absl::Duration timeout,
                    const ReplicaWait& wait, BatchCallback done) override;
  void EvalSha(const RedisScript& script, std::vector<std::string> keys,
               std::vector<std::string> args, absl::Duration timeout, const ReplicaWait& wait,
               Callback done) override;
  void EvalShaWire(const RedisScript& script, std::string wire, int slot, absl::Duration timeout,
                   const ReplicaWait& wait, Callback done) override;
  RedisClientStats stats() const override;

 protected:
  // Cannot fail; Init() creates the TLS context and starts the I/O thread.
  explicit ClientBase(RedisOptions options);
  ~ClientBase() override;
  absl::Status Init();
  // Derived destructors call this first: fails every live request with
  // CANCELLED, calls ShutdownInLoop(), joins the I/O thread.
  void Shutdown();

  bool OnIoThread() const override { return loop_ != nullptr && loop_->InLoopThread(); }

  // Loop thread. Sends `req` to its node (or queues it): on the node's
  // connection for replicated writes when req->wait_replicas > 0 (WAIT
  // blocks the connection it is sent on, so reads and PINGs never queue
  // behind one), else on its ordinary connection.
  virtual void Route(std::shared_ptr<Request> req) = 0;
  // Loop thread, at shutdown: destroy connections.
  virtual void ShutdownInLoop() = 0;

  std::shared_ptr<Request> MakeRequest(std::vector<std::string> args, absl::Time deadline,
                                       Callback done, const ReplicaWait& wait = {});
  std::shared_ptr<Request> MakeWireRequest(std::shared_ptr<const std::string> wire, int slot,
                                           std::string name, absl::Time deadline, Callback done,
                                           const ReplicaWait& wait = {});
  // Loop thread: registers the request (timer) and routes it.
  void Start(std::shared_ptr<Request> req);
  // Loop thread: finishes `req` once (later calls are ignored).
  void Complete(const std::shared_ptr<Request>& req, absl::StatusOr<RedisReply> result);

  // ConnectionListener defaults (standalone behaviour).
  void OnReply(Connection* conn, std::shared_ptr<Request> req, RedisReply reply) override;
  void OnRequestFailed(Connection* conn, std::shared_ptr<Request> req, absl::Status status,
                       bool maybe_sent) override;
  void OnConnected(Connection* conn, bool reconnect) override;
  void OnDisconnected(Connection* conn, const absl::Status& why) override {}

  const RedisOptions options_;
  ConnectionSettings settings_;
  SslCtxPtr ssl_ctx_;
  std::unique_ptr<EventLoop> loop_;

  struct Counters {
    std::atomic<uint64_t> requests{0}, failed{0}, moved{0}, ask{0}, retries{0}, connects{0},
        reconnects{0}, topology_refreshes{0};
    std::atomic<int64_t> latency_ns{0};
  };
  Counters counters_;

 private:
  void OnTimeout(const std::shared_ptr<Request>& req);
  void StartEvalSha(RedisScript script, std::shared_ptr<const std::string> wire, int slot,
                    absl::Time deadline, ReplicaWait wait, Callback done, bool loaded);

  // Every request started and not yet completed (loop thread).
  std::unordered_map<Request*, std::shared_ptr<Request>> live_;
  bool shut_down_ = false;
};

}  // namespace orch::redis
