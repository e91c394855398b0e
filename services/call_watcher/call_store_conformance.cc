#include "services/call_watcher/call_store_conformance.h"

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"

namespace orch::call_watcher {
namespace {

using ::orch::testing::IsOkAndHolds;
using ::orch::testing::StatusIs;
using ::testing::HasSubstr;
using Code = absl::StatusCode;

std::atomic<int> unique_counter{0};

// Records compare by their bytes (CallRecord has no maps, so the
// serialization is canonical).
std::string Bytes(const CallRecord& r) { return r.SerializeAsString(); }

}  // namespace

void CallStoreConformanceTest::SetUp() {
  auto h = GetParam().make();
  ASSERT_OK(h) << GetParam().name;
  harness_ = std::move(*h);
}

std::string CallStoreConformanceTest::UniqueName(const std::string& what) {
  return absl::StrCat("conformance-", ++unique_counter, "-", what);
}

CallRecord CallStoreConformanceTest::Record(const std::string& uuid, const std::string& session_id) {
  CallRecord r;
  r.set_call_uuid(uuid);
  r.set_session_id(session_id);
  r.set_switch_name("sw1");
  r.set_this_dn("7001");
  r.set_media_type("voice");
  r.set_watcher("127.0.0.1:7301");
  r.set_created_unix_ms(1767225600000);
  return r;
}

bool CallStoreConformanceTest::AfterElapsing(absl::Duration first, const std::function<bool()>& done) {
  Elapse(first);
  for (int i = 0; i < 100; ++i) {
    if (done()) return true;
    Elapse(absl::Milliseconds(20));
  }
  return false;
}

TEST_P(CallStoreConformanceTest, ClaimStoresTheRecordAndASecondClaimAnswersTheFirst) {
  const std::string uuid = UniqueName("call");
  const CallRecord first = Record(uuid, "session-1");
  auto a = store().ClaimCall(first, absl::Minutes(5));
  ASSERT_OK(a);
  EXPECT_TRUE(a->created);
  EXPECT_EQ(Bytes(a->record), Bytes(first));

  auto b = store().ClaimCall(Record(uuid, "session-2"), absl::Minutes(5));
  ASSERT_OK(b);
  EXPECT_FALSE(b->created);
  EXPECT_EQ(b->record.session_id(), "session-1");
  EXPECT_EQ(Bytes(b->record), Bytes(first));

  auto got = store().GetCall(uuid);
  ASSERT_OK(got);
  EXPECT_EQ(Bytes(*got), Bytes(first));
}

TEST_P(CallStoreConformanceTest, GetOfAnUnknownCallIsNotFound) {
  EXPECT_THAT(store().GetCall(UniqueName("never-claimed")), StatusIs(Code::kNotFound));
}

TEST_P(CallStoreConformanceTest, ConcurrentClaimsOfACallAllAnswerTheSameRecord) {
  constexpr int kCalls = 8, kThreads = 6;
  std::vector<std::string> uuids;
  for (int c = 0; c < kCalls; ++c) uuids.push_back(UniqueName(absl::StrCat("racy-call-", c)));
  // results[c][t]: thread t's claim of call c.
  std::vector<std::vector<absl::StatusOr<ClaimResult>>> results(
      kCalls, std::vector<absl::StatusOr<ClaimResult>>(kThreads, absl::UnknownError("not run")));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int c = 0; c < kCalls; ++c) {
        results[c][t] = store().ClaimCall(Record(uuids[c], absl::StrCat("session-of-", t)), absl::Minutes(5));
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int c = 0; c < kCalls; ++c) {
    int created = 0;
    std::set<std::string> records;
    for (const auto& r : results[c]) {
      ASSERT_OK(r);
      created += r->created ? 1 : 0;
      records.insert(Bytes(r->record));
    }
    EXPECT_EQ(created, 1) << uuids[c];
    ASSERT_EQ(records.size(), 1u) << uuids[c];
    auto got = store().GetCall(uuids[c]);
    ASSERT_OK(got);
    EXPECT_EQ(Bytes(*got), *records.begin()) << uuids[c];
  }
}

TEST_P(CallStoreConformanceTest, RecordsExpireAfterTheirTtl) {
  const std::string short_lived = UniqueName("short-call");
  const std::string long_lived = UniqueName("long-call");
  ASSERT_OK(store().ClaimCall(Record(short_lived, "s1"), absl::Milliseconds(300)));
  ASSERT_OK(store().ClaimCall(Record(long_lived, "s2"), absl::Minutes(5)));
  EXPECT_TRUE(AfterElapsing(absl::Milliseconds(300), [&] {
    return store().GetCall(short_lived).status().code() == Code::kNotFound;
  }));
  EXPECT_OK(store().GetCall(long_lived));
  // An expired record is no record: a claim creates a new one, a delete finds none.
  EXPECT_THAT(store().DeleteCall(short_lived), IsOkAndHolds(false));
  auto again = store().ClaimCall(Record(short_lived, "s3"), absl::Minutes(5));
  ASSERT_OK(again);
  EXPECT_TRUE(again->created);
  EXPECT_EQ(again->record.session_id(), "s3");
}

