// Unit tests of RedisStore that need no Redis: ids, digests, and request
// validation (rejected before any command is sent: the client points at a
// port where nothing listens, so a request that reached it would fail with
// UNAVAILABLE, not INVALID_ARGUMENT).

#include "services/persistence_proxy/redis_store.h"

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace orch::persistence_proxy {
namespace {

using ::orch::testing::StatusIs;
using ::testing::HasSubstr;

TEST(NodeOfSessionIdTest, ParsesTheNodeForm) {
  EXPECT_EQ(NodeOfSessionId("~4~ABCDEF"), "4");
  EXPECT_EQ(NodeOfSessionId("~12~X"), "12");
  EXPECT_EQ(NodeOfSessionId("ABC"), "");
  EXPECT_EQ(NodeOfSessionId("~~X"), "");
  EXPECT_EQ(NodeOfSessionId("~4"), "");
}

TEST(DigestTest, IgnoresAppendTimeButNotContent) {
  event::v1::LogEntry a;
  a.set_seq(3);
  a.mutable_event()->set_name("go");
  event::v1::LogEntry b = a;
  b.mutable_append_time()->set_seconds(12345);
  EXPECT_EQ(EntryDigest(a), EntryDigest(b));
  EXPECT_EQ(EntryDigest(a).size(), 8u);
  b.mutable_event()->set_name("stop");
  EXPECT_NE(EntryDigest(a), EntryDigest(b));
}

TEST(DigestTest, Sha256Hex) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

class ValidationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    redis::RedisOptions o;
    o.nodes = {"127.0.0.1:1"};
    o.mode = redis::RedisMode::kStandalone;
    auto client = redis::CreateRedisClient(o);
    ASSERT_OK(client);
    StoreOptions so;
    so.max_entry_bytes = 100;
    store_ = std::make_unique<RedisStore>(std::shared_ptr<redis::RedisClient>(std::move(*client)), so);
  }
  absl::Status Append(const pb::AppendEventsRequest& r) {
    return CallSync(*store_, &Store::AppendEvents, r).status();
  }
  static pb::AppendEventsRequest Valid() {
    pb::AppendEventsRequest r;
    r.set_session_id("~1~ABC");
    r.set_epoch(1);
    auto* e = r.add_entries();
    e->set_seq(1);
    e->mutable_event()->set_name("x");
    return r;
  }
  std::unique_ptr<RedisStore> store_;
};

TEST_F(ValidationTest, KeysAreNamedAsDocumented) {
  EXPECT_EQ(store_->SessionKey("~1~A", "log"), "ORS:orch:{~1~A}:log");
  EXPECT_EQ(store_->NodeSessionsKey("1"), "ORS:orch:node:1:sessions");
  EXPECT_EQ(store_->LeaseKey("node:1"), "ORS:orch:lease:{node:1}");
  EXPECT_EQ(store_->ScheduleDataKey("b7"), "ORS:orch:sched:{b7}:data");
}

TEST_F(ValidationTest, ValidRequestReachesRedis) {
  EXPECT_THAT(Append(Valid()), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(ValidationTest, AppendRejectsBadRequests) {
  auto r = Valid();
  r.set_session_id("");
  EXPECT_THAT(Append(r), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("session_id")));
  r.set_session_id("a{b}");
  EXPECT_THAT(Append(r), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("session_id")));
  r = Valid();
  r.clear_entries();
  EXPECT_THAT(Append(r), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("entries")));
  r = Valid();
  r.mutable_entries(0)->mutable_event()->set_name(std::string(200, 'x'));
  EXPECT_THAT(Append(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                  HasSubstr("persistence.max-entry-bytes")));
  r = Valid();
  r.add_entries()->set_seq(3);
  r.mutable_entries(1)->mutable_event();
  EXPECT_THAT(Append(r), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("entries[1].seq")));
  r = Valid();
  r.set_session_id("plain");
  EXPECT_THAT(Append(r), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("node")));
  r = Valid();
  r.mutable_entries(0)->set_epoch(7);
  EXPECT_THAT(Append(r), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("entries[0].epoch")));
  r = Valid();
  r.mutable_entries(0)->clear_event();
  EXPECT_THAT(Append(r), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("entries[0]")));
}

TEST_F(ValidationTest, OtherOperationsRejectBadRequests) {
  pb::PutDocumentRequest d;
  d.set_sha256(Sha256Hex("other"));
  d.set_source("doc");
  EXPECT_THAT(CallSync(*store_, &Store::PutDocument, d).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sha256: does not match")));
  d.set_sha256("XYZ");
  EXPECT_THAT(CallSync(*store_, &Store::PutDocument, d).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sha256")));
  pb::AcquireLeaseRequest l;
  l.set_name("node:1");
  l.set_holder("h");
  EXPECT_THAT(CallSync(*store_, &Store::AcquireLease, l).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ttl_ms")));
  pb::ClaimDueRequest c;
  c.set_bucket("b");
  EXPECT_THAT(CallSync(*store_, &Store::ClaimDue, c).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("claim_timeout_ms")));
  pb::ListNodeSessionsRequest n;
  n.set_node("1");
  n.set_cursor("abc");
  EXPECT_THAT(CallSync(*store_, &Store::ListNodeSessions, n).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cursor")));
  pb::ReadLogRequest rl;
  rl.set_session_id("a}b");
  EXPECT_THAT(CallSync(*store_, &Store::LoadSession, pb::LoadSessionRequest()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("session_id")));
}

}  // namespace
}  // namespace orch::persistence_proxy
