#include "common/sessionapi/node_directory.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log/log.h"
#include "common/sessionapi/session_id.h"

namespace orch::sessionapi {

absl::StatusOr<std::unique_ptr<NodeDirectory>> NodeDirectory::Create(LeaseReader* reader, time::Clock* clock,
                                                                      NodeDirectoryOptions options) {
  if (options.refresh_interval < absl::Milliseconds(1)) {
    return absl::InvalidArgumentError(absl::StrCat("refresh_interval must be at least 1ms (got ",
                                                   absl::FormatDuration(options.refresh_interval), ")"));
  }
  if (options.unused_after < absl::Milliseconds(1)) {
    return absl::InvalidArgumentError(absl::StrCat("unused_after must be at least 1ms (got ",
                                                   absl::FormatDuration(options.unused_after), ")"));
  }
  for (int n : options.nodes) {
    if (n < 1) return absl::InvalidArgumentError(absl::StrCat("nodes: ", n, " is not a node id (1 or more)"));
  }
  return std::unique_ptr<NodeDirectory>(new NodeDirectory(reader, clock, std::move(options)));
}

NodeDirectory::NodeDirectory(LeaseReader* reader, time::Clock* clock, NodeDirectoryOptions options)
    : reader_(reader), clock_(clock), options_(std::move(options)) {
  std::vector<int> lookups;
  {
    absl::MutexLock lock(&mu_);
    for (int n : options_.nodes) {
      Entry& e = entries_[n];
      e.configured = true;
      if (MarkLookup(e)) lookups.push_back(n);
    }
  }
  for (int n : lookups) StartLookup(n);
  // The first round is due one interval after now, not after the thread
  // happens to start.
  const int64_t first_due = clock_->MonotonicMs() + absl::ToInt64Milliseconds(options_.refresh_interval);
  refresher_ = std::thread([this, first_due] { RefreshLoop(first_due); });
}

NodeDirectory::~NodeDirectory() { Shutdown(); }

void NodeDirectory::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    cv_.SignalAll();
  }
  if (refresher_.joinable()) refresher_.join();
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](int* in_flight) { return *in_flight == 0; }, &lookups_in_flight_));
}

bool NodeDirectory::MarkLookup(Entry& e) {
  if (e.lookup_in_flight) return false;
  e.lookup_in_flight = true;
  ++lookups_in_flight_;
  return true;
}

void NodeDirectory::StartLookup(int node) {
  reader_->ReadLease(NodeLeaseName(node),
                     [this, node](absl::StatusOr<Lease> lease) { OnLease(node, std::move(lease)); });
}

void NodeDirectory::OnLease(int node, absl::StatusOr<Lease> lease) {
  std::vector<RouteDone> waiters;
  absl::StatusOr<std::string> route;
  std::string moved_to;
  {
    absl::MutexLock lock(&mu_);
    Entry& e = entries_[node];
    e.lookup_in_flight = false;
    e.known = true;
    store_reachable_ = lease.ok();
    e.store_error = !lease.ok();
    if (lease.ok()) {
      const bool up = !lease->holder.empty() && !lease->endpoint.empty() && lease->remaining_ms > 0;
      if (up && !e.endpoint.empty() && lease->endpoint != e.endpoint) moved_to = lease->endpoint;
      if (up != e.up || (up && lease->endpoint != e.endpoint)) ++version_;
      e.up = up;
      if (up) e.endpoint = lease->endpoint;
      e.expires_ms = clock_->MonotonicMs() + std::max<int64_t>(0, lease->remaining_ms);
    }
    route = RouteOf(node, e);
    waiters.swap(e.waiters);
    // Last: once the count is 0, Shutdown may return and the directory go.
    // Waiters still run below, on their own captures only.
    --lookups_in_flight_;
  }
  if (!moved_to.empty()) {
    log::Info("node primary changed", {{"engine_node", absl::StrCat(node)}, {"endpoint", moved_to}});
  }
  for (auto& w : waiters) w(route);
}

