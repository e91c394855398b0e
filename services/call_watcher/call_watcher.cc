#include "services/call_watcher/call_watcher.h"

#include <deque>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/config/client_tls.h"
#include "common/config/cluster_values.h"
#include "common/config/validators.h"
#include "common/grpc/channel.h"
#include "common/grpc/server.h"
#include "common/grpc/status.h"
#include "common/log/log.h"
#include "common/metrics/metrics_server.h"
#include "common/sessionapi/lease_reader.h"
#include "common/sessionapi/node_directory.h"
#include "common/sessionapi/sessions_client.h"
#include "services/call_watcher/call_store_factory.h"

namespace orch::call_watcher {

// ---------------------------------------------------------------- service

::grpc::ServerBidiReactor<cv1::AdapterMessage, cv1::WatcherMessage>* CallWatcherService::Connect(
    ::grpc::CallbackServerContext*) {
  return new ConnectReactor(router_);
}

::grpc::ServerUnaryReactor* CallWatcherService::SubmitAction(::grpc::CallbackServerContext* ctx,
                                                             const cv1::SubmitActionRequest* req,
                                                             cv1::SubmitActionResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  absl::StatusOr<cv1::SubmitActionResponse> r = router_->SubmitAction(*req);
  if (r.ok()) *resp = *std::move(r);
  reactor->Finish(grpc_util::ToGrpcStatus(r.status()));
  return reactor;
}

::grpc::ServerUnaryReactor* CallWatcherService::GetCall(::grpc::CallbackServerContext* ctx,
                                                        const cv1::GetCallRequest* req, cv1::GetCallResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  absl::StatusOr<cv1::GetCallResponse> r = router_->GetCall(req->call_uuid());
  if (r.ok()) *resp = *std::move(r);
  reactor->Finish(grpc_util::ToGrpcStatus(r.status()));
  return reactor;
}

::grpc::ServerUnaryReactor* CallWatcherService::ListTargets(::grpc::CallbackServerContext* ctx,
                                                            const cv1::ListTargetsRequest*,
                                                            cv1::ListTargetsResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  *resp = router_->ListTargets();
  reactor->Finish(::grpc::Status::OK);
  return reactor;
}

namespace {

using config::OptionType;

void AddOptions(config::Schema* s) {
  s->AddString("calls", "dn-file", "the DN file: applications of routing points, agent groups, media persistence");
  s->AddInt("calls", "dn-reload-ms", 1000, 50, 3600000, "how often the DN file's modification time is checked");
  s->AddStringList("calls", "nodes", {"1"}, "session-engine node ids call sessions start on (rendezvous hash of the call)");
  s->AddString("calls", "advertise",
               "this replica's gRPC address as engines reach it (InteractionBinding.watcher); default: server.grpc-listen");
  s->AddString("calls", "cluster", "this replica's cluster: DNs' application@<cluster> wins over application");
  s->AddInt("calls", "default-route-timeout-ms", 30000, 100, 3600000,
            "a call not routed this long after its route request gets its DN's default route");
  s->AddInt("calls", "reservation-ttl-ms", 15000, 100, 600000,
            "the TTL of a target reserved by queue:submit: extended while its call is routed to or on the "
            "target; how long a dead replica's reservations last");
  s->AddInt("calls", "max-queued-events", 2000, 0, 100000000,
            "while this many events wait for their sessions, new calls get their default route at once (0: no limit)");
  s->AddInt("calls", "call-ttl-ms", 14400000, 1000, 604800000,
            "a call with no RELEASED this long is ended by call-watcher; also its record's TTL");
  s->AddInt("calls", "session-call-timeout-ms", 5000, 10, 600000, "deadline of each call to a session-engine");
  s->AddInt("calls", "store-threads", 4, 1, 256, "threads that make the blocking calls to persistence-proxy");
  s->Add({.section = "calls", .name = "proxy-endpoint", .type = OptionType::kString,
          .default_value = std::string("127.0.0.1:7102"),
          .help = "persistence-proxy's gRPC address (call records, reservations, node leases)",
          .validate = config::ValidateEndpoint});
  s->AddInt("calls", "lease-refresh-ms", 500, 50, 60000, "how often each node's lease is re-read");
  s->AddInt("calls", "engine-connections", 4, 1, 64, "HTTP/2 connections to each session-engine");
  s->AddInt("orchestration", "call-watching-timeout", 5000, 1000, 300000,
            "ms from a call's first event during which its session is started on its assigned node only; "
            "then on its reserved node too");
  s->AddBool("orchestration", "restart-session-on-switchover", false,
             "a call's session without persistence is restarted from its recorded events after its node's "
             "switchover (the DN file's restart-session-on-switchover overrides it per DN)");
  s->AddBool("orchestration", "new-session-on-reroute", true,
             "ORS parity; a call keeps the session of its first routing point whatever the value "
             "(docs/design/call-watcher.md)");
  s->AddBool("orchestration", "same-node-for-cons-prim-calls", true,
             "a consultation call is assigned to its primary call's node when this replica knows the primary");
  // The seeds' "Value changes: Immediately" (HA-36); call-watching-timeout
  // too (the seeds are silent): both apply to calls arriving after SIGHUP.
  s->SetReloadable("orchestration.restart-session-on-switchover");
  s->SetReloadable("orchestration.call-watching-timeout");
  config::AddClientTlsOptions(s, "calls", "proxy", "persistence-proxy");
  config::AddClientTlsOptions(s, "calls", "engine", "the session-engines");
}

// Threads for the CallStore's blocking calls. After Stop, work runs on the
// caller's thread (late callbacks during shutdown).
class BlockingPool {
 public:
  explicit BlockingPool(int threads) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
  }
  ~BlockingPool() { Stop(); }

