#include "services/rest_gateway/rest_gateway.h"

#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/config/client_tls.h"
#include "common/config/cluster_values.h"
#include "common/config/validators.h"
#include "common/grpc/channel.h"
#include "common/grpc/server.h"
#include "common/log/log.h"
#include "common/tls/tls_files.h"
#include "services/rest_gateway/api.h"
#include "services/rest_gateway/grpc_backend.h"
#include "services/rest_gateway/http_server.h"

namespace orch::rest_gateway {

extern const char kOpenApiYaml[];   // generated from docs/api/openapi.yaml

namespace {

using config::OptionType;

void AddOptions(config::Schema* s) {
  s->Add({.section = "http", .name = "listen", .type = OptionType::kString,
          .default_value = std::string("127.0.0.1:7180"), .help = "HTTP(S) address of the REST API (host:port; port 0: any)",
          .validate = config::ValidateListenAddress});
  s->AddInt("http", "threads", 2, 1, 256, "threads serving HTTP connections");
  s->AddString("http", "tls-cert", "certificate chain (PEM): serve HTTPS");
  s->AddString("http", "tls-key", "its private key (PEM)");
  s->AddString("http", "tls-client-ca", "CA (PEM) that verifies client certificates (mutual TLS)");
  s->AddBool("http", "tls-require-client-cert", false, "refuse TLS clients without a certificate signed by tls-client-ca");
  s->AddInt("http", "max-body-bytes", 1 << 20, 0, 64 << 20, "largest request body; larger: 413");
  s->AddInt("http", "max-header-bytes", 16 << 10, 1024, 1 << 20, "largest request line and headers; larger: 431");
  s->AddInt("http", "read-timeout-ms", 10000, 10, 600000,
      "a whole request (and a TLS handshake) must arrive within this; slower: 408 and close");
  s->AddInt("http", "idle-timeout-ms", 60000, 10, 3600000, "keep-alive connections with no request are closed after this");
  s->AddInt("http", "max-connections", 10000, 1, 1000000, "open connections; beyond: 503 and close");
  s->AddInt("http", "rate-limit-per-s", 0, 0, 100000000, "requests per second per client (token, certificate or IP); 0: off");
  s->AddInt("http", "rate-limit-burst", 0, 0, 100000000, "bucket size of the rate limit (0: twice the rate)");

  s->AddBool("auth", "allow-anonymous", false, "serve /scxml/ without credentials (local demos only)");
  s->Add({.section = "auth", .name = "token", .type = OptionType::kString, .default_value = std::string(),
          .help = "a bearer token clients must send (usually from ORCH_AUTH_TOKEN)", .secret = true});
  s->AddString("auth", "tokens-file", "file of '<client-name> <token>' lines (re-read when it changes)");
  s->AddStringList("auth", "client-cert-identities", {}, "subject CNs of client certificates that authenticate (mutual TLS)");

  s->AddInt("api", "request-timeout-ms", 10000, 1, 300000, "how long /request waits for the session's answer by default");
  s->AddInt("api", "max-request-timeout-ms", 300000, 1, 300000, "the most a client's Request-Timeout may ask for");
  s->AddInt("api", "call-timeout-ms", 5000, 10, 600000, "deadline of each call to a session-engine");
  s->AddStringList("api", "query-data-names", {}, "data model variables /query returns (default: none)");
  s->AddBool("api", "query-active-states", true, "/query returns the active states");

  s->AddStringList("routing", "nodes", {"1"}, "node ids new sessions are started on (round robin)");
  s->Add({.section = "routing", .name = "proxy-endpoint", .type = OptionType::kString,
          .default_value = std::string("127.0.0.1:7102"),
          .help = "persistence-proxy's gRPC address (node leases are read there)",
          .validate = config::ValidateEndpoint});
  s->AddInt("routing", "lease-refresh-ms", 500, 50, 60000, "how often each node's lease is re-read");
  s->AddInt("routing", "engine-connections", 4, 1, 64, "HTTP/2 connections to each session-engine (calls spread over them)");
  s->AddString("routing", "external-url",
      "when set, requests for sessions of nodes not in routing.nodes get 307 to <external-url><path>");
  config::AddClientTlsOptions(s, "routing", "proxy", "persistence-proxy");
  config::AddClientTlsOptions(s, "routing", "engine", "the session-engines");
}

class RestGatewayComponent final : public process::Component {
 public:
  static absl::StatusOr<std::unique_ptr<RestGatewayComponent>> Create(const process::RunContext& ctx) {
    const config::Config& c = ctx.config;
    auto self = std::unique_ptr<RestGatewayComponent>(new RestGatewayComponent());

    ApiOptions api;
    auto nodes = config::ClusterNodeIds(c, "routing.nodes");
    if (!nodes.ok()) return nodes.status();
    api.nodes = *std::move(nodes);
    api.external_url = c.GetString("routing.external-url");
    while (!api.external_url.empty() && api.external_url.back() == '/') api.external_url.pop_back();
    if (!api.external_url.empty() && !absl::StartsWith(api.external_url, "http://") &&
        !absl::StartsWith(api.external_url, "https://")) {
      return absl::InvalidArgumentError("routing.external-url: must start with http:// or https://");
    }
    api.request_timeout_ms = static_cast<int>(c.GetInt("api.request-timeout-ms"));
    api.max_request_timeout_ms = static_cast<int>(c.GetInt("api.max-request-timeout-ms"));
    api.query_data_names = c.GetStringList("api.query-data-names");
    api.query_active_states = c.GetBool("api.query-active-states");
    api.rate_limit_per_s = static_cast<double>(c.GetInt("http.rate-limit-per-s"));
    api.rate_limit_burst = c.GetInt("http.rate-limit-burst") > 0 ? static_cast<double>(c.GetInt("http.rate-limit-burst"))
                                                                  : 2 * api.rate_limit_per_s;
    api.openapi_yaml = kOpenApiYaml;

    AuthOptions auth;
    auth.allow_anonymous = c.GetBool("auth.allow-anonymous");
    auth.token = c.GetString("auth.token");
    auth.tokens_file = c.GetString("auth.tokens-file");
    auth.client_cert_identities = c.GetStringList("auth.client-cert-identities");
    auto authenticator = Authenticator::Create(auth);
    if (!authenticator.ok()) return authenticator.status();
    self->auth_ = *std::move(authenticator);

    auto proxy = grpc_util::ChannelOptionsFromConfig(c, "routing.proxy");
    if (!proxy.ok()) return proxy.status();
    auto engine = grpc_util::ChannelOptionsFromConfig(c, "routing.engine");
    if (!engine.ok()) return engine.status();

    HttpServerOptions http;
    http.listen = c.GetString("http.listen");
    http.threads = static_cast<int>(c.GetInt("http.threads"));
    auto tls = tls::LoadTlsFiles({c.GetString("http.tls-cert"), c.GetString("http.tls-key"),
                                  c.GetString("http.tls-client-ca"), "http.tls-cert", "http.tls-key",
                                  "http.tls-client-ca"});
    if (!tls.ok()) return tls.status();
    if (!tls->enabled() && !tls->ca_pem.empty()) {
      return absl::InvalidArgumentError("http.tls-client-ca needs http.tls-cert and http.tls-key");
    }
    http.tls = *tls;
    http.require_client_cert = c.GetBool("http.tls-require-client-cert");
    http.max_body_bytes = static_cast<size_t>(c.GetInt("http.max-body-bytes"));
    http.max_header_bytes = static_cast<size_t>(c.GetInt("http.max-header-bytes"));
    http.read_timeout_ms = static_cast<int>(c.GetInt("http.read-timeout-ms"));
    http.write_timeout_ms = http.read_timeout_ms;
    http.idle_timeout_ms = static_cast<int>(c.GetInt("http.idle-timeout-ms"));
    http.max_connections = static_cast<size_t>(c.GetInt("http.max-connections"));
    if (!auth.client_cert_identities.empty() && tls->ca_pem.empty()) {
      return absl::InvalidArgumentError("auth.client-cert-identities needs http.tls-client-ca");
    }

    GrpcBackendOptions b;
    b.proxy_endpoint = c.GetString("routing.proxy-endpoint");
    b.proxy_channel = *proxy;
    b.engine_channel = *engine;
    b.lease_refresh = absl::Milliseconds(c.GetInt("routing.lease-refresh-ms"));
    b.call_timeout = absl::Milliseconds(c.GetInt("api.call-timeout-ms"));
    b.nodes = api.nodes;
    b.engine_connections = static_cast<int>(c.GetInt("routing.engine-connections"));
    self->grace_ = absl::Milliseconds(c.GetInt("server.shutdown-grace-ms"));
    self->metrics_ = std::make_unique<GatewayMetrics>(&ctx.metrics);
    auto backend = GrpcBackend::Create(b);
    if (!backend.ok()) return backend.status();
    self->backend_ = *std::move(backend);
    self->api_ = std::make_unique<Api>(api, self->backend_.get(), self->auth_.get(), self->metrics_.get());
    Api* a = self->api_.get();
    auto server = HttpServer::Start(http, [a](std::shared_ptr<Exchange> ex) { a->Handle(std::move(ex)); });
    if (!server.ok()) return server.status();
    self->http_ = *std::move(server);
    self->nodes_ = api.nodes;
    self->tls_on_ = tls->enabled();
    self->anonymous_ = auth.allow_anonymous;
    self->housekeeper_ = std::thread([s = self.get()] { s->Housekeeping(); });
    return self;
  }

