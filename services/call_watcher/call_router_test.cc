#include "services/call_watcher/call_router.h"

#include <algorithm>

#include "common/sessionapi/session_id.h"
#include "common/testing/status_matchers.h"
#include "common/time/simulated_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/call_watcher/call_router_test_util.h"
#include "services/call_watcher/fake_call_store.h"
#include "prometheus/registry.h"

namespace orch::call_watcher {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using router_testing::FakeLink;
using router_testing::Field;
using router_testing::kDnFile;
using router_testing::Replica;

google::protobuf::Struct SubmitParams(const std::string& target, const std::string& type, double timeout_s,
                                      bool route = false, double priority = 0) {
  google::protobuf::Struct p;
  auto& f = *p.mutable_fields();
  f["queue"].set_string_value("vq_sales");
  f["timeout"].set_number_value(timeout_s);
  f["priority"].set_number_value(priority);
  f["route"].set_bool_value(route);
  google::protobuf::Struct t;
  (*t.mutable_fields())["name"].set_string_value(target);
  (*t.mutable_fields())["type"].set_string_value(type);
  google::protobuf::Struct group;
  *(*group.mutable_fields())["target"].mutable_list_value()->add_values()->mutable_struct_value() = t;
  *f["targets"].mutable_list_value()->add_values()->mutable_struct_value() = group;
  return p;
}

class CallRouterTest : public ::testing::Test {
 protected:
  CallRouterTest() : store_(&clock_), r_(&clock_, &store_) {
    r_.Link(&link_);
    EXPECT_OK(r_.Hello(&link_));
  }

  time::SimulatedClock clock_;
  FakeCallStore store_;
  Replica r_;
  FakeLink link_;
};

TEST_F(CallRouterTest, ARouteRequestStartsTheDnsApplicationAndClaimsTheCall) {
  ASSERT_TRUE(link_.msgs[0].has_welcome());
  EXPECT_EQ(link_.msgs[0].welcome().resume_after_seq(), 0u);
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c1", "5000"));
  auto starts = r_.sink.starts();
  ASSERT_EQ(starts.size(), 1u);
  const auto& s = starts[0].req;
  EXPECT_EQ(starts[0].node, CallRouter::NodeFor("c1", {1, 2, 3}));
  EXPECT_EQ(s.url(), "file:/app.scxml?ani=%2B15550100");
  EXPECT_EQ(s.alternate_url(), "file:/alt.scxml");
  EXPECT_EQ(s.parameters().at("greeting").string_value(), "hello");
  EXPECT_EQ(s.idempotency_key(), "call:c1");
  EXPECT_EQ(s.interaction().interaction_id(), "c1");
  EXPECT_EQ(s.interaction().watcher(), "cw-a:7104");
  EXPECT_EQ(s.interaction().media_type(), "voice");
  EXPECT_EQ(s.interaction().tenant(), "acme");
  EXPECT_EQ(s.persistence(), sv1::PERSISTENCE_OFF);

  auto record = store_.GetCall("c1");
  ASSERT_OK(record);
  EXPECT_EQ(record->session_id(), r_.SessionOf("c1"));
  EXPECT_EQ(record->watcher(), "cw-a:7104");

  auto sends = r_.sink.sends();
  ASSERT_EQ(sends.size(), 1u);
  const auto& ev = sends[0].req.event();
  EXPECT_EQ(sends[0].req.session_id(), r_.SessionOf("c1"));
  EXPECT_EQ(ev.name(), "interaction.added");
  EXPECT_EQ(ev.effect_id(), "call/sw1/1");
  EXPECT_EQ(ev.source(), event::v1::EVENT_SOURCE_CALL);
  EXPECT_EQ(Field(ev, "interactionid"), "c1");
  const auto& ixn = ev.data().struct_value().fields().at("interaction").struct_value().fields();
  EXPECT_EQ(ixn.at("state").string_value(), "routing");
  EXPECT_EQ(ixn.at("thisdn").string_value(), "5000");
  EXPECT_EQ(ixn.at("voice").struct_value().fields().at("ani").string_value(), "+15550100");
  EXPECT_EQ(ixn.at("voice").struct_value().fields().at("callid").string_value(), "conn-c1");
  EXPECT_EQ(link_.acked, 1u);
  auto call = r_.router_.GetCall("c1");
  ASSERT_OK(call);
  EXPECT_EQ(call->session_id(), r_.SessionOf("c1"));
  EXPECT_EQ(call->state(), "routing");
}

TEST_F(CallRouterTest, EventsOfACallGoInOrderOneAtATimeAndAckWhenDelivered) {
  r_.sink.SetAutoAnswer(false);
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c1", "5000"));
  ASSERT_OK(r_.Event(cv1::USER_DATA_CHANGED, "c1", "5000", [](auto& e) { (*e.mutable_user_data())["seg"] = "gold"; }));
  ASSERT_OK(r_.Event(cv1::RELEASED, "c1", "5000", [](auto& e) { e.set_cause("abandoned"); }));
  EXPECT_EQ(r_.sink.sends().size(), 0u);   // the session is not started yet
  ASSERT_TRUE(r_.sink.AnswerNextStart(absl::OkStatus()));
  EXPECT_EQ(r_.sink.sends().size(), 1u);
  EXPECT_EQ(link_.acked, 0u);
  ASSERT_TRUE(r_.sink.AnswerNextSend(absl::UnavailableError("engine restarting")));
  EXPECT_EQ(r_.sink.sends().size(), 1u);   // retried after retry_ms, not at once
  clock_.AdvanceMs(200);
  r_.router_.Tick();
  EXPECT_EQ(r_.sink.sends().size(), 2u);
  ASSERT_TRUE(r_.sink.AnswerNextSend(absl::OkStatus()));
  EXPECT_EQ(link_.acked, 1u);
  ASSERT_TRUE(r_.sink.AnswerNextSend(absl::OkStatus()));
  EXPECT_EQ(link_.acked, 2u);
  ASSERT_TRUE(r_.sink.AnswerNextSend(absl::OkStatus()));
  EXPECT_EQ(link_.acked, 3u);
  auto sends = r_.sink.sends();
  std::vector<std::string> names, effects;
  for (const auto& s : sends) {
    names.push_back(s.req.event().name());
    effects.push_back(s.req.event().effect_id());
  }
  EXPECT_THAT(names, ElementsAre("interaction.added", "interaction.added", "interaction.udata.changed",
                                 "interaction.deleted"));
  EXPECT_THAT(effects, ElementsAre("call/sw1/1", "call/sw1/1", "call/sw1/2", "call/sw1/3"));
  EXPECT_EQ(Field(sends[3].req.event(), "resultof"), "abandoned");
  EXPECT_EQ(sends[2].req.event().data().struct_value().fields().at("interaction").struct_value().fields()
                .at("udata").struct_value().fields().at("seg").string_value(),
            "gold");
  EXPECT_EQ(r_.router_.CallCount(), 0u);
  EXPECT_EQ(store_.GetCall("c1").status().code(), absl::StatusCode::kNotFound);   // deleted at the end
}

TEST_F(CallRouterTest, BadInputIsRejectedAndAcknowledged) {
  ASSERT_OK(r_.Event(cv1::ESTABLISHED, "nobody", "7001"));
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "", "5000"));
  auto rej = link_.Rejections();
  ASSERT_EQ(rej.size(), 2u);
  EXPECT_EQ(rej[0].seq(), 1u);
  EXPECT_THAT(rej[0].reason(), HasSubstr("unknown call nobody"));
  EXPECT_THAT(rej[1].reason(), HasSubstr("no call_uuid"));
  EXPECT_EQ(link_.acked, 2u);

  // A duplicate is dropped; a gap closes the link.
  r_.SetSeq(1);
  ASSERT_OK(r_.Event(cv1::ESTABLISHED, "nobody", "7001"));
  EXPECT_EQ(link_.Rejections().size(), 2u);
  r_.SetSeq(4);
  absl::Status gap = r_.Event(cv1::ESTABLISHED, "nobody", "7001");
  EXPECT_EQ(gap.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(gap.message(), "sequence gap: expected 3, got 5");
  EXPECT_EQ(r_.Counter("orch_call_watcher_rejected_events_total", {{"reason", "unknown_call"}}), 1);
  EXPECT_EQ(r_.Counter("orch_call_watcher_rejected_events_total", {{"reason", "missing_call_uuid"}}), 1);
  EXPECT_EQ(r_.Counter("orch_call_watcher_duplicate_events_total"), 1);
}

