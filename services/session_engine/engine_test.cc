// The engine's logic on an in-memory store (FakeSessionStore) and a
// SimulatedClock: exact replay (Date, Math.random, timers) after a crash with
// and without snapshots, effect-id de-duplication across a crash, fencing
// when the lease is lost, a store outage, snapshot and deactivation policy,
// and a slow BasicHTTP peer that must not hold up the other sessions of its
// worker. Time moves only when a test advances it; waits are for conditions,
// bounded. The same behaviours with the real proxy and Redis: tests/session,
// tests/fault.

#include "services/session_engine/engine.h"

#include <atomic>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/sessionapi/session_id.h"
#include "common/testing/eventually.h"
#include "common/testing/net.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "common/time/simulated_clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "services/session_engine/fake_session_store.h"

namespace orch::session_engine {
namespace {

namespace sv1 = orch::session::v1;
using ::orch::testing::StatusIs;
using ::testing::HasSubstr;

// Waits for a condition of the engine's threads (bounded); 10 ms apart.
bool Eventually(const std::function<bool()>& pred, absl::Duration limit = absl::Seconds(10)) {
  return testing::Eventually(pred, limit, absl::Milliseconds(10));
}

constexpr char kChart[] = R"XML(<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    datamodel="ecmascript" initial="s" _persist="true">
  <datamodel><data id="trace" expr="[]"/><data id="n" expr="0"/></datamodel>
  <state id="s">
    <onentry><send event="tick" delay="50ms"/></onentry>
    <transition event="ev">
      <assign location="n" expr="n + 1"/>
      <script>trace.push([_event.data.k, Date.now() % 100000, Math.floor(Math.random() * 1e9)]);</script>
    </transition>
    <transition event="tick" cond="n &lt; 1000">
      <script>trace.push(['tick', Date.now() % 100000]);</script>
    </transition>
  </state>
</scxml>)XML";

class EngineTest : public ::testing::Test {
 protected:
  static EngineOptions TestOptions() {
    EngineOptions o;
    o.worker_threads = 2;
    return o;
  }

  std::unique_ptr<Engine> NewEngine(EngineOptions o = TestOptions(), CallActions* actions = nullptr,
                                    bool wait_serving = true) {
    o.instance_id = absl::StrCat("test-", ++instances_);
    o.endpoint = "127.0.0.1:1";
    o.lease_ttl_ms = 60000;   // simulated ms: it runs out only when a test says so
    o.lease_renew_ms = 1000;
    EngineDeps deps;
    deps.clock = &clock_;
    deps.call_actions = actions;
    deps.timers = timers_;
    auto e = Engine::Create(o, &store_, nullptr, deps);
    EXPECT_OK(e);
    (*e)->Start([](bool) {});
    if (wait_serving) EXPECT_TRUE(Eventually([&] { return (*e)->serving(); }));
    return *std::move(e);
  }

  std::string Start(Engine& e, const std::string& chart = kChart) {
    sv1::StartSessionRequest req;
    req.set_url("file://" + dir_.WriteFile(absl::StrCat("chart", ++charts_, ".scxml"), chart));
    auto r = e.StartSession(req);
    EXPECT_OK(r);
    return r.ok() ? r->session_id() : "";
  }

  // Event "ev" with data {k}.
  static sv1::SendEventRequest EventRequest(const std::string& sid, int k, const std::string& effect = "") {
    sv1::SendEventRequest req;
    req.set_session_id(sid);
    req.mutable_event()->set_name("ev");
    (*req.mutable_event()->mutable_data()->mutable_struct_value()->mutable_fields())["k"].set_number_value(k);
    req.mutable_event()->set_effect_id(effect);
    return req;
  }

  static absl::Status Send(Engine& e, const std::string& sid, int k, const std::string& effect = "") {
    return e.SendEvent(EventRequest(sid, k, effect)).status();
  }

  static std::string Trace(Engine& e, const std::string& sid) {
    sv1::QuerySessionRequest req;
    req.set_session_id(sid);
    req.add_data_names("trace");
    auto r = e.QuerySession(req);
    if (!r.ok()) return std::string(r.status().message());
    std::string json;
    (void)google::protobuf::util::MessageToJsonString(r->data().at("trace"), &json);
    return json;
  }

  // The engine `e` dies: no snapshot, the lease not released (the fake
  // expires it at once, as the TTL would).
  void Crash(std::unique_ptr<Engine>& e) {
    e->StopAsIfCrashed();
    e.reset();
    store_.ExpireLease("node:1");
  }

