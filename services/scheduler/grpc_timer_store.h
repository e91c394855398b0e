#pragma once

// GrpcTimerStore: TimerStore (timer_store.h) over gRPC to persistence-proxy.
// Every call has a deadline (`request_timeout`); the proxy's status codes
// pass through with the operation named; not reached or not answering in
// time is UNAVAILABLE. Thread-safe: one channel shared by all threads.

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "common/grpc/channel.h"
#include "services/scheduler/timer_store.h"

namespace orch::scheduler {

class GrpcTimerStore final : public TimerStore {
 public:
  // `target`: the proxy's "host:port" (connects lazily).
  GrpcTimerStore(const std::string& target, const grpc_util::ChannelOptions& options,
                 absl::Duration request_timeout);
  ~GrpcTimerStore() override;

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
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace orch::scheduler