TEST_F(CallRouterTest, AnUnknownDnIsRejectedAndGetsTheFilesDefaultRoute) {
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c1", "4444"));
  auto rej = link_.Rejections();
  ASSERT_EQ(rej.size(), 1u);
  EXPECT_THAT(rej[0].reason(), HasSubstr("no application for DN 4444"));
  auto req = link_.Requests();
  ASSERT_EQ(req.size(), 1u);
  EXPECT_EQ(req[0].type(), cv1::ROUTE);
  EXPECT_EQ(req[0].target(), "7999");
  EXPECT_EQ(req[0].reason(), "unknown_dn");
  EXPECT_TRUE(r_.sink.starts().empty());
  // The call is still owned: its release ends it.
  ASSERT_OK(r_.Event(cv1::RELEASED, "c1", "4444"));
  EXPECT_EQ(link_.acked, 2u);
  EXPECT_EQ(r_.router_.CallCount(), 0u);
}

TEST_F(CallRouterTest, AnApplicationThatCannotBeStartedIsRejectedWithTheDefaultRoute) {
  r_.sink.FailUrl("file:/broken.scxml");
  r_.sink.FailUrl("file:/broken-too.scxml");
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c1", "5001"));
  ASSERT_EQ(r_.sink.starts().size(), 1u);
  EXPECT_EQ(r_.sink.starts()[0].req.alternate_url(), "file:/broken-too.scxml");
  auto rej = link_.Rejections();
  ASSERT_EQ(rej.size(), 1u);
  EXPECT_EQ(rej[0].seq(), 1u);
  EXPECT_THAT(rej[0].reason(), HasSubstr("application of DN 5001 could not be started"));
  EXPECT_THAT(rej[0].reason(), HasSubstr("cannot fetch file:/broken.scxml"));
  auto req = link_.Requests();
  ASSERT_EQ(req.size(), 1u);
  EXPECT_EQ(req[0].target(), "7999");
  EXPECT_EQ(req[0].reason(), "start_failed");
  EXPECT_EQ(link_.acked, 1u);
  EXPECT_TRUE(r_.sink.sends().empty());
  EXPECT_EQ(r_.Counter("orch_call_watcher_session_start_failures_total", {{"reason", "start_failed"}}), 1);
  EXPECT_EQ(r_.Counter("orch_call_watcher_default_routes_total", {{"reason", "start_failed"}}), 1);
}

