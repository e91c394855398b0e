#pragma once

// The public gRPC API (orch.session.v1.Sessions): thin handlers that call
// the Engine and convert its status once. The service is registered before
// the engine exists (the engine needs the address the server bound), so it
// reads the engine through a pointer set later; until then every call
// answers UNAVAILABLE. SendEvent, the call of every event, is on gRPC's
// callback API: no thread waits while its event is appended
// (Engine::SendEventAsync).

#include <atomic>

#include "orch/session/v1/sessions.grpc.pb.h"
#include "services/session_engine/engine.h"

namespace orch::session_engine {

class SessionsService final
    : public session::v1::Sessions::WithCallbackMethod_SendEvent<session::v1::Sessions::Service> {
 public:
  // `engine` must outlive the service; it may hold null (not started yet).
  explicit SessionsService(const std::atomic<Engine*>* engine) : engine_(engine) {}

  ::grpc::Status StartSession(::grpc::ServerContext*, const session::v1::StartSessionRequest* req,
                              session::v1::StartSessionResponse* resp) override;
  ::grpc::ServerUnaryReactor* SendEvent(::grpc::CallbackServerContext* ctx, const session::v1::SendEventRequest* req,
                                        session::v1::SendEventResponse* resp) override;
  ::grpc::Status Request(::grpc::ServerContext*, const session::v1::RequestEventRequest* req,
                         session::v1::RequestEventResponse* resp) override;
  ::grpc::Status WatchSession(::grpc::ServerContext* ctx, const session::v1::WatchSessionRequest* req,
                              ::grpc::ServerWriter<session::v1::WatchSessionResponse>* writer) override;
  ::grpc::Status QuerySession(::grpc::ServerContext*, const session::v1::QuerySessionRequest* req,
                              session::v1::QuerySessionResponse* resp) override;
  ::grpc::Status TerminateSession(::grpc::ServerContext*, const session::v1::TerminateSessionRequest* req,
                                  session::v1::TerminateSessionResponse* resp) override;
  ::grpc::Status ListSessions(::grpc::ServerContext*, const session::v1::ListSessionsRequest* req,
                              session::v1::ListSessionsResponse* resp) override;
  ::grpc::Status WakeSession(::grpc::ServerContext*, const session::v1::WakeSessionRequest* req,
                             session::v1::WakeSessionResponse* resp) override;

 private:
  const std::atomic<Engine*>* engine_;
};

}  // namespace orch::session_engine
