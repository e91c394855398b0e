// The CallWatcher service in process, over loopback gRPC: a scripted
// adapter on a real Connect stream, sessions through FakeSessionSink, the
// store through FakeCallStore, time on a SimulatedClock.

#include "services/call_watcher/call_watcher.h"

#include <grpcpp/grpcpp.h>

#include "common/grpc/channel.h"
#include "common/grpc/server.h"
#include "common/sessionapi/session_id.h"
#include "common/testing/eventually.h"
#include "common/testing/status_matchers.h"
#include "common/time/simulated_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/call_watcher/fake_call_store.h"

namespace orch::call_watcher {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kDnFile[] = R"(
default-route = "7999"

[[dn]]
dn = "5000"
application = "file:/route.scxml?dnis=[DNIS] file:/alt.scxml"
[dn.parameters]
vq = "vq_sales"

[[dn]]
dn = "5001"
application = "http://down/app.scxml http://down/alt.scxml"
default-route = "7000"
)";

constexpr int64_t kDefaultRouteMs = 5000;

std::string Data(const event::v1::Event& e, const std::string& name) {
  auto it = e.data().struct_value().fields().find(name);
  return it == e.data().struct_value().fields().end() ? "<absent>" : it->second.string_value();
}

// An adapter on one Connect stream, driven step by step by the test.
class ScriptedAdapter {
 public:
  ScriptedAdapter(cv1::CallWatcher::Stub* stub, const std::string& id) : id_(id) {
    ctx_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    stream_ = stub->Connect(&ctx_);
    cv1::AdapterMessage m;
    m.mutable_hello()->set_adapter_id(id);
    m.mutable_hello()->set_switch_name("sim");
    m.mutable_hello()->set_tenant("acme");
    EXPECT_TRUE(stream_->Write(m));
    cv1::WatcherMessage w;
    EXPECT_TRUE(stream_->Read(&w));
    EXPECT_TRUE(w.has_welcome());
    welcome = w.welcome();
  }

  bool Interaction(uint64_t seq, cv1::InteractionEventType type, const std::string& call, const std::string& dn,
                   std::function<void(cv1::InteractionEvent&)> more = nullptr) {
    cv1::AdapterMessage m;
    auto& e = *m.mutable_interaction();
    e.set_seq(seq);
    e.set_type(type);
    e.set_call_uuid(call);
    e.set_this_dn(dn);
    e.set_ani("+15550100");
    e.set_dnis("8005550199");
    if (more) more(e);
    return stream_->Write(m);
  }

  bool Target(uint64_t seq, const std::string& target, cv1::TargetState state, const std::string& call = "") {
    cv1::AdapterMessage m;
    auto& e = *m.mutable_target();
    e.set_seq(seq);
    e.set_target(target);
    e.set_state(state);
    e.set_call_uuid(call);
    e.set_time_unix_ms(1000);
    return stream_->Write(m);
  }

  bool Result(const std::string& request_id, bool ok) {
    cv1::AdapterMessage m;
    m.mutable_result()->set_request_id(request_id);
    m.mutable_result()->set_ok(ok);
    return stream_->Write(m);
  }

  // Reads until `pred` holds for a message (true) or the stream ends.
  bool ReadUntil(const std::function<bool(const cv1::WatcherMessage&)>& pred) {
    cv1::WatcherMessage w;
    while (stream_->Read(&w)) {
      if (w.has_ack()) acked = std::max(acked, w.ack().seq());
      if (w.has_request()) requests.push_back(w.request());
      if (w.has_rejected()) rejected.push_back(w.rejected());
      if (pred(w)) return true;
    }
    return false;
  }
  bool AckedAtLeast(uint64_t seq) {
    if (acked >= seq) return true;
    return ReadUntil([&](const cv1::WatcherMessage&) { return acked >= seq; });
  }
  bool NextRequest() {
    return ReadUntil([](const cv1::WatcherMessage& w) { return w.has_request(); });
  }

  grpc::Status Close() {
    stream_->WritesDone();
    cv1::WatcherMessage w;
    while (stream_->Read(&w)) {
    }
    return stream_->Finish();
  }
  grpc::Status Finish() {
    cv1::WatcherMessage w;
    while (stream_->Read(&w)) {
    }
    return stream_->Finish();
  }

  cv1::Welcome welcome;
  uint64_t acked = 0;
  std::vector<cv1::SwitchRequest> requests;
  std::vector<cv1::Rejected> rejected;

 private:
  std::string id_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<cv1::AdapterMessage, cv1::WatcherMessage>> stream_;
};

