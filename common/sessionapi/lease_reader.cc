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

// Owned by the read's callback: when gRPC destroys the callback (after it
// ran), the call and its context go first, then the reader is told.
struct GrpcLeaseReader::InFlight {
  InFlight(GrpcLeaseReader* r, std::function<void(absl::StatusOr<Lease>)> d)
      : reader(r), call(std::make_unique<LeaseCall>()), done(std::move(d)) {}
  ~InFlight() {
    call.reset();
    done = nullptr;
    reader->EndRead();
  }
  GrpcLeaseReader* const reader;
  std::unique_ptr<LeaseCall> call;
  std::function<void(absl::StatusOr<Lease>)> done;
};

GrpcLeaseReader::GrpcLeaseReader(std::shared_ptr<::grpc::Channel> channel, absl::Duration timeout)
    : stub_(std::make_unique<Stub>(Stub{pv1::Persistence::NewStub(std::move(channel))})), timeout_(timeout) {}

GrpcLeaseReader::~GrpcLeaseReader() {
  absl::MutexLock l(&mu_);
  mu_.Await(absl::Condition(+[](int* reads) { return *reads == 0; }, &reads_));
}

void GrpcLeaseReader::EndRead() {
  absl::MutexLock l(&mu_);
  --reads_;
}

void GrpcLeaseReader::ReadLease(const std::string& name, std::function<void(absl::StatusOr<Lease>)> done) {
  {
    absl::MutexLock l(&mu_);
    ++reads_;
  }
  auto read = std::make_shared<InFlight>(this, std::move(done));
  LeaseCall* call = read->call.get();
  call->req.set_name(name);
  // gRPC deadlines are on the system clock, whatever Clock the caller uses.
  call->ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout_));
  stub_->stub->async()->GetLease(&call->ctx, &call->req, &call->resp, [read](::grpc::Status s) {
    // NOT_FOUND is persistence-proxy's answer for a lease nobody holds (a
    // dead primary's, once it expired): a node without a primary, not a
    // store that failed.
    auto& done = read->done;
    if (s.error_code() == ::grpc::StatusCode::NOT_FOUND) return done(Lease{});
    if (!s.ok()) return done(grpc_util::FromGrpcStatus(s));
    const auto& resp = read->call->resp;
    done(Lease{.holder = resp.holder(),
               .endpoint = resp.endpoint(),
               .epoch = resp.epoch(),
               .remaining_ms = resp.remaining_ms()});
  });
}

}  // namespace orch::sessionapi
