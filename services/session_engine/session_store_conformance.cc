#include "services/session_engine/session_store_conformance.h"

#include <atomic>
#include <cctype>

#include "absl/strings/str_cat.h"
#include "common/base/sha256.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"

namespace orch::session_engine {
namespace {

namespace ev = orch::event::v1;
using ::orch::testing::IsOkAndHolds;
using ::orch::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;
using Code = absl::StatusCode;

std::atomic<int> unique_counter{0};

}  // namespace

void SessionStoreConformanceTest::SetUp() {
  auto h = GetParam().make();
  ASSERT_OK(h) << GetParam().name;
  harness_ = std::move(*h);
  node_ = UniqueNode();
}

std::string SessionStoreConformanceTest::UniqueName(const std::string& what) {
  return absl::StrCat("conformance-", ++unique_counter, "-", what);
}

int SessionStoreConformanceTest::UniqueNode() { return 1000 + ++unique_counter; }

ev::LogEntry SessionStoreConformanceTest::Entry(uint64_t seq, const std::string& name) {
  ev::LogEntry e;
  e.set_seq(seq);
  if (seq == 1) {
    e.mutable_started()->set_document_sha256(kDocument);
  } else {
    e.mutable_event()->set_name(name);
  }
  return e;
}

std::vector<ev::LogEntry> SessionStoreConformanceTest::Entries(uint64_t first, uint64_t last,
                                                               const std::string& name) {
  std::vector<ev::LogEntry> out;
  for (uint64_t s = first; s <= last; ++s) out.push_back(Entry(s, name));
  return out;
}

absl::StatusOr<uint64_t> SessionStoreConformanceTest::Append(const std::string& sid, uint64_t epoch, uint64_t first,
                                                             uint64_t last, const std::string& name) {
  return store().Append(sid, epoch, node_, kDocument, Entries(first, last, name));
}

std::vector<uint64_t> SessionStoreConformanceTest::Seqs(const LoadedSession& s) {
  std::vector<uint64_t> out;
  for (const auto& e : s.entries) out.push_back(e.seq());
  return out;
}

std::map<std::string, std::string> SessionStoreConformanceTest::ListAll(int node, uint32_t page_size,
                                                                        bool with_states) {
  std::map<std::string, std::string> out;
  std::string cursor;
  for (int page = 0; page < 1000; ++page) {
    std::vector<std::string> states;
    auto ids = store().ListNodeSessions(node, &cursor, page_size, with_states ? &states : nullptr);
    EXPECT_OK(ids);
    if (!ids.ok()) return out;
    if (with_states) {
      EXPECT_EQ(states.size(), ids->size());
      if (states.size() != ids->size()) return out;
    }
    for (size_t i = 0; i < ids->size(); ++i) out[(*ids)[i]] = with_states ? states[i] : "";
    if (cursor == "0") return out;
  }
  ADD_FAILURE() << "ListNodeSessions(" << node << ") did not end within 1000 pages";
  return out;
}

bool SessionStoreConformanceTest::AfterElapsing(absl::Duration first, const std::function<bool()>& done) {
  Elapse(first);
  for (int i = 0; i < 100; ++i) {
    if (done()) return true;
    Elapse(absl::Milliseconds(20));
  }
  return done();
}

// ---------------------------------------------------------------- the log

TEST_P(SessionStoreConformanceTest, AppendCreatesTheSessionAndLoadReturnsItsEntries) {
  const std::string sid = UniqueName("s");
  EXPECT_THAT(Append(sid, 3, 1, 3), IsOkAndHolds(3));
  EXPECT_THAT(Append(sid, 3, 4, 4), IsOkAndHolds(4));
  auto loaded = store().Load(sid);
  ASSERT_OK(loaded);
  EXPECT_EQ(loaded->last_seq, 4u);
  EXPECT_EQ(loaded->epoch, 3u);
  EXPECT_EQ(loaded->document_sha256, kDocument);
  EXPECT_EQ(loaded->state, "");
  EXPECT_EQ(loaded->snapshot, "");
  EXPECT_EQ(loaded->snapshot_covers_seq, 0u);
  EXPECT_THAT(Seqs(*loaded), ElementsAre(1, 2, 3, 4));
  // The stored entries carry the writer's epoch and an append time.
  for (const auto& e : loaded->entries) {
    EXPECT_EQ(e.epoch(), 3u) << e.seq();
    EXPECT_TRUE(e.has_append_time()) << e.seq();
    EXPECT_GT(e.append_time().seconds(), 0) << e.seq();
  }
  EXPECT_EQ(loaded->entries[0].started().document_sha256(), kDocument);
  EXPECT_EQ(loaded->entries[2].event().name(), "ev");
  // An append_time the writer set is kept.
  auto timed = Entry(5);
  timed.mutable_append_time()->set_seconds(1234567890);
  EXPECT_THAT(store().Append(sid, 3, node_, kDocument, {timed}), IsOkAndHolds(5));
  loaded = store().Load(sid);
  ASSERT_OK(loaded);
  ASSERT_EQ(loaded->entries.size(), 5u);
  EXPECT_EQ(loaded->entries[4].append_time().seconds(), 1234567890);
}

TEST_P(SessionStoreConformanceTest, AnUnknownSessionIsNotFound) {
  const std::string sid = UniqueName("nobody");
  EXPECT_THAT(Append(sid, 1, 2, 2), StatusIs(Code::kNotFound));
  EXPECT_THAT(store().Load(sid), StatusIs(Code::kNotFound));
  EXPECT_THAT(store().PutSnapshot(sid, 1, 0, "x"), StatusIs(Code::kNotFound));
  EXPECT_THAT(store().SetState(sid, 1, "idle"), StatusIs(Code::kNotFound));
  EXPECT_THAT(store().Delete(sid, 1), StatusIs(Code::kNotFound));
  // None of these created it.
  EXPECT_THAT(store().Load(sid), StatusIs(Code::kNotFound));
}

TEST_P(SessionStoreConformanceTest, AnOlderEpochIsFencedAndWritesNothing) {
  const std::string sid = UniqueName("s");
  ASSERT_OK(Append(sid, 5, 1, 2));
  EXPECT_THAT(Append(sid, 4, 3, 3), StatusIs(Code::kAborted, HasSubstr("fenced")));
  EXPECT_THAT(store().PutSnapshot(sid, 4, 2, "old"), StatusIs(Code::kAborted, HasSubstr("fenced")));
  EXPECT_THAT(store().SetState(sid, 3, "idle"), StatusIs(Code::kAborted, HasSubstr("fenced")));
  EXPECT_THAT(store().Delete(sid, 4), StatusIs(Code::kAborted, HasSubstr("fenced")));
  auto loaded = store().Load(sid);
  ASSERT_OK(loaded);
  EXPECT_EQ(loaded->last_seq, 2u);
  EXPECT_EQ(loaded->epoch, 5u);
  EXPECT_EQ(loaded->state, "");
  EXPECT_EQ(loaded->snapshot, "");
  EXPECT_EQ(loaded->snapshot_covers_seq, 0u);
  EXPECT_THAT(Seqs(*loaded), ElementsAre(1, 2));
}

TEST_P(SessionStoreConformanceTest, ANewerEpochTakesOverWithEveryKindOfWrite) {
  const std::string sid = UniqueName("s");
  ASSERT_OK(Append(sid, 1, 1, 2));
  // Append.
  EXPECT_THAT(Append(sid, 2, 3, 3), IsOkAndHolds(3));
  EXPECT_THAT(Append(sid, 1, 4, 4), StatusIs(Code::kAborted, HasSubstr("fenced")));
  // SetState.
  EXPECT_OK(store().SetState(sid, 3, "busy"));
  EXPECT_THAT(Append(sid, 2, 4, 4), StatusIs(Code::kAborted, HasSubstr("fenced")));
  // PutSnapshot.
  EXPECT_OK(store().PutSnapshot(sid, 4, 1, "snap"));
  EXPECT_THAT(store().SetState(sid, 3, "late"), StatusIs(Code::kAborted, HasSubstr("fenced")));
  auto loaded = store().Load(sid);
  ASSERT_OK(loaded);
  EXPECT_EQ(loaded->epoch, 4u);
  EXPECT_EQ(loaded->state, "busy");
  EXPECT_EQ(loaded->last_seq, 3u);
  // The same epoch goes on writing.
  EXPECT_THAT(Append(sid, 4, 4, 4), IsOkAndHolds(4));
  // Delete.
  EXPECT_OK(store().Delete(sid, 5));
  EXPECT_THAT(store().Load(sid), StatusIs(Code::kNotFound));
}

TEST_P(SessionStoreConformanceTest, ASequenceGapIsAbortedAndWritesNothing) {
  const std::string sid = UniqueName("s");
  ASSERT_OK(Append(sid, 1, 1, 3));
  EXPECT_THAT(Append(sid, 1, 5, 6), StatusIs(Code::kAborted, HasSubstr("does not follow the last stored seq 3")));
  auto loaded = store().Load(sid);
  ASSERT_OK(loaded);
  EXPECT_EQ(loaded->last_seq, 3u);
  EXPECT_THAT(Seqs(*loaded), ElementsAre(1, 2, 3));
  EXPECT_THAT(Append(sid, 1, 4, 4), IsOkAndHolds(4));
}

TEST_P(SessionStoreConformanceTest, AnIdenticalRetryIsAnsweredAndStoredOnce) {
  const std::string sid = UniqueName("s");
  ASSERT_OK(Append(sid, 2, 1, 3));
  // The same entries again, as after an unknown outcome, even stamped later.
  auto retry = Entries(1, 3);
  retry[1].mutable_append_time()->set_seconds(999);
  EXPECT_THAT(store().Append(sid, 2, node_, kDocument, retry), IsOkAndHolds(3));
  // The answer is the session's last seq, also for a retry of older entries.
  ASSERT_OK(Append(sid, 2, 4, 5));
  EXPECT_THAT(Append(sid, 2, 2, 3), IsOkAndHolds(5));
  // Overlapping: 4..5 stored, 6..7 new.
  EXPECT_THAT(Append(sid, 2, 4, 7), IsOkAndHolds(7));
  auto loaded = store().Load(sid);
  ASSERT_OK(loaded);
  EXPECT_THAT(Seqs(*loaded), ElementsAre(1, 2, 3, 4, 5, 6, 7));
  EXPECT_EQ(loaded->last_seq, 7u);
  EXPECT_NE(loaded->entries[1].append_time().seconds(), 999) << "the retry replaced a stored entry";
}

TEST_P(SessionStoreConformanceTest, ARetryThatIsNotIdenticalIsAbortedAndWritesNothing) {
  const std::string sid = UniqueName("s");
  ASSERT_OK(Append(sid, 2, 1, 5));
  // Other content under stored seqs (with new entries after them).
  EXPECT_THAT(Append(sid, 2, 4, 6, "other"), StatusIs(Code::kAborted, HasSubstr("different content")));
  // The same content from another writer: the epoch is part of an entry.
  EXPECT_THAT(Append(sid, 3, 4, 6), StatusIs(Code::kAborted, HasSubstr("different content")));
  auto loaded = store().Load(sid);
  ASSERT_OK(loaded);
  EXPECT_EQ(loaded->last_seq, 5u);
  EXPECT_EQ(loaded->epoch, 2u);
  ASSERT_EQ(loaded->entries.size(), 5u);
  EXPECT_EQ(loaded->entries[3].event().name(), "ev");
  // Entries a snapshot covers can no longer be compared: refused.
  ASSERT_OK(store().PutSnapshot(sid, 2, 3, "snap"));
  EXPECT_THAT(Append(sid, 2, 3, 5), StatusIs(Code::kAborted, HasSubstr("snapshot")));
  EXPECT_THAT(Append(sid, 2, 4, 6), IsOkAndHolds(6));
}

TEST_P(SessionStoreConformanceTest, AMalformedAppendIsInvalidAndWritesNothing) {
  const std::string sid = UniqueName("s");
  ASSERT_OK(Append(sid, 1, 1, 2));
  EXPECT_THAT(store().Append(sid, 1, node_, kDocument, {}), StatusIs(Code::kInvalidArgument));
  auto gap = Entries(3, 3);
  gap.push_back(Entry(5));
  EXPECT_THAT(store().Append(sid, 1, node_, kDocument, gap),
              StatusIs(Code::kInvalidArgument, HasSubstr("consecutive")));
  EXPECT_THAT(store().Append(sid, 1, node_, kDocument, {Entry(0)}), StatusIs(Code::kInvalidArgument));
  auto other_epoch = Entry(3);
  other_epoch.set_epoch(7);
  EXPECT_THAT(store().Append(sid, 1, node_, kDocument, {other_epoch}),
              StatusIs(Code::kInvalidArgument, HasSubstr("epoch")));
  ev::LogEntry no_kind;
  no_kind.set_seq(3);
  EXPECT_THAT(store().Append(sid, 1, node_, kDocument, {no_kind}), StatusIs(Code::kInvalidArgument));
  for (const std::string& bad : std::vector<std::string>{"", "a{b}", "a b", std::string(201, 'x')}) {
    EXPECT_THAT(store().Append(bad, 1, node_, kDocument, Entries(1, 1)), StatusIs(Code::kInvalidArgument))
        << "'" << bad << "'";
    EXPECT_THAT(store().Load(bad), StatusIs(Code::kInvalidArgument)) << "'" << bad << "'";
  }
  auto loaded = store().Load(sid);
  ASSERT_OK(loaded);
  EXPECT_EQ(loaded->last_seq, 2u);
  EXPECT_THAT(Seqs(*loaded), ElementsAre(1, 2));
  // An entry may carry the request's epoch itself.
  auto own_epoch = Entry(3);
  own_epoch.set_epoch(1);
  EXPECT_THAT(store().Append(sid, 1, node_, kDocument, {own_epoch}), IsOkAndHolds(3));
}

// ---------------------------------------------------------------- snapshots

TEST_P(SessionStoreConformanceTest, ASnapshotReplacesTheEntriesItCovers) {
  const std::string sid = UniqueName("s");
  ASSERT_OK(Append(sid, 2, 1, 5));
  // Refused snapshots trim nothing.
  EXPECT_THAT(store().PutSnapshot(sid, 1, 3, "fenced"), StatusIs(Code::kAborted));
  EXPECT_THAT(store().PutSnapshot(sid, 2, 6, "beyond"), StatusIs(Code::kFailedPrecondition, HasSubstr("beyond")));
  auto loaded = store().Load(sid);
  ASSERT_OK(loaded);
  EXPECT_EQ(loaded->snapshot, "");
  EXPECT_THAT(Seqs(*loaded), ElementsAre(1, 2, 3, 4, 5));

  ASSERT_OK(store().PutSnapshot(sid, 2, 3, "snap-3"));
  loaded = store().Load(sid);
  ASSERT_OK(loaded);
  EXPECT_EQ(loaded->snapshot, "snap-3");
  EXPECT_EQ(loaded->snapshot_covers_seq, 3u);
  EXPECT_EQ(loaded->last_seq, 5u);
  EXPECT_THAT(Seqs(*loaded), ElementsAre(4, 5));
  // Covering as much replaces it; covering less is stale.
  ASSERT_OK(store().PutSnapshot(sid, 2, 3, "snap-3b"));
  EXPECT_THAT(store().PutSnapshot(sid, 2, 2, "snap-2"), StatusIs(Code::kFailedPrecondition));
  loaded = store().Load(sid);
  ASSERT_OK(loaded);
  EXPECT_EQ(loaded->snapshot, "snap-3b");
  EXPECT_EQ(loaded->snapshot_covers_seq, 3u);
  EXPECT_THAT(Seqs(*loaded), ElementsAre(4, 5));
  // A snapshot of everything leaves no entries; appends go on after it.
  ASSERT_OK(store().PutSnapshot(sid, 2, 5, "snap-5"));
  loaded = store().Load(sid);
  ASSERT_OK(loaded);
  EXPECT_THAT(loaded->entries, IsEmpty());
  EXPECT_EQ(loaded->last_seq, 5u);
  EXPECT_THAT(Append(sid, 2, 6, 7), IsOkAndHolds(7));
  loaded = store().Load(sid);
  ASSERT_OK(loaded);
  EXPECT_EQ(loaded->snapshot, "snap-5");
  EXPECT_EQ(loaded->snapshot_covers_seq, 5u);
  EXPECT_THAT(Seqs(*loaded), ElementsAre(6, 7));
  // Binary snapshots are kept byte for byte.
  const std::string bytes("\0\xff\x01snap\n", 8);
  ASSERT_OK(store().PutSnapshot(sid, 2, 7, bytes));
  loaded = store().Load(sid);
  ASSERT_OK(loaded);
  EXPECT_EQ(loaded->snapshot, bytes);
}

TEST_P(SessionStoreConformanceTest, ALongLogLoadsCompletely) {
  const std::string sid = UniqueName("s");
  ASSERT_OK(Append(sid, 1, 1, 1));
  for (uint64_t first = 2; first <= 1201; first += 100) ASSERT_OK(Append(sid, 1, first, first + 99));
  ASSERT_OK(store().PutSnapshot(sid, 1, 1, "s1"));
  auto loaded = store().Load(sid);
  ASSERT_OK(loaded);
  ASSERT_EQ(loaded->entries.size(), 1200u);
  for (size_t i = 0; i < loaded->entries.size(); ++i) ASSERT_EQ(loaded->entries[i].seq(), i + 2);
  EXPECT_EQ(loaded->last_seq, 1201u);
}

// ---------------------------------------------------------------- state, delete, registry

TEST_P(SessionStoreConformanceTest, DeleteRemovesTheSessionAndItsRegistryEntry) {
  const std::string sid = UniqueName("s");
  const std::string other = UniqueName("other");
  ASSERT_OK(Append(sid, 2, 1, 3));
  ASSERT_OK(Append(other, 2, 1, 1));
  ASSERT_OK(store().PutSnapshot(sid, 2, 2, "snap"));
  ASSERT_OK(store().Delete(sid, 2));
  EXPECT_THAT(store().Load(sid), StatusIs(Code::kNotFound));
  EXPECT_THAT(store().Delete(sid, 2), StatusIs(Code::kNotFound));
  EXPECT_THAT(Append(sid, 2, 4, 4), StatusIs(Code::kNotFound));
  EXPECT_THAT(ListAll(node_, 10, /*with_states=*/true), ElementsAre(Pair(other, "")));
  // The id is free again: an append at seq 1 creates a new session, of any epoch.
  EXPECT_THAT(Append(sid, 1, 1, 1), IsOkAndHolds(1));
  auto loaded = store().Load(sid);
  ASSERT_OK(loaded);
  EXPECT_EQ(loaded->epoch, 1u);
  EXPECT_EQ(loaded->snapshot, "");
  EXPECT_EQ(loaded->snapshot_covers_seq, 0u);
  EXPECT_THAT(Seqs(*loaded), ElementsAre(1));
  EXPECT_THAT(ListAll(node_, 10, /*with_states=*/false), UnorderedElementsAre(Pair(sid, ""), Pair(other, "")));
}

TEST_P(SessionStoreConformanceTest, SetStateIsLoadedAndListed) {
  const std::string sid = UniqueName("s");
  ASSERT_OK(Append(sid, 1, 1, 1));
  ASSERT_OK(store().SetState(sid, 1, "deactivated"));
  EXPECT_EQ(store().Load(sid)->state, "deactivated");
  EXPECT_THAT(ListAll(node_, 10, /*with_states=*/true), ElementsAre(Pair(sid, "deactivated")));
  ASSERT_OK(store().SetState(sid, 1, ""));
  EXPECT_EQ(store().Load(sid)->state, "");
  ASSERT_OK(store().SetState(sid, 1, std::string(200, 's')));
  EXPECT_THAT(store().SetState(sid, 1, std::string(201, 's')), StatusIs(Code::kInvalidArgument));
  EXPECT_EQ(store().Load(sid)->state, std::string(200, 's'));
  // State is not the log: appends go on from where they were.
  EXPECT_THAT(Append(sid, 1, 2, 2), IsOkAndHolds(2));
}

TEST_P(SessionStoreConformanceTest, ListNodeSessionsPagesThroughTheNodesSessions) {
  std::map<std::string, std::string> expected;
  for (int i = 0; i < 23; ++i) {
    const std::string sid = UniqueName(absl::StrCat("s", i));
    ASSERT_OK(Append(sid, 1, 1, 1));
    expected[sid] = "";
    if (i % 4 == 0) {
      ASSERT_OK(store().SetState(sid, 1, absl::StrCat("state-", i)));
      expected[sid] = absl::StrCat("state-", i);
    }
  }
  // Another node's sessions are not listed.
  const int other_node = UniqueNode();
  const std::string elsewhere = UniqueName("elsewhere");
  ASSERT_OK(store().Append(elsewhere, 1, other_node, kDocument, Entries(1, 1)));

  EXPECT_EQ(ListAll(node_, 5, /*with_states=*/true), expected);
  EXPECT_EQ(ListAll(node_, 0, /*with_states=*/true), expected);  // 0: the default page
  std::map<std::string, std::string> without_states = expected;
  for (auto& [id, state] : without_states) state = "";
  EXPECT_EQ(ListAll(node_, 7, /*with_states=*/false), without_states);
  EXPECT_THAT(ListAll(other_node, 5, /*with_states=*/true), ElementsAre(Pair(elsewhere, "")));
  // A node without sessions: one empty, final page.
  std::string cursor = "0";
  auto none = store().ListNodeSessions(UniqueNode(), &cursor, 5);
  ASSERT_OK(none);
  EXPECT_THAT(*none, IsEmpty());
  EXPECT_EQ(cursor, "0");
  cursor = "not-a-cursor";
  EXPECT_THAT(store().ListNodeSessions(node_, &cursor, 5), StatusIs(Code::kInvalidArgument, HasSubstr("cursor")));
}

TEST_P(SessionStoreConformanceTest, ARegisteredIdWithoutASessionIsListedAsGone) {
  const std::string sid = UniqueName("s");
  ASSERT_OK(Append(sid, 5, 1, 2));
  // An append at seq 1 registers the id with its node before it is checked:
  // this one, fenced, leaves the id listed under another node.
  const int other_node = UniqueNode();
  EXPECT_THAT(store().Append(sid, 4, other_node, kDocument, Entries(1, 1)), StatusIs(Code::kAborted));
  EXPECT_THAT(ListAll(other_node, 10, /*with_states=*/true), ElementsAre(Pair(sid, "")));
  ASSERT_OK(store().Delete(sid, 5));
  EXPECT_THAT(ListAll(node_, 10, /*with_states=*/true), IsEmpty());
  EXPECT_THAT(ListAll(other_node, 10, /*with_states=*/true), ElementsAre(Pair(sid, SessionLog::kGone)));
  EXPECT_THAT(ListAll(other_node, 10, /*with_states=*/false), ElementsAre(Pair(sid, "")));
}

// ---------------------------------------------------------------- documents

TEST_P(SessionStoreConformanceTest, DocumentsAreStoredByTheirHash) {
  const std::string source = absl::StrCat("<scxml name='", UniqueName("doc"), "'/>");
  const std::string sha = Sha256Hex(source);
  EXPECT_THAT(store().GetDocument(sha), StatusIs(Code::kNotFound));
  ASSERT_OK(store().PutDocument(sha, source));
  EXPECT_THAT(store().GetDocument(sha), IsOkAndHolds(source));
  ASSERT_OK(store().PutDocument(sha, source));  // again: harmless
  EXPECT_THAT(store().GetDocument(sha), IsOkAndHolds(source));
  // The hash must be the source's, written as 64 lowercase hex digits.
  EXPECT_THAT(store().PutDocument(sha, source + " "), StatusIs(Code::kInvalidArgument, HasSubstr("sha256")));
  std::string upper = sha;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_THAT(store().PutDocument(upper, source), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(store().PutDocument("abc", source), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(store().GetDocument("abc"), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(store().GetDocument(Sha256Hex(source + " ")), StatusIs(Code::kNotFound));
}

// ---------------------------------------------------------------- leases

TEST_P(SessionStoreConformanceTest, ALeaseHasOneHolderAtATime) {
  const std::string name = UniqueName("lease");
  auto a = store().AcquireLease(name, "A", "a:1", 60000);
  ASSERT_OK(a);
  EXPECT_TRUE(a->acquired);
  EXPECT_GE(a->epoch, 1u);
  EXPECT_EQ(a->holder, "A");
  EXPECT_EQ(a->endpoint, "a:1");
  // Another holder learns who holds it.
  auto b = store().AcquireLease(name, "B", "b:1", 60000);
  ASSERT_OK(b);
  EXPECT_FALSE(b->acquired);
  EXPECT_EQ(b->holder, "A");
  EXPECT_EQ(b->endpoint, "a:1");
  EXPECT_EQ(b->epoch, a->epoch);
  auto held = store().GetLease(name);
  ASSERT_OK(held);
  EXPECT_EQ(held->holder, "A");
  EXPECT_EQ(held->endpoint, "a:1");
  EXPECT_EQ(held->epoch, a->epoch);
  EXPECT_GT(held->remaining_ms, 0u);
  EXPECT_LE(held->remaining_ms, 60000u);
  // The holder acquiring again keeps its epoch; its endpoint is replaced.
  auto again = store().AcquireLease(name, "A", "a:2", 60000);
  ASSERT_OK(again);
  EXPECT_TRUE(again->acquired);
  EXPECT_EQ(again->epoch, a->epoch);
  EXPECT_EQ(again->endpoint, "a:2");
  EXPECT_EQ(store().GetLease(name)->endpoint, "a:2");
  // Only the holder, with its epoch, renews or releases.
  EXPECT_OK(store().RenewLease(name, "A", a->epoch, 60000));
  EXPECT_THAT(store().RenewLease(name, "B", a->epoch, 60000), StatusIs(Code::kAborted));
  EXPECT_THAT(store().RenewLease(name, "A", a->epoch + 1, 60000), StatusIs(Code::kAborted));
  EXPECT_THAT(store().ReleaseLease(name, "B", a->epoch), StatusIs(Code::kAborted));
  EXPECT_THAT(store().ReleaseLease(name, "A", a->epoch + 1), StatusIs(Code::kAborted));
  EXPECT_EQ(store().GetLease(name)->holder, "A");
  ASSERT_OK(store().ReleaseLease(name, "A", a->epoch));
  EXPECT_THAT(store().GetLease(name), StatusIs(Code::kNotFound));
  EXPECT_OK(store().ReleaseLease(name, "A", a->epoch));  // a free lease
  EXPECT_THAT(store().RenewLease(name, "A", a->epoch, 60000), StatusIs(Code::kAborted));
  // The next holder gets a newer epoch.
  b = store().AcquireLease(name, "B", "b:1", 60000);
  ASSERT_OK(b);
  EXPECT_TRUE(b->acquired);
  EXPECT_GT(b->epoch, a->epoch);
  EXPECT_EQ(b->holder, "B");
  // Leases are independent of each other.
  auto other = store().AcquireLease(UniqueName("lease"), "A", "a:1", 60000);
  ASSERT_OK(other);
  EXPECT_TRUE(other->acquired);
}

TEST_P(SessionStoreConformanceTest, ALeaseExpiresUnlessRenewed) {
  const std::string name = UniqueName("lease");
  auto a = store().AcquireLease(name, "A", "a:1", 2000);
  ASSERT_OK(a);
  ASSERT_TRUE(a->acquired);
  Elapse(absl::Milliseconds(500));
  auto held = store().GetLease(name);
  ASSERT_OK(held);
  EXPECT_LE(held->remaining_ms, 1500u);
  // Renewing restarts the TTL.
  ASSERT_OK(store().RenewLease(name, "A", a->epoch, 10000));
  auto renewed = store().GetLease(name);
  ASSERT_OK(renewed);
  EXPECT_GT(renewed->remaining_ms, 1500u);
  EXPECT_LE(renewed->remaining_ms, 10000u);
  // Not renewed in time: free, and the late renewal is refused.
  ASSERT_OK(store().RenewLease(name, "A", a->epoch, 300));
  EXPECT_TRUE(AfterElapsing(absl::Milliseconds(300), [&] {
    return store().GetLease(name).status().code() == Code::kNotFound;
  }));
  EXPECT_THAT(store().RenewLease(name, "A", a->epoch, 10000), StatusIs(Code::kAborted));
  // Anyone may take it, with a newer epoch; the old holder stays fenced.
  auto b = store().AcquireLease(name, "B", "b:1", 10000);
  ASSERT_OK(b);
  EXPECT_TRUE(b->acquired);
  EXPECT_GT(b->epoch, a->epoch);
  EXPECT_THAT(store().RenewLease(name, "A", a->epoch, 10000), StatusIs(Code::kAborted));
  auto a2 = store().AcquireLease(name, "A", "a:1", 10000);
  ASSERT_OK(a2);
  EXPECT_FALSE(a2->acquired);
  EXPECT_EQ(a2->holder, "B");
  // The same holder taking its expired lease back gets a newer epoch too.
  ASSERT_OK(store().RenewLease(name, "B", b->epoch, 300));
  EXPECT_TRUE(AfterElapsing(absl::Milliseconds(300), [&] {
    return store().GetLease(name).status().code() == Code::kNotFound;
  }));
  auto b2 = store().AcquireLease(name, "B", "b:1", 10000);
  ASSERT_OK(b2);
  EXPECT_TRUE(b2->acquired);
  EXPECT_GT(b2->epoch, b->epoch);
}

TEST_P(SessionStoreConformanceTest, MalformedLeaseCallsAreInvalid) {
  const std::string name = UniqueName("lease");
  EXPECT_THAT(store().AcquireLease(name, "A", "a:1", 0), StatusIs(Code::kInvalidArgument, HasSubstr("ttl")));
  EXPECT_THAT(store().AcquireLease(name, "A", "a:1", 3600001), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(store().AcquireLease(name, "", "a:1", 1000), StatusIs(Code::kInvalidArgument, HasSubstr("holder")));
  for (const std::string& bad : std::vector<std::string>{"", "node:{1}", "node 1"}) {
    EXPECT_THAT(store().AcquireLease(bad, "A", "a:1", 1000), StatusIs(Code::kInvalidArgument)) << bad;
    EXPECT_THAT(store().GetLease(bad), StatusIs(Code::kInvalidArgument)) << bad;
  }
  EXPECT_THAT(store().GetLease(name), StatusIs(Code::kNotFound));  // nothing was acquired
  auto a = store().AcquireLease(name, "A", "a:1", 3600000);
  ASSERT_OK(a);
  EXPECT_THAT(store().RenewLease(name, "A", a->epoch, 0), StatusIs(Code::kInvalidArgument));
  EXPECT_EQ(store().GetLease(name)->holder, "A");
}

}  // namespace orch::session_engine