  time::SimulatedClock clock_;
  FakeSessionStore store_{&clock_};
  testing::TempDir dir_;
  int instances_ = 0;
  int charts_ = 0;
  SessionTimers* timers_ = nullptr;   // deps.timers of the next NewEngine
};

// Live run, then a "crash" (no snapshot at stop), then a new engine on the
// same store: what it rebuilds from the log is exactly the live state —
// the recorded clock and the seeded PRNG, timers at their moments.
TEST_F(EngineTest, ReplayAfterACrashRebuildsExactlyTheLiveState) {
  for (uint32_t every : {1000000u, 3u}) {
    SCOPED_TRACE(absl::StrCat("snapshot every ", every, " entries"));
    EngineOptions o = TestOptions();
    o.policy.snapshot_every_entries = every;
    o.policy.snapshot_every_ms = every == 3 ? 1 : 3600000;
    auto live = NewEngine(o);
    const std::string sid = Start(*live);
    for (int k = 0; k < 20; ++k) {
      ASSERT_OK(Send(*live, sid, k));
      if (k % 5 == 0) clock_.AdvanceMs(30);  // the timer fires in between
    }
    ASSERT_TRUE(Eventually([&] { return absl::StrContains(Trace(*live, sid), "tick"); }));
    const std::string before = Trace(*live, sid);
    Crash(live);
    if (every == 3) {
      EXPECT_LT(store_.LogSize(sid), 20u);  // trimmed after snapshots
    }

    auto recovered = NewEngine(o);
    EXPECT_EQ(Trace(*recovered, sid), before);
    // And it goes on from there.
    ASSERT_OK(Send(*recovered, sid, 99));
    EXPECT_THAT(Trace(*recovered, sid), ::testing::HasSubstr("[99,"));
    Crash(recovered);
  }
}

TEST_F(EngineTest, AnEffectIdIsDeliveredOnceEvenAcrossACrash) {
  auto e = NewEngine();
  const std::string sid = Start(*e);
  ASSERT_OK(Send(*e, sid, 1, "peer/7/0"));
  ASSERT_OK(Send(*e, sid, 1, "peer/7/0"));
  const size_t appends = store_.Appends();
  Crash(e);
  auto again = NewEngine();
  ASSERT_OK(Send(*again, sid, 1, "peer/7/0"));  // the retry of a replayed sender
  ASSERT_OK(Send(*again, sid, 2, "peer/7/1"));
  const std::string trace = Trace(*again, sid);
  auto count = [&](const std::string& what) {
    size_t n = 0;
    for (size_t at = trace.find(what); at != std::string::npos; at = trace.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("[1,"), 1u) << trace;
  EXPECT_EQ(count("[2,"), 1u) << trace;
  EXPECT_GT(store_.Appends(), appends);
  again->StopAsIfCrashed();
}

// The engine died after logging a terminate and before deleting the
// session: recovery replays the terminate and finishes the deletion.
TEST_F(EngineTest, ATerminateLoggedBeforeACrashIsCompletedByRecovery) {
  auto e = NewEngine();
  const std::string sid = Start(*e);
  ASSERT_OK(Send(*e, sid, 1));
  Crash(e);
  auto loaded = store_.Load(sid);
  ASSERT_OK(loaded);
  orch::event::v1::LogEntry end;
  end.set_seq(loaded->last_seq + 1);
  end.mutable_terminated()->set_reason("test");
  ASSERT_OK(store_.Append(sid, loaded->epoch, 1, loaded->document_sha256, {end}).status());
  auto again = NewEngine();
  EXPECT_TRUE(Eventually([&] { return !store_.HasSession(sid); }));
  EXPECT_THAT(Send(*again, sid, 2), StatusIs(absl::StatusCode::kNotFound));
  again->StopAsIfCrashed();
}

TEST_F(EngineTest, LosingTheLeaseStopsServingAtOnce) {
  auto e = NewEngine();
  const std::string sid = Start(*e);
  ASSERT_OK(Send(*e, sid, 1));
  // Another instance takes the node over.
  store_.ExpireLease("node:1");
  auto other = store_.AcquireLease("node:1", "someone-else", "127.0.0.1:2", 60000);
  ASSERT_OK(other);
  ASSERT_TRUE(other->acquired);
  clock_.AdvanceMs(1000);  // the next renewal is refused
  ASSERT_TRUE(Eventually([&] { return !e->serving(); }));
  EXPECT_THAT(Send(*e, sid, 2), StatusIs(absl::StatusCode::kUnavailable, ::testing::HasSubstr("127.0.0.1:2")));
  e->StopAsIfCrashed();
}

TEST_F(EngineTest, AStoreOutageRefusesPersistentInputsButInMemorySessionsRun) {
  auto e = NewEngine();
  const std::string durable = Start(*e);
  std::string chart = kChart;
  chart.replace(chart.find("_persist=\"true\""), 15, "_persist=\"false\"");
  const std::string volatile_sid = Start(*e, chart);
  const size_t appends = store_.Appends();
  ASSERT_OK(Send(*e, volatile_sid, 1));
  EXPECT_EQ(store_.Appends(), appends);  // in-memory sessions never touch the store
  store_.SetUnavailable(true);
  EXPECT_THAT(Send(*e, durable, 1), StatusIs(absl::StatusCode::kUnavailable));
  clock_.AdvanceMs(60000);  // beyond the lease's lifetime: no write may happen now
  EXPECT_OK(Send(*e, volatile_sid, 2));
  EXPECT_THAT(Trace(*e, volatile_sid), ::testing::HasSubstr("[2,"));
  store_.SetUnavailable(false);
  // The next renewal (due in simulated time) makes it writable again.
  EXPECT_TRUE(Eventually([&] {
    clock_.AdvanceMs(200);
    return Send(*e, durable, 3).ok();
  }));
  // A lease re-acquired with a new epoch lists the calls to restart again;
  // until that is done every session answers UNAVAILABLE.
  ASSERT_TRUE(Eventually([&] { return e->serving(); }));
  EXPECT_THAT(Trace(*e, durable), ::testing::HasSubstr("[3,"));
  EXPECT_THAT(Trace(*e, durable), ::testing::Not(::testing::HasSubstr("[1,")));
  e->StopAsIfCrashed();
}

// SendEvent's asynchronous path: while a session's append is in flight its
// lock is free, yet every other writer of the session waits for the answer,
// so a duplicate effect id sent meanwhile is recognised, not appended again.
TEST_F(EngineTest, AnAsyncAppendInFlightHoldsNoLockAndOtherWritersWaitForIt) {
  auto e = NewEngine();
  const std::string sid = Start(*e);
  store_.HoldAsyncAppends(true);
  const sv1::SendEventRequest req = EventRequest(sid, 1, "effect-1");
  absl::Notification answered;
  absl::StatusOr<sv1::SendEventResponse> first;
  e->SendEventAsync(req, [&](absl::StatusOr<sv1::SendEventResponse> r) {
    first = std::move(r);
    answered.Notify();
  });
  ASSERT_EQ(store_.HeldAsyncAppends(), 1u);
  EXPECT_FALSE(answered.HasBeenNotified());
  std::atomic<bool> second_done{false};
  absl::StatusOr<sv1::SendEventResponse> second;
  std::thread again([&] {
    second = e->SendEvent(req);  // the same effect id, synchronously
    second_done = true;
  });
  // Real time for the second call to reach the session: had it not waited
  // for the first append, it would have appended a second entry by now.
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_FALSE(second_done.load());
  EXPECT_EQ(store_.LogSize(sid), 1u);
  store_.HoldAsyncAppends(false);
  again.join();
  ASSERT_TRUE(answered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_OK(first);
  EXPECT_FALSE(first->duplicate());
  EXPECT_EQ(first->seq(), 2u);  // after the started entry
  ASSERT_OK(second);
  EXPECT_TRUE(second->duplicate());
  EXPECT_EQ(store_.LogSize(sid), 2u);
  const std::string trace = Trace(*e, sid);
  EXPECT_EQ(trace.find("[1,"), trace.rfind("[1,")) << trace;  // applied once
  e->StopAsIfCrashed();
}

TEST_F(EngineTest, AFailedAsyncAppendIsUnavailableAndTheSessionIsReadAgainFromItsLog) {
  auto e = NewEngine();
  const std::string sid = Start(*e);
  ASSERT_OK(Send(*e, sid, 1));
  store_.HoldAsyncAppends(true);
  const sv1::SendEventRequest req = EventRequest(sid, 2);
  absl::Notification answered;
  absl::StatusOr<sv1::SendEventResponse> got;
  e->SendEventAsync(req, [&](absl::StatusOr<sv1::SendEventResponse> r) {
    got = std::move(r);
    answered.Notify();
  });
  store_.SetUnavailable(true);
  store_.HoldAsyncAppends(false);  // the append fails
  ASSERT_TRUE(answered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_THAT(got, StatusIs(absl::StatusCode::kUnavailable));
  store_.SetUnavailable(false);
  ASSERT_OK(Send(*e, sid, 3));  // re-read from the log: 1 and 3, never 2
  const std::string trace = Trace(*e, sid);
  EXPECT_THAT(trace, ::testing::HasSubstr("[1,"));
  EXPECT_THAT(trace, ::testing::HasSubstr("[3,"));
  EXPECT_THAT(trace, ::testing::Not(::testing::HasSubstr("[2,")));
  e->StopAsIfCrashed();
}

std::string Data(Engine& e, const std::string& sid, const std::string& name) {
  sv1::QuerySessionRequest req;
  req.set_session_id(sid);
  req.add_data_names(name);
  auto r = e.QuerySession(req);
  if (!r.ok()) return std::string(r.status().message());
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(r->data().at(name), &json);
  return json;
}

// Records the module actions handed over.
class RecordingCallActions final : public CallActions {
 public:
  void Submit(const std::string& watcher, orch::calls::v1::SubmitActionRequest request,
              std::function<void(absl::Status)> done) override {
    {
      absl::MutexLock l(&mu);
      submitted.push_back(absl::StrCat(watcher, " ", request.effect_id(), " ", request.request_id(), " ",
                                       request.interaction_id(), " ", request.action()));
    }
    done(absl::OkStatus());
  }
  std::vector<std::string> Submitted() {
    absl::MutexLock l(&mu);
    return submitted;
  }
  absl::Mutex mu;
  std::vector<std::string> submitted ABSL_GUARDED_BY(mu);
};

constexpr char kCallChart[] = R"XML(<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    xmlns:ixn="http://www.genesyslab.com/modules/interaction" datamodel="ecmascript" initial="s" _persist="true">
  <datamodel><data id="r"/><data id="tenant" expr="_genesys.session.tenant"/></datamodel>
  <state id="s">
    <transition event="ev"><ixn:redirect requestid="r" to="'7001'"/></transition>
  </state>
</scxml>)XML";

// A session started for an interaction keeps its binding in its log and
// its snapshots: its actions go to the binding's call-watcher, and after a
// crash the replay re-issues them with the same effect and request ids
// (call-watcher acts on an effect id once).
TEST_F(EngineTest, ASessionsInteractionSurvivesACrashAndItsActionsAreReissuedIdentically) {
  RecordingCallActions first;
  auto e = NewEngine(TestOptions(), &first);
  sv1::StartSessionRequest req;
  req.set_url("file://" + dir_.WriteFile("call.scxml", kCallChart));
  auto* b = req.mutable_interaction();
  b->set_interaction_id("call-1");
  b->set_watcher("127.0.0.1:7104");
  b->set_tenant("acme");
  auto started = e->StartSession(req);
  ASSERT_OK(started);
  EXPECT_TRUE(started->persistent());
  const std::string sid = started->session_id();
  EXPECT_EQ(Data(*e, sid, "tenant"), "\"acme\"");
  ASSERT_OK(Send(*e, sid, 1));
  ASSERT_TRUE(Eventually([&] { return first.Submitted().size() == 1; }));
  const std::string action = first.Submitted()[0];
  EXPECT_EQ(action, absl::StrCat("127.0.0.1:7104 ", sid, "/2/0 ", sid, ".req1 call-1 redirect"));
  Crash(e);

  RecordingCallActions second;
  auto again = NewEngine(TestOptions(), &second);
  ASSERT_OK(Send(*again, sid, 2));  // activates it: entry 2 is replayed, then entry 3 applied
  ASSERT_TRUE(Eventually([&] { return second.Submitted().size() == 2; }));
  EXPECT_EQ(second.Submitted()[0], action);
  EXPECT_EQ(second.Submitted()[1], absl::StrCat("127.0.0.1:7104 ", sid, "/3/0 ", sid, ".req2 call-1 redirect"));
  again->StopAsIfCrashed();
}

// PERSISTENCE_OFF runs a `_persist="true"` document in memory only.
TEST_F(EngineTest, PersistenceOffKeepsASessionOutOfTheStore) {
  auto e = NewEngine();
  sv1::StartSessionRequest req;
  req.set_url("file://" + dir_.WriteFile("off.scxml", kChart));
  req.set_persistence(sv1::PERSISTENCE_OFF);
  auto started = e->StartSession(req);
  ASSERT_OK(started);
  EXPECT_FALSE(started->persistent());
  ASSERT_OK(Send(*e, started->session_id(), 1));
  EXPECT_FALSE(store_.HasSession(started->session_id()));
  e->Stop();
}

constexpr char kQuietChart[] = R"XML(<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    datamodel="ecmascript" initial="s" _persist="true">
  <datamodel><data id="n" expr="0"/></datamodel>
  <state id="s">
    <transition event="ev"><assign location="n" expr="n + 1"/></transition>
    <transition event="go">
      <send type="http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor" targetexpr="_event.data.url" event="post"/>
    </transition>
    <transition event="error.communication"><assign location="n" expr="n + 1000"/></transition>
  </state>
</scxml>)XML";


// A persistent session left alone: after snapshot-every-ms it is
// snapshotted (its log trimmed), after deactivate-idle-ms it leaves memory
// with a deactivation snapshot, and the next event brings it back with its
// state — all on simulated time.
TEST_F(EngineTest, AQuietSessionIsSnapshottedThenDeactivatedThenReactivatedByItsNextEvent) {
  EngineOptions o = TestOptions();
  o.policy.snapshot_every_entries = 1000;
  o.policy.snapshot_every_ms = 5000;
  o.policy.deactivate_idle_ms = 20000;
  auto e = NewEngine(o);
  const std::string sid = Start(*e, kQuietChart);
  ASSERT_OK(Send(*e, sid, 1));
  ASSERT_OK(Send(*e, sid, 2));
  EXPECT_EQ(store_.LogSize(sid), 3u);  // started + 2 events, no snapshot yet
  clock_.AdvanceMs(5000);
  ASSERT_TRUE(Eventually([&] { return store_.LogSize(sid) == 0; }));  // snapshotted, trimmed
  EXPECT_TRUE(store_.HasSession(sid));
  clock_.AdvanceMs(20000);
  ASSERT_TRUE(Eventually([&] {
    auto loaded = store_.Load(sid);
    return loaded.ok() && loaded->state == "deactivated";
  }));
  ASSERT_OK(Send(*e, sid, 3));  // reactivates it
  EXPECT_EQ(Data(*e, sid, "n"), "3");
  auto loaded = store_.Load(sid);
  ASSERT_OK(loaded);
  EXPECT_EQ(loaded->state, "active");
  e->Stop();
}

// Wake timers asked for, by session; answers `status`.
class RecordingTimers final : public SessionTimers {
 public:
  absl::Status ScheduleWake(const std::string& session_id, int64_t due_unix_ms) override {
    absl::MutexLock l(&mu);
    ++calls;
    if (status.ok()) due[session_id] = due_unix_ms;
    return status;
  }
  absl::Status ScheduleMaxAge(const std::string& session_id, int64_t age_ms, int64_t ends_unix_ms,
                              int64_t grace_ms) override {
    absl::MutexLock l(&mu);
    ends[session_id] = {age_ms, ends_unix_ms, grace_ms};
    return absl::OkStatus();
  }
  absl::Mutex mu;
  absl::Status status;
  int calls = 0;
  std::map<std::string, int64_t> due;
  std::map<std::string, std::tuple<int64_t, int64_t, int64_t>> ends;
};

constexpr char kSleepyChart[] = R"XML(<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    datamodel="ecmascript" initial="s" _persist="true">
  <datamodel><data id="n" expr="0"/></datamodel>
  <state id="s">
    <onentry><send event="later" delay="3600s"/></onentry>
    <transition event="later" target="woken"/>
    <transition event="ev"><assign location="n" expr="n + 1"/></transition>
  </state>
  <state id="woken"/>
</scxml>)XML";

// A session whose only pending work is an hour-long delayed send leaves
// memory once its wake timer is stored (never before: a refused wake keeps
// it in memory), and WakeSession brings it back so that the send fires at
// its original due time.
TEST_F(EngineTest, ASessionWithALongDelayedSendSleepsAfterStoringItsWakeAndWakesForIt) {
  RecordingTimers wakes;
  wakes.status = absl::UnavailableError("scheduler down");
  timers_ = &wakes;
  EngineOptions o = TestOptions();
  o.policy.deactivate_idle_ms = 20000;
  o.policy.sleep_min_ms = 60000;
  auto e = NewEngine(o);
  const int64_t started = clock_.NowMs();
  const std::string sid = Start(*e, kSleepyChart);
  ASSERT_OK(Send(*e, sid, 1));
  clock_.AdvanceMs(21000);
  ASSERT_TRUE(Eventually([&] {
    absl::MutexLock l(&wakes.mu);
    return wakes.calls >= 1;
  }));
  auto loaded = store_.Load(sid);
  ASSERT_OK(loaded);
  EXPECT_NE(loaded->state, "deactivated");   // the wake was refused: it stays
  {
    absl::MutexLock l(&wakes.mu);
    wakes.status = absl::OkStatus();
  }
  clock_.AdvanceMs(1000);   // within the 10 s back-off: not asked again yet
  {
    absl::MutexLock l(&wakes.mu);
    EXPECT_EQ(wakes.calls, 1);
  }
  clock_.AdvanceMs(10000);
  ASSERT_TRUE(Eventually([&] {
    auto l = store_.Load(sid);
    return l.ok() && l->state == "deactivated";
  }));
  {
    absl::MutexLock l(&wakes.mu);
    ASSERT_EQ(wakes.due.count(sid), 1u);
    EXPECT_EQ(wakes.due[sid], started + 3600000);
  }
  EXPECT_EQ(WakeTimerId(sid), "wake:" + sid);
  // The scheduler's wake, a little before the send is due. Time goes by in
  // steps shorter than the lease's TTL, each waiting for the renewal, so
  // the engine stays primary throughout (a jump of an hour would let its
  // lease run out and make it take its own node over again).
  int64_t left = 3600000 - 32000 - 5;
  while (left > 0) {
    const int64_t step = std::min<int64_t>(left, 30000);
    clock_.AdvanceMs(step);
    left -= step;
    ASSERT_TRUE(Eventually([&] {
      auto lease = store_.GetLease("node:1");
      return lease.ok() && lease->remaining_ms > 45000;
    }));
  }
  sv1::WakeSessionRequest wake;
  wake.set_session_id(sid);
  auto woke = e->WakeSession(wake);
  ASSERT_OK(woke);
  EXPECT_TRUE(woke->activated());
  EXPECT_EQ(Data(*e, sid, "n"), "1");
  sv1::QuerySessionRequest q;
  q.set_session_id(sid);
  EXPECT_EQ(e->QuerySession(q)->active_states(0), "s");
  clock_.AdvanceMs(10);
  ASSERT_TRUE(Eventually([&] {
    auto r = e->QuerySession(q);
    return r.ok() && r->active_states_size() == 1 && r->active_states(0) == "woken";
  }));
  // A wake of a session in memory changes nothing.
  auto again = e->WakeSession(wake);
  ASSERT_OK(again);
  EXPECT_FALSE(again->activated());
  e->Stop();
}

// A maximum session age (the engine's, or the document's) schedules the
// session's end when it starts; a bad _maxSessionAge does not compile.
TEST_F(EngineTest, AMaximumSessionAgeSchedulesTheSessionsEndAtItsStart) {
  RecordingTimers timers;
  timers_ = &timers;
  EngineOptions o = TestOptions();
  o.max_session_age_ms = 3600000;
  o.max_session_age_grace_ms = 7000;
  auto e = NewEngine(o);
  const int64_t now = clock_.NowMs();
  const std::string a = Start(*e, kQuietChart);
  std::string doc = kQuietChart;
  doc.replace(doc.find("_persist=\"true\""), 0, "_maxSessionAge=\"90s\" ");
  const std::string b = Start(*e, doc);
  {
    absl::MutexLock l(&timers.mu);
    ASSERT_EQ(timers.ends.count(a), 1u);
    EXPECT_EQ(timers.ends[a], std::make_tuple(int64_t{3600000}, now + 3600000, int64_t{7000}));
    ASSERT_EQ(timers.ends.count(b), 1u);
    EXPECT_EQ(std::get<0>(timers.ends[b]), 90000);
  }
  EXPECT_EQ(MaxAgeTimerId(a), "maxage:" + a);
  EXPECT_EQ(EndTimerId(a), "end:" + a);
  doc = kQuietChart;
  doc.replace(doc.find("_persist=\"true\""), 0, "_maxSessionAge=\"soon\" ");
  sv1::StartSessionRequest req;
  req.set_url("file://" + dir_.WriteFile("bad-age.scxml", doc));
  EXPECT_THAT(e->StartSession(req), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("_maxSessionAge")));
  e->Stop();
}

