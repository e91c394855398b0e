#include "tools/switch_sim/switch_model.h"

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/time/simulated_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace orch::switch_sim {
namespace {

using calls::v1::InteractionEvent;
using calls::v1::RequestResult;
using calls::v1::SwitchRequest;
using ::testing::ElementsAre;

SwitchConfig Config() {
  SwitchConfig c;
  c.routing_points = {"5000"};
  c.agent_dns = {"7001", "7002"};
  c.overflow_dns = {"9999"};
  c.rate = 10;   // one call every 100 ms
  c.calls = 3;
  c.hold_ms = 1000;
  c.run_id = "t";
  return c;
}

// One line per event, compact enough to compare whole sequences.
std::string Describe(const Emitted& e) {
  if (e.target.has_value()) {
    return "target " + e.target->target() + " " + calls::v1::TargetState_Name(e.target->state()) +
           (e.target->call_uuid().empty() ? "" : " " + e.target->call_uuid());
  }
  const InteractionEvent& i = *e.interaction;
  std::string s = calls::v1::InteractionEventType_Name(i.type()) + " " + i.call_uuid() + " @" + i.this_dn();
  if (!i.cause().empty()) s += " cause=" + i.cause();
  if (!i.digits().empty()) s += " digits=" + i.digits();
  if (!i.request_id().empty()) s += " req=" + i.request_id();
  return s;
}

std::vector<std::string> Take(SwitchModel& model) {
  std::vector<std::string> out;
  for (const Emitted& e : model.TakeEmitted()) out.push_back(Describe(e));
  return out;
}

SwitchRequest Route(const std::string& id, const std::string& call, const std::string& target) {
  SwitchRequest r;
  r.set_request_id(id);
  r.set_type(calls::v1::ROUTE);
  r.set_call_uuid(call);
  r.set_target(target);
  return r;
}

SwitchRequest Treat(const std::string& id, const std::string& call, uint32_t duration_ms, uint32_t max_digits) {
  SwitchRequest r;
  r.set_request_id(id);
  r.set_type(calls::v1::APPLY_TREATMENT);
  r.set_call_uuid(call);
  r.mutable_treatment()->set_type(calls::v1::PLAY_AND_COLLECT);
  r.mutable_treatment()->set_duration_ms(duration_ms);
  r.mutable_treatment()->set_max_digits(max_digits);
  return r;
}

// A model on a simulated clock. Start() runs what is due at once (the first
// arrival); After() moves the clock and returns the events that fell due.
class SwitchModelTest : public ::testing::Test {
 protected:
  SwitchModel& Start(const SwitchConfig& config) {
    model_ = std::make_unique<SwitchModel>(config, &clock);
    model_->Advance();
    return *model_;
  }
  std::vector<std::string> After(int64_t ms) {
    clock.AdvanceMs(ms);
    model_->Advance();
    return Take(*model_);
  }

  time::SimulatedClock clock;
  std::unique_ptr<SwitchModel> model_;
};

TEST_F(SwitchModelTest, FixedArrivalsAreEvenlySpacedAndStopAtTheCount) {
  SwitchConfig config = Config();
  config.links = 2;
  SwitchModel& model = Start(config);
  std::vector<Emitted> first = model.TakeEmitted();
  ASSERT_EQ(first.size(), 1u);
  const InteractionEvent& e = *first[0].interaction;
  EXPECT_EQ(e.type(), calls::v1::ROUTE_REQUEST);
  EXPECT_EQ(e.call_uuid(), "t-1");
  EXPECT_EQ(e.this_dn(), "5000");
  EXPECT_EQ(e.dnis(), "5000");
  EXPECT_EQ(e.ani(), "+15550000001");
  EXPECT_FALSE(e.connection_id().empty());
  EXPECT_EQ(e.user_data().at("sim.call"), "1");
  EXPECT_EQ(first[0].link, 0);

  EXPECT_TRUE(After(99).empty());
  clock.AdvanceMs(1);
  model.Advance();
  std::vector<Emitted> second = model.TakeEmitted();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].interaction->call_uuid(), "t-2");
  EXPECT_EQ(second[0].link, 1);   // round-robin over the links
  EXPECT_FALSE(model.ArrivalsDone());

  EXPECT_THAT(After(100), ElementsAre("ROUTE_REQUEST t-3 @5000"));
  EXPECT_TRUE(model.ArrivalsDone());
  clock.AdvanceMs(10000);
  model.Advance();
  // The calls are still on the routing point: no more arrivals, no hang-ups.
  EXPECT_TRUE(Take(model).empty());
  EXPECT_EQ(model.Counts().calls, 3);
  EXPECT_EQ(model.Counts().unfinished, 3);
  EXPECT_FALSE(model.Finished());
}

