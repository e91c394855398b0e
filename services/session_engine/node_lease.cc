#include "services/session_engine/node_lease.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/log/log.h"
#include "common/sessionapi/session_id.h"

namespace orch::session_engine {

namespace {
// How often an unreachable store is retried, and a primary's renewal while
// the store does not answer.
constexpr int64_t kUnreachableRetryMs = 500;
constexpr int64_t kPrimaryRetryMs = 200;
}  // namespace

NodeLease::NodeLease(Options options, LeaseStore* store, time::Clock* clock, Listener* listener)
    : options_(std::move(options)), store_(store), clock_(clock), listener_(listener) {}

std::string NodeLease::name() const { return sessionapi::NodeLeaseName(options_.node_id); }

void NodeLease::Begin() {
  Role expected = Role::kStarting;
  role_.compare_exchange_strong(expected, Role::kStandby);
}

int64_t NodeLease::Tick() {
  const int64_t started = clock_->MonotonicMs();
  const Role role = role_.load();
  if (role == Role::kStopped || role == Role::kStarting) return started + options_.renew_ms;
  const std::string lease = name();
  const int64_t valid_until = started + int64_t{options_.ttl_ms} * 9 / 10;

  if (role == Role::kPrimary) {
    absl::Status s = store_->RenewLease(lease, options_.instance_id, epoch_.load(), options_.ttl_ms);
    if (s.ok()) {
      valid_until_ms_ = valid_until;
      return started + options_.renew_ms;
    }
    if (s.code() != absl::StatusCode::kAborted && s.code() != absl::StatusCode::kNotFound) {
      // Unreachable: keep serving in-memory sessions; writes stop by
      // themselves once the lease may have run out (CheckWritable).
      return started + std::min<int64_t>(options_.renew_ms, kPrimaryRetryMs);
    }
    // Not ours any more. If nobody took it meanwhile it can be ours again.
    auto r = store_->AcquireLease(lease, options_.instance_id, options_.endpoint, options_.ttl_ms);
    if (r.ok() && r->acquired && role_.load() == Role::kPrimary) {
      valid_until_ms_ = valid_until;
      const uint64_t old = epoch_.exchange(r->epoch);
      ++generation_;
      log::Warn("the node lease had expired; acquired it again", {{"old_epoch", old}, {"epoch", r->epoch}});
      listener_->OnReacquired(old, r->epoch);
      return started + options_.renew_ms;
    }
    if (r.ok()) SetPrimaryEndpoint(r->endpoint);
    Fence(absl::StrCat("lease renewal refused: ", s.message()));
    return started;  // as a standby, at once
  }

  // Standby (or just fenced): try to take the lease.
  auto r = store_->AcquireLease(lease, options_.instance_id, options_.endpoint, options_.ttl_ms);
  if (!r.ok()) {
    log::Warn("cannot reach the lease store", {{"error", std::string(r.status().message())}});
    return started + kUnreachableRetryMs;
  }
  if (r->acquired) {
    BecomePrimary(r->epoch, valid_until);
    return started + options_.renew_ms;
  }
  {
    absl::MutexLock l(&mu_);
    if (primary_endpoint_ != r->endpoint) {
      log::Info("standby: the node lease is held", {{"holder", r->holder}, {"endpoint", r->endpoint}});
    }
    primary_endpoint_ = r->endpoint;
  }
  Role fenced = Role::kFenced;
  role_.compare_exchange_strong(fenced, Role::kStandby);
  int64_t next = started + std::min<int64_t>(options_.renew_ms, std::max<int64_t>(100, options_.ttl_ms / 10));
  // Sooner when the holder's lease runs out before that: a dead primary is
  // replaced as its lease expires, not up to one poll later.
  if (auto held = store_->GetLease(lease); held.ok() && held->holder == r->holder && held->remaining_ms > 0) {
    next = std::min<int64_t>(next, clock_->MonotonicMs() + held->remaining_ms + 1);
  }
  return next;
}

void NodeLease::BecomePrimary(uint64_t epoch, int64_t valid_until) {
  Role role = role_.load();
  if (role != Role::kStandby && role != Role::kFenced) return;  // stopping meanwhile
  valid_until_ms_ = valid_until;
  epoch_ = epoch;
  SetPrimaryEndpoint(options_.endpoint);
  ++generation_;
  if (!role_.compare_exchange_strong(role, Role::kPrimary)) return;
  log::Info("primary: acquired the node lease", {{"epoch", epoch}, {"endpoint", options_.endpoint}});
  listener_->OnPrimary(epoch);
}

void NodeLease::Fence(const std::string& why) {
  Role expected = Role::kPrimary;
  if (!role_.compare_exchange_strong(expected, Role::kFenced)) return;
  ++generation_;
  valid_until_ms_ = 0;
  log::Error("stopped serving: this instance is no longer the node's primary", {{"reason", why}});
  listener_->OnDeposed(why);
}

bool NodeLease::BeginStop() {
  const Role was = role_.exchange(Role::kStopped);
  ++generation_;
  return was == Role::kPrimary;
}

void NodeLease::Release() {
  absl::Status s = store_->ReleaseLease(name(), options_.instance_id, epoch_.load());
  if (s.ok()) {
    log::Info("released the node lease", {{"epoch", epoch_.load()}});
  } else {
    log::Warn("could not release the node lease (it expires by itself)", {{"error", std::string(s.message())}});
  }
}

void NodeLease::SetPrimaryEndpoint(const std::string& endpoint) {
  absl::MutexLock l(&mu_);
  primary_endpoint_ = endpoint;
}

absl::Status NodeLease::NotServing() const {
  if (role_.load() == Role::kStopped) return absl::UnavailableError("session-engine is shutting down");
  std::string primary;
  {
    absl::MutexLock l(&mu_);
    primary = primary_endpoint_;
  }
  return absl::UnavailableError(absl::StrCat(
      "this instance is a standby of node ", options_.node_id,
      primary.empty() || primary == options_.endpoint ? std::string(" (no primary yet)")
                                                      : absl::StrCat("; the primary is at ", primary)));
}

absl::Status NodeLease::CheckServing() const {
  if (role_.load() != Role::kPrimary) return NotServing();
  return absl::OkStatus();
}

absl::Status NodeLease::CheckWritable() const {
  const Role r = role_.load();
  if (r != Role::kPrimary && r != Role::kStopped) return NotServing();
  if (clock_->MonotonicMs() >= valid_until_ms_.load()) {
    return absl::UnavailableError("the node lease could not be renewed in time; not writing");
  }
  return absl::OkStatus();
}

}  // namespace orch::session_engine