// A BasicHTTP peer that accepts the connection and never answers (curl
// waits 10 s for it) must not hold up other sessions pinned to the same
// worker: their events are applied and queried while the send is pending.
TEST_F(EngineTest, ABasicHttpSendToASlowPeerDoesNotDelayOtherSessionsOnItsWorker) {
  testing::HeldPort silent;  // listens, never accepts
  EngineOptions o = TestOptions();
  o.worker_threads = 1;
  auto engine = NewEngine(o);
  const std::string sender = Start(*engine, kQuietChart);
  const std::string other = Start(*engine, kQuietChart);
  sv1::SendEventRequest go;
  go.set_session_id(sender);
  go.mutable_event()->set_name("go");
  (*go.mutable_event()->mutable_data()->mutable_struct_value()->mutable_fields())["url"].set_string_value(
      absl::StrCat("http://", silent.address(), "/scxml"));
  ASSERT_OK(engine->SendEvent(go).status());
  EXPECT_EQ(Data(*engine, sender, "n"), "0");
  const absl::Time t0 = absl::Now();
  for (int k = 0; k < 5; ++k) ASSERT_OK(Send(*engine, other, k));
  EXPECT_EQ(Data(*engine, other, "n"), "5");
  const absl::Duration took = absl::Now() - t0;
  // The worker was blocked for the whole 10 s curl timeout before the HTTP
  // send left the workers; now it takes milliseconds. 5 s separates the two
  // on the slowest machine we run on.
  EXPECT_LT(took, absl::Seconds(5)) << "other sessions waited for the HTTP send";
  // The send fails at curl's timeout and comes back as error.communication.
  EXPECT_TRUE(Eventually([&] { return Data(*engine, sender, "n") == "1000"; }, absl::Seconds(30)));
  engine->Stop();
}

