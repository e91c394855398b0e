#pragma once

// Where each node's primary serves, from its lease (NodeLeaseName(n),
// written by the session-engine that holds the node), read through a
// LeaseReader. Used by SessionsClient, so every process that calls another
// node's sessions follows takeovers the same way.
//
//   - A node seen for the first time is looked up at once; calls that need
//     it wait for that one read (Resolve queues them).
//   - The leases of `options.nodes`, and of any node used within
//     `unused_after`, are read again every `refresh_interval` in the
//     background, so a takeover is followed within that time. Other nodes
//     are forgotten: ids naming thousands of nodes must not make a process
//     poll thousands of leases. Their next use looks them up again.
//   - Refresh(n) reads node n's lease now (after a call to it failed).
//   - When the store cannot be read, the last known primary is kept (it is
//     probably still serving; if it lost its lease it refuses calls itself).
//
// Time (refresh timing, staleness, Retry-After) comes from the injected
// Clock, so tests drive it with a SimulatedClock.
//
// Threading: thread-safe. Callbacks (`RouteDone`) run either inline, before
// Resolve/Refresh return, when the answer is already known, or on the
// thread on which the LeaseReader answers; they run with no lock held and
// may call back into the directory. They must not block.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/sessionapi/lease_reader.h"
#include "common/time/clock.h"

namespace orch::sessionapi {

struct NodeDirectoryOptions {
  // Read from the start and refreshed for as long as the directory lives.
  std::vector<int> nodes;
  // How often the leases of nodes in use are read again (> 0).
  absl::Duration refresh_interval = absl::Milliseconds(500);
  // A node outside `nodes` not used for this long is no longer refreshed
  // and is forgotten (> 0).
  absl::Duration unused_after = absl::Minutes(1);
};

// What is known about a node now.
struct NodeStatus {
  bool up = false;          // a primary holds the node's lease
  std::string endpoint;     // where it serves (the last known one when down)
  int retry_after_s = 1;    // seconds left on the lease (at least 1): when a
                            // dead primary's node can be taken over
};

class NodeDirectory {
 public:
  // The primary's endpoint ("host:port"), or UNAVAILABLE naming the node:
  // "node N has no primary", "cannot find node N's primary now" (the store
  // could not be read and nothing is known), or the directory is shut down.
  using RouteDone = std::function<void(absl::StatusOr<std::string>)>;

  // `reader` and `clock` are not owned and must outlive the directory.
  // INVALID_ARGUMENT naming the option when `options` is not valid.
  static absl::StatusOr<std::unique_ptr<NodeDirectory>> Create(LeaseReader* reader, time::Clock* clock,
                                                               NodeDirectoryOptions options);
  // Shutdown().
  ~NodeDirectory();

  // The node's primary: at once when known (and not stale), else after a
  // lookup that every concurrent caller for that node shares.
  void Resolve(int node, RouteDone done);
  // Reads the node's lease now (sharing a read already in flight) and
  // answers with what it says.
  void Refresh(int node, RouteDone done);

  // What is known now; never waits. A node never asked about is looked up
  // in the background and reported down meanwhile.
  NodeStatus Status(int node);
  // The store answered the latest lease read.
  bool StoreReachable() const;

  // Changes whenever a node's primary changes, goes, or is forgotten.
  uint64_t Version() const;
  // The endpoints of every node that has a primary now.
  std::set<std::string> PrimaryEndpoints() const;

  // Stops the background refresh, then waits until every lease read in
  // flight has answered (the LeaseReader bounds that). Later calls answer
  // UNAVAILABLE. Idempotent; not to be called concurrently with itself.
  void Shutdown();

 private:
  struct Entry {
    bool configured = false;       // in options.nodes
    int64_t last_used_ms = 0;      // monotonic; Resolve and Refresh use a node
    bool known = false;            // a read has answered (and is not stale)
    bool lookup_in_flight = false;
    bool up = false;
    std::string endpoint;
    bool store_error = false;      // the latest read failed
    int64_t expires_ms = 0;        // monotonic end of the lease as last read
    std::vector<RouteDone> waiters;
  };

  NodeDirectory(LeaseReader* reader, time::Clock* clock, NodeDirectoryOptions options);

  // Marks a read of `e` in flight; true when the caller must start it
  // (StartLookup, with mu_ released: a reader may answer inline).
  bool MarkLookup(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartLookup(int node) ABSL_LOCKS_EXCLUDED(mu_);
  void OnLease(int node, absl::StatusOr<Lease> lease) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::string> RouteOf(int node, const Entry& e) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RefreshLoop(int64_t first_due_ms) ABSL_LOCKS_EXCLUDED(mu_);

  LeaseReader* const reader_;
  time::Clock* const clock_;
  const NodeDirectoryOptions options_;

  mutable absl::Mutex mu_;
  absl::CondVar cv_;   // wakes the refresher at Shutdown
  std::map<int, Entry> entries_ ABSL_GUARDED_BY(mu_);
  bool store_reachable_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  int lookups_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread refresher_;
};

}  // namespace orch::sessionapi
