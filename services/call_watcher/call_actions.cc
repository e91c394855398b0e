#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log/log.h"
#include "services/call_watcher/call_router.h"
#include "services/call_watcher/call_router_state.h"

namespace orch::call_watcher {

namespace {

// A parameter as a string: strings as they are, numbers without a needless
// fraction, booleans as true/false.
std::string AsString(const Value& v) {
  switch (v.kind_case()) {
    case Value::kStringValue: return v.string_value();
    case Value::kNumberValue: {
      double d = v.number_value();
      if (d == static_cast<double>(static_cast<int64_t>(d))) return absl::StrCat(static_cast<int64_t>(d));
      return absl::StrCat(d);
    }
    case Value::kBoolValue: return v.bool_value() ? "true" : "false";
    default: return "";
  }
}

const Value* Param(const Struct& s, const std::string& name) {
  auto it = s.fields().find(name);
  return it == s.fields().end() ? nullptr : &it->second;
}

double Number(const Struct& s, const std::string& name, double def) {
  const Value* v = Param(s, name);
  if (v == nullptr) return def;
  if (v->kind_case() == Value::kNumberValue) return v->number_value();
  double d;
  if (v->kind_case() == Value::kStringValue && absl::SimpleAtod(v->string_value(), &d)) return d;
  return def;
}

bool Bool(const Struct& s, const std::string& name) {
  const Value* v = Param(s, name);
  if (v == nullptr) return false;
  if (v->kind_case() == Value::kBoolValue) return v->bool_value();
  return v->kind_case() == Value::kStringValue && v->string_value() == "true";
}

// The objects of `params.<outer>[*].<inner>[*]` (the module's child
// elements, calls-contract.md §3); also `params.<inner>[*]`.
std::vector<const Struct*> Children(const Struct& params, const std::string& outer, const std::string& inner) {
  std::vector<const Struct*> out;
  auto collect = [&](const Value* list) {
    if (list == nullptr || list->kind_case() != Value::kListValue) return;
    for (const Value& item : list->list_value().values()) {
      if (item.kind_case() == Value::kStructValue) out.push_back(&item.struct_value());
    }
  };
  if (const Value* o = Param(params, outer); o != nullptr && o->kind_case() == Value::kListValue) {
    for (const Value& group : o->list_value().values()) {
      if (group.kind_case() == Value::kStructValue) collect(Param(group.struct_value(), inner));
    }
  }
  collect(Param(params, inner));
  return out;
}

// `to` of a redirect: a DN, or the `resource` object of queue.submit.done.
std::string TargetOf(const Value* to) {
  if (to == nullptr) return "";
  if (to->kind_case() == Value::kStructValue) {
    for (const char* k : {"target", "id"}) {
      if (const Value* v = Param(to->struct_value(), k); v != nullptr && !AsString(*v).empty()) return AsString(*v);
    }
    return "";
  }
  return AsString(*to);
}

}  // namespace

// --------------------------------------------------------------- requests

std::string CallRouter::SendRequest(Call& c, cv1::SwitchRequest req, Pending p) {
  const std::string id = absl::StrCat("cw-", instance_, "-", ++next_request_);
  req.set_request_id(id);
  req.set_call_uuid(c.uuid);
  p.call_uuid = c.uuid;
  p.req = req;
  if (req.type() == cv1::ROUTE || req.type() == cv1::REDIRECT) ++c.routes_in_flight;
  Adapter& a = *adapters_[c.adapter_id];
  a.pending[id] = std::move(p);
  if (a.link != nullptr) {
    cv1::WatcherMessage m;
    *m.mutable_request() = std::move(req);
    a.link->Send(std::move(m));
  }
  return id;
}

void CallRouter::DefaultRoute(Call& c, absl::string_view reason, Effects& fx) {
  if (c.default_routed) return;
  c.default_routed = true;
  c.default_route_due_ms = 0;
  if (c.default_route.empty()) {
    if (metrics_) metrics_->DefaultRoute("none_configured");
    log::Error("the call needs its default route but its DN has none (dn default-route, or the file's)",
               {{"call", c.uuid}, {"dn", c.route_dn}, {"reason", std::string(reason)}});
    return;
  }
  if (metrics_) metrics_->DefaultRoute(reason);
  log::Warn("default route", {{"call", c.uuid}, {"dn", c.route_dn}, {"target", c.default_route}, {"reason", std::string(reason)}});
  cv1::SwitchRequest req;
  req.set_type(cv1::ROUTE);
  req.set_target(c.default_route);
  req.set_reason(std::string(reason));
  SendRequest(c, std::move(req), Pending{.kind = Pending::kDefaultRoute});
}

void CallRouter::OnResult(Adapter& a, const cv1::RequestResult& r, Effects& fx) {
  auto it = a.pending.find(r.request_id());
  if (it == a.pending.end()) {
    log::Debug("result of an unknown or answered request", {{"adapter", a.id}, {"request", r.request_id()}});
    return;
  }
  Pending p = std::move(it->second);
  a.pending.erase(it);
  Call* c = FindCall(p.call_uuid);
  if (c == nullptr) return;
  const bool routing = p.req.type() == cv1::ROUTE || p.req.type() == cv1::REDIRECT;
  if (routing) --c->routes_in_flight;
  if (r.ok() && routing) {
    c->routed_to = p.req.target();
    c->state = "routed";
    c->default_route_due_ms = 0;
    if (metrics_ && c->route_requested_ms != 0) {
      metrics_->RouteLatency((clock_->MonotonicMs() - c->route_requested_ms) / 1000.0);
      c->route_requested_ms = 0;
    }
  }
  if (p.kind == Pending::kDefaultRoute) {
    if (!r.ok()) {
      if (metrics_) metrics_->DefaultRoute("failed");
      log::Error("default route refused by the switch",
                 {{"call", c->uuid}, {"target", p.req.target()}, {"error", r.error()}, {"description", r.description()}});
    }
    return;
  }
  auto act = c->actions.find(p.action);
  if (act == c->actions.end()) return;
  Action& action = act->second;
  if (p.kind == Pending::kQueueRoute) {
    if (r.ok()) {
      const std::string& t = p.req.target();
      ActionDone(*c, action,
                 Fields({{"targetselected", Str(t)}, {"vqselected", Str(action.waiting.queue)},
                         {"resource", [&] {
                            Value v;
                            v.mutable_struct_value()->CopyFrom(
                                Fields({{"target", Str(t)}, {"type", Str("agent")}, {"id", Str(t)}}));
                            return v;
                          }()}}),
                 fx);
    } else if (r.error() == "busy" && !c->released) {
      // The agent took another call meanwhile: wait for the next one.
      ReleaseReservation(*c, fx);
      log::Info("selected target busy: the call waits again", {{"call", c->uuid}, {"target", p.req.target()}});
      Waiting w = action.waiting;
      w.reserving = false;
      waiting_.Add(std::move(w));
      Assign(fx);
    } else {
      ReleaseReservation(*c, fx);
      ActionError(*c, action, r.error().empty() ? "failed" : r.error(), r.description(), fx);
    }
    return;
  }
  const bool treatment = action.module == "dialog" && p.req.type() == cv1::APPLY_TREATMENT;
  if (!r.ok()) {
    ActionError(*c, action, r.error().empty() ? "failed" : r.error(), r.description(), fx);
  } else if (treatment) {
    c->treatments[r.request_id()] = action.effect_id;   // done when TREATMENT_DONE/FAILED comes
  } else {
    ActionDone(*c, action, {}, fx);
  }
}

// ---------------------------------------------------------------- actions

absl::StatusOr<cv1::SubmitActionResponse> CallRouter::SubmitAction(const cv1::SubmitActionRequest& req) {
  if (req.effect_id().empty() || req.request_id().empty() || req.interaction_id().empty() || req.action().empty()) {
    return absl::InvalidArgumentError("SubmitAction needs effect_id, request_id, interaction_id and action");
  }
  if (req.module() != "interaction" && req.module() != "dialog" && req.module() != "queue") {
    return absl::InvalidArgumentError(
        absl::StrCat("SubmitAction.module '", req.module(), "' is not one of interaction, dialog, queue"));
  }
  Effects fx;
  cv1::SubmitActionResponse resp;
  {
    absl::MutexLock l(&mu_);
    Call* c = FindCall(req.interaction_id());
    if (c == nullptr || c->released) {
      if (metrics_) metrics_->Action(req.module(), req.action(), "unknown_interaction");
      return absl::NotFoundError(
          absl::StrCat("interaction ", req.interaction_id(), " is not a live call of this call-watcher"));
    }
    auto [it, inserted] = c->actions.try_emplace(req.effect_id());
    if (!inserted) {
      if (metrics_) metrics_->Action(req.module(), req.action(), "duplicate");
      resp.set_duplicate(true);
      return resp;
    }
    Action& act = it->second;
    act.effect_id = req.effect_id();
    act.request_id = req.request_id();
    act.module = req.module();
    act.action = req.action();
    act.params = req.params();
    if (metrics_) metrics_->Action(req.module(), req.action(), "accepted");
    RunAction(*c, act, fx);
  }
  RunEffects(fx);
  return resp;
}

void CallRouter::RunAction(Call& c, Action& act, Effects& fx) {
  const Struct& p = act.params;
  const std::string& m = act.module;
  const std::string& a = act.action;
  Pending pending{.kind = Pending::kAction, .action = act.effect_id};
  if (m == "interaction" && (a == "redirect" || a == "route")) {
    const std::string to = TargetOf(Param(p, "to"));
    if (to.empty()) return ActionError(c, act, "invalid-target", "'to' names no target (a DN or a resource)", fx);
    cv1::SwitchRequest req;
    const bool on_routing_point = c.routed_to.empty() && (c.state == "routing" || c.state == "queued");
    req.set_type(on_routing_point ? cv1::ROUTE : cv1::REDIRECT);
    req.set_target(to);
    SendRequest(c, std::move(req), std::move(pending));
  } else if (m == "interaction" && a == "attach") {
    cv1::SwitchRequest req;
    req.set_type(cv1::ATTACH_USER_DATA);
    if (const Value* u = Param(p, "udata"); u != nullptr && u->kind_case() == Value::kStructValue) {
      for (const auto& [k, v] : u->struct_value().fields()) (*req.mutable_user_data())[k] = AsString(v);
    }
    SendRequest(c, std::move(req), std::move(pending));
  } else if (m == "interaction" && a == "terminate") {
    cv1::SwitchRequest req;
    req.set_type(cv1::RELEASE);
    if (const Value* r = Param(p, "reason")) req.set_reason(AsString(*r));
    SendRequest(c, std::move(req), std::move(pending));
  } else if (m == "interaction" && (a == "detach" || a == "accept")) {
    ActionDone(c, act, {}, fx);   // nothing to ask the switch: the session just stops/starts owning it
  } else if (m == "dialog" && (a == "playsound" || a == "play" || a == "playandcollect")) {
    cv1::SwitchRequest req;
    req.set_type(cv1::APPLY_TREATMENT);
    cv1::Treatment* t = req.mutable_treatment();
    if (a == "playsound") {
      const Value* type = Param(p, "type");
      t->set_type(type != nullptr && AsString(*type) == "ringback" ? cv1::RINGBACK : cv1::MUSIC);
      t->set_duration_ms(static_cast<uint32_t>(std::max(0.0, Number(p, "duration", 0)) * 1000));
    } else {
      t->set_type(a == "play" ? cv1::PLAY_ANNOUNCEMENT : cv1::PLAY_AND_COLLECT);
      for (const Struct* prompt : Children(p, "prompts", "prompt")) {
        if (const Value* text = Param(*prompt, "text")) t->add_prompts(AsString(*text));
      }
      if (a == "playandcollect") {
        for (const Struct* in : Children(p, "input", "input")) {
          t->set_max_digits(static_cast<uint32_t>(Number(*in, "max_digits", 0)));
          if (const Value* td = Param(*in, "term_digits")) t->set_term_digits(AsString(*td));
          t->set_timeout_ms(static_cast<uint32_t>(Number(*in, "total_timeout", 0) * 1000));
        }
      }
    }
    SendRequest(c, std::move(req), std::move(pending));
  } else if (m == "dialog" && a == "stop") {
    const Value* target = Param(p, "target_requestid");
    const std::string tid = target == nullptr ? "" : AsString(*target);
    std::string switch_id;
    for (const auto& [sid, effect] : c.treatments) {
      auto other = c.actions.find(effect);
      if (other != c.actions.end() && other->second.request_id == tid) switch_id = sid;
    }
    if (switch_id.empty()) {
      return ActionError(c, act, "not-found", absl::StrCat("no dialog of requestid '", tid, "' is playing"), fx);
    }
    cv1::SwitchRequest req;
    req.set_type(cv1::CANCEL_TREATMENT);
    req.set_cancel_request_id(switch_id);
    SendRequest(c, std::move(req), std::move(pending));
  } else if (m == "queue" && a == "submit") {
    std::shared_ptr<const DnConfig> cfg = dn_();
    Waiting w;
    w.call_uuid = c.uuid;
    w.effect_id = act.effect_id;
    w.request_id = act.request_id;
    w.priority = static_cast<int>(Number(p, "priority", 0));
    w.route = Bool(p, "route");
    if (const Value* q = Param(p, "queue")) w.queue = AsString(*q);
    std::vector<std::string> unknown;
    for (const Struct* t : Children(p, "targets", "target")) {
      const Value* name = Param(*t, "name");
      const Value* type = Param(*t, "type");
      const std::string n = name == nullptr ? "" : AsString(*name);
      const std::string ty = type == nullptr ? "agent" : AsString(*type);
      if (n.empty()) continue;
      if (ty == "agentgroup") {
        if (const auto* members = cfg->Group(n)) {
          w.targets.insert(w.targets.end(), members->begin(), members->end());
        } else {
          unknown.push_back(n);
        }
      } else {
        w.targets.push_back(n);
      }
    }
    w.targets_hash = std::hash<std::string>()(absl::StrJoin(w.targets, ","));
    if (w.targets.empty()) {
      return ActionError(c, act, "invalid-target",
                         unknown.empty() ? "queue:submit names no target"
                                         : absl::StrCat("unknown agent group ", unknown[0]),
                         fx);
    }
    const double timeout_s = Number(p, "timeout", 0);
    const int64_t now = clock_->MonotonicMs();
    w.enqueued_ms = now;
    w.deadline_ms = timeout_s > 0 ? now + static_cast<int64_t>(timeout_s * 1000) : 0;
    act.waiting = w;
    ActionEvent(c, act, "queue.submit.requestid", {}, fx);
    waiting_.Add(std::move(w));
    Assign(fx);
  } else if (m == "queue" && a == "cancel") {
    const Value* target = Param(p, "target_requestid");
    const std::string tid = target == nullptr ? "" : AsString(*target);
    Waiting* w = waiting_.Find(tid);
    if (w == nullptr || w->call_uuid != c.uuid) {
      return ActionError(c, act, "not-found", absl::StrCat("no waiting queue:submit of requestid '", tid, "'"), fx);
    }
    waiting_.Remove(tid);
    ActionEvent(c, act, "queue.cancel.done", Fields({{"requestid", Str(tid)}}), fx);
  } else {
    ActionError(c, act, "unsupported", absl::StrCat(m, ":", a, " is not supported by call-watcher"), fx);
  }
}

void CallRouter::ActionEvent(Call& c, Action& act, const std::string& name, Struct extra, Effects& fx, uint64_t ack) {
  Struct data = Fields({{"requestid", Str(act.request_id)}});
  for (auto& [k, v] : *extra.mutable_fields()) (*data.mutable_fields())[k] = std::move(v);
  Deliver(c, name, std::move(data), absl::StrCat("cw/", act.effect_id, "/", ++act.results), ack, fx);
}

void CallRouter::ActionDone(Call& c, Action& act, Struct extra, Effects& fx, uint64_t ack) {
  const std::string action = act.module == "interaction" && act.action == "route" ? "redirect" : act.action;
  if (metrics_) metrics_->Action(act.module, act.action, "done");
  ActionEvent(c, act, absl::StrCat(act.module, ".", action, ".done"), std::move(extra), fx, ack);
}

void CallRouter::ActionError(Call& c, Action& act, const std::string& code, const std::string& description,
                             Effects& fx, uint64_t ack) {
  const std::string action = act.module == "interaction" && act.action == "route" ? "redirect" : act.action;
  if (metrics_) metrics_->Action(act.module, act.action, "error");
  log::Info("action failed", {{"call", c.uuid}, {"action", absl::StrCat(act.module, ":", act.action)},
                              {"requestid", act.request_id}, {"error", code}, {"description", description}});
  ActionEvent(c, act, absl::StrCat("error.", act.module, ".", action),
              Fields({{"error", Str(code)}, {"description", Str(description)}}), fx, ack);
}

}  // namespace orch::call_watcher
