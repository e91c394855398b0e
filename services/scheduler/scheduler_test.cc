// Unit tests of the scheduler's parts on a FakeTimerStore and a
// SimulatedClock: the timer checks, membership (buckets shared, taken over
// when a replica's slot runs out) and the runner (claim ahead, fire at the
// due time, acknowledge, retry after the claim, terminal failures, cancel,
// reschedule, list). No process, no sleep.

#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/sessionapi/session_id.h"
#include "common/testing/status_matchers.h"
#include "common/time/simulated_clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "services/scheduler/fake_timer_store.h"
#include "services/scheduler/membership.h"
#include "services/scheduler/scheduler_metrics.h"
#include "services/scheduler/session_calls.h"
#include "services/scheduler/timer_runner.h"
#include "services/scheduler/timers.h"

namespace orch::scheduler {
namespace {

using ::google::protobuf::util::TimeUtil;
using ::orch::testing::IsOk;
using ::orch::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Code = absl::StatusCode;

// Answers every call at once with the status the test sets per kind, and
// records what was asked.
class FakeSessionCalls final : public SessionCalls {
 public:
  struct Call {
    std::string kind;   // "start", "event", "terminate", "wake"
    int node = 0;
    std::string session_id;
    std::string key;    // idempotency key or effect id
    std::string name;   // event name
    google::protobuf::Value data;
  };

  void Answer(const std::string& kind, absl::Status s) {
    absl::MutexLock l(&mu_);
    answers_[kind] = std::move(s);
  }
  std::vector<Call> calls() {
    absl::MutexLock l(&mu_);
    return calls_;
  }

  void StartSession(int node, sv1::StartSessionRequest req, Done<sv1::StartSessionResponse> done) override {
    const absl::Status s = Record({"start", node, "", req.idempotency_key(), req.url(), {}});
    if (!s.ok()) return done(s);
    sv1::StartSessionResponse r;
    r.set_session_id(sessionapi::SessionIdForKey(node, req.idempotency_key()));
    r.set_created(true);
    done(r);
  }
  void SendEvent(int node, sv1::SendEventRequest req, Done<sv1::SendEventResponse> done) override {
    const absl::Status s =
        Record({"event", node, req.session_id(), req.event().effect_id(), req.event().name(), req.event().data()});
    if (!s.ok()) return done(s);
    {
      absl::MutexLock l(&mu_);
      if (hold_) {
        held_.push_back(std::move(done));
        return;
      }
    }
    done(sv1::SendEventResponse());
  }
  // Events are answered only by Release() from now on.
  void Hold() {
    absl::MutexLock l(&mu_);
    hold_ = true;
  }
  void Release() {
    std::vector<Done<sv1::SendEventResponse>> held;
    {
      absl::MutexLock l(&mu_);
      held.swap(held_);
    }
    for (auto& d : held) d(sv1::SendEventResponse());
  }
  void TerminateSession(int node, sv1::TerminateSessionRequest req,
                        Done<sv1::TerminateSessionResponse> done) override {
    const absl::Status s = Record({"terminate", node, req.session_id(), "", req.reason(), {}});
    if (!s.ok()) return done(s);
    done(sv1::TerminateSessionResponse());
  }
  void WakeSession(int node, sv1::WakeSessionRequest req, Done<sv1::WakeSessionResponse> done) override {
    const absl::Status s = Record({"wake", node, req.session_id(), "", "", {}});
    if (!s.ok()) return done(s);
    done(sv1::WakeSessionResponse());
  }

 private:
  absl::Status Record(Call c) {
    absl::MutexLock l(&mu_);
    const std::string kind = c.kind;
    calls_.push_back(std::move(c));
    auto it = answers_.find(kind);
    return it == answers_.end() ? absl::OkStatus() : it->second;
  }