  void Run(std::function<void()> f) {
    {
      absl::MutexLock l(&mu_);
      if (!stopping_) {
        work_.push_back(std::move(f));
        return;
      }
    }
    f();
  }

  // Runs what is queued, then joins.
  void Stop() {
    {
      absl::MutexLock l(&mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    for (auto& t : threads_) t.join();
  }

 private:
  void Loop() {
    for (;;) {
      std::function<void()> f;
      {
        absl::MutexLock l(&mu_);
        mu_.Await(absl::Condition(
            +[](BlockingPool* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) { return p->stopping_ || !p->work_.empty(); },
            this));
        if (work_.empty()) return;
        f = std::move(work_.front());
        work_.pop_front();
      }
      f();
    }
  }

  absl::Mutex mu_;
  std::deque<std::function<void()>> work_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

// Every call answers the status the store could not be built with: the
// router logs and counts each failure, and calls go on without records.
class FailingCallStore final : public CallStore {
 public:
  explicit FailingCallStore(absl::Status status) : status_(std::move(status)) {}
  absl::StatusOr<ClaimResult> ClaimCall(const CallRecord&, absl::Duration) override { return status_; }
  absl::StatusOr<CallRecord> GetCall(absl::string_view) override { return status_; }
  absl::StatusOr<bool> DeleteCall(absl::string_view) override { return status_; }
  absl::StatusOr<uint64_t> RecordCallEvent(absl::string_view, const ::orch::event::v1::Event&) override {
    return status_;
  }
  absl::StatusOr<std::string> ReserveTarget(absl::string_view, absl::string_view, absl::Duration) override {
    return status_;
  }
  absl::StatusOr<bool> ReleaseTarget(absl::string_view, absl::string_view) override { return status_; }

 private:
  const absl::Status status_;
};

class CallWatcherComponent final : public process::Component {
 public:
  static absl::StatusOr<std::unique_ptr<CallWatcherComponent>> Create(const process::RunContext& ctx) {
    const config::Config& c = ctx.config;
    auto self = std::unique_ptr<CallWatcherComponent>(new CallWatcherComponent());
    if (!c.GetString("calls.dn-file").empty()) {
      auto dn = DnConfigSource::Create(c.GetString("calls.dn-file"));
      if (!dn.ok()) return absl::InvalidArgumentError(absl::StrCat("calls.dn-file: ", dn.status().message()));
      self->dn_ = *std::move(dn);
    }

    CallRouterOptions o;
    auto nodes = config::ClusterNodeIds(c, "calls.nodes");
    if (!nodes.ok()) return nodes.status();
    o.nodes = *std::move(nodes);
    if (const cluster::ClusterFile* cl = c.cluster()) {
      for (int n : o.nodes) o.node_data_centers[n] = *cl->DataCenterOf(n);
    }
    o.watcher = c.GetString("calls.advertise");
    if (o.watcher.empty()) o.watcher = c.GetString("server.grpc-listen");   // port 0: the bound one, at OnServing
    auto cluster = config::ClusterName(c, "calls.cluster");
    if (!cluster.ok()) return cluster.status();
    o.cluster = *std::move(cluster);
    o.default_route_timeout_ms = c.GetInt("calls.default-route-timeout-ms");
    o.reservation_ttl_ms = c.GetInt("calls.reservation-ttl-ms");
    o.max_queued_events = c.GetInt("calls.max-queued-events");
    o.call_ttl_ms = c.GetInt("calls.call-ttl-ms");
    o.call_watching_timeout_ms = c.GetInt("orchestration.call-watching-timeout");
    o.restart_session_on_switchover = c.GetBool("orchestration.restart-session-on-switchover");
    o.same_node_for_cons_prim_calls = c.GetBool("orchestration.same-node-for-cons-prim-calls");
    self->reload_ms_ = c.GetInt("calls.dn-reload-ms");

    auto proxy = grpc_util::ChannelOptionsFromConfig(c, "calls.proxy");
    if (!proxy.ok()) return proxy.status();
    auto engine = grpc_util::ChannelOptionsFromConfig(c, "calls.engine");
    if (!engine.ok()) return engine.status();
    const std::string proxy_endpoint = c.GetString("calls.proxy-endpoint");

    auto store = MakeCallStore({.proxy_endpoint = proxy_endpoint, .channel = *proxy});
    if (store.ok()) {
      self->store_ = *std::move(store);
    } else {
      self->store_error_ = store.status().ToString();
      self->store_ = std::make_unique<FailingCallStore>(store.status());
    }

    time::Clock* clock = time::RealClock::Get();
    self->leases_ = std::make_unique<sessionapi::GrpcLeaseReader>(grpc_util::MakeChannel(proxy_endpoint, *proxy));
    auto directory = sessionapi::NodeDirectory::Create(
        self->leases_.get(), clock,
        {.nodes = o.nodes, .refresh_interval = absl::Milliseconds(c.GetInt("calls.lease-refresh-ms"))});
    if (!directory.ok()) return directory.status();
    self->directory_ = *std::move(directory);
    self->liveness_ = std::make_unique<DirectoryNodeLiveness>(self->directory_.get());
    auto client = sessionapi::SessionsClient::Create(
        self->directory_.get(), clock,
        {.channel = *engine,
         .connections_per_endpoint = static_cast<int>(c.GetInt("calls.engine-connections")),
         .call_timeout = absl::Milliseconds(c.GetInt("calls.session-call-timeout-ms"))});
    if (!client.ok()) return client.status();
    self->client_ = *std::move(client);
    self->sink_ = std::make_unique<GrpcSessionSink>(self->client_.get());
    self->pool_ = std::make_unique<BlockingPool>(static_cast<int>(c.GetInt("calls.store-threads")));
    self->metrics_ = std::make_unique<CallMetrics>(&ctx.metrics.registry(), ctx.metrics.prefix());
    std::function<std::shared_ptr<const DnConfig>()> current;
    if (self->dn_) {
      current = [src = self->dn_.get()] { return src->Current(); };
    } else {
      current = [empty = std::make_shared<const DnConfig>()] { return empty; };
    }
    BlockingPool* pool = self->pool_.get();
    self->router_ = std::make_unique<CallRouter>(
        o, std::move(current), self->sink_.get(), self->store_.get(), self->liveness_.get(),
        [pool](std::function<void()> f) { pool->Run(std::move(f)); }, clock, self->metrics_.get());
    self->service_ = std::make_unique<CallWatcherService>(self->router_.get());
    self->housekeeper_ = std::thread([s = self.get()] { s->Housekeeping(); });
    self->dn_file_ = c.GetString("calls.dn-file");
    self->watcher_ = o.watcher;
    self->nodes_ = o.nodes.size();
    return self;
  }

  ~CallWatcherComponent() override { Stop(); }

  std::vector<::grpc::Service*> Services() override { return {service_.get()}; }

  // Logged once everything serves (a start that fails keeps its single
  // error line).
  void OnServing(grpc_util::GrpcServer& server) override {
    if (watcher_.empty() || absl::EndsWith(watcher_, ":0")) {
      watcher_ = server.address();
      router_->SetWatcher(watcher_);
    }
    if (!store_error_.empty()) {
      log::Error("no call store: calls are not recorded and queue:submit cannot reserve targets",
                 {{"error", store_error_}});
    }
    if (!dn_) log::Warn("calls.dn-file is not set: no DN has an application, every route request is rejected");
    log::Info("call-watcher serving", {{"dn_file", dn_file_}, {"dns", dn_ ? dn_->Current()->size() : 0},
                                       {"watcher", watcher_}, {"nodes", nodes_}});
  }

  // SIGHUP (the thread that ran OnServing).
  absl::Status Reload(const config::Config& next, const std::vector<std::string>& changed) override {
    router_->Reconfigure(next.GetBool("orchestration.restart-session-on-switchover"),
                         next.GetInt("orchestration.call-watching-timeout"));
    for (const std::string& key : changed) log::Info("option changed for calls from now on", {{"option", key}});
    return absl::OkStatus();
  }

  void Stop() override {
    {
      absl::MutexLock l(&mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    cv_.SignalAll();
    if (housekeeper_.joinable()) housekeeper_.join();
    if (client_) client_->Shutdown(absl::Seconds(1));
    if (directory_) directory_->Shutdown();
    if (pool_) pool_->Stop();
  }

 private:
  CallWatcherComponent() = default;

  // Timers of the router every kTickMs; the DN file every reload_ms_.
  void Housekeeping() {
    constexpr int64_t kTickMs = 20;
    time::Clock* clock = time::RealClock::Get();
    int64_t next_reload = clock->MonotonicMs() + reload_ms_;
    absl::MutexLock l(&mu_);
    while (!stopped_) {
      clock->WaitUntil(&cv_, &mu_, clock->MonotonicMs() + kTickMs);
      if (stopped_) break;
      mu_.Unlock();
      router_->Tick();
      if (dn_ && clock->MonotonicMs() >= next_reload) {
        next_reload = clock->MonotonicMs() + reload_ms_;
        const uint64_t before = dn_->generation();
        if (absl::Status st = dn_->Poll(); !st.ok()) {
          metrics_->ConfigReloadFailure();
          log::Error("DN file not reloaded; the previous one stays", {{"error", std::string(st.message())}});
        } else if (dn_->generation() != before) {
          log::Info("DN file reloaded", {{"dns", dn_->Current()->size()}});
        }
      }
      mu_.Lock();
    }
  }

  std::unique_ptr<DnConfigSource> dn_;
  std::unique_ptr<CallStore> store_;
  std::unique_ptr<sessionapi::GrpcLeaseReader> leases_;
  std::unique_ptr<sessionapi::NodeDirectory> directory_;
  std::unique_ptr<DirectoryNodeLiveness> liveness_;
  std::unique_ptr<sessionapi::SessionsClient> client_;
  std::unique_ptr<GrpcSessionSink> sink_;
  std::unique_ptr<BlockingPool> pool_;
  std::unique_ptr<CallMetrics> metrics_;
  std::unique_ptr<CallRouter> router_;
  std::unique_ptr<CallWatcherService> service_;
  int64_t reload_ms_ = 1000;
  std::string store_error_;
  std::string dn_file_;
  std::string watcher_;
  size_t nodes_ = 0;
  absl::Mutex mu_;
  absl::CondVar cv_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::thread housekeeper_;
};

}  // namespace

process::ProcessDefinition Definition() {
  return {
      .name = "call-watcher",
      .description = "the telephony feed: which node runs which call",
      .metrics_prefix = "orch_call_watcher",
      .default_grpc_listen = "127.0.0.1:7104",
      .default_metrics_listen = "127.0.0.1:9104",
      .add_options = AddOptions,
      .node_name = nullptr,
      .create = [](const process::RunContext& ctx) -> absl::StatusOr<std::unique_ptr<process::Component>> {
        auto c = CallWatcherComponent::Create(ctx);
        if (!c.ok()) return c.status();
        return std::unique_ptr<process::Component>(*std::move(c));
      },
  };
}

}  // namespace orch::call_watcher