// ---- calls: one owner (BindCall) and restart without persistence ----------

// Records every event's name and data.
constexpr char kTraceChart[] = R"XML(<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    datamodel="ecmascript" initial="s">
  <datamodel><data id="trace" expr="[]"/></datamodel>
  <state id="s">
    <transition event="*"><script>trace.push([_event.name, _event.data]);</script></transition>
  </state>
</scxml>)XML";

class EngineCallTest : public EngineTest {
 protected:
  // call-watcher's start of a call: keyed by the call, memory-only, bound.
  sv1::StartSessionRequest CallStart(const std::string& call) {
    sv1::StartSessionRequest req;
    req.set_url("file://" + dir_.WriteFile("trace.scxml", kTraceChart));
    req.set_idempotency_key("call:" + call);
    req.set_persistence(sv1::PERSISTENCE_OFF);
    req.mutable_interaction()->set_interaction_id(call);
    req.mutable_interaction()->set_bind(true);
    return req;
  }
  static std::string SessionOf(const std::string& call, int node = 1) {
    return sessionapi::SessionIdForKey(node, "call:" + call);
  }
  // call-watcher's claim; `owner` != 0: bound to that node already.
  void Claim(const std::string& call, int owner = 0, bool restart = false) {
    orch::persistence::v1::CallRecord r;
    r.set_call_uuid(call);
    r.set_assigned_node(1);
    r.set_restart_on_switchover(restart);
    CallStart(call).SerializeToString(r.mutable_start_request());
    ASSERT_TRUE(store_.ClaimCall(r));
    if (owner != 0) ASSERT_OK(store_.BindCall(call, owner, SessionOf(call, owner)).status());
  }
  void Record(const std::string& call, int k, const std::string& effect) {
    ASSERT_OK(store_.RecordCallEvent(call, EventRequest("", k, effect).event()));
  }
  static size_t InMemory(Engine& e) {
    sv1::ListSessionsRequest req;
    req.set_filter(sv1::ListSessionsRequest::FILTER_IN_MEMORY_ONLY);
    auto r = e.ListSessions(req);
    EXPECT_OK(r);
    return r.ok() ? r->session_ids_size() : 0;
  }
};

