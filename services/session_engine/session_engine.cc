#include "services/session_engine/session_engine.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base/check.h"
#include "common/config/client_tls.h"
#include "common/config/cluster_values.h"
#include "common/config/validators.h"
#include "common/grpc/channel.h"
#include "common/grpc/server.h"
#include "common/log/log.h"
#include "services/session_engine/engine.h"
#include "services/session_engine/grpc_call_actions.h"
#include "services/session_engine/grpc_peer_sessions.h"
#include "services/session_engine/remote_session_store.h"
#include "common/sessionapi/session_id.h"
#include "services/session_engine/sessions_service.h"

namespace orch::session_engine {

using sessionapi::NewSessionId;
namespace {

using config::OptionType;

void AddOptions(config::Schema* s) {
  s->AddInt("orchestration", "node-id", 1, 1, 9999,
      "this node's id: session ids are ~<node-id>~..., one lease per node");
  s->AddInt("orchestration", "lease-ttl-ms", 5000, 500, 600000,
      "node lease lifetime: a standby takes over this long after the primary stops renewing");
  s->AddInt("orchestration", "lease-renew-ms", 1000, 50, 300000, "how often the primary renews (at most half the TTL)");
  s->AddInt("orchestration", "session-restart-timeout", 50, 10, 600000,
      "ms between cycles of restarts after a takeover (call sessions without persistence, and proactive "
      "recovery of persisted sessions); a cycle = session-processing-threads sessions");
  s->AddBool("orchestration", "proactive-recovery", true,
       "restore the node's sessions after a takeover without waiting for their next event");
  s->AddBool("orchestration", "sessionid-with-nodeid", true,
      "accepted for compatibility: session ids always carry the node (false is logged and ignored)");
  // Treatment state across a switchover is call-watcher's: these size a
  // primary-to-backup synchronisation this design does not have.
  s->AddInt("orchestration", "backup-synch-max-buffer", 100, 100, 1048576,
      "KB; accepted for compatibility, no effect (treatments survive a switchover in call-watcher)");
  s->AddInt("orchestration", "backup-synch-max-age", 600, 10, 86400,
      "seconds; accepted for compatibility, no effect (treatments survive a switchover in call-watcher)");
  // The seeds' "Value changes: Immediately" options (HA-37, [DGO] backup-synch-*).
  for (const char* key : {"orchestration.session-restart-timeout", "orchestration.backup-synch-max-buffer",
                          "orchestration.backup-synch-max-age"}) {
    s->SetReloadable(key);
  }
  s->Add({.section = "orchestration", .name = "advertise-endpoint", .type = OptionType::kString,
          .default_value = std::string(),
          .help = "host:port other processes reach this instance at (default: the bound gRPC address)"});

  s->AddInt("scxml", "session-processing-threads", 8, 1, 256,
      "worker threads; a session is pinned to one (also the sessions restarted per cycle after a takeover)");
  s->AddBool("scxml", "persistence-default", false, "persist sessions whose <scxml> has no _persist attribute");
  s->AddInt("scxml", "max-queued-inputs", 10000, 1, 10000000,
      "inputs waiting per worker; beyond it calls answer RESOURCE_EXHAUSTED");
  s->AddInt("scxml", "max-sessions", 200000, 1, 100000000, "sessions in memory; beyond it new ones are refused");
  s->AddInt("scxml", "max-event-bytes", 262144, 64, 67108864, "largest event (serialized); larger ones are refused");
  s->AddInt("scxml", "max-microsteps", 10000, 10, 10000000, "microsteps in one macrostep before error.execution");
  s->AddInt("scxml", "snapshot-every-entries", 100, 1, 1000000,
      "snapshot a persistent session once its queue drains after this many log entries");
  s->AddInt("scxml", "snapshot-every-ms", 10000, 1, 3600000,
      "... or once its oldest unsnapshotted entry is this old");
  s->Add({.section = "scxml", .name = "document-url-prefixes", .type = OptionType::kStringList,
          .default_value = std::vector<std::string>{},
          .help = "StartSession document URLs must begin with one of these (e.g. https://strategies.example/); "
                  "empty: any file:, http: or https: URL"});
  s->AddInt("scxml", "deactivate-idle-ms", 300000, 0, 315360000000,
      "drop idle persistent sessions from memory after this long (0: never)");
  s->AddInt("scxml", "sleep-min-ms", 60000, 0, 315360000000,
      "an idle persistent session whose next delayed send is at least this far off leaves memory too, with a "
      "wake timer at the scheduler (needs orchestration.scheduler-endpoint; 0: such sessions stay in memory)");
  s->Add({.section = "orchestration", .name = "scheduler-endpoint", .type = OptionType::kString,
          .default_value = std::string(),
          .help = "the scheduler's gRPC address, for wake timers of sleeping sessions (empty: sessions with "
                  "delayed sends pending stay in memory)",
          .validate = [](const config::Value& v) -> absl::Status {
            const auto& e = std::get<std::string>(v);
            return e.empty() ? absl::OkStatus() : config::ValidateEndpoint(v);
          }});
  s->AddInt("orchestration", "scheduler-timeout-ms", 2000, 10, 60000, "deadline of each call to the scheduler");
  s->AddInt("scxml", "max-session-age-ms", 0, 0, 315360000000,
      "sessions get session.maxage this long after they start and are terminated max-session-age-grace-ms "
      "later (hung sessions; a document's <scxml _maxSessionAge> wins; needs orchestration.scheduler-endpoint; "
      "0: no limit)");
  s->AddInt("scxml", "max-session-age-grace-ms", 5000, 0, 86400000,
      "time between session.maxage and the terminate");
  config::AddClientTlsOptions(s, "orchestration", "scheduler", "the scheduler (wake timers)");

  s->Add({.section = "persistence", .name = "proxy-endpoint", .type = OptionType::kString,
          .default_value = std::string("127.0.0.1:7102"), .help = "persistence-proxy's gRPC address",
          .validate = config::ValidateEndpoint});
  s->Add({.section = "persistence", .name = "cassandra-nodes", .type = OptionType::kString,
          .default_value = std::string(),
          .help = "accepted only as \"unknown\" or empty (no Cassandra: persistence is persistence-proxy's Redis)",
          .validate = [](const config::Value& v) -> absl::Status {
            const auto& nodes = std::get<std::string>(v);
            if (nodes.empty() || nodes == "unknown") return absl::OkStatus();
            return absl::InvalidArgumentError(
                "Cassandra is not supported (persistence goes through persistence-proxy to Redis); "
                "set it to \"unknown\" or remove it");
          }});
  s->AddInt("persistence", "request-timeout-ms", 2000, 10, 60000, "deadline of each call to persistence-proxy");
  s->AddBool("persistence", "append-stream", true,
       "send appends over one AppendEventsBatchStream, batched with other sessions' (false: one unary call each)");
  config::AddClientTlsOptions(s, "persistence", "proxy", "persistence-proxy");
  // TLS for sends to sessions of other nodes (their engines' gRPC servers).
  config::AddClientTlsOptions(s, "orchestration", "peer", "other nodes' session-engines");
  // Functional-module actions go to the call-watcher named by each session's
  // interaction binding.
  config::AddClientTlsOptions(s, "orchestration", "call-watcher", "call-watcher (sessions' module actions)");
  s->AddInt("orchestration", "call-watcher-timeout-ms", 5000, 10, 60000,
      "deadline of each module action handed to call-watcher");
  s->Add({.section = "orchestration", .name = "cluster-name", .type = OptionType::kString,
          .default_value = std::string(), .help = "the cluster's name, as sessions see it (_genesys.session.server.cluster)"});
}

class SessionEngineComponent final : public process::Component {
 public:
  static absl::StatusOr<std::unique_ptr<SessionEngineComponent>> Create(const process::RunContext& ctx) {
    const config::Config& c = ctx.config;
    auto channel = grpc_util::ChannelOptionsFromConfig(c, "persistence.proxy");
    if (!channel.ok()) return channel.status();
    auto peer_channel = grpc_util::ChannelOptionsFromConfig(c, "orchestration.peer");
    if (!peer_channel.ok()) return peer_channel.status();
    auto self = std::unique_ptr<SessionEngineComponent>(new SessionEngineComponent());
    GrpcPeerSessions::Options peers;
    peers.proxy_endpoint = c.GetString("persistence.proxy-endpoint");
    peers.proxy_channel = *channel;
    peers.peer_channel = *peer_channel;
    auto watcher_channel = grpc_util::ChannelOptionsFromConfig(c, "orchestration.call-watcher");
    if (!watcher_channel.ok()) return watcher_channel.status();
    self->call_actions_ = std::make_unique<GrpcCallActions>(GrpcCallActions::Options{
        .channel = *watcher_channel,
        .call_timeout = absl::Milliseconds(c.GetInt("orchestration.call-watcher-timeout-ms"))});
    auto peer_sessions = GrpcPeerSessions::Create(peers, time::RealClock::Get());
    if (!peer_sessions.ok()) return peer_sessions.status();
    self->peers_ = *std::move(peer_sessions);
    self->store_ = std::make_unique<RemoteSessionStore>(c.GetString("persistence.proxy-endpoint"), *channel,
                                                        absl::Milliseconds(c.GetInt("persistence.request-timeout-ms")),
                                                        c.GetBool("persistence.append-stream"));
    EngineOptions o;
    o.node_id = static_cast<int>(c.GetInt("orchestration.node-id"));
    o.instance_id = absl::StrCat(NewSessionId(o.node_id).substr(1), "-", getpid());
    o.lease_ttl_ms = static_cast<uint32_t>(c.GetInt("orchestration.lease-ttl-ms"));
    o.lease_renew_ms = static_cast<uint32_t>(c.GetInt("orchestration.lease-renew-ms"));
    o.session_restart_timeout_ms = static_cast<uint32_t>(c.GetInt("orchestration.session-restart-timeout"));
    o.proactive_recovery = c.GetBool("orchestration.proactive-recovery");
    o.worker_threads = static_cast<int>(c.GetInt("scxml.session-processing-threads"));
    o.persistence_default = c.GetBool("scxml.persistence-default");
    o.max_queue_per_worker = static_cast<size_t>(c.GetInt("scxml.max-queued-inputs"));
    o.max_sessions = static_cast<size_t>(c.GetInt("scxml.max-sessions"));
    o.max_event_bytes = static_cast<size_t>(c.GetInt("scxml.max-event-bytes"));
    o.max_microsteps = static_cast<size_t>(c.GetInt("scxml.max-microsteps"));
    o.policy.snapshot_every_entries = static_cast<uint32_t>(c.GetInt("scxml.snapshot-every-entries"));
    o.policy.snapshot_every_ms = static_cast<uint32_t>(c.GetInt("scxml.snapshot-every-ms"));
    o.policy.deactivate_idle_ms =
        static_cast<uint32_t>(std::min<int64_t>(c.GetInt("scxml.deactivate-idle-ms"), UINT32_MAX));
    o.policy.sleep_min_ms = static_cast<uint32_t>(std::min<int64_t>(c.GetInt("scxml.sleep-min-ms"), UINT32_MAX));
    if (const std::string sched = c.GetString("orchestration.scheduler-endpoint"); !sched.empty()) {
      auto sched_channel = grpc_util::ChannelOptionsFromConfig(c, "orchestration.scheduler");
      if (!sched_channel.ok()) return sched_channel.status();
      self->timers_ = NewGrpcSessionTimers(sched, *sched_channel,
                                         absl::Milliseconds(c.GetInt("orchestration.scheduler-timeout-ms")));
    }
    o.max_session_age_ms = c.GetInt("scxml.max-session-age-ms");
    o.max_session_age_grace_ms = c.GetInt("scxml.max-session-age-grace-ms");
    if (o.max_session_age_ms > 0 && self->timers_ == nullptr) {
      return absl::InvalidArgumentError(
          "scxml.max-session-age-ms needs orchestration.scheduler-endpoint (the scheduler ends the sessions)");
    }
    o.document_url_prefixes = c.GetStringList("scxml.document-url-prefixes");
    auto cluster_name = config::ClusterName(c, "orchestration.cluster-name");
    if (!cluster_name.ok()) return cluster_name.status();
    o.cluster_name = *std::move(cluster_name);
    if (const cluster::ClusterFile* cl = c.cluster(); cl != nullptr && cl->FindNode(o.node_id) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(c.Origin("orchestration.node-id"), ": orchestration.node-id = ",
                                                     o.node_id, " is not a node of cluster ", cl->name(), " (",
                                                     cl->source_name(), ")"));
    }
    self->advertise_ = c.GetString("orchestration.advertise-endpoint");
    if (!c.GetBool("orchestration.sessionid-with-nodeid")) {
      log::Warn("orchestration.sessionid-with-nodeid = false is ignored: ids always carry the node; "
                "there is no 24 h limit");
    }
    if (o.lease_renew_ms * 2 > o.lease_ttl_ms) {
      return absl::InvalidArgumentError(absl::StrCat("orchestration.lease-renew-ms (", o.lease_renew_ms,
                                                     ") must be at most half of orchestration.lease-ttl-ms (",
                                                     o.lease_ttl_ms, ")"));
    }
    self->options_ = o;
    self->metrics_ = &ctx.metrics;
    return self;
  }

