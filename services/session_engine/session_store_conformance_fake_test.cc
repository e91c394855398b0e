// The conformance suite (session_store_conformance.h) on FakeSessionStore,
// its lease TTLs on a SimulatedClock; plus what only the fake has.

#include "common/testing/status_matchers.h"
#include "common/time/simulated_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/session_engine/fake_session_store.h"
#include "services/session_engine/session_store_conformance.h"

namespace orch::session_engine {
namespace {

using ::orch::testing::StatusIs;

class FakeHarness final : public SessionStoreHarness {
 public:
  SessionStore& store() override { return store_; }
  void Elapse(absl::Duration d) override { clock_.Advance(d); }

 private:
  time::SimulatedClock clock_;
  FakeSessionStore store_{&clock_};
};

INSTANTIATE_TEST_SUITE_P(Fake, SessionStoreConformanceTest,
                         ::testing::Values(SessionStoreConformanceParam{
                             "Fake",
                             []() -> absl::StatusOr<std::unique_ptr<SessionStoreHarness>> {
                               return std::make_unique<FakeHarness>();
                             }}),
                         SessionStoreConformanceTest::ParamName);

TEST(FakeSessionStoreTest, UnavailableFailsEveryCallAndWritesNothing) {
  time::SimulatedClock clock;
  FakeSessionStore store(&clock);
  orch::event::v1::LogEntry e;
  e.set_seq(1);
  e.mutable_event()->set_name("x");
  ASSERT_OK(store.Append("s", 1, 1, "", {e}));
  auto lease = store.AcquireLease("node:1", "A", "a:1", 1000);
  ASSERT_OK(lease);
  store.SetUnavailable(true);
  e.set_seq(2);
  EXPECT_THAT(store.Append("s", 1, 1, "", {e}), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(store.Load("s"), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(store.RenewLease("node:1", "A", lease->epoch, 1000), StatusIs(absl::StatusCode::kUnavailable));
  std::string cursor;
  EXPECT_THAT(store.ListNodeSessions(1, &cursor, 10, nullptr), StatusIs(absl::StatusCode::kUnavailable));
  store.SetUnavailable(false);
  auto loaded = store.Load("s");
  ASSERT_OK(loaded);
  EXPECT_EQ(loaded->last_seq, 1u);
}

TEST(FakeSessionStoreTest, ExpireLeaseFreesTheLeaseAtOnce) {
  time::SimulatedClock clock;
  FakeSessionStore store(&clock);
  auto a = store.AcquireLease("node:1", "A", "a:1", 60000);
  ASSERT_OK(a);
  store.ExpireLease("node:1");
  EXPECT_THAT(store.GetLease("node:1"), StatusIs(absl::StatusCode::kNotFound));
  auto b = store.AcquireLease("node:1", "B", "b:1", 60000);
  ASSERT_OK(b);
  EXPECT_TRUE(b->acquired);
  EXPECT_GT(b->epoch, a->epoch);
}

}  // namespace
}  // namespace orch::session_engine
