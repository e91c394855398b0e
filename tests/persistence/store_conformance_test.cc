// The persistence store (RedisStore) conformance suite, sessions side:
// every session operation, fencing, idempotent retry, trim only after a
// snapshot, registry, documents, leases, schedules, group commit, layout
// migration, and TTLs on every key. The fixture and its two backends
// (standalone redis-server, six-process cluster) are in
// store_conformance_fixture.h; the call operations' tests are in
// call_conformance_test.cc, in the same binary, which runs as one ctest
// entry so each backend starts once.

#include <algorithm>
#include <atomic>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/base/sha256.h"
#include "common/redis/cluster_slots.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/persistence_proxy/redis_store.h"
#include "services/persistence_proxy/scripts.h"
#include "tests/persistence/store_conformance_fixture.h"

namespace orch::persistence_proxy::store_conformance {
namespace {

TYPED_TEST(StoreConformanceTest, AppendCreatesTheSessionAndReadLogReturnsEntriesInOrder) {
  const std::string sid = this->Sid("s");
  EXPECT_THAT(this->Append(this->Batch(sid, 1, 1, 3)), ::orch::testing::IsOkAndHolds(3));
  EXPECT_THAT(this->Append(this->Batch(sid, 1, 4, 4)), ::orch::testing::IsOkAndHolds(4));
  EXPECT_THAT(this->ReadSeqs(sid, 0), ::orch::testing::IsOkAndHolds(ElementsAre(1, 2, 3, 4)));
  EXPECT_THAT(this->ReadSeqs(sid, 2), ::orch::testing::IsOkAndHolds(ElementsAre(3, 4)));
  EXPECT_THAT(this->ReadSeqs(sid, 4), ::orch::testing::IsOkAndHolds(ElementsAre()));
  auto meta = this->Meta(sid);
  ASSERT_OK(meta);
  EXPECT_EQ(meta->node(), "1");
  EXPECT_EQ(meta->last_seq(), 4u);
  EXPECT_EQ(meta->epoch(), 1u);
  EXPECT_EQ(meta->document_sha256(), std::string(64, 'a'));
  // The stored entry carries the epoch and an append time.
  auto load = this->Load(sid);
  ASSERT_OK(load);
  ASSERT_EQ(load->entries_size(), 4);
  EXPECT_EQ(load->entries(2).epoch(), 1u);
  EXPECT_TRUE(load->entries(2).has_append_time());
  EXPECT_EQ(load->entries(2).event().name(), "ev");
}

TYPED_TEST(StoreConformanceTest, UnknownSessionIsNotFound) {
  const std::string sid = this->Sid("nobody");
  EXPECT_THAT(this->Append(this->Batch(sid, 1, 2, 2)), StatusIs(Code::kNotFound, HasSubstr(sid)));
  EXPECT_THAT(this->ReadSeqs(sid, 0), StatusIs(Code::kNotFound));
  EXPECT_THAT(this->Load(sid), StatusIs(Code::kNotFound));
  EXPECT_THAT(this->Meta(sid), StatusIs(Code::kNotFound));
  EXPECT_THAT(this->Snapshot(sid, 1, 1, "x"), StatusIs(Code::kNotFound));
  pb::DeleteSessionRequest d;
  d.set_session_id(sid);
  EXPECT_THAT(CallSync(*this->store_, &Store::DeleteSession, d), StatusIs(Code::kNotFound));
}

TYPED_TEST(StoreConformanceTest, OlderEpochIsFencedAndWritesNothing) {
  const std::string sid = this->Sid("s");
  ASSERT_OK(this->Append(this->Batch(sid, 5, 1, 2)));
  EXPECT_THAT(this->Append(this->Batch(sid, 4, 3, 3)),
              StatusIs(Code::kAborted, HasSubstr("fenced: writer epoch 4 is older than the session epoch 5")));
  EXPECT_THAT(this->Snapshot(sid, 4, 2, "old"), StatusIs(Code::kAborted, HasSubstr("fenced")));
  pb::SetSessionStateRequest st;
  st.set_session_id(sid);
  st.set_epoch(3);
  st.set_state("idle");
  EXPECT_THAT(CallSync(*this->store_, &Store::SetSessionState, st), StatusIs(Code::kAborted));
  pb::DeleteSessionRequest d;
  d.set_session_id(sid);
  d.set_epoch(4);
  EXPECT_THAT(CallSync(*this->store_, &Store::DeleteSession, d), StatusIs(Code::kAborted));
  auto meta = this->Meta(sid);
  ASSERT_OK(meta);
  EXPECT_EQ(meta->last_seq(), 2u);
  EXPECT_EQ(meta->snapshot_covers_seq(), 0u);
  EXPECT_EQ(meta->state(), "");
  EXPECT_THAT(this->ReadSeqs(sid, 0), ::orch::testing::IsOkAndHolds(ElementsAre(1, 2)));
  // A newer writer takes over: its epoch becomes the session's.
  EXPECT_THAT(this->Append(this->Batch(sid, 6, 3, 3)), ::orch::testing::IsOkAndHolds(3));
  EXPECT_THAT(this->Append(this->Batch(sid, 5, 4, 4)), StatusIs(Code::kAborted, HasSubstr("fenced")));
  EXPECT_EQ(this->Meta(sid)->epoch(), 6u);
}

TYPED_TEST(StoreConformanceTest, SequenceGapIsAbortedAndWritesNothing) {
  const std::string sid = this->Sid("s");
  ASSERT_OK(this->Append(this->Batch(sid, 1, 1, 3)));
  EXPECT_THAT(this->Append(this->Batch(sid, 1, 5, 6)),
              StatusIs(Code::kAborted, HasSubstr("first seq 5 does not follow the last stored seq 3")));
  EXPECT_THAT(this->ReadSeqs(sid, 0), ::orch::testing::IsOkAndHolds(ElementsAre(1, 2, 3)));
  EXPECT_EQ(this->Meta(sid)->last_seq(), 3u);
}

TYPED_TEST(StoreConformanceTest, IdenticalRetryIsIdempotentAndDifferentContentIsRejected) {
  const std::string sid = this->Sid("s");
  ASSERT_OK(this->Append(this->Batch(sid, 1, 1, 3)));
  // The same batch again (e.g. after a lost reply), even stamped later.
  auto retry = this->Batch(sid, 1, 1, 3);
  retry.mutable_entries(1)->mutable_append_time()->set_seconds(999);
  EXPECT_THAT(this->Append(retry), ::orch::testing::IsOkAndHolds(3));
  EXPECT_THAT(this->Append(this->Batch(sid, 1, 2, 3)), ::orch::testing::IsOkAndHolds(3));
  EXPECT_THAT(this->ReadSeqs(sid, 0), ::orch::testing::IsOkAndHolds(ElementsAre(1, 2, 3)));
  // Overlapping: 2..3 identical, 4..5 new.
  EXPECT_THAT(this->Append(this->Batch(sid, 1, 2, 5)), ::orch::testing::IsOkAndHolds(5));
  EXPECT_THAT(this->ReadSeqs(sid, 0), ::orch::testing::IsOkAndHolds(ElementsAre(1, 2, 3, 4, 5)));
  // Same seqs, other content: a conflict, nothing written.
  EXPECT_THAT(this->Append(this->Batch(sid, 1, 4, 6, "other")),
              StatusIs(Code::kAborted, HasSubstr("seq 4 is already stored with different content")));
  EXPECT_EQ(this->Meta(sid)->last_seq(), 5u);
  auto load = this->Load(sid);
  ASSERT_OK(load);
  EXPECT_EQ(load->entries(3).event().name(), "ev");
}

TYPED_TEST(StoreConformanceTest, SnapshotIsStoredBeforeTheLogIsTrimmed) {
  const std::string sid = this->Sid("s");
  ASSERT_OK(this->Append(this->Batch(sid, 2, 1, 5)));
  // Rejected snapshots trim nothing.
  EXPECT_THAT(this->Snapshot(sid, 1, 3, "fenced"), StatusIs(Code::kAborted));
  EXPECT_THAT(this->Snapshot(sid, 2, 9, "beyond"),
              StatusIs(Code::kFailedPrecondition, HasSubstr("beyond the last stored seq 5")));
  EXPECT_THAT(this->ReadSeqs(sid, 0), ::orch::testing::IsOkAndHolds(ElementsAre(1, 2, 3, 4, 5)));
  auto load = this->Load(sid);
  ASSERT_OK(load);
  EXPECT_EQ(load->snapshot(), "");
  EXPECT_EQ(load->snapshot_covers_seq(), 0u);

  ASSERT_OK(this->Snapshot(sid, 2, 3, "snap-3"));
  load = this->Load(sid);
  ASSERT_OK(load);
  EXPECT_EQ(load->snapshot(), "snap-3");
  EXPECT_EQ(load->snapshot_covers_seq(), 3u);
  ASSERT_EQ(load->entries_size(), 2);
  EXPECT_EQ(load->entries(0).seq(), 4u);
  EXPECT_EQ(load->meta().last_seq(), 5u);
  // Trimmed entries are gone (and say so); later ones are still there.
  EXPECT_THAT(this->ReadSeqs(sid, 0), StatusIs(Code::kOutOfRange, HasSubstr("trimmed")));
  EXPECT_THAT(this->ReadSeqs(sid, 3), ::orch::testing::IsOkAndHolds(ElementsAre(4, 5)));
  // An older snapshot cannot replace a newer one.
  EXPECT_THAT(this->Snapshot(sid, 2, 2, "snap-2"), StatusIs(Code::kFailedPrecondition));
  // A snapshot of everything empties the log; appends go on after it.
  ASSERT_OK(this->Snapshot(sid, 2, 5, "snap-5"));
  EXPECT_THAT(this->ReadSeqs(sid, 5), ::orch::testing::IsOkAndHolds(ElementsAre()));
  EXPECT_THAT(this->Append(this->Batch(sid, 2, 6, 7)), ::orch::testing::IsOkAndHolds(7));
  EXPECT_THAT(this->Append(this->Batch(sid, 2, 5, 5)), StatusIs(Code::kAborted, HasSubstr("snapshot")));
  load = this->Load(sid);
  ASSERT_OK(load);
  EXPECT_EQ(load->snapshot(), "snap-5");
  ASSERT_EQ(load->entries_size(), 2);
  EXPECT_EQ(load->entries(1).seq(), 7u);
}

TYPED_TEST(StoreConformanceTest, LoadSessionReturnsLongLogsCompletely) {
  const std::string sid = this->Sid("s");
  ASSERT_OK(this->Append(this->Batch(sid, 1, 1, 11)));  // load pages of 4
  ASSERT_OK(this->Snapshot(sid, 1, 1, "s1"));
  auto load = this->Load(sid);
  ASSERT_OK(load);
  ASSERT_EQ(load->entries_size(), 10);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(load->entries(i).seq(), static_cast<uint64_t>(i + 2));
}

TYPED_TEST(StoreConformanceTest, SessionStateAndDeletionWithRegistry) {
  const std::string node = absl::StrCat("reg", TypeParam::Name());
  std::set<std::string> created;
  for (int i = 0; i < 23; ++i) {
    auto b = this->Batch(absl::StrCat("sess-", node, "-", i), 1, 1, 1);
    b.set_node(node);
    ASSERT_OK(this->Append(b));
    created.insert(b.session_id());
  }
  auto list = [&]() {
    std::set<std::string> seen;
    std::string cursor;
    for (int page = 0; page < 100; ++page) {
      pb::ListNodeSessionsRequest r;
      r.set_node(node);
      r.set_cursor(cursor);
      r.set_page_size(5);
      auto resp = CallSync(*this->store_, &Store::ListNodeSessions, r);
      EXPECT_OK(resp);
      if (!resp.ok()) break;
      seen.insert(resp->session_ids().begin(), resp->session_ids().end());
      cursor = resp->next_cursor();
      if (cursor == "0") break;
    }
    return seen;
  };
  EXPECT_EQ(list(), created);

  const std::string victim = *created.begin();
  pb::SetSessionStateRequest st;
  st.set_session_id(victim);
  st.set_epoch(1);
  st.set_state("idle");
  ASSERT_OK(CallSync(*this->store_, &Store::SetSessionState, st));
  EXPECT_EQ(this->Meta(victim)->state(), "idle");
  EXPECT_EQ(this->Meta(victim)->node(), node);
  // include_state: the listing carries each session's state, in order.
  {
    std::map<std::string, std::string> states;
    std::string cursor;
    for (int page = 0; page < 100; ++page) {
      pb::ListNodeSessionsRequest r;
      r.set_node(node);
      r.set_cursor(cursor);
      r.set_page_size(7);
      r.set_include_state(true);
      auto resp = CallSync(*this->store_, &Store::ListNodeSessions, r);
      ASSERT_OK(resp);
      ASSERT_EQ(resp->states_size(), resp->session_ids_size());
      for (int i = 0; i < resp->session_ids_size(); ++i) states[resp->session_ids(i)] = resp->states(i);
      cursor = resp->next_cursor();
      if (cursor == "0") break;
    }
    ASSERT_EQ(states.size(), created.size());
    for (const auto& [id, state] : states) EXPECT_EQ(state, id == victim ? "idle" : "") << id;
  }

  pb::DeleteSessionRequest d;
  d.set_session_id(victim);
  d.set_epoch(1);
  ASSERT_OK(CallSync(*this->store_, &Store::DeleteSession, d));
  EXPECT_THAT(this->Meta(victim), StatusIs(Code::kNotFound));
  created.erase(victim);
  EXPECT_EQ(list(), created);
  for (const char* suffix : {"meta", "log", "snap", "head"}) {
    auto n = this->backend_->client->ExecuteSync({"EXISTS", this->store_->SessionKey(victim, suffix)});
    ASSERT_OK(n);
    EXPECT_EQ(n->integer(), 0) << suffix << " left behind";
  }
}

TYPED_TEST(StoreConformanceTest, DocumentsByHash) {
  const std::string src = absl::StrCat("<scxml name='", TypeParam::Name(), "'/>");
  pb::PutDocumentRequest put;
  put.set_sha256(Sha256Hex(src));
  put.set_source(src);
  ASSERT_OK(CallSync(*this->store_, &Store::PutDocument, put));
  pb::GetDocumentRequest get;
  get.set_sha256(put.sha256());
  auto got = CallSync(*this->store_, &Store::GetDocument, get);
  ASSERT_OK(got);
  EXPECT_EQ(got->source(), src);
  get.set_sha256(Sha256Hex("never stored"));
  EXPECT_THAT(CallSync(*this->store_, &Store::GetDocument, get), StatusIs(Code::kNotFound));
  put.set_source("tampered");
  EXPECT_THAT(CallSync(*this->store_, &Store::PutDocument, put),
              StatusIs(Code::kInvalidArgument, HasSubstr("sha256")));
}

TYPED_TEST(StoreConformanceTest, LeasesHandOutIncreasingEpochsAndExpire) {
  const std::string name = absl::StrCat("node:", TypeParam::Name());
  auto acquire = [&](const std::string& holder, uint32_t ttl) {
    pb::AcquireLeaseRequest r;
    r.set_name(name);
    r.set_holder(holder);
    r.set_endpoint(holder + ":7101");
    r.set_ttl_ms(ttl);
    return CallSync(*this->store_, &Store::AcquireLease, r);
  };
  auto a = acquire("A", 10000);
  ASSERT_OK(a);
  EXPECT_TRUE(a->acquired());
  EXPECT_EQ(a->epoch(), 1u);
  auto b = acquire("B", 10000);
  ASSERT_OK(b);
  EXPECT_FALSE(b->acquired());
  EXPECT_EQ(b->holder(), "A");
  EXPECT_EQ(b->endpoint(), "A:7101");

  pb::GetLeaseRequest g;
  g.set_name(name);
  auto held = CallSync(*this->store_, &Store::GetLease, g);
  ASSERT_OK(held);
  EXPECT_EQ(held->holder(), "A");
  EXPECT_EQ(held->epoch(), 1u);
  EXPECT_GT(held->remaining_ms(), 0u);

  pb::RenewLeaseRequest renew;
  renew.set_name(name);
  renew.set_holder("A");
  renew.set_epoch(1);
  renew.set_ttl_ms(10000);
  EXPECT_OK(CallSync(*this->store_, &Store::RenewLease, renew));
  renew.set_holder("B");
  EXPECT_THAT(CallSync(*this->store_, &Store::RenewLease, renew), StatusIs(Code::kAborted, HasSubstr("held by A")));

  pb::ReleaseLeaseRequest rel;
  rel.set_name(name);
  rel.set_holder("A");
  rel.set_epoch(1);
  ASSERT_OK(CallSync(*this->store_, &Store::ReleaseLease, rel));
  EXPECT_THAT(CallSync(*this->store_, &Store::GetLease, g), StatusIs(Code::kNotFound));

  b = acquire("B", 150);
  ASSERT_OK(b);
  EXPECT_TRUE(b->acquired());
  EXPECT_EQ(b->epoch(), 2u);
  // Expiry by TTL: C gets it after B's 150 ms, with the next epoch.
  absl::StatusOr<pb::AcquireLeaseResponse> c;
  for (int i = 0; i < 100; ++i) {
    c = acquire("C", 10000);
    ASSERT_OK(c);
    if (c->acquired()) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(c->acquired());
  EXPECT_EQ(c->epoch(), 3u);
  renew.set_holder("B");
  renew.set_epoch(2);
  EXPECT_THAT(CallSync(*this->store_, &Store::RenewLease, renew), StatusIs(Code::kAborted));
}

TYPED_TEST(StoreConformanceTest, SchedulesAreClaimedAtLeastOnce) {
  const std::string bucket = absl::StrCat("b-", TypeParam::Name());
  const int64_t now = absl::ToUnixMillis(absl::Now());
  auto add = [&](const std::string& id, int64_t due) {
    pb::AddScheduleRequest r;
    r.mutable_entry()->set_bucket(bucket);
    r.mutable_entry()->set_id(id);
    r.mutable_entry()->set_due_unix_ms(due);
    r.mutable_entry()->set_payload("payload-" + id);
    return CallSync(*this->store_, &Store::AddSchedule, r).status();
  };
  auto claim = [&](int64_t at) {
    pb::ClaimDueRequest r;
    r.set_bucket(bucket);
    r.set_now_unix_ms(at);
    r.set_claim_timeout_ms(1000);
    return CallSync(*this->store_, &Store::ClaimDue, r);
  };
  auto ack = [&](const std::string& id, uint64_t token) {
    pb::AckScheduleRequest r;
    r.set_bucket(bucket);
    r.set_id(id);
    r.set_claim_token(token);
    auto resp = CallSync(*this->store_, &Store::AckSchedule, r);
    EXPECT_OK(resp);
    return resp.ok() && resp->removed();
  };
  ASSERT_OK(add("a", now - 10));
  ASSERT_OK(add("b", now - 5));
  ASSERT_OK(add("later", now + 60000));

  auto first = claim(now);
  ASSERT_OK(first);
  ASSERT_EQ(first->entries_size(), 2);
  EXPECT_EQ(first->entries(0).id(), "a");
  EXPECT_EQ(first->entries(0).payload(), "payload-a");
  EXPECT_EQ(first->entries(0).due_unix_ms(), now - 10);
  EXPECT_EQ(first->entries(1).id(), "b");
  // Claimed entries are not handed out again within the claim timeout.
  EXPECT_EQ(claim(now + 500)->entries_size(), 0);
  EXPECT_TRUE(ack("a", first->entries(0).claim_token()));
  // "b" was not acknowledged: it comes back after the claim timeout, with a
  // new token; the old token no longer acknowledges it.
  auto again = claim(now + 1001);
  ASSERT_OK(again);
  ASSERT_EQ(again->entries_size(), 1);
  EXPECT_EQ(again->entries(0).id(), "b");
  EXPECT_NE(again->entries(0).claim_token(), first->entries(1).claim_token());
  EXPECT_FALSE(ack("b", first->entries(1).claim_token()));
  EXPECT_TRUE(ack("b", again->entries(0).claim_token()));

  // Reschedule and cancel.
  pb::RescheduleRequest rs;
  rs.set_bucket(bucket);
  rs.set_id("later");
  rs.set_due_unix_ms(now - 1);
  ASSERT_OK(CallSync(*this->store_, &Store::Reschedule, rs));
  auto moved = claim(now + 2000);
  ASSERT_OK(moved);
  ASSERT_EQ(moved->entries_size(), 1);
  EXPECT_EQ(moved->entries(0).id(), "later");
  pb::CancelScheduleRequest cancel;
  cancel.set_bucket(bucket);
  cancel.set_id("later");
  auto removed = CallSync(*this->store_, &Store::CancelSchedule, cancel);
  ASSERT_OK(removed);
  EXPECT_TRUE(removed->removed());
  EXPECT_FALSE(CallSync(*this->store_, &Store::CancelSchedule, cancel)->removed());
  rs.set_id("nope");
  EXPECT_THAT(CallSync(*this->store_, &Store::Reschedule, rs), StatusIs(Code::kNotFound));
  EXPECT_EQ(claim(now + 100000)->entries_size(), 0);
}

// What the scheduler builds on: claims ahead of the due time (a horizon),
// an entry stored already claimed, reading one entry, and listing a bucket
// in pages with a cursor that need not exist in it.
TYPED_TEST(StoreConformanceTest, SchedulesClaimAheadAndList) {
  const std::string bucket = absl::StrCat("h-", TypeParam::Name());
  const int64_t now = absl::ToUnixMillis(absl::Now());
  auto add = [&](const std::string& id, int64_t due, uint32_t claim = 0) {
    pb::AddScheduleRequest r;
    r.mutable_entry()->set_bucket(bucket);
    r.mutable_entry()->set_id(id);
    r.mutable_entry()->set_due_unix_ms(due);
    r.mutable_entry()->set_payload("p-" + id);
    r.set_claim_timeout_ms(claim);
    return CallSync(*this->store_, &Store::AddSchedule, r);
  };
  auto claim = [&](int64_t at, uint32_t horizon) {
    pb::ClaimDueRequest r;
    r.set_bucket(bucket);
    r.set_now_unix_ms(at);
    r.set_claim_timeout_ms(1000);
    r.set_horizon_ms(horizon);
    return CallSync(*this->store_, &Store::ClaimDue, r);
  };
  auto get = [&](const std::string& id) {
    pb::GetScheduleRequest r;
    r.set_bucket(bucket);
    r.set_id(id);
    return CallSync(*this->store_, &Store::GetSchedule, r);
  };
  ASSERT_OK(add("soon", now + 300));
  ASSERT_OK(add("later", now + 5000));
  auto mine = add("mine", now + 100, /*claim=*/2000);
  ASSERT_OK(mine);
  EXPECT_GT(mine->claim_token(), 0u);
  EXPECT_GT(mine->now_unix_ms(), 0);

  // The horizon takes "soon" (due in 300 ms) but not "later", nor "mine",
  // which is claimed until now + 100 + 2000.
  auto ahead = claim(now, 500);
  ASSERT_OK(ahead);
  EXPECT_EQ(ahead->now_unix_ms(), now);
  EXPECT_EQ(ahead->pending(), 3u);   // claimed or not
  ASSERT_EQ(ahead->entries_size(), 1);
  EXPECT_EQ(ahead->entries(0).id(), "soon");
  EXPECT_EQ(ahead->entries(0).due_unix_ms(), now + 300);
  // Its claim runs from its due time: not handed out again before
  // due + claim timeout, then handed out again.
  EXPECT_EQ(claim(now + 1200, 0)->entries_size(), 0);
  auto again = claim(now + 1301, 0);
  ASSERT_OK(again);
  ASSERT_EQ(again->entries_size(), 1);
  EXPECT_EQ(again->entries(0).id(), "soon");
  // Many acknowledgements in one call: a stale token removes nothing.
  pb::AckSchedulesRequest many;
  many.set_bucket(bucket);
  many.add_ids("soon");
  many.add_claim_tokens(again->entries(0).claim_token());
  many.add_ids("later");
  many.add_claim_tokens(999);
  auto acked_many = CallSync(*this->store_, &Store::AckSchedules, many);
  ASSERT_OK(acked_many);
  EXPECT_EQ(acked_many->removed(), 1u);
  EXPECT_THAT(get("soon"), StatusIs(Code::kNotFound));
  EXPECT_OK(get("later"));
  many.add_ids("odd");
  EXPECT_THAT(CallSync(*this->store_, &Store::AckSchedules, many), StatusIs(Code::kInvalidArgument));

  auto g = get("mine");
  ASSERT_OK(g);
  EXPECT_EQ(g->entry().due_unix_ms(), now + 100);
  EXPECT_EQ(g->entry().payload(), "p-mine");
  EXPECT_GE(g->entry().next_unix_ms(), now + 100 + 2000);
  EXPECT_EQ(g->entry().claims(), mine->claim_token());
  EXPECT_THAT(get("nope"), StatusIs(Code::kNotFound));
  pb::AckScheduleRequest ack;
  ack.set_bucket(bucket);
  ack.set_id("mine");
  ack.set_claim_token(mine->claim_token());
  auto acked = CallSync(*this->store_, &Store::AckSchedule, ack);
  ASSERT_OK(acked);
  EXPECT_TRUE(acked->removed());

  // Listing: ten entries, four of them due at the same time, in pages of 3.
  for (int i = 0; i < 6; ++i) ASSERT_OK(add(absl::StrCat("l", i), now + 10000 + i));
  for (const char* id : {"t-b", "t-d", "t-a", "t-c"}) ASSERT_OK(add(id, now + 20000));
  std::vector<std::string> seen;
  pb::ListSchedulesRequest list;
  list.set_bucket(bucket);
  list.set_from_unix_ms(now + 10000);
  list.set_max_entries(3);
  for (int page = 0; page < 10; ++page) {
    auto r = CallSync(*this->store_, &Store::ListSchedules, list);
    ASSERT_OK(r);
    for (const auto& e : r->entries()) {
      seen.push_back(e.id());
      EXPECT_EQ(e.payload(), "p-" + e.id());
    }
    if (!r->more()) break;
    ASSERT_GT(r->entries_size(), 0);
    list.set_from_unix_ms(r->entries(r->entries_size() - 1).next_unix_ms());
    list.set_after_id(r->entries(r->entries_size() - 1).id());
  }
  EXPECT_THAT(seen, ElementsAre("l0", "l1", "l2", "l3", "l4", "l5", "t-a", "t-b", "t-c", "t-d"));
  // A cursor that is not in the bucket: the entries after it at its time.
  list.set_from_unix_ms(now + 20000);
  list.set_after_id("t-b0");
  list.set_max_entries(10);
  auto tail = CallSync(*this->store_, &Store::ListSchedules, list);
  ASSERT_OK(tail);
  ASSERT_EQ(tail->entries_size(), 2);
  EXPECT_EQ(tail->entries(0).id(), "t-c");
  EXPECT_FALSE(tail->more());
  // A bounded range.
  list.set_from_unix_ms(now + 10002);
  list.set_after_id("");
  list.set_until_unix_ms(now + 10004);
  auto range = CallSync(*this->store_, &Store::ListSchedules, list);
  ASSERT_OK(range);
  ASSERT_EQ(range->entries_size(), 2);
  EXPECT_EQ(range->entries(0).id(), "l2");
  EXPECT_EQ(range->entries(1).id(), "l3");
  list.set_until_unix_ms(now + 10002);
  EXPECT_THAT(CallSync(*this->store_, &Store::ListSchedules, list), StatusIs(Code::kInvalidArgument));
}

TYPED_TEST(StoreConformanceTest, SnapshotsKeepTheRegistryAndTheDocumentAlive) {
  const std::string src = absl::StrCat("<scxml id='alive-", TypeParam::Name(), "'/>");
  pb::PutDocumentRequest put;
  put.set_sha256(Sha256Hex(src));
  put.set_source(src);
  ASSERT_OK(CallSync(*this->store_, &Store::PutDocument, put));
  const std::string node = absl::StrCat("alive", TypeParam::Name());
  auto b = this->Batch(absl::StrCat("alive-", TypeParam::Name()), 1, 1, 2);
  b.set_node(node);
  b.set_document_sha256(put.sha256());
  ASSERT_OK(this->Append(b));
  const std::string reg = this->store_->NodeSessionsKey(node);
  const std::string doc = this->store_->DocumentKey(put.sha256());
  auto& client = *this->backend_->client;
  ASSERT_OK(client.ExecuteSync({"PEXPIRE", reg, "100000"}));
  ASSERT_OK(client.ExecuteSync({"PEXPIRE", doc, "100000"}));
  ASSERT_OK(this->Snapshot(b.session_id(), 1, 2, "s"));
  for (const auto& key : {reg, doc}) {
    bool refreshed = false;
    for (int i = 0; i < 100 && !refreshed; ++i) {  // the refresh is sent after the reply
      auto ttl = client.ExecuteSync({"PTTL", key});
      ASSERT_OK(ttl);
      refreshed = ttl->integer() > 1000000;
      if (!refreshed) absl::SleepFor(absl::Milliseconds(10));
    }
    EXPECT_TRUE(refreshed) << key;
  }
}

// Several sessions' appends in ONE call of the Append script (what group
// commit sends): each is checked and written on its own — one fenced, one
// with a gap, one unknown, one an idempotent retry with new entries, one
// session twice (the second sees the first) — and the rejected ones write
// nothing. The sessions share a slot so this also runs on the cluster.
TYPED_TEST(StoreConformanceTest, OneAppendCallCarriesManySessionsEachCheckedOnItsOwn) {
  std::vector<std::string> sids = {this->Sid("a")};
  const int slot = redis::KeySlot(this->store_->SessionKey(sids[0], "meta"));
  for (int i = 0; sids.size() < 5; ++i) {
    std::string sid = this->Sid(absl::StrCat("x", i));
    if (redis::KeySlot(this->store_->SessionKey(sid, "meta")) == slot) sids.push_back(sid);
  }
  const std::string &a = sids[0], &fenced = sids[1], &gap = sids[2], &retry = sids[3],
                    &unknown = sids[4];
  ASSERT_OK(this->Append(this->Batch(fenced, 7, 1, 2)));
  ASSERT_OK(this->Append(this->Batch(gap, 1, 1, 3)));
  ASSERT_OK(this->Append(this->Batch(retry, 1, 1, 2)));

  std::vector<std::string> keys;
  const int64_t life = absl::ToInt64Milliseconds(absl::Hours(24 * 30));
  std::vector<std::string> args = {absl::StrCat(life),
                                   absl::StrCat(HeadX(absl::ToUnixMillis(absl::Now()), life))};
  auto add = [&](const pb::AppendEventsRequest& r) {
    for (const auto& k : this->store_->SessionKeys(r.session_id())) keys.push_back(k);
    args.push_back(absl::StrCat(r.epoch()));
    args.push_back(absl::StrCat(r.entries(0).seq()));
    args.push_back(absl::StrCat(r.entries_size()));
    args.push_back(absl::StrCat(r.entries(0).seq() - 1));
    if (r.entries(0).seq() == 1) {  // node and document: only to create
      args.push_back("1");
      args.push_back(std::string(64, 'a'));
    }
    for (const auto& e : r.entries()) {
      EncodedEntry enc = EncodeEntry(e, r.epoch(), absl::Now());
      args.push_back(enc.bytes);
      args.push_back(enc.digest);
    }
  };
  add(this->Batch(a, 5, 1, 2));        // creates a
  add(this->Batch(fenced, 6, 3, 3));   // epoch 6 < 7
  add(this->Batch(gap, 1, 5, 5));      // last is 3
  add(this->Batch(retry, 1, 1, 4));    // 1..2 stored identically, 3..4 new
  add(this->Batch(a, 5, 3, 3));        // a again, after its creation above
  add(this->Batch(unknown, 1, 4, 4));  // no such session
  add(this->Batch(fenced, 8, 3, 3));   // a newer writer of the fenced session
  auto r = this->backend_->client->EvalShaSync(scripts::Append(), keys, args);
  ASSERT_OK(r);
  ASSERT_TRUE(r->is_array()) << r->DebugString();
  ASSERT_EQ(r->elements().size(), 7u) << r->DebugString();
  const auto& e = r->elements();
  // A last seq comes as an integer, or as its decimal string from the
  // script's common path.
  auto seq = [](const redis::RedisReply& x) -> int64_t {
    if (x.is_integer()) return x.integer();
    int64_t v = -1;
    return x.is_error() || !absl::SimpleAtoi(x.str(), &v) ? -1 : v;
  };
  EXPECT_EQ(seq(e[0]), 2) << e[0].DebugString();
  EXPECT_EQ(e[1].error_code(), "FENCED") << e[1].DebugString();
  EXPECT_EQ(e[2].error_code(), "SEQGAP") << e[2].DebugString();
  EXPECT_EQ(seq(e[3]), 4) << e[3].DebugString();
  EXPECT_EQ(seq(e[4]), 3) << e[4].DebugString();
  EXPECT_EQ(e[5].error_code(), "NOTFOUND") << e[5].DebugString();
  EXPECT_EQ(seq(e[6]), 3) << e[6].DebugString();

  EXPECT_THAT(this->ReadSeqs(a, 0), ::orch::testing::IsOkAndHolds(ElementsAre(1, 2, 3)));
  EXPECT_EQ(this->Meta(a)->epoch(), 5u);
  EXPECT_THAT(this->ReadSeqs(fenced, 0), ::orch::testing::IsOkAndHolds(ElementsAre(1, 2, 3)));
  EXPECT_EQ(this->Meta(fenced)->epoch(), 8u);
  EXPECT_THAT(this->ReadSeqs(gap, 0), ::orch::testing::IsOkAndHolds(ElementsAre(1, 2, 3)));
  EXPECT_EQ(this->Meta(gap)->last_seq(), 3u);
  EXPECT_THAT(this->ReadSeqs(retry, 0), ::orch::testing::IsOkAndHolds(ElementsAre(1, 2, 3, 4)));
  EXPECT_THAT(this->Meta(unknown), StatusIs(Code::kNotFound));
  for (const auto& sid : {a, fenced, retry}) {
    for (const char* k : {"meta", "log", "head"}) {
      auto ttl = this->backend_->client->ExecuteSync({"PTTL", this->store_->SessionKey(sid, k)});
      ASSERT_OK(ttl);
      EXPECT_GT(ttl->integer(), 0) << sid << " " << k;
    }
  }
}

// Many sessions appending at once through the store (group commit batches
// them, several per script call): every append is answered for its own
// session, stale writers are fenced, and the logs come out complete.
TYPED_TEST(StoreConformanceTest, ConcurrentAppendsOfManySessionsAreEachCorrect) {
  constexpr int kSessions = 48, kAppends = 12;
  std::vector<std::thread> writers;
  std::atomic<int> bad{0}, fenced{0};
  for (int t = 0; t < 8; ++t) {
    writers.emplace_back([&, t] {
      for (int i = t; i < kSessions; i += 8) {
        const std::string sid = this->Sid(absl::StrCat("c", i));
        for (uint64_t seq = 1; seq <= kAppends; ++seq) {
          // Every other append goes out together with a retry of itself and
          // a stale writer's attempt, all in flight at once.
          std::promise<absl::Status> p1, p2, p3;
          auto req = this->Batch(sid, 2, seq, seq);
          this->store_->AppendEvents(req, [&](absl::StatusOr<pb::AppendEventsResponse> r) {
            p1.set_value(r.ok() && r->last_seq() == seq ? absl::OkStatus()
                                                        : absl::InternalError(r.status().ToString()));
          });
          const bool extra = seq > 1 && seq % 2 == 0;
          if (extra) {
            this->store_->AppendEvents(this->Batch(sid, 1, seq + 1, seq + 1),
                                       [&](absl::StatusOr<pb::AppendEventsResponse> r) {
                                         p2.set_value(r.status());
                                       });
            this->store_->AppendEvents(req, [&](absl::StatusOr<pb::AppendEventsResponse> r) {
              p3.set_value(r.ok() && r->last_seq() >= seq ? absl::OkStatus()
                                                          : absl::InternalError(r.status().ToString()));
            });
          }
          if (!p1.get_future().get().ok()) ++bad;
          if (extra) {
            const absl::Status s2 = p2.get_future().get();
            if (s2.code() == Code::kAborted) {
              ++fenced;
            } else {
              ++bad;
            }
            if (!p3.get_future().get().ok()) ++bad;
          }
        }
      }
    });
  }
  for (auto& w : writers) w.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(fenced.load(), kSessions * (kAppends / 2));  // seqs 2, 4, ..., 12
  std::vector<uint64_t> want;
  for (uint64_t s = 1; s <= kAppends; ++s) want.push_back(s);
  for (int i = 0; i < kSessions; ++i) {
    const std::string sid = this->Sid(absl::StrCat("c", i));
    EXPECT_THAT(this->ReadSeqs(sid, 0), ::orch::testing::IsOkAndHolds(::testing::ElementsAreArray(want))) << sid;
    EXPECT_EQ(this->Meta(sid)->last_seq(), uint64_t{kAppends});
  }
}

// AppendEventsMany (one AppendEventsBatchStream message): the same results
// as one AppendEvents per request, the valid ones sharing script calls.
TYPED_TEST(StoreConformanceTest, AppendEventsManyAnswersEachRequestOnItsOwn) {
  constexpr int kSessions = 20;
  auto run = [&](const std::vector<pb::AppendEventsRequest>& reqs) {
    std::vector<std::promise<absl::StatusOr<pb::AppendEventsResponse>>> ps(reqs.size());
    std::vector<Store::AppendItem> items;
    for (size_t i = 0; i < reqs.size(); ++i) {
      items.emplace_back(&reqs[i], [&ps, i](absl::StatusOr<pb::AppendEventsResponse> r) {
        ps[i].set_value(std::move(r));
      });
    }
    this->store_->AppendEventsMany(std::move(items));
    std::vector<absl::StatusOr<uint64_t>> out;
    for (auto& p : ps) {
      auto r = p.get_future().get();
      out.push_back(r.ok() ? absl::StatusOr<uint64_t>(r->last_seq()) : r.status());
    }
    return out;
  };
  std::vector<pb::AppendEventsRequest> create;
  for (int i = 0; i < kSessions; ++i) create.push_back(this->Batch(this->Sid(absl::StrCat("m", i)), 3, 1, 2));
  for (const auto& r : run(create)) EXPECT_THAT(r, ::orch::testing::IsOkAndHolds(2));
  std::vector<pb::AppendEventsRequest> next;
  for (int i = 0; i < kSessions; ++i) next.push_back(this->Batch(this->Sid(absl::StrCat("m", i)), 3, 3, 4));
  next.push_back(this->Batch(this->Sid("m0"), 2, 5, 5));         // fenced
  next.push_back(this->Batch(this->Sid("m1"), 3, 9, 9));         // gap
  next.push_back(this->Batch("bad id", 3, 3, 3));                // invalid
  next.push_back(this->Batch(this->Sid("m2"), 3, 1, 2));         // identical retry
  next.push_back(this->Batch(this->Sid("m3"), 3, 1, 2, "other"));  // conflicting retry
  const auto r = run(next);
  for (int i = 0; i < kSessions; ++i) EXPECT_THAT(r[i], ::orch::testing::IsOkAndHolds(4)) << i;
  EXPECT_THAT(r[kSessions], StatusIs(Code::kAborted, HasSubstr("fenced")));
  EXPECT_THAT(r[kSessions + 1], StatusIs(Code::kAborted, HasSubstr("does not follow")));
  EXPECT_THAT(r[kSessions + 2], StatusIs(Code::kInvalidArgument, HasSubstr("session_id")));
  EXPECT_THAT(r[kSessions + 3], ::orch::testing::IsOkAndHolds(::testing::Ge(2u)));
  EXPECT_THAT(r[kSessions + 4], StatusIs(Code::kAborted, HasSubstr("different content")));
  for (int i = 0; i < kSessions; ++i) {
    EXPECT_THAT(this->ReadSeqs(this->Sid(absl::StrCat("m", i)), 0),
                ::orch::testing::IsOkAndHolds(ElementsAre(1, 2, 3, 4)));
  }
}

// TTLs are refreshed without PTTL: the head's x says until when they live
// at least (the start of the bucket of time in which they were set, plus the
// lifetime). An x other than the current one makes the next append refresh
// all keys: one of an earlier bucket (here: set back by hand), one far ahead
// (a proxy clock running ahead), 0 (a snapshot emptied and deleted the
// stream, which the append re-creates). Otherwise appends leave TTLs alone.
TYPED_TEST(StoreConformanceTest, AppendsRefreshTtlsWhenTheyRanDown) {
  const std::string sid = this->Sid("s");
  ASSERT_OK(this->Append(this->Batch(sid, 1, 1, 2)));
  ASSERT_OK(this->Snapshot(sid, 1, 1, "snap"));
  auto& client = *this->backend_->client;
  const std::string head = this->store_->SessionKey(sid, "head");
  const int64_t life = absl::ToInt64Milliseconds(absl::Hours(24 * 30));
  const std::vector<std::string> kinds = {"meta", "log", "snap", "head"};
  auto pttl = [&](const std::string& k) {
    auto r = client.ExecuteSync({"PTTL", this->store_->SessionKey(sid, k.c_str())});
    return r.ok() ? r->integer() : -100;
  };
  auto shorten = [&] {
    for (const auto& k : kinds) {
      auto r = client.ExecuteSync({"PEXPIRE", this->store_->SessionKey(sid, k.c_str()), "100000000"});
      ASSERT_OK(r);
    }
  };
  auto x = [&]() -> std::string {
    auto h = client.ExecuteSync({"GET", head});
    if (!h.ok() || h->is_nil()) return "<none>";
    std::vector<std::string> parts = absl::StrSplit(h->str(), ':');
    return parts.size() == 3 ? parts[2] : "<bad>";
  };
  auto set_x = [&](int64_t v) {
    auto h = client.ExecuteSync({"GET", head});
    ASSERT_OK(h);
    std::vector<std::string> parts = absl::StrSplit(h->str(), ':');
    ASSERT_EQ(parts.size(), 3u) << h->str();
    ASSERT_OK(client.ExecuteSync({"SET", head, absl::StrCat(parts[0], ":", parts[1], ":", v), "KEEPTTL"}));
  };
  auto expect_refreshed = [&](const char* what) {
    for (const auto& k : kinds) EXPECT_GT(pttl(k), life - 3600 * 1000) << what << ": " << k;
  };
  // Fresh x: no refresh.
  shorten();
  ASSERT_OK(this->Append(this->Batch(sid, 1, 3, 3)));
  for (const auto& k : kinds) EXPECT_LT(pttl(k), 100000001) << k;
  // x of an earlier bucket (two hours ago; buckets are an hour at most).
  set_x(HeadX(absl::ToUnixMillis(absl::Now()) - 2 * 3600 * 1000, life));
  ASSERT_OK(this->Append(this->Batch(sid, 1, 4, 4)));
  expect_refreshed("earlier bucket");
  // x far ahead.
  shorten();
  set_x(absl::ToUnixMillis(absl::Now()) + 10 * life);
  ASSERT_OK(this->Append(this->Batch(sid, 1, 5, 5)));
  expect_refreshed("far ahead");
  int64_t xv = 0;
  ASSERT_TRUE(absl::SimpleAtoi(x(), &xv)) << x();
  EXPECT_LE(xv, absl::ToUnixMillis(absl::Now()) + life);
  EXPECT_GT(xv, absl::ToUnixMillis(absl::Now()) + life - 3600 * 1000);
  // A snapshot covering the whole log deletes the stream and sets x to 0;
  // the next append re-creates the stream with a TTL.
  ASSERT_OK(this->Snapshot(sid, 1, 5, "snap"));
  EXPECT_EQ(pttl("log"), -2);  // no such key
  EXPECT_EQ(x(), "0");
  shorten();
  ASSERT_OK(this->Append(this->Batch(sid, 1, 6, 6)));
  expect_refreshed("stream re-created");
  EXPECT_THAT(this->ReadSeqs(sid, 5), ::orch::testing::IsOkAndHolds(ElementsAre(6)));
}

// A running system is upgraded in place: sessions written by a proxy of key
// layout 1 (epoch, last seq and x in the meta hash, no head key) are read as
// they are, and move to layout 2 with their first write, which checks
// fencing, gaps and retries against the old fields. Layout 2 leaves meta's
// epoch at 2^53 - 1, so a layout-1 proxy still running would be fenced from
// the migrated session instead of writing to it.
TYPED_TEST(StoreConformanceTest, SessionsOfLayoutOneAreReadAndMigratedByTheirFirstWrite) {
  auto& client = *this->backend_->client;
  const int64_t life = absl::ToInt64Milliseconds(absl::Hours(24));
  // What a layout-1 proxy stored for a session of node 1 whose entries
  // snap+1..last are in the log and whose snapshot covers snap.
  auto write_layout1 = [&](const std::string& sid, uint64_t epoch, uint64_t last, uint64_t snap) {
    const std::string meta = this->store_->SessionKey(sid, "meta");
    const std::string log = this->store_->SessionKey(sid, "log");
    for (uint64_t seq = snap + 1; seq <= last; ++seq) {
      EncodedEntry e = EncodeEntry(this->Entry(seq, "ev"), epoch, absl::Now());
      ASSERT_OK(client.ExecuteSync({"XADD", log, absl::StrCat(seq, "-0"), "e", e.bytes, "h", e.digest}));
    }
    ASSERT_OK(client.ExecuteSync({"HSET", meta, "node", "1", "epoch", absl::StrCat(epoch), "last",
                                  absl::StrCat(last), "doc", std::string(64, 'a'), "state", "old",
                                  "snap", absl::StrCat(snap), "x",
                                  absl::StrCat(absl::ToUnixMillis(absl::Now()) + life)}));
    if (snap > 0) {
      ASSERT_OK(client.ExecuteSync({"SET", this->store_->SessionKey(sid, "snap"), "snapshot-1"}));
    }
    for (const char* k : {"meta", "log", "snap"}) {
      ASSERT_OK(client.ExecuteSync({"PEXPIRE", this->store_->SessionKey(sid, k), absl::StrCat(life)}));
    }
  };
  auto layout = [&](const std::string& sid) {
    auto head = client.ExecuteSync({"EXISTS", this->store_->SessionKey(sid, "head")});
    auto old = client.ExecuteSync({"HMGET", this->store_->SessionKey(sid, "meta"), "epoch", "last", "x"});
    if (!head.ok() || !old.ok() || old->elements().size() != 3) return std::string("<error>");
    const auto& f = old->elements();
    if (head->integer() == 0) return std::string(!f[1].is_nil() ? "1" : "<none>");
    return std::string(f[0].str() == "9007199254740991" && f[1].is_nil() && f[2].is_nil() ? "2" : "<mixed>");
  };
  const std::string a = this->Sid("a"), b = this->Sid("b"), c = this->Sid("c"), d = this->Sid("d");
  write_layout1(a, 3, 4, 0);
  write_layout1(b, 2, 3, 2);
  write_layout1(c, 5, 1, 0);
  write_layout1(d, 1, 2, 0);

  // Reads of layout 1, which do not migrate.
  auto meta = this->Meta(a);
  ASSERT_OK(meta);
  EXPECT_EQ(meta->epoch(), 3u);
  EXPECT_EQ(meta->last_seq(), 4u);
  EXPECT_EQ(meta->state(), "old");
  EXPECT_EQ(meta->node(), "1");
  EXPECT_THAT(this->ReadSeqs(a, 0), ::orch::testing::IsOkAndHolds(ElementsAre(1, 2, 3, 4)));
  auto load = this->Load(b);
  ASSERT_OK(load);
  EXPECT_EQ(load->snapshot(), "snapshot-1");
  EXPECT_EQ(load->snapshot_covers_seq(), 2u);
  EXPECT_EQ(load->meta().last_seq(), 3u);
  ASSERT_EQ(load->entries_size(), 1);
  EXPECT_EQ(load->entries(0).seq(), 3u);
  EXPECT_THAT(this->ReadSeqs(b, 1), StatusIs(Code::kOutOfRange));
  EXPECT_EQ(layout(a), "1");
  EXPECT_EQ(layout(b), "1");

  // Rejected appends write nothing, so the session stays in layout 1.
  EXPECT_THAT(this->Append(this->Batch(a, 2, 5, 5)), StatusIs(Code::kAborted, HasSubstr("fenced")));
  EXPECT_THAT(this->Append(this->Batch(a, 3, 7, 7)), StatusIs(Code::kAborted, HasSubstr("does not follow")));
  EXPECT_THAT(this->Append(this->Batch(a, 3, 4, 4, "other")),
              StatusIs(Code::kAborted, HasSubstr("different content")));
  EXPECT_EQ(layout(a), "1");
  // An identical retry of stored entries is a write: it migrates.
  EXPECT_THAT(this->Append(this->Batch(a, 3, 3, 4)), ::orch::testing::IsOkAndHolds(4));
  EXPECT_EQ(layout(a), "2");
  // A newer writer, then the old one fenced by the migrated epoch.
  EXPECT_THAT(this->Append(this->Batch(a, 4, 5, 5)), ::orch::testing::IsOkAndHolds(5));
  EXPECT_THAT(this->Append(this->Batch(a, 3, 6, 6)), StatusIs(Code::kAborted, HasSubstr("fenced")));
  EXPECT_THAT(this->Append(this->Batch(a, 4, 6, 6)), ::orch::testing::IsOkAndHolds(6));
  EXPECT_THAT(this->ReadSeqs(a, 0), ::orch::testing::IsOkAndHolds(ElementsAre(1, 2, 3, 4, 5, 6)));
  meta = this->Meta(a);
  ASSERT_OK(meta);
  EXPECT_EQ(meta->epoch(), 4u);
  EXPECT_EQ(meta->last_seq(), 6u);
  EXPECT_EQ(meta->state(), "old");

  // A snapshot migrates (here it empties the log, which the next append
  // re-creates).
  ASSERT_OK(this->Snapshot(b, 2, 3, "snapshot-2"));
  EXPECT_EQ(layout(b), "2");
  EXPECT_THAT(this->Append(this->Batch(b, 2, 4, 4)), ::orch::testing::IsOkAndHolds(4));
  load = this->Load(b);
  ASSERT_OK(load);
  EXPECT_EQ(load->snapshot(), "snapshot-2");
  EXPECT_EQ(load->meta().last_seq(), 4u);
  EXPECT_EQ(load->meta().epoch(), 2u);
  ASSERT_EQ(load->entries_size(), 1);
  EXPECT_EQ(load->entries(0).seq(), 4u);

  // A state change migrates (and keeps the epoch check).
  pb::SetSessionStateRequest st;
  st.set_session_id(c);
  st.set_epoch(4);
  st.set_state("new");
  EXPECT_THAT(CallSync(*this->store_, &Store::SetSessionState, st), StatusIs(Code::kAborted));
  EXPECT_EQ(layout(c), "1");
  st.set_epoch(5);
  ASSERT_OK(CallSync(*this->store_, &Store::SetSessionState, st));
  EXPECT_EQ(layout(c), "2");
  meta = this->Meta(c);
  ASSERT_OK(meta);
  EXPECT_EQ(meta->state(), "new");
  EXPECT_EQ(meta->epoch(), 5u);
  EXPECT_EQ(meta->last_seq(), 1u);

  // A delete of layout 1 checks the old epoch and removes every key.
  pb::DeleteSessionRequest del;
  del.set_session_id(d);
  del.set_epoch(1);
  ASSERT_OK(CallSync(*this->store_, &Store::DeleteSession, del));
  EXPECT_THAT(this->Meta(d), StatusIs(Code::kNotFound));

  // Every key of the migrated sessions has a TTL, the new head key included.
  for (const auto& sid : {a, b, c}) {
    for (const char* k : {"meta", "log", "head"}) {
      auto ttl = client.ExecuteSync({"PTTL", this->store_->SessionKey(sid, k)});
      ASSERT_OK(ttl);
      EXPECT_GT(ttl->integer(), 0) << sid << " " << k;
    }
  }
}

// Last in the suite: every key the tests before it left has a TTL, those of
// call_conformance_test.cc included (it is linked first, so its tests run
// first).
TYPED_TEST(StoreConformanceTest, ZzEveryKeyHasATtl) {
  // Leave one of each kind behind for sure.
  const std::string sid = this->Sid("s");
  ASSERT_OK(this->Append(this->Batch(sid, 1, 1, 3)));
  ASSERT_OK(this->Snapshot(sid, 1, 1, "x"));
  const std::set<std::string> keys = this->backend_->AllKeys();
  EXPECT_GT(keys.size(), 20u);
  EXPECT_TRUE(std::any_of(keys.begin(), keys.end(),
                          [](const std::string& k) { return absl::StrContains(k, ":call:{"); }))
      << "no call record left: did call_conformance_test.cc's tests run first?";
  for (const auto& k : keys) {
    auto ttl = this->backend_->client->ExecuteSync({"PTTL", k});
    ASSERT_OK(ttl);
    if (ttl->integer() == -2) continue;  // expired since it was listed (the short-TTL cases)
    EXPECT_GT(ttl->integer(), 0) << k << " has no TTL";
  }
  auto ttl = this->backend_->client->ExecuteSync({"PTTL", this->store_->SessionKey(sid, "log")});
  ASSERT_OK(ttl);
  EXPECT_GT(ttl->integer(), 29LL * 24 * 3600 * 1000);  // the default lifetime, 30 days
}

}  // namespace
}  // namespace orch::persistence_proxy::store_conformance
