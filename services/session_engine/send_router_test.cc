// SendRouter with fakes behind it: where each kind of send goes, effect
// ids, nothing answered in replay, and BasicHTTP off the calling thread
// with its failure coming back to the sender as an event.

#include "services/session_engine/send_router.h"

#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/js/ecmascript_data_model.h"
#include "common/scxml/basic_http.h"
#include "common/scxml/compiler.h"
#include "common/testing/status_matchers.h"
#include "common/time/simulated_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/session_engine/log_entries.h"

namespace orch::session_engine {
namespace {

namespace ev = orch::event::v1;
namespace sv1 = orch::session::v1;
using ::orch::testing::StatusIs;

constexpr char kSid[] = "~1~SENDER00000000000000000000000000";
constexpr char kChart[] = R"XML(<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    datamodel="ecmascript" initial="s"><state id="s"/></scxml>)XML";

class FakePeers final : public PeerSessions {
 public:
  void SendEvent(int node, sv1::SendEventRequest request, std::function<void(absl::Status)> done) override {
    {
      absl::MutexLock l(&mu);
      sent.emplace_back(node, std::move(request));
    }
    done(absl::NotFoundError("unknown session"));  // the peer's code, passed through
  }
  absl::Mutex mu;
  std::vector<std::pair<int, sv1::SendEventRequest>> sent ABSL_GUARDED_BY(mu);
};

// Holds each call's `done` until the test releases it.
class HoldingPeers final : public PeerSessions {
 public:
  void SendEvent(int node, sv1::SendEventRequest request, std::function<void(absl::Status)> done) override {
    absl::MutexLock l(&mu);
    names.push_back(request.event().name());
    held.push_back(std::move(done));
  }
  size_t calls() {
    absl::MutexLock l(&mu);
    return names.size();
  }
  void ReleaseAll() {
    std::vector<std::function<void(absl::Status)>> dones;
    {
      absl::MutexLock l(&mu);
      dones.swap(held);
    }
    for (auto& d : dones) d(absl::OkStatus());
  }
  absl::Mutex mu;
  std::vector<std::string> names ABSL_GUARDED_BY(mu);
  std::vector<std::function<void(absl::Status)>> held ABSL_GUARDED_BY(mu);
};

// Records each action and answers it with `answer`.
class FakeCallActions final : public CallActions {
 public:
  void Submit(const std::string& watcher, orch::calls::v1::SubmitActionRequest request,
              std::function<void(absl::Status)> done) override {
    {
      absl::MutexLock l(&mu);
      submitted.emplace_back(watcher, std::move(request));
    }
    done(answer);
  }
  absl::Status answer = absl::OkStatus();
  absl::Mutex mu;
  std::vector<std::pair<std::string, orch::calls::v1::SubmitActionRequest>> submitted ABSL_GUARDED_BY(mu);
};

class SendRouterTest : public ::testing::Test {
 protected:
  SendRouterTest()
      : docs_(scxml::CompileOptions{.ecmascript = &factory_}, nullptr, DocumentCache::Options{.clock = &clock_}),
        requests_("inst", &clock_),
        router_(SendRouter::Options{.node_id = 1, .io_threads = 2}, &requests_, &docs_, &peers_, &actions_,
                [this](const std::string& id, const ev::Event& e) {
                  absl::MutexLock l(&mu_);
                  delivered_.emplace_back(id, e);
                  return absl::OkStatus();
                },
                [this](const std::string& url, const scxml::Event&) {
                  release_http_.WaitForNotification();
                  return absl::UnavailableError(absl::StrCat("no answer from ", url));
                }) {
    auto doc = docs_.FromSource(kChart, "chart");
    EXPECT_OK(doc);
    ev::LogEntry started;
    started.set_seq(1);
    started.mutable_started()->set_random_seed(1);
    SessionConfig config{.ecmascript = &factory_};
    auto s = LiveSession::Start(kSid, true, *doc, started, config, &router_, 0);
    EXPECT_OK(s);
    session_ = *std::move(s);
  }
  ~SendRouterTest() override {
    if (!release_http_.HasBeenNotified()) release_http_.Notify();
    router_.Stop();
  }
  static scxml::Event Event(const std::string& name) {
    scxml::Event e;
    e.name = name;
    e.sendid = "sid1";
    e.data = "{\"k\":1}";
    return e;
  }
  size_t Delivered() {
    absl::MutexLock l(&mu_);
    return delivered_.size();
  }

