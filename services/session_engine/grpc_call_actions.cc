#include "services/session_engine/grpc_call_actions.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "common/grpc/status.h"

namespace orch::session_engine {

namespace cv1 = orch::calls::v1;

struct GrpcCallActions::Call {
  ::grpc::ClientContext context;
  cv1::SubmitActionRequest request;
  cv1::SubmitActionResponse response;
  std::function<void(absl::Status)> done;
};

GrpcCallActions::~GrpcCallActions() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](int* n) { return *n == 0; }, &in_flight_));
}

cv1::CallWatcher::Stub* GrpcCallActions::StubFor(const std::string& watcher) {
  auto& stub = stubs_[watcher];
  if (stub == nullptr) stub = cv1::CallWatcher::NewStub(grpc_util::MakeChannel(watcher, options_.channel));
  return stub.get();
}

void GrpcCallActions::Submit(const std::string& watcher, cv1::SubmitActionRequest request,
                             std::function<void(absl::Status)> done) {
  {
    absl::MutexLock lock(&mu_);
    auto it = lanes_.find(request.session_id());
    if (it != lanes_.end()) {  // one of this session's submits is in flight: wait behind it
      it->second.push_back(Pending{watcher, std::move(request), std::move(done)});
      return;
    }
    lanes_.try_emplace(request.session_id());
  }
  Start(Pending{watcher, std::move(request), std::move(done)});
}

void GrpcCallActions::Start(Pending p) {
  auto call = std::make_shared<Call>();
  call->context.set_deadline(absl::ToChronoTime(absl::Now() + options_.call_timeout));
  call->request = std::move(p.request);
  call->done = std::move(p.done);
  cv1::CallWatcher::Stub* stub;
  {
    absl::MutexLock lock(&mu_);
    stub = StubFor(p.watcher);
    ++in_flight_;
  }
  stub->async()->SubmitAction(&call->context, &call->request, &call->response, [this, call](::grpc::Status s) {
    absl::Status st = grpc_util::FromGrpcStatus(s);
    if (st.code() == absl::StatusCode::kDeadlineExceeded) {
      st = absl::UnavailableError(absl::StrCat("call-watcher did not answer in time: ", st.message()));
    }
    call->done(st);
    const std::string session = call->request.session_id();
    Finish(session);
    absl::MutexLock lock(&mu_);
    --in_flight_;
  });
}

void GrpcCallActions::Finish(const std::string& session_id) {
  Pending next;
  {
    absl::MutexLock lock(&mu_);
    auto it = lanes_.find(session_id);
    if (it == lanes_.end()) return;
    if (it->second.empty()) {
      lanes_.erase(it);
      return;
    }
    next = std::move(it->second.front());
    it->second.pop_front();
  }
  Start(std::move(next));
}

}  // namespace orch::session_engine
