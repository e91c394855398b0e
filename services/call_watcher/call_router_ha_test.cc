// CallRouter across node failures (ha-contract D1, D2, D4.1-D4.2, D4.8):
// assignment over the nodes up, the reserved node after
// call-watching-timeout, following the owner, events buffered while a node
// has no primary, orphaned calls, recording for restart, repeated actions.

#include <string>
#include <vector>

#include "common/sessionapi/call_binding.h"
#include "common/sessionapi/session_id.h"
#include "common/testing/status_matchers.h"
#include "common/time/simulated_clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "services/call_watcher/call_router.h"
#include "services/call_watcher/call_router_test_util.h"
#include "services/call_watcher/fake_call_store.h"

namespace orch::call_watcher {
namespace {

using ::testing::ElementsAre;
using router_testing::FakeLink;
using router_testing::Field;
using router_testing::Replica;

// Struct fields are a map: equal events may serialize differently.
bool Same(const google::protobuf::Message& a, const google::protobuf::Message& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

std::vector<std::string> Names(const std::vector<FakeSessionSink::Send>& sends) {
  std::vector<std::string> out;
  for (const auto& s : sends) out.push_back(s.req.event().name());
  return out;
}

class CallRouterHaTest : public ::testing::Test {
 protected:
  explicit CallRouterHaTest(CallRouterOptions options = {}) : store_(&clock_), r_(&clock_, &store_, "cw-a:7104", options) {
    r_.Link(&link_);
    EXPECT_OK(r_.Hello(&link_));
  }

  // Runs the router's timers `ms` later.
  void Later(int64_t ms) {
    clock_.AdvanceMs(ms);
    r_.router_.Tick();
  }

  time::SimulatedClock clock_;
  FakeCallStore store_;
  Replica r_;
  FakeLink link_;
};

TEST(ChooseNodesTest, AssignedAmongTheNodesUpReservedAmongTheOthers) {
  const std::vector<int> all = {1, 2, 3, 4};
  for (int i = 0; i < 200; ++i) {
    const std::string uuid = "call-" + std::to_string(i);
    const NodeChoice c = CallRouter::ChooseNodes(uuid, all, {1, 3, 4}, {});
    EXPECT_NE(c.assigned, 2);
    EXPECT_NE(c.reserved, 2);
    EXPECT_NE(c.reserved, c.assigned);
    EXPECT_NE(c.reserved, 0);
    EXPECT_EQ(c.assigned, CallRouter::NodeFor(uuid, {1, 3, 4}));
    // Stable: the same answer every time.
    const NodeChoice again = CallRouter::ChooseNodes(uuid, all, {1, 3, 4}, {});
    EXPECT_EQ(again.assigned, c.assigned);
    EXPECT_EQ(again.reserved, c.reserved);
  }
  // None up: over every configured node.
  EXPECT_EQ(CallRouter::ChooseNodes("x", all, {}, {}).assigned, CallRouter::NodeFor("x", all));
  EXPECT_NE(CallRouter::ChooseNodes("x", all, {}, {}).reserved, 0);
  // One node: no reserved node.
  const NodeChoice one = CallRouter::ChooseNodes("x", {7}, {7}, {});
  EXPECT_EQ(one.assigned, 7);
  EXPECT_EQ(one.reserved, 0);
  // A forced assigned node (a consultation call's primary).
  const NodeChoice forced = CallRouter::ChooseNodes("x", all, {1, 2, 3, 4}, {}, 3);
  EXPECT_EQ(forced.assigned, 3);
  EXPECT_NE(forced.reserved, 3);
}

TEST(ChooseNodesTest, TheReservedNodeIsInAnotherDataCenterWhenOneIsUp) {
  const std::vector<int> all = {1, 2, 3, 4};
  const std::map<int, std::string> dc = {{1, "east"}, {2, "east"}, {3, "west"}, {4, "west"}};
  int crossed = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string uuid = "call-" + std::to_string(i);
    const NodeChoice c = CallRouter::ChooseNodes(uuid, all, all, dc);
    EXPECT_NE(dc.at(c.reserved), dc.at(c.assigned)) << uuid;
    crossed += dc.at(c.reserved) != dc.at(c.assigned) ? 1 : 0;
    // West down: the reserved node is the other east one.
    const NodeChoice east_only = CallRouter::ChooseNodes(uuid, all, {1, 2}, dc);
    EXPECT_EQ(east_only.reserved, east_only.assigned == 1 ? 2 : 1);
  }
  EXPECT_EQ(crossed, 200);
  // A node missing from the map is in the nameless data center.
  const NodeChoice c = CallRouter::ChooseNodes("x", {1, 5}, {1, 5}, {{1, "east"}});
  EXPECT_NE(c.reserved, 0);
}

TEST_F(CallRouterHaTest, ACallIsAssignedToANodeUpClaimedWithItsNodesAndStartedWithBind) {
  r_.liveness.SetUp(2, false);
  for (int i = 0; i < 30; ++i) {
    const std::string uuid = "c" + std::to_string(i);
    ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, uuid, "5000"));
    const auto starts = r_.sink.starts();
    ASSERT_EQ(starts.size(), static_cast<size_t>(i + 1));
    const auto& start = starts.back();
    EXPECT_NE(start.node, 2);
    EXPECT_TRUE(start.req.interaction().bind());
    auto record = store_.GetCall(uuid);
    ASSERT_OK(record);
    EXPECT_EQ(record->assigned_node(), start.node);
    EXPECT_NE(record->reserved_node(), 0);
    EXPECT_NE(record->reserved_node(), 2);
    EXPECT_NE(record->reserved_node(), record->assigned_node());
    EXPECT_EQ(record->owner_node(), 0);
    EXPECT_EQ(record->session_id(), sessionapi::SessionIdForKey(start.node, "call:" + uuid));
    EXPECT_EQ(record->created_unix_ms(), clock_.NowMs());
    EXPECT_FALSE(record->restart_on_switchover());
    sv1::StartSessionRequest recorded;
    ASSERT_TRUE(recorded.ParseFromString(record->start_request()));
    EXPECT_TRUE(Same(recorded, start.req));
  }
  r_.router_.Tick();
  double owned = 0;
  for (int n : {1, 3}) owned += r_.Gauge("orch_calls_owned", {{"node", std::to_string(n)}});
  EXPECT_EQ(owned, 30);
}

