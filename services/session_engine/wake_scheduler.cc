#include "services/session_engine/wake_scheduler.h"

#include "absl/strings/str_cat.h"
#include "common/grpc/status.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "orch/scheduler/v1/scheduler.grpc.pb.h"

namespace orch::session_engine {

namespace {

namespace sched = ::orch::scheduler::v1;

class GrpcWakeScheduler final : public WakeScheduler {
 public:
  GrpcWakeScheduler(const std::string& endpoint, const grpc_util::ChannelOptions& channel, absl::Duration timeout)
      : stub_(sched::Scheduler::NewStub(grpc_util::MakeChannel(endpoint, channel))), timeout_(timeout) {}

  absl::Status ScheduleWake(const std::string& session_id, int64_t due_unix_ms) override {
    sched::ScheduleTimerRequest req;
    sched::Timer* t = req.mutable_timer();
    t->set_timer_id(WakeTimerId(session_id));
    *t->mutable_due_time() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(due_unix_ms);
    t->mutable_wake_session()->set_session_id(session_id);
    ::grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
    sched::ScheduleTimerResponse resp;
    absl::Status s = grpc_util::FromGrpcStatus(stub_->ScheduleTimer(&ctx, req, &resp));
    if (s.ok()) return s;
    return absl::Status(s.code(), absl::StrCat("scheduler: ScheduleTimer ", t->timer_id(), ": ", s.message()));
  }

 private:
  std::unique_ptr<sched::Scheduler::Stub> stub_;
  const absl::Duration timeout_;
};

}  // namespace

std::string WakeTimerId(const std::string& session_id) { return absl::StrCat("wake:", session_id); }

std::unique_ptr<WakeScheduler> NewGrpcWakeScheduler(const std::string& endpoint,
                                                    const grpc_util::ChannelOptions& channel,
                                                    absl::Duration timeout) {
  return std::make_unique<GrpcWakeScheduler>(endpoint, channel, timeout);
}

}  // namespace orch::session_engine
