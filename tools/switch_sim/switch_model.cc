#include "tools/switch_sim/switch_model.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace orch::switch_sim {

using calls::v1::InteractionEvent;
using calls::v1::RequestResult;
using calls::v1::SwitchRequest;
using calls::v1::TargetEvent;
using calls::v1::TargetState;

namespace {

RequestResult Ok(const std::string& id, std::string description = "") {
  RequestResult r;
  r.set_request_id(id);
  r.set_ok(true);
  r.set_description(std::move(description));
  return r;
}

RequestResult Error(const std::string& id, std::string code, std::string description) {
  RequestResult r;
  r.set_request_id(id);
  r.set_ok(false);
  r.set_error(std::move(code));
  r.set_description(std::move(description));
  return r;
}

void AddParty(InteractionEvent* e, const std::string& dn, const char* role, const char* state) {
  calls::v1::Party* p = e->add_parties();
  p->set_dn(dn);
  p->set_role(role);
  p->set_state(state);
}

}  // namespace

const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kRouted: return "routed";
    case Outcome::kAbandoned: return "abandoned";
    case Outcome::kDefaultRouted: return "default-routed";
    case Outcome::kReleasedByStrategy: return "released-by-strategy";
    case Outcome::kUnfinished: return "unfinished";
  }
  return "unfinished";
}

SwitchModel::SwitchModel(SwitchConfig config, time::Clock* clock)
    : config_(std::move(config)), clock_(clock), start_ms_(clock->MonotonicMs()), rng_(config_.seed) {
  for (const std::string& dn : config_.agent_dns) agents_[dn] = Agent{};
  overflow_.insert(config_.overflow_dns.begin(), config_.overflow_dns.end());
  ScheduleNextArrival(/*first=*/true);
}

void SwitchModel::SetTimer(int64_t due_ms, TimerKind kind, int64_t call, std::string key, uint64_t generation) {
  timers_.push(Timer{due_ms, timer_order_++, kind, call, std::move(key), generation});
}

void SwitchModel::ScheduleNextArrival(bool first) {
  const double gap = 1000.0 / config_.rate;
  if (config_.arrival == Arrival::kPoisson) {
    next_arrival_ms_ += std::exponential_distribution<double>(1.0 / gap)(rng_);
  } else if (!first) {
    next_arrival_ms_ += gap;
  }
  const bool count_reached = config_.calls > 0 && static_cast<int64_t>(calls_.size()) >= config_.calls;
  const bool time_up = config_.duration_ms > 0 && next_arrival_ms_ >= static_cast<double>(config_.duration_ms);
  if (count_reached || time_up) {
    arrivals_done_ = true;
    return;
  }
  SetTimer(start_ms_ + static_cast<int64_t>(next_arrival_ms_), TimerKind::kArrival, -1);
}

void SwitchModel::Advance() {
  const int64_t now = clock_->MonotonicMs();
  while (!timers_.empty() && timers_.top().due_ms <= now) {
    Timer t = timers_.top();
    timers_.pop();
    Fire(t);
  }
}

std::optional<int64_t> SwitchModel::NextDueMs() const {
  if (timers_.empty()) return std::nullopt;
  return timers_.top().due_ms;
}

void SwitchModel::Fire(const Timer& t) {
  switch (t.kind) {
    case TimerKind::kArrival:
      Arrive(t.due_ms);
      ScheduleNextArrival(/*first=*/false);
      return;
    case TimerKind::kTreatmentEnd: {
      Call& call = calls_[t.call];
      if (call.state == CallState::kReleased || !call.treatments.contains(t.key)) return;
      EndTreatment(call, t.key, /*done=*/true, "");
      return;
    }
    case TimerKind::kAbandon:
      if (calls_[t.call].state == CallState::kRouting) Release(t.call, "abandoned", Outcome::kAbandoned);
      return;
    case TimerKind::kHangUp: {
      Call& call = calls_[t.call];
      if (call.state != CallState::kAtTarget || call.hang_up_generation != t.generation)
        return;
      Release(t.call, "normal", overflow_.contains(call.at) ? Outcome::kDefaultRouted : Outcome::kRouted);
      return;
    }
    case TimerKind::kWrapUpEnd: {
      auto it = agents_.find(t.key);
      if (it != agents_.end() && it->second.state == AgentState::kWrapUp) SetAgent(t.key, AgentState::kReady, "");
      return;
    }
  }
}

