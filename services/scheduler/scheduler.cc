#include "services/scheduler/scheduler.h"

#include <unistd.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/base/check.h"
#include "common/config/client_tls.h"
#include "common/config/cluster_values.h"
#include "common/config/validators.h"
#include "common/metrics/metrics_server.h"
#include "common/grpc/channel.h"
#include "common/log/log.h"
#include "common/sessionapi/lease_reader.h"
#include "common/sessionapi/node_directory.h"
#include "common/sessionapi/sessions_client.h"
#include "common/time/clock.h"
#include "services/scheduler/grpc_timer_store.h"
#include "services/scheduler/membership.h"
#include "services/scheduler/scheduler_metrics.h"
#include "services/scheduler/scheduler_service.h"
#include "services/scheduler/session_calls.h"
#include "services/scheduler/timer_runner.h"
#include "services/scheduler/timers.h"

namespace orch::scheduler {

namespace {

using config::OptionType;

void AddOptions(config::Schema* s) {
  s->AddInt("scheduler", "buckets", 16, 1, 1024,
            "buckets timers are spread over (by timer id); every replica of a cluster must use the same count");
  s->AddInt("scheduler", "past-due-latency-ms", 5000, 0, 3600000,
            "a due time past by more than this when scheduled counts as past due (the seeds' 5 s); such a timer "
            "is stored and fired at once, never refused");
  s->AddInt("scheduler", "claim-timeout-ms", 3000, 100, 3600000,
            "a claimed timer not acknowledged this long after its due time is handed out again (at-least-once)");
  s->AddInt("scheduler", "horizon-ms", 500, 0, 60000,
            "timers due this far ahead are claimed early and fired here at their time (at least poll-interval-ms)");
  s->AddInt("scheduler", "poll-interval-ms", 200, 5, 60000,
            "how often each owned bucket is asked for due timers (at most horizon-ms: timers are claimed ahead)");
  s->AddInt("scheduler", "max-claim", 1000, 1, 1000, "timers claimed per bucket and poll");
  s->AddInt("scheduler", "member-ttl-ms", 2000, 300, 600000,
            "TTL of a replica's member slot: a dead replica's buckets move to the others within about 1.25x this");
  s->AddInt("scheduler", "max-replicas", 16, 1, 256, "member slots: replicas beyond this serve the API only");
  s->AddInt("scheduler", "ack-threads", 4, 1, 64, "threads that acknowledge fired timers to persistence-proxy");
  s->AddInt("scheduler", "max-in-flight", 1000, 1, 1000000,
            "firings waiting for the engines' answers; beyond it this replica waits before firing more");
  s->AddInt("scheduler", "max-held", 5000, 1, 10000000,
            "timers claimed and held here; beyond it this replica claims no more until it has fired some");
  s->AddInt("scheduler", "store-timeout-ms", 2000, 10, 60000, "deadline of each call to persistence-proxy");
  s->AddInt("scheduler", "engine-call-timeout-ms", 5000, 10, 600000, "deadline of each call to a session-engine");
  s->AddInt("scheduler", "engine-connections", 4, 1, 64, "HTTP/2 connections to each session-engine");
  s->AddInt("scheduler", "lease-refresh-ms", 500, 50, 60000, "how often each node's lease is re-read");
  s->AddStringList("scheduler", "nodes", {"1"},
                   "session-engine node ids a scheduled start may run on (by the timer id, when it names none)");
  s->Add({.section = "scheduler", .name = "proxy-endpoint", .type = OptionType::kString,
          .default_value = std::string("127.0.0.1:7102"),
          .help = "persistence-proxy's gRPC address (timers, member slots, node leases)",
          .validate = config::ValidateEndpoint});
  config::AddClientTlsOptions(s, "scheduler", "proxy", "persistence-proxy");
  config::AddClientTlsOptions(s, "scheduler", "engine", "the session-engines");
}

// SessionCalls whose implementation is set once serving (OnServing); no
// firing happens before (the runner starts there too).
class LateSessionCalls final : public SessionCalls {
 public:
  void Set(std::unique_ptr<SessionCalls> impl) { impl_ = std::move(impl); }
  void StartSession(int node, sv1::StartSessionRequest req, Done<sv1::StartSessionResponse> done) override {
    impl_->StartSession(node, std::move(req), std::move(done));
  }
  void SendEvent(int node, sv1::SendEventRequest req, Done<sv1::SendEventResponse> done) override {
    impl_->SendEvent(node, std::move(req), std::move(done));
  }
  void TerminateSession(int node, sv1::TerminateSessionRequest req,
                        Done<sv1::TerminateSessionResponse> done) override {
    impl_->TerminateSession(node, std::move(req), std::move(done));
  }
  void WakeSession(int node, sv1::WakeSessionRequest req, Done<sv1::WakeSessionResponse> done) override {
    impl_->WakeSession(node, std::move(req), std::move(done));
  }

