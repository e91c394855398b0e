#include "services/session_engine/sessions_service.h"

#include "common/grpc/status.h"

namespace orch::session_engine {

namespace sv1 = orch::session::v1;

namespace {
const ::grpc::Status kStarting(::grpc::StatusCode::UNAVAILABLE, "session-engine is starting");

template <typename T>
::grpc::Status Answer(absl::StatusOr<T> result, T* resp) {
  if (!result.ok()) return grpc_util::ToGrpcStatus(result.status());
  *resp = *std::move(result);
  return ::grpc::Status::OK;
}
}  // namespace

::grpc::Status SessionsService::StartSession(::grpc::ServerContext*, const sv1::StartSessionRequest* req,
                                             sv1::StartSessionResponse* resp) {
  Engine* e = engine_->load();
  return e == nullptr ? kStarting : Answer(e->StartSession(*req), resp);
}

::grpc::ServerUnaryReactor* SessionsService::SendEvent(::grpc::CallbackServerContext* ctx,
                                                       const sv1::SendEventRequest* req, sv1::SendEventResponse* resp) {
  ::grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  Engine* e = engine_->load();
  if (e == nullptr) {
    reactor->Finish(kStarting);
    return reactor;
  }
  e->SendEventAsync(*req, [reactor, resp](absl::StatusOr<sv1::SendEventResponse> r) {
    reactor->Finish(Answer(std::move(r), resp));
  });
  return reactor;
}

::grpc::Status SessionsService::Request(::grpc::ServerContext*, const sv1::RequestEventRequest* req,
                                        sv1::RequestEventResponse* resp) {
  Engine* e = engine_->load();
  return e == nullptr ? kStarting : Answer(e->Request(*req), resp);
}

::grpc::Status SessionsService::WatchSession(::grpc::ServerContext* ctx, const sv1::WatchSessionRequest* req,
                                             ::grpc::ServerWriter<sv1::WatchSessionResponse>* writer) {
  Engine* e = engine_->load();
  if (e == nullptr) return kStarting;
  return grpc_util::ToGrpcStatus(e->WatchSession(
      *req, [&](const sv1::WatchSessionResponse& u) { return writer->Write(u); },
      [&] { return ctx->IsCancelled(); }));
}

::grpc::Status SessionsService::QuerySession(::grpc::ServerContext*, const sv1::QuerySessionRequest* req,
                                             sv1::QuerySessionResponse* resp) {
  Engine* e = engine_->load();
  return e == nullptr ? kStarting : Answer(e->QuerySession(*req), resp);
}

::grpc::Status SessionsService::TerminateSession(::grpc::ServerContext*, const sv1::TerminateSessionRequest* req,
                                                 sv1::TerminateSessionResponse*) {
  Engine* e = engine_->load();
  return e == nullptr ? kStarting : grpc_util::ToGrpcStatus(e->TerminateSession(*req));
}

::grpc::Status SessionsService::ListSessions(::grpc::ServerContext*, const sv1::ListSessionsRequest* req,
                                             sv1::ListSessionsResponse* resp) {
  Engine* e = engine_->load();
  return e == nullptr ? kStarting : Answer(e->ListSessions(*req), resp);
}

::grpc::Status SessionsService::WakeSession(::grpc::ServerContext*, const sv1::WakeSessionRequest* req,
                                            sv1::WakeSessionResponse* resp) {
  Engine* e = engine_->load();
  return e == nullptr ? kStarting : Answer(e->WakeSession(*req), resp);
}

}  // namespace orch::session_engine
