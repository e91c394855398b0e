#include "services/scheduler/membership.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/base/fnv1a.h"
#include "common/log/log.h"

namespace orch::scheduler {

Membership::Membership(TimerStore* store, time::Clock* clock, MembershipOptions options)
    : store_(store), clock_(clock), options_(std::move(options)) {}

std::string Membership::SlotLease(int slot) { return absl::StrCat("scheduler:member:", slot); }

std::vector<int> Membership::BucketsOf(int slot, const std::vector<int>& live, int buckets) {
  std::vector<int> out;
  if (slot < 0) return out;
  for (int b = 0; b < buckets; ++b) {
    int best = -1;
    uint64_t best_score = 0;
    for (int s : live) {
      const uint64_t score = Fnv1a64(absl::StrCat(b, "/", s));
      if (best < 0 || score > best_score || (score == best_score && s < best)) {
        best = s;
        best_score = score;
      }
    }
    if (best == slot) out.push_back(b);
  }
  return out;
}

bool Membership::Tick() {
  const int64_t now = clock_->MonotonicMs();
  const MembershipView before = Snapshot();
  // Without a slot: another try every ttl/3 (all taken, or the store down).
  if (now >= next_renew_) before.slot < 0 ? Acquire() : Renew();
  if (now >= next_read_) ReadSlots();
  return Snapshot().buckets != before.buckets;
}

void Membership::Acquire() {
  const int64_t now = clock_->MonotonicMs();
  for (int i = 0; i < options_.max_replicas; ++i) {
    pv1::AcquireLeaseRequest req;
    req.set_name(SlotLease(i));
    req.set_holder(options_.holder);
    req.set_endpoint(options_.endpoint);
    req.set_ttl_ms(static_cast<uint32_t>(options_.ttl_ms));
    auto r = store_->AcquireLease(req);
    if (!r.ok()) {
      next_renew_ = now + options_.ttl_ms / 4;
      return;
    }
    if (!r->acquired()) continue;
    epoch_ = r->epoch();
    next_renew_ = now + options_.ttl_ms / 3;
    next_read_ = 0;   // learn the others at once
    {
      absl::MutexLock l(&mu_);
      view_.slot = i;
    }
    log::Info("scheduler member slot acquired", {{"slot", i}, {"holder", options_.holder}});
    warned_full_ = false;
    return;
  }
  next_renew_ = now + options_.ttl_ms / 3;
  if (!warned_full_) {
    log::Warn("no free scheduler member slot: serving the API only until one frees",
              {{"max_replicas", options_.max_replicas}});
    warned_full_ = true;
  }
}

void Membership::Renew() {
  const int64_t now = clock_->MonotonicMs();
  const int slot = Snapshot().slot;
  pv1::RenewLeaseRequest req;
  req.set_name(SlotLease(slot));
  req.set_holder(options_.holder);
  req.set_epoch(epoch_);
  req.set_ttl_ms(static_cast<uint32_t>(options_.ttl_ms));
  absl::Status s = store_->RenewLease(req);
  if (s.ok()) {
    next_renew_ = now + options_.ttl_ms / 3;
    return;
  }
  if (s.code() == absl::StatusCode::kAborted) {
    // The lease ran out (this process stalled longer than the TTL): the
    // others have taken its buckets; take a slot again.
    log::Warn("scheduler member slot lost", {{"slot", slot}, {"error", std::string(s.message())}});
    absl::MutexLock l(&mu_);
    view_ = MembershipView();
    next_renew_ = now;
    return;
  }
  next_renew_ = now + options_.ttl_ms / 6;   // the store is down: try again soon
}

void Membership::ReadSlots() {
  const int64_t now = clock_->MonotonicMs();
  const int mine = Snapshot().slot;
  std::vector<int> live;
  for (int i = 0; i < options_.max_replicas; ++i) {
    if (i == mine) {
      live.push_back(i);
      continue;
    }
    pv1::GetLeaseRequest req;
    req.set_name(SlotLease(i));
    auto r = store_->GetLease(req);
    if (r.ok()) {
      live.push_back(i);
    } else if (r.status().code() != absl::StatusCode::kNotFound) {
      next_read_ = now + options_.ttl_ms / 8;   // keep the last view; try again soon
      return;
    }
  }
  next_read_ = now + options_.ttl_ms / 4;
  absl::MutexLock l(&mu_);
  if (view_.slot != mine) return;   // lost meanwhile
  view_.live_slots = live;
  view_.buckets = BucketsOf(mine, live, options_.buckets);
}

void Membership::Leave() {
  const int slot = Snapshot().slot;
  if (slot < 0) return;
  pv1::ReleaseLeaseRequest req;
  req.set_name(SlotLease(slot));
  req.set_holder(options_.holder);
  req.set_epoch(epoch_);
  (void)store_->ReleaseLease(req);
  absl::MutexLock l(&mu_);
  view_ = MembershipView();
}

MembershipView Membership::Snapshot() const {
  absl::MutexLock l(&mu_);
  return view_;
}

}  // namespace orch::scheduler
