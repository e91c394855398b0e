// The link's logic (sequence, resend after reconnection from the Welcome's
// resume point, answers to repeated requests) and whole simulator runs,
// against FakeCallWatcher: an in-process CallWatcher over loopback gRPC that
// keeps the contract's side of the link (Welcome, acks, duplicates dropped,
// a gap ends the stream, unanswered requests resent) and routes calls with a
// trivial strategy. The real call-watcher is tested with switch-sim in
// tests/calls.

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc/server.h"
#include "common/testing/certs.h"
#include "common/testing/eventually.h"
#include "common/testing/temp_dir.h"
#include "common/tls/tls_files.h"
#include "common/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tools/switch_sim/adapter_link.h"
#include "tools/switch_sim/simulator.h"

namespace orch::switch_sim {
namespace {

using calls::v1::AdapterMessage;
using calls::v1::SwitchRequest;
using calls::v1::WatcherMessage;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

class FakeCallWatcher final : public calls::v1::CallWatcher::Service {
 public:
  // What the fake does; set before the link connects (or between connections).
  struct Knobs {
    uint64_t ack_up_to = UINT64_MAX;            // never ack past this seq (until end_stream_after ends it)
    std::optional<uint64_t> resume_override;    // next Welcome says this (once); the fake forgets the rest
    int64_t end_stream_after = 0;               // > 0: end the stream after this many events (once)
    std::optional<uint64_t> resume_after_end;   // the Welcome after that end says this (the fake forgets)
    uint64_t lose_seq = 0;                      // > 0: "lose" this seq once (the next one is a gap)
    std::set<std::string> route_to;             // agents this fake routes calls to; empty: no routing
    bool treat_twice = false;                   // before routing, one treatment requested twice (same id)
    uint64_t reject_seq = 0;                    // > 0: answer Rejected for this seq (then ack it as usual)
  };

  void SetKnobs(Knobs k) {
    absl::MutexLock l(&mu_);
    knobs_ = std::move(k);
  }

  ::grpc::Status Connect(::grpc::ServerContext*,
                         ::grpc::ServerReaderWriter<WatcherMessage, AdapterMessage>* stream) override {
    AdapterMessage in;
    if (!stream->Read(&in) || !in.has_hello()) {
      return ::grpc::Status(::grpc::StatusCode::INVALID_ARGUMENT, "first message must be a Hello");
    }
    std::vector<WatcherMessage> out;
    {
      absl::MutexLock l(&mu_);
      adapter_ = in.hello().adapter_id();
      ++connections_;
      if (knobs_.resume_override.has_value()) {
        processed_ = *knobs_.resume_override;
        knobs_.resume_override.reset();
      }
      WatcherMessage welcome;
      welcome.mutable_welcome()->set_resume_after_seq(processed_);
      welcomes_.push_back(processed_);
      out.push_back(welcome);
      // As call-watcher does: every request without a result is sent again.
      for (const auto& [id, req] : unanswered_) {
        WatcherMessage m;
        *m.mutable_request() = req;
        out.push_back(m);
      }
    }
    int64_t events_here = 0;
    for (;;) {
      for (const WatcherMessage& m : out) {
        if (!stream->Write(m)) return ::grpc::Status::OK;
      }
      out.clear();
      if (!stream->Read(&in)) return ::grpc::Status::OK;
      absl::MutexLock l(&mu_);
      if (in.has_result()) {
        results_[in.result().request_id()].push_back(in.result());
        unanswered_.erase(in.result().request_id());
        OnResult(in.result(), &out);
        continue;
      }
      if (!in.has_interaction() && !in.has_target()) {
        return ::grpc::Status(::grpc::StatusCode::INVALID_ARGUMENT, "unexpected message");
      }
      const uint64_t seq = in.has_interaction() ? in.interaction().seq() : in.target().seq();
      received_.push_back(seq);
      ++events_here;
      if (seq <= processed_) {
        ++duplicates_;
      } else if (seq > processed_ + 1) {
        return ::grpc::Status(::grpc::StatusCode::FAILED_PRECONDITION,
                              absl::StrCat("sequence gap: expected ", processed_ + 1, ", got ", seq));
      } else if (seq == knobs_.lose_seq) {
        knobs_.lose_seq = 0;
      } else {
        processed_ = seq;
        if (seq == knobs_.reject_seq) {
          WatcherMessage rejected;
          rejected.mutable_rejected()->set_seq(seq);
          rejected.mutable_rejected()->set_reason("the fake rejects it");
          out.push_back(rejected);
        } else if (in.has_interaction()) {
          OnInteraction(in.interaction(), &out);
        } else {
          OnTarget(in.target(), &out);
        }
      }
      if (std::min(processed_, knobs_.ack_up_to) > 0) {
        WatcherMessage ack;
        ack.mutable_ack()->set_seq(std::min(processed_, knobs_.ack_up_to));
        out.push_back(ack);
      }
      if (knobs_.end_stream_after > 0 && events_here >= knobs_.end_stream_after) {
        knobs_.end_stream_after = 0;
        if (knobs_.resume_after_end.has_value()) knobs_.resume_override = knobs_.resume_after_end;
        knobs_.ack_up_to = UINT64_MAX;
        for (const WatcherMessage& m : out) stream->Write(m);
        return ::grpc::Status(::grpc::StatusCode::UNAVAILABLE, "the fake ends the stream");
      }
    }
  }