void SwitchModel::Arrive(int64_t due_ms) {
  const int64_t n = static_cast<int64_t>(calls_.size()) + 1;
  const int64_t now = clock_->MonotonicMs();
  Call call;
  call.record.call_uuid = absl::StrCat(config_.run_id, "-", n);
  call.record.arrived_ms = SinceStart(due_ms);   // the schedule's time, not the driver's lateness
  call.link = static_cast<int>((n - 1) % config_.links);
  call.connection_id = absl::StrFormat("%016x", (config_.seed << 32) ^ static_cast<uint64_t>(n));
  call.ani = absl::StrFormat("+1555%07d", n % 10000000);
  call.routing_point = config_.routing_points[(n - 1) % config_.routing_points.size()];
  call.at = call.routing_point;
  call.route_request_at = now;
  call.user_data["sim.call"] = absl::StrCat(n);
  // Drawn at arrival, in arrival order, so one seed gives one run whatever
  // the strategy does.
  if (config_.hold_max_ms > 0) {
    call.hold_ms = std::max<int64_t>(
        1, std::uniform_int_distribution<int64_t>(config_.hold_min_ms, config_.hold_max_ms)(rng_));
  } else {
    const double jitter = std::uniform_real_distribution<double>(0.8, 1.2)(rng_);
    call.hold_ms = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(config_.hold_ms) * jitter));
  }
  int64_t patience = 0;
  if (config_.patience_ms > 0) {
    patience = config_.patience == Patience::kExponential
                   ? std::max<int64_t>(1, static_cast<int64_t>(std::exponential_distribution<double>(
                                              1.0 / static_cast<double>(config_.patience_ms))(rng_)))
                   : config_.patience_ms;
  }
  calls_.push_back(std::move(call));
  const int64_t index = n - 1;
  call_index_[calls_[index].record.call_uuid] = index;
  ++open_calls_;
  ++counts_.calls;
  if (patience > 0) SetTimer(now + patience, TimerKind::kAbandon, index);

  Call& c = calls_[index];
  InteractionEvent e = NewEvent(c, calls::v1::ROUTE_REQUEST);
  AddParty(&e, c.ani, "origination", "established");
  AddParty(&e, c.routing_point, "routing-point", "queued");
  Emit(c, std::move(e));
}

InteractionEvent SwitchModel::NewEvent(const Call& call, calls::v1::InteractionEventType type) const {
  InteractionEvent e;
  e.set_type(type);
  e.set_call_uuid(call.record.call_uuid);
  e.set_connection_id(call.connection_id);
  e.set_media_type("voice");
  e.set_ani(call.ani);
  e.set_dnis(call.routing_point);
  e.set_this_dn(call.at);
  for (const auto& [k, v] : call.user_data) (*e.mutable_user_data())[k] = v;
  e.set_time_unix_ms(clock_->NowMs());
  return e;
}

void SwitchModel::Emit(Call& call, InteractionEvent e) {
  ++call.record.events_sent;
  Emitted out;
  out.link = call.link;
  out.interaction = std::move(e);
  emitted_.push_back(std::move(out));
}

std::vector<Emitted> SwitchModel::TakeEmitted() { return std::exchange(emitted_, {}); }

TargetState SwitchModel::ToTargetState(AgentState s) {
  switch (s) {
    case AgentState::kReady: return calls::v1::READY;
    case AgentState::kBusy: return calls::v1::BUSY;
    case AgentState::kWrapUp: return calls::v1::NOT_READY;
  }
  return calls::v1::TARGET_STATE_UNSPECIFIED;
}

void SwitchModel::SetAgent(const std::string& dn, AgentState state, const std::string& call_uuid) {
  Agent& a = agents_[dn];
  a.state = state;
  a.call_uuid = call_uuid;
  Emitted out;
  TargetEvent& t = out.target.emplace();
  t.set_target(dn);
  t.set_state(ToTargetState(state));
  t.set_call_uuid(call_uuid);
  t.set_time_unix_ms(clock_->NowMs());
  emitted_.push_back(std::move(out));
}

std::vector<TargetEvent> SwitchModel::TargetStates() const {
  std::vector<TargetEvent> out;
  for (const auto& [dn, a] : agents_) {
    TargetEvent& t = out.emplace_back();
    t.set_target(dn);
    t.set_state(ToTargetState(a.state));
    t.set_call_uuid(a.call_uuid);
    t.set_time_unix_ms(clock_->NowMs());
  }
  return out;
}

RequestResult SwitchModel::Handle(const SwitchRequest& request) {
  if (request.request_id().empty()) return Error("", "failed", "request without a request_id");
  auto it = answered_.find(request.request_id());
  if (it != answered_.end()) {
    ++counts_.duplicate_requests;
    return it->second;
  }
  ++counts_.requests;
  RequestResult r = Act(request);
  answered_.emplace(request.request_id(), r);
  return r;
}