TEST_F(CallRouterHaTest, AStartFailingUntilTheWatchingTimeoutGoesToTheReservedNode) {
  r_.sink.SetAutoAnswer(false);
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c1", "5000"));
  ASSERT_OK(r_.Event(cv1::QUEUED, "c1", "5000"));
  auto record = store_.GetCall("c1");
  ASSERT_OK(record);
  const int assigned = record->assigned_node();
  const int reserved = record->reserved_node();
  ASSERT_NE(reserved, 0);
  // 5000 ms of the assigned node having no primary: every 200 ms, there only.
  int64_t elapsed = 0;
  while (elapsed < 5000) {
    ASSERT_TRUE(r_.sink.AnswerNextStart(absl::UnavailableError("node has no primary")));
    Later(200);
    elapsed += 200;
    r_.router_.Tick();
    EXPECT_EQ(r_.Gauge("orch_calls_events_buffered"), 2);
  }
  auto starts = r_.sink.starts();
  ASSERT_EQ(starts.size(), 26u);
  for (size_t i = 0; i + 1 < starts.size(); ++i) EXPECT_EQ(starts[i].node, assigned) << i;
  // Past the timeout: the reserved node, same request.
  EXPECT_EQ(starts.back().node, reserved);
  EXPECT_TRUE(Same(starts.back().req, starts[0].req));
  // Both down: alternately, the reserved then the assigned one.
  ASSERT_TRUE(r_.sink.AnswerNextStart(absl::UnavailableError("no primary")));
  Later(200);
  ASSERT_TRUE(r_.sink.AnswerNextStart(absl::UnavailableError("no primary")));
  Later(200);
  starts = r_.sink.starts();
  ASSERT_EQ(starts.size(), 28u);
  EXPECT_EQ(starts[26].node, assigned);
  EXPECT_EQ(starts[27].node, reserved);
  EXPECT_EQ(r_.sink.sends().size(), 0u);
  EXPECT_EQ(r_.router_.GetCall("c1")->owner_node(), 0);
  ASSERT_TRUE(r_.sink.AnswerNextStart(absl::OkStatus()));
  // The events go to the reserved node's session, in order.
  ASSERT_TRUE(r_.sink.AnswerNextSend(absl::OkStatus()));
  ASSERT_TRUE(r_.sink.AnswerNextSend(absl::OkStatus()));
  const auto sends = r_.sink.sends();
  ASSERT_EQ(sends.size(), 2u);
  for (const auto& s : sends) {
    EXPECT_EQ(s.node, reserved);
    EXPECT_EQ(s.req.session_id(), sessionapi::SessionIdForKey(reserved, "call:c1"));
  }
  EXPECT_THAT(Names(sends), ElementsAre("interaction.added", "interaction.queued"));
  EXPECT_EQ(link_.acked, 2u);
  EXPECT_TRUE(link_.Rejections().empty());
  EXPECT_EQ(r_.Counter("orch_calls_reserved_takeovers_total"), 1);
  r_.router_.Tick();
  EXPECT_EQ(r_.Gauge("orch_calls_events_buffered"), 0);
  EXPECT_EQ(r_.Gauge("orch_calls_owned", {{"node", std::to_string(reserved)}}), 1);
  auto call = r_.router_.GetCall("c1");
  ASSERT_OK(call);
  EXPECT_EQ(call->session_id(), sessionapi::SessionIdForKey(reserved, "call:c1"));
  EXPECT_EQ(call->assigned_node(), assigned);
  EXPECT_EQ(call->reserved_node(), reserved);
  EXPECT_EQ(call->owner_node(), reserved);
}