TEST(SwitchModelPoissonTest, ArrivalsFollowTheSeed) {
  auto arrivals = [](uint64_t seed) {
    time::SimulatedClock clock;
    SwitchConfig config = Config();
    config.arrival = Arrival::kPoisson;
    config.seed = seed;
    config.calls = 20;
    SwitchModel model(config, &clock);
    for (int i = 0; i < 100000 && !model.ArrivalsDone(); ++i) {
      clock.AdvanceMs(1);
      model.Advance();
    }
    std::vector<int64_t> out;
    for (const CallRecord& r : model.Records()) out.push_back(r.arrived_ms);
    return out;
  };
  std::vector<int64_t> a = arrivals(7);
  ASSERT_EQ(a.size(), 20u);
  EXPECT_EQ(a, arrivals(7));
  EXPECT_NE(a, arrivals(8));
  // Not evenly spaced, unlike fixed arrivals.
  std::vector<int64_t> gaps;
  for (size_t i = 1; i < a.size(); ++i) gaps.push_back(a[i] - a[i - 1]);
  EXPECT_NE(*std::min_element(gaps.begin(), gaps.end()), *std::max_element(gaps.begin(), gaps.end()));
}

TEST_F(SwitchModelTest, DurationEndsArrivals) {
  SwitchConfig config = Config();
  config.calls = 0;
  config.duration_ms = 450;   // arrivals at 0, 100, 200, 300, 400
  SwitchModel& model = Start(config);
  for (int i = 0; i < 1000; ++i) {
    clock.AdvanceMs(1);
    model.Advance();
  }
  EXPECT_EQ(model.Counts().calls, 5);
  EXPECT_TRUE(model.ArrivalsDone());
}

TEST_F(SwitchModelTest, RouteEstablishesAtTheAgentThenHangsUpAfterHold) {
  SwitchConfig config = Config();
  config.calls = 1;
  SwitchModel& model = Start(config);
  Take(model);
  clock.AdvanceMs(40);
  RequestResult r = model.Handle(Route("r1", "t-1", "7001"));
  EXPECT_TRUE(r.ok()) << r.description();
  EXPECT_EQ(r.request_id(), "r1");
  EXPECT_THAT(Take(model), ElementsAre("target 7001 BUSY t-1", "ESTABLISHED t-1 @7001", "PARTY_CHANGED t-1 @7001"));
  EXPECT_FALSE(model.Finished());

  // Hold is 1000 ms +-20%: nothing before 800 ms, the hang-up by 1200 ms.
  EXPECT_TRUE(After(799).empty());
  EXPECT_THAT(After(401), ElementsAre("target 7001 READY", "RELEASED t-1 @7001 cause=normal"));
  EXPECT_TRUE(model.Finished());
  ASSERT_EQ(model.Records().size(), 1u);
  const CallRecord& rec = model.Records()[0];
  EXPECT_EQ(rec.outcome, Outcome::kRouted);
  EXPECT_EQ(rec.route_ms, 40);
  EXPECT_EQ(rec.routed_to, "7001");
  EXPECT_GE(rec.hold_ms, 800);
  EXPECT_LE(rec.hold_ms, 1200);
  EXPECT_EQ(model.Counts().routed, 1);
}

TEST_F(SwitchModelTest, RouteToABusyAgentIsADoubleRouteUnlessItIsTheSameCall) {
  SwitchModel& model = Start(Config());
  clock.AdvanceMs(100);
  model.Advance();
  Take(model);
  ASSERT_TRUE(model.Handle(Route("r1", "t-1", "7001")).ok());
  Take(model);

  RequestResult busy = model.Handle(Route("r2", "t-2", "7001"));
  EXPECT_FALSE(busy.ok());
  EXPECT_EQ(busy.error(), "busy");
  EXPECT_EQ(busy.request_id(), "r2");
  EXPECT_EQ(model.Counts().double_routes, 1);
  EXPECT_TRUE(Take(model).empty());

  // The same call to the agent it is on: a resend by another request, not a violation.
  RequestResult again = model.Handle(Route("r3", "t-1", "7001"));
  EXPECT_TRUE(again.ok());
  EXPECT_TRUE(Take(model).empty());
  EXPECT_EQ(model.Counts().double_routes, 1);

  // The call-watcher resending r2 gets r2's answer, counted as a duplicate, not a second violation.
  RequestResult repeat = model.Handle(Route("r2", "t-2", "7002"));
  EXPECT_EQ(repeat.SerializeAsString(), busy.SerializeAsString());
  EXPECT_EQ(model.Counts().double_routes, 1);
  EXPECT_EQ(model.Counts().duplicate_requests, 1);
  EXPECT_TRUE(Take(model).empty());   // not acted on: 7002 stays READY
}