absl::StatusOr<std::string> NodeDirectory::RouteOf(int node, const Entry& e) const {
  if (e.up) return e.endpoint;
  if (e.store_error) return absl::UnavailableError(absl::StrCat("cannot find node ", node, "'s primary now"));
  return absl::UnavailableError(absl::StrCat("node ", node, " has no primary"));
}

void NodeDirectory::Resolve(int node, RouteDone done) {
  absl::StatusOr<std::string> route;
  bool queued = false;
  bool lookup = false;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      route = absl::UnavailableError("the node directory is shut down");
    } else {
      Entry& e = entries_[node];
      const int64_t now = clock_->MonotonicMs();
      // Not refreshed while unused: look it up again before trusting it.
      if (!e.configured && now - e.last_used_ms > absl::ToInt64Milliseconds(options_.unused_after)) {
        e.known = false;
      }
      e.last_used_ms = now;
      if (!e.known) {
        e.waiters.push_back(std::move(done));
        queued = true;
        lookup = MarkLookup(e);
      } else {
        route = RouteOf(node, e);
      }
    }
  }
  if (!queued) return done(std::move(route));
  if (lookup) StartLookup(node);
}

void NodeDirectory::Refresh(int node, RouteDone done) {
  bool queued = false;
  bool lookup = false;
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      Entry& e = entries_[node];
      e.last_used_ms = clock_->MonotonicMs();
      e.waiters.push_back(std::move(done));
      queued = true;
      lookup = MarkLookup(e);
    }
  }
  if (!queued) return done(absl::UnavailableError("the node directory is shut down"));
  if (lookup) StartLookup(node);
}

NodeStatus NodeDirectory::Status(int node) {
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(node);
    if (it != entries_.end()) {
      const Entry& e = it->second;
      NodeStatus s{.up = e.up, .endpoint = e.endpoint};
      if (!e.store_error) {
        const int64_t left_ms = e.expires_ms - clock_->MonotonicMs();
        s.retry_after_s = static_cast<int>(std::max<int64_t>(1, (left_ms + 999) / 1000));
      }
      return s;
    }
    if (stopping_) return {};
    Entry& e = entries_[node];
    e.last_used_ms = clock_->MonotonicMs();
    MarkLookup(e);
  }
  StartLookup(node);
  return {};
}

bool NodeDirectory::StoreReachable() const {
  absl::MutexLock lock(&mu_);
  return store_reachable_;
}

uint64_t NodeDirectory::Version() const {
  absl::MutexLock lock(&mu_);
  return version_;
}

std::set<std::string> NodeDirectory::PrimaryEndpoints() const {
  absl::MutexLock lock(&mu_);
  std::set<std::string> out;
  for (const auto& [n, e] : entries_) {
    if (e.up) out.insert(e.endpoint);
  }
  return out;
}

void NodeDirectory::RefreshLoop(int64_t due) {
  const int64_t interval_ms = absl::ToInt64Milliseconds(options_.refresh_interval);
  const int64_t unused_ms = absl::ToInt64Milliseconds(options_.unused_after);
  mu_.Lock();
  while (!stopping_) {
    if (!clock_->WaitUntil(&cv_, &mu_, due)) continue;  // woken (Shutdown) or early: check again
    const int64_t now = clock_->MonotonicMs();
    due = now + interval_ms;
    std::vector<int> lookups;
    for (auto it = entries_.begin(); it != entries_.end();) {
      Entry& e = it->second;
      const bool in_use = e.configured || now - e.last_used_ms <= unused_ms;
      if (!in_use && !e.lookup_in_flight && e.waiters.empty()) {
        if (e.up) ++version_;
        it = entries_.erase(it);
        continue;
      }
      if (in_use && MarkLookup(e)) lookups.push_back(it->first);
      ++it;
    }
    mu_.Unlock();
    for (int n : lookups) StartLookup(n);
    mu_.Lock();
  }
  mu_.Unlock();
}

}  // namespace orch::sessionapi