TEST_F(CallRouterHaTest, AStartRefusedBecauseAnotherNodeOwnsTheCallFollowsTheOwner) {
  r_.sink.SetAutoAnswer(false);
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c1", "5000"));
  auto record = store_.GetCall("c1");
  ASSERT_OK(record);
  // The reserved node bound the call meanwhile (as persistence-proxy's
  // BindCall would record it).
  const int owner = record->reserved_node();
  CallRecord bound = *record;
  bound.set_owner_node(owner);
  bound.set_session_id(sessionapi::SessionIdForKey(owner, "call:c1"));
  ASSERT_OK(store_.DeleteCall("c1"));
  ASSERT_OK(store_.ClaimCall(bound, absl::Hours(1)));
  ASSERT_TRUE(r_.sink.AnswerNextStart(
      sessionapi::CallOwnedByNode("c1", owner)));
  auto starts = r_.sink.starts();
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_EQ(starts[1].node, owner);   // at once, not after retry-ms
  ASSERT_TRUE(r_.sink.AnswerNextStart(absl::UnavailableError("owner switching over")));
  Later(200);
  starts = r_.sink.starts();
  ASSERT_EQ(starts.size(), 3u);
  EXPECT_EQ(starts[2].node, owner);   // the owner only, from now on
  ASSERT_TRUE(r_.sink.AnswerNextStart(absl::OkStatus()));
  ASSERT_TRUE(r_.sink.AnswerNextSend(absl::OkStatus()));
  const auto sends = r_.sink.sends();
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(sends[0].node, owner);
  EXPECT_EQ(sends[0].req.session_id(), bound.session_id());
  EXPECT_TRUE(link_.Rejections().empty());
  // Another FAILED_PRECONDITION is final, as before.
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c2", "5000"));
  ASSERT_TRUE(r_.sink.AnswerNextStart(absl::FailedPreconditionError("document does not compile")));
  ASSERT_EQ(link_.Rejections().size(), 1u);
}

