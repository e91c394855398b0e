#pragma once

// Real redis-server processes for tests: a standalone server (optionally
// TLS-only, optionally with extra config such as ACL users) and a six-node
// Redis Cluster (three masters, one replica each). Processes are started on
// loopback at free ports and stopped by PID (SIGKILL in destructors).
// Start() fails loudly (an error status naming the server's last output) if
// redis-server cannot start; tests must not skip.

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/testing/subprocess.h"
#include "common/testing/temp_dir.h"

namespace orch::testing {

struct RedisServerOptions {
  int port = 0;  // 0: pick a free port (retried on a collision)
  // TLS-only server (--port 0 --tls-port P): absolute paths.
  bool tls = false;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;
  bool tls_auth_clients = true;
  // Cluster node (--cluster-enabled yes); the bus port is port + 10000.
  bool cluster = false;
  std::vector<std::string> extra_args;  // e.g. {"--requirepass", "pw"}
};

class RedisServer {
 public:
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start(RedisServerOptions options);
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return options_.port; }
  std::string address() const { return "127.0.0.1:" + std::to_string(options_.port); }
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  bool running() const { return process_ != nullptr && process_->running(); }
  const std::string& dir() const { return dir_.path(); }

  // Sends `sig` (SIGKILL by default) to the server and waits for it to exit.
  absl::Status Stop(int sig = 9);
  // SIGSTOPs the server and waits until the kernel reports it stopped: from
  // then on it answers nothing, replication acknowledgements included.
  absl::Status Pause();
  // SIGCONT.
  absl::Status Resume();
  // Starts the server again on the same port with the same options (and,
  // for a cluster node, its nodes.conf).
  absl::Status Restart();
  // For a master that has been written to: waits until it has at least one
  // replica and every replica has acknowledged everything written before
  // the call (its offset in INFO replication reaches the master's offset at
  // the call). "state=online" alone is not enough: after a full sync the
  // master streams commands to a replica only once it has acknowledged, up
  // to a second later.
  absl::Status WaitForReplicasInSync(absl::Duration timeout) const;
  // Runs redis-cli against this server (TLS options added); stdout.
  absl::StatusOr<std::string> Cli(const std::vector<std::string>& args) const;

 private:
  explicit RedisServer(RedisServerOptions options) : options_(std::move(options)) {}
  absl::Status Launch();

  RedisServerOptions options_;
  TempDir dir_;
  std::unique_ptr<Subprocess> process_;
};

class RedisCluster {
 public:
  // Six nodes, `redis-cli --cluster create --cluster-replicas 1`, then waits
  // for cluster_state:ok on every node and for every replica to be in sync
  // (WaitForAllReplicasInSync).
  static absl::StatusOr<std::unique_ptr<RedisCluster>> Start();

  std::vector<std::string> addresses() const;
  RedisServer* node(const std::string& address) const;

  // The address of the master serving `slot`, per CLUSTER NODES of a
  // running node.
  absl::StatusOr<std::string> MasterOf(int slot) const;
  // The running replicas of the master at `master` (CLUSTER NODES of a
  // running node).
  absl::StatusOr<std::vector<std::string>> ReplicasOf(const std::string& master) const;
  // SIGKILLs the master of `slot` (after its replica is in sync) and waits
  // until another node serves the slot and every running node says
  // cluster_state:ok. Returns the new master's address.
  absl::StatusOr<std::string> KillMasterAndWaitForFailover(int slot, absl::Duration timeout);
  // Waits until every running node says cluster_state:ok.
  absl::Status WaitForClusterOk(absl::Duration timeout) const;
  // Writes (and deletes) a key on every master that serves slots, then waits
  // until each one's replicas have acknowledged it (RedisServer::
  // WaitForReplicasInSync): from then on a write a replica acknowledges is
  // streamed to it at once.
  absl::Status WaitForAllReplicasInSync(absl::Duration timeout) const;

 private:
  RedisCluster() = default;
  std::vector<std::unique_ptr<RedisServer>> nodes_;
};

}  // namespace orch::testing
