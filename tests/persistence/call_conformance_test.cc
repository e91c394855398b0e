// The persistence store (RedisStore) conformance suite, calls side: call
// records claimed once (also concurrently), read, deleted and expiring;
// target reservations; call owners bound by one node (also by many at once);
// recorded events; a node's calls paged with gone ones removed; bad
// arguments naming the field and writing nothing. Same typed suite and
// backends as store_conformance_test.cc (store_conformance_fixture.h), in
// the same binary; CMakeLists.txt links this file first so its tests run
// before ZzEveryKeyHasATtl, which checks the keys they leave.

#include <algorithm>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/redis/cluster_slots.h"
#include "common/sessionapi/session_id.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "gtest/gtest.h"
#include "services/persistence_proxy/redis_store.h"
#include "tests/persistence/store_conformance_fixture.h"

namespace orch::persistence_proxy::store_conformance {
namespace {

// A call record of `uuid` handled by `session`.
pb::CallRecord Call(const std::string& uuid, const std::string& session) {
  pb::CallRecord r;
  r.set_call_uuid(uuid);
  r.set_session_id(session);
  r.set_switch_name("sw1");
  r.set_this_dn("7001");
  r.set_media_type("voice");
  r.set_watcher("127.0.0.1:7301");
  r.set_created_unix_ms(1765000000000);
  return r;
}

TYPED_TEST(StoreConformanceTest, CallsAreClaimedOnceReadDeletedAndExpire) {
  const std::string uuid = this->Sid("call");  // unique per test and backend
  auto claim = [&](const pb::CallRecord& record, uint32_t ttl_ms) {
    pb::ClaimCallRequest r;
    *r.mutable_record() = record;
    r.set_ttl_ms(ttl_ms);
    return CallSync(*this->store_, &Store::ClaimCall, r);
  };
  pb::GetCallRequest get;
  get.set_call_uuid(uuid);
  EXPECT_THAT(CallSync(*this->store_, &Store::GetCall, get), StatusIs(Code::kNotFound));

  const pb::CallRecord first = Call(uuid, "session-1");
  auto a = claim(first, 0);  // the default TTL, one day
  ASSERT_OK(a);
  EXPECT_TRUE(a->created());
  EXPECT_EQ(a->record().SerializeAsString(), first.SerializeAsString());
  auto b = claim(Call(uuid, "session-2"), 60000);
  ASSERT_OK(b);
  EXPECT_FALSE(b->created());
  EXPECT_EQ(b->record().session_id(), "session-1");
  EXPECT_EQ(b->record().SerializeAsString(), first.SerializeAsString());
  auto got = CallSync(*this->store_, &Store::GetCall, get);
  ASSERT_OK(got);
  EXPECT_EQ(got->record().SerializeAsString(), first.SerializeAsString());

  // One key per call, named after it (its own hash tag), with the TTL.
  auto pttl = this->backend_->client->ExecuteSync({"PTTL", this->store_->CallKey(uuid)});
  ASSERT_OK(pttl);
  EXPECT_GT(pttl->integer(), 23LL * 3600 * 1000);
  EXPECT_LE(pttl->integer(), 24LL * 3600 * 1000);
  EXPECT_EQ(this->store_->CallKey(uuid), absl::StrCat("ORS:conf:call:{", uuid, "}"));

  pb::DeleteCallRequest del;
  del.set_call_uuid(uuid);
  auto d = CallSync(*this->store_, &Store::DeleteCall, del);
  ASSERT_OK(d);
  EXPECT_TRUE(d->deleted());
  d = CallSync(*this->store_, &Store::DeleteCall, del);
  ASSERT_OK(d);
  EXPECT_FALSE(d->deleted());
  EXPECT_THAT(CallSync(*this->store_, &Store::GetCall, get), StatusIs(Code::kNotFound));

  // Claimable again once deleted; gone once its TTL passed (Redis's clock).
  a = claim(Call(uuid, "session-3"), 150);
  ASSERT_OK(a);
  EXPECT_TRUE(a->created());
  bool expired = false;
  for (int i = 0; i < 100 && !expired; ++i) {
    absl::SleepFor(absl::Milliseconds(20));
    expired = CallSync(*this->store_, &Store::GetCall, get).status().code() == Code::kNotFound;
  }
  EXPECT_TRUE(expired);
  a = claim(Call(uuid, "session-4"), 60000);
  ASSERT_OK(a);
  EXPECT_TRUE(a->created());
  EXPECT_EQ(a->record().session_id(), "session-4");
}

TYPED_TEST(StoreConformanceTest, ConcurrentClaimsOfACallAllAnswerTheSameRecord) {
  constexpr int kCalls = 12, kClaimers = 6;
  std::vector<std::vector<absl::StatusOr<pb::ClaimCallResponse>>> results(
      kCalls, std::vector<absl::StatusOr<pb::ClaimCallResponse>>(kClaimers, absl::UnknownError("unset")));
  std::vector<std::thread> threads;
  for (int t = 0; t < kClaimers; ++t) {
    threads.emplace_back([&, t] {
      for (int c = 0; c < kCalls; ++c) {
        pb::ClaimCallRequest r;
        *r.mutable_record() = Call(this->Sid(absl::StrCat("call", c)), absl::StrCat("session-of-", t));
        r.set_ttl_ms(60000);
        results[c][t] = CallSync(*this->store_, &Store::ClaimCall, r);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int c = 0; c < kCalls; ++c) {
    int created = 0;
    std::set<std::string> sessions;
    for (const auto& r : results[c]) {
      ASSERT_OK(r);
      created += r->created() ? 1 : 0;
      sessions.insert(r->record().session_id());
    }
    EXPECT_EQ(created, 1) << "call " << c;
    EXPECT_EQ(sessions.size(), 1u) << "call " << c;
    pb::GetCallRequest get;
    get.set_call_uuid(this->Sid(absl::StrCat("call", c)));
    auto got = CallSync(*this->store_, &Store::GetCall, get);
    ASSERT_OK(got);
    EXPECT_EQ(got->record().session_id(), *sessions.begin());
  }
}

TYPED_TEST(StoreConformanceTest, TargetsAreReservedByOneHolderAtATime) {
  const std::string target = this->Sid("agent");
  auto reserve = [&](const std::string& holder, uint32_t ttl_ms) {
    pb::ReserveTargetRequest r;
    r.set_target(target);
    r.set_holder(holder);
    r.set_ttl_ms(ttl_ms);
    return CallSync(*this->store_, &Store::ReserveTarget, r);
  };
  auto release = [&](const std::string& holder) -> absl::StatusOr<bool> {
    pb::ReleaseTargetRequest r;
    r.set_target(target);
    r.set_holder(holder);
    auto resp = CallSync(*this->store_, &Store::ReleaseTarget, r);
    if (!resp.ok()) return resp.status();
    return resp->released();
  };
  auto pttl = [&]() -> int64_t {
    auto r = this->backend_->client->ExecuteSync({"PTTL", this->store_->TargetKey(target)});
    EXPECT_OK(r);
    return r.ok() ? r->integer() : -3;
  };

  auto a = reserve("call-a", 5000);
  ASSERT_OK(a);
  EXPECT_TRUE(a->reserved());
  EXPECT_EQ(a->holder(), "call-a");
  EXPECT_LE(pttl(), 5000);
  auto b = reserve("call-b", 60000);
  ASSERT_OK(b);
  EXPECT_FALSE(b->reserved());
  EXPECT_EQ(b->holder(), "call-a");
  EXPECT_LE(pttl(), 5000);  // the refused reservation changed nothing
  // The holder reserving again restarts the TTL (here: a longer one).
  a = reserve("call-a", 60000);
  ASSERT_OK(a);
  EXPECT_TRUE(a->reserved());
  EXPECT_GT(pttl(), 5000);
  EXPECT_EQ(this->store_->TargetKey(target), absl::StrCat("ORS:conf:target:{", target, "}"));

  EXPECT_THAT(release("call-b"), ::orch::testing::IsOkAndHolds(false));
  b = reserve("call-b", 60000);
  ASSERT_OK(b);
  EXPECT_EQ(b->holder(), "call-a");  // still call-a's
  EXPECT_THAT(release("call-a"), ::orch::testing::IsOkAndHolds(true));
  EXPECT_THAT(release("call-a"), ::orch::testing::IsOkAndHolds(false));
  b = reserve("call-b", 150);
  ASSERT_OK(b);
  EXPECT_TRUE(b->reserved());
  // Expiry on Redis's clock: call-c gets it once call-b's 150 ms passed.
  absl::StatusOr<pb::ReserveTargetResponse> c;
  for (int i = 0; i < 100; ++i) {
    c = reserve("call-c", 60000);
    ASSERT_OK(c);
    if (c->reserved()) break;
    EXPECT_EQ(c->holder(), "call-b");
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(c->reserved());
  EXPECT_THAT(release("call-b"), ::orch::testing::IsOkAndHolds(false));
  EXPECT_EQ(reserve("call-d", 1000)->holder(), "call-c");
}

TYPED_TEST(StoreConformanceTest, CallsAndTargetsRefuseBadArguments) {
  auto claim = [&](const std::string& uuid, uint32_t ttl_ms) {
    pb::ClaimCallRequest r;
    *r.mutable_record() = Call(uuid, "s");
    r.set_ttl_ms(ttl_ms);
    return CallSync(*this->store_, &Store::ClaimCall, r).status();
  };
  auto reserve = [&](const std::string& target, const std::string& holder, uint32_t ttl_ms) {
    pb::ReserveTargetRequest r;
    r.set_target(target);
    r.set_holder(holder);
    r.set_ttl_ms(ttl_ms);
    return CallSync(*this->store_, &Store::ReserveTarget, r).status();
  };
  auto release = [&](const std::string& target, const std::string& holder) {
    pb::ReleaseTargetRequest r;
    r.set_target(target);
    r.set_holder(holder);
    return CallSync(*this->store_, &Store::ReleaseTarget, r).status();
  };
  const auto bad = [](const char* field) { return StatusIs(Code::kInvalidArgument, HasSubstr(field)); };
  EXPECT_THAT(claim("", 1000), bad("record.call_uuid"));
  EXPECT_THAT(claim("a{b}", 1000), bad("record.call_uuid"));
  EXPECT_THAT(claim("a b", 1000), bad("record.call_uuid"));
  EXPECT_THAT(claim(std::string(257, 'u'), 1000), bad("record.call_uuid"));
  EXPECT_OK(claim(this->Sid("") + std::string(256 - this->Sid("").size(), 'u'), 1000));
  EXPECT_THAT(claim(this->Sid("ttl"), 7 * 24 * 3600 * 1000 + 1), bad("ttl_ms"));
  pb::GetCallRequest get;
  get.set_call_uuid("x\ny");
  EXPECT_THAT(CallSync(*this->store_, &Store::GetCall, get), bad("call_uuid"));
  pb::DeleteCallRequest del;
  EXPECT_THAT(CallSync(*this->store_, &Store::DeleteCall, del), bad("call_uuid"));
  EXPECT_THAT(reserve("", "h", 1000), bad("target"));
  EXPECT_THAT(reserve("t{", "h", 1000), bad("target"));
  EXPECT_THAT(reserve("t", "", 1000), bad("holder"));
  EXPECT_THAT(reserve("t", "h h", 1000), bad("holder"));
  EXPECT_THAT(reserve("t", "h", 0), bad("ttl_ms"));
  EXPECT_THAT(reserve("t", "h", 7 * 24 * 3600 * 1000 + 1), bad("ttl_ms"));
  EXPECT_THAT(release("", "h"), bad("target"));
  EXPECT_THAT(release("t", std::string(257, 'h')), bad("holder"));
  // Nothing of the refused requests was written.
  for (const auto& k : this->backend_->AllKeys()) {
    EXPECT_FALSE(absl::StrContains(k, ":target:{t")) << k;
    EXPECT_FALSE(absl::StrContains(k, this->Sid("ttl"))) << k;
  }
}

// ------------------------------------------------------------ call owners

// A claimed call as call-watcher writes it: assigned and reserved node, no
// owner yet, the session id of the assigned node, a start request (binary,
// long enough for a two-byte length).
pb::CallRecord HaCall(const std::string& uuid, int assigned, int reserved) {
  pb::CallRecord r = Call(uuid, sessionapi::SessionIdForKey(assigned, "call:" + uuid));
  r.set_assigned_node(assigned);
  r.set_reserved_node(reserved);
  r.set_restart_on_switchover(true);
  std::string start(300, '\0');
  for (size_t i = 0; i < start.size(); ++i) start[i] = static_cast<char>(i * 7);
  r.set_start_request(start);
  return r;
}

// The bytes the library writes for `m` (the record's stored form).
std::string Deterministic(const google::protobuf::MessageLite& m) {
  std::string out;
  google::protobuf::io::StringOutputStream sos(&out);
  google::protobuf::io::CodedOutputStream cos(&sos);
  cos.SetSerializationDeterministic(true);
  m.SerializeToCodedStream(&cos);
  cos.Trim();
  return out;
}

absl::Status Claim(Store& store, const pb::CallRecord& record, uint32_t ttl_ms) {
  pb::ClaimCallRequest r;
  *r.mutable_record() = record;
  r.set_ttl_ms(ttl_ms);
  auto resp = CallSync(store, &Store::ClaimCall, r);
  if (!resp.ok()) return resp.status();
  return resp->created() ? absl::OkStatus() : absl::AlreadyExistsError(record.call_uuid());
}

absl::StatusOr<pb::BindCallResponse> Bind(Store& store, const std::string& uuid, int node,
                                          const std::string& session_id) {
  pb::BindCallRequest r;
  r.set_call_uuid(uuid);
  r.set_node(node);
  r.set_session_id(session_id);
  return CallSync(store, &Store::BindCall, r);
}

std::string CallSession(int node, const std::string& uuid) {
  return sessionapi::SessionIdForKey(node, "call:" + uuid);
}

event::v1::Event CallEvent(int i) {
  event::v1::Event e;
  e.set_name(absl::StrCat("dialog.event", i));
  (*e.mutable_data()->mutable_struct_value()->mutable_fields())["n"].set_number_value(i);
  e.set_effect_id(absl::StrCat("call/sw1/", i));
  return e;
}

absl::StatusOr<uint64_t> RecordEvent(Store& store, const std::string& uuid, const event::v1::Event& e) {
  pb::RecordCallEventRequest r;
  r.set_call_uuid(uuid);
  *r.mutable_event() = e;
  auto resp = CallSync(store, &Store::RecordCallEvent, r);
  if (!resp.ok()) return resp.status();
  return resp->recorded();
}

absl::StatusOr<std::vector<std::string>> ReadEventNames(Store& store, const std::string& uuid) {
  pb::ReadCallEventsRequest r;
  r.set_call_uuid(uuid);
  auto resp = CallSync(store, &Store::ReadCallEvents, r);
  if (!resp.ok()) return resp.status();
  std::vector<std::string> names;
  for (const auto& e : resp->events()) names.push_back(e.name());
  return names;
}

// Every page of a node's calls, by uuid (bounded: at most 200 pages).
struct Listing {
  std::map<std::string, pb::CallRecord> records;
  int pages = 0;
  size_t largest_page = 0;
};
absl::StatusOr<Listing> ListAll(Store& store, int node, uint32_t limit) {
  Listing out;
  pb::ListNodeCallsRequest r;
  r.set_node(node);
  r.set_limit(limit);
  for (; out.pages < 200; ++out.pages) {
    auto resp = CallSync(store, &Store::ListNodeCalls, r);
    if (!resp.ok()) return resp.status();
    out.largest_page = std::max<size_t>(out.largest_page, resp->records_size());
    for (const auto& rec : resp->records()) out.records[rec.call_uuid()] = rec;
    if (resp->next_cursor().empty()) {
      ++out.pages;
      return out;
    }
    r.set_cursor(resp->next_cursor());
  }
  return absl::InternalError("the listing did not end within 200 pages");
}

TYPED_TEST(StoreConformanceTest, TheFirstNodeToBindACallOwnsIt) {
  Store& store = *this->store_;
  const std::string uuid = this->Sid("bound");
  const pb::CallRecord claimed = HaCall(uuid, 3, 5);
  ASSERT_OK(Claim(store, claimed, 60000));
  auto pttl = [&](const std::string& key) {
    auto r = this->backend_->client->ExecuteSync({"PTTL", key});
    EXPECT_OK(r);
    return r.ok() ? r->integer() : -3;
  };
  absl::SleepFor(absl::Milliseconds(20));  // so a TTL set again would show
  const int64_t ttl_before = pttl(this->store_->CallKey(uuid));

  // The assigned node binds: it owns the call, its session id is recorded.
  auto a = Bind(store, uuid, 3, CallSession(3, uuid));
  ASSERT_OK(a);
  EXPECT_TRUE(a->bound());
  pb::CallRecord owned = claimed;
  owned.set_owner_node(3);
  owned.set_session_id(CallSession(3, uuid));
  EXPECT_EQ(Deterministic(a->record()), Deterministic(owned));
  // Stored as the library would store it, every other field kept, and the
  // claim's TTL running on (not restarted).
  auto raw = this->backend_->client->ExecuteSync({"GET", this->store_->CallKey(uuid)});
  ASSERT_OK(raw);
  EXPECT_EQ(raw->str(), Deterministic(owned));
  const int64_t ttl_after = pttl(this->store_->CallKey(uuid));
  EXPECT_GT(ttl_after, 0);
  EXPECT_LE(ttl_after, ttl_before);

  // Another node is refused and told who owns the call; nothing changes.
  auto b = Bind(store, uuid, 5, CallSession(5, uuid));
  ASSERT_OK(b);
  EXPECT_FALSE(b->bound());
  EXPECT_EQ(b->record().owner_node(), 3);
  EXPECT_EQ(b->record().session_id(), CallSession(3, uuid));
  raw = this->backend_->client->ExecuteSync({"GET", this->store_->CallKey(uuid)});
  ASSERT_OK(raw);
  EXPECT_EQ(raw->str(), Deterministic(owned));

  // The owner binding again (a start repeated after a crash) is bound; the
  // session id stays the first one.
  auto c = Bind(store, uuid, 3, "another-session");
  ASSERT_OK(c);
  EXPECT_TRUE(c->bound());
  EXPECT_EQ(c->record().session_id(), CallSession(3, uuid));

  // Listed under its owner only, in the node's own key (own slot), which
  // has a TTL.
  EXPECT_EQ(this->store_->NodeCallsKey(3), "ORS:conf:node:{3}:calls");
  auto member = [&](int node) {
    auto r = this->backend_->client->ExecuteSync({"SISMEMBER", this->store_->NodeCallsKey(node), uuid});
    EXPECT_OK(r);
    return r.ok() && r->integer() == 1;
  };
  EXPECT_TRUE(member(3));
  EXPECT_FALSE(member(5));
  EXPECT_GT(pttl(this->store_->NodeCallsKey(3)), 6LL * 24 * 3600 * 1000);

  // The reserved node binds a call nobody owns yet (the assigned node was
  // down): it owns it.
  const std::string other = this->Sid("reserved");
  ASSERT_OK(Claim(store, HaCall(other, 3, 5), 60000));
  auto d = Bind(store, other, 5, CallSession(5, other));
  ASSERT_OK(d);
  EXPECT_TRUE(d->bound());
  EXPECT_EQ(d->record().owner_node(), 5);
  EXPECT_EQ(d->record().assigned_node(), 3);
  auto e = Bind(store, other, 3, CallSession(3, other));
  ASSERT_OK(e);
  EXPECT_FALSE(e->bound());
  EXPECT_EQ(e->record().owner_node(), 5);
  EXPECT_EQ(e->record().session_id(), CallSession(5, other));
}

TYPED_TEST(StoreConformanceTest, BindKeepsFieldsItDoesNotKnowAndRefusesARecordThatDoesNotParse) {
  Store& store = *this->store_;
  // A record written by a newer call-watcher: fields 20 (varint), 21
  // (fixed64), 22 (fixed32) and 23 (bytes) unknown here.
  const std::string uuid = this->Sid("unknown");
  const std::string unknown = std::string("\xa0\x01\x96\x01", 4) + std::string("\xa9\x01", 2) +
                              std::string(8, '\x01') + std::string("\xb5\x01", 2) + std::string(4, '\x02') +
                              std::string("\xba\x01\x03xyz", 6);
  pb::CallRecord record = HaCall(uuid, 2, 0);
  ASSERT_OK(this->backend_->client->ExecuteSync(
      {"SET", this->store_->CallKey(uuid), Deterministic(record) + unknown, "PX", "60000"}));
  auto a = Bind(store, uuid, 2, CallSession(2, uuid));
  ASSERT_OK(a);
  EXPECT_TRUE(a->bound());
  record.set_owner_node(2);
  auto raw = this->backend_->client->ExecuteSync({"GET", this->store_->CallKey(uuid)});
  ASSERT_OK(raw);
  EXPECT_EQ(raw->str(), Deterministic(record) + unknown);
  EXPECT_EQ(Deterministic(a->record()), Deterministic(record) + unknown);

  const std::string bad = this->Sid("bad");
  ASSERT_OK(this->backend_->client->ExecuteSync({"SET", this->store_->CallKey(bad), "\x0a\x7f", "PX", "60000"}));
  EXPECT_THAT(Bind(store, bad, 2, CallSession(2, bad)), StatusIs(Code::kDataLoss, HasSubstr("CallRecord")));
}

TYPED_TEST(StoreConformanceTest, ConcurrentBindsByManyNodesHaveOneWinnerAllAgreeOn) {
  constexpr int kCalls = 8, kNodes = 6;
  std::vector<std::string> uuids;
  for (int c = 0; c < kCalls; ++c) {
    uuids.push_back(this->Sid(absl::StrCat("race", c)));
    ASSERT_OK(Claim(*this->store_, HaCall(uuids.back(), 1, 2), 60000));
  }
  // Each node through its own store and connections (as through its own
  // proxy), so the binds interleave at Redis.
  std::vector<std::unique_ptr<RedisStore>> stores;
  for (int t = 0; t < kNodes; ++t) {
    auto client = Connect(this->backend_->addresses());
    ASSERT_OK(client);
    stores.push_back(std::make_unique<RedisStore>(*client, this->store_->options()));
  }
  std::vector<std::vector<absl::StatusOr<pb::BindCallResponse>>> results(
      kCalls, std::vector<absl::StatusOr<pb::BindCallResponse>>(kNodes, absl::UnknownError("unset")));
  std::vector<std::thread> threads;
  for (int t = 0; t < kNodes; ++t) {
    threads.emplace_back([&, t] {
      for (int c = 0; c < kCalls; ++c) {
        results[c][t] = Bind(*stores[t], uuids[c], 11 + t, CallSession(11 + t, uuids[c]));
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int c = 0; c < kCalls; ++c) {
    std::vector<int> winners;
    std::set<int> owners;
    for (int t = 0; t < kNodes; ++t) {
      ASSERT_OK(results[c][t]);
      if (results[c][t]->bound()) winners.push_back(11 + t);
      owners.insert(results[c][t]->record().owner_node());
      EXPECT_EQ(results[c][t]->record().session_id(), CallSession(results[c][t]->record().owner_node(), uuids[c]));
    }
    ASSERT_EQ(winners.size(), 1u) << "call " << c;
    EXPECT_THAT(owners, ElementsAre(winners[0])) << "call " << c;
    pb::GetCallRequest get;
    get.set_call_uuid(uuids[c]);
    auto got = CallSync(*this->store_, &Store::GetCall, get);
    ASSERT_OK(got);
    EXPECT_EQ(got->record().owner_node(), winners[0]);
    for (int t = 0; t < kNodes; ++t) {
      auto m = this->backend_->client->ExecuteSync({"SISMEMBER", this->store_->NodeCallsKey(11 + t), uuids[c]});
      ASSERT_OK(m);
      EXPECT_EQ(m->integer() == 1, 11 + t == winners[0]) << "call " << c << ", node " << 11 + t;
    }
  }
}

TYPED_TEST(StoreConformanceTest, CallsWithoutARecordAreNotFoundAndNothingIsWritten) {
  Store& store = *this->store_;
  const std::string uuid = this->Sid("missing");
  EXPECT_THAT(Bind(store, uuid, 1, CallSession(1, uuid)), StatusIs(Code::kNotFound, HasSubstr(uuid)));
  EXPECT_THAT(RecordEvent(store, uuid, CallEvent(1)), StatusIs(Code::kNotFound, HasSubstr(uuid)));
  EXPECT_THAT(ReadEventNames(store, uuid), StatusIs(Code::kNotFound, HasSubstr(uuid)));
  for (const auto& k : this->backend_->AllKeys()) EXPECT_FALSE(absl::StrContains(k, uuid)) << k;
  auto m = this->backend_->client->ExecuteSync({"SISMEMBER", this->store_->NodeCallsKey(1), uuid});
  ASSERT_OK(m);
  EXPECT_EQ(m->integer(), 0);
}

TYPED_TEST(StoreConformanceTest, CallEventsAreRecordedInOrderAndDeletedWithTheCall) {
  Store& store = *this->store_;
  const std::string uuid = this->Sid("events");
  ASSERT_OK(Claim(store, HaCall(uuid, 2, 0), 60000));
  ASSERT_OK(Bind(store, uuid, 2, CallSession(2, uuid)));
  std::vector<std::string> names;
  for (int i = 1; i <= 6; ++i) {
    EXPECT_THAT(RecordEvent(store, uuid, CallEvent(i)), ::orch::testing::IsOkAndHolds(i));
    names.push_back(CallEvent(i).name());
  }
  // A retried record repeats the event (readers keep the first effect id).
  EXPECT_THAT(RecordEvent(store, uuid, CallEvent(6)), ::orch::testing::IsOkAndHolds(7));
  names.push_back(CallEvent(6).name());
  pb::ReadCallEventsRequest read;
  read.set_call_uuid(uuid);
  auto all = CallSync(store, &Store::ReadCallEvents, read);
  ASSERT_OK(all);
  ASSERT_EQ(all->events_size(), 7);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(Deterministic(all->events(i)), Deterministic(CallEvent(i + 1)));
  EXPECT_THAT(ReadEventNames(store, uuid), ::orch::testing::IsOkAndHolds(names));

  // The events live beside the record (same slot) and expire with it.
  const std::string events = this->store_->CallEventsKey(uuid);
  EXPECT_EQ(events, absl::StrCat("ORS:conf:call:{", uuid, "}:events"));
  EXPECT_EQ(redis::KeySlot(events), redis::KeySlot(this->store_->CallKey(uuid)));
  auto events_ttl = this->backend_->client->ExecuteSync({"PTTL", events});
  ASSERT_OK(events_ttl);
  EXPECT_GT(events_ttl->integer(), 0);
  EXPECT_LE(events_ttl->integer(), 60000);

  // DeleteCall takes the record, the events and the node's list entry.
  pb::DeleteCallRequest del;
  del.set_call_uuid(uuid);
  auto d = CallSync(store, &Store::DeleteCall, del);
  ASSERT_OK(d);
  EXPECT_TRUE(d->deleted());
  auto exists = this->backend_->client->ExecuteSync({"EXISTS", events, this->store_->CallKey(uuid)});
  ASSERT_OK(exists);
  EXPECT_EQ(exists->integer(), 0);
  auto m = this->backend_->client->ExecuteSync({"SISMEMBER", this->store_->NodeCallsKey(2), uuid});
  ASSERT_OK(m);
  EXPECT_EQ(m->integer(), 0);
  EXPECT_THAT(ReadEventNames(store, uuid), StatusIs(Code::kNotFound));
  EXPECT_THAT(RecordEvent(store, uuid, CallEvent(8)), StatusIs(Code::kNotFound));
  auto listed = ListAll(store, 2, 0);
  ASSERT_OK(listed);
  EXPECT_EQ(listed->records.count(uuid), 0u);

  // An unbound call's record is deleted alone (no node list to touch).
  const std::string unbound = this->Sid("unbound");
  ASSERT_OK(Claim(store, HaCall(unbound, 2, 0), 60000));
  ASSERT_OK(RecordEvent(store, unbound, CallEvent(1)));
  del.set_call_uuid(unbound);
  d = CallSync(store, &Store::DeleteCall, del);
  ASSERT_OK(d);
  EXPECT_TRUE(d->deleted());
  for (const auto& k : this->backend_->AllKeys()) EXPECT_FALSE(absl::StrContains(k, unbound)) << k;
}

TYPED_TEST(StoreConformanceTest, RecordedEventsAreBoundedInNumberAndSize) {
  StoreOptions o = this->store_->options();
  o.max_call_events = 3;
  o.max_entry_bytes = 1000;
  RedisStore store(this->backend_->client, o);
  const std::string uuid = this->Sid("bounded");
  ASSERT_OK(Claim(store, HaCall(uuid, 2, 0), 60000));
  event::v1::Event big = CallEvent(1);
  big.set_name(std::string(1001, 'x'));
  EXPECT_THAT(RecordEvent(store, uuid, big),
              StatusIs(Code::kInvalidArgument, AllOf(HasSubstr("event: "), HasSubstr("persistence.max-entry-bytes"))));
  for (int i = 1; i <= 3; ++i) ASSERT_OK(RecordEvent(store, uuid, CallEvent(i)));
  EXPECT_THAT(RecordEvent(store, uuid, CallEvent(4)),
              StatusIs(Code::kResourceExhausted, HasSubstr("3 recorded events")));
  auto names = ReadEventNames(store, uuid);
  ASSERT_OK(names);
  EXPECT_EQ(names->size(), 3u);
}

TYPED_TEST(StoreConformanceTest, NodeCallsArePagedAndGoneCallsSkippedAndRemoved) {
  Store& store = *this->store_;
  constexpr int kNode = 42, kLive = 260;
  std::set<std::string> live;
  // Claimed and bound concurrently (pipelined), then waited for.
  {
    std::vector<std::future<absl::Status>> pending;
    for (int i = 0; i < kLive; ++i) {
      const std::string uuid = this->Sid(absl::StrCat("listed", i));
      live.insert(uuid);
      pending.push_back(std::async(std::launch::async, [&store, uuid] {
        if (auto s = Claim(store, HaCall(uuid, kNode, 0), 60000); !s.ok()) return s;
        return Bind(store, uuid, kNode, CallSession(kNode, uuid)).status();
      }));
      if (pending.size() == 16 || i == kLive - 1) {
        for (auto& f : pending) ASSERT_OK(f.get());
        pending.clear();
      }
    }
  }
  // Gone before the listing: three expired, two deleted.
  std::vector<std::string> gone;
  for (int i = 0; i < 3; ++i) {
    gone.push_back(this->Sid(absl::StrCat("expiring", i)));
    ASSERT_OK(Claim(store, HaCall(gone.back(), kNode, 0), 150));
    ASSERT_OK(Bind(store, gone.back(), kNode, CallSession(kNode, gone.back())));
  }
  for (int i = 0; i < 2; ++i) {
    gone.push_back(this->Sid(absl::StrCat("deleted", i)));
    ASSERT_OK(Claim(store, HaCall(gone.back(), kNode, 0), 60000));
    ASSERT_OK(Bind(store, gone.back(), kNode, CallSession(kNode, gone.back())));
    pb::DeleteCallRequest del;
    del.set_call_uuid(gone.back());
    ASSERT_OK(CallSync(store, &Store::DeleteCall, del));
  }
  // A deleted call still listed (its removal from the list failed): skipped.
  ASSERT_OK(this->backend_->client->ExecuteSync({"SADD", this->store_->NodeCallsKey(kNode), gone.back()}));
  for (int i = 0; i < 3; ++i) {  // expiry on Redis's clock
    pb::GetCallRequest get;
    get.set_call_uuid(gone[i]);
    bool expired = false;
    for (int j = 0; j < 100 && !expired; ++j) {
      expired = CallSync(store, &Store::GetCall, get).status().code() == Code::kNotFound;
      if (!expired) absl::SleepFor(absl::Milliseconds(20));
    }
    ASSERT_TRUE(expired) << gone[i];
  }

  auto paged = ListAll(store, kNode, 50);
  ASSERT_OK(paged);
  EXPECT_GT(paged->pages, 2);
  std::set<std::string> listed;
  for (const auto& [uuid, rec] : paged->records) {
    listed.insert(uuid);
    EXPECT_EQ(rec.owner_node(), kNode);
    EXPECT_EQ(rec.session_id(), CallSession(kNode, uuid));
    EXPECT_EQ(rec.start_request(), HaCall(uuid, kNode, 0).start_request());
  }
  EXPECT_EQ(listed, live);
  // The gone ones were removed from the list by the listing.
  auto card = this->backend_->client->ExecuteSync({"SCARD", this->store_->NodeCallsKey(kNode)});
  ASSERT_OK(card);
  EXPECT_EQ(card->integer(), kLive);
  // The default page (1000) takes them all at once.
  auto whole = ListAll(store, kNode, 0);
  ASSERT_OK(whole);
  EXPECT_EQ(whole->pages, 1);
  EXPECT_EQ(whole->records.size(), static_cast<size_t>(kLive));
  // A node without calls: one empty page.
  auto none = ListAll(store, 43, 0);
  ASSERT_OK(none);
  EXPECT_TRUE(none->records.empty());
}

TYPED_TEST(StoreConformanceTest, CallOwnersAndEventsRefuseBadArguments) {
  Store& store = *this->store_;
  const std::string uuid = this->Sid("args");
  ASSERT_OK(Claim(store, HaCall(uuid, 2, 0), 60000));
  const auto bad = [](const char* field) { return StatusIs(Code::kInvalidArgument, HasSubstr(field)); };
  EXPECT_THAT(Bind(store, uuid, 0, "s"), bad("node: 0"));
  EXPECT_THAT(Bind(store, uuid, 10000, "s"), bad("node: 10000"));
  EXPECT_THAT(Bind(store, uuid, -1, "s"), bad("node: -1"));
  EXPECT_THAT(Bind(store, uuid, 2, ""), bad("session_id"));
  EXPECT_THAT(Bind(store, uuid, 2, "a b"), bad("session_id"));
  EXPECT_THAT(Bind(store, "a{b}", 2, "s"), bad("call_uuid"));
  EXPECT_THAT(Bind(store, "", 2, "s"), bad("call_uuid"));
  EXPECT_THAT(RecordEvent(store, std::string(257, 'u'), CallEvent(1)), bad("call_uuid"));
  EXPECT_THAT(RecordEvent(store, uuid, event::v1::Event()), bad("event.name"));
  EXPECT_THAT(ReadEventNames(store, "x y"), bad("call_uuid"));
  pb::ListNodeCallsRequest list;
  list.set_node(0);
  EXPECT_THAT(CallSync(store, &Store::ListNodeCalls, list), bad("node"));
  list.set_node(2);
  list.set_limit(10001);
  EXPECT_THAT(CallSync(store, &Store::ListNodeCalls, list), bad("limit"));
  list.set_limit(10000);
  EXPECT_OK(CallSync(store, &Store::ListNodeCalls, list));
  list.set_cursor("12x");
  EXPECT_THAT(CallSync(store, &Store::ListNodeCalls, list), bad("cursor"));
  // Nothing of the refused requests was written: the call is unbound, with
  // no events.
  pb::GetCallRequest get;
  get.set_call_uuid(uuid);
  auto got = CallSync(store, &Store::GetCall, get);
  ASSERT_OK(got);
  EXPECT_EQ(got->record().owner_node(), 0);
  EXPECT_THAT(ReadEventNames(store, uuid), ::orch::testing::IsOkAndHolds(::testing::IsEmpty()));
}
}  // namespace
}  // namespace orch::persistence_proxy::store_conformance