TEST_F(SwitchModelTest, RepeatedRequestIdIsAnsweredAgainAndNotActedTwice) {
  SwitchModel& model = Start(Config());
  Take(model);
  RequestResult first = model.Handle(Treat("d1", "t-1", 500, 0));
  EXPECT_THAT(Take(model), ElementsAre("TREATMENT_STARTED t-1 @5000 req=d1"));
  RequestResult second = model.Handle(Treat("d1", "t-1", 500, 0));
  EXPECT_EQ(first.SerializeAsString(), second.SerializeAsString());
  EXPECT_TRUE(Take(model).empty());
  EXPECT_EQ(model.Counts().duplicate_requests, 1);
  EXPECT_EQ(model.Records()[0].treatments, 1);
}

TEST_F(SwitchModelTest, WrapUpMakesTheAgentNotReadyThenReady) {
  SwitchConfig config = Config();
  config.calls = 2;
  config.hold_ms = 100;
  config.wrapup_ms = 500;
  SwitchModel& model = Start(config);
  ASSERT_TRUE(model.Handle(Route("r1", "t-1", "7001")).ok());
  clock.AdvanceMs(100);
  model.Advance();   // t-2 arrives
  clock.AdvanceMs(30);
  model.Advance();   // t-1 hung up (hold 80..120 ms)
  Take(model);
  EXPECT_EQ(model.Records()[0].outcome, Outcome::kRouted);

  RequestResult r = model.Handle(Route("r2", "t-2", "7001"));
  EXPECT_EQ(r.error(), "busy");
  EXPECT_EQ(model.Counts().not_ready_routes, 1);
  EXPECT_EQ(model.Counts().double_routes, 0);
  EXPECT_THAT(After(500), ElementsAre("target 7001 READY"));
  EXPECT_TRUE(model.Handle(Route("r3", "t-2", "7001")).ok());
}

TEST_F(SwitchModelTest, UnknownTargetIsInvalidAndAnOverflowDnTakesTheCall) {
  SwitchConfig config = Config();
  config.calls = 1;
  SwitchModel& model = Start(config);
  Take(model);
  RequestResult bad = model.Handle(Route("r1", "t-1", "1234"));
  EXPECT_EQ(bad.error(), "invalid-target");
  EXPECT_EQ(model.Handle(Route("r2", "t-1", "5000")).error(), "invalid-target");   // a routing point
  EXPECT_EQ(model.Handle(Route("r3", "t-9", "7001")).error(), "no-such-call");

  ASSERT_TRUE(model.Handle(Route("r4", "t-1", "9999")).ok());
  EXPECT_THAT(Take(model), ElementsAre("ESTABLISHED t-1 @9999", "PARTY_CHANGED t-1 @9999"));
  EXPECT_THAT(After(1200), ElementsAre("RELEASED t-1 @9999 cause=normal"));
  EXPECT_EQ(model.Records()[0].outcome, Outcome::kDefaultRouted);
  EXPECT_EQ(model.Counts().default_routed, 1);
  EXPECT_EQ(model.Counts().routed, 0);
}

TEST_F(SwitchModelTest, TreatmentEndsAfterItsDurationWithTheDigits) {
  SwitchConfig config = Config();
  config.calls = 1;
  config.treatment_ms = 200;
  config.digits = "1234";
  SwitchModel& model = Start(config);
  Take(model);
  ASSERT_TRUE(model.Handle(Treat("d1", "t-1", 0, 2)).ok());   // 0: the default length
  ASSERT_TRUE(model.Handle(Treat("d2", "t-1", 50, 0)).ok());
  Take(model);
  EXPECT_THAT(After(50), ElementsAre("TREATMENT_DONE t-1 @5000 digits=1234 req=d2"));
  EXPECT_TRUE(After(149).empty());
  EXPECT_THAT(After(1), ElementsAre("TREATMENT_DONE t-1 @5000 digits=12 req=d1"));
  EXPECT_EQ(model.Records()[0].treatments, 2);
  EXPECT_EQ(model.Records()[0].digits, "12");
}