TEST_F(CallRouterHaTest, AStartRefusedForLackOfARecordClaimsTheCallAgain) {
  r_.sink.SetAutoAnswer(false);
  store_.SetUnavailable(true);
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c1", "5000"));   // claim fails; the start goes on
  store_.SetUnavailable(false);
  EXPECT_EQ(store_.GetCall("c1").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(r_.sink.AnswerNextStart(sessionapi::CallHasNoRecord("c1")));
  auto record = store_.GetCall("c1");
  ASSERT_OK(record);
  EXPECT_NE(record->assigned_node(), 0);
  ASSERT_EQ(r_.sink.starts().size(), 2u);
  EXPECT_EQ(r_.sink.starts()[1].node, record->assigned_node());
}

TEST_F(CallRouterHaTest, ACallClaimedEarlierKeepsTheRecordsNodesWatchingTimeAndOwner) {
  // Claimed 10 s ago by another replica (an adapter that moved): past its
  // watching time, no owner yet -> its reserved node first.
  CallRecord earlier;
  earlier.set_call_uuid("moved");
  earlier.set_assigned_node(1);
  earlier.set_reserved_node(3);
  earlier.set_session_id(sessionapi::SessionIdForKey(1, "call:moved"));
  earlier.set_created_unix_ms(clock_.NowMs() - 10000);
  ASSERT_OK(store_.ClaimCall(earlier, absl::Hours(1)));
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "moved", "5000"));
  EXPECT_EQ(r_.sink.starts().back().node, 3);
  EXPECT_EQ(r_.sink.sends().back().req.session_id(), sessionapi::SessionIdForKey(3, "call:moved"));
  // Owned already: there, with the owner's session.
  CallRecord owned = earlier;
  owned.set_call_uuid("owned");
  owned.set_created_unix_ms(clock_.NowMs());
  owned.set_owner_node(3);
  owned.set_session_id(sessionapi::SessionIdForKey(3, "call:owned"));
  ASSERT_OK(store_.ClaimCall(owned, absl::Hours(1)));
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "owned", "5000"));
  EXPECT_EQ(r_.sink.starts().back().node, 3);
  EXPECT_EQ(r_.sink.sends().back().req.session_id(), owned.session_id());
}

TEST_F(CallRouterHaTest, EventsWaitWhileTheNodeHasNoPrimaryAndArriveOnceInOrder) {
  r_.sink.SetAutoAnswer(false);
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c1", "5000"));
  ASSERT_TRUE(r_.sink.AnswerNextStart(absl::OkStatus()));
  ASSERT_TRUE(r_.sink.AnswerNextSend(absl::OkStatus()));   // interaction.added
  ASSERT_OK(r_.Event(cv1::QUEUED, "c1", "5000"));
  ASSERT_OK(r_.Event(cv1::USER_DATA_CHANGED, "c1", "5000", [](auto& e) { (*e.mutable_user_data())["k"] = "v"; }));
  // Far more attempts than any former limit, with each retryable code.
  const absl::Status later[] = {absl::UnavailableError("no primary"), absl::DeadlineExceededError("slow"),
                                absl::ResourceExhaustedError("busy"),
                                absl::UnavailableError("session ~1~x is being restarted")};
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(r_.sink.AnswerNextSend(later[i % 4]));
    Later(200);
    EXPECT_EQ(r_.Gauge("orch_calls_events_buffered"), 2);
  }
  EXPECT_EQ(link_.acked, 1u);   // none of the waiting events is acknowledged
  ASSERT_OK(r_.Event(cv1::RELEASED, "c1", "5000"));
  EXPECT_EQ(r_.router_.CallCount(), 1u);
  while (r_.sink.AnswerNextSend(absl::OkStatus())) {
  }
  std::vector<std::string> names = Names(r_.sink.sends());
  ASSERT_EQ(names.size(), 1u + 41u + 2u);
  for (size_t i = 1; i <= 41; ++i) EXPECT_EQ(names[i], "interaction.queued") << i;
  EXPECT_EQ(names[42], "interaction.udata.changed");
  EXPECT_EQ(names[43], "interaction.deleted");
  EXPECT_EQ(link_.acked, 4u);
  EXPECT_EQ(r_.router_.CallCount(), 0u);
  EXPECT_EQ(r_.Counter("orch_call_watcher_event_delivery_failures_total", {{"reason", "UNAVAILABLE"}}), 0);
  r_.router_.Tick();
  EXPECT_EQ(r_.Gauge("orch_calls_events_buffered"), 0);
}

TEST_F(CallRouterHaTest, AnEndedCallWhoseNodeStaysDownIsDroppedAfterAMinute) {
  r_.sink.SetAutoAnswer(false);
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c1", "5000"));
  ASSERT_TRUE(r_.sink.AnswerNextStart(absl::OkStatus()));
  ASSERT_OK(r_.Event(cv1::RELEASED, "c1", "5000"));
  int64_t elapsed = 0;
  while (r_.router_.CallCount() == 1 && elapsed < 70000) {
    if (!r_.sink.AnswerNextSend(absl::UnavailableError("no primary"))) break;
    Later(200);
    elapsed += 200;
  }
  EXPECT_EQ(r_.router_.CallCount(), 0u);
  EXPECT_GE(elapsed, 60000);
  EXPECT_LE(elapsed, 60400);
  EXPECT_EQ(link_.acked, 2u);
  EXPECT_EQ(r_.Counter("orch_call_watcher_event_delivery_failures_total", {{"reason", "ended_unreachable"}}), 1);
}

