// session-engine as a real process, with a real persistence-proxy and
// redis-server started here: the Sessions API end to end, bad input,
// recovery after SIGKILL (delayed sends at their original due time,
// functions from <script>, session.recovered), deactivation, Redis going
// away, a standby and a zombie primary (SIGSTOP/SIGCONT), sends between
// sessions on one node and across two nodes.

#include <csignal>
#include <fstream>
#include <iterator>
#include <thread>
#include <regex>
#include <set>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc/channel.h"
#include "common/redis/testing/redis_server.h"
#include "common/testing/certs.h"
#include "common/testing/eventually.h"
#include "common/testing/http_client.h"
#include "common/testing/status_matchers.h"
#include "common/testing/subprocess.h"
#include "common/testing/temp_dir.h"
#include "tests/stack/stack.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "orch/persistence/v1/persistence.grpc.pb.h"
#include "orch/session/v1/sessions.grpc.pb.h"

namespace orch::session_engine {
namespace {

namespace sv1 = ::orch::session::v1;
namespace pb = ::orch::persistence::v1;
using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::orch::testing::Subprocess;
using ::testing::HasSubstr;
using ::orch::testing::Eventually;
using ::orch::testing::Launch;
using ::orch::testing::Served;

std::unique_ptr<grpc::ClientContext> Ctx(int seconds = 10) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return ctx;
}

constexpr char kSessionsService[] = "orch.session.v1.Sessions";

// Waits until SIGSTOP has taken effect (state 'T' in /proc/<pid>/stat): a
// signal is delivered asynchronously, and a thread already running may
// still answer a call sent right after kill().
bool Stopped(pid_t pid) {
  return Eventually([&] {
    std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const size_t paren = text.rfind(')');
    return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] == 'T';
  }, absl::Seconds(5));
}

class SessionEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto redis = testing::RedisServer::Start({});
    ASSERT_OK(redis);
    redis_ = *std::move(redis);
    ASSERT_OK(StartProxy());
  }

  absl::Status StartProxy() {
    const std::string config = dir_.WriteFile(
        absl::StrCat("proxy", ++configs_, ".toml"),
        absl::StrCat("[server]\ngrpc-listen = \"", proxy_port_.empty() ? "127.0.0.1:0" : proxy_port_,
                     "\"\nshutdown-grace-ms = 500\n[metrics]\nlisten = \"127.0.0.1:0\"\n[persistence]\n",
                     "redis-nodes = [\"", redis_->address(), "\"]\nredis-mode = \"standalone\"\n",
                     "health-check-interval-ms = 100\nrequest-timeout-ms = 500\n"));
    auto p = Launch(ORCH_PERSISTENCE_PROXY_BIN, config);
    if (!p.ok()) return p.status();
    proxy_ = std::move(*p);
    proxy_port_ = proxy_.grpc;
    if (!Eventually([&] { return proxy_.Healthy("orch.persistence.v1.Persistence"); })) {
      return absl::InternalError("persistence-proxy not healthy");
    }
    return absl::OkStatus();
  }

  // An engine instance; `listen` "" = any port. Waits until it serves as
  // primary when `primary`.
  absl::StatusOr<Served> StartEngine(const std::string& extra = "", int node = 1, bool primary = true,
                                     const std::string& listen = "127.0.0.1:0") {
    const std::string config = dir_.WriteFile(
        absl::StrCat("engine", ++configs_, ".toml"),
        absl::StrCat("[server]\ngrpc-listen = \"", listen, "\"\nshutdown-grace-ms = 500\n",
                     Section(extra, "server"), "[metrics]\nlisten = \"127.0.0.1:0\"\n",
                     "[orchestration]\nnode-id = ", node, "\nlease-ttl-ms = 1500\nlease-renew-ms = 300\n",
                     "session-restart-timeout = 10\n", Section(extra, "orchestration"), "[scxml]\n",
                     "session-processing-threads = 2\n", Section(extra, "scxml"), "[persistence]\n",
                     "proxy-endpoint = \"", proxy_.grpc, "\"\nrequest-timeout-ms = 1000\n",
                     Section(extra, "persistence")));
    auto e = Launch(ORCH_SESSION_ENGINE_BIN, config);
    if (!e.ok()) return e.status();
    if (primary && !Eventually([&] { return e->Healthy(kSessionsService); })) {
      return absl::InternalError("session-engine did not become primary");
    }
    return e;
  }

  static std::string Section(const std::string& extra, const std::string& section) {
    return testing::TomlSection(extra, section);
  }

  static std::unique_ptr<sv1::Sessions::Stub> Stub(const Served& e) {
    return sv1::Sessions::NewStub(grpc_util::MakeChannel(e.grpc));
  }

  std::string Chart(const std::string& name, const std::string& body, const std::string& root_attrs = "") {
    return dir_.WriteFile(name, absl::StrCat("<scxml xmlns=\"http://www.w3.org/2005/07/scxml\" version=\"1.0\" "
                                             "datamodel=\"ecmascript\" ",
                                             root_attrs, ">\n", body, "\n</scxml>\n"));
  }

  static absl::StatusOr<std::string> Start(sv1::Sessions::Stub& stub, const std::string& path,
                                           const std::map<std::string, std::string>& params = {},
                                           const std::string& key = "") {
    sv1::StartSessionRequest req;
    req.set_url("file://" + path);
    for (auto& [k, v] : params) (*req.mutable_parameters())[k].set_string_value(v);
    req.set_idempotency_key(key);
    sv1::StartSessionResponse resp;
    grpc::Status s = stub.StartSession(Ctx().get(), req, &resp);
    if (!s.ok()) return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    return resp.session_id();
  }

  static grpc::Status Send(sv1::Sessions::Stub& stub, const std::string& sid, const std::string& name,
                           double n = 0, const std::string& effect = "") {
    sv1::SendEventRequest req;
    req.set_session_id(sid);
    req.mutable_event()->set_name(name);
    (*req.mutable_event()->mutable_data()->mutable_struct_value()->mutable_fields())["n"].set_number_value(n);
    req.mutable_event()->set_effect_id(effect);
    sv1::SendEventResponse resp;
    return stub.SendEvent(Ctx().get(), req, &resp);
  }

  static absl::StatusOr<sv1::QuerySessionResponse> Query(sv1::Sessions::Stub& stub, const std::string& sid,
                                                         const std::vector<std::string>& names = {}) {
    sv1::QuerySessionRequest req;
    req.set_session_id(sid);
    for (auto& n : names) req.add_data_names(n);
    sv1::QuerySessionResponse resp;
    grpc::Status s = stub.QuerySession(Ctx().get(), req, &resp);
    if (!s.ok()) return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    return resp;
  }

  // The data item `name` as compact JSON-ish text ("" when unavailable).
  static std::string Data(sv1::Sessions::Stub& stub, const std::string& sid, const std::string& name) {
    auto q = Query(stub, sid, {name});
    if (!q.ok()) return "";
    const auto& v = q->data().at(name);
    if (v.has_number_value()) return absl::StrCat(v.number_value());
    if (v.has_string_value()) return v.string_value();
    if (v.has_list_value()) {
      std::string out;
      for (const auto& x : v.list_value().values()) {
        out += out.empty() ? "" : ",";
        out += x.has_number_value() ? absl::StrCat(x.number_value()) : x.string_value();
      }
      return "[" + out + "]";
    }
    return "?";
  }

  testing::TempDir dir_;
  int configs_ = 0;
  std::unique_ptr<testing::RedisServer> redis_;
  Served proxy_;
  std::string proxy_port_;
};

const char kCounter[] = R"XML(
  <datamodel><data id="count" expr="0"/><data id="seen" expr="[]"/><data id="greeting" _type="parameter" expr="'none'"/></datamodel>
  <state id="idle">
    <transition event="ev"><assign location="count" expr="count + 1"/><script>seen.push(_event.data.n)</script></transition>
    <transition event="go" target="busy"/>
    <transition event="stop" target="end"/>
  </state>
  <state id="busy"><transition event="back" target="idle"/></state>
  <final id="end"/>)XML";

