// Unit tests of RedisStore that need no Redis: ids, digests, and request
// validation (rejected before any command is sent: the client points at a
// port where nothing listens, so a request that reached it would fail with
// UNAVAILABLE, not INVALID_ARGUMENT).

#include "services/persistence_proxy/redis_store.h"

#include "common/base/sha256.h"
#include "common/sessionapi/session_id.h"
#include "common/testing/status_matchers.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace orch::persistence_proxy {
namespace {

using ::orch::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

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

// EncodeEntry splices append_time into the serialization without it; the
// result must be exactly what the library writes for the whole entry.
// x is the start of the bucket (1% of the lifetime, 1 ms..1 h) plus the
// lifetime: the same for every time in a bucket, the next bucket's from its
// first millisecond.
TEST(HeadXTest, OneValuePerBucketOfTheLifetime) {
  const int64_t day = 24 * 3600 * 1000;
  EXPECT_EQ(HeadX(1000 * 864000 + 5, day), 1000 * 864000 + day);  // buckets of 864 s
  EXPECT_EQ(HeadX(1000 * 864000 + 863999, day), 1000 * 864000 + day);
  EXPECT_EQ(HeadX(1001 * 864000, day), 1001 * 864000 + day);
  const int64_t month = 30 * day;  // 1% would be 7.2 h: an hour at most
  EXPECT_EQ(HeadX(7 * 3600000 + 59 * 60000, month), 7 * 3600000 + month);
  EXPECT_EQ(HeadX(123457, 50), 123457 + 50);  // 1 ms at least
}

TEST(EncodeEntryTest, SameBytesAsSerializingTheEntry) {
  auto serialize = [](const event::v1::LogEntry& e) {
    std::string out;
    google::protobuf::io::StringOutputStream sos(&out);
    google::protobuf::io::CodedOutputStream cos(&sos);
    cos.SetSerializationDeterministic(true);
    e.SerializeToCodedStream(&cos);
    cos.Trim();
    return out;
  };
  const absl::Time now = absl::FromUnixMicros(1764578400123456);
  std::vector<event::v1::LogEntry> entries(5);
  entries[0].set_seq(1);
  entries[0].mutable_started()->set_document_sha256(std::string(64, 'a'));
  (*entries[0].mutable_started()->mutable_parameters())["b"].set_string_value("x");
  (*entries[0].mutable_started()->mutable_parameters())["a"].set_number_value(2);
  entries[1].set_seq(300);  // a two-byte varint
  entries[1].mutable_event()->set_name(std::string(200, 'p'));
  entries[2].set_seq(uint64_t{1} << 40);
  entries[2].mutable_event()->set_name("with a time of its own");
  entries[2].mutable_append_time()->set_seconds(17);
  entries[2].mutable_append_time()->set_nanos(5);
  entries[3].set_seq(7);
  entries[3].mutable_terminated()->set_reason("bye");
  entries[3].mutable_append_time();  // present but empty
  entries[4].set_seq(8);
  entries[4].set_epoch(9);
  entries[4].mutable_event()->set_name(std::string(100000, 'q'));  // a 3-byte length
  // An entry with a field this build does not know (from a newer client).
  event::v1::LogEntry unknown;
  unknown.set_seq(9);
  unknown.mutable_event()->set_name("u");
  ASSERT_TRUE(unknown.MergeFromString(std::string("\xa0\x06\x07", 3)));  // field 100 = 7
  ASSERT_FALSE(unknown.GetReflection()->GetUnknownFields(unknown).empty());
  entries.push_back(unknown);
  entries.emplace_back();
  entries.back().set_seq(10);
  entries.back().mutable_event();  // an empty event
  entries.emplace_back();
  entries.back().set_seq(11);
  entries.back().mutable_clock();  // ClockAdvanced: an empty message, still the kind
  for (const uint64_t epoch : {uint64_t{9}, uint64_t{0}, uint64_t{1} << 35}) {
    for (const auto& in : entries) {
      if (in.epoch() != 0 && in.epoch() != epoch) continue;
      EncodedEntry e = EncodeEntry(in, epoch, now);
      event::v1::LogEntry expected = in;
      expected.set_epoch(epoch);
      if (!in.has_append_time()) {
        expected.mutable_append_time()->set_seconds(1764578400);
        expected.mutable_append_time()->set_nanos(123456000);
      }
      EXPECT_EQ(e.bytes, serialize(expected)) << in.seq() << " epoch " << epoch;
      EXPECT_EQ(e.digest, EntryDigest(expected)) << in.seq() << " epoch " << epoch;
    }
  }
  for (const auto& in : entries) {
    EncodedEntry e = EncodeEntry(in, 9, now);
    event::v1::LogEntry expected = in;
    expected.set_epoch(9);
    if (!in.has_append_time()) {
      expected.mutable_append_time()->set_seconds(1764578400);
      expected.mutable_append_time()->set_nanos(123456000);
    }
    EXPECT_EQ(e.bytes, serialize(expected)) << in.seq();
    EXPECT_EQ(e.digest, EntryDigest(expected)) << in.seq();
  }
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
    r.set_session_id(sessionapi::SessionIdForKey(1, "validation"));
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
  EXPECT_EQ(store_->CallKey("c-1"), "ORS:orch:call:{c-1}");
  EXPECT_EQ(store_->CallEventsKey("c-1"), "ORS:orch:call:{c-1}:events");
  EXPECT_EQ(store_->NodeCallsKey(12), "ORS:orch:node:{12}:calls");
  EXPECT_EQ(store_->TargetKey("7001"), "ORS:orch:target:{7001}");
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
  EXPECT_THAT(Append(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                  HasSubstr("node: required to create a session whose id does not name one")));
  r = Valid();
  r.mutable_entries(0)->set_epoch(7);
  EXPECT_THAT(Append(r), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("entries[0].epoch")));
  r = Valid();
  r.mutable_entries(0)->clear_event();
  EXPECT_THAT(Append(r), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("entries[0]")));
}

