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

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "services/session_engine/remote_session_store.h"
#include "services/session_engine/session_store_conformance.h"
#include "tests/persistence/proxy_backend.h"

namespace orch::session_engine {
namespace {

const auto* const kBackends = ::testing::AddGlobalTestEnvironment(new testing::ProxyBackends);

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
            auto b = testing::ProxyBackends::Get(cluster);
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
