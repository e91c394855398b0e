#include "services/session_engine/watch_hub.h"

#include "common/time/simulated_clock.h"
#include "gtest/gtest.h"

namespace orch::session_engine {
namespace {

namespace sv1 = orch::session::v1;

sv1::WatchSessionResponse Update(uint64_t seq) {
  sv1::WatchSessionResponse u;
  u.set_seq(seq);
  return u;
}

TEST(WatcherTest, BoundedBufferCountsWhatItDroppedInTheNextUpdate) {
  time::SimulatedClock clock;
  Watcher w;
  for (uint64_t i = 0; i < Watcher::kMaxBuffered + 5; ++i) w.Push(Update(i), false);
  std::deque<sv1::WatchSessionResponse> got;
  EXPECT_FALSE(w.Take(&clock, clock.MonotonicMs(), &got));
  ASSERT_EQ(got.size(), Watcher::kMaxBuffered);
  EXPECT_EQ(got.front().missed(), 0u);
  w.Push(Update(999), true);
  got.clear();
  EXPECT_TRUE(w.Take(&clock, clock.MonotonicMs(), &got));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].seq(), 999u);
  EXPECT_EQ(got[0].missed(), 5u);
}

TEST(WatcherTest, TakeReturnsAtTheDeadlineWhenNothingCame) {
  time::SimulatedClock clock;
  Watcher w;
  std::deque<sv1::WatchSessionResponse> got;
  EXPECT_FALSE(w.Take(&clock, clock.MonotonicMs() - 1, &got));
  EXPECT_TRUE(got.empty());
  w.CloseStream();
  EXPECT_TRUE(w.Take(&clock, clock.MonotonicMs() + 100000, &got));  // closed: at once
  EXPECT_TRUE(got.empty());
}

}  // namespace
}  // namespace orch::session_engine
