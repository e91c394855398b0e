#include "services/session_engine/session_registry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace orch::session_engine {

namespace {
// Attempts of FindOrActivate when the entry found is dropped under it.
constexpr int kFindAttempts = 5;
}  // namespace

bool RecentEffectIds::Contains(const std::string& id) const {
  absl::MutexLock l(&mu_);
  return ids_.contains(id);
}

void RecentEffectIds::Remember(const std::string& id) {
  absl::MutexLock l(&mu_);
  if (id.empty() || !ids_.insert(id).second) return;
  order_.push_back(id);
  while (order_.size() > kCapacity) {
    ids_.erase(order_.front());
    order_.pop_front();
  }
}

std::vector<std::string> RecentEffectIds::InOrder() const {
  absl::MutexLock l(&mu_);
  return {order_.begin(), order_.end()};
}

SessionRegistry::Locked::Locked(std::shared_ptr<SessionEntry> e, bool activated)
    : entry_(std::move(e)), held_(true), activated_(activated) {}

SessionRegistry::Locked& SessionRegistry::Locked::operator=(Locked&& o) noexcept {
  if (this != &o) {
    Unlock();
    entry_ = std::move(o.entry_);
    held_ = o.held_;
    activated_ = o.activated_;
    o.held_ = false;
  }
  return *this;
}

void SessionRegistry::Locked::Unlock() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  if (!held_) return;
  held_ = false;
  entry_->mu.Unlock();
}

absl::StatusOr<SessionRegistry::Locked> SessionRegistry::FindOrActivate(const std::string& id, Activate activate,
                                                                        absl::FunctionRef<absl::Status()> check)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  for (int attempt = 0; attempt < kFindAttempts; ++attempt) {
    if (absl::Status s = check(); !s.ok()) return s;
    std::shared_ptr<SessionEntry> e;
    bool fresh = false;
    {
      absl::MutexLock l(&mu_);
      auto it = entries_.find(id);
      if (it != entries_.end()) e = it->second;
    }
    if (e == nullptr) {
      // A new entry is locked before it is published, so that others wait
      // until it is restored; the map's lock is never held while taking an
      // entry's.
      auto created = std::make_shared<SessionEntry>(id, worker_of_(id));
      created->mu.Lock();
      absl::MutexLock l(&mu_);
      auto it = entries_.find(id);
      if (it != entries_.end()) {
        created->mu.Unlock();
        e = it->second;
      } else if (entries_.size() >= max_sessions_) {
        created->mu.Unlock();
        return absl::ResourceExhaustedError(absl::StrCat("this node holds the most sessions it may keep in memory (",
                                                         max_sessions_, ")"));
      } else {
        entries_.emplace(id, created);
        e = std::move(created);
        fresh = true;
      }
    }
    if (!fresh) e->mu.Lock();
    Locked locked(e, false);
    if (e->dead) continue;  // unlocks
    if (fresh || !e->ready) {
      absl::Status st = activate(e);
      if (!st.ok()) {
        Remove(e);
        return st;
      }
      e->ready = true;
      locked.activated_ = true;
    }
    return locked;
  }
  return absl::UnavailableError(absl::StrCat("session ", id, " is being moved; retry"));
}

absl::StatusOr<SessionRegistry::Locked> SessionRegistry::Create(const std::string& id)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  auto e = std::make_shared<SessionEntry>(id, worker_of_(id));
  e->mu.Lock();
  Locked locked(e, false);
  absl::MutexLock l(&mu_);
  if (entries_.size() >= max_sessions_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("this node holds ", entries_.size(), " sessions in memory (limit ", max_sessions_, ")"));
  }
  if (!entries_.try_emplace(id, e).second) return absl::AlreadyExistsError(absl::StrCat("session ", id, " exists"));
  return locked;
}

void SessionRegistry::Remove(const std::shared_ptr<SessionEntry>& entry) {
  entry->dead = true;
  absl::MutexLock l(&mu_);
  auto it = entries_.find(entry->id);
  if (it != entries_.end() && it->second == entry) entries_.erase(it);
}

std::vector<std::shared_ptr<SessionEntry>> SessionRegistry::DropAll(bool persistent_only) {
  std::vector<std::shared_ptr<SessionEntry>> dropped;
  {
    absl::MutexLock l(&mu_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (persistent_only && !it->second->persistent) {
        ++it;
        continue;
      }
      dropped.push_back(it->second);
      entries_.erase(it++);
    }
  }
  for (auto& e : dropped) e->dead = true;  // holders re-check under e->mu
  return dropped;
}

std::shared_ptr<SessionEntry> SessionRegistry::Get(const std::string& id) const {
  absl::MutexLock l(&mu_);
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : it->second;
}

bool SessionRegistry::Contains(const std::string& id) const {
  absl::MutexLock l(&mu_);
  return entries_.contains(id);
}

size_t SessionRegistry::size() const {
  absl::MutexLock l(&mu_);
  return entries_.size();
}

std::vector<std::string> SessionRegistry::VolatileIds() const {
  std::vector<std::string> ids;
  {
    absl::MutexLock l(&mu_);
    for (const auto& [id, e] : entries_) {
      if (!e->persistent) ids.push_back(id);
    }
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace orch::session_engine