TEST_F(EngineCallTest, ABoundStartMakesThisNodeTheCallsOwner) {
  auto e = NewEngine();
  Claim("c1");
  auto started = e->StartSession(CallStart("c1"));
  ASSERT_OK(started);
  EXPECT_TRUE(started->created());
  EXPECT_EQ(started->session_id(), SessionOf("c1"));
  auto record = store_.GetCall("c1");
  ASSERT_OK(record);
  EXPECT_EQ(record->owner_node(), 1);
  EXPECT_EQ(record->session_id(), SessionOf("c1"));
  auto again = e->StartSession(CallStart("c1"));  // a retried start answers as before
  ASSERT_OK(again);
  EXPECT_FALSE(again->created());
  ASSERT_OK(Send(*e, started->session_id(), 1));
  EXPECT_THAT(Trace(*e, started->session_id()), ::testing::HasSubstr("[\"ev\",{\"k\":1}]"));
  e->Stop();
}

TEST_F(EngineCallTest, AStartOfACallOwnedByAnotherNodeIsRefusedAndCreatesNothing) {
  auto e = NewEngine();
  Claim("c2", /*owner=*/2);
  EXPECT_THAT(e->StartSession(CallStart("c2")),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::HasSubstr("call c2 is owned by node 2")));
  EXPECT_EQ(InMemory(*e), 0u);
  EXPECT_THAT(Send(*e, SessionOf("c2"), 1), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(store_.GetCall("c2")->owner_node(), 2);
  e->Stop();
}

