#include "services/persistence_proxy/persistence_proxy.h"

#include <atomic>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/config/cluster_values.h"
#include "common/config/validators.h"
#include "common/grpc/server.h"
#include "common/log/log.h"
#include "common/metrics/metrics_server.h"
#include "common/redis/redis_client.h"
#include "orch/persistence/v1/persistence.grpc.pb.h"
#include "services/persistence_proxy/ack_replicas.h"
#include "services/persistence_proxy/metered_store.h"
#include "services/persistence_proxy/persistence_service.h"
#include "services/persistence_proxy/redis_store.h"

namespace orch::persistence_proxy {
namespace {

using config::OptionType;

// The seeds' [persistence] section (Configure ORS with Redis Cluster), plus
// the cluster name of the key prefix ORS:<cluster>: and our own limits.
void AddOptions(config::Schema* s) {
  auto str = [&](const char* name, const char* help, bool secret = false) {
    s->Add({.section = "persistence", .name = name, .type = OptionType::kString,
            .default_value = std::string(), .help = help, .secret = secret});
  };
  auto num = [&](const char* name, int64_t def, int64_t min, int64_t max, const char* help) {
    s->Add({.section = "persistence", .name = name, .type = OptionType::kInt,
            .default_value = def, .help = help, .min = min, .max = max});
  };
  s->Add({.section = "persistence", .name = "type", .type = OptionType::kString,
          .default_value = std::string("redis"), .help = "storage type", .allowed = {"redis"}});
  s->Add({.section = "persistence", .name = "redis-nodes", .type = OptionType::kStringList,
          .default_value = std::vector<std::string>{"127.0.0.1:6379"},
          .help = "seed addresses host:port (one for standalone, any masters for a cluster)",
          .validate = config::ValidateEndpointList});
  s->Add({.section = "persistence", .name = "redis-mode", .type = OptionType::kString,
          .default_value = std::string("auto"),
          .help = "standalone or cluster; auto asks the first seed that answers (INFO cluster)",
          .allowed = {"auto", "standalone", "cluster"}});
  s->Add({.section = "persistence", .name = "cluster-name", .type = OptionType::kString,
          .default_value = std::string("orch"), .help = "keys live under ORS:<cluster-name>:",
          .validate = [](const config::Value& v) -> absl::Status {
            const auto& name = std::get<std::string>(v);
            if (name.empty() || name.find_first_of(":{} \t\r\n") != std::string::npos) {
              return absl::InvalidArgumentError("must be non-empty, without ':', '{', '}' or spaces");
            }
            return absl::OkStatus();
          }});
  str("username", "ACL user name (empty: default user)");
  str("password", "ACL or AUTH password", /*secret=*/true);
  s->Add({.section = "persistence", .name = "tls-enabled", .type = OptionType::kBool,
          .default_value = false, .help = "TLS to Redis"});
  str("tls-cert", "client certificate (PEM) for Redis TLS; needs tls-key");
  str("tls-key", "client private key (PEM); needs tls-cert");
  str("tls-cacert", "CA bundle (PEM) that verifies Redis");
  str("tls-cacertdir", "directory of CA certificates, instead of tls-cacert");
  str("tls-sni", "server name to send and verify, instead of the host of redis-nodes");
  num("connect-timeout-ms", 1000, 10, 60000, "TCP + TLS + AUTH to one Redis node");
  num("request-timeout-ms", 1000, 10, 60000,
      "a Redis request without a reply by then fails with UNAVAILABLE");
  num("max-session-lifetime-s", 30 * 24 * 3600, 60, 10LL * 365 * 24 * 3600,
      "TTL of every key, refreshed on activity (sessions idle longer disappear)");
  num("max-entry-bytes", 256 * 1024, 64, 64 * 1024 * 1024, "largest serialized log entry");
  num("max-batch-entries", 1000, 1, 100000, "most entries in one AppendEvents");
  num("max-snapshot-bytes", 16 * 1024 * 1024, 1024, 512LL * 1024 * 1024, "largest snapshot");
  num("max-document-bytes", 4 * 1024 * 1024, 1024, 512LL * 1024 * 1024, "largest document source");
  num("read-page-entries", 256, 1, 100000, "entries per ReadLog stream message / Redis call");
  num("append-calls-in-flight", 4, 1, 1024,
      "group commit: Append script calls in flight per hash slot; appends arriving meanwhile "
      "go together in the next call");
  num("append-call-entries", 256, 1, 100000, "group commit: most entries in one Append script call");
  num("health-check-interval-ms", 500, 50, 60000,
      "period of the PING that drives redis_up and the health status");
  num("ack-replicas", kAckReplicasAuto, kAckReplicasAuto, 100,
      "replicas of its master every write must reach (WAIT) before it is acknowledged; "
      "-1 = auto: 1 where the masters have replicas, 0 where none has");
  num("ack-timeout-ms", 500, 1, 60000,
      "how long a write waits for its replicas; then it fails with UNAVAILABLE (applied on the "
      "master, not replicated)");
  s->AddCheck([](const config::Config& c) -> absl::Status {
    if (c.GetString("persistence.tls-cert").empty() != c.GetString("persistence.tls-key").empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("persistence.tls-cert and persistence.tls-key: set both or neither (",
                       c.IsSet("persistence.tls-cert") ? c.Origin("persistence.tls-cert")
                                                       : c.Origin("persistence.tls-key"),
                       ")"));
    }
    if (!c.GetBool("persistence.tls-enabled")) {
      for (const char* key : {"persistence.tls-cert", "persistence.tls-cacert",
                              "persistence.tls-cacertdir", "persistence.tls-sni"}) {
        if (!c.GetString(key).empty()) {
          return absl::InvalidArgumentError(absl::StrCat(
              c.Origin(key), ": ", key, " is set but persistence.tls-enabled is false"));
        }
      }
    }
    // TLS files readable and of the right kind: a configuration error
    // (exit 2) rather than a failing connection later.
    return redis::ValidateRedisOptions(RedisOptionsFromConfig(c));
  });
}

// Owns the Redis client, the store and the service; a monitor thread PINGs
// Redis to drive redis_up and the health status of the Persistence service,
// and creates the client if Redis could not be reached at start-up.
class ProxyComponent final : public process::Component {
 public:
  static absl::StatusOr<std::unique_ptr<ProxyComponent>> Create(const process::RunContext& ctx) {
    auto c = std::unique_ptr<ProxyComponent>(new ProxyComponent(ctx));
    auto cluster_name = config::ClusterName(ctx.config, "persistence.cluster-name");
    if (!cluster_name.ok()) return cluster_name.status();
    c->store_options_.cluster_name = *std::move(cluster_name);
    if (auto s = c->Connect(/*at_start=*/true); !s.ok()) return s;
    return c;
  }

