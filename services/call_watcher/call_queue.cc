#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/log/log.h"
#include "services/call_watcher/call_router.h"
#include "services/call_watcher/call_router_state.h"

namespace orch::call_watcher {

// ------------------------------------------------------------------ queue

void CallRouter::Assign(Effects& fx) {
  const int64_t now = clock_->MonotonicMs();
  // Target lists found with no free target in this pass: the calls waiting
  // for the same agents are not searched again (with every agent busy, a
  // pass would otherwise cost waiting calls x agents on every event).
  absl::flat_hash_set<size_t> exhausted;
  const absl::Duration ttl = absl::Milliseconds(options_.reservation_ttl_ms);
  for (Waiting* w : waiting_.Ordered()) {
    if (w->reserving || exhausted.contains(w->targets_hash)) continue;
    const std::string target = targets_.Best(w->targets, now);
    if (target.empty()) {
      exhausted.insert(w->targets_hash);
      continue;
    }
    targets_.BeginReserve(target, w->call_uuid);
    w->reserving = true;
    // A landed reservation freed by the event that made the target READY is
    // released first, on the same thread: the store threads keep no order.
    fx.push_back([this, id = w->request_id, call = w->call_uuid, target, ttl,
                  owed = targets_.TakeOwedRelease(target)] {
      run_blocking_([this, id, call, target, ttl, owed] {
        if (!owed.empty()) StoreRelease(target, owed);
        absl::StatusOr<std::string> holder = store_->ReserveTarget(target, call, ttl);
        Effects fx2;
        {
          absl::MutexLock l(&mu_);
          OnReserved(id, call, target, std::move(holder), fx2);
        }
        RunEffects(fx2);
      });
    });
  }
}

void CallRouter::OnReserved(const std::string& submit_id, const std::string& call_uuid, const std::string& target,
                            absl::StatusOr<std::string> holder, Effects& fx) {
  const int64_t now = clock_->MonotonicMs();
  const bool won = holder.ok() && *holder == call_uuid;
  if (!holder.ok()) {
    if (metrics_) {
      metrics_->StoreError("reserve_target");
      metrics_->Reservation("error");
    }
    log::Warn("target not reserved: the store did not answer",
              {{"call", call_uuid}, {"target", target}, {"error", holder.status().ToString()}});
  }
  const bool still_ours =
      targets_.EndReserve(target, call_uuid, won, now + options_.reservation_ttl_ms, now + options_.lost_target_retry_ms);
  Waiting* w = waiting_.Find(submit_id);
  Call* c = FindCall(call_uuid);
  if (w != nullptr) w->reserving = false;
  if (won && (!still_ours || w == nullptr || c == nullptr || c->released)) {
    // Nobody to give it to now (the submit ended, the target changed
    // meanwhile): give it back, and let the call wait again if it still does.
    if (metrics_) metrics_->Reservation("dropped");
    if (still_ours) targets_.Unreserve(target, call_uuid);
    ReleaseInStore(target, call_uuid, fx);
    Assign(fx);
    return;
  }
  if (!won) {
    if (holder.ok() && metrics_) metrics_->Reservation("lost");
    Assign(fx);
    return;
  }
  if (metrics_) {
    metrics_->Reservation("won");
    metrics_->QueueWait((now - w->enqueued_ms) / 1000.0);
  }
  const Waiting served = *w;
  waiting_.Remove(submit_id);
  c->reserved_target = target;
  auto act = c->actions.find(served.effect_id);
  if (act != c->actions.end()) GiveTarget(*c, act->second, target, fx);
  Assign(fx);
}

void CallRouter::GiveTarget(Call& c, Action& act, const std::string& target, Effects& fx) {
  if (act.waiting.route) {
    cv1::SwitchRequest req;
    const bool on_routing_point = c.routed_to.empty() && (c.state == "routing" || c.state == "queued");
    req.set_type(on_routing_point ? cv1::ROUTE : cv1::REDIRECT);
    req.set_target(target);
    SendRequest(c, std::move(req), Pending{.kind = Pending::kQueueRoute, .action = act.effect_id});
    return;
  }
  Value resource;
  resource.mutable_struct_value()->CopyFrom(
      Fields({{"target", Str(target)}, {"type", Str("agent")}, {"id", Str(target)}}));
  ActionDone(c, act,
             Fields({{"targetselected", Str(target)}, {"vqselected", Str(act.waiting.queue)}, {"resource", resource}}),
             fx);
}

void CallRouter::ReleaseReservation(Call& c, Effects& fx) {
  if (c.reserved_target.empty()) return;
  const std::string target = std::exchange(c.reserved_target, "");
  targets_.Unreserve(target, c.uuid);
  ReleaseInStore(target, c.uuid, fx);
}

void CallRouter::RenewReservations(int64_t now, Effects& fx) {
  const absl::Duration ttl = absl::Milliseconds(options_.reservation_ttl_ms);
  for (const ExpiredReservation& r : targets_.Expire(now)) {
    Call* c = FindCall(r.call);
    // Being routed there (a request without its result, or accepted and not
    // landed yet: an overloaded switch or link), or landed: letting the
    // reservation go would let a replica offer the target to another call
    // while it is not free. Kept, here and in the store.
    const bool routing = c != nullptr && !c->released && c->reserved_target == r.target &&
                         (c->routes_in_flight > 0 || c->routed_to == r.target);
    if (!r.landed && !routing) {
      targets_.Unreserve(r.target, r.call);
      if (c != nullptr && c->reserved_target == r.target) c->reserved_target.clear();
      log::Info("reservation expired", {{"target", r.target}, {"call", r.call}});
      continue;
    }
    targets_.Extend(r.target, r.call, now + options_.reservation_ttl_ms);
    if (metrics_) metrics_->Reservation("extended");
    fx.push_back([this, target = r.target, call = r.call, ttl] {
      run_blocking_([this, target, call, ttl] {
        absl::StatusOr<std::string> holder = store_->ReserveTarget(target, call, ttl);
        bool kept;
        {
          absl::MutexLock l(&mu_);
          const Target* t = targets_.Find(target);
          kept = t != nullptr && t->reserved_for == call;
          // Another holder has it (this one expired meanwhile): the store
          // decides, and extending it again would fail the same way.
          if (kept && holder.ok() && *holder != call) targets_.Unreserve(target, call);
        }
        if (!kept) {
          // Released here while the extension was on its way (the target
          // turned READY, the call ended): the extension must not outlive it.
          if (holder.ok() && *holder == call) StoreRelease(target, call);
          return;
        }
        if (!holder.ok() || *holder != call) {
          if (metrics_) metrics_->Reservation("extension_failed");
          log::Error("a kept reservation could not be extended; another replica may take the target",
                     {{"target", target}, {"call", call},
                      {"holder", holder.ok() ? *holder : holder.status().ToString()}});
        }
      });
    });
  }
}

void CallRouter::ReleaseInStore(const std::string& target, const std::string& holder, Effects& fx) {
  fx.push_back([this, target, holder] { run_blocking_([this, target, holder] { StoreRelease(target, holder); }); });
}

void CallRouter::StoreRelease(const std::string& target, const std::string& holder) {
  if (absl::StatusOr<bool> r = store_->ReleaseTarget(target, holder); !r.ok()) {
    if (metrics_) metrics_->StoreError("release_target");
    log::Warn("reservation not released (it expires)", {{"target", target}, {"error", r.status().ToString()}});
  }
}

void CallRouter::EndSubmits(Call& c) {
  for (const std::string& id : waiting_.OfCall(c.uuid)) waiting_.Remove(id);
}

absl::Status CallRouter::OnTarget(Adapter& a, const cv1::TargetEvent& e, Effects& fx) {
  if (metrics_) metrics_->Event("target");
  if (e.target().empty()) {
    Reject(a, e.seq(), "missing_target", "the TargetEvent names no target");
    return absl::OkStatus();
  }
  const TargetChange change = targets_.Apply(e, clock_->NowMs());
  bool given_up = false;
  if (!change.left.empty()) {
    Call* c = FindCall(change.left);
    const bool ours = c != nullptr && c->reserved_target == e.target();
    if (ours && !c->released && (c->routes_in_flight > 0 || c->routed_to == e.target())) {
      // The call is on its way there: the switch's answer or the call's
      // landing decides, not an event that may predate the route (a lagging
      // link). Dropping it now would let a lagging replica take the agent.
      log::Info("a reserved target left while its call is routed there; the reservation stays",
                {{"target", e.target()}, {"call", change.left}, {"state", cv1::TargetState_Name(e.state())}});
    } else {
      given_up = true;
      targets_.Unreserve(e.target(), change.left);
      if (metrics_) metrics_->Reservation("target_gone");
      log::Warn("a reserved target left; its reservation is dropped",
                {{"target", e.target()}, {"call", change.left}, {"state", cv1::TargetState_Name(e.state())}});
      if (ours) c->reserved_target.clear();
      ReleaseInStore(e.target(), change.left, fx);
    }
  }
  if (!change.landed.empty()) {
    // The reservation now belongs to the target until it is READY again:
    // the call's end no longer releases it.
    Call* c = FindCall(change.landed);
    if (c != nullptr && c->reserved_target == e.target()) c->reserved_target.clear();
  }
  Processed(a.id, e.seq());
  // Only a READY target (or a reservation given up) can serve a waiting call.
  if (e.state() == cv1::READY || given_up) Assign(fx);
  if (!change.freed.empty()) {
    if (metrics_) metrics_->Reservation("freed");
    // Not taken by this replica's waiting calls: released on its own.
    if (std::string owed = targets_.TakeOwedRelease(e.target()); !owed.empty()) {
      ReleaseInStore(e.target(), owed, fx);
    }
  }
  return absl::OkStatus();
}

}  // namespace orch::call_watcher