RequestResult SwitchModel::Act(const SwitchRequest& req) {
  const std::string& id = req.request_id();
  auto found = call_index_.find(req.call_uuid());
  if (found == call_index_.end() || calls_[found->second].state == CallState::kReleased) {
    return Error(id, "no-such-call", absl::StrCat("no call '", req.call_uuid(), "' on this switch"));
  }
  const int64_t index = found->second;
  Call& call = calls_[index];
  const int64_t now = SinceStart(clock_->MonotonicMs());
  // Whatever this request is, the strategy acted after every treatment that
  // has ended: their results reached it.
  for (TreatmentRecord& t : call.record.treatment_log) {
    if (t.ended_ms >= 0) t.followed = true;
  }
  switch (req.type()) {
    case calls::v1::ROUTE:
    case calls::v1::REDIRECT: {
      RouteRecord route{.request_id = id, .at_ms = now, .target = req.target(),
                        .already_routed = call.state == CallState::kAtTarget};
      RequestResult r = MoveTo(index, req.target(), overflow_.contains(req.target()), req.user_data());
      r.set_request_id(id);
      route.result = r.ok() ? "ok" : r.error();
      call.record.route_log.push_back(std::move(route));
      return r;
    }
    case calls::v1::APPLY_TREATMENT: {
      if (call.state != CallState::kRouting) {
        return Error(id, "not-allowed", absl::StrCat("call '", req.call_uuid(), "' is at ", call.at,
                                                     ", not on a routing point"));
      }
      const calls::v1::Treatment& t = req.treatment();
      const int64_t length = t.duration_ms() > 0 ? t.duration_ms() : config_.treatment_ms;
      call.treatments[id] = t;
      ++call.record.treatments;
      call.record.treatment_log.push_back(TreatmentRecord{.request_id = id, .started_ms = now});
      InteractionEvent e = NewEvent(call, calls::v1::TREATMENT_STARTED);
      e.set_request_id(id);
      Emit(call, std::move(e));
      SetTimer(clock_->MonotonicMs() + length, TimerKind::kTreatmentEnd, index, id);
      return Ok(id);
    }
    case calls::v1::CANCEL_TREATMENT: {
      if (!call.treatments.contains(req.cancel_request_id())) {
        return Ok(id, absl::StrCat("treatment '", req.cancel_request_id(), "' is not playing"));
      }
      EndTreatment(call, req.cancel_request_id(), /*done=*/false, "cancelled");
      return Ok(id);
    }
    case calls::v1::ATTACH_USER_DATA: {
      AttachRecord& attach = call.record.attach_log.emplace_back();
      attach.request_id = id;
      attach.at_ms = now;
      for (const auto& [k, v] : req.user_data()) {
        call.user_data[k] = v;
        attach.user_data[k] = v;
      }
      Emit(call, NewEvent(call, calls::v1::USER_DATA_CHANGED));
      return Ok(id);
    }
    case calls::v1::RELEASE:
      Release(index, "normal", Outcome::kReleasedByStrategy);
      return Ok(id);
    default:
      return Error(id, "not-allowed", absl::StrCat("request type ", static_cast<int>(req.type()),
                                                   " is not supported by the simulator"));
  }
}

RequestResult SwitchModel::MoveTo(int64_t index, const std::string& target, bool overflow,
                                  const google::protobuf::Map<std::string, std::string>& user_data) {
  Call& call = calls_[index];
  auto agent = agents_.find(target);
  if (agent == agents_.end() && !overflow) {
    return Error("", "invalid-target", absl::StrCat("'", target, "' is neither an agent nor an overflow DN"));
  }
  if (call.state == CallState::kAtTarget && call.at == target) {
    return Ok("", absl::StrCat("already at ", target));
  }
  if (agent != agents_.end()) {
    if (agent->second.state == AgentState::kBusy) {
      ++counts_.double_routes;
      return Error("", "busy", absl::StrCat("agent ", target, " is on call ", agent->second.call_uuid));
    }
    if (agent->second.state == AgentState::kWrapUp) {
      ++counts_.not_ready_routes;
      return Error("", "busy", absl::StrCat("agent ", target, " is in wrap-up"));
    }
  }
  const int64_t now = clock_->MonotonicMs();
  // Data attached with the route is on the call when it lands.
  if (!user_data.empty()) {
    for (const auto& [k, v] : user_data) call.user_data[k] = v;
    Emit(call, NewEvent(call, calls::v1::USER_DATA_CHANGED));
  }
  // Routing a call stops what it was hearing; the session learns it from the
  // treatment's end (its dialog action must complete).
  while (!call.treatments.empty()) EndTreatment(call, call.treatments.begin()->first, false, "routed");
  if (call.state == CallState::kAtTarget) {
    call.record.hold_ms += now - call.at_target_since;
    LeaveTarget(call);
  }
  if (call.record.route_ms < 0) call.record.route_ms = now - call.route_request_at;
  call.state = CallState::kAtTarget;
  call.at = target;
  call.at_target_since = now;
  call.record.routed_to = target;
  // BUSY goes out before the call lands, so no watcher sees the call
  // established at an agent it still believes READY.
  if (agent != agents_.end()) SetAgent(target, AgentState::kBusy, call.record.call_uuid);
  const char* role = agent != agents_.end() ? "agent" : "queue";
  InteractionEvent established = NewEvent(call, calls::v1::ESTABLISHED);
  AddParty(&established, call.ani, "origination", "established");
  AddParty(&established, target, role, "established");
  InteractionEvent changed = established;
  changed.set_type(calls::v1::PARTY_CHANGED);
  Emit(call, std::move(established));
  Emit(call, std::move(changed));
  ++call.hang_up_generation;
  SetTimer(now + call.hold_ms, TimerKind::kHangUp, index, "", call.hang_up_generation);
  return Ok("");
}