  absl::Mutex mu_;
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Done<sv1::SendEventResponse>> held_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Status> answers_ ABSL_GUARDED_BY(mu_);
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
};

const std::string kSession = sessionapi::SessionIdForKey(2, "s");
const std::string kOther = sessionapi::SessionIdForKey(3, "other");

// Any ms, also outside Timestamp's range (TimeUtil would abort).
google::protobuf::Timestamp At(int64_t ms) {
  google::protobuf::Timestamp t;
  t.set_seconds(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
  t.set_nanos(static_cast<int32_t>((ms - t.seconds() * 1000) * 1000000));
  return t;
}

sched::Timer Deliver(const std::string& id, int64_t due_ms, const std::string& session = kSession) {
  sched::Timer t;
  t.set_timer_id(id);
  *t.mutable_due_time() = At(due_ms);
  t.mutable_deliver_event()->set_session_id(session);
  t.mutable_deliver_event()->mutable_event()->set_name("reminder");
  return t;
}

// ----------------------------------------------------------------- timers

TEST(TimersTest, ChecksNameTheField) {
  const int64_t now = 1767225600000;
  EXPECT_THAT(ValidateTimer(Deliver("ok-1.a:b@c_d", now), {}), IsOk());
  EXPECT_THAT(ValidateTimer(Deliver("has space", now), {}),
              StatusIs(Code::kInvalidArgument, HasSubstr("timer.timer_id")));
  EXPECT_THAT(ValidateTimer(Deliver(std::string(129, 'a'), now), {}),
              StatusIs(Code::kInvalidArgument, HasSubstr("longer than 128")));
  EXPECT_THAT(ValidateTimer(Deliver("x", -1000), {}),
              StatusIs(Code::kInvalidArgument, HasSubstr("before 1970 or after 9999")));
  EXPECT_THAT(ValidateTimer(Deliver("x", kMaxDueMs + 1000), {}),
              StatusIs(Code::kInvalidArgument, HasSubstr("timer.due_time")));
  EXPECT_THAT(ValidateTimer(Deliver("x", now, "not-an-id"), {}),
              StatusIs(Code::kInvalidArgument, HasSubstr("timer.deliver_event.session_id")));
  sched::Timer none = Deliver("x", now);
  none.clear_deliver_event();
  EXPECT_THAT(ValidateTimer(none, {}), StatusIs(Code::kInvalidArgument, HasSubstr("one action is required")));
  sched::Timer nodue = Deliver("x", now);
  nodue.clear_due_time();
  EXPECT_THAT(ValidateTimer(nodue, {}), StatusIs(Code::kInvalidArgument, HasSubstr("timer.due_time: required")));
  sched::Timer start;
  *start.mutable_due_time() = TimeUtil::MillisecondsToTimestamp(now);
  start.mutable_start_session()->set_document_url("file:/x.scxml");
  start.mutable_start_session()->set_node(7);
  EXPECT_THAT(ValidateTimer(start, {1, 2}), StatusIs(Code::kInvalidArgument, HasSubstr("not among scheduler.nodes")));
  EXPECT_THAT(ValidateTimer(start, {7}), IsOk());
}

TEST(TimersTest, BucketsAreStableAndSpread) {
  std::set<int> seen;
  for (int i = 0; i < 200; ++i) {
    const int b = BucketOf(absl::StrCat("timer-", i), 16);
    ASSERT_GE(b, 0);
    ASSERT_LT(b, 16);
    seen.insert(b);
  }
  EXPECT_EQ(seen.size(), 16u);
  EXPECT_EQ(BucketOf("abc", 16), BucketOf("abc", 16));
  EXPECT_TRUE(PastDue(1000, 6000, 5000));
  EXPECT_FALSE(PastDue(1000, 5999, 5000));
}

// ------------------------------------------------------------- membership

TEST(MembershipTest, ReplicasShareTheBucketsAndTakeOverADeadOnesShare) {
  time::SimulatedClock clock;
  FakeTimerStore store(&clock);
  Membership a(&store, &clock, {.buckets = 16, .max_replicas = 4, .ttl_ms = 2000, .holder = "a"});
  Membership b(&store, &clock, {.buckets = 16, .max_replicas = 4, .ttl_ms = 2000, .holder = "b"});
  a.Tick();
  b.Tick();
  clock.AdvanceMs(600);   // a reads the slots again and sees b
  a.Tick();
  b.Tick();
  MembershipView va = a.Snapshot(), vb = b.Snapshot();
  EXPECT_EQ(va.slot, 0);
  EXPECT_EQ(vb.slot, 1);
  EXPECT_THAT(va.live_slots, ElementsAre(0, 1));
  EXPECT_THAT(vb.live_slots, ElementsAre(0, 1));
  std::set<int> all;
  for (int x : va.buckets) all.insert(x);
  for (int x : vb.buckets) EXPECT_TRUE(all.insert(x).second) << "bucket " << x << " owned twice";
  EXPECT_EQ(all.size(), 16u);
  EXPECT_FALSE(va.buckets.empty());
  EXPECT_FALSE(vb.buckets.empty());

  // b stops renewing (dies): within ttl + ttl/4 a owns every bucket.
  for (int i = 0; i < 6; ++i) {
    clock.AdvanceMs(500);
    a.Tick();
  }
  EXPECT_EQ(a.Snapshot().buckets.size(), 16u);
  EXPECT_THAT(a.Snapshot().live_slots, ElementsAre(0));

  // A replica that leaves cleanly gives its share up at once.
  Membership c(&store, &clock, {.buckets = 16, .max_replicas = 4, .ttl_ms = 2000, .holder = "c"});
  c.Tick();
  clock.AdvanceMs(600);
  a.Tick();
  c.Tick();
  EXPECT_LT(a.Snapshot().buckets.size(), 16u);
  c.Leave();
  clock.AdvanceMs(600);
  a.Tick();
  EXPECT_EQ(a.Snapshot().buckets.size(), 16u);
}

TEST(MembershipTest, AReplicaBeyondTheSlotsOwnsNothing) {
  time::SimulatedClock clock;
  FakeTimerStore store(&clock);
  Membership a(&store, &clock, {.buckets = 4, .max_replicas = 1, .ttl_ms = 2000, .holder = "a"});
  Membership b(&store, &clock, {.buckets = 4, .max_replicas = 1, .ttl_ms = 2000, .holder = "b"});
  a.Tick();
  b.Tick();
  EXPECT_EQ(b.Snapshot().slot, -1);
  EXPECT_TRUE(b.Snapshot().buckets.empty());
  EXPECT_EQ(a.Snapshot().buckets.size(), 4u);
}

// ----------------------------------------------------------------- runner

class RunnerTest : public ::testing::Test {
 protected:
  RunnerTest()
      : store_(&clock_),
        membership_(&store_, &clock_, {.buckets = 4, .max_replicas = 2, .ttl_ms = 2000, .holder = "me"}),
        metrics_(nullptr, "orch_scheduler"),
        runner_(RunnerOptions{.buckets = 4,
                              .claim_timeout_ms = 3000,
                              .horizon_ms = 500,
                              .poll_interval_ms = 100,
                              .nodes = {2, 3},
                              .max_in_flight = 2},
                &store_, &membership_, &calls_, &clock_, &metrics_) {}

  int64_t now() const { return clock_.NowMs(); }
  // Time passes as the threads would see it: a poll, then what is due fires
  // and is acknowledged.
  void Step(int64_t ms) {
    clock_.AdvanceMs(ms);
    runner_.PollOnce();
    runner_.FireDue();
    runner_.DrainAcks();
  }
  std::vector<FakeSessionCalls::Call> Calls(const std::string& kind) {
    std::vector<FakeSessionCalls::Call> out;
    for (auto& c : calls_.calls()) {
      if (c.kind == kind) out.push_back(c);
    }
    return out;
  }

  time::SimulatedClock clock_;
  FakeTimerStore store_;
  Membership membership_;
  FakeSessionCalls calls_;
  SchedulerMetrics metrics_;
  TimerRunner runner_;
};

TEST_F(RunnerTest, FiresAtTheDueTimeOnceAndAcknowledges) {
  auto r = runner_.Schedule(Deliver("t1", now() + 10000));
  ASSERT_OK(r);
  EXPECT_EQ(r->timer_id(), "t1");
  EXPECT_FALSE(r->immediate());
  Step(9000);
  EXPECT_TRUE(Calls("event").empty());
  Step(600);   // within the horizon: claimed, held, not yet due
  EXPECT_TRUE(Calls("event").empty());
  EXPECT_EQ(store_.size(), 1u);
  Step(400);
  auto ev = Calls("event");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].node, 2);
  EXPECT_EQ(ev[0].session_id, kSession);
  EXPECT_EQ(ev[0].name, "reminder");
  EXPECT_EQ(ev[0].key, EffectId("t1", now()));
  EXPECT_EQ(store_.size(), 0u);
  Step(5000);
  EXPECT_EQ(Calls("event").size(), 1u);
}

TEST_F(RunnerTest, APastTimeIsStoredAndFiredAtOnce) {
  auto r = runner_.Schedule(Deliver("late", now() - 60000));
  ASSERT_OK(r);
  EXPECT_TRUE(r->immediate());
  EXPECT_EQ(store_.size(), 1u);   // stored before it fires
  runner_.FireDue();
  runner_.DrainAcks();
  EXPECT_EQ(Calls("event").size(), 1u);
  EXPECT_EQ(store_.size(), 0u);
}

TEST_F(RunnerTest, AnEngineThatIsDownIsTriedAgainAfterTheClaim) {
  calls_.Answer("event", absl::UnavailableError("node 2 has no primary"));
  ASSERT_OK(runner_.Schedule(Deliver("r", now() + 100)));
  Step(100);
  ASSERT_EQ(Calls("event").size(), 1u);
  EXPECT_EQ(store_.size(), 1u);   // not acknowledged
  Step(1000);
  EXPECT_EQ(Calls("event").size(), 1u);   // still under its claim
  calls_.Answer("event", absl::OkStatus());
  Step(1000);
  Step(1100);   // the claim (due + 3 s) has run out: claimed and fired again
  auto ev = Calls("event");
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].key, ev[1].key);   // one effect id: the engine applies it once
  EXPECT_EQ(store_.size(), 0u);
}

