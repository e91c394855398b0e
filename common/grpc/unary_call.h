#pragma once

// One blocking unary call with a deadline, for the clients that wrap a
// service behind a synchronous interface (call-watcher's and the
// scheduler's stores over persistence-proxy):
//
//   pv1::GetCallResponse resp;
//   absl::Status s = grpc_util::UnaryCall(stub_.get(), &Stub::GetCall, req, &resp,
//                                         timeout_, "persistence-proxy: GetCall");
//
// The service's status passes through with `what` before its message; a
// deadline that passed is UNAVAILABLE (the service was not reached or did
// not answer in time: the change may or may not have happened).

#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/grpc/status.h"
#include "grpcpp/client_context.h"

namespace orch::grpc_util {

template <typename Stub, typename Method, typename Req, typename Resp>
absl::Status UnaryCall(Stub* stub, Method method, const Req& req, Resp* resp, absl::Duration timeout,
                       absl::string_view what) {
  ::grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  const absl::Status s = FromGrpcStatus((stub->*method)(&ctx, req, resp));
  if (s.ok()) return s;
  const absl::StatusCode code =
      s.code() == absl::StatusCode::kDeadlineExceeded ? absl::StatusCode::kUnavailable : s.code();
  return absl::Status(code, absl::StrCat(what, ": ", s.message()));
}

}  // namespace orch::grpc_util