  time::SimulatedClock clock_;
  js::EcmascriptDataModelFactory factory_;
  DocumentCache docs_;
  PendingRequests requests_;
  FakePeers peers_;
  FakeCallActions actions_;
  absl::Notification release_http_;
  absl::Mutex mu_;
  std::vector<std::pair<std::string, ev::Event>> delivered_ ABSL_GUARDED_BY(mu_);
  SendRouter router_;
  std::unique_ptr<LiveSession> session_;
};

TEST_F(SendRouterTest, SessionsOfThisNodeGetTheEventWithTheSendersEffectIdAndOrigin) {
  ASSERT_OK(router_.Send(*session_, "#_scxml_~1~TARGET00000000000000000000000000", "", Event("hello")));
  router_.Stop();
  absl::MutexLock l(&mu_);
  ASSERT_EQ(delivered_.size(), 1u);
  EXPECT_EQ(delivered_[0].first, "~1~TARGET00000000000000000000000000");
  const ev::Event& e = delivered_[0].second;
  EXPECT_EQ(e.name(), "hello");
  EXPECT_EQ(e.origin(), absl::StrCat("#_scxml_", kSid));
  EXPECT_EQ(e.send_id(), "sid1");
  EXPECT_EQ(e.effect_id(), absl::StrCat(kSid, "/1/0"));
  EXPECT_EQ(e.source(), ev::EVENT_SOURCE_SESSION);
  EXPECT_EQ(e.data().struct_value().fields().at("k").number_value(), 1);
  EXPECT_EQ(session_->sends_in_flight()->load(), 0);
}

TEST_F(SendRouterTest, SessionsOfOtherNodesGoToThatNodesPrimary) {
  ASSERT_OK(router_.Send(*session_, "#_scxml_~7~TARGET00000000000000000000000000",
                         "http://www.w3.org/TR/scxml/#SCXMLEventProcessor", Event("hello")));
  router_.Stop();
  absl::MutexLock l(&peers_.mu);
  ASSERT_EQ(peers_.sent.size(), 1u);
  EXPECT_EQ(peers_.sent[0].first, 7);
  EXPECT_EQ(peers_.sent[0].second.session_id(), "~7~TARGET00000000000000000000000000");
  EXPECT_EQ(peers_.sent[0].second.event().effect_id(), absl::StrCat(kSid, "/1/0"));
}

TEST_F(SendRouterTest, UnsupportedTypesAndTargetsAreRefusedAtOnce) {
  EXPECT_THAT(router_.Send(*session_, "#_scxml_~1~X", "carrier-pigeon", Event("e")),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(router_.Send(*session_, "mailto:a@b", "", Event("e")), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(router_.Send(*session_, "#_scxml_notanid", "", Event("e")),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(SendRouterTest, RequestAnswersReachTheWaitingCall) {
  auto ticket = requests_.Register();
  ASSERT_OK(ticket);
  ASSERT_OK(router_.Send(*session_, absl::StrCat(kRequestOriginPrefix, ticket->id()), "", Event("answer")));
  auto reply = ticket->Wait(clock_.MonotonicMs());
  ASSERT_OK(reply);
  EXPECT_EQ(reply->name, "answer");
}

// The HTTP peer blocks until the test lets it fail: Send returns at once
// (the worker is free), the session counts the send as in flight (no
// snapshot), and the failure comes back as error.communication with an
// effect id of its own.
TEST_F(SendRouterTest, BasicHttpRunsOffTheCallersThreadAndAFailureComesBackAsAnEvent) {
  ASSERT_OK(router_.Send(*session_, "http://127.0.0.1:9/slow", scxml::kBasicHttpEventProcessor, Event("post")));
  EXPECT_EQ(session_->sends_in_flight()->load(), 1);
  EXPECT_EQ(Delivered(), 0u);
  release_http_.Notify();
  router_.Stop();
  absl::MutexLock l(&mu_);
  ASSERT_EQ(delivered_.size(), 1u);
  EXPECT_EQ(delivered_[0].first, kSid);
  const ev::Event& e = delivered_[0].second;
  EXPECT_EQ(e.name(), "error.communication");
  EXPECT_EQ(e.send_id(), "sid1");
  EXPECT_EQ(e.effect_id(), absl::StrCat(kSid, "/1/0/http"));
  EXPECT_EQ(e.source(), ev::EVENT_SOURCE_PLATFORM);
  EXPECT_EQ(e.data().struct_value().fields().at("target").string_value(), "http://127.0.0.1:9/slow");
  EXPECT_EQ(session_->sends_in_flight()->load(), 0);
}

// One session's sends to another node leave in order: the next is handed
// to the peer client only when the previous one is done.
TEST_F(SendRouterTest, SendsToAnotherNodeAreHandedOverOneAtATimeInOrder) {
  HoldingPeers peers;
  SendRouter router(SendRouter::Options{.node_id = 1, .io_threads = 1}, &requests_, &docs_, &peers, nullptr,
                    [](const std::string&, const ev::Event&) { return absl::OkStatus(); },
                    [](const std::string&, const scxml::Event&) { return absl::OkStatus(); });
  for (const char* name : {"first", "second", "third"}) {
    ASSERT_OK(router.Send(*session_, "#_scxml_~7~TARGET00000000000000000000000000", "", Event(name)));
  }
  for (int round = 1; round <= 3; ++round) {
    {
      absl::MutexLock l(&peers.mu);
      auto one_more = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(peers.mu) {
        return peers.names.size() >= static_cast<size_t>(round);
      };
      peers.mu.AwaitWithTimeout(absl::Condition(&one_more), absl::Seconds(10));
      EXPECT_EQ(peers.names.size(), static_cast<size_t>(round));  // the next waits for this one
    }
    peers.ReleaseAll();
  }
  router.Stop();
  absl::MutexLock l(&peers.mu);
  EXPECT_EQ(peers.names, (std::vector<std::string>{"first", "second", "third"}));
}

// A session started for an interaction hands its module actions to the
// call-watcher of its binding, with a deterministic effect id.
TEST_F(SendRouterTest, ModuleActionsGoToTheSessionsCallWatcher) {
  constexpr char kBound[] = "~1~BOUND000000000000000000000000000";
  auto doc = docs_.FromSource(kChart, "chart");
  ASSERT_OK(doc);
  ev::LogEntry started;
  started.set_seq(1);
  started.mutable_started()->set_random_seed(1);
  auto* b = started.mutable_started()->mutable_interaction();
  b->set_interaction_id("call-1");
  b->set_watcher("127.0.0.1:7104");
  auto bound = LiveSession::Start(kBound, false, *doc, started, SessionConfig{.ecmascript = &factory_}, &router_, 0);
  ASSERT_OK(bound);
  scxml::Event action;
  action.name = "redirect";
  action.sendid = "r1";
  action.data = R"({"module":"interaction","action":"redirect","requestid":"r1","interactionid":null,)"
                R"("target_requestid":null,"params":{"to":"7001"}})";
  ASSERT_OK(router_.Send(**bound, "", "http://www.genesyslab.com/modules/interaction", action));
  router_.Stop();
  absl::MutexLock l(&actions_.mu);
  ASSERT_EQ(actions_.submitted.size(), 1u);
  EXPECT_EQ(actions_.submitted[0].first, "127.0.0.1:7104");
  const auto& req = actions_.submitted[0].second;
  EXPECT_EQ(req.session_id(), kBound);
  EXPECT_EQ(req.module(), "interaction");
  EXPECT_EQ(req.action(), "redirect");
  EXPECT_EQ(req.request_id(), "r1");
  EXPECT_EQ(req.interaction_id(), "call-1");  // the binding's, as the action named none
  EXPECT_EQ(req.effect_id(), absl::StrCat(kBound, "/m1"));
  EXPECT_EQ(req.params().fields().at("to").string_value(), "7001");
  EXPECT_EQ((*bound)->sends_in_flight()->load(), 0);
}

// An action that cannot be handed over comes back as the module's error
// event; so does one of a session that has no interaction.
TEST_F(SendRouterTest, ActionsThatCannotBeHandedOverComeBackAsTheModulesError) {
  scxml::Event action;
  action.name = "playsound";
  action.sendid = "r2";
  action.data = R"({"module":"dialog","action":"playsound","requestid":"r2","interactionid":null,)"
                R"("target_requestid":null,"params":{}})";
  ASSERT_OK(router_.Send(*session_, "", "http://www.genesyslab.com/modules/dialog", action));
  router_.Stop();
  absl::MutexLock l(&mu_);
  ASSERT_EQ(delivered_.size(), 1u);
  EXPECT_EQ(delivered_[0].first, kSid);
  const ev::Event& e = delivered_[0].second;
  EXPECT_EQ(e.name(), "error.dialog.playsound");
  EXPECT_EQ(e.data().struct_value().fields().at("requestid").string_value(), "r2");
  EXPECT_EQ(e.data().struct_value().fields().at("error").string_value(), "no-interaction");
  EXPECT_EQ(e.effect_id(), absl::StrCat(kSid, "/1/0/error"));
}

}  // namespace
}  // namespace orch::session_engine