TEST_F(CallRouterTest, AStrategyThatNeverRoutesGetsTheDefaultRouteAfterTheTimeout) {
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c1", "5000"));
  clock_.AdvanceMs(9999);
  r_.router_.Tick();
  EXPECT_TRUE(link_.Requests().empty());
  clock_.AdvanceMs(1);
  r_.router_.Tick();
  auto req = link_.Requests();
  ASSERT_EQ(req.size(), 1u);
  EXPECT_EQ(req[0].target(), "7000");
  EXPECT_EQ(req[0].reason(), "timeout");
  r_.Result(req[0].request_id(), true);
  EXPECT_EQ(r_.router_.GetCall("c1")->routed_to(), "7000");
  clock_.AdvanceMs(20000);
  r_.router_.Tick();
  EXPECT_EQ(link_.Requests().size(), 1u);   // once

  // A route of the strategy still unanswered holds the default route back;
  // its failure lets it go.
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c2", "5000"));
  google::protobuf::Struct p;
  (*p.mutable_fields())["to"].set_string_value("7002");
  ASSERT_OK(r_.Action("c2", "interaction", "redirect", "s2/1", "red-2", p));
  clock_.AdvanceMs(10000);
  r_.router_.Tick();
  ASSERT_EQ(link_.Requests().size(), 2u);
  r_.Result(link_.Requests().back().request_id(), false, "invalid-target");
  r_.router_.Tick();
  ASSERT_EQ(link_.Requests().size(), 3u);
  EXPECT_EQ(link_.Requests().back().call_uuid(), "c2");
  EXPECT_EQ(link_.Requests().back().reason(), "timeout");
  EXPECT_EQ(r_.Counter("orch_call_watcher_default_routes_total", {{"reason", "timeout"}}), 2);
}

