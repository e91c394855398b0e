#include "services/session_engine/pending_requests.h"

#include <thread>

#include "absl/synchronization/notification.h"
#include "common/testing/status_matchers.h"
#include "common/time/simulated_clock.h"
#include "gtest/gtest.h"

namespace orch::session_engine {
namespace {

using ::orch::testing::StatusIs;

scxml::Event Reply(const std::string& name, const std::string& data) {
  scxml::Event e;
  e.name = name;
  e.data = data;
  return e;
}

TEST(PendingRequestsTest, TheFirstAnswerCountsAndArrivesBeforeOrDuringTheWait) {
  time::SimulatedClock clock;
  PendingRequests pending("inst", &clock);
  auto t = pending.Register();
  ASSERT_OK(t);
  EXPECT_EQ(t->id(), "inst-1");
  pending.Answer(t->id(), Reply("done", "{\"x\":1}"));
  pending.Answer(t->id(), Reply("second", "2"));
  auto r = t->Wait(clock.MonotonicMs() + 1000);
  ASSERT_OK(r);
  EXPECT_EQ(r->name, "done");
  EXPECT_EQ(r->data_json, "{\"x\":1}");

  auto u = pending.Register();
  ASSERT_OK(u);
  std::thread answer([&] { pending.Answer(u->id(), Reply("later", "undefined")); });
  auto v = u->Wait(clock.MonotonicMs() + 1000);  // the simulated clock never moves: only the answer wakes it
  answer.join();
  ASSERT_OK(v);
  EXPECT_EQ(v->name, "later");
}

TEST(PendingRequestsTest, NoAnswerByTheDeadlineIsDeadlineExceededAndAnswersAfterwardsAreDropped) {
  time::SimulatedClock clock;
  PendingRequests pending("inst", &clock);
  std::string id;
  {
    auto t = pending.Register();
    ASSERT_OK(t);
    id = t->id();
    // The deadline is read before the clock can move past it.
    const int64_t deadline = clock.MonotonicMs() + 10000;
    std::thread advance([&] { clock.AdvanceMs(300000); });
    EXPECT_THAT(t->Wait(deadline), StatusIs(absl::StatusCode::kDeadlineExceeded));
    advance.join();
  }
  pending.Answer(id, Reply("too late", "1"));  // unregistered: ignored
  pending.Answer("unknown", Reply("x", "1"));
  auto again = pending.Register();
  ASSERT_OK(again);
  EXPECT_NE(again->id(), id);
}

}  // namespace
}  // namespace orch::session_engine
