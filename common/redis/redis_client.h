#pragma once

// orch::redis::RedisClient — the one way our processes talk to Redis.
//
// Threading: every client owns one I/O thread (epoll) that owns all its
// connections. Methods may be called from any thread. Callbacks run on the
// I/O thread: they must be quick and must not block on the client (ExecuteSync
// from a callback returns FAILED_PRECONDITION instead of deadlocking).
//
// Errors: a callback always runs exactly once, at the latest shortly after
// the request's timeout.
//  - A reply from Redis, including an error reply ("ERR ...", "WRONGTYPE ...",
//    "NOSCRIPT ..."), is an OK StatusOr holding a RedisReply. Redirections
//    (MOVED, ASK) and TRYAGAIN/CLUSTERDOWN are handled inside the client.
//  - UNAVAILABLE: Redis could not be reached, the connection broke while the
//    request was in flight (it may or may not have executed), or the
//    timeout passed, or a write that waits for replicas (ReplicaWait) ran
//    but was not replicated in time. Retry the call.
//  - FAILED_PRECONDITION: the configuration does not work with this server
//    (authentication failed, TLS verification failed); the message names the
//    option, never the password.
//  - CANCELLED: the client is being destroyed.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/redis/redis_options.h"
#include "common/redis/reply.h"

namespace orch::redis {

// Metric hooks. Called on the I/O thread; implementations must be quick and
// thread-safe with respect to their own readers.
class RedisObserver {
 public:
  enum class Redirect { kMoved, kAsk };
  virtual ~RedisObserver() = default;
  virtual void OnRedirect(Redirect kind) {}
  // A connection to `address` was (re-)established after the first one.
  virtual void OnReconnect(const std::string& address) {}
  // A request finished (`ok`: a reply arrived, error replies included).
  virtual void OnRequestDone(absl::Duration latency, bool ok) {}
  virtual void OnTopologyRefresh(bool ok) {}
};

// Counters every client keeps (readable from any thread).
struct RedisClientStats {
  uint64_t requests = 0;        // finished requests
  uint64_t failed = 0;          // of which ended without a reply
  uint64_t moved = 0;           // MOVED redirections followed
  uint64_t ask = 0;             // ASK redirections followed
  uint64_t retries = 0;         // TRYAGAIN/CLUSTERDOWN/unreachable-node retries
  uint64_t connects = 0;        // successful connection handshakes
  uint64_t reconnects = 0;      // of which were not the first to a node
  uint64_t topology_refreshes = 0;
  absl::Duration total_latency;  // sum over finished requests
};

// A Lua script run with EVALSHA; its SHA1 is computed once. Copies share
// the body (cheap: the client keeps one per request in flight).
class RedisScript {
 public:
  explicit RedisScript(std::string body);
  const std::string& body() const { return data_->body; }
  const std::string& sha1() const { return data_->sha1; }  // 40 lowercase hex digits

 private:
  struct Data {
    std::string body;
    std::string sha1;
  };
  std::shared_ptr<const Data> data_;
};

// Replication a write waits for before it counts (README.md, "Waiting for
// replicas"). With replicas > 0 the command goes on its node's connection
// for replicated writes, WAIT <replicas> <timeout> follows it there
// (pipelined; one WAIT covers every command written on that connection
// before it), and its reply is delivered only once WAIT reports at least
// `replicas` replicas. Fewer, or a WAIT error, completes it with
// UNAVAILABLE ("... ran, but only 0 of 1 replicas acknowledged it ...": the
// write is applied on the master and may be lost in a failover). An error
// reply comes back at once, not waited for: the caller's commands and
// scripts must write nothing when they answer with an error.
struct ReplicaWait {
  int replicas = 0;  // 0: no WAIT
  // WAIT's own timeout (at least 1 ms; WAIT 0 would block for ever). The
  // request's deadline is extended by it.
  absl::Duration timeout = absl::Milliseconds(500);
};

class RedisClient {
 public:
  using Callback = absl::AnyInvocable<void(absl::StatusOr<RedisReply>) &&>;
  using BatchCallback = absl::AnyInvocable<void(std::vector<absl::StatusOr<RedisReply>>) &&>;

