#pragma once

// Test-only: one CallRouter replica with fakes (FakeSessionSink,
// FakeNodeLiveness, a FakeCallStore given by the test), a scripted adapter
// link, and the DN file the router tests share. Everything runs on the
// test's thread (the blocking runner runs inline).

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/sessionapi/session_id.h"
#include "common/testing/status_matchers.h"
#include "common/time/simulated_clock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "services/call_watcher/call_router.h"
#include "services/call_watcher/fake_call_store.h"

namespace orch::call_watcher::router_testing {

inline constexpr char kDnFile[] = R"(
default-route = "7999"

[groups]
sales = ["a1", "a2"]

[[dn]]
dn = "5000"
application = "file:/app.scxml?ani=[ANI] file:/alt.scxml"
default-route = "7000"
[dn.parameters]
greeting = "hello"

[[dn]]
dn = "5001"
application = "file:/broken.scxml file:/broken-too.scxml"
)";

class FakeLink final : public LinkChannel {
 public:
  void Send(cv1::WatcherMessage m) override { msgs.push_back(std::move(m)); }
  void SendAck(uint64_t seq) override { acked = std::max(acked, seq); }
  void Close(absl::Status s) override { closed = s; }

  std::vector<cv1::SwitchRequest> Requests() const {
    std::vector<cv1::SwitchRequest> out;
    for (const auto& m : msgs) {
      if (m.has_request()) out.push_back(m.request());
    }
    return out;
  }
  std::vector<cv1::Rejected> Rejections() const {
    std::vector<cv1::Rejected> out;
    for (const auto& m : msgs) {
      if (m.has_rejected()) out.push_back(m.rejected());
    }
    return out;
  }

  std::vector<cv1::WatcherMessage> msgs;
  uint64_t acked = 0;
  absl::Status closed;
};

inline std::string Field(const event::v1::Event& e, const std::string& name) {
  auto it = e.data().struct_value().fields().find(name);
  return it == e.data().struct_value().fields().end() ? "<absent>" : it->second.string_value();
}

// One replica with fakes; everything runs on the test's thread.
class Replica {
 public:
  explicit Replica(time::SimulatedClock* clock, FakeCallStore* store, std::string watcher = "cw-a:7104",
                   CallRouterOptions options = {})
      : metrics(&registry, "orch_call_watcher"),
        cfg_(*DnConfig::Parse(kDnFile, "dn.toml")),
        router_(
            [&] {
              options.watcher = watcher;
              if (options.nodes == std::vector<int>{1}) options.nodes = {1, 2, 3};
              options.default_route_timeout_ms = 10000;
              options.reservation_ttl_ms = 5000;
              return options;
            }(),
            [this] { return cfg_; }, &sink, store, &liveness, [](std::function<void()> f) { f(); }, clock,
            &metrics) {}

  // The value of a counter or a gauge (0 when it has no such series).
  double Counter(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    return Sample(name, labels).counter.value;
  }
  double Gauge(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    return Sample(name, labels).gauge.value;
  }
  prometheus::ClientMetric Sample(const std::string& name, const std::map<std::string, std::string>& labels) {
    for (const auto& family : registry.Collect()) {
      if (family.name != name) continue;
      for (const auto& m : family.metric) {
        std::map<std::string, std::string> have;
        for (const auto& l : m.label) have[l.name] = l.value;
        if (have == labels) return m;
      }
    }
    return {};
  }

  absl::Status Hello(FakeLink* l, const std::string& adapter = "sw1") {
    cv1::Hello h;
    h.set_adapter_id(adapter);
    h.set_switch_name("sim");
    h.set_tenant("acme");
    return router_.Attach(h, l);
  }

  absl::Status Event(cv1::InteractionEventType type, const std::string& call, const std::string& dn,
                     std::function<void(cv1::InteractionEvent&)> more = nullptr) {
    cv1::AdapterMessage m;
    cv1::InteractionEvent& e = *m.mutable_interaction();
    e.set_seq(++seq_);
    e.set_type(type);
    e.set_call_uuid(call);
    e.set_this_dn(dn);
    e.set_ani("+15550100");
    e.set_dnis("8005550199");
    e.set_connection_id("conn-" + call);
    if (more) more(e);
    return router_.OnMessage("sw1", link_, m);
  }

  absl::Status Target(const std::string& target, cv1::TargetState state, int64_t at = 0, const std::string& call = "") {
    cv1::AdapterMessage m;
    cv1::TargetEvent& e = *m.mutable_target();
    e.set_seq(++seq_);
    e.set_target(target);
    e.set_state(state);
    e.set_time_unix_ms(at);
    e.set_call_uuid(call);
    return router_.OnMessage("sw1", link_, m);
  }

  void Result(const std::string& request_id, bool ok, const std::string& error = "") {
    cv1::AdapterMessage m;
    m.mutable_result()->set_request_id(request_id);
    m.mutable_result()->set_ok(ok);
    m.mutable_result()->set_error(error);
    ASSERT_OK(router_.OnMessage("sw1", link_, m));
  }

  absl::StatusOr<cv1::SubmitActionResponse> Action(const std::string& call, const std::string& module,
                                                   const std::string& action, const std::string& effect,
                                                   const std::string& request_id, google::protobuf::Struct params = {}) {
    cv1::SubmitActionRequest r;
    r.set_session_id(SessionOf(call));
    r.set_effect_id(effect);
    r.set_request_id(request_id);
    r.set_module(module);
    r.set_action(action);
    r.set_interaction_id(call);
    *r.mutable_params() = std::move(params);
    return router_.SubmitAction(r);
  }

  std::string SessionOf(const std::string& call) {
    return sessionapi::SessionIdForKey(CallRouter::NodeFor(call, {1, 2, 3}), "call:" + call);
  }

  void Link(FakeLink* l) { link_ = l; }
  uint64_t seq() const { return seq_; }
  void SetSeq(uint64_t s) { seq_ = s; }

  FakeSessionSink sink;
  FakeNodeLiveness liveness;
  prometheus::Registry registry;
  CallMetrics metrics;
  std::shared_ptr<const DnConfig> cfg_;
  CallRouter router_;

 private:
  FakeLink* link_ = nullptr;
  uint64_t seq_ = 0;
};

}  // namespace orch::call_watcher::router_testing