TEST_F(RunnerTest, AFailedStartIsRecordedAndToldToReplyTo) {
  calls_.Answer("start", absl::NotFoundError("file:/missing.scxml: no such file"));
  sched::Timer t;
  t.set_timer_id("s1");
  *t.mutable_due_time() = TimeUtil::MillisecondsToTimestamp(now() + 50);
  t.mutable_start_session()->set_document_url("file:/missing.scxml");
  t.set_reply_to(kOther);
  auto r = runner_.Schedule(t);
  ASSERT_OK(r);
  EXPECT_TRUE(r->node() == 2 || r->node() == 3);
  EXPECT_EQ(r->session_id(), sessionapi::SessionIdForKey(r->node(), StartKey("s1")));
  Step(50);
  ASSERT_EQ(Calls("start").size(), 1u);
  EXPECT_EQ(Calls("start")[0].key, "timer:s1");
  EXPECT_EQ(store_.size(), 0u);   // not retried for ever
  auto ev = Calls("event");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].session_id, kOther);
  EXPECT_EQ(ev[0].name, "error.session.start");
  EXPECT_EQ(ev[0].data.struct_value().fields().at("error").string_value(), "not_found");
  EXPECT_EQ(ev[0].data.struct_value().fields().at("sessionid").string_value(), r->session_id());
  Step(10000);
  EXPECT_EQ(Calls("start").size(), 1u);
}