TEST_F(EngineCallTest, AStartOfACallWithoutARecordIsRefused) {
  auto e = NewEngine();
  EXPECT_THAT(e->StartSession(CallStart("c3")),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::HasSubstr("call c3 has no record")));
  EXPECT_EQ(InMemory(*e), 0u);
  // Without bind (not a claimed call) the same start creates the session.
  sv1::StartSessionRequest unbound = CallStart("c3");
  unbound.mutable_interaction()->set_bind(false);
  ASSERT_OK(e->StartSession(unbound));
  EXPECT_EQ(InMemory(*e), 1u);
  e->Stop();
}

TEST_F(EngineCallTest, AStartThatCannotBindIsUnavailableAndCreatesNothing) {
  auto e = NewEngine();
  Claim("c4");
  store_.SetCallsUnavailable(true);
  EXPECT_THAT(e->StartSession(CallStart("c4")), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(InMemory(*e), 0u);
  EXPECT_EQ(store_.GetCall("c4")->owner_node(), 0);
  store_.SetCallsUnavailable(false);
  auto retried = e->StartSession(CallStart("c4"));  // call-watcher's retry
  ASSERT_OK(retried);
  EXPECT_TRUE(retried->created());
  EXPECT_EQ(store_.GetCall("c4")->owner_node(), 1);
  e->Stop();
}

// The node's memory-only call sessions were lost with its old primary: the
// new one starts the restartable ones again from their records, each with
// session.restart then the recorded events (each effect id once) before any
// new event; a call without the flag stays lost.
TEST_F(EngineCallTest, AfterATakeoverARestartableCallsSessionIsStartedAgainFromItsRecord) {
  Claim("c1", /*owner=*/1, /*restart=*/true);
  Record("c1", 1, "call/a/1");
  Record("c1", 2, "call/a/2");
  Record("c1", 1, "call/a/1");  // a record retried by call-watcher
  Record("c1", 3, "call/a/3");
  Claim("c2", /*owner=*/1, /*restart=*/false);
  Record("c2", 1, "call/a/9");
  auto e = NewEngine();
  const std::string sid = SessionOf("c1");
  // Queries are refused while the call is in the restart backlog.
  ASSERT_TRUE(Eventually([&] { return absl::StartsWith(Trace(*e, sid), "[["); }));
  EXPECT_EQ(Trace(*e, sid),
            "[[\"session.restart\",{\"interactionid\":\"c1\"}],[\"ev\",{\"k\":1}],[\"ev\",{\"k\":2}],"
            "[\"ev\",{\"k\":3}]]");
  // call-watcher re-delivers a recorded event: a duplicate.
  auto dup = e->SendEvent(EventRequest(sid, 2, "call/a/2"));
  ASSERT_OK(dup);
  EXPECT_TRUE(dup->duplicate());
  // A new event comes after the replay.
  auto fresh = e->SendEvent(EventRequest(sid, 4, "call/a/4"));
  ASSERT_OK(fresh);
  EXPECT_FALSE(fresh->duplicate());
  EXPECT_THAT(Trace(*e, sid), ::testing::EndsWith("[\"ev\",{\"k\":3}],[\"ev\",{\"k\":4}]]"));
  // call-watcher's retried start of the call finds the restarted session.
  auto start = e->StartSession(CallStart("c1"));
  ASSERT_OK(start);
  EXPECT_FALSE(start->created());
  EXPECT_FALSE(store_.HasSession(sid));  // memory-only
  // Not restartable: gone with the old primary.
  EXPECT_THAT(Send(*e, SessionOf("c2"), 5, "call/a/10"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(InMemory(*e), 1u);
  e->Stop();
}

// D6: every takeover restarts the backlog again from the records, which
// call-watcher keeps appending to (it records an event before delivering it).
TEST_F(EngineCallTest, ASecondTakeoverRestartsTheCallAgainWithEverythingRecorded) {
  Claim("c1", /*owner=*/1, /*restart=*/true);
  Record("c1", 1, "call/a/1");
  const std::string sid = SessionOf("c1");
  auto first = NewEngine();
  ASSERT_TRUE(Eventually([&] { return absl::StartsWith(Trace(*first, sid), "[["); }));
  Record("c1", 2, "call/a/2");
  ASSERT_OK(Send(*first, sid, 2, "call/a/2"));
  Crash(first);
  auto second = NewEngine();
  ASSERT_TRUE(Eventually([&] { return absl::StartsWith(Trace(*second, sid), "[["); }));
  EXPECT_EQ(Trace(*second, sid),
            "[[\"session.restart\",{\"interactionid\":\"c1\"}],[\"ev\",{\"k\":1}],[\"ev\",{\"k\":2}]]");
  auto dup = second->SendEvent(EventRequest(sid, 2, "call/a/2"));
  ASSERT_OK(dup);
  EXPECT_TRUE(dup->duplicate());
  second->Stop();
}

TEST_F(EngineCallTest, NothingIsServedUntilTheCallsToRestartAreListed) {
  Claim("c1", /*owner=*/1, /*restart=*/true);
  store_.SetCallsUnavailable(true);
  auto e = NewEngine(TestOptions(), nullptr, /*wait_serving=*/false);
  ASSERT_TRUE(Eventually([&] { return store_.GetLease("node:1").ok(); }));  // primary
  EXPECT_FALSE(e->serving());
  EXPECT_THAT(e->StartSession(CallStart("other")), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(Send(*e, SessionOf("c1"), 1), StatusIs(absl::StatusCode::kUnavailable));
  store_.SetCallsUnavailable(false);
  ASSERT_TRUE(Eventually([&] {
    clock_.AdvanceMs(100);
    return e->serving();
  }));
  ASSERT_TRUE(Eventually([&] { return absl::StartsWith(Trace(*e, SessionOf("c1")), "[[\"session.restart\""); }));
  e->Stop();
}

// A restart that cannot work (its start request is garbage) leaves the
// backlog: the session is then simply unknown.
TEST_F(EngineCallTest, ACallWhoseRestartFailsIsAnsweredNotFound) {
  orch::persistence::v1::CallRecord r;
  r.set_call_uuid("bad");
  r.set_restart_on_switchover(true);
  r.set_start_request("not a StartSessionRequest");
  ASSERT_TRUE(store_.ClaimCall(r));
  ASSERT_OK(store_.BindCall("bad", 1, SessionOf("bad")).status());
  auto e = NewEngine();
  ASSERT_TRUE(Eventually([&] {
    return Send(*e, SessionOf("bad"), 1).code() == absl::StatusCode::kNotFound;
  }));
  e->Stop();
}

// A call whose strategy no longer fetches after a takeover (the file is
// gone): its restart fails (logged, counted), its events are answered
// NOT_FOUND so call-watcher treats it as a call without a session (default
// route if not routed yet), and the node's other calls restart regardless.
TEST_F(EngineCallTest, ACallWhoseStrategyNoLongerFetchesIsAnsweredNotFoundAndTheOthersRestart) {
  orch::persistence::v1::CallRecord r;
  r.set_call_uuid("gone");
  r.set_assigned_node(1);
  r.set_restart_on_switchover(true);
  sv1::StartSessionRequest req = CallStart("gone");
  req.set_url("file://" + dir_.path() + "/removed.scxml");
  req.SerializeToString(r.mutable_start_request());
  ASSERT_TRUE(store_.ClaimCall(r));
  ASSERT_OK(store_.BindCall("gone", 1, SessionOf("gone")).status());
  Claim("fine", /*owner=*/1, /*restart=*/true);
  Record("fine", 1, "call/a/1");
  auto e = NewEngine();
  ASSERT_TRUE(Eventually([&] { return absl::StartsWith(Trace(*e, SessionOf("fine")), "[["); }));
  EXPECT_THAT(Trace(*e, SessionOf("fine")), ::testing::HasSubstr("session.restart"));
  EXPECT_THAT(Send(*e, SessionOf("gone"), 1, "call/a/2"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(InMemory(*e), 1u);
  e->Stop();
}

}  // namespace
}  // namespace orch::session_engine