void SwitchModel::LeaveTarget(Call& call) {
  auto agent = agents_.find(call.at);
  if (agent == agents_.end() || agent->second.call_uuid != call.record.call_uuid) return;
  if (config_.wrapup_ms > 0) {
    SetAgent(call.at, AgentState::kWrapUp, "");
    SetTimer(clock_->MonotonicMs() + config_.wrapup_ms, TimerKind::kWrapUpEnd, -1, call.at);
  } else {
    SetAgent(call.at, AgentState::kReady, "");
  }
}

void SwitchModel::EndTreatment(Call& call, const std::string& request_id, bool done, const std::string& cause) {
  const calls::v1::Treatment t = call.treatments[request_id];
  call.treatments.erase(request_id);
  if (TreatmentRecord* record = FindTreatment(call, request_id); record != nullptr) {
    record->ended_ms = SinceStart(clock_->MonotonicMs());
    record->end = done ? "done" : cause;
  }
  InteractionEvent e = NewEvent(call, done ? calls::v1::TREATMENT_DONE : calls::v1::TREATMENT_FAILED);
  e.set_request_id(request_id);
  if (done && t.type() == calls::v1::PLAY_AND_COLLECT) {
    std::string digits = config_.digits;
    if (t.max_digits() > 0 && digits.size() > t.max_digits()) digits.resize(t.max_digits());
    e.set_digits(digits);
    call.record.digits = digits;
  }
  if (!done) e.set_cause(cause);
  Emit(call, std::move(e));
}

void SwitchModel::Release(int64_t index, const std::string& cause, Outcome outcome) {
  Call& call = calls_[index];
  const int64_t now = clock_->MonotonicMs();
  // A caller who hangs up ends what they were hearing with the call: after
  // RELEASED no event of the call follows.
  call.treatments.clear();
  const bool at_target = call.state == CallState::kAtTarget;
  if (at_target) {
    call.record.hold_ms += now - call.at_target_since;
    LeaveTarget(call);
  }
  InteractionEvent e = NewEvent(call, calls::v1::RELEASED);
  e.set_cause(cause);
  AddParty(&e, call.ani, "origination", "released");
  AddParty(&e, call.at, at_target ? (agents_.contains(call.at) ? "agent" : "queue") : "routing-point", "released");
  call.state = CallState::kReleased;
  call.record.outcome = outcome;
  call.record.ended_ms = SinceStart(now);
  --open_calls_;
  switch (outcome) {
    case Outcome::kRouted: ++counts_.routed; break;
    case Outcome::kAbandoned: ++counts_.abandoned; break;
    case Outcome::kDefaultRouted: ++counts_.default_routed; break;
    case Outcome::kReleasedByStrategy: ++counts_.released_by_strategy; break;
    case Outcome::kUnfinished: break;
  }
  Emit(call, std::move(e));
}

TreatmentRecord* SwitchModel::FindTreatment(Call& call, const std::string& request_id) {
  for (TreatmentRecord& t : call.record.treatment_log) {
    if (t.request_id == request_id) return &t;
  }
  return nullptr;
}

void SwitchModel::Acknowledged(const InteractionEvent& event, bool rejected) {
  auto found = call_index_.find(event.call_uuid());
  if (found == call_index_.end()) return;
  Call& call = calls_[found->second];
  ++call.record.events_acked;
  if (rejected) ++call.record.events_rejected;
  if (event.type() == calls::v1::TREATMENT_DONE || event.type() == calls::v1::TREATMENT_FAILED) {
    if (TreatmentRecord* t = FindTreatment(call, event.request_id()); t != nullptr) t->end_acked = true;
  }
}

bool SwitchModel::ArrivalsDone() const { return arrivals_done_; }

bool SwitchModel::Finished() const { return arrivals_done_ && open_calls_ == 0; }

std::vector<CallRecord> SwitchModel::Records() const {
  std::vector<CallRecord> out;
  out.reserve(calls_.size());
  for (const Call& c : calls_) out.push_back(c.record);
  return out;
}

ModelCounts SwitchModel::Counts() const {
  ModelCounts c = counts_;
  c.unfinished = open_calls_;
  return c;
}

}  // namespace orch::switch_sim
