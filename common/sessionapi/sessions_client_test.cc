#include "common/sessionapi/sessions_client.h"

#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/grpc/server.h"
#include "common/grpc/status.h"
#include "common/sessionapi/fake_lease_reader.h"
#include "common/testing/certs.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "common/tls/tls_files.h"
#include "common/time/simulated_clock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "orch/session/v1/sessions.grpc.pb.h"

namespace orch::sessionapi {
namespace {

using ::orch::testing::IsOkAndHolds;
using ::orch::testing::StatusIs;
using ::testing::HasSubstr;

// A session-engine's Sessions service in process: every call answers
// `answer` (OK: a response naming this engine), or is held until released
// or cancelled. Counts calls and the connections they came on.
class FakeEngine final : public sv1::Sessions::CallbackService {
 public:
  explicit FakeEngine(std::string name) : name_(std::move(name)) {}

  void Answer(absl::Status status) {
    absl::MutexLock lock(&mu_);
    answer_ = std::move(status);
  }
  void Hold(bool hold) {
    absl::MutexLock lock(&mu_);
    hold_ = hold;
  }
  // Runs at each call, before it is answered.
  void OnCall(std::function<void()> f) {
    absl::MutexLock lock(&mu_);
    on_call_ = std::move(f);
  }
  // Answers the held calls (OK).
  void ReleaseHeld() {
    absl::MutexLock lock(&mu_);
    for (auto& h : held_) h->FinishOnce(::grpc::Status::OK);
  }
  int calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  std::set<std::string> peers() const {
    absl::MutexLock lock(&mu_);
    return peers_;
  }
  bool WaitForCalls(int n) const {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return calls_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(30));
  }

  ::grpc::ServerUnaryReactor* StartSession(::grpc::CallbackServerContext* ctx, const sv1::StartSessionRequest*,
                                           sv1::StartSessionResponse* resp) override {
    resp->set_session_id(name_);
    resp->set_created(true);
    return Reply(ctx);
  }
  ::grpc::ServerUnaryReactor* SendEvent(::grpc::CallbackServerContext* ctx, const sv1::SendEventRequest* req,
                                        sv1::SendEventResponse* resp) override {
    resp->set_seq(req->event().name().size());
    return Reply(ctx);
  }
  ::grpc::ServerUnaryReactor* Request(::grpc::CallbackServerContext* ctx, const sv1::RequestEventRequest* req,
                                      sv1::RequestEventResponse* resp) override {
    resp->set_name(absl::StrCat(req->event().name(), ".answer"));
    return Reply(ctx);
  }
  ::grpc::ServerUnaryReactor* QuerySession(::grpc::CallbackServerContext* ctx, const sv1::QuerySessionRequest* req,
                                           sv1::QuerySessionResponse* resp) override {
    resp->set_session_id(name_);
    return Reply(ctx);
  }
  ::grpc::ServerUnaryReactor* TerminateSession(::grpc::CallbackServerContext* ctx,
                                               const sv1::TerminateSessionRequest*,
                                               sv1::TerminateSessionResponse*) override {
    return Reply(ctx);
  }

 private:
  // A call answered later: by ReleaseHeld, or CANCELLED when the client
  // gives up. Owned by the engine (freed with it, after the server).
  class Held final : public ::grpc::ServerUnaryReactor {
   public:
    void FinishOnce(::grpc::Status s) {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      finished_ = true;
      Finish(std::move(s));
    }
    void OnCancel() override { FinishOnce(::grpc::Status::CANCELLED); }
    void OnDone() override {}

   private:
    absl::Mutex mu_;
    bool finished_ ABSL_GUARDED_BY(mu_) = false;
  };

  ::grpc::ServerUnaryReactor* Reply(::grpc::CallbackServerContext* ctx) {
    absl::MutexLock lock(&mu_);
    ++calls_;
    if (on_call_) on_call_();
    peers_.insert(ctx->peer());
    if (hold_) {
      held_.push_back(std::make_unique<Held>());
      return held_.back().get();
    }
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc_util::ToGrpcStatus(answer_));
    return r;
  }