TEST_F(SwitchModelTest, CancelEndsTheTreatmentOnce) {
  SwitchModel& model = Start(Config());
  Take(model);
  ASSERT_TRUE(model.Handle(Treat("d1", "t-1", 300, 0)).ok());
  Take(model);
  SwitchRequest cancel;
  cancel.set_request_id("c1");
  cancel.set_type(calls::v1::CANCEL_TREATMENT);
  cancel.set_call_uuid("t-1");
  cancel.set_cancel_request_id("d1");
  EXPECT_TRUE(model.Handle(cancel).ok());
  EXPECT_THAT(Take(model), ElementsAre("TREATMENT_FAILED t-1 @5000 cause=cancelled req=d1"));
  clock.AdvanceMs(300);
  model.Advance();
  for (const std::string& e : Take(model)) EXPECT_THAT(e, ::testing::Not(::testing::HasSubstr("d1")));
}

TEST_F(SwitchModelTest, RoutingEndsATreatmentWithCauseRouted) {
  SwitchModel& model = Start(Config());
  ASSERT_TRUE(model.Handle(Treat("d1", "t-1", 300, 0)).ok());
  Take(model);
  ASSERT_TRUE(model.Handle(Route("r1", "t-1", "7002")).ok());
  EXPECT_THAT(Take(model), ElementsAre("TREATMENT_FAILED t-1 @5000 cause=routed req=d1", "target 7002 BUSY t-1",
                                       "ESTABLISHED t-1 @7002", "PARTY_CHANGED t-1 @7002"));
  // Treatments only play on a routing point.
  EXPECT_EQ(model.Handle(Treat("d2", "t-1", 300, 0)).error(), "not-allowed");
}

TEST_F(SwitchModelTest, ImpatientCallerAbandonsWithoutTreatmentEvents) {
  SwitchConfig config = Config();
  config.calls = 1;
  config.patience_ms = 300;
  SwitchModel& model = Start(config);
  ASSERT_TRUE(model.Handle(Treat("d1", "t-1", 1000, 0)).ok());
  Take(model);
  EXPECT_TRUE(After(299).empty());
  EXPECT_THAT(After(1), ElementsAre("RELEASED t-1 @5000 cause=abandoned"));
  EXPECT_TRUE(After(1000).empty());   // nothing after RELEASED
  EXPECT_EQ(model.Handle(Route("r1", "t-1", "7001")).error(), "no-such-call");
  EXPECT_EQ(model.Records()[0].outcome, Outcome::kAbandoned);
  EXPECT_EQ(model.Records()[0].route_ms, -1);
  EXPECT_EQ(model.Records()[0].ended_ms - model.Records()[0].arrived_ms, 300);
  EXPECT_EQ(model.Counts().abandoned, 1);
  EXPECT_TRUE(model.Finished());
}

TEST_F(SwitchModelTest, RoutedCallDoesNotAbandon) {
  SwitchConfig config = Config();
  config.calls = 1;
  config.patience_ms = 300;
  config.hold_ms = 2000;
  SwitchModel& model = Start(config);
  ASSERT_TRUE(model.Handle(Route("r1", "t-1", "7001")).ok());
  Take(model);
  EXPECT_TRUE(After(1000).empty());
}

TEST_F(SwitchModelTest, ExponentialPatienceVariesPerCall) {
  SwitchConfig config = Config();
  config.calls = 20;
  config.patience_ms = 500;
  config.patience = Patience::kExponential;
  SwitchModel& model = Start(config);
  for (int i = 0; i < 20000 && !model.Finished(); ++i) {
    clock.AdvanceMs(1);
    model.Advance();
  }
  ASSERT_TRUE(model.Finished());
  std::vector<int64_t> waited;
  for (const CallRecord& r : model.Records()) {
    EXPECT_EQ(r.outcome, Outcome::kAbandoned);
    waited.push_back(r.ended_ms - r.arrived_ms);
  }
  EXPECT_EQ(model.Counts().abandoned, 20);
  EXPECT_NE(*std::min_element(waited.begin(), waited.end()), *std::max_element(waited.begin(), waited.end()));
}