  ~ProxyComponent() override { Stop(); }

  std::vector<::grpc::Service*> Services() override { return {&service_}; }

  // The monitor starts once the server serves, so nothing is logged before
  // the "serving" line (start-up failures stay one line).
  void OnServing(grpc_util::GrpcServer& server) override {
    server_.store(&server);
    ReportHealth(up_.load());
    monitor_ = std::thread([this] { Monitor(); });
  }

  void Stop() override {
    if (!stop_.HasBeenNotified()) stop_.Notify();
    if (monitor_.joinable()) monitor_.join();
  }

 private:
  explicit ProxyComponent(const process::RunContext& ctx)
      : metrics_(ctx.metrics),
        redis_options_(RedisOptionsFromConfig(ctx.config)),
        ack_policy_(static_cast<int>(ctx.config.GetInt("persistence.ack-replicas"))),
        interval_(absl::Milliseconds(ctx.config.GetInt("persistence.health-check-interval-ms"))),
        service_([this] { return store(); },
                 static_cast<uint32_t>(ctx.config.GetInt("persistence.read-page-entries"))) {
    const auto& c = ctx.config;
    store_options_.max_lifetime = absl::Seconds(c.GetInt("persistence.max-session-lifetime-s"));
    store_options_.request_timeout = absl::Milliseconds(c.GetInt("persistence.request-timeout-ms"));
    store_options_.max_entry_bytes = c.GetInt("persistence.max-entry-bytes");
    store_options_.max_batch_entries = c.GetInt("persistence.max-batch-entries");
    store_options_.max_snapshot_bytes = c.GetInt("persistence.max-snapshot-bytes");
    store_options_.max_document_bytes = c.GetInt("persistence.max-document-bytes");
    store_options_.append_calls_in_flight = static_cast<int>(c.GetInt("persistence.append-calls-in-flight"));
    store_options_.append_call_entries = c.GetInt("persistence.append-call-entries");
    store_options_.ack_timeout = absl::Milliseconds(c.GetInt("persistence.ack-timeout-ms"));
    redis_options_.observer = &metrics_;
    metrics_.SetRedisUp(false);
  }