  // Every event seq received, duplicates included, in arrival order.
  std::vector<uint64_t> received() const {
    absl::MutexLock l(&mu_);
    return received_;
  }
  uint64_t processed() const {
    absl::MutexLock l(&mu_);
    return processed_;
  }
  int64_t duplicates() const {
    absl::MutexLock l(&mu_);
    return duplicates_;
  }
  std::vector<uint64_t> welcomes() const {
    absl::MutexLock l(&mu_);
    return welcomes_;
  }
  std::string adapter() const {
    absl::MutexLock l(&mu_);
    return adapter_;
  }
  // Accepted interaction event types per call, in order.
  std::map<std::string, std::vector<calls::v1::InteractionEventType>> calls() const {
    absl::MutexLock l(&mu_);
    return calls_;
  }
  std::set<std::string> targets_seen() const {
    absl::MutexLock l(&mu_);
    return targets_seen_;
  }
  std::map<std::string, std::vector<calls::v1::RequestResult>> results() const {
    absl::MutexLock l(&mu_);
    return results_;
  }

 private:
  void Send(SwitchRequest req, std::vector<WatcherMessage>* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    unanswered_[req.request_id()] = req;
    WatcherMessage m;
    *m.mutable_request() = std::move(req);
    out->push_back(std::move(m));
  }

  void OnInteraction(const calls::v1::InteractionEvent& e, std::vector<WatcherMessage>* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    calls_[e.call_uuid()].push_back(e.type());
    if (knobs_.route_to.empty()) return;
    if (e.type() == calls::v1::ROUTE_REQUEST) {
      if (knobs_.treat_twice) {
        SwitchRequest t;
        t.set_request_id("d-" + e.call_uuid());
        t.set_type(calls::v1::APPLY_TREATMENT);
        t.set_call_uuid(e.call_uuid());
        t.mutable_treatment()->set_type(calls::v1::PLAY_AND_COLLECT);
        t.mutable_treatment()->set_duration_ms(20);
        Send(t, out);
        Send(t, out);
        return;
      }
      waiting_.push_back(e.call_uuid());
    } else if (e.type() == calls::v1::TREATMENT_DONE) {
      waiting_.push_back(e.call_uuid());
    } else if (e.type() == calls::v1::RELEASED) {
      waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), e.call_uuid()), waiting_.end());
    }
    TryRoute(out);
  }

  void OnTarget(const calls::v1::TargetEvent& t, std::vector<WatcherMessage>* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    targets_seen_.insert(t.target());
    agents_[t.target()] = t.state();
    if (t.state() == calls::v1::BUSY) reserved_.erase(t.target());
    TryRoute(out);
  }

  void OnResult(const calls::v1::RequestResult& r, std::vector<WatcherMessage>* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = routing_.find(r.request_id());
    if (it == routing_.end()) return;
    if (!r.ok()) {
      reserved_.erase(it->second.second);
      waiting_.push_front(it->second.first);
    }
    routing_.erase(it);
    TryRoute(out);
  }

  // A strategy with reservations, so this fake never routes two calls to one agent.
  void TryRoute(std::vector<WatcherMessage>* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const std::string& dn : knobs_.route_to) {
      if (waiting_.empty()) return;
      auto a = agents_.find(dn);
      if (a == agents_.end() || a->second != calls::v1::READY || reserved_.contains(dn)) continue;
      const std::string call = waiting_.front();
      waiting_.pop_front();
      reserved_.insert(dn);
      SwitchRequest r;
      r.set_request_id(absl::StrCat("r-", call, "-", ++route_count_));
      r.set_type(calls::v1::ROUTE);
      r.set_call_uuid(call);
      r.set_target(dn);
      routing_[r.request_id()] = {call, dn};
      Send(r, out);
    }
  }

  mutable absl::Mutex mu_;
  Knobs knobs_ ABSL_GUARDED_BY(mu_);
  std::string adapter_ ABSL_GUARDED_BY(mu_);
  int64_t connections_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t processed_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t duplicates_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<uint64_t> received_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> welcomes_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<calls::v1::InteractionEventType>> calls_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> targets_seen_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, calls::v1::TargetState> agents_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> reserved_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> waiting_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::pair<std::string, std::string>> routing_ ABSL_GUARDED_BY(mu_);   // id -> call, agent
  int64_t route_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, SwitchRequest> unanswered_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<calls::v1::RequestResult>> results_ ABSL_GUARDED_BY(mu_);
};