class CallWatcherServiceTest : public ::testing::Test {
 protected:
  CallWatcherServiceTest()
      : store_(&clock_),
        cfg_(*DnConfig::Parse(kDnFile, "dn.toml")),
        router_({.watcher = "127.0.0.1:7104", .nodes = {1, 2}, .default_route_timeout_ms = kDefaultRouteMs,
                 .reservation_ttl_ms = 10000},
                [this] { return cfg_; }, &sink_, &store_, nullptr, [](std::function<void()> f) { f(); }, &clock_,
                nullptr),
        service_(&router_) {
    auto server = grpc_util::GrpcServer::Start({.listen = "127.0.0.1:0"}, {&service_}, nullptr);
    EXPECT_OK(server);
    server_ = *std::move(server);
    stub_ = cv1::CallWatcher::NewStub(grpc_util::MakeChannel(server_->address()));
  }

  std::string SessionOf(const std::string& call) {
    return sessionapi::SessionIdForKey(CallRouter::NodeFor(call, {1, 2}), "call:" + call);
  }

  grpc::Status Submit(const std::string& call, const std::string& module, const std::string& action,
                      const std::string& effect, const std::string& request_id, const google::protobuf::Struct& params,
                      cv1::SubmitActionResponse* resp) {
    cv1::SubmitActionRequest req;
    req.set_session_id(SessionOf(call));
    req.set_effect_id(effect);
    req.set_request_id(request_id);
    req.set_module(module);
    req.set_action(action);
    req.set_interaction_id(call);
    *req.mutable_params() = params;
    grpc::ClientContext ctx;
    return stub_->SubmitAction(&ctx, req, resp);
  }

  static google::protobuf::Struct SubmitTo(const std::string& agent, bool route) {
    google::protobuf::Struct p;
    auto& f = *p.mutable_fields();
    f["queue"].set_string_value("vq_sales");
    f["timeout"].set_number_value(30);
    f["route"].set_bool_value(route);
    google::protobuf::Struct t;
    (*t.mutable_fields())["name"].set_string_value(agent);
    (*t.mutable_fields())["type"].set_string_value("agent");
    google::protobuf::Struct targets;
    *(*targets.mutable_fields())["target"].mutable_list_value()->add_values()->mutable_struct_value() = t;
    *f["targets"].mutable_list_value()->add_values()->mutable_struct_value() = targets;
    return p;
  }

  time::SimulatedClock clock_;
  FakeCallStore store_;
  FakeSessionSink sink_;
  std::shared_ptr<const DnConfig> cfg_;
  CallRouter router_;
  CallWatcherService service_;
  std::unique_ptr<grpc_util::GrpcServer> server_;
  std::unique_ptr<cv1::CallWatcher::Stub> stub_;
};