TEST_F(RunnerTest, AStartThatWorksTellsReplyToItsSession) {
  sched::Timer t;
  t.set_timer_id("s2");
  *t.mutable_due_time() = TimeUtil::MillisecondsToTimestamp(now() + 50);
  t.mutable_start_session()->set_document_url("file:/ok.scxml");
  t.mutable_start_session()->set_node(3);
  t.set_reply_to(kOther);
  auto r = runner_.Schedule(t);
  ASSERT_OK(r);
  Step(50);
  auto ev = Calls("event");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].name, "session.start.done");
  EXPECT_EQ(ev[0].data.struct_value().fields().at("sessionid").string_value(), r->session_id());
}

TEST_F(RunnerTest, AGoneSessionIsDroppedAsDone) {
  calls_.Answer("event", absl::NotFoundError("no such session"));
  calls_.Answer("terminate", absl::NotFoundError("no such session"));
  ASSERT_OK(runner_.Schedule(Deliver("d", now() + 10)));
  sched::Timer t;
  t.set_timer_id("k");
  *t.mutable_due_time() = TimeUtil::MillisecondsToTimestamp(now() + 10);
  t.mutable_terminate_session()->set_session_id(kSession);
  ASSERT_OK(runner_.Schedule(t));
  Step(10);
  EXPECT_EQ(Calls("event").size(), 1u);
  EXPECT_EQ(Calls("terminate").size(), 1u);
  EXPECT_EQ(store_.size(), 0u);
}

