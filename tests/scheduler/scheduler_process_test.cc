// The scheduler as real processes: redis-server (standalone, and a
// six-process cluster), persistence-proxy, a session-engine (node 1) and
// one or two scheduler replicas on loopback. What the scheduler promises,
// end to end: a scheduled start fires at its time and makes the session
// whose id was answered; a past time fires at once and says so; reschedule
// and cancel; a terminate; a session deactivated with a delayed send is
// woken by the scheduler and the send fires at its due time; two replicas,
// one SIGKILLed while it holds claims: every timer fires, each effect once.

#include <algorithm>
#include <csignal>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc/channel.h"
#include "common/testing/eventually.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "orch/persistence/v1/persistence.grpc.pb.h"
#include "orch/scheduler/v1/scheduler.grpc.pb.h"
#include "orch/session/v1/sessions.grpc.pb.h"
#include "tests/persistence/proxy_backend.h"
#include "tests/stack/stack.h"

namespace orch::scheduler {
namespace {

namespace sched = ::orch::scheduler::v1;
namespace sv1 = ::orch::session::v1;
namespace pv1 = ::orch::persistence::v1;
using ::google::protobuf::util::TimeUtil;
using ::orch::testing::Eventually;
using ::orch::testing::Launch;
using ::orch::testing::Served;

const auto* const kBackends = ::testing::AddGlobalTestEnvironment(new testing::ProxyBackends);

std::unique_ptr<grpc::ClientContext> Ctx(int seconds = 10) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return ctx;
}

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

// Counts each "tick" by its data's id, and goes to "woken" on "later".
constexpr char kChart[] = R"XML(<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    datamodel="ecmascript" initial="s" _persist="true">
  <datamodel><data id="seen" expr="[]"/><data id="replies" expr="[]"/><data id="delay" _type="parameter" expr="''"/></datamodel>
  <state id="s">
    <onentry><if cond="delay != ''"><send event="later" delayexpr="delay"/></if></onentry>
    <transition event="tick"><script>seen.push(_event.data.i)</script></transition>
    <transition event="session.*"><script>replies.push(_event.name + ' ' + _event.data.sessionid)</script></transition>
    <transition event="error.*"><script>replies.push(_event.name + ' ' + _event.data.error)</script></transition>
    <transition event="later" target="woken"/>
  </state>
  <state id="woken">
    <transition event="tick"><script>seen.push(_event.data.i)</script></transition>
  </state>
</scxml>)XML";

class SchedulerProcessTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    auto b = testing::ProxyBackends::Get(GetParam());
    ASSERT_OK(b);
    backend_ = *b;
    chart_ = dir_.WriteFile("chart.scxml", kChart);
  }

  absl::StatusOr<Served> StartScheduler() {
    const std::string config = dir_.WriteFile(
        absl::StrCat("scheduler", ++configs_, ".toml"),
        absl::StrCat("[server]\ngrpc-listen = \"127.0.0.1:0\"\nshutdown-grace-ms = 500\n",
                     "[metrics]\nlisten = \"127.0.0.1:0\"\n[scheduler]\nproxy-endpoint = \"", backend_->proxy.grpc,
                     "\"\nnodes = [\"1\"]\nmember-ttl-ms = 1000\nclaim-timeout-ms = 2000\n",
                     "poll-interval-ms = 50\nhorizon-ms = 200\nlease-refresh-ms = 100\n"));
    auto s = Launch(ORCH_SCHEDULER_BIN, config);
    if (!s.ok()) return s;
    if (!Eventually([&] { return s->Metric("orch_scheduler_buckets_owned") > 0; })) {
      return absl::InternalError("the scheduler owns no bucket");
    }
    return s;
  }

  absl::StatusOr<Served> StartEngine(const std::string& scheduler) {
    const std::string config = dir_.WriteFile(
        absl::StrCat("engine", ++configs_, ".toml"),
        absl::StrCat("[server]\ngrpc-listen = \"127.0.0.1:0\"\nshutdown-grace-ms = 500\n",
                     "[metrics]\nlisten = \"127.0.0.1:0\"\n[orchestration]\nnode-id = 1\n",
                     "lease-ttl-ms = 1500\nlease-renew-ms = 300\nscheduler-endpoint = \"", scheduler,
                     "\"\n[scxml]\nsession-processing-threads = 2\ndeactivate-idle-ms = 500\n",
                     "sleep-min-ms = 1000\nmax-session-age-grace-ms = 1000\n[persistence]\nproxy-endpoint = \"", backend_->proxy.grpc, "\"\n"));
    auto e = Launch(ORCH_SESSION_ENGINE_BIN, config);
    if (!e.ok()) return e;
    if (!Eventually([&] { return e->Healthy("orch.session.v1.Sessions"); })) {
      return absl::InternalError("session-engine did not become primary");
    }
    return e;
  }

  // A scheduler, then the engine that knows it.
  void StartStack() {
    auto s = StartScheduler();
    ASSERT_OK(s);
    scheduler_ = std::move(*s);
    auto e = StartEngine(scheduler_.grpc);
    ASSERT_OK(e);
    engine_ = std::move(*e);
    sessions_ = sv1::Sessions::NewStub(grpc_util::MakeChannel(engine_.grpc));
  }

  static std::unique_ptr<sched::Scheduler::Stub> SchedulerStub(const Served& s) {
    return sched::Scheduler::NewStub(grpc_util::MakeChannel(s.grpc));
  }

  std::string StartSession(const std::string& delay = "") {
    sv1::StartSessionRequest req;
    req.set_url("file://" + chart_);
    if (!delay.empty()) (*req.mutable_parameters())["delay"].set_string_value(delay);
    sv1::StartSessionResponse resp;
    grpc::Status s = sessions_->StartSession(Ctx().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.session_id();
  }

  // The session's `seen` (ids of ticks) and `replies`, or nullopt when the
  // query fails (NOT_FOUND: no such session).
  absl::StatusOr<sv1::QuerySessionResponse> Query(const std::string& sid) {
    sv1::QuerySessionRequest req;
    req.set_session_id(sid);
    req.add_data_names("seen");
    req.add_data_names("replies");
    sv1::QuerySessionResponse resp;
    grpc::Status s = sessions_->QuerySession(Ctx().get(), req, &resp);
    if (!s.ok()) return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    return resp;
  }
  std::vector<std::string> Seen(const std::string& sid) {
    std::vector<std::string> out;
    auto q = Query(sid);
    if (!q.ok()) return out;
    for (const auto& v : q->data().at("seen").list_value().values()) out.push_back(v.string_value());
    return out;
  }
  std::vector<std::string> Replies(const std::string& sid) {
    std::vector<std::string> out;
    auto q = Query(sid);
    if (!q.ok()) return out;
    for (const auto& v : q->data().at("replies").list_value().values()) out.push_back(v.string_value());
    return out;
  }

  // The session's state in the store's registry ("active", "deactivated").
  std::string StoredState(const std::string& sid) {
    auto stub = pv1::Persistence::NewStub(grpc_util::MakeChannel(backend_->proxy.grpc));
    pv1::GetSessionMetaRequest req;
    req.set_session_id(sid);
    pv1::GetSessionMetaResponse resp;
    if (!stub->GetSessionMeta(Ctx().get(), req, &resp).ok()) return "";
    return resp.meta().state();
  }

  static sched::Timer Tick(const std::string& id, int64_t due_ms, const std::string& sid, const std::string& i) {
    sched::Timer t;
    t.set_timer_id(id);
    *t.mutable_due_time() = TimeUtil::MillisecondsToTimestamp(due_ms);
    t.mutable_deliver_event()->set_session_id(sid);
    t.mutable_deliver_event()->mutable_event()->set_name("tick");
    (*t.mutable_deliver_event()->mutable_event()->mutable_data()->mutable_struct_value()->mutable_fields())["i"]
        .set_string_value(i);
    return t;
  }

  static absl::StatusOr<sched::ScheduleTimerResponse> Schedule(sched::Scheduler::Stub& stub, const sched::Timer& t) {
    sched::ScheduleTimerRequest req;
    *req.mutable_timer() = t;
    sched::ScheduleTimerResponse resp;
    grpc::Status s = stub.ScheduleTimer(Ctx().get(), req, &resp);
    if (!s.ok()) return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    return resp;
  }

  std::string Unique(const std::string& what) { return absl::StrCat(what, "-", GetParam() ? "c" : "s", "-", NowMs()); }

  testing::ProxyBackend* backend_ = nullptr;
  testing::TempDir dir_;
  int configs_ = 0;
  std::string chart_;
  Served scheduler_;
  Served engine_;
  std::unique_ptr<sv1::Sessions::Stub> sessions_;
};

