#include "common/sessionapi/lease_reader.h"

#include <chrono>

#include "common/grpc/status.h"
#include "grpcpp/grpcpp.h"
#include "orch/persistence/v1/persistence.grpc.pb.h"

namespace orch::sessionapi {

namespace pv1 = ::orch::persistence::v1;

struct GrpcLeaseReader::Stub {
  std::unique_ptr<pv1::Persistence::Stub> stub;
};

namespace {

// Lives until gRPC has run the callback.
struct LeaseCall {
  ::grpc::ClientContext ctx;
  pv1::GetLeaseRequest req;
  pv1::GetLeaseResponse resp;
};

}  // namespace

GrpcLeaseReader::GrpcLeaseReader(std::shared_ptr<::grpc::Channel> channel, absl::Duration timeout)
    : stub_(std::make_shared<Stub>(Stub{pv1::Persistence::NewStub(std::move(channel))})), timeout_(timeout) {}

GrpcLeaseReader::~GrpcLeaseReader() = default;

void GrpcLeaseReader::ReadLease(const std::string& name, std::function<void(absl::StatusOr<Lease>)> done) {
  auto call = std::make_shared<LeaseCall>();
  call->req.set_name(name);
  // gRPC deadlines are on the system clock, whatever Clock the caller uses.
  call->ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout_));
  // The callback keeps the stub (and its channel) alive until it has run.
  stub_->stub->async()->GetLease(&call->ctx, &call->req, &call->resp,
                                 [call, stub = stub_, done = std::move(done)](::grpc::Status s) {
                                   // NOT_FOUND is persistence-proxy's answer for a lease
                                   // nobody holds (a dead primary's, once it expired):
                                   // a node without a primary, not a store that failed.
                                   if (s.error_code() == ::grpc::StatusCode::NOT_FOUND) return done(Lease{});
                                   if (!s.ok()) return done(grpc_util::FromGrpcStatus(s));
                                   done(Lease{.holder = call->resp.holder(),
                                              .endpoint = call->resp.endpoint(),
                                              .epoch = call->resp.epoch(),
                                              .remaining_ms = call->resp.remaining_ms()});
                                 });
}

}  // namespace orch::sessionapi
