#pragma once

// The Orchestration REST API (docs/api.md): route, authenticate, limit,
// parse, forward to the session's node, and turn the answer into JSON.
// Handle() never blocks: forwarded calls answer through callbacks.
//
// Error bodies are {"error":{"code","message"}}. Messages of client errors
// (400, 404, 409, 413) come from the gateway or the engine and name the
// problem; for 5xx the message is generic (no store or engine detail) and the
// detail is logged with the request id (X-Request-Id).

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "services/rest_gateway/auth.h"
#include "services/rest_gateway/gateway_metrics.h"
#include "services/rest_gateway/http_server.h"
#include "services/rest_gateway/rate_limiter.h"
#include "services/rest_gateway/sessions_backend.h"

namespace orch::rest_gateway {

struct ApiOptions {
  std::vector<int> nodes = {1};          // new sessions go to these nodes
  std::string external_url;              // 307 target for sessions of other nodes; empty: forward them
  int request_timeout_ms = 10000;        // /request default
  int max_request_timeout_ms = 300000;
  std::vector<std::string> query_data_names;   // what a query may reveal
  bool query_active_states = true;
  double rate_limit_per_s = 0;           // per client; 0 = off
  double rate_limit_burst = 0;
  std::string openapi_yaml;              // served at /openapi.yaml
};

class Api {
 public:
  Api(ApiOptions options, SessionsBackend* backend, const Authenticator* auth, GatewayMetrics* metrics);

  void Handle(std::shared_ptr<Exchange> exchange);

 private:
  struct Call;
  void Dispatch(const std::shared_ptr<Call>& call);
  void Start(const std::shared_ptr<Call>& call);
  void Event(const std::shared_ptr<Call>& call, bool request);
  void Query(const std::shared_ptr<Call>& call);
  void Terminate(const std::shared_ptr<Call>& call);
  void Ready(const std::shared_ptr<Call>& call);
  // An engine's error as an HTTP answer (generic for 5xx, logged).
  void Fail(const std::shared_ptr<Call>& call, int node, const absl::Status& status);
  int PickNode(const std::string* idempotency_key);

  const ApiOptions options_;
  SessionsBackend* const backend_;
  const Authenticator* const auth_;
  GatewayMetrics* const metrics_;
  RateLimiter limiter_;
  std::atomic<uint64_t> next_node_{0};
  std::atomic<uint64_t> next_request_id_{0};
  const std::string request_id_prefix_;
};

}  // namespace orch::rest_gateway