TEST_F(SwitchModelTest, AttachAndReleaseByStrategy) {
  SwitchConfig config = Config();
  config.calls = 1;
  SwitchModel& model = Start(config);
  Take(model);
  SwitchRequest attach;
  attach.set_request_id("a1");
  attach.set_type(calls::v1::ATTACH_USER_DATA);
  attach.set_call_uuid("t-1");
  (*attach.mutable_user_data())["segment"] = "gold";
  ASSERT_TRUE(model.Handle(attach).ok());
  std::vector<Emitted> e = model.TakeEmitted();
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].interaction->type(), calls::v1::USER_DATA_CHANGED);
  EXPECT_EQ(e[0].interaction->user_data().at("segment"), "gold");
  EXPECT_EQ(e[0].interaction->user_data().at("sim.call"), "1");   // the whole data, not the change

  SwitchRequest release;
  release.set_request_id("x1");
  release.set_type(calls::v1::RELEASE);
  release.set_call_uuid("t-1");
  ASSERT_TRUE(model.Handle(release).ok());
  EXPECT_THAT(Take(model), ElementsAre("RELEASED t-1 @5000 cause=normal"));
  EXPECT_EQ(model.Records()[0].outcome, Outcome::kReleasedByStrategy);
  EXPECT_TRUE(model.Finished());
}

TEST_F(SwitchModelTest, UserDataGivenWithTheRouteIsOnTheCallWhenItLands) {
  SwitchConfig config = Config();
  config.calls = 1;
  SwitchModel& model = Start(config);
  Take(model);
  SwitchRequest busy_route = Route("r0", "t-1", "1234");
  (*busy_route.mutable_user_data())["ignored"] = "yes";
  EXPECT_EQ(model.Handle(busy_route).error(), "invalid-target");
  EXPECT_TRUE(Take(model).empty());   // a refused route attaches nothing
  SwitchRequest route = Route("r1", "t-1", "7001");
  (*route.mutable_user_data())["skill"] = "billing";
  ASSERT_TRUE(model.Handle(route).ok());
  std::vector<Emitted> e = model.TakeEmitted();
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[0].interaction->type(), calls::v1::USER_DATA_CHANGED);
  ASSERT_EQ(e[2].interaction->type(), calls::v1::ESTABLISHED);
  EXPECT_EQ(e[2].interaction->user_data().at("skill"), "billing");
  EXPECT_FALSE(e[2].interaction->user_data().contains("ignored"));
}

TEST_F(SwitchModelTest, HoldRangeDrawsUniformlyWithinItsEnds) {
  SwitchConfig config = Config();
  config.rate = 1000;
  config.calls = 200;
  config.hold_min_ms = 500;
  config.hold_max_ms = 1500;
  config.agent_dns.clear();
  for (int i = 0; i < 200; ++i) config.agent_dns.push_back(absl::StrCat(8000 + i));
  SwitchModel& model = Start(config);
  for (int i = 0; i < 200; ++i) {
    clock.AdvanceMs(1);
    model.Advance();
  }
  ASSERT_EQ(model.Counts().calls, 200);
  for (int i = 1; i <= 200; ++i) {
    ASSERT_TRUE(model.Handle(Route(absl::StrCat("r", i), absl::StrCat("t-", i), absl::StrCat(8000 + i - 1))).ok());
  }
  const int64_t routed_at = clock.MonotonicMs();
  while (!model.Finished()) {
    clock.AdvanceMs(1);
    model.Advance();
    ASSERT_LE(clock.MonotonicMs(), routed_at + 1500);
  }
  std::vector<int64_t> holds;
  for (const CallRecord& r : model.Records()) holds.push_back(r.hold_ms);
  EXPECT_GE(*std::min_element(holds.begin(), holds.end()), 500);
  EXPECT_LE(*std::max_element(holds.begin(), holds.end()), 1500);
  // 200 draws from [500, 1500]: both quarters at the ends are hit.
  EXPECT_LT(*std::min_element(holds.begin(), holds.end()), 750);
  EXPECT_GT(*std::max_element(holds.begin(), holds.end()), 1250);
}