struct Watcher {
  explicit Watcher(tls::TlsFiles tls = {}) {
    auto s = grpc_util::GrpcServer::Start({.listen = "127.0.0.1:0", .tls = std::move(tls)}, {&fake}, nullptr);
    EXPECT_TRUE(s.ok()) << s.status();
    server = std::move(*s);
  }
  ~Watcher() { server->Shutdown(absl::Seconds(1)); }
  std::string address() const { return server->address(); }

  FakeCallWatcher fake;
  std::unique_ptr<grpc_util::GrpcServer> server;
};

std::vector<uint64_t> Range(uint64_t from, uint64_t to) {
  std::vector<uint64_t> out;
  for (uint64_t s = from; s <= to; ++s) out.push_back(s);
  return out;
}

calls::v1::InteractionEvent Event(const std::string& call) {
  calls::v1::InteractionEvent e;
  e.set_type(calls::v1::ROUTE_REQUEST);
  e.set_call_uuid(call);
  return e;
}

struct LinkUnderTest {
  explicit LinkUnderTest(const std::string& address, int64_t drop_every = 0,
                         grpc_util::ChannelOptions channel = {}) {
    LinkOptions o;
    o.address = address;
    o.channel = std::move(channel);
    o.adapter_id = "sim-1";
    o.drop_every_events = drop_every;
    o.backoff_ms = 10;
    link = std::make_unique<AdapterLink>(
        o, time::RealClock::Get(), [](const SwitchRequest&) {},
        [this] {
          absl::MutexLock l(&mu);
          ++welcomes;
        });
  }
  absl::Mutex mu;
  int welcomes ABSL_GUARDED_BY(mu) = 0;
  std::unique_ptr<AdapterLink> link;
};

TEST(AdapterLinkTest, SequencesInteractionAndTargetEventsTogetherAndForgetsAcked) {
  Watcher w;
  LinkUnderTest t(w.address());
  t.link->EnqueueInteraction(Event("c-1"));
  calls::v1::TargetEvent target;
  target.set_target("7001");
  target.set_state(calls::v1::READY);
  t.link->EnqueueTarget(target);
  t.link->EnqueueInteraction(Event("c-2"));
  t.link->Start();
  ASSERT_TRUE(testing::Eventually([&] { return t.link->Counts().acked == 3; }));
  EXPECT_THAT(w.fake.received(), ElementsAre(1, 2, 3));
  EXPECT_EQ(w.fake.adapter(), "sim-1");
  EXPECT_THAT(w.fake.targets_seen(), ElementsAre("7001"));
  LinkCounts c = t.link->Counts();
  EXPECT_EQ(c.unacked, 0);
  EXPECT_EQ(c.events_sent, 3);
  EXPECT_EQ(c.resent, 0);
  EXPECT_EQ(c.reconnects, 0);
  absl::MutexLock l(&t.mu);
  EXPECT_EQ(t.welcomes, 1);
}

