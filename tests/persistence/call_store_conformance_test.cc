// call-watcher's CallStore conformance suite (services/call_watcher/
// call_store_conformance.h) on the real thing: GrpcCallStore -> a
// persistence-proxy process -> redis-server, all started here on loopback,
// over a standalone redis-server and a six-process Redis Cluster. Each
// backend (Redis plus one proxy) starts once, on first use, and is shared by
// its tests (the suite's names are unique per test). TTLs are waited for for
// real (short TTLs, bounded polling). Plus GrpcCallStore's own behaviour
// when the proxy is not there or does not answer.

#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "common/testing/net.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/call_watcher/call_store_conformance.h"
#include "services/call_watcher/grpc_call_store.h"
#include "tests/persistence/proxy_backend.h"

namespace orch::call_watcher {
namespace {

using ::orch::testing::StatusIs;
using ::testing::HasSubstr;

const auto* const kBackends = ::testing::AddGlobalTestEnvironment(new testing::ProxyBackends);

class GrpcHarness final : public CallStoreHarness {
 public:
  explicit GrpcHarness(const std::string& proxy) : store_(proxy, grpc_util::ChannelOptions{}, absl::Seconds(5)) {}

  CallStore& store() override { return store_; }
  // Redis expires keys on its own clock: time has to pass for real.
  void Elapse(absl::Duration d) override { absl::SleepFor(d); }

 private:
  GrpcCallStore store_;
};

CallStoreConformanceParam Remote(const char* name, bool cluster) {
  return {name, [cluster]() -> absl::StatusOr<std::unique_ptr<CallStoreHarness>> {
            auto b = testing::ProxyBackends::Get(cluster);
            if (!b.ok()) return b.status();
            return std::make_unique<GrpcHarness>((*b)->proxy.grpc);
          }};
}

INSTANTIATE_TEST_SUITE_P(Grpc, CallStoreConformanceTest,
                         ::testing::Values(Remote("Standalone", /*cluster=*/false),
                                           Remote("Cluster", /*cluster=*/true)),
                         CallStoreConformanceTest::ParamName);

CallRecord AnyRecord() {
  CallRecord r;
  r.set_call_uuid("grpc-call-store-test");
  r.set_session_id("s");
  return r;
}

// Every operation of `store` fails UNAVAILABLE, its message containing `why`.
void ExpectAllUnavailable(GrpcCallStore& store, const std::string& why) {
  const auto unavailable = StatusIs(absl::StatusCode::kUnavailable, HasSubstr(why));
  EXPECT_THAT(store.ClaimCall(AnyRecord(), absl::Minutes(1)), unavailable);
  EXPECT_THAT(store.GetCall("c"), unavailable);
  EXPECT_THAT(store.DeleteCall("c"), unavailable);
  EXPECT_THAT(store.ReserveTarget("t", "c", absl::Minutes(1)), unavailable);
  EXPECT_THAT(store.ReleaseTarget("t", "c"), unavailable);
}

TEST(GrpcCallStoreTest, NoProxyListeningIsUnavailable) {
  std::string address;
  {
    testing::HeldPort port;  // a port that was free, closed again
    address = port.address();
  }
  GrpcCallStore store(address, {}, absl::Seconds(5));
  ExpectAllUnavailable(store, "persistence-proxy: ");
}

TEST(GrpcCallStoreTest, AProxyThatDoesNotAnswerInTimeIsUnavailable) {
  testing::HeldPort silent;  // accepts connections (backlog), never speaks HTTP/2
  GrpcCallStore store(silent.address(), {}, absl::Milliseconds(200));
  ExpectAllUnavailable(store, "persistence-proxy: ");
}

TEST(GrpcCallStoreTest, TheProxysErrorsPassThroughNamingTheOperation) {
  auto b = testing::ProxyBackends::Get(/*cluster=*/false);
  ASSERT_OK(b);
  GrpcCallStore store((*b)->proxy.grpc, {}, absl::Seconds(5));
  EXPECT_THAT(store.GetCall("never-claimed-here"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("persistence-proxy: GetCall: ")));
  EXPECT_THAT(store.ReleaseTarget("t", "a{b}"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ReleaseTarget: holder")));
}

}  // namespace
}  // namespace orch::call_watcher
