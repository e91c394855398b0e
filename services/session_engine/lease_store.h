#pragma once

// LeaseStore: named leases with fencing epochs, kept in persistence-proxy.
// session-engine instances of node <id> compete for the lease "node:<id>";
// its holder is the node's primary, and the lease's epoch is the token that
// every write of the primary carries (session_log.h).
//
// A lease is held by one holder (an instance id, with the endpoint where it
// serves) until its TTL runs out, unless renewed. Each acquisition of a free
// (or expired) lease hands out a new epoch, greater than every earlier epoch
// of that name. Implementations: RemoteSessionStore (the TTL runs on Redis's
// clock) and FakeSessionStore (on an injected time::Clock);
// session_store_conformance.h checks both.
//
// Errors of every call:
//   INVALID_ARGUMENT  an empty name or one with '{', '}', spaces or control
//                     bytes; a TTL outside 1..3,600,000 ms; AcquireLease
//                     with an empty holder
//   UNAVAILABLE       the store was not reached or did not answer in time
//                     (a change may or may not have happened)
// Calls block the calling thread (at most the implementation's request
// timeout). Thread-safe.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace orch::session_engine {

struct LeaseState {
  bool acquired = false;      // AcquireLease: the caller holds the lease now
  uint64_t epoch = 0;         // the holder's epoch
  std::string holder;         // the holder (the caller, when acquired)
  std::string endpoint;       // the holder's endpoint
  uint32_t remaining_ms = 0;  // GetLease: time left before the lease expires
};

class LeaseStore {
 public:
  virtual ~LeaseStore() = default;

  // Acquires the free lease for `holder` for `ttl_ms`, with a new epoch. If
  // `holder` holds it already: acquired, the same epoch, the endpoint
  // replaced and the TTL restarted. Held by another holder: not acquired,
  // with that holder's epoch, holder and endpoint.
  virtual absl::StatusOr<LeaseState> AcquireLease(const std::string& name, const std::string& holder,
                                                  const std::string& endpoint, uint32_t ttl_ms) = 0;

  // Restarts the TTL of the lease `holder` holds with `epoch`.
  //   ABORTED  the lease is no longer so held (expired, released or taken)
  virtual absl::Status RenewLease(const std::string& name, const std::string& holder, uint64_t epoch,
                                  uint32_t ttl_ms) = 0;

  // Frees the lease `holder` holds with `epoch`. A free lease: OK.
  //   ABORTED  held by another holder, or with another epoch
  virtual absl::Status ReleaseLease(const std::string& name, const std::string& holder, uint64_t epoch) = 0;

  // The current holder, its epoch and endpoint, and remaining_ms.
  //   NOT_FOUND  nobody holds the lease
  virtual absl::StatusOr<LeaseState> GetLease(const std::string& name) = 0;
};

}  // namespace orch::session_engine
