#pragma once

// What call-watcher knows of the targets (agent DNs) and of the calls that
// wait for one (queue:submit). Pure logic on times given by the caller; not
// thread-safe (the owner, CallRouter, holds its lock around every call).
//
// - TargetBoard: each target's state from the adapters' TargetEvents, the
//   time it became READY (longest-idle first), and this replica's view of
//   reservations: its own (won through CallStore::ReserveTarget) and
//   attempts in flight, so one replica never tries one target for two calls
//   at once. Another replica's reservation is only learnt by losing a
//   ReserveTarget; the target is then skipped until its next event or
//   `lost_until_ms`. A reservation whose call landed on the target is kept
//   (it belongs to the target from then on, not to the call) until this
//   replica sees the target READY again, so a replica whose target events
//   lag finds the agent reserved in the store for as long as it is busy.
// - WaitingQueue: waiting submits, highest priority first, then oldest.

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "orch/calls/v1/calls.pb.h"

namespace orch::call_watcher {

namespace cv1 = ::orch::calls::v1;

struct Target {
  cv1::TargetState state = cv1::LOGGED_OUT;
  std::string call_uuid;          // BUSY
  int64_t ready_since_ms = 0;     // wall ms it became READY
  std::string reserved_for;       // this replica's reservation (won) or attempt (pending)
  bool reservation_pending = false;
  int64_t reserved_until_ms = 0;  // monotonic; 0 while pending
  int64_t held_elsewhere_until_ms = 0;  // monotonic: lost a ReserveTarget to another replica
  bool landed = false;            // reserved_for's call reached the target: kept until READY again
  std::string release_owed;       // a landed reservation freed here, not yet released in the store
};

// What a TargetEvent did to this replica's reservation of the target.
struct TargetChange {
  std::string left;     // reserved for this call, not landed, and the target left: the caller decides
  std::string landed;   // BUSY with this call, its reservation: landed now
  std::string freed;    // this landed call's reservation ended (READY again, logged out): dropped
};

struct ExpiredReservation {
  std::string target;
  std::string call;
  bool landed = false;
};

class TargetBoard {
 public:
  // Applies a TargetEvent (`now_wall_ms` when the event has no time).
  // Before its call lands, a reservation's target has `left` when it can no
  // longer take the call (logged out, not ready, busy with another call):
  // the reservation stays, for the caller to drop (Unreserve) or keep (its
  // call is on its way there and the event may be older than the route).
  // BUSY with the reserved call lands it. A landed reservation is `freed`
  // when the target turns READY (the call left it, wrap-up included) or
  // logs out; it stays through BUSY and NOT_READY (wrap-up), so no other
  // replica can give the agent away while it is not free. A freed
  // reservation is dropped here; releasing it in the store is the caller's
  // (it is noted for that: TakeOwedRelease).
  TargetChange Apply(const cv1::TargetEvent& e, int64_t now_wall_ms);

  // `call`'s reservation of `target` is kept past its call's landing; false
  // when `call` does not hold it here.
  bool Land(const std::string& target, const std::string& call);
  // The holder whose release in the store is owed for `target` (a landed
  // reservation freed by Apply), cleared; "" when none. Whoever takes it
  // releases it before anything else reserves the target in the store.
  std::string TakeOwedRelease(const std::string& target);

  // READY targets among `names` that are free (no reservation here, none
  // learnt elsewhere at `now_ms`), longest idle first; unknown names are
  // skipped.
  std::vector<std::string> Candidates(const std::vector<std::string>& names, int64_t now_ms) const;
  // The first of Candidates() (empty: none), in one pass over `names`
  // without building the list: what a queue:submit is given.
  std::string Best(const std::vector<std::string>& names, int64_t now_ms) const;

  // A ReserveTarget for `call` is in flight.
  void BeginReserve(const std::string& target, const std::string& call);
  // Its answer: won (until `until_ms`), or lost to another holder (skip
  // the target until `retry_ms`). Ignored when the attempt is no longer
  // the target's (the target changed meanwhile); returns whether it was.
  bool EndReserve(const std::string& target, const std::string& call, bool won, int64_t until_ms, int64_t retry_ms);
  // Drops `call`'s reservation or attempt of `target` (landed or not);
  // false when it had none.
  bool Unreserve(const std::string& target, const std::string& call);
  // Won reservations whose time passed at `now_ms`. They stay: the caller
  // extends (Extend) or drops (Unreserve) each.
  std::vector<ExpiredReservation> Expire(int64_t now_ms) const;
  // `call`'s won reservation of `target` now lasts until `until_ms`; false
  // when `call` does not hold it.
  bool Extend(const std::string& target, const std::string& call, int64_t until_ms);

  const Target* Find(const std::string& target) const;
  const absl::flat_hash_map<std::string, Target>& all() const { return targets_; }   // unordered

 private:
  absl::flat_hash_map<std::string, Target> targets_;
};

struct Waiting {
  std::string call_uuid;
  std::string effect_id;           // the submit action's
  std::string request_id;          // the submit's
  int priority = 0;
  uint64_t order = 0;              // arrival order
  int64_t enqueued_ms = 0;         // monotonic
  int64_t deadline_ms = 0;         // monotonic; 0 = none
  std::vector<std::string> targets;   // agent DNs, groups expanded, in the submit's order
  size_t targets_hash = 0;         // of `targets`: equal lists share the answer of one search
  bool route = false;              // route="true": route before .done
  std::string queue;               // the VQ name (vqselected)
  bool reserving = false;          // a ReserveTarget is in flight for it
};

class WaitingQueue {
 public:
  // Adds `w` (its `order` is set here).
  void Add(Waiting w);
  // Removes the submit `request_id`; false when absent.
  bool Remove(const std::string& request_id);
  Waiting* Find(const std::string& request_id);
  // Submits of `call_uuid`.
  std::vector<std::string> OfCall(const std::string& call_uuid) const;
  // Request ids in serving order: priority (higher first), then arrival.
  std::vector<std::string> InOrder() const;
  // The waiting submits in order (valid until one is added or removed).
  std::vector<Waiting*> Ordered();
  // Request ids whose deadline passed at `now_ms`.
  std::vector<std::string> Expired(int64_t now_ms) const;
  size_t size() const { return by_id_.size(); }

 private:
  uint64_t next_order_ = 0;
  absl::flat_hash_map<std::string, Waiting> by_id_;
  std::set<std::tuple<int, uint64_t, std::string>> order_;   // (-priority, order, id)
};

}  // namespace orch::call_watcher