  const std::string name_;
  mutable absl::Mutex mu_;
  absl::Status answer_ ABSL_GUARDED_BY(mu_);
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void()> on_call_ ABSL_GUARDED_BY(mu_);
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<std::string> peers_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Held>> held_ ABSL_GUARDED_BY(mu_);
};

// An engine serving on loopback (the service outlives its server).
struct Engine {
  explicit Engine(std::string name, tls::TlsFiles tls = {}) : service(std::move(name)) {
    auto s = grpc_util::GrpcServer::Start({.listen = "127.0.0.1:0", .tls = tls}, {&service}, nullptr);
    EXPECT_TRUE(s.ok()) << s.status();
    if (!s.ok()) return;
    server = *std::move(s);
    // The test certificates name localhost.
    endpoint = absl::StrCat(tls.enabled() ? "localhost:" : "127.0.0.1:", server->port());
  }
  FakeEngine service;
  std::unique_ptr<grpc_util::GrpcServer> server;
  std::string endpoint;
};

// What a Done<T> got, waited for with a bound.
template <typename T>
class Got {
 public:
  Done<T> Callback() {
    return [this](absl::StatusOr<T> r) {
      result_ = std::move(r);
      ++calls_;
      done_.Notify();
    };
  }
  const absl::StatusOr<T>& Wait() {
    EXPECT_TRUE(done_.WaitForNotificationWithTimeout(absl::Seconds(30))) << "no answer";
    return result_;
  }
  bool answered() const { return done_.HasBeenNotified(); }
  bool WaitFor(absl::Duration d) { return done_.WaitForNotificationWithTimeout(d); }
  int calls() const { return calls_; }

 private:
  absl::Notification done_;
  absl::StatusOr<T> result_ = absl::UnknownError("no answer");
  std::atomic<int> calls_{0};
};

sv1::SendEventRequest Event(const std::string& name = "go") {
  sv1::SendEventRequest req;
  req.set_session_id("~1~AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  req.mutable_event()->set_name(name);
  return req;
}

class SessionsClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = NodeDirectory::Create(&leases_, &clock_, {});
    ASSERT_OK(d);
    directory_ = *std::move(d);
  }
  SessionsClient& Client(SessionsClientOptions options = {.call_timeout = absl::Seconds(30)}) {
    auto c = SessionsClient::Create(directory_.get(), &clock_, std::move(options));
    EXPECT_TRUE(c.ok()) << c.status();
    client_ = *std::move(c);
    return *client_;
  }
  absl::StatusOr<sv1::SendEventResponse> Send(int node, bool retry_safe = false, absl::Duration deadline = {}) {
    Got<sv1::SendEventResponse> got;
    client_->SendEvent(node, Event(), {.deadline = deadline, .retry_safe = retry_safe}, got.Callback());
    return got.Wait();
  }
  absl::StatusOr<std::string> Query(int node) {
    Got<sv1::QuerySessionResponse> got;
    client_->QuerySession(node, {}, {.retry_safe = true}, got.Callback());
    const auto& r = got.Wait();
    if (!r.ok()) return r.status();
    return r->session_id();
  }
  // `from` serves node 1 and has answered a call; then it loses the node
  // to `to` (and says so) before the directory's next refresh round.
  void Takeover(Engine& from, Engine& to) {
    leases_.SetPrimary(1, from.endpoint);
    if (client_ == nullptr) Client();
    ASSERT_OK(Send(1));
    from.service.Answer(absl::UnavailableError("not the primary"));
    leases_.SetPrimary(1, to.endpoint);
  }
  // A SendEvent to node 1 that `engine` holds: in flight once this returns.
  std::unique_ptr<Got<sv1::SendEventResponse>> HeldSend(Engine& engine) {
    engine.service.Hold(true);
    leases_.SetPrimary(1, engine.endpoint);
    if (client_ == nullptr) Client();
    auto got = std::make_unique<Got<sv1::SendEventResponse>>();
    client_->SendEvent(1, Event(), {}, got->Callback());
    EXPECT_TRUE(engine.service.WaitForCalls(1));
    return got;
  }
  // The next refresh round of the directory, answered.
  void RefreshRound(int node) {
    const int answered = leases_.Reads(node);
    clock_.Advance(absl::Milliseconds(500));
    ASSERT_TRUE(leases_.WaitForAnswers(node, answered + 1));
  }

  time::SimulatedClock clock_;
  FakeLeaseReader leases_{&clock_};
  std::unique_ptr<NodeDirectory> directory_;
  std::unique_ptr<SessionsClient> client_;
};