  std::vector<::grpc::Service*> Services() override { return {service_.get()}; }

  void OnServing(grpc_util::GrpcServer& server) override {
    options_.endpoint = advertise_.empty() ? server.address() : advertise_;
    // Logged once serving (a start that fails keeps its single error line).
    if (options_.document_url_prefixes.empty()) {
      log::Warn("scxml.document-url-prefixes is empty: StartSession may name any file: or http(s): URL "
                "(set it in production)");
    }
    // Created here: the lease carries the endpoint, known only now.
    auto engine = Engine::Create(options_, store_.get(), metrics_, {.peers = peers_.get(), .call_actions = call_actions_.get(), .timers = timers_.get()});
    ORCH_CHECK(engine.ok(), "engine options were validated at start");
    engine_holder_ = *std::move(engine);
    service_engine_.store(engine_holder_.get());
    server.SetServing(kService, false);
    grpc_util::GrpcServer* s = &server;
    engine_holder_->Start([s](bool serving) { s->SetServing(kService, serving); });
  }

  // SIGHUP (on the thread that ran OnServing, before Stop).
  absl::Status Reload(const config::Config& next, const std::vector<std::string>& changed) override {
    for (const std::string& key : changed) {
      if (key == "orchestration.session-restart-timeout") {
        const auto ms = static_cast<uint32_t>(next.GetInt(key));
        options_.session_restart_timeout_ms = ms;
        if (engine_holder_) engine_holder_->SetSessionRestartTimeout(ms);
        log::Info("session-restart-timeout changed", {{"ms", ms}});
      }
      // backup-synch-*: validated, nothing uses them.
    }
    return absl::OkStatus();
  }

