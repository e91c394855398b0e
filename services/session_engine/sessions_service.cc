#include "services/session_engine/sessions_service.h"

#include "common/grpc/status.h"

namespace orch::session_engine {

namespace sv1 = orch::session::v1;

namespace {
template <typename T>
::grpc::Status Answer(absl::StatusOr<T> result, T* resp) {
  if (!result.ok()) return grpc_util::ToGrpcStatus(result.status());
  *resp = *std::move(result);
  return ::grpc::Status::OK;
}
}  // namespace

::grpc::Status SessionsService::StartSession(::grpc::ServerContext*, const sv1::StartSessionRequest* req,
                                             sv1::StartSessionResponse* resp) {
  return Answer(engine_->StartSession(*req), resp);
}

::grpc::Status SessionsService::SendEvent(::grpc::ServerContext*, const sv1::SendEventRequest* req,
                                          sv1::SendEventResponse* resp) {
  return Answer(engine_->SendEvent(*req), resp);
}

::grpc::Status SessionsService::Request(::grpc::ServerContext*, const sv1::RequestEventRequest* req,
                                        sv1::RequestEventResponse* resp) {
  return Answer(engine_->Request(*req), resp);
}

::grpc::Status SessionsService::WatchSession(::grpc::ServerContext* ctx, const sv1::WatchSessionRequest* req,
                                             ::grpc::ServerWriter<sv1::WatchSessionResponse>* writer) {
  return grpc_util::ToGrpcStatus(engine_->WatchSession(
      *req, [&](const sv1::WatchSessionResponse& u) { return writer->Write(u); },
      [&] { return ctx->IsCancelled(); }));
}

::grpc::Status SessionsService::QuerySession(::grpc::ServerContext*, const sv1::QuerySessionRequest* req,
                                             sv1::QuerySessionResponse* resp) {
  return Answer(engine_->QuerySession(*req), resp);
}

::grpc::Status SessionsService::TerminateSession(::grpc::ServerContext*, const sv1::TerminateSessionRequest* req,
                                                 sv1::TerminateSessionResponse*) {
  return grpc_util::ToGrpcStatus(engine_->TerminateSession(*req));
}

::grpc::Status SessionsService::ListSessions(::grpc::ServerContext*, const sv1::ListSessionsRequest* req,
                                             sv1::ListSessionsResponse* resp) {
  return Answer(engine_->ListSessions(*req), resp);
}

}  // namespace orch::session_engine