TEST_F(CallRouterHaTest, ASessionGoneGivesAnUnroutedCallItsDefaultRoute) {
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c1", "5000"));
  r_.sink.SetAutoAnswer(false);
  ASSERT_OK(r_.Event(cv1::QUEUED, "c1", "5000"));
  ASSERT_TRUE(r_.sink.AnswerNextSend(absl::NotFoundError("no session ~2~abc")));
  const auto requests = link_.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].type(), cv1::ROUTE);
  EXPECT_EQ(requests[0].target(), "7000");
  EXPECT_EQ(requests[0].reason(), "orphaned");
  EXPECT_EQ(r_.Counter("orch_calls_orphaned_total"), 1);
  EXPECT_EQ(r_.Counter("orch_call_watcher_default_routes_total", {{"reason", "orphaned"}}), 1);
  // Later events are dropped (acknowledged), the end forgets the call.
  const size_t sent = r_.sink.sends().size();
  ASSERT_OK(r_.Event(cv1::USER_DATA_CHANGED, "c1", "5000"));
  ASSERT_OK(r_.Event(cv1::RELEASED, "c1", "5000"));
  EXPECT_EQ(r_.sink.sends().size(), sent);
  EXPECT_EQ(link_.acked, 4u);
  EXPECT_EQ(r_.router_.CallCount(), 0u);

  // A call already routed gets no default route, and is no orphan: its
  // strategy did its work and its session ended (or, restarted from its
  // record, ended on the recorded interaction.deleted).
  r_.sink.SetAutoAnswer(true);
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c2", "5000"));
  ASSERT_OK(r_.Event(cv1::ESTABLISHED, "c2", "7001"));
  r_.sink.SetAutoAnswer(false);
  ASSERT_OK(r_.Event(cv1::USER_DATA_CHANGED, "c2", "7001"));
  ASSERT_TRUE(r_.sink.AnswerNextSend(absl::NotFoundError("no session")));
  EXPECT_EQ(link_.Requests().size(), 1u);
  EXPECT_EQ(r_.Counter("orch_calls_orphaned_total"), 1);
  EXPECT_EQ(r_.Counter("orch_calls_session_ended_total"), 1);
  ASSERT_OK(r_.Event(cv1::RELEASED, "c2", "7001"));
  // c2's added, ESTABLISHED and the user data that found no session; its
  // RELEASED is not sent.
  EXPECT_EQ(r_.sink.sends().size(), sent + 3);
  EXPECT_EQ(r_.router_.CallCount(), 0u);
}

class RestartRecordingTest : public CallRouterHaTest {
 protected:
  RestartRecordingTest() : CallRouterHaTest({.restart_session_on_switchover = true}) {}
};

