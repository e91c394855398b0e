#include "services/scheduler/scheduler_service.h"

#include <utility>

#include "common/grpc/status.h"

namespace orch::scheduler {

using grpc_util::ToGrpcStatus;

::grpc::Status SchedulerService::ScheduleTimer(::grpc::ServerContext*, const sched::ScheduleTimerRequest* req,
                                               sched::ScheduleTimerResponse* resp) {
  if (!req->has_timer()) return ToGrpcStatus(absl::InvalidArgumentError("timer: required"));
  auto r = runner_->Schedule(req->timer());
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = *std::move(r);
  return ::grpc::Status::OK;
}

::grpc::Status SchedulerService::CancelTimer(::grpc::ServerContext*, const sched::CancelTimerRequest* req,
                                             sched::CancelTimerResponse* resp) {
  auto r = runner_->Cancel(req->timer_id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  resp->set_cancelled(*r);
  return ::grpc::Status::OK;
}

::grpc::Status SchedulerService::RescheduleTimer(::grpc::ServerContext*, const sched::RescheduleTimerRequest* req,
                                                 sched::RescheduleTimerResponse* resp) {
  auto due = DueMs(req->due_time(), req->has_due_time(), "due_time");
  if (!due.ok()) return ToGrpcStatus(due.status());
  auto r = runner_->Reschedule(req->timer_id(), *due);
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = *std::move(r);
  return ::grpc::Status::OK;
}

::grpc::Status SchedulerService::GetTimer(::grpc::ServerContext*, const sched::GetTimerRequest* req,
                                          sched::GetTimerResponse* resp) {
  auto r = runner_->Get(req->timer_id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp->mutable_status() = *std::move(r);
  return ::grpc::Status::OK;
}

::grpc::Status SchedulerService::ListTimers(::grpc::ServerContext*, const sched::ListTimersRequest* req,
                                            sched::ListTimersResponse* resp) {
  auto r = runner_->List(*req);
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = *std::move(r);
  return ::grpc::Status::OK;
}

}  // namespace orch::scheduler