TEST_F(CallWatcherServiceTest, ACallFromRouteRequestToAgentWithQueueSubmit) {
  ScriptedAdapter a(stub_.get(), "sim-1");
  EXPECT_EQ(a.welcome.resume_after_seq(), 0u);
  ASSERT_TRUE(a.Target(1, "a1", cv1::READY));
  ASSERT_TRUE(a.Interaction(2, cv1::ROUTE_REQUEST, "c1", "5000"));
  ASSERT_TRUE(a.AckedAtLeast(2));

  auto starts = sink_.starts();
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_EQ(starts[0].req.url(), "file:/route.scxml?dnis=8005550199");
  EXPECT_EQ(starts[0].req.alternate_url(), "file:/alt.scxml");
  EXPECT_EQ(starts[0].req.parameters().at("vq").string_value(), "vq_sales");
  EXPECT_EQ(starts[0].req.interaction().watcher(), "127.0.0.1:7104");
  EXPECT_EQ(starts[0].req.idempotency_key(), "call:c1");

  cv1::SubmitActionResponse resp;
  ASSERT_TRUE(Submit("c1", "queue", "submit", "s/1", "sub-1", SubmitTo("a1", /*route=*/true), &resp).ok());
  EXPECT_FALSE(resp.duplicate());
  ASSERT_TRUE(Submit("c1", "queue", "submit", "s/1", "sub-1", SubmitTo("a1", true), &resp).ok());
  EXPECT_TRUE(resp.duplicate());
  ASSERT_TRUE(a.NextRequest());
  ASSERT_EQ(a.requests.size(), 1u);
  EXPECT_EQ(a.requests[0].type(), cv1::ROUTE);
  EXPECT_EQ(a.requests[0].call_uuid(), "c1");
  EXPECT_EQ(a.requests[0].target(), "a1");
  EXPECT_EQ(*store_.ReserveTarget("a1", "someone", absl::Seconds(1)), "c1");

  ASSERT_TRUE(a.Result(a.requests[0].request_id(), true));
  ASSERT_TRUE(a.Interaction(3, cv1::ESTABLISHED, "c1", "a1"));
  ASSERT_TRUE(a.Target(4, "a1", cv1::BUSY, "c1"));
  ASSERT_TRUE(a.AckedAtLeast(4));
  // Landed: the reservation stays until the agent is READY again, so a
  // replica whose target events lag cannot give the busy agent away.
  EXPECT_EQ(*store_.ReserveTarget("a1", "someone", absl::Seconds(1)), "c1");

  grpc::ClientContext gctx;
  cv1::GetCallRequest greq;
  greq.set_call_uuid("c1");
  cv1::GetCallResponse call;
  ASSERT_TRUE(stub_->GetCall(&gctx, greq, &call).ok());
  EXPECT_EQ(call.state(), "established");
  EXPECT_EQ(call.routed_to(), "a1");
  EXPECT_EQ(call.session_id(), SessionOf("c1"));
  EXPECT_EQ(call.adapter_id(), "sim-1");

  ASSERT_TRUE(a.Interaction(5, cv1::RELEASED, "c1", "a1", [](auto& e) { e.set_cause("normal"); }));
  ASSERT_TRUE(a.AckedAtLeast(5));
  // A resend of an acknowledged event is dropped; the next one goes on.
  ASSERT_TRUE(a.Interaction(5, cv1::RELEASED, "c1", "a1"));
  EXPECT_EQ(*store_.ReserveTarget("a1", "someone", absl::Seconds(1)), "c1");   // the call's end keeps it
  ASSERT_TRUE(a.Target(6, "a1", cv1::READY));
  ASSERT_TRUE(a.AckedAtLeast(6));
  EXPECT_TRUE(testing::Eventually([&] { return *store_.ReserveTarget("a1", "someone", absl::Seconds(1)) == "someone"; }));

  EXPECT_THAT(sink_.EventNames(SessionOf("c1")),
              ElementsAre("interaction.added", "queue.submit.requestid", "queue.submit.done",
                          "interaction.partystatechanged", "interaction.deleted"));
  std::vector<std::string> effects;
  for (const auto& s : sink_.sends()) effects.push_back(s.req.event().effect_id());
  EXPECT_THAT(effects, ElementsAre("call/sim-1/2", "cw/s/1/1", "cw/s/1/2", "call/sim-1/3", "call/sim-1/5"));
  auto done = sink_.LastEvent("queue.submit.done");
  EXPECT_EQ(Data(done, "requestid"), "sub-1");
  EXPECT_EQ(Data(done, "targetselected"), "a1");

  grpc::ClientContext gctx2;
  EXPECT_EQ(stub_->GetCall(&gctx2, greq, &call).error_code(), grpc::StatusCode::NOT_FOUND);

  // A gap ends the stream.
  ASSERT_TRUE(a.Interaction(9, cv1::ESTABLISHED, "c9", "a1"));
  grpc::Status end = a.Finish();
  EXPECT_EQ(end.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(end.error_message(), "sequence gap: expected 7, got 9");
}

TEST_F(CallWatcherServiceTest, AbandonWhileReservedReleasesTheReservation) {
  ScriptedAdapter a(stub_.get(), "sim-1");
  ASSERT_TRUE(a.Target(1, "a1", cv1::READY));
  ASSERT_TRUE(a.Interaction(2, cv1::ROUTE_REQUEST, "c1", "5000"));
  ASSERT_TRUE(a.AckedAtLeast(2));
  cv1::SubmitActionResponse resp;
  ASSERT_TRUE(Submit("c1", "queue", "submit", "s/1", "sub-1", SubmitTo("a1", /*route=*/false), &resp).ok());
  EXPECT_EQ(Data(sink_.LastEvent("queue.submit.done"), "targetselected"), "a1");

  grpc::ClientContext lctx;
  cv1::ListTargetsResponse targets;
  ASSERT_TRUE(stub_->ListTargets(&lctx, cv1::ListTargetsRequest(), &targets).ok());
  ASSERT_EQ(targets.targets_size(), 1);
  EXPECT_EQ(targets.targets(0).reserved_for(), "c1");
  EXPECT_EQ(targets.targets(0).state(), cv1::READY);

  ASSERT_TRUE(a.Interaction(3, cv1::RELEASED, "c1", "5000", [](auto& e) { e.set_cause("abandoned"); }));
  ASSERT_TRUE(a.AckedAtLeast(3));
  EXPECT_EQ(*store_.ReserveTarget("a1", "someone", absl::Seconds(1)), "someone");
  grpc::ClientContext lctx2;
  ASSERT_TRUE(stub_->ListTargets(&lctx2, cv1::ListTargetsRequest(), &targets).ok());
  EXPECT_EQ(targets.targets(0).reserved_for(), "");
  EXPECT_EQ(Data(sink_.LastEvent("interaction.deleted"), "resultof"), "abandoned");
  EXPECT_TRUE(a.Close().ok());
}

TEST_F(CallWatcherServiceTest, AfterAReconnectionResentEventsAndRequestsActOnce) {
  sink_.SetAutoAnswer(false);
  google::protobuf::Struct to;
  (*to.mutable_fields())["to"].set_string_value("7001");
  std::string request_id;
  {
    ScriptedAdapter a(stub_.get(), "sim-1");
    ASSERT_TRUE(a.Interaction(1, cv1::ROUTE_REQUEST, "c1", "5000"));
    ASSERT_TRUE(a.Interaction(2, cv1::USER_DATA_CHANGED, "c1", "5000"));
    ASSERT_TRUE(testing::Eventually([&] { return sink_.starts().size() == 1; }));
    cv1::SubmitActionResponse resp;
    ASSERT_TRUE(Submit("c1", "interaction", "redirect", "s/1", "red-1", to, &resp).ok());
    ASSERT_TRUE(a.NextRequest());
    request_id = a.requests[0].request_id();
    EXPECT_EQ(a.acked, 0u);   // nothing delivered yet
    EXPECT_TRUE(a.Close().ok());
  }
  ScriptedAdapter b(stub_.get(), "sim-1");
  EXPECT_EQ(b.welcome.resume_after_seq(), 0u);
  ASSERT_TRUE(b.NextRequest());   // the unanswered request, same id
  EXPECT_EQ(b.requests[0].request_id(), request_id);
  ASSERT_TRUE(b.Interaction(1, cv1::ROUTE_REQUEST, "c1", "5000"));
  ASSERT_TRUE(b.Interaction(2, cv1::USER_DATA_CHANGED, "c1", "5000"));
  ASSERT_TRUE(b.Result(request_id, true));
  ASSERT_TRUE(sink_.AnswerNextStart(absl::OkStatus()));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(testing::Eventually([&] { return sink_.AnswerNextSend(absl::OkStatus()); }));
  ASSERT_TRUE(b.AckedAtLeast(2));
  EXPECT_EQ(sink_.starts().size(), 1u);
  EXPECT_THAT(sink_.EventNames(SessionOf("c1")),
              ElementsAre("interaction.added", "interaction.udata.changed", "interaction.redirect.done"));
  EXPECT_TRUE(b.Close().ok());
}

TEST_F(CallWatcherServiceTest, DefaultRouteAfterTheTimeoutAndWhenTheApplicationCannotBeFetched) {
  ScriptedAdapter a(stub_.get(), "sim-1");
  ASSERT_TRUE(a.Interaction(1, cv1::ROUTE_REQUEST, "c1", "5000"));
  ASSERT_TRUE(a.AckedAtLeast(1));
  clock_.AdvanceMs(kDefaultRouteMs);
  router_.Tick();
  ASSERT_TRUE(a.NextRequest());
  EXPECT_EQ(a.requests[0].call_uuid(), "c1");
  EXPECT_EQ(a.requests[0].target(), "7999");
  EXPECT_EQ(a.requests[0].reason(), "timeout");

  sink_.FailUrl("http://down/app.scxml");
  sink_.FailUrl("http://down/alt.scxml");
  ASSERT_TRUE(a.Interaction(2, cv1::ROUTE_REQUEST, "c2", "5001"));
  ASSERT_TRUE(a.ReadUntil([](const cv1::WatcherMessage& w) { return w.has_rejected(); }));
  EXPECT_EQ(a.rejected[0].seq(), 2u);
  EXPECT_THAT(a.rejected[0].reason(), HasSubstr("application of DN 5001 could not be started"));
  ASSERT_TRUE(a.NextRequest());
  EXPECT_EQ(a.requests[1].call_uuid(), "c2");
  EXPECT_EQ(a.requests[1].target(), "7000");
  EXPECT_EQ(a.requests[1].reason(), "start_failed");
  EXPECT_EQ(sink_.starts().back().req.alternate_url(), "http://down/alt.scxml");   // the engine tried it
  ASSERT_TRUE(a.AckedAtLeast(2));
  EXPECT_TRUE(a.Close().ok());
}

TEST_F(CallWatcherServiceTest, ALinkMustStartWithAValidHello) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto stream = stub_->Connect(&ctx);
  cv1::AdapterMessage m;
  m.mutable_target()->set_seq(1);
  ASSERT_TRUE(stream->Write(m));
  cv1::WatcherMessage w;
  EXPECT_FALSE(stream->Read(&w));
  grpc::Status st = stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(st.error_message(), HasSubstr("must be a Hello"));
}

}  // namespace
}  // namespace orch::call_watcher