TEST(AdapterLinkTest, SettledEventsAreTheAcknowledgedInteractionsMarkedWhenRejected) {
  Watcher w;
  w.fake.SetKnobs({.reject_seq = 3});
  LinkUnderTest t(w.address());
  t.link->EnqueueInteraction(Event("c-1"));
  calls::v1::TargetEvent target;
  target.set_target("7001");
  t.link->EnqueueTarget(target);
  t.link->EnqueueInteraction(Event("c-2"));
  t.link->EnqueueInteraction(Event("c-3"));
  t.link->Start();
  ASSERT_TRUE(testing::Eventually([&] { return t.link->Counts().acked == 4; }));
  std::vector<std::string> settled;
  for (const SettledEvent& s : t.link->TakeSettled()) {
    settled.push_back(s.event.call_uuid() + (s.rejected ? " rejected" : ""));
  }
  EXPECT_THAT(settled, ElementsAre("c-1", "c-2 rejected", "c-3"));
  EXPECT_TRUE(t.link->TakeSettled().empty());   // each is handed out once
  EXPECT_EQ(t.link->Counts().rejected, 1);
}

TEST(AdapterLinkTest, ResendsHeldEventsAfterTheWelcomesResumePoint) {
  Watcher w;
  // Acks nothing past 2, ends the stream after 5 events, and on reconnection
  // remembers only up to 3.
  w.fake.SetKnobs({.ack_up_to = 2, .end_stream_after = 5, .resume_after_end = 3});
  LinkUnderTest t(w.address());
  for (int i = 1; i <= 5; ++i) t.link->EnqueueInteraction(Event(absl::StrCat("c-", i)));
  t.link->Start();
  ASSERT_TRUE(testing::Eventually([&] { return t.link->Counts().acked == 5; }));
  EXPECT_THAT(w.fake.welcomes(), ElementsAre(0, 3));
  // 4 and 5 again: after the resume point, not from the last ack (2).
  EXPECT_THAT(w.fake.received(), ElementsAre(1, 2, 3, 4, 5, 4, 5));
  EXPECT_EQ(w.fake.duplicates(), 0);
  LinkCounts c = t.link->Counts();
  EXPECT_EQ(c.resent, 2);
  EXPECT_EQ(c.reconnects, 1);
  EXPECT_EQ(c.unacked, 0);
  absl::MutexLock l(&t.mu);
  EXPECT_EQ(t.welcomes, 2);   // target states are offered after every Welcome
}

TEST(AdapterLinkTest, ALostEventIsResentAfterTheGapEndsTheStream) {
  Watcher w;
  w.fake.SetKnobs({.lose_seq = 2});
  LinkUnderTest t(w.address());
  for (int i = 1; i <= 4; ++i) t.link->EnqueueInteraction(Event(absl::StrCat("c-", i)));
  t.link->Start();
  ASSERT_TRUE(testing::Eventually([&] { return t.link->Counts().acked == 4; }));
  EXPECT_EQ(w.fake.processed(), 4u);
  std::vector<uint64_t> got = w.fake.received();
  // 1, 2 (lost), 3 (a gap: the stream ends), then after Welcome{1}: 2, 3, 4.
  ASSERT_GE(got.size(), 6u);
  EXPECT_THAT(std::vector<uint64_t>(got.begin(), got.begin() + 3), ElementsAre(1, 2, 3));
  EXPECT_THAT(std::vector<uint64_t>(got.end() - 3, got.end()), ElementsAre(2, 3, 4));
  EXPECT_EQ(w.fake.welcomes().back(), 1u);
  EXPECT_GE(t.link->Counts().reconnects, 1);
}

TEST(AdapterLinkTest, BreaksTheLinkEveryNEventsAndLosesNothing) {
  Watcher w;
  LinkUnderTest t(w.address(), /*drop_every=*/3);
  t.link->Start();
  for (int i = 1; i <= 20; ++i) t.link->EnqueueInteraction(Event(absl::StrCat("c-", i)));
  ASSERT_TRUE(testing::Eventually([&] { return t.link->Counts().acked == 20; }));
  EXPECT_EQ(w.fake.processed(), 20u);
  EXPECT_GE(t.link->Counts().reconnects, 1);
  EXPECT_GE(w.fake.welcomes().size(), 2u);
}