  ~RestGatewayComponent() override { Stop(); }

  std::vector<::grpc::Service*> Services() override { return {}; }

  // Logged once everything serves (a start that fails keeps its single
  // error line).
  void OnServing(grpc_util::GrpcServer&) override {
    if (anonymous_) {
      log::Warn("auth.allow-anonymous is true: the REST API serves sessions without credentials (demos only)");
    }
    log::Info("http serving", {{"http", http_->address()}, {"tls", tls_on_ ? "on" : "off"},
                               {"auth", anonymous_ ? "anonymous allowed" : "required"}});
  }

  void Stop() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    cv_.notify_all();
    if (housekeeper_.joinable()) housekeeper_.join();
    // New connections are refused; calls in flight get the grace period,
    // then are cancelled; then every connection closes.
    if (http_) http_->StopAccepting();
    if (backend_) backend_->Shutdown(grace_);
    if (http_) http_->Stop();
  }

 private:
  RestGatewayComponent() = default;

  void Housekeeping() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopped_) {
      cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopped_; });
      if (stopped_) break;
      lock.unlock();
      if (auto st = auth_->Reload(); !st.ok()) log::Error("tokens file not reloaded", {{"error", std::string(st.message())}});
      for (int n : nodes_) metrics_->SetNodeUp(n, backend_->Node(n).up);
      HttpServerStats s = http_->stats();
      metrics_->SetConnections(s.connections_open, s.connections_accepted, s.connections_refused,
                               s.tls_handshake_failures);
      lock.lock();
    }
  }

  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<GatewayMetrics> metrics_;
  std::unique_ptr<GrpcBackend> backend_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<HttpServer> http_;
  std::vector<int> nodes_;
  bool tls_on_ = false;
  bool anonymous_ = false;
  absl::Duration grace_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  std::thread housekeeper_;
};

}  // namespace

process::ProcessDefinition Definition() {
  return {
      .name = "rest-gateway",
      .description = "the HTTP API (/scxml/session/...), routed to the owning node",
      .metrics_prefix = "orch_rest_gateway",
      .default_grpc_listen = "127.0.0.1:7105",
      .default_metrics_listen = "127.0.0.1:9105",
      .add_options = AddOptions,
      .node_name = nullptr,
      .create = [](const process::RunContext& ctx) -> absl::StatusOr<std::unique_ptr<process::Component>> {
        auto c = RestGatewayComponent::Create(ctx);
        if (!c.ok()) return c.status();
        return std::unique_ptr<process::Component>(*std::move(c));
      },
  };
}

}  // namespace orch::rest_gateway