TEST_P(CallStoreConformanceTest, DeleteRemovesTheRecordOnce) {
  const std::string uuid = UniqueName("call");
  ASSERT_OK(store().ClaimCall(Record(uuid, "s1"), absl::Minutes(5)));
  EXPECT_THAT(store().DeleteCall(uuid), IsOkAndHolds(true));
  EXPECT_THAT(store().GetCall(uuid), StatusIs(Code::kNotFound));
  EXPECT_THAT(store().DeleteCall(uuid), IsOkAndHolds(false));
  EXPECT_THAT(store().DeleteCall(UniqueName("never-claimed")), IsOkAndHolds(false));
  auto again = store().ClaimCall(Record(uuid, "s2"), absl::Minutes(5));
  ASSERT_OK(again);
  EXPECT_TRUE(again->created);
  EXPECT_EQ(again->record.session_id(), "s2");
}

TEST_P(CallStoreConformanceTest, ClaimKeepsTheNodesAndTheStartRequest) {
  const std::string uuid = UniqueName("call");
  CallRecord r = Record(uuid, "~2~session");
  r.set_assigned_node(2);
  r.set_reserved_node(5);
  r.set_owner_node(0);
  r.set_restart_on_switchover(true);
  r.set_start_request(std::string("\x0a\x03url\x00\xff", 7));
  ASSERT_OK(store().ClaimCall(r, absl::Minutes(5)));
  auto got = store().GetCall(uuid);
  ASSERT_OK(got);
  EXPECT_EQ(Bytes(*got), Bytes(r));
}

TEST_P(CallStoreConformanceTest, EventsAreRecordedWhileTheCallHasARecordAndGoWithIt) {
  const std::string uuid = UniqueName("call");
  event::v1::Event e;
  e.set_name("interaction.added");
  e.set_effect_id("call/sw1/1");
  e.mutable_data()->set_string_value("x");
  EXPECT_THAT(store().RecordCallEvent(uuid, e), StatusIs(Code::kNotFound));
  for (const std::string& bad : {std::string(), std::string("a{b}"), std::string("a b"), std::string(257, 'u')}) {
    EXPECT_THAT(store().RecordCallEvent(bad, e), StatusIs(Code::kInvalidArgument, HasSubstr("call_uuid"))) << bad;
  }
  ASSERT_OK(store().ClaimCall(Record(uuid, "s1"), absl::Minutes(5)));
  EXPECT_THAT(store().RecordCallEvent(uuid, e), IsOkAndHolds(1u));
  e.set_name("interaction.onrouterequest");
  e.set_effect_id("call/sw1/2");
  EXPECT_THAT(store().RecordCallEvent(uuid, e), IsOkAndHolds(2u));
  EXPECT_THAT(store().RecordCallEvent(uuid, e), IsOkAndHolds(3u));   // a retried record counts again
  // Other calls are independent.
  const std::string other = UniqueName("call");
  ASSERT_OK(store().ClaimCall(Record(other, "s2"), absl::Minutes(5)));
  EXPECT_THAT(store().RecordCallEvent(other, e), IsOkAndHolds(1u));
  // Deleted with the record: a new record of the same call starts afresh.
  EXPECT_THAT(store().DeleteCall(uuid), IsOkAndHolds(true));
  EXPECT_THAT(store().RecordCallEvent(uuid, e), StatusIs(Code::kNotFound));
  ASSERT_OK(store().ClaimCall(Record(uuid, "s1"), absl::Minutes(5)));
  EXPECT_THAT(store().RecordCallEvent(uuid, e), IsOkAndHolds(1u));
}

TEST_P(CallStoreConformanceTest, ATargetIsReservedByOneHolderAndReleasedOnlyByIt) {
  const std::string target = UniqueName("agent");
  EXPECT_THAT(store().ReserveTarget(target, "call-a", absl::Minutes(5)), IsOkAndHolds("call-a"));
  // Another holder is refused with the holder's name.
  EXPECT_THAT(store().ReserveTarget(target, "call-b", absl::Minutes(5)), IsOkAndHolds("call-a"));
  // The holder may reserve again.
  EXPECT_THAT(store().ReserveTarget(target, "call-a", absl::Minutes(5)), IsOkAndHolds("call-a"));
  // A release by a non-holder leaves the reservation as it is.
  EXPECT_THAT(store().ReleaseTarget(target, "call-b"), IsOkAndHolds(false));
  EXPECT_THAT(store().ReserveTarget(target, "call-b", absl::Minutes(5)), IsOkAndHolds("call-a"));
  // Released by the holder, it is free for another.
  EXPECT_THAT(store().ReleaseTarget(target, "call-a"), IsOkAndHolds(true));
  EXPECT_THAT(store().ReleaseTarget(target, "call-a"), IsOkAndHolds(false));
  EXPECT_THAT(store().ReserveTarget(target, "call-b", absl::Minutes(5)), IsOkAndHolds("call-b"));
  EXPECT_THAT(store().ReserveTarget(target, "call-a", absl::Minutes(5)), IsOkAndHolds("call-b"));
  // Other targets are independent.
  EXPECT_THAT(store().ReserveTarget(UniqueName("agent"), "call-a", absl::Minutes(5)), IsOkAndHolds("call-a"));
  EXPECT_THAT(store().ReleaseTarget(UniqueName("never-reserved"), "call-a"), IsOkAndHolds(false));
}