TEST(AdapterLinkTest, SpeaksMutualTls) {
  testing::TempDir dir;
  auto certs = testing::MakeTestCerts(dir.path());
  ASSERT_TRUE(certs.ok()) << certs.status();
  auto server_tls = tls::LoadTlsFiles({.cert = certs->server_cert, .key = certs->server_key, .ca = certs->ca_cert});
  ASSERT_TRUE(server_tls.ok()) << server_tls.status();
  Watcher w(*server_tls);
  auto channel = grpc_util::ClientChannelOptions(
      {.cert = certs->client_cert, .key = certs->client_key, .ca = certs->ca_cert}, "");
  ASSERT_TRUE(channel.ok()) << channel.status();
  LinkUnderTest t(w.address(), 0, *channel);
  t.link->EnqueueInteraction(Event("c-1"));
  t.link->Start();
  ASSERT_TRUE(testing::Eventually([&] { return t.link->Counts().acked == 1; }));
  EXPECT_THAT(w.fake.received(), ElementsAre(1));
}

SimOptions Sim(std::vector<std::string> watchers) {
  SimOptions o;
  o.watchers = std::move(watchers);
  o.model.agent_dns = {"7001", "7002", "7003", "7004"};
  o.model.rate = 200;
  o.model.calls = 40;
  o.model.hold_ms = 40;
  o.model.treatment_ms = 20;
  o.model.run_id = "u";
  o.drain_ms = 20000;
  return o;
}

// Every call's accepted events: one ROUTE_REQUEST first, one RELEASED last.
void ExpectWholeCalls(const FakeCallWatcher& fake, size_t count) {
  auto calls = fake.calls();
  EXPECT_EQ(calls.size(), count);
  for (const auto& [uuid, types] : calls) {
    ASSERT_FALSE(types.empty()) << uuid;
    EXPECT_EQ(types.front(), calls::v1::ROUTE_REQUEST) << uuid;
    EXPECT_EQ(types.back(), calls::v1::RELEASED) << uuid;
    EXPECT_EQ(std::count(types.begin(), types.end(), calls::v1::ROUTE_REQUEST), 1) << uuid;
    EXPECT_EQ(std::count(types.begin(), types.end(), calls::v1::ESTABLISHED), 1) << uuid;
    EXPECT_EQ(std::count(types.begin(), types.end(), calls::v1::RELEASED), 1) << uuid;
  }
}

TEST(SimulatorTest, TwoLinksSpreadCallsAndBothKnowEveryAgent) {
  Watcher a, b;
  // Each fake replica routes to its own agents, so their strategies never collide.
  a.fake.SetKnobs({.route_to = {"7001", "7003"}});
  b.fake.SetKnobs({.route_to = {"7002", "7004"}});
  Simulator sim(Sim({a.address(), b.address()}), time::RealClock::Get());
  RunResult r = sim.Run();
  EXPECT_TRUE(r.finished);
  EXPECT_EQ(r.counts.calls, 40);
  EXPECT_EQ(r.counts.routed, 40);
  EXPECT_EQ(r.counts.double_routes, 0);
  EXPECT_EQ(r.counts.unfinished, 0);
  EXPECT_EQ(r.unacked, 0);
  EXPECT_GE(r.route_p50_ms, 0);
  EXPECT_GE(r.route_p99_ms, r.route_p50_ms);
  EXPECT_EQ(a.fake.adapter(), "switch-sim-1");
  EXPECT_EQ(b.fake.adapter(), "switch-sim-2");
  ExpectWholeCalls(a.fake, 20);
  ExpectWholeCalls(b.fake, 20);
  const std::set<std::string> all = {"7001", "7002", "7003", "7004"};
  EXPECT_EQ(a.fake.targets_seen(), all);
  EXPECT_EQ(b.fake.targets_seen(), all);
  // Each link numbers its own events, contiguously; the two add up to what was sent.
  EXPECT_THAT(a.fake.received(), ElementsAreArray(Range(1, a.fake.processed())));
  EXPECT_THAT(b.fake.received(), ElementsAreArray(Range(1, b.fake.processed())));
  EXPECT_EQ(static_cast<int64_t>(a.fake.processed() + b.fake.processed()), r.events_sent);
  for (const CallRecord& c : r.records) {
    EXPECT_EQ(c.outcome, Outcome::kRouted) << c.call_uuid;
    EXPECT_FALSE(c.routed_to.empty()) << c.call_uuid;
  }
}