TEST_F(CallRouterTest, RedirectActionRoutesAndAnswersOnceWithItsRequestId) {
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c1", "5000"));
  google::protobuf::Struct p;
  auto& res = *(*p.mutable_fields())["to"].mutable_struct_value()->mutable_fields();
  res["target"].set_string_value("7001");
  res["type"].set_string_value("agent");
  auto r1 = r_.Action("c1", "interaction", "redirect", "sess/1", "req-1", p);
  ASSERT_OK(r1);
  EXPECT_FALSE(r1->duplicate());
  auto r2 = r_.Action("c1", "interaction", "redirect", "sess/1", "req-1", p);
  ASSERT_OK(r2);
  EXPECT_TRUE(r2->duplicate());
  auto req = link_.Requests();
  ASSERT_EQ(req.size(), 1u);
  EXPECT_EQ(req[0].type(), cv1::ROUTE);
  EXPECT_EQ(req[0].target(), "7001");
  r_.Result(req[0].request_id(), true);
  r_.Result(req[0].request_id(), true);   // a repeated answer changes nothing
  auto ev = r_.sink.LastEvent("interaction.redirect.done");
  EXPECT_EQ(Field(ev, "requestid"), "req-1");
  EXPECT_EQ(ev.effect_id(), "cw/sess/1/1");
  EXPECT_THAT(r_.sink.EventNames(r_.SessionOf("c1")),
              ElementsAre("interaction.added", "interaction.redirect.done"));
  EXPECT_EQ(r_.router_.GetCall("c1")->state(), "routed");

  EXPECT_EQ(r_.Action("zz", "interaction", "redirect", "sess/2", "req-2", p).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(r_.Action("c1", "bogus", "x", "sess/3", "req-3").status().code(), absl::StatusCode::kInvalidArgument);
  // A failed route answers the error event.
  auto r3 = r_.Action("c1", "interaction", "redirect", "sess/4", "req-4", p);
  ASSERT_OK(r3);
  r_.Result(link_.Requests().back().request_id(), false, "busy");
  auto err = r_.sink.LastEvent("error.interaction.redirect");
  EXPECT_EQ(Field(err, "requestid"), "req-4");
  EXPECT_EQ(Field(err, "error"), "busy");
}

TEST_F(CallRouterTest, QueueSubmitReservesTheLongestIdleAgentOfTheGroup) {
  ASSERT_OK(r_.Target("a1", cv1::READY, 200));
  ASSERT_OK(r_.Target("a2", cv1::READY, 100));
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c1", "5000"));
  ASSERT_OK(r_.Action("c1", "queue", "submit", "sess/1", "sub-1", SubmitParams("sales", "agentgroup", 30)));
  EXPECT_THAT(r_.sink.EventNames(r_.SessionOf("c1")),
              ElementsAre("interaction.added", "queue.submit.requestid", "queue.submit.done"));
  auto done = r_.sink.LastEvent("queue.submit.done");
  EXPECT_EQ(Field(done, "requestid"), "sub-1");
  EXPECT_EQ(Field(done, "targetselected"), "a2");
  EXPECT_EQ(Field(done, "vqselected"), "vq_sales");
  EXPECT_EQ(done.data().struct_value().fields().at("resource").struct_value().fields().at("target").string_value(), "a2");
  EXPECT_EQ(done.effect_id(), "cw/sess/1/2");
  // Reserved in the store for this call: another holder cannot take it.
  EXPECT_EQ(*store_.ReserveTarget("a2", "other", absl::Seconds(1)), "c1");
  EXPECT_EQ(r_.router_.GetCall("c1")->reserved_target(), "a2");

  // The strategy routes with the resource; the call lands on a2: the
  // reservation is the target's now (no longer the call's), kept until a2 is
  // READY again.
  google::protobuf::Struct p;
  (*(*p.mutable_fields())["to"].mutable_struct_value()->mutable_fields())["id"].set_string_value("a2");
  ASSERT_OK(r_.Action("c1", "interaction", "redirect", "sess/2", "red-1", p));
  r_.Result(link_.Requests().back().request_id(), true);
  ASSERT_OK(r_.Event(cv1::ESTABLISHED, "c1", "a2"));
  EXPECT_EQ(r_.router_.GetCall("c1")->reserved_target(), "");
  EXPECT_EQ(*store_.ReserveTarget("a2", "other", absl::Seconds(1)), "c1");
  ASSERT_OK(r_.Target("a2", cv1::BUSY, 300, "c1"));
  ASSERT_OK(r_.Event(cv1::RELEASED, "c1", "a2"));
  EXPECT_EQ(*store_.ReserveTarget("a2", "other", absl::Seconds(1)), "c1");
  ASSERT_OK(r_.Target("a2", cv1::READY, 400));
  EXPECT_EQ(*store_.ReserveTarget("a2", "other", absl::Seconds(1)), "other");
  EXPECT_EQ(r_.Counter("orch_call_watcher_reservations_total", {{"outcome", "freed"}}), 1);
}

TEST_F(CallRouterTest, QueueSubmitWithRouteRoutesBeforeDoneAndHigherPriorityGoesFirst) {
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c1", "5000"));
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c2", "5000"));
  ASSERT_OK(r_.Action("c1", "queue", "submit", "s1/1", "sub-1", SubmitParams("a1", "agent", 30, true, 1)));
  ASSERT_OK(r_.Action("c2", "queue", "submit", "s2/1", "sub-2", SubmitParams("a1", "agent", 30, true, 5)));
  EXPECT_TRUE(link_.Requests().empty());   // nobody ready
  ASSERT_OK(r_.Target("a1", cv1::READY));
  auto req = link_.Requests();
  ASSERT_EQ(req.size(), 1u);
  EXPECT_EQ(req[0].call_uuid(), "c2");   // priority 5 before 1
  EXPECT_EQ(req[0].type(), cv1::ROUTE);
  EXPECT_EQ(req[0].target(), "a1");
  EXPECT_EQ(r_.sink.LastEvent("queue.submit.done").name(), "");   // not before the route's answer
  r_.Result(req[0].request_id(), true);
  EXPECT_EQ(Field(r_.sink.LastEvent("queue.submit.done"), "requestid"), "sub-2");
  EXPECT_EQ(r_.router_.GetCall("c2")->routed_to(), "a1");
}

TEST_F(CallRouterTest, AbandonWhileQueuedOrReservedReleasesAndTimeoutAnswersAnError) {
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c1", "5000"));
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c2", "5000"));
  ASSERT_OK(r_.Action("c1", "queue", "submit", "s1/1", "sub-1", SubmitParams("a1", "agent", 30)));
  ASSERT_OK(r_.Action("c2", "queue", "submit", "s2/1", "sub-2", SubmitParams("a9", "agent", 3)));
  ASSERT_OK(r_.Target("a1", cv1::READY));
  EXPECT_EQ(Field(r_.sink.LastEvent("queue.submit.done"), "targetselected"), "a1");
  EXPECT_EQ(*store_.ReserveTarget("a1", "other", absl::Seconds(1)), "c1");
  ASSERT_OK(r_.Event(cv1::RELEASED, "c1", "5000", [](auto& e) { e.set_cause("abandoned"); }));
  EXPECT_EQ(*store_.ReserveTarget("a1", "other", absl::Seconds(1)), "other");

  clock_.AdvanceMs(3000);
  r_.router_.Tick();
  auto err = r_.sink.LastEvent("error.queue.submit");
  EXPECT_EQ(Field(err, "requestid"), "sub-2");
  EXPECT_EQ(Field(err, "error"), "timeout");
}

// An overloaded switch: the route to the reserved agent is still unanswered
// (or answered, and the call not landed yet) when the reservation's TTL
// passes. The agent must not be offered to another call meanwhile.
TEST_F(CallRouterTest, AReservationBeingRoutedToOutlivesItsTtl) {
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c1", "5000"));
  ASSERT_OK(r_.Action("c1", "queue", "submit", "s1/1", "sub-1", SubmitParams("a1", "agent", 60, true)));
  ASSERT_OK(r_.Target("a1", cv1::READY));
  auto req = link_.Requests();
  ASSERT_EQ(req.size(), 1u);
  EXPECT_EQ(req[0].call_uuid(), "c1");
  clock_.AdvanceMs(6000);   // past the TTL (5 s) with the route unanswered
  r_.router_.Tick();
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c2", "5000"));
  ASSERT_OK(r_.Action("c2", "queue", "submit", "s2/1", "sub-2", SubmitParams("a1", "agent", 60, true)));
  EXPECT_EQ(link_.Requests().size(), 1u);   // nothing for c2
  EXPECT_EQ(*store_.ReserveTarget("a1", "other", absl::Seconds(1)), "c1");   // extended in the store too
  r_.Result(req[0].request_id(), true);     // answered; the BUSY still to come
  clock_.AdvanceMs(6000);
  r_.router_.Tick();
  EXPECT_EQ(link_.Requests().size(), 1u);
  EXPECT_EQ(*store_.ReserveTarget("a1", "other", absl::Seconds(1)), "c1");
  ASSERT_OK(r_.Target("a1", cv1::BUSY, 0, "c1"));   // landed: the reservation ends
  ASSERT_OK(r_.Event(cv1::RELEASED, "c1", "a1"));
  ASSERT_OK(r_.Target("a1", cv1::READY));
  req = link_.Requests();
  ASSERT_EQ(req.size(), 2u);
  EXPECT_EQ(req[1].call_uuid(), "c2");
  EXPECT_EQ(req[1].target(), "a1");
  EXPECT_EQ(r_.Counter("orch_call_watcher_reservations_total", {{"outcome", "extended"}}), 2);
}

// Engines slower than the calls: once max_queued_events wait for their
// sessions, new calls get their default route at once instead of a session.
TEST(CallRouterAdmissionTest, BeyondTheQueuedEventsLimitNewCallsGetTheDefaultRoute) {
  time::SimulatedClock clock;
  FakeCallStore store(&clock);
  Replica r(&clock, &store, "cw-a:7104", CallRouterOptions{.max_queued_events = 2});
  FakeLink link;
  r.Link(&link);
  ASSERT_OK(r.Hello(&link));
  r.sink.SetAutoAnswer(false);   // the engine answers nothing for now
  ASSERT_OK(r.Event(cv1::ROUTE_REQUEST, "c1", "5000"));
  ASSERT_TRUE(r.sink.AnswerNextStart(absl::OkStatus()));
  ASSERT_OK(r.Event(cv1::ROUTE_REQUEST, "c2", "5000"));
  ASSERT_TRUE(r.sink.AnswerNextStart(absl::OkStatus()));
  // c1's and c2's interaction.added wait for the engine: 2 queued.
  ASSERT_OK(r.Event(cv1::ROUTE_REQUEST, "c3", "5000"));
  EXPECT_EQ(r.sink.starts().size(), 2u);   // no session for c3
  auto rejected = link.Rejections();
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_THAT(rejected[0].reason(), HasSubstr("overloaded"));
  auto req = link.Requests();
  ASSERT_EQ(req.size(), 1u);
  EXPECT_EQ(req[0].call_uuid(), "c3");
  EXPECT_EQ(req[0].target(), "7000");      // DN 5000's default route
  EXPECT_EQ(r.Counter("orch_call_watcher_default_routes_total", {{"reason", "overloaded"}}), 1);
  // The engine catches up: the next call gets its session again.
  while (r.sink.AnswerNextSend(absl::OkStatus())) {
  }
  ASSERT_OK(r.Event(cv1::ROUTE_REQUEST, "c4", "5000"));
  EXPECT_EQ(r.sink.starts().size(), 3u);
}

TEST_F(CallRouterTest, TwoReplicasNeverGiveOneAgentToTwoCalls) {
  Replica other(&clock_, &store_, "cw-b:7104");
  FakeLink other_link;
  other.Link(&other_link);
  ASSERT_OK(other.Hello(&other_link, "sw1"));
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c1", "5000"));
  ASSERT_OK(other.Event(cv1::ROUTE_REQUEST, "c2", "5000"));
  ASSERT_OK(r_.Action("c1", "queue", "submit", "s1/1", "sub-1", SubmitParams("sales", "agentgroup", 30)));
  ASSERT_OK(other.Action("c2", "queue", "submit", "s2/1", "sub-2", SubmitParams("sales", "agentgroup", 30)));
  ASSERT_OK(r_.Target("a1", cv1::READY, 100));
  ASSERT_OK(other.Target("a1", cv1::READY, 100));
  EXPECT_EQ(Field(r_.sink.LastEvent("queue.submit.done"), "targetselected"), "a1");
  EXPECT_EQ(other.sink.LastEvent("queue.submit.done").name(), "");   // lost a1: waits
  ASSERT_OK(r_.Target("a2", cv1::READY, 200));
  ASSERT_OK(other.Target("a2", cv1::READY, 200));
  EXPECT_EQ(Field(other.sink.LastEvent("queue.submit.done"), "targetselected"), "a2");
  EXPECT_EQ(other.Counter("orch_call_watcher_reservations_total", {{"outcome", "lost"}}), 1);
  EXPECT_EQ(other.Counter("orch_call_watcher_reservations_total", {{"outcome", "won"}}), 1);
  EXPECT_EQ(r_.Counter("orch_call_watcher_reservations_total", {{"outcome", "won"}}), 1);
}

// Replica B's link delivers target events late: B still believes a1 READY
// while A's call is on it. The store's reservation, kept by A from the
// landing (through the call, its wrap-up and past the TTL) until A sees a1
// READY again, is what keeps B from giving the busy agent to its call.
TEST_F(CallRouterTest, AReplicaWhoseTargetEventsLagNeverGivesABusyAgentToACall) {
  Replica b(&clock_, &store_, "cw-b:7104");
  FakeLink b_link;
  b.Link(&b_link);
  ASSERT_OK(b.Hello(&b_link, "sw1"));
  ASSERT_OK(r_.Target("a1", cv1::READY, 100));
  ASSERT_OK(b.Target("a1", cv1::READY, 100));
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c1", "5000"));
  ASSERT_OK(r_.Action("c1", "queue", "submit", "s1/1", "sub-1", SubmitParams("a1", "agent", 600, true)));
  auto req = link_.Requests();
  ASSERT_EQ(req.size(), 1u);
  EXPECT_EQ(req[0].target(), "a1");
  r_.Result(req[0].request_id(), true);
  ASSERT_OK(r_.Event(cv1::ESTABLISHED, "c1", "a1"));
  ASSERT_OK(r_.Target("a1", cv1::BUSY, 0, "c1"));   // landed
  // Longer than the TTL (5 s): A extends the reservation in the store.
  for (int i = 0; i < 3; ++i) {
    clock_.AdvanceMs(2000);
    r_.router_.Tick();
    b.router_.Tick();
  }
  EXPECT_EQ(r_.Counter("orch_call_watcher_reservations_total", {{"outcome", "extended"}}), 1);

  ASSERT_OK(b.Event(cv1::ROUTE_REQUEST, "c2", "5000"));
  ASSERT_OK(b.Action("c2", "queue", "submit", "s2/1", "sub-2", SubmitParams("a1", "agent", 600, true)));
  EXPECT_TRUE(b_link.Requests().empty());   // a1 is c1's in the store
  EXPECT_EQ(b.Counter("orch_call_watcher_reservations_total", {{"outcome", "lost"}}), 1);
  for (int i = 0; i < 3; ++i) {   // B tries again every second, and loses
    clock_.AdvanceMs(2000);
    r_.router_.Tick();
    b.router_.Tick();
  }
  EXPECT_TRUE(b_link.Requests().empty());
  EXPECT_EQ(b.Counter("orch_call_watcher_reservations_total", {{"outcome", "lost"}}), 4);
  EXPECT_EQ(r_.Counter("orch_call_watcher_reservations_total", {{"outcome", "extended"}}), 2);
  EXPECT_EQ(r_.Counter("orch_call_watcher_reservations_total", {{"outcome", "extension_failed"}}), 0);

  // The call ends; the agent wraps up (NOT_READY): still A's.
  ASSERT_OK(r_.Event(cv1::RELEASED, "c1", "a1"));
  ASSERT_OK(r_.Target("a1", cv1::NOT_READY));
  for (int i = 0; i < 2; ++i) {
    clock_.AdvanceMs(1000);
    r_.router_.Tick();
    b.router_.Tick();
  }
  EXPECT_TRUE(b_link.Requests().empty());
  EXPECT_EQ(b.Counter("orch_call_watcher_reservations_total", {{"outcome", "lost"}}), 6);
  EXPECT_EQ(r_.Counter("orch_call_watcher_reservations_total", {{"outcome", "freed"}}), 0);

  // A sees a1 READY: the reservation ends; B's next try wins it.
  ASSERT_OK(r_.Target("a1", cv1::READY, 900));
  EXPECT_EQ(r_.Counter("orch_call_watcher_reservations_total", {{"outcome", "freed"}}), 1);
  clock_.AdvanceMs(1000);
  b.router_.Tick();
  auto b_req = b_link.Requests();
  ASSERT_EQ(b_req.size(), 1u);
  EXPECT_EQ(b_req[0].call_uuid(), "c2");
  EXPECT_EQ(b_req[0].target(), "a1");

  // B's late events of c1 arrive while c2's route is in flight: they do not
  // drop c2's reservation (another lagging pass would otherwise find a1
  // free in the store while c2 lands on it).
  ASSERT_OK(b.Target("a1", cv1::BUSY, 0, "c1"));
  ASSERT_OK(b.Target("a1", cv1::NOT_READY));
  ASSERT_OK(b.Target("a1", cv1::READY, 900));
  EXPECT_EQ(*store_.ReserveTarget("a1", "probe", absl::Seconds(1)), "c2");
  ASSERT_OK(r_.Target("a1", cv1::BUSY, 0, "c2"));
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c3", "5000"));
  ASSERT_OK(r_.Action("c3", "queue", "submit", "s3/1", "sub-3", SubmitParams("a1", "agent", 600, true)));
  EXPECT_EQ(link_.Requests().size(), 1u);   // nothing for c3: a1 is busy
  b.Result(b_req[0].request_id(), true);
  ASSERT_OK(b.Target("a1", cv1::BUSY, 0, "c2"));   // landed at B
  EXPECT_EQ(*store_.ReserveTarget("a1", "probe", absl::Seconds(1)), "c2");
  EXPECT_EQ(b.Counter("orch_call_watcher_reservations_total", {{"outcome", "target_gone"}}), 0);
}

// The holder's own waiting call gets a target its landed call frees, in the
// same pass: the store's release goes first, on the reserving thread.
TEST_F(CallRouterTest, ATargetFreedByTheHoldersLandedCallServesItsNextWaitingCall) {
  ASSERT_OK(r_.Target("a1", cv1::READY, 100));
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c1", "5000"));
  ASSERT_OK(r_.Action("c1", "queue", "submit", "s1/1", "sub-1", SubmitParams("a1", "agent", 60, true)));
  auto req = link_.Requests();
  ASSERT_EQ(req.size(), 1u);
  r_.Result(req[0].request_id(), true);
  ASSERT_OK(r_.Target("a1", cv1::BUSY, 0, "c1"));
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c2", "5000"));
  ASSERT_OK(r_.Action("c2", "queue", "submit", "s2/1", "sub-2", SubmitParams("a1", "agent", 60, true)));
  EXPECT_EQ(link_.Requests().size(), 1u);
  ASSERT_OK(r_.Event(cv1::RELEASED, "c1", "a1"));
  ASSERT_OK(r_.Target("a1", cv1::READY, 200));
  req = link_.Requests();
  ASSERT_EQ(req.size(), 2u);
  EXPECT_EQ(req[1].call_uuid(), "c2");
  EXPECT_EQ(req[1].target(), "a1");
  EXPECT_EQ(*store_.ReserveTarget("a1", "probe", absl::Seconds(1)), "c2");
  EXPECT_EQ(r_.Counter("orch_call_watcher_reservations_total", {{"outcome", "lost"}}), 0);
}

TEST_F(CallRouterTest, ATargetThatLogsOutWhileReservedDropsTheReservationUnlessTheCallIsOnItsWay) {
  // Reserved for a strategy's own redirect (route="false"): nothing is on its
  // way to a1, so its logging out ends the reservation and the call waits.
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c1", "5000"));
  ASSERT_OK(r_.Action("c1", "queue", "submit", "s1/1", "sub-1", SubmitParams("sales", "agentgroup", 30)));
  ASSERT_OK(r_.Target("a1", cv1::READY, 100));
  EXPECT_EQ(Field(r_.sink.LastEvent("queue.submit.done"), "targetselected"), "a1");
  ASSERT_OK(r_.Target("a1", cv1::LOGGED_OUT));
  EXPECT_EQ(*store_.ReserveTarget("a1", "other", absl::Seconds(1)), "other");   // released
  EXPECT_EQ(r_.router_.GetCall("c1")->reserved_target(), "");
  EXPECT_EQ(r_.Counter("orch_call_watcher_reservations_total", {{"outcome", "target_gone"}}), 1);
  ASSERT_OK(store_.ReleaseTarget("a1", "other").status());

  // route="true": the route is in flight; the event may predate it (a
  // lagging link), so the switch's answer decides.
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c2", "5000"));
  ASSERT_OK(r_.Action("c2", "queue", "submit", "s2/1", "sub-2", SubmitParams("a2", "agent", 30, true)));
  ASSERT_OK(r_.Target("a2", cv1::READY, 100));
  auto req = link_.Requests();
  ASSERT_EQ(req.size(), 1u);
  ASSERT_OK(r_.Target("a2", cv1::LOGGED_OUT));
  EXPECT_EQ(*store_.ReserveTarget("a2", "other", absl::Seconds(1)), "c2");
  r_.Result(req[0].request_id(), false, "invalid-target");
  EXPECT_EQ(Field(r_.sink.LastEvent("error.queue.submit"), "error"), "invalid-target");
  EXPECT_EQ(*store_.ReserveTarget("a2", "other", absl::Seconds(1)), "other");   // released
  EXPECT_EQ(r_.Counter("orch_call_watcher_reservations_total", {{"outcome", "target_gone"}}), 1);
}

TEST_F(CallRouterTest, RequestsWithoutAResultAreResentAfterReconnection) {
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c1", "5000"));
  google::protobuf::Struct p;
  (*p.mutable_fields())["to"].set_string_value("7001");
  ASSERT_OK(r_.Action("c1", "interaction", "redirect", "sess/1", "req-1", p));
  const std::string id = link_.Requests().at(0).request_id();
  r_.router_.Detach("sw1", &link_);
  FakeLink again;
  r_.Link(&again);
  ASSERT_OK(r_.Hello(&again));
  ASSERT_GE(again.msgs.size(), 2u);
  EXPECT_EQ(again.msgs[0].welcome().resume_after_seq(), 1u);
  EXPECT_EQ(again.Requests().at(0).request_id(), id);
  r_.Result(id, true);
  r_.Result(id, true);
  EXPECT_THAT(r_.sink.EventNames(r_.SessionOf("c1")),
              ElementsAre("interaction.added", "interaction.redirect.done"));
}

TEST_F(CallRouterTest, DialogTreatmentsCompleteWithTheirEndEvents) {
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c1", "5000"));
  google::protobuf::Struct p;
  auto& f = *p.mutable_fields();
  google::protobuf::Struct prompt;
  (*prompt.mutable_fields())["text"].set_string_value("welcome.wav");
  google::protobuf::Struct prompts;
  *(*prompts.mutable_fields())["prompt"].mutable_list_value()->add_values()->mutable_struct_value() = prompt;
  *f["prompts"].mutable_list_value()->add_values()->mutable_struct_value() = prompts;
  google::protobuf::Struct input;
  (*input.mutable_fields())["max_digits"].set_number_value(4);
  *f["input"].mutable_list_value()->add_values()->mutable_struct_value() = input;
  ASSERT_OK(r_.Action("c1", "dialog", "playandcollect", "sess/1", "pc-1", p));
  auto req = link_.Requests();
  ASSERT_EQ(req.size(), 1u);
  EXPECT_EQ(req[0].type(), cv1::APPLY_TREATMENT);
  EXPECT_EQ(req[0].treatment().type(), cv1::PLAY_AND_COLLECT);
  EXPECT_THAT(req[0].treatment().prompts(), ElementsAre("welcome.wav"));
  EXPECT_EQ(req[0].treatment().max_digits(), 4u);
  r_.Result(req[0].request_id(), true);
  ASSERT_OK(r_.Event(cv1::TREATMENT_STARTED, "c1", "5000", [&](auto& e) { e.set_request_id(req[0].request_id()); }));
  ASSERT_OK(r_.Event(cv1::TREATMENT_DONE, "c1", "5000", [&](auto& e) {
    e.set_request_id(req[0].request_id());
    e.set_digits("1234");
  }));
  auto done = r_.sink.LastEvent("dialog.playandcollect.done");
  EXPECT_EQ(Field(done, "requestid"), "pc-1");
  EXPECT_EQ(Field(done, "digits"), "1234");
  EXPECT_EQ(link_.acked, 3u);

  // dialog:stop cancels a playing treatment by its requestid.
  google::protobuf::Struct ps;
  (*ps.mutable_fields())["duration"].set_number_value(30);
  ASSERT_OK(r_.Action("c1", "dialog", "playsound", "sess/2", "ps-1", ps));
  const std::string play = link_.Requests().back().request_id();
  EXPECT_EQ(link_.Requests().back().treatment().duration_ms(), 30000u);
  r_.Result(play, true);
  google::protobuf::Struct stop;
  (*stop.mutable_fields())["target_requestid"].set_string_value("ps-1");
  ASSERT_OK(r_.Action("c1", "dialog", "stop", "sess/3", "st-1", stop));
  EXPECT_EQ(link_.Requests().back().type(), cv1::CANCEL_TREATMENT);
  EXPECT_EQ(link_.Requests().back().cancel_request_id(), play);
  r_.Result(link_.Requests().back().request_id(), true);
  EXPECT_EQ(Field(r_.sink.LastEvent("dialog.stop.done"), "requestid"), "st-1");
  ASSERT_OK(r_.Event(cv1::TREATMENT_FAILED, "c1", "5000", [&](auto& e) {
    e.set_request_id(play);
    e.set_cause("cancelled");
  }));
  EXPECT_EQ(Field(r_.sink.LastEvent("error.dialog.playsound"), "error"), "cancelled");
}

TEST_F(CallRouterTest, StartsAndDeliveriesAreRetriedWhileTheEngineIsUnavailable) {
  r_.sink.SetAutoAnswer(false);
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c1", "5000"));
  ASSERT_TRUE(r_.sink.AnswerNextStart(absl::UnavailableError("node 2 has no primary")));
  clock_.AdvanceMs(199);
  r_.router_.Tick();
  EXPECT_EQ(r_.sink.starts().size(), 1u);
  clock_.AdvanceMs(1);
  r_.router_.Tick();
  ASSERT_EQ(r_.sink.starts().size(), 2u);
  EXPECT_EQ(r_.sink.starts()[1].req.idempotency_key(), "call:c1");   // the same session
  ASSERT_TRUE(r_.sink.AnswerNextStart(absl::OkStatus()));
  ASSERT_TRUE(r_.sink.AnswerNextSend(absl::OkStatus()));
  EXPECT_EQ(link_.acked, 1u);
  EXPECT_TRUE(link_.Rejections().empty());
}

TEST_F(CallRouterTest, DigitalInteractionsStartInMemoryUnlessTheirMediaPersists) {
  ASSERT_OK(r_.Event(cv1::NEW_INTERACTION, "chat1", "5000", [](auto& e) { e.set_media_type("chat"); }));
  ASSERT_EQ(r_.sink.starts().size(), 1u);
  EXPECT_EQ(r_.sink.starts()[0].req.persistence(), sv1::PERSISTENCE_OFF);
  EXPECT_EQ(r_.sink.starts()[0].req.interaction().media_type(), "chat");
  const google::protobuf::Struct ixn =
      r_.sink.sends()[0].req.event().data().struct_value().fields().at("interaction").struct_value();
  EXPECT_EQ(ixn.fields().at("media").string_value(), "chat");
  EXPECT_EQ(ixn.fields().count("voice"), 0u);

  time::SimulatedClock clock;
  FakeCallStore store(&clock);
  Replica persisting(&clock, &store);
  persisting.cfg_ = *DnConfig::Parse(std::string(kDnFile) + "\n[media.chat]\npersistent = true\n", "dn.toml");
  FakeLink link;
  persisting.Link(&link);
  ASSERT_OK(persisting.Hello(&link));
  ASSERT_OK(persisting.Event(cv1::NEW_INTERACTION, "chat2", "5000", [](auto& e) { e.set_media_type("chat"); }));
  ASSERT_EQ(persisting.sink.starts().size(), 1u);
  EXPECT_EQ(persisting.sink.starts()[0].req.persistence(), sv1::PERSISTENCE_DOCUMENT);
}

TEST_F(CallRouterTest, ACallWhoseReleaseNeverComesEndsAfterTheCallTtl) {
  time::SimulatedClock clock;
  FakeCallStore store(&clock);
  Replica r(&clock, &store, "cw-a:7104", {.call_ttl_ms = 60000});
  FakeLink link;
  r.Link(&link);
  ASSERT_OK(r.Hello(&link));
  ASSERT_OK(r.Event(cv1::ROUTE_REQUEST, "c1", "5000"));
  ASSERT_OK(r.Event(cv1::ESTABLISHED, "c1", "7001"));
  r.router_.Detach("sw1", &link);
  clock.AdvanceMs(59999);
  r.router_.Tick();
  EXPECT_EQ(r.router_.CallCount(), 1u);
  clock.AdvanceMs(1);
  r.router_.Tick();
  EXPECT_EQ(r.router_.CallCount(), 0u);
  EXPECT_EQ(Field(r.sink.LastEvent("interaction.deleted"), "resultof"), "expired");
  EXPECT_EQ(store.GetCall("c1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r.Counter("orch_call_watcher_calls_expired_total"), 1);
}

TEST(NodeForTest, StableAndSpread) {
  std::vector<int> nodes = {1, 2, 3};
  std::map<int, int> count;
  for (int i = 0; i < 3000; ++i) {
    const std::string uuid = "call-" + std::to_string(i);
    int n = CallRouter::NodeFor(uuid, nodes);
    EXPECT_EQ(n, CallRouter::NodeFor(uuid, {3, 1, 2}));   // order of the list does not matter
    ++count[n];
  }
  for (int n : nodes) EXPECT_GT(count[n], 800) << "node " << n;
  // Removing a node moves only its calls.
  for (int i = 0; i < 300; ++i) {
    const std::string uuid = "call-" + std::to_string(i);
    int before = CallRouter::NodeFor(uuid, nodes);
    if (before != 3) {
      EXPECT_EQ(CallRouter::NodeFor(uuid, {1, 2}), before);
    }
  }
}

}  // namespace
}  // namespace orch::call_watcher