TEST_P(SchedulerProcessTest, AScheduledStartFiresAtItsTimeAsTheSessionItNamed) {
  StartStack();
  auto stub = SchedulerStub(scheduler_);
  const std::string waiter = StartSession();
  sched::Timer t;
  t.set_timer_id(Unique("start"));
  const int64_t due = NowMs() + 1500;
  *t.mutable_due_time() = TimeUtil::MillisecondsToTimestamp(due);
  t.mutable_start_session()->set_document_url("file://" + chart_);
  t.set_reply_to(waiter);
  auto r = Schedule(*stub, t);
  ASSERT_OK(r);
  EXPECT_FALSE(r->immediate());
  EXPECT_EQ(r->node(), 1);
  ASSERT_FALSE(r->session_id().empty());
  EXPECT_EQ(Query(r->session_id()).status().code(), absl::StatusCode::kNotFound);   // not before its time
  ASSERT_TRUE(Eventually([&] { return Query(r->session_id()).ok(); }, absl::Seconds(10)));
  EXPECT_GE(NowMs(), due);
  ASSERT_TRUE(Eventually([&] { return !Replies(waiter).empty(); }));
  EXPECT_THAT(Replies(waiter), ::testing::ElementsAre("session.start.done " + r->session_id()));
  // Fired once: the timer is gone.
  sched::GetTimerRequest get;
  get.set_timer_id(t.timer_id());
  sched::GetTimerResponse got;
  ASSERT_TRUE(Eventually([&] {
    return stub->GetTimer(Ctx().get(), get, &got).error_code() == grpc::StatusCode::NOT_FOUND;
  }));
  // An unknown document fails for good and says so to reply_to.
  t.set_timer_id(Unique("bad-start"));
  *t.mutable_due_time() = TimeUtil::MillisecondsToTimestamp(NowMs());
  t.mutable_start_session()->set_document_url("file://" + dir_.path() + "/missing.scxml");
  ASSERT_OK(Schedule(*stub, t));
  ASSERT_TRUE(Eventually([&] { return Replies(waiter).size() == 2; }));
  EXPECT_THAT(Replies(waiter)[1], ::testing::StartsWith("error.session.start "));
  EXPECT_TRUE(Eventually([&] {
    return scheduler_.Metrics().find("orch_scheduler_failures_total{action=\"start\"") != std::string::npos;
  }));
}