  std::shared_ptr<Store> store() {
    absl::MutexLock l(&mu_);
    return store_;
  }

  // Creates the client. At start-up, a configuration that Redis refuses
  // (authentication, TLS verification) is fatal; Redis being unreachable is
  // not (the monitor retries, RPCs answer UNAVAILABLE meanwhile).
  absl::Status Connect(bool at_start) {
    auto client = redis::CreateRedisClient(redis_options_);
    if (!client.ok()) {
      if (client.status().code() == absl::StatusCode::kUnavailable) {
        if (!at_start && !reported_down_) {
          reported_down_ = true;
          log::Warn("Redis is not reachable yet; retrying",
                    {{"error", std::string(client.status().message())}});
        }
        return absl::OkStatus();
      }
      if (at_start) return client.status();
      log::Error("cannot connect to Redis", {{"error", std::string(client.status().message())}});
      return absl::OkStatus();
    }
    std::shared_ptr<redis::RedisClient> shared = std::move(*client);
    if (at_start && redis_options_.mode != redis::RedisMode::kAuto) {
      // An explicit mode does not touch the network in the factory: check
      // the credentials now so a wrong password stops the process.
      auto pong = shared->ExecuteSync({"PING"}, redis_options_.connect_timeout +
                                                    store_options_.request_timeout);
      if (!pong.ok() && pong.status().code() == absl::StatusCode::kFailedPrecondition) {
        return pong.status();
      }
    }
    ObserveReplicas(*shared);
    StoreOptions options = store_options_;
    options.ack_replicas = ack_policy_.replicas();
    auto redis_store = std::make_shared<RedisStore>(shared, options);
    absl::MutexLock l(&mu_);
    client_ = std::move(shared);
    redis_store_ = redis_store;
    store_ = std::make_shared<MeteredStore>(std::move(redis_store), &metrics_);
    return absl::OkStatus();
  }

  // Reads the masters' replica counts into the ack policy (logging what
  // changed) and hands the store the replicas to wait for. Not on the Redis
  // client's I/O thread; called by Connect and the monitor only.
  void ObserveReplicas(redis::RedisClient& client) {
    absl::StatusOr<ReplicaCounts> counts =
        ReadReplicaCounts(client, store_options_.request_timeout);
    if (!counts.ok()) return;  // Redis unreachable: the health check says so
    const AckPolicy::Note note = ack_policy_.Observe(*counts);
    if (!note.text.empty()) {
      if (note.warning) {
        log::Warn(note.text);
      } else {
        log::Info(note.text);
      }
    }
    absl::MutexLock l(&mu_);
    if (redis_store_ != nullptr) redis_store_->set_ack_replicas(ack_policy_.replicas());
  }

