#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace orch::redis {

class RedisObserver;

enum class RedisMode {
  kAuto,        // ask the first reachable seed (`INFO cluster`, cluster_enabled)
  kStandalone,  // one server (the first of `nodes`)
  kCluster,     // Redis Cluster; `nodes` are seeds for CLUSTER SLOTS
};

// How to reach Redis. Field names follow the configuration options of the
// `[persistence]` section; `option_prefix` + the option name appears in
// every configuration error ("persistence.tls-cacert: ...").
struct RedisOptions {
  std::vector<std::string> nodes;  // redis-nodes: "host:port" or "[v6]:port"
  RedisMode mode = RedisMode::kAuto;

  std::string username;  // username: ACL user; empty = legacy AUTH <password>
  std::string password;  // password: empty = no AUTH (never printed)

  bool tls_enabled = false;    // tls-enabled
  std::string tls_cert;        // tls-cert: client certificate (with tls-key)
  std::string tls_key;         // tls-key
  std::string tls_cacert;      // tls-cacert: CA bundle file
  std::string tls_cacertdir;   // tls-cacertdir: hashed CA directory
  std::string tls_sni;         // tls-sni: server name sent and verified
  // Verify that the server certificate names the host we connect to (or
  // tls-sni). Off only for tests or certificates without SANs.
  bool tls_verify_server_name = true;

  absl::Duration connect_timeout = absl::Seconds(2);  // TCP + TLS + AUTH
  absl::Duration request_timeout = absl::Seconds(5);  // default for ExecuteSync
  // Reconnect backoff: after a failed connection attempt a node is not tried
  // again for `backoff_initial`, doubling up to `backoff_max`.
  absl::Duration backoff_initial = absl::Milliseconds(50);
  absl::Duration backoff_max = absl::Seconds(1);
  int max_redirects = 5;  // MOVED/ASK per request

  std::string option_prefix = "persistence.";
  RedisObserver* observer = nullptr;  // not owned; must outlive the client
};

// Checks the options without touching the network: nodes parse, cert and key
// come together, TLS files are readable PEM of the right kind (via
// orch::tls::LoadTlsFiles), timeouts are positive. INVALID_ARGUMENT naming
// the option otherwise.
absl::Status ValidateRedisOptions(const RedisOptions& options);

}  // namespace orch::redis
