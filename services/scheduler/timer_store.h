#pragma once

// TimerStore: what the scheduler keeps in persistence-proxy — timers in
// buckets of schedule entries (persistence.proto's AddSchedule .. 
// ListSchedules) and the leases its replicas hold to share the buckets.
// The wire messages are the interface's types: the store adds no meaning of
// its own.
//
// Implementations: GrpcTimerStore (persistence-proxy over gRPC; due times
// and lease TTLs on the proxy's clock) and FakeTimerStore (in memory, on an
// injected clock, for unit tests). The proxy's conformance suite
// (tests/persistence/store_conformance_test.cc) states the rules both keep.
//
// Errors: the proxy's codes (INVALID_ARGUMENT names the field, NOT_FOUND,
// ABORTED for a lease another holds); UNAVAILABLE when the store was not
// reached or did not answer in time (a change may or may not have happened).
// Calls block the calling thread (at most the request timeout).
// Thread-safe.

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "orch/persistence/v1/persistence.pb.h"

namespace orch::scheduler {

namespace pv1 = ::orch::persistence::v1;

class TimerStore {
 public:
  virtual ~TimerStore() = default;

  virtual absl::StatusOr<pv1::AddScheduleResponse> Add(const pv1::AddScheduleRequest& req) = 0;
  virtual absl::StatusOr<bool> Cancel(const pv1::CancelScheduleRequest& req) = 0;
  virtual absl::Status Reschedule(const pv1::RescheduleRequest& req) = 0;
  virtual absl::StatusOr<pv1::ClaimDueResponse> Claim(const pv1::ClaimDueRequest& req) = 0;
  virtual absl::StatusOr<bool> Ack(const pv1::AckScheduleRequest& req) = 0;
  // Answers how many were removed (1..1000 ids of one bucket).
  virtual absl::StatusOr<uint32_t> AckMany(const pv1::AckSchedulesRequest& req) = 0;
  virtual absl::StatusOr<pv1::ScheduleEntry> Get(const pv1::GetScheduleRequest& req) = 0;
  virtual absl::StatusOr<pv1::ListSchedulesResponse> List(const pv1::ListSchedulesRequest& req) = 0;

  virtual absl::StatusOr<pv1::AcquireLeaseResponse> AcquireLease(const pv1::AcquireLeaseRequest& req) = 0;
  //   ABORTED  the lease is lost (expired, or another holder has it)
  virtual absl::Status RenewLease(const pv1::RenewLeaseRequest& req) = 0;
  virtual absl::Status ReleaseLease(const pv1::ReleaseLeaseRequest& req) = 0;
  //   NOT_FOUND  nobody holds it
  virtual absl::StatusOr<pv1::GetLeaseResponse> GetLease(const pv1::GetLeaseRequest& req) = 0;
};

}  // namespace orch::scheduler
