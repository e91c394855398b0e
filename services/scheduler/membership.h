#pragma once

// Membership: how scheduler replicas share the buckets of timers, with no
// coordinator. Each replica holds one member slot, a lease
// "scheduler:member:<i>" (i < max_replicas) in persistence-proxy, renewed
// every ttl/3. It reads every slot's lease every ttl/4 to learn the live
// replicas, and polls the buckets whose rendezvous hash (FNV-1a of bucket
// and slot) it wins among them. When a replica dies its lease runs out and
// the others take its buckets within ttl + ttl/4; when one joins, each
// moves only the buckets the newcomer wins. While views differ, a bucket may
// be polled by two replicas (harmless: claims are atomic in the store) or
// by none for at most ttl + ttl/4 (the claim timeout covers what was
// claimed).
//
// Driven by Tick(), which blocks on the store (a few calls when something
// is due, none otherwise); time from the injected clock (monotonic), so
// unit tests drive it with a SimulatedClock. Not thread-safe except for the
// readers (OwnedBuckets, Snapshot), which may run beside Tick.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/time/clock.h"
#include "services/scheduler/timer_store.h"

namespace orch::scheduler {

struct MembershipOptions {
  int buckets = 16;
  int max_replicas = 16;
  int64_t ttl_ms = 2000;
  std::string holder;     // unique per process instance
  std::string endpoint;   // where this replica serves (shown in the lease)
};

struct MembershipView {
  int slot = -1;                  // -1: none held (all taken, or the store is down)
  std::vector<int> live_slots;    // ascending, this replica's included
  std::vector<int> buckets;       // ascending
};

class Membership {
 public:
  Membership(TimerStore* store, time::Clock* clock, MembershipOptions options);

  // Acquires or renews this replica's slot and re-reads the others' when
  // due. Answers whether the owned buckets changed.
  bool Tick();
  // Gives the slot up (a clean stop), so that others take the buckets at
  // their next read rather than after the TTL.
  void Leave();

  MembershipView Snapshot() const ABSL_LOCKS_EXCLUDED(mu_);

  // The buckets `slot` wins among `live` (rendezvous hashing).
  static std::vector<int> BucketsOf(int slot, const std::vector<int>& live, int buckets);
  static std::string SlotLease(int slot);

 private:
  void Acquire();
  void Renew();
  void ReadSlots();

  TimerStore* const store_;
  time::Clock* const clock_;
  const MembershipOptions options_;
  int64_t next_renew_ = 0;
  int64_t next_read_ = 0;
  uint64_t epoch_ = 0;
  bool warned_full_ = false;   // "no free slot" said once until a slot is held

  mutable absl::Mutex mu_;
  MembershipView view_ ABSL_GUARDED_BY(mu_);
};

}  // namespace orch::scheduler
