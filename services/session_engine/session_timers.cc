#include "services/session_engine/session_timers.h"

#include "absl/strings/str_cat.h"
#include "common/grpc/unary_call.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "orch/scheduler/v1/scheduler.grpc.pb.h"

namespace orch::session_engine {

namespace {

namespace sched = ::orch::scheduler::v1;

class GrpcSessionTimers final : public SessionTimers {
 public:
  GrpcSessionTimers(const std::string& endpoint, const grpc_util::ChannelOptions& channel, absl::Duration timeout)
      : stub_(sched::Scheduler::NewStub(grpc_util::MakeChannel(endpoint, channel))), timeout_(timeout) {}

  absl::Status ScheduleWake(const std::string& session_id, int64_t due_unix_ms) override {
    sched::ScheduleTimerRequest req;
    sched::Timer* t = req.mutable_timer();
    t->set_timer_id(WakeTimerId(session_id));
    *t->mutable_due_time() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(due_unix_ms);
    t->mutable_wake_session()->set_session_id(session_id);
    return Schedule(req);
  }

  absl::Status ScheduleMaxAge(const std::string& session_id, int64_t age_ms, int64_t ends_unix_ms,
                              int64_t grace_ms) override {
    sched::ScheduleTimerRequest req;
    sched::Timer* t = req.mutable_timer();
    t->set_timer_id(MaxAgeTimerId(session_id));
    *t->mutable_due_time() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(ends_unix_ms);
    t->mutable_deliver_event()->set_session_id(session_id);
    auto* ev = t->mutable_deliver_event()->mutable_event();
    ev->set_name(kMaxAgeEvent);
    (*ev->mutable_data()->mutable_struct_value()->mutable_fields())["age_ms"].set_number_value(
        static_cast<double>(age_ms));
    if (absl::Status s = Schedule(req); !s.ok()) return s;
    sched::ScheduleTimerRequest end;
    t = end.mutable_timer();
    t->set_timer_id(EndTimerId(session_id));
    *t->mutable_due_time() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(ends_unix_ms + grace_ms);
    t->mutable_terminate_session()->set_session_id(session_id);
    t->mutable_terminate_session()->set_reason("maximum session age");
    return Schedule(end);
  }

 private:
  absl::Status Schedule(const sched::ScheduleTimerRequest& req) {
    sched::ScheduleTimerResponse resp;
    return grpc_util::UnaryCall(stub_.get(), &sched::Scheduler::Stub::ScheduleTimer, req, &resp, timeout_,
                                absl::StrCat("scheduler: ScheduleTimer ", req.timer().timer_id()));
  }

  std::unique_ptr<sched::Scheduler::Stub> stub_;
  const absl::Duration timeout_;
};

}  // namespace

std::string WakeTimerId(const std::string& session_id) { return absl::StrCat("wake:", session_id); }
std::string MaxAgeTimerId(const std::string& session_id) { return absl::StrCat("maxage:", session_id); }
std::string EndTimerId(const std::string& session_id) { return absl::StrCat("end:", session_id); }

std::unique_ptr<SessionTimers> NewGrpcSessionTimers(const std::string& endpoint,
                                                    const grpc_util::ChannelOptions& channel,
                                                    absl::Duration timeout) {
  return std::make_unique<GrpcSessionTimers>(endpoint, channel, timeout);
}

}  // namespace orch::session_engine