  void Monitor() {
    while (!stop_.WaitForNotificationWithTimeout(up_.load() ? interval_ : std::min(interval_, absl::Milliseconds(200)))) {
      std::shared_ptr<redis::RedisClient> client;
      {
        absl::MutexLock l(&mu_);
        client = client_;
      }
      if (client == nullptr) {
        (void)Connect(/*at_start=*/false);
        continue;
      }
      auto pong = client->ExecuteSync({"PING"}, std::max(interval_, store_options_.request_timeout));
      const bool up = pong.ok() && !pong->is_error();
      if (up != up_.exchange(up) || (!up && !reported_down_)) {
        reported_down_ = !up;
        if (up) {
          log::Info("Redis reachable");
        } else {
          log::Warn("Redis unreachable", {{"error", pong.ok() ? pong->DebugString()
                                                               : std::string(pong.status().message())}});
        }
      }
      metrics_.SetRedisUp(up);
      ReportHealth(up);
      // The topology: at every check while "auto" may still change, else
      // every kTopologyChecks checks (for the warning when a master lacks
      // replicas).
      if (up && (!ack_policy_.settled() || ++checks_ % kTopologyChecks == 0)) {
        ObserveReplicas(*client);
      }
    }
  }

  void ReportHealth(bool up) {
    if (auto* server = server_.load(); server != nullptr) {
      server->SetServing(pb::Persistence::service_full_name(), up);
    }
  }

  static constexpr int kTopologyChecks = 20;

  StoreMetrics metrics_;
  redis::RedisOptions redis_options_;
  StoreOptions store_options_;
  AckPolicy ack_policy_;  // Connect at start, then the monitor thread only
  int checks_ = 0;        // monitor thread only
  absl::Duration interval_;
  PersistenceService service_;

  absl::Mutex mu_;
  std::shared_ptr<redis::RedisClient> client_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<Store> store_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<RedisStore> redis_store_ ABSL_GUARDED_BY(mu_);  // inside store_

  std::atomic<bool> up_{false};
  bool reported_down_ = false;  // monitor thread only
  std::atomic<grpc_util::GrpcServer*> server_{nullptr};
  absl::Notification stop_;
  std::thread monitor_;
};

}  // namespace

redis::RedisOptions RedisOptionsFromConfig(const config::Config& c) {
  redis::RedisOptions o;
  o.nodes = c.GetStringList("persistence.redis-nodes");
  const std::string& mode = c.GetString("persistence.redis-mode");
  o.mode = mode == "standalone" ? redis::RedisMode::kStandalone
           : mode == "cluster"  ? redis::RedisMode::kCluster
                                : redis::RedisMode::kAuto;
  o.username = c.GetString("persistence.username");
  o.password = c.GetString("persistence.password");
  o.tls_enabled = c.GetBool("persistence.tls-enabled");
  o.tls_cert = c.GetString("persistence.tls-cert");
  o.tls_key = c.GetString("persistence.tls-key");
  o.tls_cacert = c.GetString("persistence.tls-cacert");
  o.tls_cacertdir = c.GetString("persistence.tls-cacertdir");
  o.tls_sni = c.GetString("persistence.tls-sni");
  o.connect_timeout = absl::Milliseconds(c.GetInt("persistence.connect-timeout-ms"));
  o.request_timeout = absl::Milliseconds(c.GetInt("persistence.request-timeout-ms"));
  o.option_prefix = "persistence.";
  return o;
}

process::ProcessDefinition Definition() {
  return {
      .name = "persistence-proxy",
      .description = "the only process that talks to Redis: logs, snapshots, leases, schedules",
      .metrics_prefix = "orch_persistence",
      .default_grpc_listen = "127.0.0.1:7102",
      .default_metrics_listen = "127.0.0.1:9102",
      .add_options = AddOptions,
      .node_name = nullptr,
      .create = [](const process::RunContext& ctx) -> absl::StatusOr<std::unique_ptr<process::Component>> {
        auto c = ProxyComponent::Create(ctx);
        if (!c.ok()) return c.status();
        return std::unique_ptr<process::Component>(std::move(*c));
      },
  };
}

}  // namespace orch::persistence_proxy