TEST_P(SchedulerProcessTest, APastTimeFiresAtOnceRescheduleAndCancelWorkAndATerminateEnds) {
  StartStack();
  auto stub = SchedulerStub(scheduler_);
  const std::string sid = StartSession();
  auto late = Schedule(*stub, Tick(Unique("late"), NowMs() - 60000, sid, "late"));
  ASSERT_OK(late);
  EXPECT_TRUE(late->immediate());
  ASSERT_TRUE(Eventually([&] { return Seen(sid).size() == 1; }, absl::Seconds(3)));
  EXPECT_GE(scheduler_.Metric("orch_scheduler_past_due_total"), 1);

  const std::string moved = Unique("moved"), gone = Unique("gone");
  ASSERT_OK(Schedule(*stub, Tick(moved, NowMs() + 600000, sid, "moved")));
  ASSERT_OK(Schedule(*stub, Tick(gone, NowMs() + 1000, sid, "gone")));
  sched::RescheduleTimerRequest rs;
  rs.set_timer_id(moved);
  *rs.mutable_due_time() = TimeUtil::MillisecondsToTimestamp(NowMs() + 800);
  sched::RescheduleTimerResponse rsr;
  ASSERT_TRUE(stub->RescheduleTimer(Ctx().get(), rs, &rsr).ok());
  sched::CancelTimerRequest cancel;
  cancel.set_timer_id(gone);
  sched::CancelTimerResponse cr;
  ASSERT_TRUE(stub->CancelTimer(Ctx().get(), cancel, &cr).ok());
  EXPECT_TRUE(cr.cancelled());
  ASSERT_TRUE(Eventually([&] { return Seen(sid).size() == 2; }, absl::Seconds(5)));
  absl::SleepFor(absl::Milliseconds(1500));   // "gone" was due by now
  EXPECT_THAT(Seen(sid), ::testing::ElementsAre("late", "moved"));

  // Listing: one pending timer for the session, by its due time.
  ASSERT_OK(Schedule(*stub, Tick(Unique("listed"), NowMs() + 600000, sid, "x")));
  sched::ListTimersRequest lr;
  lr.set_session_id(sid);
  sched::ListTimersResponse list;
  ASSERT_TRUE(stub->ListTimers(Ctx().get(), lr, &list).ok());
  ASSERT_EQ(list.timers_size(), 1);
  EXPECT_EQ(list.timers(0).timer().deliver_event().event().name(), "tick");

  sched::Timer end;
  end.set_timer_id(Unique("end"));
  *end.mutable_due_time() = TimeUtil::MillisecondsToTimestamp(NowMs() + 300);
  end.mutable_terminate_session()->set_session_id(sid);
  end.mutable_terminate_session()->set_reason("hung");
  ASSERT_OK(Schedule(*stub, end));
  EXPECT_TRUE(Eventually([&] { return Query(sid).status().code() == absl::StatusCode::kNotFound; },
                         absl::Seconds(5)));
  // Bad input: a malformed id, a time past 9999, no action.
  sched::Timer bad = Tick("has space", NowMs(), sid, "x");
  EXPECT_EQ(Schedule(*stub, bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = Tick("ok", 0, sid, "x");
  bad.mutable_due_time()->set_seconds(253402300800);
  EXPECT_EQ(Schedule(*stub, bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad.clear_deliver_event();
  *bad.mutable_due_time() = TimeUtil::MillisecondsToTimestamp(NowMs());
  EXPECT_EQ(Schedule(*stub, bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(SchedulerProcessTest, ASleepingSessionIsWokenForItsDelayedSend) {
  StartStack();
  const int64_t started = NowMs();
  const std::string sid = StartSession("4s");
  // Idle (500 ms) with its send 4 s off (more than sleep-min-ms): it leaves
  // memory once its wake is stored.
  ASSERT_TRUE(Eventually([&] { return StoredState(sid) == "deactivated"; }, absl::Seconds(3)));
  EXPECT_LT(NowMs(), started + 4000);
  // Nobody asks it anything: the scheduler's wake brings it back at its
  // due time, and the send fires.
  ASSERT_TRUE(Eventually([&] { return StoredState(sid) == "active"; }, absl::Seconds(10)));
  EXPECT_GE(NowMs(), started + 4000 - 50);
  auto q = Query(sid);
  ASSERT_OK(q);
  ASSERT_TRUE(Eventually([&] {
    auto r = Query(sid);
    return r.ok() && r->active_states_size() == 1 && r->active_states(0) == "woken";
  }));
  EXPECT_TRUE(Eventually([&] {
    return scheduler_.Metrics().find("orch_scheduler_timers_fired_total{action=\"wake\",outcome=\"done\"} 1") !=
           std::string::npos;
  }));
}

TEST_P(SchedulerProcessTest, AHungSessionGetsSessionMaxageThenEnds) {
  StartStack();
  std::string doc = kChart;
  doc.replace(doc.find("_persist="), 0, "_maxSessionAge=\"1500ms\" ");
  sv1::StartSessionRequest req;
  req.set_url("file://" + dir_.WriteFile("hung.scxml", doc));
  sv1::StartSessionResponse resp;
  ASSERT_TRUE(sessions_->StartSession(Ctx().get(), req, &resp).ok());
  const std::string sid = resp.session_id();
  const int64_t started = NowMs();
  ASSERT_TRUE(Eventually([&] { return !Replies(sid).empty(); }, absl::Seconds(5)));
  EXPECT_GE(NowMs(), started + 1500 - 50);
  EXPECT_THAT(Replies(sid), ::testing::ElementsAre(::testing::StartsWith("session.maxage")));
  EXPECT_TRUE(Eventually([&] { return Query(sid).status().code() == absl::StatusCode::kNotFound; },
                         absl::Seconds(5)));
  EXPECT_GE(NowMs(), started + 2500 - 50);   // the grace (1 s) after session.maxage
}

TEST_P(SchedulerProcessTest, TwoReplicasOneKilledWhileHoldingClaimsEveryTimerFiresEachEffectOnce) {
  auto a = StartScheduler();
  ASSERT_OK(a);
  auto b = StartScheduler();
  ASSERT_OK(b);
  auto e = StartEngine(b->grpc);
  ASSERT_OK(e);
  engine_ = std::move(*e);
  sessions_ = sv1::Sessions::NewStub(grpc_util::MakeChannel(engine_.grpc));
  ASSERT_TRUE(Eventually([&] { return a->Metric("orch_scheduler_replicas_live") == 2; }));
  auto sa = SchedulerStub(*a), sb = SchedulerStub(*b);
  const std::string sid = StartSession();
  // 60 timers over the next 3 s through both replicas, and 20 due 150 ms
  // after the kill through A (claimed by A when stored: within its horizon).
  std::set<std::string> expected;
  const int64_t t0 = NowMs();
  for (int i = 0; i < 60; ++i) {
    const std::string id = absl::StrCat(Unique("spread"), "-", i);
    ASSERT_OK(Schedule(i % 2 ? *sa : *sb, Tick(id, t0 + 500 + 50 * i, sid, id)));
    expected.insert(id);
  }
  std::vector<std::string> held;
  for (int i = 0; i < 20; ++i) {
    const std::string id = absl::StrCat(Unique("held"), "-", i);
    ASSERT_OK(Schedule(*sa, Tick(id, NowMs() + 150, sid, id)));
    expected.insert(id);
    held.push_back(id);
  }
  ASSERT_OK(a->process->Signal(SIGKILL));
  (void)a->process->Wait(absl::Seconds(5));
  const int64_t killed = NowMs();
  // Every timer fires: the held ones after their claim (2 s) runs out, by B.
  ASSERT_TRUE(Eventually([&] { return Seen(sid).size() >= expected.size(); }, absl::Seconds(15)))
      << Seen(sid).size() << " of " << expected.size();
  const int64_t all = NowMs();
  absl::SleepFor(absl::Milliseconds(2500));   // a second claim round would have fired by now
  const std::vector<std::string> seen = Seen(sid);
  std::map<std::string, int> counts;
  for (const auto& s : seen) ++counts[s];
  int twice = 0;
  for (const auto& [id, n] : counts) twice += n > 1 ? 1 : 0;
  std::set<std::string> got(seen.begin(), seen.end());
  EXPECT_EQ(got, expected);
  EXPECT_EQ(twice, 0) << "effects applied more than once";
  EXPECT_LE(all - killed, 2000 + 150 + 1000 + 1500) << "the killed replica's timers fired too late";
  EXPECT_EQ(b->Metric("orch_scheduler_replicas_live"), 1);
  EXPECT_EQ(b->Metric("orch_scheduler_buckets_owned"), 16);
}

INSTANTIATE_TEST_SUITE_P(Redis, SchedulerProcessTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "Cluster" : "Standalone"; });

}  // namespace
}  // namespace orch::scheduler