TEST_F(SessionEngineTest, StartsSendsQueriesAndTerminatesPersistentAndInMemorySessions) {
  auto engine = StartEngine();
  ASSERT_OK(engine);
  auto stub = Stub(*engine);
  for (const char* persist : {"true", "false"}) {
    SCOPED_TRACE(persist);
    const std::string chart =
        Chart(absl::StrCat("counter_", persist, ".scxml"), kCounter, absl::StrCat("initial=\"idle\" _persist=\"", persist, "\""));
    auto sid = Start(*stub, chart, {{"greeting", "hello"}});
    ASSERT_OK(sid);
    EXPECT_THAT(*sid, ::testing::MatchesRegex("~1~[0-9A-Z]{32}"));
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(Send(*stub, *sid, "ev", i).ok());
    EXPECT_EQ(Data(*stub, *sid, "count"), "5");
    EXPECT_EQ(Data(*stub, *sid, "seen"), "[0,1,2,3,4]");
    EXPECT_EQ(Data(*stub, *sid, "greeting"), "hello");
    ASSERT_TRUE(Send(*stub, *sid, "go").ok());
    auto q = Query(*stub, *sid);
    ASSERT_OK(q);
    EXPECT_EQ(q->state(), sv1::SESSION_STATE_RUNNING);
    EXPECT_THAT(q->active_states(), ::testing::Contains("busy"));
    sv1::TerminateSessionRequest t;
    t.set_session_id(*sid);
    sv1::TerminateSessionResponse tr;
    ASSERT_TRUE(stub->TerminateSession(Ctx().get(), t, &tr).ok());
    grpc::Status after = Send(*stub, *sid, "ev");
    EXPECT_EQ(after.error_code(), grpc::StatusCode::NOT_FOUND) << after.error_message();
  }
  // A persistent session's keys are gone after it ends (only the node's
  // registry and the document remain).
  auto keys = redis_->Cli({"--scan", "--pattern", "*{~1~*"});
  ASSERT_OK(keys);
  EXPECT_EQ(*keys, "");

  // A session that reaches its final state ends and is forgotten.
  const std::string chart = Chart("end.scxml", kCounter, "initial=\"idle\" _persist=\"true\"");
  auto sid = Start(*stub, chart);
  ASSERT_OK(sid);
  ASSERT_TRUE(Send(*stub, *sid, "stop").ok());
  EXPECT_TRUE(Eventually([&] { return Send(*stub, *sid, "ev").error_code() == grpc::StatusCode::NOT_FOUND; }));

  // Idempotency: the same key names the same session.
  auto a = Start(*stub, chart, {}, "call-1");
  auto b = Start(*stub, chart, {}, "call-1");
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_EQ(*a, *b);
  ASSERT_TRUE(Send(*stub, *a, "ev", 7).ok());
  EXPECT_EQ(Data(*stub, *b, "count"), "1");
  // An effect id is delivered once.
  ASSERT_TRUE(Send(*stub, *a, "ev", 8, "client/1").ok());
  ASSERT_TRUE(Send(*stub, *a, "ev", 8, "client/1").ok());
  EXPECT_EQ(Data(*stub, *a, "count"), "2");

  // ListSessions pages through the node's sessions.
  sv1::ListSessionsRequest lr;
  lr.set_page_size(1);
  std::set<std::string> listed;
  for (int pages = 0; pages < 20; ++pages) {
    sv1::ListSessionsResponse resp;
    ASSERT_TRUE(stub->ListSessions(Ctx().get(), lr, &resp).ok());
    for (auto& id : resp.session_ids()) listed.insert(id);
    if (resp.next_page_token().empty()) break;
    lr.set_page_token(resp.next_page_token());
  }
  EXPECT_TRUE(listed.count(*a)) << "listed " << listed.size();
  // Filters: an in-memory session is listed as such, not among the persistent ones.
  const std::string mem_chart = Chart("mem.scxml", kCounter, "initial=\"idle\" _persist=\"false\"");
  auto m = Start(*stub, mem_chart);
  ASSERT_OK(m);
  for (auto [filter, want_mem, want_a] : {std::tuple{sv1::ListSessionsRequest::FILTER_IN_MEMORY_ONLY, true, false},
                                          std::tuple{sv1::ListSessionsRequest::FILTER_PERSISTENT, false, true}}) {
    sv1::ListSessionsRequest f;
    f.set_filter(filter);
    f.set_page_size(1000);
    sv1::ListSessionsResponse resp;
    ASSERT_TRUE(stub->ListSessions(Ctx().get(), f, &resp).ok());
    std::set<std::string> ids(resp.session_ids().begin(), resp.session_ids().end());
    EXPECT_EQ(ids.count(*m) == 1, want_mem);
    EXPECT_EQ(ids.count(*a) == 1, want_a);
  }
  // An in-memory session leaves nothing in Redis.
  auto mem_keys = redis_->Cli({"--scan", "--pattern", absl::StrCat("*", *m, "*")});
  ASSERT_OK(mem_keys);
  EXPECT_EQ(*mem_keys, "");

  std::string metrics = engine->Metrics();
  EXPECT_THAT(metrics, HasSubstr("orch_session_engine_sessions_started_total{persistent=\"true\"}"));
  EXPECT_THAT(metrics, HasSubstr("orch_session_engine_persistence_append_seconds_count"));
  EXPECT_EQ(engine->Metric("orch_session_engine_lease_primary"), 1);
}