TEST_F(RestartRecordingTest, EachEventIsRecordedBeforeItIsSentInTheCallsOrder) {
  r_.sink.SetAutoAnswer(false);
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c1", "5000"));
  auto record = store_.GetCall("c1");
  ASSERT_OK(record);
  EXPECT_TRUE(record->restart_on_switchover());
  EXPECT_TRUE(store_.RecordedEvents("c1").empty());   // nothing before the session starts
  ASSERT_TRUE(r_.sink.AnswerNextStart(absl::OkStatus()));
  ASSERT_EQ(store_.RecordedEvents("c1").size(), 1u);
  ASSERT_EQ(r_.sink.sends().size(), 1u);
  ASSERT_OK(r_.Event(cv1::QUEUED, "c1", "5000"));
  EXPECT_EQ(store_.RecordedEvents("c1").size(), 1u);   // behind the event in flight
  ASSERT_TRUE(r_.sink.AnswerNextSend(absl::OkStatus()));
  EXPECT_EQ(store_.RecordedEvents("c1").size(), 2u);
  // A record that fails is retried like a delivery; the send waits for it.
  store_.SetUnavailable(true);
  ASSERT_OK(r_.Event(cv1::USER_DATA_CHANGED, "c1", "5000"));
  ASSERT_TRUE(r_.sink.AnswerNextSend(absl::OkStatus()));   // interaction.queued
  EXPECT_EQ(r_.sink.sends().size(), 2u);
  Later(200);
  Later(200);
  EXPECT_EQ(r_.sink.sends().size(), 2u);
  store_.SetUnavailable(false);
  Later(200);
  ASSERT_EQ(r_.sink.sends().size(), 3u);
  // A retried send is not recorded again.
  ASSERT_TRUE(r_.sink.AnswerNextSend(absl::UnavailableError("no primary")));
  Later(200);
  ASSERT_TRUE(r_.sink.AnswerNextSend(absl::OkStatus()));
  const auto recorded = store_.RecordedEvents("c1");
  const auto sends = r_.sink.sends();
  ASSERT_EQ(recorded.size(), 3u);
  ASSERT_EQ(sends.size(), 4u);
  // The exact events sent, in the order sent.
  EXPECT_TRUE(Same(recorded[0], sends[0].req.event()));
  EXPECT_TRUE(Same(recorded[1], sends[1].req.event()));
  EXPECT_TRUE(Same(recorded[2], sends[2].req.event()));
  EXPECT_TRUE(Same(recorded[2], sends[3].req.event()));
  EXPECT_EQ(recorded[1].effect_id(), "call/sw1/2");
  // The end deletes the record and its events.
  r_.sink.SetAutoAnswer(true);
  ASSERT_OK(r_.Event(cv1::RELEASED, "c1", "5000"));
  EXPECT_EQ(r_.router_.CallCount(), 0u);
  EXPECT_TRUE(store_.RecordedEvents("c1").empty());
}

TEST_F(RestartRecordingTest, OnlySessionsWithoutPersistenceAndTheDnFileDecidesPerDn) {
  r_.cfg_ = *DnConfig::Parse(std::string(router_testing::kDnFile) + R"(
[[dn]]
dn = "6000"
application = "file:/kept.scxml"
persistent = true

[[dn]]
dn = "6001"
application = "file:/plain.scxml"
restart-session-on-switchover = false
)",
                             "dn.toml");
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "persisted", "6000"));
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "not-restarted", "6001"));
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "restarted", "5000"));
  for (const char* uuid : {"persisted", "not-restarted"}) {
    auto record = store_.GetCall(uuid);
    ASSERT_OK(record);
    EXPECT_FALSE(record->restart_on_switchover()) << uuid;
    EXPECT_TRUE(store_.RecordedEvents(uuid).empty()) << uuid;
  }
  EXPECT_EQ(store_.RecordedEvents("restarted").size(), 1u);
  // With the option off, a DN may still ask for it.
  time::SimulatedClock clock;
  FakeCallStore store(&clock);
  Replica r(&clock, &store);
  r.cfg_ = *DnConfig::Parse(std::string(router_testing::kDnFile) +
                                "\n[[dn]]\ndn = \"6002\"\napplication = \"file:/r.scxml\"\n"
                                "restart-session-on-switchover = true\n",
                            "dn.toml");
  FakeLink link;
  r.Link(&link);
  ASSERT_OK(r.Hello(&link));
  ASSERT_OK(r.Event(cv1::ROUTE_REQUEST, "a", "6002"));
  ASSERT_OK(r.Event(cv1::ROUTE_REQUEST, "b", "5000"));
  EXPECT_EQ(store.RecordedEvents("a").size(), 1u);
  EXPECT_TRUE(store.RecordedEvents("b").empty());
}

// SIGHUP's options (call-watcher Reload): calls arriving afterwards get the
// new values, a call keeps what it got when it arrived.
TEST_F(CallRouterHaTest, ReconfiguredOptionsApplyToCallsArrivingAfterwards) {
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "before", "5000"));
  r_.router_.Reconfigure(/*restart_session_on_switchover=*/true, /*call_watching_timeout_ms=*/9000);
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "after", "5000"));
  ASSERT_OK(r_.Event(cv1::USER_DATA_CHANGED, "before", "5000"));
  ASSERT_OK(r_.Event(cv1::USER_DATA_CHANGED, "after", "5000"));
  auto before = store_.GetCall("before");
  auto after = store_.GetCall("after");
  ASSERT_OK(before);
  ASSERT_OK(after);
  EXPECT_FALSE(before->restart_on_switchover());
  EXPECT_TRUE(after->restart_on_switchover());
  EXPECT_TRUE(store_.RecordedEvents("before").empty());
  EXPECT_EQ(store_.RecordedEvents("after").size(), 2u);
}

