#pragma once

// The node lease "node:<id>" and this instance's role, as a state machine
// driven by Tick(): no thread of its own, time from an injected Clock, so
// expiry, fencing and a zombie primary are unit-tested by advancing a
// SimulatedClock (node_lease_test.cc). The engine's lease thread calls
// Tick() and sleeps until the time it returns.
//
//   kStarting --Begin--> kStandby --acquired--> kPrimary --Fence--> kFenced -> kStandby
//                            ^   held by another          |
//                            +----------------------------+ (a later Tick acquires again)
//   any --BeginStop--> kStopped
//
// - Standby: Tick() tries to acquire; held by another → it remembers the
//   holder's endpoint (named in every refusal) and retries soon: after
//   min(renew, max(100 ms, ttl/10)), or just after the holder's lease runs
//   out when that comes first.
// - Primary: Tick() renews. Each acquisition has a new epoch; every write
//   carries it. The lease is trusted locally until the start of the last
//   successful renewal + 0.9 × ttl: CheckWritable() refuses after that even
//   if no renewal has failed yet (a primary paused by SIGSTOP must not write
//   on resuming).
// - A renewal refused (ABORTED/NOT_FOUND) → acquire again: got it (it
//   expired while the store was unreachable and nobody took it) →
//   Listener::OnReacquired (a new epoch; persistent sessions must be re-read);
//   otherwise fenced.
// - A renewal failing otherwise (store unreachable) → keep the role; writes
//   stop by themselves once the lease may have run out.
// - Fence(why), from any thread (a write refused with ABORTED): stops
//   serving at once and tells the listener; the next Tick() is a standby's.
//
// Thread-safe. Listener callbacks run on the thread that calls Tick() or
// Fence(), with no lock of NodeLease held.

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/time/clock.h"
#include "services/session_engine/lease_store.h"

namespace orch::session_engine {

class NodeLease {
 public:
  enum class Role { kStarting, kStandby, kPrimary, kFenced, kStopped };

  struct Options {
    int node_id = 1;
    std::string instance_id;   // the lease holder
    std::string endpoint;      // advertised in the lease
    uint32_t ttl_ms = 5000;
    uint32_t renew_ms = 1000;
  };

  class Listener {
   public:
    virtual ~Listener() = default;
    // Became primary with this epoch: start serving.
    virtual void OnPrimary(uint64_t epoch) = 0;
    // Still primary, with a new epoch, after the lease had expired: other
    // primaries may have run persistent sessions in between.
    virtual void OnReacquired(uint64_t old_epoch, uint64_t epoch) = 0;
    // No longer primary: stop serving, every session in memory belongs to
    // the new primary.
    virtual void OnDeposed(const std::string& why) = 0;
  };

  // `store`, `clock` and `listener` must outlive the lease.
  NodeLease(Options options, LeaseStore* store, time::Clock* clock, Listener* listener);

  // kStarting → kStandby: Tick() may now acquire.
  void Begin();
  // One step (a store call): renew or acquire. Returns the monotonic time
  // (ms) of the next step. Does nothing once stopped.
  int64_t Tick();
  // Stops serving now (see above). Only a primary can be fenced.
  void Fence(const std::string& why);
  // → kStopped. Returns true when it was primary: it may still write until
  // the lease runs out (last snapshots), then should Release().
  bool BeginStop();
  // Releases the lease (after BeginStop returned true). Best effort.
  void Release();

  // OK when primary; UNAVAILABLE naming the primary's endpoint otherwise.
  absl::Status CheckServing() const;
  // OK when primary (or stopping after being primary) and the lease cannot
  // have run out; UNAVAILABLE otherwise.
  absl::Status CheckWritable() const;

  Role role() const { return role_.load(); }
  bool primary() const { return role_.load() == Role::kPrimary; }
  uint64_t epoch() const { return epoch_.load(); }
  // Increments on every change of role or epoch: work started for one
  // generation (proactive recovery) stops when it changes.
  uint64_t generation() const { return generation_.load(); }
  std::string name() const;

 private:
  absl::Status NotServing() const;
  void BecomePrimary(uint64_t epoch, int64_t renewed_at);
  void SetPrimaryEndpoint(const std::string& endpoint);

  const Options options_;
  LeaseStore* const store_;
  time::Clock* const clock_;
  Listener* const listener_;

  std::atomic<Role> role_{Role::kStarting};
  std::atomic<uint64_t> epoch_{0};
  std::atomic<int64_t> valid_until_ms_{0};  // monotonic
  std::atomic<uint64_t> generation_{0};
  mutable absl::Mutex mu_;
  std::string primary_endpoint_ ABSL_GUARDED_BY(mu_);
};

}  // namespace orch::session_engine