TEST_P(CallStoreConformanceTest, AReservationExpiresAfterItsTtlUnlessTheHolderReservesAgain) {
  const std::string renewed = UniqueName("renewed-agent");
  const std::string expiring = UniqueName("expiring-agent");
  ASSERT_THAT(store().ReserveTarget(renewed, "call-a", absl::Seconds(1)), IsOkAndHolds("call-a"));
  ASSERT_THAT(store().ReserveTarget(expiring, "call-a", absl::Milliseconds(300)), IsOkAndHolds("call-a"));
  // Reserving again restarts the TTL (here with a longer one): without that,
  // `renewed` would be free after its first second.
  ASSERT_THAT(store().ReserveTarget(renewed, "call-a", absl::Minutes(5)), IsOkAndHolds("call-a"));
  EXPECT_TRUE(AfterElapsing(absl::Milliseconds(300), [&] {
    auto holder = store().ReserveTarget(expiring, "call-b", absl::Minutes(5));
    EXPECT_OK(holder);
    return holder.ok() && *holder == "call-b";
  }));
  // The expired holder no longer holds it: its release changes nothing.
  EXPECT_THAT(store().ReleaseTarget(expiring, "call-a"), IsOkAndHolds(false));
  EXPECT_THAT(store().ReserveTarget(expiring, "call-c", absl::Minutes(5)), IsOkAndHolds("call-b"));
  Elapse(absl::Milliseconds(1200));
  EXPECT_THAT(store().ReserveTarget(renewed, "call-b", absl::Minutes(5)), IsOkAndHolds("call-a"));
}

TEST_P(CallStoreConformanceTest, BadArgumentsAreInvalidAndNameTheField) {
  const auto invalid = [](const char* field) { return StatusIs(Code::kInvalidArgument, HasSubstr(field)); };
  const std::string ok = UniqueName("call");
  const std::string too_long(257, 'u');
  for (const std::string& bad : {std::string(), std::string("a{b}"), std::string("a b"), std::string("a\nb"),
                                 std::string("a\x7f"), too_long}) {
    SCOPED_TRACE(absl::StrCat("key of ", bad.size(), " bytes: ", bad));
    EXPECT_THAT(store().ClaimCall(Record(bad, "s"), absl::Minutes(1)), invalid("call_uuid"));
    EXPECT_THAT(store().GetCall(bad), invalid("call_uuid"));
    EXPECT_THAT(store().DeleteCall(bad), invalid("call_uuid"));
    EXPECT_THAT(store().ReserveTarget(bad, "h", absl::Minutes(1)), invalid("target"));
    EXPECT_THAT(store().ReserveTarget(ok, bad, absl::Minutes(1)), invalid("holder"));
    EXPECT_THAT(store().ReleaseTarget(bad, "h"), invalid("target"));
    EXPECT_THAT(store().ReleaseTarget(ok, bad), invalid("holder"));
  }
  for (absl::Duration bad : {absl::ZeroDuration(), absl::Milliseconds(-5), absl::Microseconds(500),
                             absl::Hours(24 * 7) + absl::Milliseconds(1)}) {
    SCOPED_TRACE(absl::StrCat("ttl ", absl::FormatDuration(bad)));
    EXPECT_THAT(store().ClaimCall(Record(ok, "s"), bad), invalid("ttl"));
    EXPECT_THAT(store().ReserveTarget(ok, "h", bad), invalid("ttl"));
  }
  // The refused requests changed nothing.
  EXPECT_THAT(store().GetCall(ok), StatusIs(Code::kNotFound));
  EXPECT_THAT(store().ReserveTarget(ok, "other", absl::Minutes(1)), IsOkAndHolds("other"));
  // The limits themselves are allowed: 256 bytes, 1 ms and 7 days.
  const std::string longest = ok + std::string(256 - ok.size(), 'x');
  auto claimed = store().ClaimCall(Record(longest, "s"), absl::Hours(24 * 7));
  ASSERT_OK(claimed);
  EXPECT_TRUE(claimed->created);
  EXPECT_THAT(store().ReserveTarget(longest, longest, absl::Hours(24 * 7)), IsOkAndHolds(longest));
  EXPECT_THAT(store().ReserveTarget(UniqueName("agent"), "h", absl::Milliseconds(1)), IsOkAndHolds("h"));
}

}  // namespace orch::call_watcher