TEST_F(SessionsClientTest, BadOptionsAreRefusedByName) {
  EXPECT_THAT(SessionsClient::Create(directory_.get(), &clock_, {.connections_per_endpoint = 0}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("connections_per_endpoint")));
  EXPECT_THAT(SessionsClient::Create(directory_.get(), &clock_, {.call_timeout = absl::ZeroDuration()}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("call_timeout")));
}

TEST_F(SessionsClientTest, EveryMethodReachesTheNodesPrimary) {
  Engine a("a"), b("b");
  leases_.SetPrimary(1, a.endpoint);
  leases_.SetPrimary(2, b.endpoint);
  SessionsClient& client = Client();

  Got<sv1::StartSessionResponse> started;
  client.StartSession(2, {}, {}, started.Callback());
  ASSERT_OK(started.Wait());
  EXPECT_EQ(started.Wait()->session_id(), "b");
  auto sent = Send(1);
  ASSERT_OK(sent);
  EXPECT_EQ(sent->seq(), 2u);
  Got<sv1::RequestEventResponse> asked;
  sv1::RequestEventRequest req;
  req.mutable_event()->set_name("ask");
  client.Request(1, req, {}, asked.Callback());
  ASSERT_OK(asked.Wait());
  EXPECT_EQ(asked.Wait()->name(), "ask.answer");
  EXPECT_THAT(Query(2), IsOkAndHolds("b"));
  Got<sv1::TerminateSessionResponse> terminated;
  client.TerminateSession(1, {}, {}, terminated.Callback());
  ASSERT_OK(terminated.Wait());
  EXPECT_EQ(a.service.calls(), 3);
  EXPECT_EQ(b.service.calls(), 2);
  EXPECT_EQ(started.calls(), 1);
}

TEST_F(SessionsClientTest, TheEnginesStatusReachesTheCallerUnchanged) {
  Engine a("a");
  leases_.SetPrimary(1, a.endpoint);
  Client();
  ASSERT_OK(Send(1));   // node 1 known from here on
  const absl::Status answers[] = {
      absl::NotFoundError("unknown session ~1~AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
      absl::FailedPreconditionError("session belongs to node 2; this is node 1"),
      absl::OutOfRangeError("event is larger than 1024 bytes"),
      absl::InvalidArgumentError("bad event name"),
      absl::ResourceExhaustedError("the session's worker queue is full"),
      absl::AbortedError("fenced"),
  };
  int calls = 1;
  for (const absl::Status& answer : answers) {
    SCOPED_TRACE(answer.ToString());
    a.service.Answer(answer);
    const int reads = leases_.Reads(1);
    // Safe to repeat, but only UNAVAILABLE is a reason to.
    EXPECT_EQ(Send(1, /*retry_safe=*/true).status(), answer);
    EXPECT_EQ(a.service.calls(), ++calls);
    EXPECT_EQ(leases_.Reads(1), reads) << "only UNAVAILABLE makes the lease be read again";
  }
}

TEST_F(SessionsClientTest, NoPrimaryIsUnavailableNamingTheNode) {
  Client();
  Got<sv1::SendEventResponse> got;
  client_->SendEvent(5, Event(), {}, got.Callback());
  EXPECT_THAT(got.Wait(), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("node 5 has no primary")));
}

TEST_F(SessionsClientTest, ASafeCallIsRepeatedOnceAtTheNewPrimary) {
  Engine a("a"), b("b");
  Takeover(a, b);
  ASSERT_OK(Send(1, /*retry_safe=*/true));
  EXPECT_EQ(a.service.calls(), 2);
  EXPECT_EQ(b.service.calls(), 1);
}

