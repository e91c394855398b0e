// The engine's store conformance suite (services/session_engine/
// session_store_conformance.h) on the real thing: RemoteSessionStore ->
// a persistence-proxy process -> redis-server, all started here on loopback.
// Instantiated three times: over a standalone redis-server with appends on
// the batch stream (the engine's default) and with unary appends, and over
// a six-process Redis Cluster. Each backend (Redis plus one proxy) starts
// once, on first use, and is shared by its tests (the suite's names are
// unique per test). Lease expiry is waited for for real (short TTLs,
// bounded polling).

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/redis/testing/redis_server.h"
#include "common/testing/eventually.h"
#include "common/testing/temp_dir.h"
#include "gtest/gtest.h"
#include "services/session_engine/remote_session_store.h"
#include "services/session_engine/session_store_conformance.h"
#include "tests/stack/stack.h"

namespace orch::session_engine {
namespace {

// Redis (standalone or a cluster) and a persistence-proxy process on it.
struct Backend {
  std::unique_ptr<testing::RedisServer> server;
  std::unique_ptr<testing::RedisCluster> cluster;
  testing::TempDir dir;
  testing::Served proxy;
};

absl::StatusOr<std::unique_ptr<Backend>> StartBackend(bool cluster) {
  auto b = std::make_unique<Backend>();
  std::string seed;
  if (cluster) {
    auto c = testing::RedisCluster::Start();
    if (!c.ok()) return c.status();
    b->cluster = std::move(*c);
    seed = b->cluster->addresses()[0];
  } else {
    auto s = testing::RedisServer::Start({});
    if (!s.ok()) return s.status();
    b->server = std::move(*s);
    seed = b->server->address();
  }
  const std::string config = b->dir.WriteFile(
      "proxy.toml",
      absl::StrCat("[server]\ngrpc-listen = \"127.0.0.1:0\"\nshutdown-grace-ms = 500\n",
                   "[metrics]\nlisten = \"127.0.0.1:0\"\n[persistence]\n", "redis-nodes = [\"", seed,
                   "\"]\nredis-mode = \"", cluster ? "cluster" : "standalone", "\"\n",
                   "health-check-interval-ms = 100\n"));
  auto p = testing::Launch(ORCH_PERSISTENCE_PROXY_BIN, config);
  if (!p.ok()) return p.status();
  b->proxy = std::move(*p);
  if (!testing::Eventually([&] { return b->proxy.Healthy("orch.persistence.v1.Persistence"); })) {
    return absl::InternalError("persistence-proxy did not become healthy");
  }
  return b;
}

// The backends, started on first use and stopped (by PID, in their
// destructors) when the tests end.
class Backends : public ::testing::Environment {
 public:
  static absl::StatusOr<Backend*> Get(bool cluster) {
    std::unique_ptr<Backend>& b = cluster ? cluster_ : standalone_;
    if (b == nullptr) {
      auto started = StartBackend(cluster);
      if (!started.ok()) return started.status();
      b = std::move(*started);
    }
    return b.get();
  }
  void TearDown() override {
    standalone_.reset();
    cluster_.reset();
  }

 private:
  static inline std::unique_ptr<Backend> standalone_;
  static inline std::unique_ptr<Backend> cluster_;
};

const auto* const kBackends = ::testing::AddGlobalTestEnvironment(new Backends);

class RemoteHarness final : public SessionStoreHarness {
 public:
  RemoteHarness(const std::string& proxy, bool append_stream)
      : store_(proxy, grpc_util::ChannelOptions{}, absl::Seconds(5), append_stream) {}

  SessionStore& store() override { return store_; }
  // Redis expires leases on its own clock: time has to pass for real.
  void Elapse(absl::Duration d) override { absl::SleepFor(d); }

 private:
  RemoteSessionStore store_;
};

SessionStoreConformanceParam Remote(const char* name, bool cluster, bool append_stream) {
  return {name, [cluster, append_stream]() -> absl::StatusOr<std::unique_ptr<SessionStoreHarness>> {
            auto b = Backends::Get(cluster);
            if (!b.ok()) return b.status();
            return std::make_unique<RemoteHarness>((*b)->proxy.grpc, append_stream);
          }};
}

INSTANTIATE_TEST_SUITE_P(Remote, SessionStoreConformanceTest,
                         ::testing::Values(Remote("Standalone", /*cluster=*/false, /*append_stream=*/true),
                                           Remote("StandaloneUnary", /*cluster=*/false, /*append_stream=*/false),
                                           Remote("Cluster", /*cluster=*/true, /*append_stream=*/true)),
                         SessionStoreConformanceTest::ParamName);

}  // namespace
}  // namespace orch::session_engine
