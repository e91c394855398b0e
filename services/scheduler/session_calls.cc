#include "services/scheduler/session_calls.h"

#include <utility>

#include "common/sessionapi/sessions_client.h"

namespace orch::scheduler {

namespace {

class GrpcSessionCalls final : public SessionCalls {
 public:
  explicit GrpcSessionCalls(sessionapi::SessionsClient* client) : client_(client) {}

  void StartSession(int node, sv1::StartSessionRequest req, Done<sv1::StartSessionResponse> done) override {
    client_->StartSession(node, std::move(req), {.retry_safe = true}, std::move(done));
  }
  void SendEvent(int node, sv1::SendEventRequest req, Done<sv1::SendEventResponse> done) override {
    client_->SendEvent(node, std::move(req), {.retry_safe = true}, std::move(done));
  }
  void TerminateSession(int node, sv1::TerminateSessionRequest req,
                        Done<sv1::TerminateSessionResponse> done) override {
    client_->TerminateSession(node, std::move(req), {.retry_safe = true}, std::move(done));
  }
  void WakeSession(int node, sv1::WakeSessionRequest req, Done<sv1::WakeSessionResponse> done) override {
    client_->WakeSession(node, std::move(req), {.retry_safe = true}, std::move(done));
  }

 private:
  sessionapi::SessionsClient* const client_;
};

}  // namespace

std::unique_ptr<SessionCalls> NewGrpcSessionCalls(sessionapi::SessionsClient* client) {
  return std::make_unique<GrpcSessionCalls>(client);
}

}  // namespace orch::scheduler