  void Stop() override {
    if (engine_holder_) engine_holder_->Stop();
  }

 private:
  static constexpr char kService[] = "orch.session.v1.Sessions";

  SessionEngineComponent() : service_(std::make_unique<SessionsService>(&service_engine_)) {}

  EngineOptions options_;
  std::unique_ptr<GrpcPeerSessions> peers_;
  std::unique_ptr<GrpcCallActions> call_actions_;
  std::unique_ptr<SessionTimers> timers_;
  std::string advertise_;
  metrics::MetricsServer* metrics_ = nullptr;
  std::unique_ptr<RemoteSessionStore> store_;
  std::atomic<Engine*> service_engine_{nullptr};
  std::unique_ptr<Engine> engine_holder_;
  std::unique_ptr<SessionsService> service_;
};

}  // namespace

process::ProcessDefinition Definition() {
  return {
      .name = "session-engine",
      .description = "runs SCXML sessions of one node (primary or standby)",
      .metrics_prefix = "orch_session_engine",
      .default_grpc_listen = "127.0.0.1:7101",
      .default_metrics_listen = "127.0.0.1:9101",
      .add_options = AddOptions,
      .node_name = [](const config::Config& c) { return absl::StrCat(c.GetInt("orchestration.node-id")); },
      .create = [](const process::RunContext& ctx) -> absl::StatusOr<std::unique_ptr<process::Component>> {
        auto c = SessionEngineComponent::Create(ctx);
        if (!c.ok()) return c.status();
        return std::unique_ptr<process::Component>(*std::move(c));
      },
  };
}

}  // namespace orch::session_engine
