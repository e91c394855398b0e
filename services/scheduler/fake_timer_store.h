#pragma once

// FakeTimerStore: TimerStore (timer_store.h) in memory, for unit tests.
// Keeps the proxy's rules (tests/persistence/store_conformance_test.cc):
// claims with a horizon, generations as claim tokens, listing by (next
// time, id), leases with epochs that run out on the injected clock, whose
// NowMs() stands for the proxy's clock. Failures can be switched on to act
// out a store that is down. Thread-safe.

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/time/clock.h"
#include "services/scheduler/timer_store.h"

namespace orch::scheduler {

class FakeTimerStore final : public TimerStore {
 public:
  explicit FakeTimerStore(time::Clock* clock) : clock_(clock) {}

  // Every call answers `s` until SetDown(OkStatus()).
  void SetDown(absl::Status s) ABSL_LOCKS_EXCLUDED(mu_);
  // Entries stored, claimed or not.
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);
  // Calls of Claim so far.
  int64_t claims() const ABSL_LOCKS_EXCLUDED(mu_);

  absl::StatusOr<pv1::AddScheduleResponse> Add(const pv1::AddScheduleRequest& req) override;
  absl::StatusOr<bool> Cancel(const pv1::CancelScheduleRequest& req) override;
  absl::Status Reschedule(const pv1::RescheduleRequest& req) override;
  absl::StatusOr<pv1::ClaimDueResponse> Claim(const pv1::ClaimDueRequest& req) override;
  absl::StatusOr<bool> Ack(const pv1::AckScheduleRequest& req) override;
  absl::StatusOr<uint32_t> AckMany(const pv1::AckSchedulesRequest& req) override;
  absl::StatusOr<pv1::ScheduleEntry> Get(const pv1::GetScheduleRequest& req) override;
  absl::StatusOr<pv1::ListSchedulesResponse> List(const pv1::ListSchedulesRequest& req) override;
  absl::StatusOr<pv1::AcquireLeaseResponse> AcquireLease(const pv1::AcquireLeaseRequest& req) override;
  absl::Status RenewLease(const pv1::RenewLeaseRequest& req) override;
  absl::Status ReleaseLease(const pv1::ReleaseLeaseRequest& req) override;
  absl::StatusOr<pv1::GetLeaseResponse> GetLease(const pv1::GetLeaseRequest& req) override;

 private:
  struct Entry {
    int64_t next = 0;   // the score: due, or the end of a claim
    int64_t due = 0;
    std::string payload;
    uint64_t generation = 0;
  };
  struct Lease {
    std::string holder;
    std::string endpoint;
    uint64_t epoch = 0;
    int64_t expires = 0;
  };
  using Key = std::pair<std::string, std::string>;   // bucket, id

  void DropExpiredLeases() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  time::Clock* const clock_;
  mutable absl::Mutex mu_;
  absl::Status down_ ABSL_GUARDED_BY(mu_);
  std::map<Key, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Lease> leases_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> epochs_ ABSL_GUARDED_BY(mu_);
  int64_t claim_calls_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace orch::scheduler