  virtual ~RedisClient() = default;

  // Sends one command (args[0] is the command name; binary-safe). In cluster
  // mode it goes to the node serving the slot of its first key (see
  // FirstKeyIndex); keyless commands go to any master.
  virtual void Execute(std::vector<std::string> args, absl::Duration timeout,
                       const ReplicaWait& wait, Callback done) = 0;

  // Sends several commands at once, pipelined (in cluster mode, each to its
  // node); `done` receives the results in order. No atomicity: use EvalSha.
  virtual void ExecuteBatch(std::vector<std::vector<std::string>> commands, absl::Duration timeout,
                            const ReplicaWait& wait, BatchCallback done) = 0;

  // EVALSHA script numkeys keys... args...; on NOSCRIPT, SCRIPT LOAD on the
  // same node and EVALSHA again, within the same timeout. In cluster mode all
  // keys must share a slot (use one hash tag), as Redis requires.
  virtual void EvalSha(const RedisScript& script, std::vector<std::string> keys,
                       std::vector<std::string> args, absl::Duration timeout,
                       const ReplicaWait& wait, Callback done) = 0;

  // EVALSHA already encoded: `wire` is BeginEvalSha(script, numkeys, n)
  // followed by exactly n bulk strings (CommandWriter::Add), the keys first.
  // For large commands assembled from pre-encoded parts (no vector of
  // strings, no re-encoding). `slot` routes it on a cluster (KeySlot of the
  // keys, which must share one); ignored by the standalone client. NOSCRIPT
  // handling as EvalSha.
  virtual void EvalShaWire(const RedisScript& script, std::string wire, int slot,
                           absl::Duration timeout, const ReplicaWait& wait, Callback done) = 0;

  // The same without waiting for replicas.
  void Execute(std::vector<std::string> args, absl::Duration timeout, Callback done) {
    Execute(std::move(args), timeout, ReplicaWait{}, std::move(done));
  }
  void ExecuteBatch(std::vector<std::vector<std::string>> commands, absl::Duration timeout,
                    BatchCallback done) {
    ExecuteBatch(std::move(commands), timeout, ReplicaWait{}, std::move(done));
  }
  void EvalSha(const RedisScript& script, std::vector<std::string> keys,
               std::vector<std::string> args, absl::Duration timeout, Callback done) {
    EvalSha(script, std::move(keys), std::move(args), timeout, ReplicaWait{}, std::move(done));
  }
  void EvalShaWire(const RedisScript& script, std::string wire, int slot, absl::Duration timeout,
                   Callback done) {
    EvalShaWire(script, std::move(wire), slot, timeout, ReplicaWait{}, std::move(done));
  }
  // The header of such a command: "*<n+3> EVALSHA <sha1> <numkeys>".
  static std::string BeginEvalSha(const RedisScript& script, size_t numkeys, size_t n);

  virtual RedisClientStats stats() const = 0;
  virtual bool is_cluster() const = 0;

  // Blocking convenience wrappers (not on the I/O thread).
  absl::StatusOr<RedisReply> ExecuteSync(std::vector<std::string> args,
                                         absl::Duration timeout = absl::Seconds(5));
  std::vector<absl::StatusOr<RedisReply>> ExecuteBatchSync(
      std::vector<std::vector<std::string>> commands, absl::Duration timeout = absl::Seconds(5));
  absl::StatusOr<RedisReply> EvalShaSync(const RedisScript& script, std::vector<std::string> keys,
                                         std::vector<std::string> args,
                                         absl::Duration timeout = absl::Seconds(5));

 protected:
  // True on the client's I/O thread (where blocking would deadlock).
  virtual bool OnIoThread() const = 0;
};

// Validates `options` (INVALID_ARGUMENT naming the option) and builds the
// client. With RedisMode::kAuto it connects to the seeds in turn and asks
// `INFO cluster`: UNAVAILABLE when none answers within the connect timeout,
// FAILED_PRECONDITION when authentication or TLS verification fails. With an
// explicit mode it does not touch the network: problems show in requests.
absl::StatusOr<std::unique_ptr<RedisClient>> CreateRedisClient(const RedisOptions& options);

}  // namespace orch::redis