TEST_F(SessionsClientTest, AnUnsafeCallIsNotRepeatedButTheNextGoesToTheNewPrimary) {
  Engine a("a"), b("b");
  Takeover(a, b);
  EXPECT_THAT(Send(1, /*retry_safe=*/false),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("node 1")));
  EXPECT_EQ(a.service.calls(), 2);
  EXPECT_EQ(b.service.calls(), 0) << "an event whose outcome is unknown is not sent twice";
  ASSERT_OK(Send(1));
  EXPECT_EQ(b.service.calls(), 1);
}

TEST_F(SessionsClientTest, ARequestIsNeverRepeated) {
  Engine a("a"), b("b");
  Takeover(a, b);
  Got<sv1::RequestEventResponse> got;
  client_->Request(1, {}, {.retry_safe = true}, got.Callback());
  EXPECT_THAT(got.Wait(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(a.service.calls(), 2);
  EXPECT_EQ(b.service.calls(), 0);
}

TEST_F(SessionsClientTest, RepeatedAtMostOnceAndOnlyWhenThePrimaryChanged) {
  Engine a("a"), b("b"), c("c");
  leases_.SetPrimary(1, a.endpoint);
  Client();
  ASSERT_OK(Send(1));
  // Same primary after the re-read: nothing to repeat.
  a.service.Answer(absl::UnavailableError("overloaded transport"));
  const int reads = leases_.Reads(1);
  EXPECT_THAT(Send(1, /*retry_safe=*/true), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(a.service.calls(), 2);
  EXPECT_EQ(leases_.Reads(1), reads + 1);
  // B fails, C holds the lease then and fails too, B holds it again by
  // the time C's failure is looked into: no third attempt.
  leases_.SetPrimary(1, b.endpoint);
  RefreshRound(1);
  leases_.SetPrimary(1, c.endpoint);
  b.service.Answer(absl::UnavailableError("not the primary"));
  c.service.Answer(absl::UnavailableError("not the primary"));
  c.service.OnCall([&] { leases_.SetPrimary(1, b.endpoint); });
  EXPECT_THAT(Send(1, /*retry_safe=*/true), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(b.service.calls(), 1);
  EXPECT_EQ(c.service.calls(), 1);
  EXPECT_EQ(a.service.calls(), 2);
}

TEST_F(SessionsClientTest, DeadlinesFromTheCallerOrTheOptions) {
  Engine a("a");
  a.service.Hold(true);
  leases_.SetPrimary(1, a.endpoint);
  // The options' deadline is long: only the caller's can end this call.
  Client({.call_timeout = absl::Seconds(600)});
  EXPECT_THAT(Send(1, false, absl::Milliseconds(200)), StatusIs(absl::StatusCode::kDeadlineExceeded));
  Client({.call_timeout = absl::Milliseconds(200)});
  EXPECT_THAT(Send(1), StatusIs(absl::StatusCode::kDeadlineExceeded));
}

TEST_F(SessionsClientTest, CallsAreSpreadOverTheConnections) {
  Engine a("a");
  leases_.SetPrimary(1, a.endpoint);
  Client({.connections_per_endpoint = 3, .call_timeout = absl::Seconds(30)});
  for (int i = 0; i < 12; ++i) ASSERT_OK(Send(1));
  EXPECT_EQ(a.service.peers().size(), 3u);
}

TEST_F(SessionsClientTest, ChannelsOfFormerPrimariesAreDropped) {
  Engine a("a"), b("b"), c("c");
  leases_.SetPrimary(1, a.endpoint);
  leases_.SetPrimary(2, b.endpoint);
  Client();
  EXPECT_THAT(Query(1), IsOkAndHolds("a"));
  EXPECT_THAT(Query(2), IsOkAndHolds("b"));
  EXPECT_EQ(client_->CachedEndpoints(), 2u);
  // C takes node 1 over: A's channels go at the next call.
  leases_.SetPrimary(1, c.endpoint);
  RefreshRound(1);
  EXPECT_THAT(Query(1), IsOkAndHolds("c"));
  EXPECT_EQ(client_->CachedEndpoints(), 2u);
  // Node 2 loses its primary: B's go too.
  leases_.Clear(2);
  RefreshRound(2);
  EXPECT_THAT(Query(1), IsOkAndHolds("c"));
  EXPECT_EQ(client_->CachedEndpoints(), 1u);
}

TEST_F(SessionsClientTest, ShutdownCancelsCallsInFlightAndWaitsForTheirCallbacks) {
  Engine a("a");
  auto got = HeldSend(a);
  client_->Shutdown(absl::ZeroDuration());
  EXPECT_TRUE(got->answered()) << "Shutdown returns after the callbacks";
  EXPECT_THAT(got->Wait(), StatusIs(absl::StatusCode::kCancelled));
  Got<sv1::SendEventResponse> late;
  client_->SendEvent(1, Event(), {}, late.Callback());
  EXPECT_TRUE(late.answered()) << "answered inline";
  EXPECT_THAT(late.Wait(), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("shut down")));
  EXPECT_EQ(a.service.calls(), 1);
}

TEST_F(SessionsClientTest, CallsInFlightMayFinishWithinTheGrace) {
  Engine a("a");
  auto got = HeldSend(a);
  // The simulated clock does not move: the grace never runs out here.
  std::thread stopper([&] { client_->Shutdown(absl::Seconds(10)); });
  a.service.ReleaseHeld();
  stopper.join();
  EXPECT_OK(got->Wait());
}

TEST_F(SessionsClientTest, CallsStillInFlightWhenTheGraceRunsOutAreCancelled) {
  Engine a("a");
  auto got = HeldSend(a);
  std::thread stopper([&] { client_->Shutdown(absl::Seconds(10)); });
  // However late Shutdown starts counting, the clock passes its grace.
  for (int i = 0; i < 3000 && !got->WaitFor(absl::Milliseconds(10)); ++i) clock_.Advance(absl::Seconds(10));
  stopper.join();
  EXPECT_THAT(got->Wait(), StatusIs(absl::StatusCode::kCancelled));
}

class SessionsClientTlsTest : public SessionsClientTest {
 protected:
  void SetUp() override {
    SessionsClientTest::SetUp();
    auto certs = testing::MakeTestCerts(dir_.path());
    ASSERT_OK(certs);
    certs_ = *certs;
  }
  tls::TlsFiles Load(const std::string& cert, const std::string& key, const std::string& ca) {
    auto f = tls::LoadTlsFiles({.cert = cert, .key = key, .ca = ca});
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? *f : tls::TlsFiles{};
  }

  testing::TempDir dir_;
  testing::TestCerts certs_;
};

TEST_F(SessionsClientTlsTest, ATlsEngineAcceptsAVerifyingClientAndRefusesPlaintext) {
  Engine a("a", Load(certs_.server_cert, certs_.server_key, ""));
  leases_.SetPrimary(1, a.endpoint);
  Client({.channel = {.tls = Load("", "", certs_.ca_cert)}, .call_timeout = absl::Seconds(30)});
  EXPECT_THAT(Query(1), IsOkAndHolds("a"));
  Client({.call_timeout = absl::Seconds(30)});
  EXPECT_THAT(Query(1), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(a.service.calls(), 1);
}

TEST_F(SessionsClientTlsTest, MutualTlsNeedsTheClientCertificate) {
  Engine a("a", Load(certs_.server_cert, certs_.server_key, certs_.ca_cert));
  leases_.SetPrimary(1, a.endpoint);
  Client({.channel = {.tls = Load("", "", certs_.ca_cert)}, .call_timeout = absl::Seconds(30)});
  EXPECT_THAT(Query(1), StatusIs(absl::StatusCode::kUnavailable));
  Client({.channel = {.tls = Load(certs_.client_cert, certs_.client_key, certs_.ca_cert)},
          .call_timeout = absl::Seconds(30)});
  EXPECT_THAT(Query(1), IsOkAndHolds("a"));
  EXPECT_EQ(a.service.calls(), 1);
}

}  // namespace
}  // namespace orch::sessionapi