 private:
  std::unique_ptr<SessionCalls> impl_;
};

std::string Holder() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return absl::StrCat(host, ":", getpid(), ":", NewTimerId().substr(2, 8));
}

class SchedulerComponent final : public process::Component {
 public:
  static absl::StatusOr<std::unique_ptr<SchedulerComponent>> Create(const process::RunContext& ctx) {
    const config::Config& c = ctx.config;
    auto self = std::unique_ptr<SchedulerComponent>(new SchedulerComponent());
    RunnerOptions o;
    o.buckets = static_cast<int>(c.GetInt("scheduler.buckets"));
    o.claim_timeout_ms = c.GetInt("scheduler.claim-timeout-ms");
    o.horizon_ms = c.GetInt("scheduler.horizon-ms");
    o.poll_interval_ms = c.GetInt("scheduler.poll-interval-ms");
    o.max_claim = static_cast<uint32_t>(c.GetInt("scheduler.max-claim"));
    o.past_due_latency_ms = c.GetInt("scheduler.past-due-latency-ms");
    o.ack_threads = static_cast<int>(c.GetInt("scheduler.ack-threads"));
    o.max_in_flight = c.GetInt("scheduler.max-in-flight");
    o.max_held = c.GetInt("scheduler.max-held");
    if (o.horizon_ms < o.poll_interval_ms) {
      return absl::InvalidArgumentError(absl::StrCat(
          "scheduler.horizon-ms (", o.horizon_ms, ") must be at least scheduler.poll-interval-ms (",
          o.poll_interval_ms, "): a timer could be claimed after its due time"));
    }
    auto nodes = config::ClusterNodeIds(c, "scheduler.nodes");
    if (!nodes.ok()) return nodes.status();
    o.nodes = *std::move(nodes);

    auto proxy = grpc_util::ChannelOptionsFromConfig(c, "scheduler.proxy");
    if (!proxy.ok()) return proxy.status();
    auto engine = grpc_util::ChannelOptionsFromConfig(c, "scheduler.engine");
    if (!engine.ok()) return engine.status();
    const std::string proxy_endpoint = c.GetString("scheduler.proxy-endpoint");
    time::Clock* clock = time::RealClock::Get();

    self->store_ = std::make_unique<GrpcTimerStore>(proxy_endpoint, *proxy,
                                                    absl::Milliseconds(c.GetInt("scheduler.store-timeout-ms")));
    self->membership_ = std::make_unique<Membership>(
        self->store_.get(), clock,
        MembershipOptions{.buckets = o.buckets,
                          .max_replicas = static_cast<int>(c.GetInt("scheduler.max-replicas")),
                          .ttl_ms = c.GetInt("scheduler.member-ttl-ms"),
                          .holder = Holder(),
                          .endpoint = c.GetString("server.grpc-listen")});
    // The engines' directory starts reading node leases (gRPC callbacks) as
    // soon as it exists: made in OnServing, so that a start that fails (a
    // port in use) leaves no callback in flight at exit. gRPC 1.51 aborts
    // when a channel's last reference goes in its callback thread
    // ("assertion failed: prior > 0" in grpc_cq_internal_unref).
    self->proxy_endpoint_ = proxy_endpoint;
    self->proxy_channel_ = *proxy;
    self->engine_channel_ = *engine;
    self->nodes_ = o.nodes;
    self->lease_refresh_ms_ = c.GetInt("scheduler.lease-refresh-ms");
    self->engine_connections_ = static_cast<int>(c.GetInt("scheduler.engine-connections"));
    self->engine_timeout_ms_ = c.GetInt("scheduler.engine-call-timeout-ms");
    self->calls_ = std::make_unique<LateSessionCalls>();
    self->metrics_ = std::make_unique<SchedulerMetrics>(&ctx.metrics.registry(), ctx.metrics.prefix());
    self->buckets_ = o.buckets;
    self->runner_ = std::make_unique<TimerRunner>(std::move(o), self->store_.get(), self->membership_.get(),
                                                  self->calls_.get(), clock, self->metrics_.get());
    self->service_ = std::make_unique<SchedulerService>(self->runner_.get());
    return self;
  }

