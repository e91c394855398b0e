#include "services/scheduler/grpc_timer_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc/unary_call.h"
#include "grpcpp/grpcpp.h"
#include "orch/persistence/v1/persistence.grpc.pb.h"

namespace orch::scheduler {

class GrpcTimerStore::Impl {
 public:
  Impl(const std::string& target, const grpc_util::ChannelOptions& options, absl::Duration timeout)
      : stub_(pv1::Persistence::NewStub(grpc_util::MakeChannel(target, options))), timeout_(timeout) {}

  template <typename Resp, typename Req, typename Method>
  absl::StatusOr<Resp> Call(const char* what, Method method, const Req& req) {
    Resp resp;
    absl::Status s =
        grpc_util::UnaryCall(stub_.get(), method, req, &resp, timeout_, absl::StrCat("persistence-proxy: ", what));
    if (!s.ok()) return s;
    return resp;
  }

 private:
  std::unique_ptr<pv1::Persistence::Stub> stub_;
  absl::Duration timeout_;
};

GrpcTimerStore::GrpcTimerStore(const std::string& target, const grpc_util::ChannelOptions& options,
                               absl::Duration request_timeout)
    : impl_(std::make_unique<Impl>(target, options, request_timeout)) {}

GrpcTimerStore::~GrpcTimerStore() = default;

using Stub = pv1::Persistence::Stub;

absl::StatusOr<pv1::AddScheduleResponse> GrpcTimerStore::Add(const pv1::AddScheduleRequest& req) {
  return impl_->Call<pv1::AddScheduleResponse>("AddSchedule", &Stub::AddSchedule, req);
}

absl::StatusOr<bool> GrpcTimerStore::Cancel(const pv1::CancelScheduleRequest& req) {
  auto r = impl_->Call<pv1::CancelScheduleResponse>("CancelSchedule", &Stub::CancelSchedule, req);
  if (!r.ok()) return r.status();
  return r->removed();
}

absl::Status GrpcTimerStore::Reschedule(const pv1::RescheduleRequest& req) {
  return impl_->Call<pv1::RescheduleResponse>("Reschedule", &Stub::Reschedule, req).status();
}

absl::StatusOr<pv1::ClaimDueResponse> GrpcTimerStore::Claim(const pv1::ClaimDueRequest& req) {
  return impl_->Call<pv1::ClaimDueResponse>("ClaimDue", &Stub::ClaimDue, req);
}

absl::StatusOr<bool> GrpcTimerStore::Ack(const pv1::AckScheduleRequest& req) {
  auto r = impl_->Call<pv1::AckScheduleResponse>("AckSchedule", &Stub::AckSchedule, req);
  if (!r.ok()) return r.status();
  return r->removed();
}

absl::StatusOr<uint32_t> GrpcTimerStore::AckMany(const pv1::AckSchedulesRequest& req) {
  auto r = impl_->Call<pv1::AckSchedulesResponse>("AckSchedules", &Stub::AckSchedules, req);
  if (!r.ok()) return r.status();
  return r->removed();
}

absl::StatusOr<pv1::ScheduleEntry> GrpcTimerStore::Get(const pv1::GetScheduleRequest& req) {
  auto r = impl_->Call<pv1::GetScheduleResponse>("GetSchedule", &Stub::GetSchedule, req);
  if (!r.ok()) return r.status();
  return std::move(*r->mutable_entry());
}

absl::StatusOr<pv1::ListSchedulesResponse> GrpcTimerStore::List(const pv1::ListSchedulesRequest& req) {
  return impl_->Call<pv1::ListSchedulesResponse>("ListSchedules", &Stub::ListSchedules, req);
}

absl::StatusOr<pv1::AcquireLeaseResponse> GrpcTimerStore::AcquireLease(const pv1::AcquireLeaseRequest& req) {
  return impl_->Call<pv1::AcquireLeaseResponse>("AcquireLease", &Stub::AcquireLease, req);
}

absl::Status GrpcTimerStore::RenewLease(const pv1::RenewLeaseRequest& req) {
  return impl_->Call<pv1::RenewLeaseResponse>("RenewLease", &Stub::RenewLease, req).status();
}

absl::Status GrpcTimerStore::ReleaseLease(const pv1::ReleaseLeaseRequest& req) {
  return impl_->Call<pv1::ReleaseLeaseResponse>("ReleaseLease", &Stub::ReleaseLease, req).status();
}

absl::StatusOr<pv1::GetLeaseResponse> GrpcTimerStore::GetLease(const pv1::GetLeaseRequest& req) {
  return impl_->Call<pv1::GetLeaseResponse>("GetLease", &Stub::GetLease, req);
}

}  // namespace orch::scheduler
