// The engine's logic on an in-memory store (FakeSessionStore): exact replay
// (Date, Math.random, timers) after a crash with and without snapshots,
// effect-id de-duplication across a crash, fencing when the lease is lost,
// a store outage. The same behaviours with the real proxy and Redis:
// tests/session, tests/fault.

#include "services/session_engine/engine.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "services/session_engine/fake_session_store.h"

namespace orch::session_engine {
namespace {

namespace sv1 = orch::session::v1;
using ::orch::testing::StatusIs;

bool Eventually(const std::function<bool()>& pred, absl::Duration limit = absl::Seconds(10)) {
  const absl::Time end = absl::Now() + limit;
  while (absl::Now() < end) {
    if (pred()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return pred();
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
  std::unique_ptr<Engine> NewEngine(EngineOptions o = {}) {
    o.instance_id = absl::StrCat("test-", ++instances_);
    o.endpoint = "127.0.0.1:1";
    o.worker_threads = 2;
    o.lease_ttl_ms = 600;
    o.lease_renew_ms = 100;
    auto e = Engine::Create(o, &store_, nullptr);
    EXPECT_OK(e);
    (*e)->Start([](bool) {});
    EXPECT_TRUE(Eventually([&] { return (*e)->serving(); }));
    return *std::move(e);
  }

  std::string Start(Engine& e, const std::string& chart = kChart) {
    sv1::StartSessionRequest req;
    req.set_url("file://" + dir_.WriteFile(absl::StrCat("chart", ++charts_, ".scxml"), chart));
    auto r = e.StartSession(req);
    EXPECT_OK(r);
    return r.ok() ? r->session_id() : "";
  }

  static absl::Status Send(Engine& e, const std::string& sid, int k, const std::string& effect = "") {
    sv1::SendEventRequest req;
    req.set_session_id(sid);
    req.mutable_event()->set_name("ev");
    (*req.mutable_event()->mutable_data()->mutable_struct_value()->mutable_fields())["k"].set_number_value(k);
    req.mutable_event()->set_effect_id(effect);
    return e.SendEvent(req).status();
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

  FakeSessionStore store_;
  testing::TempDir dir_;
  int instances_ = 0;
  int charts_ = 0;
};

// Live run, then a "crash" (no snapshot at stop), then a new engine on the
// same store: what it rebuilds from the log is exactly the live state —
// the recorded clock and the seeded PRNG, timers at their moments.
TEST_F(EngineTest, ReplayAfterACrashRebuildsExactlyTheLiveState) {
  for (uint32_t every : {1000000u, 3u}) {
    SCOPED_TRACE(absl::StrCat("snapshot every ", every, " entries"));
    EngineOptions o;
    o.policy.snapshot_every_entries = every;
    o.policy.snapshot_every_ms = every == 3 ? 1 : 3600000;
    auto live = NewEngine(o);
    const std::string sid = Start(*live);
    for (int k = 0; k < 20; ++k) {
      ASSERT_OK(Send(*live, sid, k));
      if (k % 5 == 0) absl::SleepFor(absl::Milliseconds(30));  // let the timer fire in between
    }
    ASSERT_TRUE(Eventually([&] { return absl::StrContains(Trace(*live, sid), "tick"); }));
    const std::string before = Trace(*live, sid);
    live->StopAsIfCrashed();
    live.reset();
    if (every == 3) {
      EXPECT_LT(store_.LogSize(sid), 20u);  // trimmed after snapshots
    }

    auto recovered = NewEngine(o);
    EXPECT_EQ(Trace(*recovered, sid), before);
    // And it goes on from there.
    ASSERT_OK(Send(*recovered, sid, 99));
    EXPECT_THAT(Trace(*recovered, sid), ::testing::HasSubstr("[99,"));
    recovered->StopAsIfCrashed();
  }
}

TEST_F(EngineTest, AnEffectIdIsDeliveredOnceEvenAcrossACrash) {
  auto e = NewEngine();
  const std::string sid = Start(*e);
  ASSERT_OK(Send(*e, sid, 1, "peer/7/0"));
  ASSERT_OK(Send(*e, sid, 1, "peer/7/0"));
  const size_t appends = store_.Appends();
  e->StopAsIfCrashed();
  e.reset();
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
  e->StopAsIfCrashed();
  e.reset();
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
  absl::SleepFor(absl::Milliseconds(800));  // beyond the lease's lifetime
  EXPECT_OK(Send(*e, volatile_sid, 2));
  EXPECT_THAT(Trace(*e, volatile_sid), ::testing::HasSubstr("[2,"));
  store_.SetUnavailable(false);
  EXPECT_TRUE(Eventually([&] { return Send(*e, durable, 3).ok(); }));
  EXPECT_THAT(Trace(*e, durable), ::testing::HasSubstr("[3,"));
  EXPECT_THAT(Trace(*e, durable), ::testing::Not(::testing::HasSubstr("[1,")));
  e->StopAsIfCrashed();
}

}  // namespace
}  // namespace orch::session_engine
