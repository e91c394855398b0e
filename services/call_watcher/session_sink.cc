#include "services/call_watcher/session_sink.h"

#include "absl/strings/str_cat.h"
#include "common/sessionapi/session_id.h"
#include "common/sessionapi/sessions_client.h"

namespace orch::call_watcher {

void GrpcSessionSink::StartSession(int node, sv1::StartSessionRequest req, SinkDone<sv1::StartSessionResponse> done) {
  client_->StartSession(node, std::move(req), {.retry_safe = true}, std::move(done));
}

void GrpcSessionSink::SendEvent(int node, sv1::SendEventRequest req, SinkDone<sv1::SendEventResponse> done) {
  const bool retry_safe = !req.event().effect_id().empty();
  client_->SendEvent(node, std::move(req), {.retry_safe = retry_safe}, std::move(done));
}

absl::StatusOr<sv1::StartSessionResponse> FakeSessionSink::AnswerStart(int node, const sv1::StartSessionRequest& req) {
  bool url_fails = false, alternate_fails = req.alternate_url().empty();
  for (const std::string& u : failing_urls_) {
    url_fails = url_fails || u == req.url();
    alternate_fails = alternate_fails || u == req.alternate_url();
  }
  if (url_fails && alternate_fails) {
    return absl::InvalidArgumentError(absl::StrCat("cannot fetch ", req.url()));
  }
  sv1::StartSessionResponse resp;
  resp.set_session_id(sessionapi::SessionIdForKey(node, req.idempotency_key()));
  resp.set_created(true);
  resp.set_persistent(req.persistence() != sv1::PERSISTENCE_OFF);
  return resp;
}

void FakeSessionSink::StartSession(int node, sv1::StartSessionRequest req, SinkDone<sv1::StartSessionResponse> done) {
  absl::StatusOr<sv1::StartSessionResponse> answer;
  {
    absl::MutexLock l(&mu_);
    starts_.push_back({node, req});
    if (!auto_answer_) {
      held_starts_.push_back({node, std::move(req), std::move(done)});
      return;
    }
    answer = AnswerStart(node, req);
  }
  done(std::move(answer));
}

void FakeSessionSink::SendEvent(int node, sv1::SendEventRequest req, SinkDone<sv1::SendEventResponse> done) {
  {
    absl::MutexLock l(&mu_);
    sends_.push_back({node, std::move(req)});
    if (!auto_answer_) {
      held_sends_.push_back(std::move(done));
      return;
    }
  }
  done(sv1::SendEventResponse());
}

void FakeSessionSink::SetAutoAnswer(bool on) {
  absl::MutexLock l(&mu_);
  auto_answer_ = on;
}

void FakeSessionSink::FailUrl(const std::string& url) {
  absl::MutexLock l(&mu_);
  failing_urls_.push_back(url);
}

bool FakeSessionSink::AnswerNextSend(absl::Status status) {
  SinkDone<sv1::SendEventResponse> done;
  {
    absl::MutexLock l(&mu_);
    if (held_sends_.empty()) return false;
    done = std::move(held_sends_.front());
    held_sends_.pop_front();
  }
  if (status.ok()) {
    done(sv1::SendEventResponse());
  } else {
    done(status);
  }
  return true;
}

bool FakeSessionSink::AnswerNextStart(absl::Status status) {
  SinkDone<sv1::StartSessionResponse> done;
  absl::StatusOr<sv1::StartSessionResponse> answer;
  {
    absl::MutexLock l(&mu_);
    if (held_starts_.empty()) return false;
    answer = status.ok() ? AnswerStart(held_starts_.front().node, held_starts_.front().req) : absl::StatusOr<sv1::StartSessionResponse>(status);
    done = std::move(held_starts_.front().done);
    held_starts_.pop_front();
  }
  done(std::move(answer));
  return true;
}

std::vector<FakeSessionSink::Start> FakeSessionSink::starts() const {
  absl::MutexLock l(&mu_);
  return starts_;
}

std::vector<FakeSessionSink::Send> FakeSessionSink::sends() const {
  absl::MutexLock l(&mu_);
  return sends_;
}

std::vector<std::string> FakeSessionSink::EventNames(const std::string& session_id) const {
  absl::MutexLock l(&mu_);
  std::vector<std::string> names;
  for (const Send& s : sends_) {
    if (s.req.session_id() == session_id) names.push_back(s.req.event().name());
  }
  return names;
}

::orch::event::v1::Event FakeSessionSink::LastEvent(const std::string& name) const {
  absl::MutexLock l(&mu_);
  for (auto it = sends_.rbegin(); it != sends_.rend(); ++it) {
    if (it->req.event().name() == name) return it->req.event();
  }
  return {};
}

}  // namespace orch::call_watcher