TEST(SimulatorTest, ReconnectionRunLosesNoEventAndRoutesEveryCall) {
  Watcher w;
  w.fake.SetKnobs({.route_to = {"7001", "7002", "7003", "7004"}});
  SimOptions o = Sim({w.address()});
  o.drop_link_every_events = 25;
  Simulator sim(o, time::RealClock::Get());
  RunResult r = sim.Run();
  EXPECT_TRUE(r.finished);
  EXPECT_EQ(r.counts.routed, 40);
  EXPECT_EQ(r.counts.double_routes, 0);
  EXPECT_GE(r.reconnects, 3);
  EXPECT_EQ(r.unacked, 0);
  ExpectWholeCalls(w.fake, 40);
  // Whatever was resent, the fake processed one contiguous run with no gap.
  std::vector<uint64_t> got = w.fake.received();
  EXPECT_EQ(w.fake.processed(), *std::max_element(got.begin(), got.end()));
  // An event written just before the link breaks itself may die with the stream.
  EXPECT_LE(static_cast<int64_t>(got.size()), r.events_sent);
}

TEST(SimulatorTest, ARepeatedRequestIsAnsweredTheSameAndActedOnOnce) {
  Watcher w;
  w.fake.SetKnobs({.route_to = {"7001", "7002"}, .treat_twice = true});
  SimOptions o = Sim({w.address()});
  o.model.calls = 3;
  Simulator sim(o, time::RealClock::Get());
  RunResult r = sim.Run();
  EXPECT_TRUE(r.finished);
  EXPECT_EQ(r.counts.routed, 3);
  EXPECT_EQ(r.counts.duplicate_requests, 3);
  auto results = w.fake.results();
  for (const CallRecord& c : r.records) {
    const auto& answers = results["d-" + c.call_uuid];
    ASSERT_EQ(answers.size(), 2u) << c.call_uuid;
    EXPECT_TRUE(answers[0].ok());
    EXPECT_EQ(answers[0].SerializeAsString(), answers[1].SerializeAsString());
    EXPECT_EQ(c.treatments, 1) << c.call_uuid;
    EXPECT_EQ(c.digits, "1") << c.call_uuid;
    // The fake routes the call once its treatment is done: the result reached it.
    ASSERT_EQ(c.treatment_log.size(), 1u) << c.call_uuid;
    EXPECT_EQ(c.treatment_log[0].end, "done");
    EXPECT_TRUE(c.treatment_log[0].end_acked);
    EXPECT_TRUE(c.treatment_log[0].followed);
    ASSERT_EQ(c.route_log.size(), 1u) << c.call_uuid;
    EXPECT_EQ(c.route_log[0].result, "ok");
    EXPECT_EQ(c.route_log[0].target, c.routed_to);
    EXPECT_EQ(c.events_acked, c.events_sent) << c.call_uuid;
    EXPECT_EQ(c.events_rejected, 0);
    auto types = w.fake.calls()[c.call_uuid];
    EXPECT_EQ(std::count(types.begin(), types.end(), calls::v1::TREATMENT_STARTED), 1);
    EXPECT_EQ(std::count(types.begin(), types.end(), calls::v1::TREATMENT_DONE), 1);
  }
}

TEST(SimulatorTest, CallsNobodyRoutesAreUnfinishedAfterTheDrain) {
  Watcher w;   // no strategy: calls wait on the routing point forever
  SimOptions o = Sim({w.address()});
  o.model.calls = 2;
  o.drain_ms = 300;
  Simulator sim(o, time::RealClock::Get());
  RunResult r = sim.Run();
  EXPECT_FALSE(r.finished);
  EXPECT_EQ(r.counts.unfinished, 2);
  EXPECT_EQ(r.route_p50_ms, -1);
  for (const CallRecord& c : r.records) EXPECT_EQ(c.outcome, Outcome::kUnfinished);
  EXPECT_THAT(FormatSummary(r, false), ::testing::HasSubstr("calls=2 routed=0 abandoned=0"));
  EXPECT_THAT(FormatSummary(r, true), ::testing::HasSubstr("{\"calls\":2,\"routed\":0,"));
  EXPECT_THAT(OutcomeLine(r.records[0]),
              ::testing::StartsWith("{\"call_uuid\":\"u-1\",\"arrived_ms\":0,\"route_ms\":null,\"treatments\":0,"));
}

}  // namespace
}  // namespace orch::switch_sim