TEST_F(SessionEngineTest, BadInputGetsClearStatusesAndNothingHalfCreated) {
  auto engine = StartEngine("scxml.max-event-bytes = 1024");
  ASSERT_OK(engine);
  auto stub = Stub(*engine);
  auto code_of = [](const absl::Status& s) { return s.code(); };
  // Documents.
  const std::string bad = dir_.WriteFile("bad.scxml",
                                         "<scxml xmlns=\"http://www.w3.org/2005/07/scxml\" version=\"1.0\" initial=\"a\">\n"
                                         "  <state id=\"a\"><transition target=\"nowhere\"/></state>\n</scxml>\n");
  auto s = Start(*stub, bad);
  EXPECT_EQ(code_of(s.status()), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("bad.scxml:2:"));
  EXPECT_THAT(s.status().message(), HasSubstr("nowhere"));
  s = Start(*stub, dir_.path() + "/missing.scxml");
  EXPECT_EQ(code_of(s.status()), absl::StatusCode::kFailedPrecondition) << s.status();
  EXPECT_THAT(s.status().message(), HasSubstr("missing.scxml"));
  {
    sv1::StartSessionRequest req;
    req.set_url("gopher://x/y");
    sv1::StartSessionResponse resp;
    auto st = stub->StartSession(Ctx().get(), req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(st.error_message(), HasSubstr("gopher"));
    req.set_url("http://127.0.0.1:1/unreachable.scxml");
    st = stub->StartSession(Ctx().get(), req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
    // The alternate URL is tried when the first fails.
    req.set_alternate_url("file://" + Chart("alt.scxml", kCounter, "initial=\"idle\""));
    st = stub->StartSession(Ctx().get(), req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    sv1::StartSessionRequest none;
    st = stub->StartSession(Ctx().get(), none, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  const std::string chart = Chart("c.scxml", kCounter, "initial=\"idle\" _persist=\"true\"");
  s = Start(*stub, chart, {{"count", "1"}});
  EXPECT_EQ(code_of(s.status()), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("parameter 'count'"));
  // Nothing half-created: no session keys in Redis after the refusals.
  auto keys = redis_->Cli({"--scan", "--pattern", "*:log"});
  ASSERT_OK(keys);
  EXPECT_EQ(*keys, "");

  auto sid = Start(*stub, chart);
  ASSERT_OK(sid);
  EXPECT_EQ(Send(*stub, "not-an-id", "ev").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Send(*stub, "~1~AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "ev").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Send(*stub, "~2~AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "ev").error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Send(*stub, *sid, "").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Send(*stub, *sid, "bad name").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  sv1::SendEventRequest big;
  big.set_session_id(*sid);
  big.mutable_event()->set_name("ev");
  big.mutable_event()->mutable_data()->set_string_value(std::string(5000, 'x'));
  sv1::SendEventResponse resp;
  auto st = stub->SendEvent(Ctx().get(), big, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::OUT_OF_RANGE);  // a limit of the input, not of load
  EXPECT_THAT(st.error_message(), HasSubstr("1024"));
  // The refused events did not reach the session.
  EXPECT_EQ(Data(*stub, *sid, "count"), "0");
  EXPECT_TRUE(engine->process->running());
}

TEST_F(SessionEngineTest, RecoversAfterSigkillWithTimersFunctionsAndSessionRecovered) {
  auto engine = StartEngine("scxml.snapshot-every-entries = 3");
  ASSERT_OK(engine);
  auto stub = Stub(*engine);
  const std::string chart = Chart("timer.scxml", R"XML(
  <datamodel><data id="log" expr="[]"/><data id="recovered" expr="0"/><data id="t0" expr="Date.now()"/>
    <data id="waited" expr="0"/></datamodel>
  <script>function note(x) { log.push(x); return log.length; }</script>
  <state id="wait">
    <onentry><send event="late" delay="4000ms"/></onentry>
    <transition event="ev"><script>note('ev' + _event.data.n)</script></transition>
    <transition event="late" target="fired"><assign location="waited" expr="Date.now() - t0"/><script>note('late')</script></transition>
    <transition event="session.recovered"><assign location="recovered" expr="recovered + 1"/></transition>
  </state>
  <state id="fired">
    <transition event="session.recovered"><assign location="recovered" expr="recovered + 1"/></transition>
    <transition event="ev"><script>note('ev' + _event.data.n)</script></transition>
  </state>)XML",
                                  "initial=\"wait\" _persist=\"true\" _sendSessionRecovered=\"true\"");
  auto sid = Start(*stub, chart);
  ASSERT_OK(sid);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Send(*stub, *sid, "ev", i).ok());
  // SIGKILL before the delayed send is due; restart on the same port.
  ASSERT_OK(engine->process->Signal(SIGKILL));
  ASSERT_OK(engine->process->Wait(absl::Seconds(10)));
  auto again = StartEngine("scxml.snapshot-every-entries = 3", 1, true, engine->grpc);
  ASSERT_OK(again);
  auto stub2 = Stub(*again);
  // Proactive recovery restores it (and raises session.recovered) without an event.
  EXPECT_TRUE(Eventually([&] { return Data(*stub2, *sid, "recovered") == "1"; })) << Data(*stub2, *sid, "recovered");
  // The delayed send fires at its original due time: 4 s after the start
  // by the session's clock, not 4 s after the restart (which took > 1.5 s:
  // the dead instance's lease had to expire).
  EXPECT_TRUE(Eventually([&] {
    auto q = Query(*stub2, *sid);
    return q.ok() && std::count(q->active_states().begin(), q->active_states().end(), "fired") == 1;
  }));
  const std::string waited = Data(*stub2, *sid, "waited");
  EXPECT_GE(std::stod(waited.empty() ? "0" : waited), 4000);
  EXPECT_LT(std::stod(waited.empty() ? "1e9" : waited), 5500);
  ASSERT_TRUE(Send(*stub2, *sid, "ev", 5).ok());
  // The function defined by <script> works after recovery, and every event is there once.
  EXPECT_EQ(Data(*stub2, *sid, "log"), "[ev0,ev1,ev2,ev3,ev4,late,ev5]");
  EXPECT_THAT(again->Metrics(), HasSubstr("orch_session_engine_session_activations_total{kind=\"recovery\"} 1"));
}

TEST_F(SessionEngineTest, DeactivatesIdleSessionsAndReactivatesThemOnTheNextEvent) {
  auto engine = StartEngine("scxml.deactivate-idle-ms = 300");
  ASSERT_OK(engine);
  auto stub = Stub(*engine);
  const std::string chart = Chart("d.scxml", kCounter, "initial=\"idle\" _persist=\"true\" _sendSessionRecovered=\"true\"");
  auto sid = Start(*stub, chart);
  ASSERT_OK(sid);
  ASSERT_TRUE(Send(*stub, *sid, "ev", 1).ok());
  EXPECT_TRUE(Eventually([&] { return engine->Metric("orch_session_engine_session_deactivations_total") >= 1; }));
  EXPECT_TRUE(Eventually([&] { return engine->Metric("orch_session_engine_sessions_in_memory") == 0; }));
  ASSERT_TRUE(Send(*stub, *sid, "ev", 2).ok());
  EXPECT_EQ(Data(*stub, *sid, "seen"), "[1,2]");
  EXPECT_THAT(engine->Metrics(), HasSubstr("orch_session_engine_session_activations_total{kind=\"reactivation\"} 1"));
  EXPECT_THAT(engine->Metrics(), HasSubstr("orch_session_engine_session_activations_total{kind=\"recovery\"} 0"));
}

TEST_F(SessionEngineTest, WhenRedisIsDownPersistentCallsAreUnavailableAndInMemorySessionsGoOn) {
  auto engine = StartEngine();
  ASSERT_OK(engine);
  auto stub = Stub(*engine);
  const std::string durable = Chart("p.scxml", kCounter, "initial=\"idle\" _persist=\"true\"");
  const std::string volatile_chart = Chart("v.scxml", kCounter, "initial=\"idle\" _persist=\"false\"");
  auto p = Start(*stub, durable);
  auto v = Start(*stub, volatile_chart);
  ASSERT_OK(p);
  ASSERT_OK(v);
  ASSERT_EQ(::kill(redis_->pid(), SIGSTOP), 0);
  ASSERT_TRUE(Stopped(redis_->pid()));
  const absl::Time t0 = absl::Now();
  grpc::Status st = Send(*stub, *p, "ev", 1, "client/1");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
  EXPECT_EQ(Start(*stub, durable).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(Eventually([&] { return engine->Metric("orch_session_engine_persistence_up") == 0; }));
  // Beyond the lease's lifetime, in-memory sessions still run and start.
  absl::SleepFor(absl::Seconds(2));
  EXPECT_TRUE(Send(*stub, *v, "ev", 1).ok());
  EXPECT_EQ(Data(*stub, *v, "count"), "1");
  EXPECT_OK(Start(*stub, volatile_chart).status());
  EXPECT_EQ(Send(*stub, *p, "ev", 2).error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_EQ(::kill(redis_->pid(), SIGCONT), 0);
  // Event 1 timed out: it may or may not be in the log (the proxy may have
  // written it once Redis woke up). Retried with its effect id, it is there
  // exactly once; event 2 never reached the store.
  EXPECT_TRUE(Eventually([&] { return Send(*stub, *p, "ev", 1, "client/1").ok(); }));
  // Writes resume once the lease is renewed (or acquired again).
  EXPECT_TRUE(Eventually([&] { return Send(*stub, *p, "ev", 3, "client/3").ok(); }));
  EXPECT_TRUE(Eventually([&] { return engine->Metric("orch_session_engine_persistence_up") == 1; }));
  EXPECT_EQ(Data(*stub, *p, "seen"), "[1,3]");
  EXPECT_EQ(Data(*stub, *v, "count"), "1");
}

TEST_F(SessionEngineTest, AStalledProxyTimesAppendsOutAndTheEngineRecoversWhenItResumes) {
  auto engine = StartEngine();
  ASSERT_OK(engine);
  auto stub = Stub(*engine);
  const std::string chart = Chart("stall.scxml", kCounter, "initial=\"idle\" _persist=\"true\"");
  auto sid = Start(*stub, chart);
  ASSERT_OK(sid);
  ASSERT_TRUE(Send(*stub, *sid, "ev", 1, "e1").ok());
  ASSERT_OK(proxy_.process->Signal(SIGSTOP));
  ASSERT_TRUE(Stopped(proxy_.process->pid()));
  const absl::Time t0 = absl::Now();
  grpc::Status st = Send(*stub, *sid, "ev", 2, "e2");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  EXPECT_LT(absl::Now() - t0, absl::Seconds(8));  // the 1 s request timeout, not a hang
  ASSERT_OK(proxy_.process->Signal(SIGCONT));
  EXPECT_TRUE(Eventually([&] { return Send(*stub, *sid, "ev", 2, "e2").ok(); }));
  EXPECT_TRUE(Eventually([&] { return Send(*stub, *sid, "ev", 3, "e3").ok(); }));
  EXPECT_EQ(Data(*stub, *sid, "seen"), "[1,2,3]");
}

TEST_F(SessionEngineTest, StandbyRefusesWithThePrimaryAndAZombiePrimaryIsFenced) {
  auto primary = StartEngine();
  ASSERT_OK(primary);
  auto standby = StartEngine("", 1, /*primary=*/false);
  ASSERT_OK(standby);
  auto p = Stub(*primary);
  auto s = Stub(*standby);
  const std::string chart = Chart("z.scxml", kCounter, "initial=\"idle\" _persist=\"true\"");
  auto sid = Start(*p, chart);
  auto untouched = Start(*p, chart);
  ASSERT_OK(sid);
  ASSERT_OK(untouched);
  ASSERT_TRUE(Send(*p, *sid, "ev", 1).ok());
  // The standby neither creates nor serves sessions, and names the primary.
  grpc::Status st = Send(*s, *sid, "ev", 2);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(st.error_message(), HasSubstr(primary->grpc));
  EXPECT_EQ(Start(*s, chart).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(standby->Healthy(kSessionsService));
  const double old_epoch = primary->Metric("orch_session_engine_lease_epoch");
  ASSERT_GT(old_epoch, 0);

  // Zombie: the primary is paused until the standby takes over.
  ASSERT_OK(primary->process->Signal(SIGSTOP));
  ASSERT_TRUE(Stopped(primary->process->pid()));
  ASSERT_TRUE(Eventually([&] { return standby->Healthy(kSessionsService); }, absl::Seconds(10)));
  ASSERT_TRUE(Eventually([&] { return Send(*s, *sid, "ev", 3).ok(); }));
  EXPECT_GT(standby->Metric("orch_session_engine_lease_epoch"), old_epoch);
  ASSERT_OK(primary->process->Signal(SIGCONT));
  // The old primary acknowledges nothing more and stops serving.
  EXPECT_NE(Send(*p, *sid, "ev", 4).error_code(), grpc::StatusCode::OK);
  EXPECT_NE(Send(*p, *untouched, "ev", 4).error_code(), grpc::StatusCode::OK);
  EXPECT_TRUE(Eventually([&] { return !primary->Healthy(kSessionsService); }));
  EXPECT_TRUE(Eventually([&] { return primary->Metric("orch_session_engine_fenced_total") >= 1; }));
  EXPECT_EQ(Data(*s, *sid, "seen"), "[1,3]");
  EXPECT_EQ(Data(*s, *untouched, "seen"), "[]");
  // A write with the old epoch is refused by persistence-proxy itself.
  auto proxy = pb::Persistence::NewStub(grpc_util::MakeChannel(proxy_.grpc));
  pb::AppendEventsRequest append;
  append.set_session_id(*sid);
  append.set_epoch(static_cast<uint64_t>(old_epoch));
  auto* e = append.add_entries();
  e->set_seq(100);
  e->mutable_event()->set_name("ev");
  pb::AppendEventsResponse ar;
  grpc::Status fenced = proxy->AppendEvents(Ctx().get(), append, &ar);
  EXPECT_EQ(fenced.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_THAT(fenced.error_message(), HasSubstr("fenced"));
}

TEST_F(SessionEngineTest, RequestsAreAnsweredByTheChartAndWatchersSeeEveryMacrostep) {
  auto engine = StartEngine();
  ASSERT_OK(engine);
  auto stub = Stub(*engine);
  const std::string chart = Chart("req.scxml", R"XML(
  <datamodel><data id="queue" expr="3"/></datamodel>
  <state id="s">
    <transition event="position">
      <log label="asked" expr="_event.data.n"/>
      <send event="position.result" targetexpr="_event.origin">
        <param name="position" expr="queue"/><param name="asked" expr="_event.data.n"/>
      </send>
      <assign location="queue" expr="queue - 1"/>
    </transition>
    <transition event="silent"/>
    <transition event="leave" target="gone"/>
  </state>
  <final id="gone"/>)XML",
                                  "initial=\"s\" _persist=\"true\"");
  auto sid = Start(*stub, chart);
  ASSERT_OK(sid);

  // A watcher, on its own thread, from now on.
  std::vector<sv1::WatchSessionResponse> seen;
  grpc::ClientContext watch_ctx;
  watch_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  sv1::WatchSessionRequest wr;
  wr.set_session_id(*sid);
  auto reader = stub->WatchSession(&watch_ctx, wr);
  sv1::WatchSessionResponse first;
  ASSERT_TRUE(reader->Read(&first));
  EXPECT_THAT(first.active_states(), ::testing::ElementsAre("s"));
  std::thread watching([&] {
    sv1::WatchSessionResponse u;
    while (reader->Read(&u)) seen.push_back(u);
  });

  for (int i = 1; i <= 2; ++i) {
    sv1::RequestEventRequest req;
    req.set_session_id(*sid);
    req.mutable_event()->set_name("position");
    (*req.mutable_event()->mutable_data()->mutable_struct_value()->mutable_fields())["n"].set_number_value(i);
    req.set_timeout_ms(5000);
    sv1::RequestEventResponse resp;
    grpc::Status st = stub->Request(Ctx().get(), req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(resp.name(), "position.result");
    EXPECT_EQ(resp.data().struct_value().fields().at("position").number_value(), 4 - i);
    EXPECT_EQ(resp.data().struct_value().fields().at("asked").number_value(), i);
    EXPECT_GT(resp.seq(), 0u);
  }
  // A chart that does not answer: DEADLINE_EXCEEDED, and the event was delivered.
  sv1::RequestEventRequest silent;
  silent.set_session_id(*sid);
  silent.mutable_event()->set_name("silent");
  silent.set_timeout_ms(300);
  sv1::RequestEventResponse resp;
  grpc::Status st = stub->Request(Ctx().get(), silent, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(st.error_message(), HasSubstr("did not answer within 300 ms"));

  ASSERT_TRUE(Send(*stub, *sid, "leave").ok());
  watching.join();  // the stream ends with the session
  ASSERT_GE(seen.size(), 4u);
  EXPECT_EQ(seen[0].input(), "event:position");
  EXPECT_THAT(seen[0].logs(), ::testing::ElementsAre("asked: 1"));
  EXPECT_EQ(seen[2].input(), "event:silent");
  EXPECT_TRUE(seen.back().finished());
  EXPECT_GT(seen[1].seq(), seen[0].seq());
  EXPECT_TRUE(reader->Finish().ok());
}

// Sends an `ev` carrying n to the session named by its `peer` parameter on each `fire`.
constexpr char kSender[] = R"XML(
  <datamodel><data id="peer" _type="parameter"/></datamodel>
  <state id="s">
    <transition event="fire"><send eventexpr="'ev'" targetexpr="'#_scxml_' + peer"><param name="n" expr="_event.data.n"/></send></transition>
  </state>)XML";

TEST_F(SessionEngineTest, SessionsSendToSessionsOnTheirNodeAndOnOtherNodes) {
  auto one = StartEngine("", 1);
  auto two = StartEngine("", 2);
  ASSERT_OK(one);
  ASSERT_OK(two);
  auto s1 = Stub(*one);
  auto s2 = Stub(*two);
  const std::string receiver = Chart("recv.scxml", kCounter, "initial=\"idle\" _persist=\"true\"");
  const std::string sender = Chart("send.scxml", kSender, "initial=\"s\" _persist=\"true\"");
  auto local = Start(*s1, receiver);
  auto remote = Start(*s2, receiver);
  ASSERT_OK(local);
  ASSERT_OK(remote);
  auto a = Start(*s1, sender, {{"peer", *local}});
  auto b = Start(*s1, sender, {{"peer", *remote}});
  ASSERT_OK(a);
  ASSERT_OK(b);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(Send(*s1, *a, "fire", i).ok());
    ASSERT_TRUE(Send(*s1, *b, "fire", 10 + i).ok());
  }
  EXPECT_TRUE(Eventually([&] { return Data(*s1, *local, "seen") == "[0,1,2]"; })) << Data(*s1, *local, "seen");
  EXPECT_TRUE(Eventually([&] { return Data(*s2, *remote, "seen") == "[10,11,12]"; })) << Data(*s2, *remote, "seen");
}

// Sends between nodes use TLS when the engines are configured for it, and a
// peer that does not speak the same is refused: node 2 serves TLS only;
// node 1 reaches it with orchestration.peer-tls-ca; node 3 (no peer TLS)
// cannot reach it, and node 1 refuses node 4, which serves plaintext.
TEST_F(SessionEngineTest, SendsBetweenNodesUseTlsAndAPeerWithoutItIsRefused) {
  auto certs = testing::MakeTestCerts(dir_.path());
  ASSERT_OK(certs);
  auto tls_two = StartEngine(absl::StrCat("server.tls-cert = \"", certs->server_cert, "\"\nserver.tls-key = \"",
                                          certs->server_key, "\"\n"),
                             2, /*primary=*/false);
  ASSERT_OK(tls_two);
  grpc_util::ChannelOptions tls;
  {
    std::ifstream in(certs->ca_cert);
    tls.tls.ca_pem.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  auto s2 = sv1::Sessions::NewStub(grpc_util::MakeChannel(tls_two->grpc, tls));
  auto health = Health::NewStub(grpc_util::MakeChannel(tls_two->grpc, tls));
  ASSERT_TRUE(Eventually([&] {
    HealthCheckRequest req;
    req.set_service(kSessionsService);
    HealthCheckResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    return health->Check(&ctx, req, &resp).ok() && resp.status() == HealthCheckResponse::SERVING;
  }));
  auto one = StartEngine(absl::StrCat("orchestration.peer-tls-ca = \"", certs->ca_cert, "\"\n"), 1);
  auto three = StartEngine("", 3);
  auto four = StartEngine("", 4);
  ASSERT_OK(one);
  ASSERT_OK(three);
  ASSERT_OK(four);
  auto s1 = Stub(*one);
  auto s3 = Stub(*three);
  auto s4 = Stub(*four);
  const std::string receiver = Chart("recv_tls.scxml", kCounter, "initial=\"idle\" _persist=\"true\"");
  const std::string sender = Chart("send_tls.scxml", kSender, "initial=\"s\" _persist=\"true\"");
  auto on_two = Start(*s2, receiver);
  auto on_four = Start(*s4, receiver);
  ASSERT_OK(on_two);
  ASSERT_OK(on_four);
  // The sender's log names each refused send; read it from its stderr.
  auto refused = [&](Served& engine, const std::string& target) {
    for (int i = 0; i < 200; ++i) {
      auto line = engine.process->ReadLine(Subprocess::Stream::kStderr, absl::Seconds(1));
      if (line.ok() && absl::StrContains(*line, "send to a session failed") && absl::StrContains(*line, target)) {
        return true;
      }
    }
    return false;
  };

  auto a = Start(*s1, sender, {{"peer", *on_two}});
  ASSERT_OK(a);
  ASSERT_TRUE(Send(*s1, *a, "fire", 1).ok());
  EXPECT_TRUE(Eventually([&] { return Data(*s2, *on_two, "seen") == "[1]"; })) << Data(*s2, *on_two, "seen");

  auto b = Start(*s3, sender, {{"peer", *on_two}});
  ASSERT_OK(b);
  ASSERT_TRUE(Send(*s3, *b, "fire", 3).ok());
  EXPECT_TRUE(refused(*three, *on_two)) << "a plaintext client reached a TLS-only engine";

  auto c = Start(*s1, sender, {{"peer", *on_four}});
  ASSERT_OK(c);
  ASSERT_TRUE(Send(*s1, *c, "fire", 4).ok());
  EXPECT_TRUE(refused(*one, *on_four)) << "a TLS client accepted a plaintext engine";

  EXPECT_EQ(Data(*s2, *on_two, "seen"), "[1]");
  EXPECT_EQ(Data(*s4, *on_four, "seen"), "[]");
}

}  // namespace
}  // namespace orch::session_engine
