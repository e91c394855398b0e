#include "services/call_watcher/call_router.h"

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/log/log.h"
#include "common/sessionapi/session_id.h"
#include "services/call_watcher/call_router_state.h"

namespace orch::call_watcher {

CallRouter::CallRouter(CallRouterOptions options, std::function<std::shared_ptr<const DnConfig>()> dn,
                       SessionSink* sink, CallStore* store, NodeLiveness* liveness, BlockingRunner run_blocking,
                       time::Clock* clock, CallMetrics* metrics)
    : options_(std::move(options)),
      dn_(std::move(dn)),
      sink_(sink),
      store_(store),
      liveness_(liveness),
      run_blocking_(std::move(run_blocking)),
      clock_(clock),
      metrics_(metrics),
      instance_(absl::StrFormat("%08x", std::random_device()())),
      watcher_(options_.watcher),
      restart_session_on_switchover_(options_.restart_session_on_switchover),
      call_watching_timeout_ms_(options_.call_watching_timeout_ms) {}

void CallRouter::SetWatcher(std::string watcher) {
  absl::MutexLock l(&mu_);
  watcher_ = std::move(watcher);
}

void CallRouter::Reconfigure(bool restart_session_on_switchover, int64_t call_watching_timeout_ms) {
  absl::MutexLock l(&mu_);
  restart_session_on_switchover_ = restart_session_on_switchover;
  call_watching_timeout_ms_ = call_watching_timeout_ms;
}

CallRouter::~CallRouter() = default;

void CallRouter::RunEffects(Effects& fx) {
  for (auto& f : fx) f();
  fx.clear();
}

CallRouter::Call* CallRouter::FindCall(const std::string& uuid) {
  auto it = calls_.find(uuid);
  return it == calls_.end() ? nullptr : it->second.get();
}

size_t CallRouter::CallCount() {
  absl::MutexLock l(&mu_);
  return calls_.size();
}

// ------------------------------------------------------------------ links

absl::Status CallRouter::Attach(const cv1::Hello& hello, LinkChannel* link) {
  absl::MutexLock l(&mu_);
  auto& slot = adapters_[hello.adapter_id()];
  if (!slot) {
    slot = std::make_unique<Adapter>();
    slot->id = hello.adapter_id();
  }
  Adapter& a = *slot;
  if (a.link != nullptr && a.link != link) {
    a.link->Close(absl::AbortedError(absl::StrCat("a newer link of adapter ", a.id, " replaced this one")));
  } else if (a.link == nullptr) {
    if (metrics_) metrics_->LinkConnected(1);
  }
  a.link = link;
  a.switch_name = hello.switch_name();
  a.tenant = hello.tenant();
  cv1::WatcherMessage w;
  w.mutable_welcome()->set_resume_after_seq(a.seq.processed());
  w.mutable_welcome()->set_watcher(watcher_);
  link->Send(std::move(w));
  for (const auto& [id, p] : a.pending) {
    cv1::WatcherMessage m;
    *m.mutable_request() = p.req;
    link->Send(std::move(m));
  }
  log::Info("adapter linked", {{"adapter", a.id}, {"switch", a.switch_name},
                               {"resume_after_seq", a.seq.processed()}, {"requests_resent", a.pending.size()}});
  return absl::OkStatus();
}

void CallRouter::Detach(const std::string& adapter_id, LinkChannel* link) {
  absl::MutexLock l(&mu_);
  auto it = adapters_.find(adapter_id);
  if (it == adapters_.end() || it->second->link != link) return;
  it->second->link = nullptr;
  if (metrics_) metrics_->LinkConnected(-1);
  size_t calls = 0;
  for (const auto& [uuid, c] : calls_) calls += c->adapter_id == adapter_id ? 1 : 0;
  log::Warn("adapter link lost; its calls are kept for its reconnection",
            {{"adapter", adapter_id}, {"calls", calls}, {"requests_unanswered", it->second->pending.size()}});
}

absl::Status CallRouter::OnMessage(const std::string& adapter_id, LinkChannel* link, const cv1::AdapterMessage& msg) {
  Effects fx;
  absl::Status st;
  {
    absl::MutexLock l(&mu_);
    auto it = adapters_.find(adapter_id);
    if (it == adapters_.end() || it->second->link != link) {
      return absl::AbortedError(absl::StrCat("a newer link of adapter ", adapter_id, " replaced this one"));
    }
    Adapter& a = *it->second;
    if (msg.msg_case() == cv1::AdapterMessage::kResult) {
      OnResult(a, msg.result(), fx);
    } else if (msg.msg_case() == cv1::AdapterMessage::kInteraction ||
               msg.msg_case() == cv1::AdapterMessage::kTarget) {
      const uint64_t seq =
          msg.msg_case() == cv1::AdapterMessage::kInteraction ? msg.interaction().seq() : msg.target().seq();
      switch (a.seq.Receive(seq)) {
        case AdapterSequence::Verdict::kDuplicate:
          if (metrics_) metrics_->Duplicate();
          link->SendAck(a.seq.processed());
          break;
        case AdapterSequence::Verdict::kGap:
          log::Warn("sequence gap: the link is closed for the adapter to resend",
                    {{"adapter", a.id}, {"expected", a.seq.highest() + 1}, {"got", seq}});
          return absl::FailedPreconditionError(
              absl::StrCat("sequence gap: expected ", a.seq.highest() + 1, ", got ", seq));
        case AdapterSequence::Verdict::kNew:
          st = msg.msg_case() == cv1::AdapterMessage::kInteraction ? OnInteraction(a, msg.interaction(), fx)
                                                                    : OnTarget(a, msg.target(), fx);
          break;
      }
    } else {
      return absl::InvalidArgumentError("an AdapterMessage with no message");
    }
  }
  RunEffects(fx);
  return st;
}

void CallRouter::Processed(const std::string& adapter_id, uint64_t seq) {
  if (seq == 0) return;
  auto it = adapters_.find(adapter_id);
  if (it == adapters_.end()) return;
  Adapter& a = *it->second;
  if (a.seq.Done(seq) && a.link != nullptr) a.link->SendAck(a.seq.processed());
}

void CallRouter::Reject(Adapter& a, uint64_t seq, absl::string_view reason_code, const std::string& reason) {
  if (metrics_) metrics_->Rejected(reason_code);
  log::Warn("event rejected", {{"adapter", a.id}, {"seq", seq}, {"reason", std::string(reason)}});
  if (a.link != nullptr) {
    cv1::WatcherMessage m;
    m.mutable_rejected()->set_seq(seq);
    m.mutable_rejected()->set_reason(reason);
    a.link->Send(std::move(m));
  }
  Processed(a.id, seq);
}

// ------------------------------------------------------------------ calls

absl::Status CallRouter::OnInteraction(Adapter& a, const cv1::InteractionEvent& e, Effects& fx) {
  if (metrics_) metrics_->Event(Lower(e.type()));
  if (e.call_uuid().empty()) {
    Reject(a, e.seq(), "missing_call_uuid", "the event has no call_uuid");
    return absl::OkStatus();
  }
  Call* cp = FindCall(e.call_uuid());
  if (cp == nullptr) {
    if (e.type() == cv1::ROUTE_REQUEST || e.type() == cv1::NEW_INTERACTION) {
      StartCall(a, e, fx);
    } else {
      Reject(a, e.seq(), "unknown_call",
             absl::StrCat("unknown call ", e.call_uuid(), ": a call starts with ROUTE_REQUEST or NEW_INTERACTION"));
    }
    return absl::OkStatus();
  }
  Call& c = *cp;
  c.adapter_id = a.id;   // the call follows its adapter's link
  if (!e.connection_id().empty()) c.connection_id = e.connection_id();
  if (!e.ani().empty()) c.ani = e.ani();
  if (!e.dnis().empty()) c.dnis = e.dnis();
  if (!e.this_dn().empty()) c.this_dn = e.this_dn();
  if (!e.parent_call_uuid().empty()) c.parent = e.parent_call_uuid();
  if (e.parties_size() > 0) c.parties.assign(e.parties().begin(), e.parties().end());
  if (e.user_data_size() > 0 || e.type() == cv1::USER_DATA_CHANGED) {
    c.udata = std::map<std::string, std::string>(e.user_data().begin(), e.user_data().end());
  }
  const std::string effect = absl::StrCat("call/", a.id, "/", e.seq());
  switch (e.type()) {
    case cv1::ROUTE_REQUEST:
      c.state = "routing";
      c.route_dn = e.this_dn();
      if (c.default_route_due_ms == 0 && !c.default_routed) {
        c.route_requested_ms = clock_->MonotonicMs();
        c.default_route_due_ms = c.route_requested_ms + options_.default_route_timeout_ms;
      }
      Deliver(c, "interaction.onrouterequest", {}, effect, e.seq(), fx);
      break;
    case cv1::QUEUED:
      c.state = "queued";
      Deliver(c, "interaction.queued", {}, effect, e.seq(), fx);
      break;
    case cv1::RINGING:
    case cv1::ESTABLISHED:
    case cv1::PARTY_CHANGED:
    case cv1::TRANSFERRED: {
      if (e.type() == cv1::ESTABLISHED) {
        c.state = "established";
        c.default_route_due_ms = 0;
        if (c.routed_to.empty() && e.this_dn() != c.route_dn) c.routed_to = e.this_dn();
        if (!c.reserved_target.empty() && c.reserved_target == e.this_dn()) {
          // Landed: the reservation stays with the target until it is READY
          // again (TargetBoard), whatever becomes of the call.
          targets_.Land(c.reserved_target, c.uuid);
          c.reserved_target.clear();
        }
      }
      std::string state = Lower(e.type());
      for (const cv1::Party& p : e.parties()) {
        if (p.dn() == e.this_dn() && !p.state().empty()) state = p.state();
      }
      Deliver(c, "interaction.partystatechanged",
              Fields({{"focusdeviceid", Str(e.this_dn())}, {"state", Str(state)}}), effect, e.seq(), fx);
      break;
    }
    case cv1::MERGED:
      Deliver(c, "interaction.onmerge",
              Fields({{"frominteractionid", Str(c.uuid)}, {"tointeractionid", Str(e.other_call_uuid())}}), effect,
              e.seq(), fx);
      break;
    case cv1::USER_DATA_CHANGED:
      Deliver(c, "interaction.udata.changed", {}, effect, e.seq(), fx);
      break;
    case cv1::RELEASED:
      c.state = "released";
      c.released = true;
      c.default_route_due_ms = 0;
      EndSubmits(c);
      ReleaseReservation(c, fx);
      Deliver(c, "interaction.deleted", Fields({{"resultof", Str(e.cause().empty() ? "normal" : e.cause())}}), effect,
              e.seq(), fx);   // may finish the call: `c` is not used after
      break;
    case cv1::TREATMENT_DONE:
    case cv1::TREATMENT_FAILED: {
      auto t = c.treatments.find(e.request_id());
      auto act = t == c.treatments.end() ? c.actions.end() : c.actions.find(t->second);
      if (act == c.actions.end()) {
        Processed(a.id, e.seq());
        break;
      }
      c.treatments.erase(t);
      if (e.type() == cv1::TREATMENT_DONE) {
        Struct extra;
        if (act->second.action == "playandcollect") (*extra.mutable_fields())["digits"] = Str(e.digits());
        ActionDone(c, act->second, std::move(extra), fx, e.seq());
      } else {
        ActionError(c, act->second, e.cause().empty() ? "failed" : e.cause(),
                    absl::StrCat("the treatment ended: ", e.cause().empty() ? "failed" : e.cause()), fx, e.seq());
      }
      break;
    }
    default:   // TREATMENT_STARTED, a repeated NEW_INTERACTION: nothing for the session
      Processed(a.id, e.seq());
      break;
  }
  return absl::OkStatus();
}


Value CallRouter::InteractionValue(const Call& c) const {
  Value v;
  Struct& s = *v.mutable_struct_value();
  auto& f = *s.mutable_fields();
  f["interactionid"] = Str(c.uuid);
  f["media"] = Str(c.media);
  f["type"] = Str("inbound");
  if (c.media == "voice") {
    f["voice"].mutable_struct_value()->CopyFrom(Fields({{"callid", Str(c.connection_id)}, {"ani", Str(c.ani)},
                                                        {"dnis", Str(c.dnis)}, {"type", Str("inbound")},
                                                        {"media", Str("voice")}}));
  }
  auto& udata = *f["udata"].mutable_struct_value()->mutable_fields();
  for (const auto& [k, val] : c.udata) udata[k] = Str(val);
  f["parentid"] = Str(c.parent);
  f["tenantid"] = Str(c.tenant);
  f["thisdn"] = Str(c.this_dn);
  auto* parties = f["parties"].mutable_list_value();
  for (const cv1::Party& p : c.parties) {
    parties->add_values()->mutable_struct_value()->CopyFrom(
        Fields({{"device", Str(p.dn())}, {"devicetype", Str(p.role())}, {"state", Str(p.state())}}));
  }
  f["state"] = Str(c.state);
  return v;
}

void CallRouter::Deliver(Call& c, std::string name, Struct extra, std::string effect_id, uint64_t ack, Effects& fx) {
  if (c.phase == Call::Phase::kNoSession) {
    if (c.orphaned) log::Debug("call event dropped: its session is gone", {{"call", c.uuid}, {"event", name}});
    Processed(c.adapter_id, ack);
    if (name == "interaction.deleted") Finish(c, fx);
    return;
  }
  Outgoing o;
  o.ack = ack;
  o.recorded = !c.restart_on_switchover;
  o.event.set_name(std::move(name));
  o.event.set_source(ev1::EVENT_SOURCE_CALL);
  o.event.set_effect_id(std::move(effect_id));
  auto& f = *o.event.mutable_data()->mutable_struct_value()->mutable_fields();
  f["interactionid"] = Str(c.uuid);
  f["interaction"] = InteractionValue(c);
  for (auto& [k, v] : *extra.mutable_fields()) f[k] = std::move(v);
  c.outbox.push_back(std::move(o));
  ++queued_events_;
  Pump(c, fx);
}

void CallRouter::Pump(Call& c, Effects& fx) {
  if (c.phase != Call::Phase::kActive || c.sending || c.outbox.empty()) return;
  if (c.retry_at_ms != 0 && c.retry_at_ms > clock_->MonotonicMs()) return;
  c.retry_at_ms = 0;
  c.sending = true;
  const Outgoing& o = c.outbox.front();
  if (!o.recorded) {
    // Recorded before it is sent, in the call's one-at-a-time order: a
    // restarted session replays exactly what this one was given.
    fx.push_back([this, uuid = c.uuid, event = o.event] {
      run_blocking_([this, uuid, event] {
        absl::StatusOr<uint64_t> r = store_->RecordCallEvent(uuid, event);
        Effects fx2;
        {
          absl::MutexLock l(&mu_);
          OnRecorded(uuid, r.status(), fx2);
        }
        RunEffects(fx2);
      });
    });
    return;
  }
  sv1::SendEventRequest req;
  req.set_session_id(c.session_id);
  *req.mutable_event() = o.event;
  fx.push_back([this, uuid = c.uuid, node = c.node, req = std::move(req)] {
    sink_->SendEvent(node, req, [this, uuid](absl::StatusOr<sv1::SendEventResponse> r) {
      Effects fx2;
      {
        absl::MutexLock l(&mu_);
        OnDelivered(uuid, r.status(), fx2);
      }
      RunEffects(fx2);
    });
  });
}

void CallRouter::OnRecorded(const std::string& uuid, absl::Status st, Effects& fx) {
  Call* c = FindCall(uuid);
  if (c == nullptr || !c->sending || c->outbox.empty()) return;
  c->sending = false;
  Outgoing& o = c->outbox.front();
  if (Retryable(st)) {
    if (metrics_) metrics_->StoreError("record_call_event");
    c->Stall(clock_->MonotonicMs());
    c->retry_at_ms = clock_->MonotonicMs() + options_.retry_ms;
    return;
  }
  if (!st.ok()) {
    // No record to add to (its claim failed, or it expired): the event
    // still goes to the session; only a restart would lack it.
    if (metrics_) metrics_->StoreError("record_call_event");
    log::Error("call event not recorded; a restart of the session would miss it",
               {{"call", uuid}, {"event", o.event.name()}, {"error", st.ToString()}});
  }
  o.recorded = true;
  Pump(*c, fx);
}

void CallRouter::OnDelivered(const std::string& uuid, absl::Status st, Effects& fx) {
  Call* c = FindCall(uuid);
  if (c == nullptr || !c->sending) return;
  c->sending = false;
  Outgoing& o = c->outbox.front();
  if (Retryable(st)) {
    // The node has no primary yet, or the session is being restarted: the
    // event waits (and the call's later events behind it) for as long as
    // the call lives; its effect id makes the repeat harmless.
    c->Stall(clock_->MonotonicMs());
    c->retry_at_ms = clock_->MonotonicMs() + options_.retry_ms;
    return;
  }
  c->stalled = false;
  if (absl::IsNotFound(st)) return Orphan(*c, st, fx);
  if (!st.ok()) {
    if (metrics_) metrics_->DeliveryFailed(absl::StatusCodeToString(st.code()));
    log::Error("call event not delivered to its session",
               {{"call", uuid}, {"session", c->session_id}, {"event", o.event.name()}, {"error", st.ToString()}});
  }
  const uint64_t ack = o.ack;
  const bool last = o.event.name() == "interaction.deleted";
  c->outbox.pop_front();
  --queued_events_;
  Processed(c->adapter_id, ack);
  if (last) {
    Finish(*c, fx);
    return;
  }
  Pump(*c, fx);
}

void CallRouter::Orphan(Call& c, const absl::Status& why, Effects& fx) {
  c.phase = Call::Phase::kNoSession;
  c.orphaned = true;
  if (c.released || !c.routed_to.empty()) {
    // The strategy did its work (the call is routed or over) and its
    // session has ended: a strategy may end once it routed, and a session
    // restarted from its record ends on the recorded interaction.deleted
    // while the live copy of that event was still waiting. Not an orphan.
    if (metrics_) metrics_->SessionEnded();
    log::Info("call's session has ended: its later events are dropped",
              {{"call", c.uuid}, {"session", c.session_id}, {"node", c.node}});
    DropOutbox(c, fx);   // may end the call: `c` is not used after
    return;
  }
  if (metrics_) metrics_->Orphaned();
  log::Warn("call's session is gone: its later events are dropped",
            {{"call", c.uuid}, {"session", c.session_id}, {"node", c.node}, {"error", why.ToString()}});
  if (!c.released && c.routed_to.empty() && c.routes_in_flight == 0 && (c.state == "routing" || c.state == "queued")) {
    EndSubmits(c);
    DefaultRoute(c, "orphaned", fx);
  }
  DropOutbox(c, fx);   // may end the call: `c` is not used after
}

void CallRouter::DropOutbox(Call& c, Effects& fx) {
  bool finish = false;
  for (const Outgoing& o : c.outbox) {
    Processed(c.adapter_id, o.ack);
    finish = finish || o.event.name() == "interaction.deleted";
  }
  queued_events_ -= static_cast<int64_t>(c.outbox.size());
  c.outbox.clear();
  c.sending = false;
  if (finish) Finish(c, fx);
}

void CallRouter::Finish(Call& c, Effects& fx) {
  ReleaseReservation(c, fx);
  EndSubmits(c);
  for (const Outgoing& o : c.outbox) Processed(c.adapter_id, o.ack);
  queued_events_ -= static_cast<int64_t>(c.outbox.size());
  c.outbox.clear();
  fx.push_back([this, uuid = c.uuid] {
    run_blocking_([this, uuid] {
      if (absl::StatusOr<bool> r = store_->DeleteCall(uuid); !r.ok()) {
        if (metrics_) metrics_->StoreError("delete_call");
        log::Warn("call record not deleted (it expires)", {{"call", uuid}, {"error", r.status().ToString()}});
      }
    });
  });
  log::Debug("call ended", {{"call", c.uuid}, {"session", c.session_id}});
  const std::string uuid = c.uuid;   // `c` is destroyed by the erase
  calls_.erase(uuid);
}

// ------------------------------------------------------------------ timers

void CallRouter::Tick() {
  Effects fx;
  {
    absl::MutexLock l(&mu_);
    const int64_t now = clock_->MonotonicMs();
    std::vector<Call*> due;
    for (auto& [uuid, c] : calls_) due.push_back(c.get());
    for (Call* c : due) {
      if (c->released && c->stalled && !c->sending && !c->start_in_flight &&
          now - c->stalled_since_ms >= options_.ended_call_retry_ms) {
        // An ended call is not kept for a node that stays without a primary.
        if (metrics_) metrics_->DeliveryFailed("ended_unreachable");
        log::Warn("ended call's session unreachable too long: its events are dropped",
                  {{"call", c->uuid}, {"session", c->session_id}, {"node", c->node}, {"events", c->outbox.size()},
                   {"after_ms", options_.ended_call_retry_ms}});
        c->phase = Call::Phase::kNoSession;
        DropOutbox(*c, fx);   // holds interaction.deleted: ends the call
        continue;
      }
      if (c->phase == Call::Phase::kStarting && !c->start_in_flight && c->retry_at_ms != 0 && c->retry_at_ms <= now) {
        c->retry_at_ms = 0;
        SendStart(*c, fx);
      } else if (c->phase == Call::Phase::kActive && !c->sending && c->retry_at_ms != 0 && c->retry_at_ms <= now) {
        Pump(*c, fx);
      }
      if (!c->released && !c->expired && now - c->created_ms >= options_.call_ttl_ms) {
        // Its RELEASED never came (an adapter that did not come back): the
        // session is told and the call forgotten, so memory stays bounded.
        c->expired = true;
        c->released = true;
        c->state = "released";
        c->default_route_due_ms = 0;
        EndSubmits(*c);
        ReleaseReservation(*c, fx);
        if (metrics_) metrics_->CallExpired();
        log::Warn("call ended by call-watcher: no RELEASED within calls.call-ttl-ms",
                  {{"call", c->uuid}, {"adapter", c->adapter_id}, {"session", c->session_id}});
        Deliver(*c, "interaction.deleted", Fields({{"resultof", Str("expired")}}),
                absl::StrCat("cw/expired/", c->uuid), 0, fx);   // may end the call: `c` is not used after
        continue;
      }
      // A route the strategy asked for and the switch has not answered yet
      // is given its chance: the default route waits for its result.
      if (c->default_route_due_ms != 0 && c->default_route_due_ms <= now && c->routed_to.empty() &&
          c->routes_in_flight == 0 && (c->state == "routing" || c->state == "queued")) {
        EndSubmits(*c);
        DefaultRoute(*c, "timeout", fx);
      }
    }
    for (const std::string& id : waiting_.Expired(now)) {
      Waiting* w = waiting_.Find(id);
      if (w == nullptr || w->reserving) continue;   // its reservation's answer decides
      const Waiting expired = *w;
      waiting_.Remove(id);
      Call* c = FindCall(expired.call_uuid);
      if (c == nullptr) continue;
      auto act = c->actions.find(expired.effect_id);
      if (act == c->actions.end()) continue;
      ActionError(*c, act->second, "timeout",
                  absl::StrCat("no target was ready within ", (expired.deadline_ms - expired.enqueued_ms) / 1000.0, " s"),
                  fx);
    }
    RenewReservations(now, fx);
    Assign(fx);
    UpdateGauges();
  }
  RunEffects(fx);
}

void CallRouter::UpdateGauges() {
  if (metrics_ == nullptr) return;
  std::map<int, int64_t> owned;
  int64_t buffered = 0;
  int64_t treatments = 0;
  for (const auto& [uuid, c] : calls_) {
    if (c->phase == Call::Phase::kActive) ++owned[c->node];
    if (c->stalled) buffered += static_cast<int64_t>(c->outbox.size());
    treatments += static_cast<int64_t>(c->treatments.size());
  }
  metrics_->CallsOwned(owned);
  metrics_->EventsBuffered(buffered);
  metrics_->TreatmentsPending(treatments);
}

// ------------------------------------------------------------- inspection

absl::StatusOr<cv1::GetCallResponse> CallRouter::GetCall(const std::string& call_uuid) {
  absl::MutexLock l(&mu_);
  Call* c = FindCall(call_uuid);
  if (c == nullptr) return absl::NotFoundError(absl::StrCat("call ", call_uuid, " is not known to this call-watcher"));
  cv1::GetCallResponse r;
  r.set_call_uuid(c->uuid);
  r.set_session_id(c->phase == Call::Phase::kNoSession ? "" : c->session_id);
  r.set_state(c->state);
  r.set_this_dn(c->this_dn);
  r.set_routed_to(c->routed_to);
  r.set_reserved_target(c->reserved_target);
  r.set_adapter_id(c->adapter_id);
  r.set_assigned_node(c->assigned_node);
  r.set_reserved_node(c->reserved_node);
  r.set_owner_node(c->phase == Call::Phase::kActive ? c->node : 0);
  return r;
}

cv1::ListTargetsResponse CallRouter::ListTargets() {
  std::shared_ptr<const DnConfig> cfg = dn_();
  absl::MutexLock l(&mu_);
  cv1::ListTargetsResponse r;
  std::vector<std::pair<std::string, const Target*>> sorted;
  for (const auto& [name, t] : targets_.all()) sorted.emplace_back(name, &t);
  std::sort(sorted.begin(), sorted.end());
  for (const auto& [name, tp] : sorted) {
    const Target& t = *tp;
    cv1::TargetInfo* info = r.add_targets();
    info->set_target(name);
    info->set_state(t.state);
    info->set_call_uuid(t.call_uuid);
    info->set_reserved_for(t.reserved_for);
    info->set_ready_since_unix_ms(t.state == cv1::READY ? t.ready_since_ms : 0);
    for (const auto& [group, members] : cfg->groups()) {
      if (std::find(members.begin(), members.end(), name) != members.end()) info->add_groups(group);
    }
  }
  return r;
}

}  // namespace orch::call_watcher
