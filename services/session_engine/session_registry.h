#pragma once

// The sessions this node holds in memory, as every thread shares them: one
// SessionEntry per session (what is needed to append its next input), found
// or activated from the store on demand, with a bounded set of the effect
// ids it has received (de-duplication).
//
// Locks: the registry's map lock is never held while waiting for an entry's
// lock. An entry's `mu` serializes the appends of that session, so log order
// = queue order; it is held across the append and the post to the worker.
//
//   ASSIGN_OR_RETURN(auto locked, registry.FindOrActivate(id, activate));
//   SessionEntry& e = locked.entry();   // e.mu held until `locked` goes
//
// Thread-safe.

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace orch::session_engine {

// The latest effect ids a session received, oldest first. Thread-safe (its
// own lock: a worker snapshotting never waits for an appender).
class RecentEffectIds {
 public:
  static constexpr size_t kCapacity = 1024;
  bool Contains(const std::string& id) const;
  // Ignores "" and ids already present; forgets the oldest beyond kCapacity.
  void Remember(const std::string& id);
  std::vector<std::string> InOrder() const;

 private:
  mutable absl::Mutex mu_;
  std::deque<std::string> order_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> ids_ ABSL_GUARDED_BY(mu_);
};

struct SessionEntry {
  SessionEntry(std::string id_, int worker_) : id(std::move(id_)), worker(worker_) {}

  const std::string id;
  const int worker;
  absl::Mutex mu;
  // Started or restored on its worker. An entry that is not ready is
  // activated by the next FindOrActivate.
  bool ready ABSL_GUARDED_BY(mu) = false;
  std::string document_sha256 ABSL_GUARDED_BY(mu);
  uint64_t last_seq ABSL_GUARDED_BY(mu) = 0;
  int64_t last_time_ms ABSL_GUARDED_BY(mu) = 0;  // append_time of the last entry (wall)
  // Set before the entry is ready; read without `mu` by DropAll.
  std::atomic<bool> persistent{false};
  // No longer in the registry: holders of a stale pointer look it up again.
  std::atomic<bool> dead{false};
  // Inputs posted to the worker and not applied yet.
  std::atomic<int> pending{0};
  RecentEffectIds effects;
  // An asynchronous append is in flight (SessionWriter::BeginAsync..EndAsync):
  // other writers wait until it ends (Engine::Find awaits NotWriting).
  bool writing ABSL_GUARDED_BY(mu) = false;
  bool NotWriting() const ABSL_NO_THREAD_SAFETY_ANALYSIS { return !writing; }
};

class SessionRegistry {
 public:
  // An entry with its `mu` held (move-only); unlocks when destroyed.
  class Locked {
   public:
    Locked() = default;
    Locked(Locked&& o) noexcept : entry_(std::move(o.entry_)), held_(o.held_), activated_(o.activated_) {
      o.held_ = false;
    }
    Locked& operator=(Locked&& o) noexcept;
    ~Locked() { Unlock(); }
    SessionEntry& entry() const { return *entry_; }
    const std::shared_ptr<SessionEntry>& shared() const { return entry_; }
    // Activated (restored from the store) by this call.
    bool activated() const { return activated_; }
    void Unlock();

   private:
    friend class SessionRegistry;
    Locked(std::shared_ptr<SessionEntry> e, bool activated);
    std::shared_ptr<SessionEntry> entry_;
    bool held_ = false;
    bool activated_ = false;
  };

  // Restores a session into a new (or not ready) entry, `entry.mu` held.
  // On error it must leave nothing behind on the worker.
  using Activate = absl::FunctionRef<absl::Status(const std::shared_ptr<SessionEntry>& entry)>;

  SessionRegistry(size_t max_sessions, std::function<int(const std::string&)> worker_of)
      : max_sessions_(max_sessions), worker_of_(std::move(worker_of)) {}

  // The session's entry, locked; activated first when it is not in memory.
  // `check` runs before each attempt (the node must still be serving).
  // RESOURCE_EXHAUSTED at the limit, `activate`'s error, UNAVAILABLE when
  // the entry kept being replaced (moved, dropped) under the caller.
  absl::StatusOr<Locked> FindOrActivate(const std::string& id, Activate activate,
                                        absl::FunctionRef<absl::Status()> check);
  // A new entry for a start, locked and not ready. ALREADY_EXISTS when the
  // id is in memory, RESOURCE_EXHAUSTED at the limit.
  absl::StatusOr<Locked> Create(const std::string& id);
  // Removes `entry` (if it is still the one registered) and marks it dead.
  void Remove(const std::shared_ptr<SessionEntry>& entry);
  // Removes every entry (or only persistent ones) and marks them dead.
  std::vector<std::shared_ptr<SessionEntry>> DropAll(bool persistent_only);

  bool Contains(const std::string& id) const;
  // The entry in memory for `id` (not locked, maybe not ready), or null.
  std::shared_ptr<SessionEntry> Get(const std::string& id) const;
  size_t size() const;
  // Ids of the in-memory-only sessions, sorted.
  std::vector<std::string> VolatileIds() const;

 private:
  const size_t max_sessions_;
  const std::function<int(const std::string&)> worker_of_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<SessionEntry>> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace orch::session_engine