TEST_F(RunnerTest, FiringsWaitWhileTooManyAreInFlight) {
  calls_.Hold();
  for (int i = 0; i < 5; ++i) ASSERT_OK(runner_.Schedule(Deliver(absl::StrCat("f", i), now() + 10)));
  Step(10);
  EXPECT_EQ(Calls("event").size(), 2u);   // max_in_flight
  runner_.FireDue();
  EXPECT_EQ(Calls("event").size(), 2u);
  calls_.Release();
  runner_.FireDue();
  EXPECT_EQ(Calls("event").size(), 4u);
  calls_.Release();
  runner_.FireDue();
  calls_.Release();
  runner_.DrainAcks();
  EXPECT_EQ(Calls("event").size(), 5u);
  EXPECT_EQ(store_.size(), 0u);
}

TEST_F(RunnerTest, AStoredTimerThatFailsTheChecksFailsForGood) {
  sched::Timer bad = Deliver("corrupt", now() + 10, "not-a-session-id");
  pv1::AddScheduleRequest req;
  req.mutable_entry()->set_bucket(BucketName(BucketOf("corrupt", 4)));
  req.mutable_entry()->set_id("corrupt");
  req.mutable_entry()->set_due_unix_ms(now() + 10);
  req.mutable_entry()->set_payload(bad.SerializeAsString());
  ASSERT_OK(store_.Add(req));
  Step(600);
  EXPECT_TRUE(calls_.calls().empty());
  EXPECT_EQ(store_.size(), 0u);   // acknowledged: not handed out again
}

TEST_F(RunnerTest, CancelAndReschedule) {
  ASSERT_OK(runner_.Schedule(Deliver("c", now() + 200)));   // held here already
  ASSERT_OK(runner_.Schedule(Deliver("m", now() + 5000)));
  auto cancelled = runner_.Cancel("c");
  ASSERT_OK(cancelled);
  EXPECT_TRUE(*cancelled);
  EXPECT_FALSE(*runner_.Cancel("c"));
  auto moved = runner_.Reschedule("m", now() + 1000);
  ASSERT_OK(moved);
  EXPECT_FALSE(moved->immediate());
  EXPECT_THAT(runner_.Reschedule("nope", now()), StatusIs(Code::kNotFound));
  auto st = runner_.Get("m");
  ASSERT_OK(st);
  EXPECT_EQ(TimeUtil::TimestampToMilliseconds(st->timer().due_time()), now() + 1000);
  EXPECT_EQ(st->timer().deliver_event().session_id(), kSession);
  Step(600);
  Step(400);
  auto ev = Calls("event");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].key, EffectId("m", now()));
  EXPECT_THAT(runner_.Get("m"), StatusIs(Code::kNotFound));
}

TEST_F(RunnerTest, AStoreThatIsDownRefusesNewTimers) {
  store_.SetDown(absl::UnavailableError("persistence-proxy: AddSchedule: connection refused"));
  EXPECT_THAT(runner_.Schedule(Deliver("x", now() + 100)), StatusIs(Code::kUnavailable));
  store_.SetDown(absl::OkStatus());
  EXPECT_EQ(store_.size(), 0u);
  EXPECT_THAT(runner_.Schedule(Deliver("x", now() + 100)), IsOk());
}

TEST_F(RunnerTest, ListsInDueOrderInPagesAndBySession) {
  for (int i = 0; i < 7; ++i) {
    ASSERT_OK(runner_.Schedule(Deliver(absl::StrCat("l", i), now() + 60000 + 1000 * (7 - i),
                                       i % 2 == 0 ? kSession : kOther)));
  }
  std::vector<std::string> seen;
  sched::ListTimersRequest req;
  req.set_page_size(3);
  for (int page = 0; page < 10; ++page) {
    auto r = runner_.List(req);
    ASSERT_OK(r);
    for (const auto& t : r->timers()) seen.push_back(t.timer().timer_id());
    if (r->next_page_token().empty()) break;
    req.set_page_token(r->next_page_token());
  }
  EXPECT_THAT(seen, ElementsAre("l6", "l5", "l4", "l3", "l2", "l1", "l0"));
  sched::ListTimersRequest by;
  by.set_session_id(kOther);
  auto r = runner_.List(by);
  ASSERT_OK(r);
  std::vector<std::string> ids;
  for (const auto& t : r->timers()) ids.push_back(t.timer().timer_id());
  EXPECT_THAT(ids, ElementsAre("l5", "l3", "l1"));
  sched::ListTimersRequest bad;
  bad.set_page_token("garbage");
  EXPECT_THAT(runner_.List(bad), StatusIs(Code::kInvalidArgument, HasSubstr("page_token")));
}

}  // namespace
}  // namespace orch::scheduler
