// LiveSession without threads, store or clock: a session started from its
// first entry and fed entries, then rebuilt from (a) the whole log and (b) a
// snapshot plus the entries after it, must end with the same snapshot bytes
// and re-issue the same sends with the same effect ids. Plus the snapshot
// and deactivation policy, driven by explicit times.

#include "services/session_engine/live_session.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/js/ecmascript_data_model.h"
#include "common/scxml/compiler.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/session_engine/log_entries.h"

namespace orch::session_engine {
namespace {

namespace ev = orch::event::v1;
namespace sv1 = orch::session::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kT0 = 1'767'225'600'000;  // 2026-01-01T00:00:00Z
constexpr char kSid[] = "~1~LIVESESSIONTEST0000000000000000";

constexpr char kChart[] = R"XML(<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    datamodel="ecmascript" initial="s" _persist="true">
  <datamodel><data id="trace" expr="[]"/><data id="n" expr="0"/></datamodel>
  <state id="s">
    <onentry><send event="tick" delay="50ms"/></onentry>
    <transition event="ev">
      <assign location="n" expr="n + 1"/>
      <script>trace.push([_event.data.k, Date.now() % 100000, Math.floor(Math.random() * 1e9)]);</script>
      <log label="n" expr="n"/>
      <send event="hello" target="#_scxml_~2~PEERSESSION00000000000000000000"/>
      <send event="again" target="#_scxml_~2~PEERSESSION00000000000000000000"/>
    </transition>
    <transition event="tick" cond="n &lt; 1000">
      <script>trace.push(['tick', Date.now() % 100000]);</script>
    </transition>
    <transition event="stop" target="done"/>
  </state>
  <final id="done"/>
</scxml>)XML";

class RecordingOutbox final : public SessionOutbox {
 public:
  void Log(const LiveSession& from, std::string_view label, std::string_view value) override {
    logs.push_back(absl::StrCat(std::string(label), "=", std::string(value)));
  }
  absl::Status Send(LiveSession& from, const std::string& target, const std::string& type,
                    const scxml::Event& event) override {
    sends.push_back(absl::StrCat(event.name, " ", from.NextEffectId(), from.replaying() ? " replay" : ""));
    return absl::OkStatus();
  }
  absl::StatusOr<std::shared_ptr<const scxml::Document>> LoadDocument(const std::string&,
                                                                      const std::string&) override {
    return absl::NotFoundError("no documents here");
  }
  absl::StatusOr<std::shared_ptr<const scxml::Document>> CompileSource(const std::string&,
                                                                       const std::string&) override {
    return absl::NotFoundError("no documents here");
  }
  std::vector<std::string> logs;
  std::vector<std::string> sends;
};

class LiveSessionTest : public ::testing::Test {
 protected:
  LiveSessionTest() {
    scxml::CompileOptions o;
    o.ecmascript = &factory_;
    auto doc = scxml::CompileDocument(kChart, "chart.scxml", o);
    EXPECT_OK(doc);
    doc_ = *doc;
    config_.ecmascript = &factory_;
  }

  ev::LogEntry Started() const {
    ev::LogEntry e;
    e.set_seq(1);
    SetEntryTime(&e, kT0);
    e.mutable_started()->set_document_sha256(doc_->sha256);
    e.mutable_started()->set_document_url("file:///chart.scxml");
    e.mutable_started()->set_random_seed(SeedOf(kSid));
    return e;
  }
  static ev::LogEntry Event(uint64_t seq, int64_t at, const std::string& name, int k) {
    ev::LogEntry e;
    e.set_seq(seq);
    SetEntryTime(&e, at);
    e.mutable_event()->set_name(name);
    (*e.mutable_event()->mutable_data()->mutable_struct_value()->mutable_fields())["k"].set_number_value(k);
    return e;
  }
  static ev::LogEntry Clock(uint64_t seq, int64_t at) {
    ev::LogEntry e;
    e.set_seq(seq);
    SetEntryTime(&e, at);
    e.mutable_clock();
    return e;
  }
  // A log: started, then events 20 ms apart with a clock entry when the
  // first delayed send comes due.
  std::vector<ev::LogEntry> Log() const {
    std::vector<ev::LogEntry> log = {Started()};
    uint64_t seq = 2;
    for (int k = 0; k < 6; ++k) {
      log.push_back(Event(seq++, kT0 + 20 * (k + 1), "ev", k));
      if (k == 2) log.push_back(Clock(seq++, kT0 + 70));
    }
    return log;
  }
  static std::string Bytes(const LiveSession& s) {
    auto record = s.BuildRecord(false, {});
    EXPECT_OK(record);
    std::string out;
    record->interpreter().SerializeToString(&out);
    return out;
  }

