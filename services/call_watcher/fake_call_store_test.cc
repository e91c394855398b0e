// The conformance suite (call_store_conformance.h) on FakeCallStore, its
// TTLs on a SimulatedClock; plus what only the fake has.

#include "common/testing/status_matchers.h"
#include "common/time/simulated_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/call_watcher/call_store_conformance.h"
#include "services/call_watcher/fake_call_store.h"

namespace orch::call_watcher {
namespace {

using ::orch::testing::IsOkAndHolds;
using ::orch::testing::StatusIs;

class FakeHarness final : public CallStoreHarness {
 public:
  CallStore& store() override { return store_; }
  void Elapse(absl::Duration d) override { clock_.Advance(d); }

 private:
  time::SimulatedClock clock_;
  FakeCallStore store_{&clock_};
};

INSTANTIATE_TEST_SUITE_P(Fake, CallStoreConformanceTest,
                         ::testing::Values(CallStoreConformanceParam{
                             "Fake",
                             []() -> absl::StatusOr<std::unique_ptr<CallStoreHarness>> {
                               return std::make_unique<FakeHarness>();
                             }}),
                         CallStoreConformanceTest::ParamName);

TEST(FakeCallStoreTest, UnavailableFailsEveryCallAndChangesNothing) {
  time::SimulatedClock clock;
  FakeCallStore store(&clock);
  CallRecord r;
  r.set_call_uuid("c1");
  r.set_session_id("s1");
  ASSERT_OK(store.ClaimCall(r, absl::Minutes(1)));
  ASSERT_THAT(store.ReserveTarget("t1", "c1", absl::Minutes(1)), IsOkAndHolds("c1"));
  store.SetUnavailable(true);
  const auto unavailable = StatusIs(absl::StatusCode::kUnavailable);
  EXPECT_THAT(store.ClaimCall(r, absl::Minutes(1)), unavailable);
  EXPECT_THAT(store.GetCall("c1"), unavailable);
  EXPECT_THAT(store.DeleteCall("c1"), unavailable);
  EXPECT_THAT(store.RecordCallEvent("c1", event::v1::Event()), unavailable);
  EXPECT_THAT(store.ReserveTarget("t1", "c2", absl::Minutes(1)), unavailable);
  EXPECT_THAT(store.ReleaseTarget("t1", "c1"), unavailable);
  store.SetUnavailable(false);
  EXPECT_OK(store.GetCall("c1"));
  EXPECT_THAT(store.ReserveTarget("t1", "c2", absl::Minutes(1)), IsOkAndHolds("c1"));
}

}  // namespace
}  // namespace orch::call_watcher
