#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/base/fnv1a.h"
#include "common/log/log.h"
#include "common/sessionapi/call_binding.h"
#include "common/sessionapi/session_id.h"
#include "services/call_watcher/call_router.h"
#include "services/call_watcher/call_router_state.h"

namespace orch::call_watcher {

// ------------------------------------------------------------------ start

void CallRouter::StartCall(Adapter& a, const cv1::InteractionEvent& e, Effects& fx) {
  auto owned = std::make_unique<Call>();
  Call& c = *owned;
  c.uuid = e.call_uuid();
  c.adapter_id = a.id;
  c.switch_name = a.switch_name;
  c.tenant = e.tenant().empty() ? a.tenant : e.tenant();
  c.media = e.media_type().empty() ? "voice" : e.media_type();
  c.route_dn = e.this_dn();
  c.this_dn = e.this_dn();
  c.connection_id = e.connection_id();
  c.ani = e.ani();
  c.dnis = e.dnis();
  c.parent = e.parent_call_uuid();
  c.parties.assign(e.parties().begin(), e.parties().end());
  c.udata = std::map<std::string, std::string>(e.user_data().begin(), e.user_data().end());
  c.first_seq = e.seq();
  c.created_ms = clock_->MonotonicMs();
  if (e.type() == cv1::ROUTE_REQUEST) {
    c.route_requested_ms = clock_->MonotonicMs();
    c.default_route_due_ms = c.route_requested_ms + options_.default_route_timeout_ms;
  }
  calls_[c.uuid] = std::move(owned);

  std::shared_ptr<const DnConfig> cfg = dn_();
  const DnEntry* entry = cfg->Find(a.switch_name, e.this_dn());
  c.default_route = cfg->DefaultRoute(entry);
  absl::StatusOr<Application> app = absl::NotFoundError(
      absl::StrCat("no application for DN ", e.this_dn(), " (switch ", a.switch_name, ")"));
  if (entry != nullptr) {
    app = cfg->ApplicationFor(*entry, options_.cluster,
                              CallFacts{.ani = c.ani, .dnis = c.dnis, .dn = c.this_dn, .udata = c.udata});
  }
  if (!app.ok()) {
    c.phase = Call::Phase::kNoSession;
    if (metrics_) metrics_->SessionFailed("unknown_dn");
    Reject(a, e.seq(), "unknown_dn", std::string(app.status().message()));
    DefaultRoute(c, "unknown_dn", fx);
    return;
  }
  if (options_.max_queued_events > 0 && queued_events_ >= options_.max_queued_events) {
    c.phase = Call::Phase::kNoSession;
    if (metrics_) metrics_->SessionFailed("overloaded");
    Reject(a, e.seq(), "overloaded",
           absl::StrCat("call-watcher is overloaded: ", queued_events_,
                        " events wait for their sessions (calls.max-queued-events); the call gets its default route"));
    DefaultRoute(c, "overloaded", fx);
    return;
  }
  // The primary call's node for a consultation call (when this replica
  // knows the primary): both ends of a consultation then meet on one node.
  int forced = 0;
  if (options_.same_node_for_cons_prim_calls && !c.parent.empty()) {
    if (const Call* primary = FindCall(c.parent); primary != nullptr) {
      forced = primary->node != 0 ? primary->node : primary->assigned_node;
    }
  }
  std::vector<int> up;
  for (int n : options_.nodes) {
    if (liveness_ == nullptr || liveness_->IsUp(n)) up.push_back(n);
  }
  const NodeChoice nodes = ChooseNodes(c.uuid, options_.nodes, up, options_.node_data_centers, forced);
  c.assigned_node = nodes.assigned;
  c.reserved_node = nodes.reserved;
  c.node = nodes.assigned;
  c.watch_until_ms = c.created_ms + call_watching_timeout_ms_;
  const std::string key = "call:" + c.uuid;
  c.session_id = sessionapi::SessionIdForKey(c.node, key);
  c.start.set_url(app->url);
  c.start.set_alternate_url(app->alternate_url);
  for (auto& [k, v] : app->parameters) (*c.start.mutable_parameters())[k] = v;
  c.start.set_idempotency_key(key);
  auto* b = c.start.mutable_interaction();
  b->set_interaction_id(c.uuid);
  b->set_watcher(watcher_);
  b->set_media_type(c.media);
  b->set_tenant(c.tenant);
  b->set_bind(true);
  const bool persistent = cfg->Persistent(entry, c.media);
  c.start.set_persistence(persistent ? sv1::PERSISTENCE_DOCUMENT : sv1::PERSISTENCE_OFF);
  // Restart only makes sense for a session that cannot be recovered from a log.
  c.restart_on_switchover = !persistent && cfg->RestartOnSwitchover(entry, restart_session_on_switchover_);
  Deliver(c, "interaction.added", {}, absl::StrCat("call/", a.id, "/", e.seq()), e.seq(), fx);

  c.created_unix_ms = clock_->NowMs();
  log::Debug("call assigned", {{"call", c.uuid}, {"assigned_node", c.assigned_node},
                               {"reserved_node", c.reserved_node}, {"nodes_up", up.size()}});
  Claim(c, fx);
}

int CallRouter::NodeFor(const std::string& call_uuid, const std::vector<int>& nodes) {
  int best = nodes.empty() ? 1 : nodes[0];
  uint64_t best_score = 0;
  for (int n : nodes) {
    uint64_t h = Fnv1a64(absl::StrCat(n, "/", call_uuid));
    h ^= h >> 33;   // FNV's low bits mix poorly: fold and multiply (splitmix64's finaliser)
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    if (h >= best_score) {
      best_score = h;
      best = n;
    }
  }
  return best;
}

NodeChoice CallRouter::ChooseNodes(const std::string& call_uuid, const std::vector<int>& nodes,
                                   const std::vector<int>& up, const std::map<int, std::string>& data_centers,
                                   int forced) {
  // With no node up, every configured node is a candidate: the start is
  // retried until one has a primary, and the hash keeps the choice stable.
  const std::vector<int>& pool = up.empty() ? nodes : up;
  NodeChoice choice;
  choice.assigned = forced != 0 ? forced : NodeFor(call_uuid, pool);
  auto dc = [&](int n) {
    auto it = data_centers.find(n);
    return it == data_centers.end() ? std::string() : it->second;
  };
  std::vector<int> others, other_dc;
  for (int n : pool) {
    if (n == choice.assigned) continue;
    others.push_back(n);
    if (dc(n) != dc(choice.assigned)) other_dc.push_back(n);
  }
  if (!other_dc.empty()) {
    choice.reserved = NodeFor(call_uuid, other_dc);
  } else if (!others.empty()) {
    choice.reserved = NodeFor(call_uuid, others);
  }
  return choice;
}

void CallRouter::Claim(Call& c, Effects& fx) {
  c.phase = Call::Phase::kClaiming;
  CallRecord record;
  record.set_call_uuid(c.uuid);
  record.set_session_id(sessionapi::SessionIdForKey(c.assigned_node, c.start.idempotency_key()));
  record.set_switch_name(c.switch_name);
  record.set_this_dn(c.this_dn);
  record.set_media_type(c.media);
  record.set_watcher(watcher_);
  record.set_created_unix_ms(c.created_unix_ms);
  record.set_assigned_node(c.assigned_node);
  record.set_reserved_node(c.reserved_node);
  record.set_owner_node(0);
  record.set_restart_on_switchover(c.restart_on_switchover);
  record.set_start_request(c.start.SerializeAsString());
  const absl::Duration ttl = absl::Milliseconds(options_.call_ttl_ms);
  fx.push_back([this, record = std::move(record), ttl] {
    run_blocking_([this, record, ttl] {
      absl::StatusOr<ClaimResult> r = store_->ClaimCall(record, ttl);
      Effects fx2;
      {
        absl::MutexLock l(&mu_);
        OnClaimed(record.call_uuid(), std::move(r), fx2);
      }
      RunEffects(fx2);
    });
  });
}

void CallRouter::OnClaimed(const std::string& uuid, absl::StatusOr<ClaimResult> r, Effects& fx) {
  Call* c = FindCall(uuid);
  if (c == nullptr || c->phase != Call::Phase::kClaiming) return;
  if (!r.ok()) {
    // The session is still started: a call must not wait for the record.
    // An engine that binds refuses it ("has no record"): the claim is then
    // made again (OnOwner).
    if (metrics_) metrics_->StoreError("claim_call");
    log::Warn("call record not stored; the call goes on", {{"call", uuid}, {"error", r.status().ToString()}});
  } else if (!r->created) {
    // Another replica (or an earlier claim of this one) holds the record:
    // its nodes, watching time and owner win.
    const CallRecord& rec = r->record;
    if (rec.assigned_node() != 0) {
      c->assigned_node = rec.assigned_node();
      c->reserved_node = rec.reserved_node();
      c->watch_until_ms = clock_->MonotonicMs() +
                          (rec.created_unix_ms() + call_watching_timeout_ms_ - clock_->NowMs());
    }
    absl::StatusOr<int> node = sessionapi::NodeOfSessionId(rec.session_id());
    if (rec.assigned_node() == 0 && node.ok()) {
      // A record without nodes: its session names the node.
      c->assigned_node = *node;
      if (c->reserved_node == *node) c->reserved_node = 0;
    }
    c->node = c->assigned_node;
    c->session_id = sessionapi::SessionIdForKey(c->node, c->start.idempotency_key());
    if (rec.owner_node() != 0 && !rec.session_id().empty()) {
      c->node = rec.owner_node();
      c->session_id = rec.session_id();
      c->owner_known = true;
    }
    log::Info("call claimed earlier: its nodes are kept",
              {{"call", uuid}, {"node", c->node}, {"owner_known", c->owner_known}});
  }
  c->phase = Call::Phase::kStarting;
  SendStart(*c, fx);
}

void CallRouter::SendStart(Call& c, Effects& fx) {
  if (!c.owner_known) {
    // Past the watching time, the reserved node is tried too: alternately
    // with the assigned one, so that whichever gets a primary first binds.
    const bool late = c.reserved_node != 0 && clock_->MonotonicMs() >= c.watch_until_ms;
    c.node = late && c.late_starts++ % 2 == 0 ? c.reserved_node : c.assigned_node;
    c.session_id = sessionapi::SessionIdForKey(c.node, c.start.idempotency_key());
  }
  c.start_in_flight = true;
  fx.push_back([this, uuid = c.uuid, node = c.node, req = c.start] {
    sink_->StartSession(node, req, [this, uuid](absl::StatusOr<sv1::StartSessionResponse> r) {
      Effects fx2;
      {
        absl::MutexLock l(&mu_);
        OnStarted(uuid, std::move(r), fx2);
      }
      RunEffects(fx2);
    });
  });
}

void CallRouter::OnStarted(const std::string& uuid, absl::StatusOr<sv1::StartSessionResponse> r, Effects& fx) {
  Call* c = FindCall(uuid);
  if (c == nullptr || c->phase != Call::Phase::kStarting) return;
  c->start_in_flight = false;
  if (r.ok()) {
    c->phase = Call::Phase::kActive;
    c->stalled = false;
    c->owner_known = true;
    if (!r->session_id().empty()) c->session_id = r->session_id();
    if (metrics_) {
      metrics_->SessionStarted();
      if (c->node == c->reserved_node && c->node != c->assigned_node) metrics_->ReservedTakeover();
    }
    if (c->node != c->assigned_node) {
      log::Info("call's session started on another node than its assigned one",
                {{"call", uuid}, {"session", c->session_id}, {"node", c->node}, {"assigned_node", c->assigned_node}});
    }
    log::Debug("session started", {{"call", uuid}, {"session", c->session_id}, {"node", c->node}});
    Pump(*c, fx);
    return;
  }
  if (Retryable(r.status())) {
    // The node has no primary (or is overloaded): tried again while the call
    // lives; its events wait.
    c->Stall(clock_->MonotonicMs());
    c->retry_at_ms = clock_->MonotonicMs() + options_.retry_ms;
    return;
  }
  if (sessionapi::IsCallBindingRefusal(r.status())) {
    log::Info("start refused: the call's record decides",
              {{"call", uuid}, {"node", c->node}, {"error", r.status().ToString()}});
    LookUpOwner(*c, fx);
    return;
  }
  FailStart(*c, r.status().ToString(), fx);
}

void CallRouter::LookUpOwner(Call& c, Effects& fx) {
  c.start_in_flight = true;
  fx.push_back([this, uuid = c.uuid] {
    run_blocking_([this, uuid] {
      absl::StatusOr<CallRecord> r = store_->GetCall(uuid);
      Effects fx2;
      {
        absl::MutexLock l(&mu_);
        OnOwner(uuid, std::move(r), fx2);
      }
      RunEffects(fx2);
    });
  });
}

void CallRouter::OnOwner(const std::string& uuid, absl::StatusOr<CallRecord> r, Effects& fx) {
  Call* c = FindCall(uuid);
  if (c == nullptr || c->phase != Call::Phase::kStarting) return;
  c->start_in_flight = false;
  if (r.ok() && r->owner_node() != 0 && !r->session_id().empty()) {
    // The owner's start is repeated there: it answers the session it made,
    // or makes it if that node stopped between binding and creating it.
    c->node = r->owner_node();
    c->session_id = r->session_id();
    c->owner_known = true;
    log::Info("call owned by another node: followed", {{"call", uuid}, {"node", c->node}, {"session", c->session_id}});
    SendStart(*c, fx);
    return;
  }
  if (absl::IsNotFound(r.status())) {
    // No record (its claim failed, or it expired): claimed again.
    if (metrics_) metrics_->StoreError("call_record_missing");
    Claim(*c, fx);
    return;
  }
  // The store did not answer, or the record has no owner yet: start again later.
  if (!r.ok() && metrics_) metrics_->StoreError("get_call");
  c->Stall(clock_->MonotonicMs());
  c->retry_at_ms = clock_->MonotonicMs() + options_.retry_ms;
}

void CallRouter::FailStart(Call& c, const std::string& why, Effects& fx) {
  c.phase = Call::Phase::kNoSession;
  if (metrics_) metrics_->SessionFailed("start_failed");
  log::Error("the call's application could not be started; the call gets its default route",
             {{"call", c.uuid}, {"dn", c.route_dn}, {"url", c.start.url()},
              {"alternate_url", c.start.alternate_url()}, {"error", why}});
  auto a = adapters_.find(c.adapter_id);
  if (a != adapters_.end()) {
    Reject(*a->second, c.first_seq, "start_failed",
           absl::StrCat("the application of DN ", c.route_dn, " could not be started: ", why));
  }
  DefaultRoute(c, "start_failed", fx);
  DropOutbox(c, fx);   // may end the call: `c` is not used after
}

}  // namespace orch::call_watcher
