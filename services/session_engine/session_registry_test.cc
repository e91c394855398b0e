#include "services/session_engine/session_registry.h"

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace orch::session_engine {
namespace {

using ::orch::testing::StatusIs;
using Locked = SessionRegistry::Locked;

absl::Status Ok() { return absl::OkStatus(); }

class SessionRegistryTest : public ::testing::Test {
 protected:
  SessionRegistry registry_{3, [](const std::string& id) { return static_cast<int>(id.size() % 2); }};
};

TEST_F(SessionRegistryTest, FindOrActivateActivatesOnceAndReturnsTheEntryLocked) {
  int activations = 0;
  auto activate = [&](const std::shared_ptr<SessionEntry>& e) {
    ++activations;
    e->mu.AssertHeld();
    return absl::OkStatus();
  };
  {
    auto a = registry_.FindOrActivate("s1", activate, Ok);
    ASSERT_OK(a);
    EXPECT_TRUE(a->activated());
    EXPECT_EQ(a->entry().id, "s1");
    EXPECT_EQ(a->entry().worker, 0);
  }
  auto b = registry_.FindOrActivate("s1", activate, Ok);
  ASSERT_OK(b);
  EXPECT_FALSE(b->activated());
  EXPECT_EQ(activations, 1);
  EXPECT_TRUE(registry_.Contains("s1"));
}

TEST_F(SessionRegistryTest, AFailedActivationLeavesNothingAndTheCheckComesFirst) {
  auto failed = registry_.FindOrActivate(
      "s1", [](const std::shared_ptr<SessionEntry>&) { return absl::NotFoundError("unknown session"); }, Ok);
  EXPECT_THAT(failed, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_FALSE(registry_.Contains("s1"));
  bool called = false;
  auto refused = registry_.FindOrActivate(
      "s1",
      [&](const std::shared_ptr<SessionEntry>&) {
        called = true;
        return absl::OkStatus();
      },
      [] { return absl::UnavailableError("standby"); });
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_FALSE(called);
}

TEST_F(SessionRegistryTest, AHolderBlocksOthersUntilItUnlocks) {
  auto held = registry_.FindOrActivate("s1", [](const std::shared_ptr<SessionEntry>&) { return absl::OkStatus(); },
                                       Ok);
  ASSERT_OK(held);
  std::atomic<bool> got{false};
  absl::Notification started;
  std::thread other([&] {
    started.Notify();
    auto again = registry_.FindOrActivate("s1", [](const std::shared_ptr<SessionEntry>&) { return absl::OkStatus(); },
                                          Ok);
    got = again.ok();
  });
  started.WaitForNotification();
  EXPECT_FALSE(got.load());
  held->Unlock();
  other.join();
  EXPECT_TRUE(got.load());
}

TEST_F(SessionRegistryTest, CreateRefusesATakenIdAndTheLimitHoldsForBoth) {
  {
    auto a = registry_.Create("s1");
    ASSERT_OK(a);
    EXPECT_THAT(registry_.Create("s1"), StatusIs(absl::StatusCode::kAlreadyExists));
  }
  ASSERT_OK(registry_.Create("s2"));
  ASSERT_OK(registry_.Create("s3"));
  EXPECT_THAT(registry_.Create("s4"), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(registry_.FindOrActivate("s4", [](const std::shared_ptr<SessionEntry>&) { return absl::OkStatus(); },
                                       Ok),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(registry_.size(), 3u);
}

TEST_F(SessionRegistryTest, DropAllMarksEntriesDeadAndAStaleHolderFindsANewOne) {
  std::shared_ptr<SessionEntry> volatile_entry, durable;
  {
    auto v = registry_.Create("mem");
    ASSERT_OK(v);
    volatile_entry = v->shared();
    auto d = registry_.Create("dur");
    ASSERT_OK(d);
    d->entry().persistent = true;
    durable = d->shared();
  }
  auto dropped = registry_.DropAll(/*persistent_only=*/true);
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0], durable);
  EXPECT_TRUE(durable->dead);
  EXPECT_FALSE(volatile_entry->dead);
  EXPECT_EQ(registry_.VolatileIds(), std::vector<std::string>{"mem"});
  registry_.DropAll(false);
  EXPECT_TRUE(volatile_entry->dead);
  EXPECT_EQ(registry_.size(), 0u);
  // Removing a stale entry does not remove its replacement.
  auto fresh = registry_.Create("mem");
  ASSERT_OK(fresh);
  registry_.Remove(volatile_entry);
  EXPECT_TRUE(registry_.Contains("mem"));
}

TEST(RecentEffectIdsTest, KeepsTheLatestInOrderAndIgnoresEmptyAndRepeats) {
  RecentEffectIds ids;
  ids.Remember("");
  ids.Remember("a");
  ids.Remember("a");
  EXPECT_EQ(ids.InOrder(), std::vector<std::string>{"a"});
  for (size_t i = 0; i < RecentEffectIds::kCapacity; ++i) ids.Remember("e" + std::to_string(i));
  EXPECT_FALSE(ids.Contains("a"));  // the oldest is forgotten
  EXPECT_TRUE(ids.Contains("e0"));
  EXPECT_EQ(ids.InOrder().size(), RecentEffectIds::kCapacity);
  EXPECT_EQ(ids.InOrder().front(), "e0");
}

}  // namespace
}  // namespace orch::session_engine