TEST_F(SwitchModelTest, RecordsEachCallsRequestsAndAcknowledgedEvents) {
  SwitchConfig config = Config();
  config.calls = 1;
  SwitchModel& model = Start(config);
  std::vector<Emitted> arrival = model.TakeEmitted();
  ASSERT_EQ(arrival.size(), 1u);
  clock.AdvanceMs(10);
  ASSERT_TRUE(model.Handle(Treat("p1", "t-1", 100, 0)).ok());
  std::vector<Emitted> started = model.TakeEmitted();
  clock.AdvanceMs(100);
  model.Advance();
  std::vector<Emitted> done = model.TakeEmitted();
  ASSERT_EQ(done.size(), 1u);
  ASSERT_EQ(done[0].interaction->type(), calls::v1::TREATMENT_DONE);
  {
    const TreatmentRecord& t = model.Records()[0].treatment_log.at(0);
    EXPECT_EQ(t.end, "done");
    EXPECT_EQ(t.ended_ms, 110);
    EXPECT_FALSE(t.end_acked);
    EXPECT_FALSE(t.followed);
  }
  model.Acknowledged(*arrival[0].interaction, /*rejected=*/false);
  model.Acknowledged(*started[0].interaction, /*rejected=*/true);
  model.Acknowledged(*done[0].interaction, /*rejected=*/false);

  SwitchRequest attach;
  attach.set_request_id("a1");
  attach.set_type(calls::v1::ATTACH_USER_DATA);
  attach.set_call_uuid("t-1");
  (*attach.mutable_user_data())["played"] = "1";
  ASSERT_TRUE(model.Handle(attach).ok());
  clock.AdvanceMs(5);
  ASSERT_TRUE(model.Handle(Route("r1", "t-1", "7001")).ok());
  ASSERT_TRUE(model.Handle(Route("r2", "t-1", "7002")).ok());   // a second route of a routed call
  EXPECT_EQ(model.Handle(Route("r1", "t-1", "7002")).request_id(), "r1");   // a repeat: not recorded

  const CallRecord rec = model.Records()[0];
  ASSERT_EQ(rec.treatment_log.size(), 1u);
  EXPECT_EQ(rec.treatment_log[0].request_id, "p1");
  EXPECT_EQ(rec.treatment_log[0].started_ms, 10);
  EXPECT_TRUE(rec.treatment_log[0].end_acked);
  EXPECT_TRUE(rec.treatment_log[0].followed);   // the attach came after it ended
  ASSERT_EQ(rec.attach_log.size(), 1u);
  EXPECT_EQ(rec.attach_log[0].request_id, "a1");
  EXPECT_EQ(rec.attach_log[0].at_ms, 110);
  EXPECT_EQ(rec.attach_log[0].user_data, (std::map<std::string, std::string>{{"played", "1"}}));
  ASSERT_EQ(rec.route_log.size(), 2u);
  EXPECT_EQ(rec.route_log[0].target, "7001");
  EXPECT_EQ(rec.route_log[0].result, "ok");
  EXPECT_EQ(rec.route_log[0].at_ms, 115);
  EXPECT_FALSE(rec.route_log[0].already_routed);
  EXPECT_EQ(rec.route_log[1].target, "7002");
  EXPECT_TRUE(rec.route_log[1].already_routed);
  // ROUTE_REQUEST, TREATMENT_STARTED, TREATMENT_DONE, USER_DATA_CHANGED,
  // ESTABLISHED and PARTY_CHANGED twice.
  EXPECT_EQ(rec.events_sent, 8);
  EXPECT_EQ(rec.events_acked, 3);
  EXPECT_EQ(rec.events_rejected, 1);
}

TEST_F(SwitchModelTest, RedirectMovesAnEstablishedCallAndFreesTheFirstAgent) {
  SwitchConfig config = Config();
  config.calls = 1;
  SwitchModel& model = Start(config);
  ASSERT_TRUE(model.Handle(Route("r1", "t-1", "7001")).ok());
  Take(model);
  SwitchRequest redirect = Route("r2", "t-1", "7002");
  redirect.set_type(calls::v1::REDIRECT);
  ASSERT_TRUE(model.Handle(redirect).ok());
  EXPECT_THAT(Take(model), ElementsAre("target 7001 READY", "target 7002 BUSY t-1", "ESTABLISHED t-1 @7002",
                                       "PARTY_CHANGED t-1 @7002"));
  std::vector<std::string> states;
  for (const calls::v1::TargetEvent& t : model.TargetStates()) {
    states.push_back(t.target() + " " + calls::v1::TargetState_Name(t.state()));
  }
  EXPECT_THAT(states, ElementsAre("7001 READY", "7002 BUSY"));
}

}  // namespace
}  // namespace orch::switch_sim
