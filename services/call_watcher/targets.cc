#include "services/call_watcher/targets.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"

namespace orch::call_watcher {

namespace {
void Drop(Target& t) {
  t.reserved_for.clear();
  t.reservation_pending = false;
  t.reserved_until_ms = 0;
  t.landed = false;
}
}  // namespace

TargetChange TargetBoard::Apply(const cv1::TargetEvent& e, int64_t now_wall_ms) {
  Target& t = targets_[e.target()];
  const int64_t at = e.time_unix_ms() != 0 ? e.time_unix_ms() : now_wall_ms;
  const bool was_ready = t.state == cv1::READY;
  if (e.state() == cv1::READY && !was_ready) t.ready_since_ms = at;
  t.state = e.state();
  t.call_uuid = e.state() == cv1::BUSY ? e.call_uuid() : "";
  t.held_elsewhere_until_ms = 0;   // news of the target: worth trying again
  TargetChange change;
  if (t.reserved_for.empty()) return change;
  if (t.landed) {
    // A READY repeated without a change (the call not seen on the target
    // yet) frees nothing: only a READY that follows the call does.
    if ((e.state() == cv1::READY && !was_ready) || e.state() == cv1::LOGGED_OUT) {
      change.freed = t.reserved_for;
      t.release_owed = t.reserved_for;
      Drop(t);
    }
    return change;
  }
  if (e.state() == cv1::BUSY && e.call_uuid() == t.reserved_for && !t.reservation_pending) {
    change.landed = t.reserved_for;
    t.landed = true;
  } else if (e.state() != cv1::READY) {
    change.left = t.reserved_for;
  }
  return change;
}

bool TargetBoard::Land(const std::string& target, const std::string& call) {
  auto it = targets_.find(target);
  if (it == targets_.end() || it->second.reserved_for != call || it->second.reservation_pending) return false;
  it->second.landed = true;
  return true;
}

std::string TargetBoard::TakeOwedRelease(const std::string& target) {
  auto it = targets_.find(target);
  return it == targets_.end() ? std::string() : std::exchange(it->second.release_owed, "");
}

namespace {
bool Free(const Target& t, int64_t now_ms) {
  return t.state == cv1::READY && t.reserved_for.empty() && t.held_elsewhere_until_ms <= now_ms;
}
}  // namespace

std::vector<std::string> TargetBoard::Candidates(const std::vector<std::string>& names, int64_t now_ms) const {
  std::vector<std::pair<int64_t, std::string>> ready;
  absl::flat_hash_set<std::string> seen;
  for (const std::string& n : names) {
    auto it = targets_.find(n);
    if (it == targets_.end() || !Free(it->second, now_ms) || !seen.insert(n).second) continue;
    ready.emplace_back(it->second.ready_since_ms, n);
  }
  std::stable_sort(ready.begin(), ready.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (auto& r : ready) out.push_back(std::move(r.second));
  return out;
}

std::string TargetBoard::Best(const std::vector<std::string>& names, int64_t now_ms) const {
  const std::string* best = nullptr;
  int64_t since = 0;
  for (const std::string& n : names) {
    auto it = targets_.find(n);
    if (it == targets_.end() || !Free(it->second, now_ms)) continue;
    if (best == nullptr || it->second.ready_since_ms < since) {  // ties: the first named
      best = &it->first;
      since = it->second.ready_since_ms;
    }
  }
  return best == nullptr ? std::string() : *best;
}

void TargetBoard::BeginReserve(const std::string& target, const std::string& call) {
  Target& t = targets_[target];
  t.reserved_for = call;
  t.reservation_pending = true;
  t.reserved_until_ms = 0;
  t.landed = false;
}

bool TargetBoard::EndReserve(const std::string& target, const std::string& call, bool won, int64_t until_ms,
                             int64_t retry_ms) {
  auto it = targets_.find(target);
  if (it == targets_.end()) return false;
  Target& t = it->second;
  if (t.reserved_for != call || !t.reservation_pending) return false;
  t.reservation_pending = false;
  if (won) {
    t.reserved_until_ms = until_ms;
  } else {
    t.reserved_for.clear();
    t.held_elsewhere_until_ms = retry_ms;
  }
  return true;
}

bool TargetBoard::Unreserve(const std::string& target, const std::string& call) {
  auto it = targets_.find(target);
  if (it == targets_.end() || it->second.reserved_for != call) return false;
  Drop(it->second);
  return true;
}

std::vector<ExpiredReservation> TargetBoard::Expire(int64_t now_ms) const {
  std::vector<ExpiredReservation> out;
  for (const auto& [name, t] : targets_) {
    if (!t.reserved_for.empty() && !t.reservation_pending && t.reserved_until_ms <= now_ms) {
      out.push_back({.target = name, .call = t.reserved_for, .landed = t.landed});
    }
  }
  return out;
}

bool TargetBoard::Extend(const std::string& target, const std::string& call, int64_t until_ms) {
  auto it = targets_.find(target);
  if (it == targets_.end() || it->second.reserved_for != call || it->second.reservation_pending) return false;
  it->second.reserved_until_ms = until_ms;
  return true;
}

const Target* TargetBoard::Find(const std::string& target) const {
  auto it = targets_.find(target);
  return it == targets_.end() ? nullptr : &it->second;
}

void WaitingQueue::Add(Waiting w) {
  w.order = next_order_++;
  order_.emplace(-w.priority, w.order, w.request_id);
  std::string id = w.request_id;
  by_id_[id] = std::move(w);
}

bool WaitingQueue::Remove(const std::string& request_id) {
  auto it = by_id_.find(request_id);
  if (it == by_id_.end()) return false;
  order_.erase({-it->second.priority, it->second.order, request_id});
  by_id_.erase(it);
  return true;
}

Waiting* WaitingQueue::Find(const std::string& request_id) {
  auto it = by_id_.find(request_id);
  return it == by_id_.end() ? nullptr : &it->second;
}

std::vector<std::string> WaitingQueue::OfCall(const std::string& call_uuid) const {
  std::vector<std::string> out;
  for (const auto& [id, w] : by_id_) {
    if (w.call_uuid == call_uuid) out.push_back(id);
  }
  return out;
}

std::vector<Waiting*> WaitingQueue::Ordered() {
  std::vector<Waiting*> out;
  out.reserve(order_.size());
  for (const auto& [p, o, id] : order_) out.push_back(&by_id_.at(id));
  return out;
}

std::vector<std::string> WaitingQueue::InOrder() const {
  std::vector<std::string> out;
  out.reserve(order_.size());
  for (const auto& [p, o, id] : order_) out.push_back(id);
  return out;
}

std::vector<std::string> WaitingQueue::Expired(int64_t now_ms) const {
  std::vector<std::string> out;
  for (const auto& [p, o, id] : order_) {
    const Waiting& w = by_id_.at(id);
    if (w.deadline_ms != 0 && w.deadline_ms <= now_ms) out.push_back(id);
  }
  return out;
}

}  // namespace orch::call_watcher