  ~SchedulerComponent() override { Stop(); }

  std::vector<::grpc::Service*> Services() override { return {service_.get()}; }

  void OnServing(grpc_util::GrpcServer&) override {
    time::Clock* clock = time::RealClock::Get();
    leases_ = std::make_unique<sessionapi::GrpcLeaseReader>(grpc_util::MakeChannel(proxy_endpoint_, proxy_channel_));
    auto directory = sessionapi::NodeDirectory::Create(
        leases_.get(), clock, {.nodes = nodes_, .refresh_interval = absl::Milliseconds(lease_refresh_ms_)});
    ORCH_CHECK(directory.ok(), "the directory's options were checked at start");
    directory_ = *std::move(directory);
    auto client = sessionapi::SessionsClient::Create(directory_.get(), clock,
                                                     {.channel = engine_channel_,
                                                      .connections_per_endpoint = engine_connections_,
                                                      .call_timeout = absl::Milliseconds(engine_timeout_ms_)});
    ORCH_CHECK(client.ok(), "the client's options were checked at start");
    client_ = *std::move(client);
    calls_->Set(NewGrpcSessionCalls(client_.get()));
    runner_->Start();
    log::Info("scheduler serving", {{"buckets", buckets_}});
  }

  void Stop() override {
    if (stopped_) return;
    stopped_ = true;
    if (runner_) runner_->Stop();
    if (client_) client_->Shutdown(absl::Seconds(1));
    if (membership_) membership_->Leave();
    if (directory_) directory_->Shutdown();
  }

 private:
  SchedulerComponent() = default;

  std::unique_ptr<GrpcTimerStore> store_;
  std::unique_ptr<Membership> membership_;
  std::unique_ptr<sessionapi::GrpcLeaseReader> leases_;
  std::unique_ptr<sessionapi::NodeDirectory> directory_;
  std::unique_ptr<sessionapi::SessionsClient> client_;
  std::unique_ptr<LateSessionCalls> calls_;
  std::string proxy_endpoint_;
  grpc_util::ChannelOptions proxy_channel_;
  grpc_util::ChannelOptions engine_channel_;
  std::vector<int> nodes_;
  int64_t lease_refresh_ms_ = 0;
  int engine_connections_ = 0;
  int64_t engine_timeout_ms_ = 0;
  std::unique_ptr<SchedulerMetrics> metrics_;
  std::unique_ptr<TimerRunner> runner_;
  std::unique_ptr<SchedulerService> service_;
  int buckets_ = 0;
  bool stopped_ = false;
};

}  // namespace

process::ProcessDefinition Definition() {
  return {
      .name = "scheduler",
      .description = "durable timers: sessions started or ended later, events at a time, sleeping sessions woken",
      .metrics_prefix = "orch_scheduler",
      .default_grpc_listen = "127.0.0.1:7103",
      .default_metrics_listen = "127.0.0.1:9103",
      .add_options = AddOptions,
      .node_name = nullptr,
      .create = [](const process::RunContext& ctx) -> absl::StatusOr<std::unique_ptr<process::Component>> {
        auto c = SchedulerComponent::Create(ctx);
        if (!c.ok()) return c.status();
        return std::unique_ptr<process::Component>(*std::move(c));
      },
  };
}

}  // namespace orch::scheduler
