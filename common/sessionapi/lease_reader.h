#pragma once

// Reading a lease, as NodeDirectory needs it: the seam between "where does
// node N's primary serve" and the store that holds the leases.
//
//   LeaseReader           the role (asynchronous, one answer per read)
//   GrpcLeaseReader       over persistence-proxy's Persistence.GetLease
//   FakeLeaseReader       in-memory, for unit tests (fake_lease_reader.h)

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace grpc {
class Channel;
}

namespace orch::sessionapi {

// What a lease says when it was read. Nobody holds it when `holder` is
// empty or `remaining_ms` is 0.
struct Lease {
  std::string holder;
  std::string endpoint;     // where the holder serves ("host:port")
  uint64_t epoch = 0;
  int64_t remaining_ms = 0; // time to live left at the read
};

class LeaseReader {
 public:
  virtual ~LeaseReader() = default;

  // Reads lease `name`. `done` runs exactly once, on any thread, possibly
  // inline before ReadLease returns, so callers hold no lock of theirs
  // across the call. A lease that does not exist is OK with an empty holder.
  // Errors: the store could not be asked (UNAVAILABLE, DEADLINE_EXCEEDED,
  // or whatever code the store answered).
  virtual void ReadLease(const std::string& name, std::function<void(absl::StatusOr<Lease>)> done) = 0;
};

// Persistence.GetLease over gRPC's callback API: no thread waits; its NOT_FOUND
// (nobody holds the lease) is a Lease with an empty holder. Each read
// has its own deadline, so every `done` runs within `timeout`. Thread-safe.
// Its destructor waits until every read's callback has run and let go of
// its call, so that the channel is always released here, never on gRPC's
// callback thread (gRPC 1.51 aborts, "assertion failed: prior > 0", when a
// channel's last reference goes there while the process exits).
class GrpcLeaseReader final : public LeaseReader {
 public:
  // `channel` to persistence-proxy (grpc_util::MakeChannel).
  explicit GrpcLeaseReader(std::shared_ptr<::grpc::Channel> channel,
                           absl::Duration timeout = absl::Seconds(2));
  ~GrpcLeaseReader() override;

  void ReadLease(const std::string& name, std::function<void(absl::StatusOr<Lease>)> done) override;

 private:
  struct Stub;
  struct InFlight;   // one read, until gRPC has destroyed its callback

  void EndRead() ABSL_LOCKS_EXCLUDED(mu_);

  std::unique_ptr<Stub> stub_;
  const absl::Duration timeout_;
  absl::Mutex mu_;
  int reads_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace orch::sessionapi