// A session is created on the node given, else on the node of its id, which
// must then be well-formed (sessionapi::NodeOfSessionId).
TEST_F(ValidationTest, CreatingNeedsANodeFromTheRequestOrAWellFormedId) {
  auto r = Valid();
  r.set_session_id("~1~SHORT");
  EXPECT_THAT(Append(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                  AllOf(HasSubstr("node: required"), HasSubstr("does not end in 32 characters"))));
  r.set_session_id("~0~029I4G7KGCET96MLCCSH5B5AES01M138");
  EXPECT_THAT(Append(r), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no valid node number")));
  r.set_session_id("~1~SHORT");
  r.set_node("1");
  EXPECT_THAT(Append(r), StatusIs(absl::StatusCode::kUnavailable));  // valid: it reached (no) Redis
  r = Valid();
  r.mutable_entries(0)->set_seq(2);  // not a creation: no node needed
  r.set_session_id("plain");
  EXPECT_THAT(Append(r), StatusIs(absl::StatusCode::kUnavailable));
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
  pb::ClaimCallRequest cc;
  cc.mutable_record()->set_call_uuid("c");
  cc.set_ttl_ms(7 * 24 * 3600 * 1000 + 1);
  EXPECT_THAT(CallSync(*store_, &Store::ClaimCall, cc).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ttl_ms")));
  cc.set_ttl_ms(0);  // the default TTL: valid, it reached (no) Redis
  EXPECT_THAT(CallSync(*store_, &Store::ClaimCall, cc).status(), StatusIs(absl::StatusCode::kUnavailable));
  pb::ReleaseTargetRequest rt;
  rt.set_target("t");
  EXPECT_THAT(CallSync(*store_, &Store::ReleaseTarget, rt).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("holder")));
  // Call owners: the bounds of node and limit, valid ones reaching (no) Redis.
  pb::BindCallRequest bind;
  bind.set_call_uuid("c");
  bind.set_session_id("s");
  bind.set_node(9999);
  EXPECT_THAT(CallSync(*store_, &Store::BindCall, bind).status(), StatusIs(absl::StatusCode::kUnavailable));
  bind.set_node(10000);
  EXPECT_THAT(CallSync(*store_, &Store::BindCall, bind).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("node: 10000 is not a node (1..9999)")));
  pb::ListNodeCallsRequest list;
  list.set_node(1);
  list.set_limit(10000);
  EXPECT_THAT(CallSync(*store_, &Store::ListNodeCalls, list).status(), StatusIs(absl::StatusCode::kUnavailable));
  list.set_limit(10001);
  EXPECT_THAT(CallSync(*store_, &Store::ListNodeCalls, list).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit: 10001")));
  pb::RecordCallEventRequest record;
  record.set_call_uuid("c");
  record.mutable_event()->set_name(std::string(101, 'e'));  // max_entry_bytes = 100
  EXPECT_THAT(CallSync(*store_, &Store::RecordCallEvent, record).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("over the limit of 100")));
  pb::ReadLogRequest rl;
  rl.set_session_id("a}b");
  EXPECT_THAT(CallSync(*store_, &Store::LoadSession, pb::LoadSessionRequest()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("session_id")));
}

}  // namespace
}  // namespace orch::persistence_proxy