TEST_F(CallRouterHaTest, ARestartedStrategyRepeatingARouteAndATreatmentSendsNeitherTwice) {
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "c1", "5000"));
  google::protobuf::Struct play;
  (*play.mutable_fields())["type"].set_string_value("music");
  (*play.mutable_fields())["duration"].set_number_value(10);
  google::protobuf::Struct route;
  (*route.mutable_fields())["to"].set_string_value("7001");
  const std::string sid = r_.SessionOf("c1");
  // The first run of the strategy.
  ASSERT_OK(r_.Action("c1", "dialog", "playsound", sid + "/m1", sid + ".req1", play));
  ASSERT_OK(r_.Action("c1", "interaction", "redirect", sid + "/m2", sid + ".req2", route));
  ASSERT_EQ(link_.Requests().size(), 2u);
  const auto names_before = r_.sink.EventNames(sid);
  // The session restarted (same id) replays the call's events and issues the
  // same actions with the same effect ids: answered, not acted on.
  auto again_play = r_.Action("c1", "dialog", "playsound", sid + "/m1", sid + ".req1", play);
  auto again_route = r_.Action("c1", "interaction", "redirect", sid + "/m2", sid + ".req2", route);
  ASSERT_OK(again_play);
  ASSERT_OK(again_route);
  EXPECT_TRUE(again_play->duplicate());
  EXPECT_TRUE(again_route->duplicate());
  const auto requests = link_.Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].type(), cv1::APPLY_TREATMENT);
  EXPECT_EQ(requests[1].type(), cv1::ROUTE);
  EXPECT_EQ(r_.sink.EventNames(sid), names_before);
  // The first run's results still complete once.
  r_.Result(requests[1].request_id(), true);
  r_.Result(requests[1].request_id(), true);
  auto names = r_.sink.EventNames(sid);
  EXPECT_EQ(std::count(names.begin(), names.end(), "interaction.redirect.done"), 1);
  EXPECT_EQ(r_.Counter("orch_call_watcher_actions_total",
                       {{"module", "interaction"}, {"action", "redirect"}, {"outcome", "duplicate"}}),
            1);
}

TEST_F(CallRouterHaTest, AConsultationCallGoesToItsPrimaryCallsNode) {
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "primary", "5000"));
  const int primary_node = r_.sink.starts().back().node;
  std::string consult;
  for (int i = 0; i < 50 && consult.empty(); ++i) {
    const std::string uuid = "consult-" + std::to_string(i);
    if (CallRouter::NodeFor(uuid, {1, 2, 3}) != primary_node) consult = uuid;
  }
  ASSERT_NE(CallRouter::NodeFor(consult, {1, 2, 3}), primary_node);
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, consult, "5000", [](auto& e) { e.set_parent_call_uuid("primary"); }));
  EXPECT_EQ(r_.sink.starts().back().node, primary_node);
  auto record = store_.GetCall(consult);
  ASSERT_OK(record);
  EXPECT_EQ(record->assigned_node(), primary_node);
  EXPECT_NE(record->reserved_node(), primary_node);
  // A parent this replica does not know: the hash decides.
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "orphan-consult", "5000",
                     [](auto& e) { e.set_parent_call_uuid("unknown-primary"); }));
  EXPECT_EQ(r_.sink.starts().back().node, CallRouter::NodeFor("orphan-consult", {1, 2, 3}));
}

class NoSameNodeTest : public CallRouterHaTest {
 protected:
  NoSameNodeTest() : CallRouterHaTest({.same_node_for_cons_prim_calls = false}) {}
};

TEST_F(NoSameNodeTest, AConsultationCallIsHashedLikeAnyOther) {
  ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, "primary", "5000"));
  for (int i = 0; i < 10; ++i) {
    const std::string uuid = "consult-" + std::to_string(i);
    ASSERT_OK(r_.Event(cv1::ROUTE_REQUEST, uuid, "5000", [](auto& e) { e.set_parent_call_uuid("primary"); }));
    EXPECT_EQ(r_.sink.starts().back().node, CallRouter::NodeFor(uuid, {1, 2, 3}));
  }
}

}  // namespace
}  // namespace orch::call_watcher
