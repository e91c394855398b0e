#pragma once

// The Scheduler gRPC API (proto/orch/scheduler/v1/scheduler.proto) over a
// TimerRunner: each RPC checks its request, calls the runner and maps its
// status. Thread-safe (the runner is).

#include "orch/scheduler/v1/scheduler.grpc.pb.h"
#include "services/scheduler/timer_runner.h"

namespace orch::scheduler {

class SchedulerService final : public sched::Scheduler::Service {
 public:
  // `runner` is not owned.
  explicit SchedulerService(TimerRunner* runner) : runner_(runner) {}

  ::grpc::Status ScheduleTimer(::grpc::ServerContext* ctx, const sched::ScheduleTimerRequest* req,
                               sched::ScheduleTimerResponse* resp) override;
  ::grpc::Status CancelTimer(::grpc::ServerContext* ctx, const sched::CancelTimerRequest* req,
                             sched::CancelTimerResponse* resp) override;
  ::grpc::Status RescheduleTimer(::grpc::ServerContext* ctx, const sched::RescheduleTimerRequest* req,
                                 sched::RescheduleTimerResponse* resp) override;
  ::grpc::Status GetTimer(::grpc::ServerContext* ctx, const sched::GetTimerRequest* req,
                          sched::GetTimerResponse* resp) override;
  ::grpc::Status ListTimers(::grpc::ServerContext* ctx, const sched::ListTimersRequest* req,
                            sched::ListTimersResponse* resp) override;

 private:
  TimerRunner* const runner_;
};

}  // namespace orch::scheduler