  js::EcmascriptDataModelFactory factory_;
  std::shared_ptr<const scxml::Document> doc_;
  SessionConfig config_;
};

TEST_F(LiveSessionTest, ReplayOfTheWholeLogRebuildsTheLiveSessionByteForByte) {
  const auto log = Log();
  RecordingOutbox live_out;
  auto live = LiveSession::Start(kSid, true, doc_, log[0], config_, &live_out, 0);
  ASSERT_OK(live);
  for (size_t i = 1; i < log.size(); ++i) (*live)->Apply(log[i]);
  EXPECT_EQ((*live)->applied_seq(), log.back().seq());

  RecordingOutbox replay_out;
  auto replayed = LiveSession::Restore(kSid, doc_, nullptr, log, config_, &replay_out, 0);
  ASSERT_OK(replayed);
  EXPECT_FALSE((*replayed)->replaying());
  EXPECT_EQ(Bytes(**replayed), Bytes(**live));
  // The same sends with the same effect ids, marked as replayed; no <log>
  // output in replay.
  ASSERT_EQ(replay_out.sends.size(), live_out.sends.size());
  for (size_t i = 0; i < live_out.sends.size(); ++i) EXPECT_EQ(replay_out.sends[i], live_out.sends[i] + " replay");
  EXPECT_EQ(live_out.sends[0], absl::StrCat("hello ", kSid, "/2/0"));
  EXPECT_EQ(live_out.sends[1], absl::StrCat("again ", kSid, "/2/1"));
  EXPECT_EQ(live_out.logs.size(), 6u);
  EXPECT_TRUE(replay_out.logs.empty());
}

TEST_F(LiveSessionTest, ASnapshotPlusTheEntriesAfterItRebuildsTheSameSession) {
  const auto log = Log();
  RecordingOutbox out;
  auto live = LiveSession::Start(kSid, true, doc_, log[0], config_, &out, 0);
  ASSERT_OK(live);
  absl::StatusOr<sv1::SessionRecord> mid;
  for (size_t i = 1; i < log.size(); ++i) {
    (*live)->Apply(log[i]);
    if (i == 3) mid = (*live)->BuildRecord(false, {"peer/1/0"});
  }
  ASSERT_OK(mid);
  EXPECT_EQ(mid->covers_seq(), log[3].seq());
  EXPECT_THAT(mid->effect_ids(), ElementsAre("peer/1/0"));
  auto restored = LiveSession::Restore(kSid, doc_, &*mid, log, config_, &out, 0);
  ASSERT_OK(restored);
  EXPECT_EQ((*restored)->applied_seq(), log.back().seq());
  EXPECT_EQ((*restored)->snapshot_seq(), log[3].seq());
  EXPECT_EQ(Bytes(**restored), Bytes(**live));
}

TEST_F(LiveSessionTest, TheChartClockIsTheRecordedTimeAndTimersFireWhenAnEntryPassesThem) {
  RecordingOutbox out;
  auto s = LiveSession::Start(kSid, true, doc_, Started(), config_, &out, 0);
  ASSERT_OK(s);
  ASSERT_TRUE((*s)->NextDueMs().has_value());
  EXPECT_EQ(*(*s)->NextDueMs(), kT0 + 50);
  EXPECT_EQ((*s)->TakeTimerToArm(), kT0 + 50);
  EXPECT_EQ((*s)->TakeTimerToArm(), std::nullopt);  // armed once
  (*s)->Apply(Event(2, kT0 + 10, "ev", 1));
  EXPECT_TRUE((*s)->NextDueMs().has_value());  // not due yet at +10
  (*s)->Apply(Clock(3, kT0 + 60));
  EXPECT_FALSE((*s)->NextDueMs().has_value());
  auto trace = (*s)->interpreter()->ReadData("trace");
  ASSERT_OK(trace);
  EXPECT_THAT(*trace, HasSubstr("[1,10,"));       // Date.now() is the entry's time
  EXPECT_THAT(*trace, HasSubstr("[\"tick\",60]"));  // fired when the clock entry passed +50
  EXPECT_TRUE((*s)->TimerFired(kT0 + 50));
  EXPECT_FALSE((*s)->TimerFired(kT0 + 50));  // superseded once fired
}

TEST_F(LiveSessionTest, AnEntryTimeBeforeTheChartClockDoesNotMoveItBack) {
  RecordingOutbox out;
  auto s = LiveSession::Start(kSid, true, doc_, Started(), config_, &out, 0);
  ASSERT_OK(s);
  (*s)->Apply(Event(2, kT0 + 30, "ev", 1));
  (*s)->Apply(Event(3, kT0 + 5, "ev", 2));  // the wall clock stepped back
  EXPECT_EQ((*s)->interpreter()->now(), kT0 + 30);
}

TEST_F(LiveSessionTest, TerminatedAndFinalStatesEndTheSession) {
  RecordingOutbox out;
  auto a = LiveSession::Start(kSid, true, doc_, Started(), config_, &out, 0);
  ASSERT_OK(a);
  ev::LogEntry end;
  end.set_seq(2);
  end.mutable_terminated()->set_reason("test");
  (*a)->Apply(end);
  EXPECT_TRUE((*a)->ended());
  EXPECT_EQ((*a)->interpreter(), nullptr);
  EXPECT_THAT((*a)->BuildRecord(false, {}), testing::StatusIs(absl::StatusCode::kFailedPrecondition));

  auto b = LiveSession::Start(kSid, true, doc_, Started(), config_, &out, 0);
  ASSERT_OK(b);
  (*b)->Apply(Event(2, kT0 + 1, "stop", 0));
  EXPECT_TRUE((*b)->ended());
  EXPECT_EQ((*b)->interpreter()->final_state(), "done");

  // Replay stops at the end too.
  std::vector<ev::LogEntry> log = {Started(), Event(2, kT0 + 1, "stop", 0), Event(3, kT0 + 2, "ev", 1)};
  auto r = LiveSession::Restore(kSid, doc_, nullptr, log, config_, &out, 0);
  ASSERT_OK(r);
  EXPECT_TRUE((*r)->ended());
  EXPECT_EQ((*r)->applied_seq(), 2u);
}

TEST_F(LiveSessionTest, SnapshotPolicyByEntriesAgeDrainAndSendsInFlight) {
  SessionPolicy policy;
  policy.snapshot_every_entries = 3;
  policy.snapshot_every_ms = 1000;
  RecordingOutbox out;
  auto s = LiveSession::Start(kSid, true, doc_, Started(), config_, &out, /*now=*/0);
  ASSERT_OK(s);
  LiveSession& l = **s;
  l.Touch(0);
  EXPECT_FALSE(l.NeedsSnapshot(0, policy, true));  // entry 1, young
  l.MarkSnapshotted(0);
  EXPECT_FALSE(l.NeedsSnapshot(0, policy, true));  // everything covered
  l.Apply(Event(2, kT0 + 1, "ev", 1));
  l.Touch(10);
  EXPECT_FALSE(l.NeedsSnapshot(10, policy, true));   // 1 entry, young
  EXPECT_TRUE(l.NeedsSnapshot(1000, policy, true));  // old enough
  EXPECT_FALSE(l.NeedsSnapshot(1000, policy, false));  // queue not drained
  l.Apply(Event(3, kT0 + 2, "ev", 2));
  l.Apply(Event(4, kT0 + 3, "ev", 3));
  EXPECT_TRUE(l.NeedsSnapshot(20, policy, true));  // 3 entries
  l.sends_in_flight()->fetch_add(1);
  EXPECT_FALSE(l.NeedsSnapshot(20, policy, true));  // a send still being handed over
  l.sends_in_flight()->fetch_sub(1);
  l.MarkSnapshotted(20);
  EXPECT_FALSE(l.NeedsSnapshot(5000, policy, true));

  // In-memory sessions never snapshot.
  auto v = LiveSession::Start(kSid, false, doc_, Started(), config_, &out, 0);
  ASSERT_OK(v);
  (*v)->Apply(Event(2, kT0 + 1, "ev", 1));
  EXPECT_FALSE((*v)->NeedsSnapshot(100000, policy, true));
}

TEST_F(LiveSessionTest, IdleMeansDrainedQuietNothingDueSoonAndNoSendsInFlight) {
  SessionPolicy policy;
  policy.deactivate_idle_ms = 500;
  RecordingOutbox out;
  auto s = LiveSession::Start(kSid, true, doc_, Started(), config_, &out, 0);
  ASSERT_OK(s);
  LiveSession& l = **s;
  l.Touch(0);
  EXPECT_FALSE(l.IsIdle(1000, kT0, policy, true));  // the delayed tick is pending
  policy.sleep_min_ms = 50;                          // ... unless it is far enough off to sleep
  EXPECT_TRUE(l.IsIdle(1000, kT0, policy, true));     // due at kT0 + 50 ms
  EXPECT_FALSE(l.IsIdle(1000, kT0 + 1, policy, true));
  policy.sleep_min_ms = 0;
  l.Apply(Clock(2, kT0 + 100));               // it fired
  l.Touch(100);
  EXPECT_FALSE(l.IsIdle(599, kT0, policy, true));
  EXPECT_TRUE(l.IsIdle(600, kT0, policy, true));
  EXPECT_FALSE(l.IsIdle(600, kT0, policy, false));
  l.sends_in_flight()->fetch_add(1);
  EXPECT_FALSE(l.IsIdle(600, kT0, policy, true));
  l.sends_in_flight()->fetch_sub(1);
  policy.deactivate_idle_ms = 0;  // never
  EXPECT_FALSE(l.IsIdle(1'000'000, kT0, policy, true));
}

TEST_F(LiveSessionTest, InMemorySessionsNumberTheirEffectsWithoutSeqs) {
  RecordingOutbox out;
  auto s = LiveSession::Start(kSid, false, doc_, Started(), config_, &out, 0);
  ASSERT_OK(s);
  (*s)->Apply(Event(0, kT0 + 1, "ev", 1));
  (*s)->Apply(Event(0, kT0 + 2, "ev", 2));
  EXPECT_THAT(out.sends, ElementsAre(absl::StrCat("hello ", kSid, "/m1"), absl::StrCat("again ", kSid, "/m2"),
                                     absl::StrCat("hello ", kSid, "/m3"), absl::StrCat("again ", kSid, "/m4")));
}

TEST_F(LiveSessionTest, NeitherSnapshotNorFirstEntryIsDataLoss) {
  RecordingOutbox out;
  EXPECT_THAT(LiveSession::Restore(kSid, doc_, nullptr, {Event(2, kT0, "ev", 1)}, config_, &out, 0),
              testing::StatusIs(absl::StatusCode::kDataLoss));
}

}  // namespace
}  // namespace orch::session_engine
