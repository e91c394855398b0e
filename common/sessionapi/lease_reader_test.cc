#include "common/sessionapi/lease_reader.h"

#include <map>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/grpc/channel.h"
#include "common/grpc/server.h"
#include "common/grpc/status.h"
#include "common/testing/status_matchers.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "orch/persistence/v1/persistence.grpc.pb.h"

namespace orch::sessionapi {
namespace {

namespace pv1 = ::orch::persistence::v1;
using ::orch::testing::StatusIs;
using ::testing::HasSubstr;

// persistence-proxy's GetLease, in process: answers from a map, or `error`.
class FakePersistence final : public pv1::Persistence::CallbackService {
 public:
  void Set(const std::string& name, pv1::GetLeaseResponse lease) {
    absl::MutexLock lock(&mu_);
    leases_[name] = std::move(lease);
  }
  void Fail(absl::Status error) {
    absl::MutexLock lock(&mu_);
    error_ = std::move(error);
  }

  ::grpc::ServerUnaryReactor* GetLease(::grpc::CallbackServerContext* ctx, const pv1::GetLeaseRequest* req,
                                       pv1::GetLeaseResponse* resp) override {
    absl::MutexLock lock(&mu_);
    auto* reactor = ctx->DefaultReactor();
    if (!error_.ok()) {
      reactor->Finish(grpc_util::ToGrpcStatus(error_));
      return reactor;
    }
    // As persistence-proxy: NOT_FOUND when nobody holds the lease.
    auto it = leases_.find(req->name());
    if (it == leases_.end()) {
      reactor->Finish(::grpc::Status(::grpc::StatusCode::NOT_FOUND, "no such lease"));
      return reactor;
    }
    *resp = it->second;
    reactor->Finish(::grpc::Status::OK);
    return reactor;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, pv1::GetLeaseResponse> leases_ ABSL_GUARDED_BY(mu_);
  absl::Status error_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<Lease> Read(LeaseReader& reader, const std::string& name) {
  absl::Notification done;
  absl::StatusOr<Lease> out;
  reader.ReadLease(name, [&](absl::StatusOr<Lease> l) {
    out = std::move(l);
    done.Notify();
  });
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  return out;
}

TEST(GrpcLeaseReaderTest, ReadsTheLeaseThroughPersistenceProxy) {
  FakePersistence proxy;
  pv1::GetLeaseResponse held;
  held.set_holder("engine-a");
  held.set_endpoint("127.0.0.1:7101");
  held.set_epoch(9);
  held.set_remaining_ms(1200);
  proxy.Set("node:1", held);
  auto server = grpc_util::GrpcServer::Start({.listen = "127.0.0.1:0"}, {&proxy}, nullptr);
  ASSERT_OK(server);
  GrpcLeaseReader reader(grpc_util::MakeChannel((*server)->address()));

  auto lease = Read(reader, "node:1");
  ASSERT_OK(lease);
  EXPECT_EQ(lease->holder, "engine-a");
  EXPECT_EQ(lease->endpoint, "127.0.0.1:7101");
  EXPECT_EQ(lease->epoch, 9u);
  EXPECT_EQ(lease->remaining_ms, 1200);

  // Nobody holds node 2's lease (persistence-proxy answers NOT_FOUND): a
  // node without a primary, not an error (an error keeps the last known
  // primary as up).
  auto nobody = Read(reader, "node:2");
  ASSERT_OK(nobody);
  EXPECT_TRUE(nobody->holder.empty());

  proxy.Fail(absl::FailedPreconditionError("store not ready"));
  EXPECT_THAT(Read(reader, "node:1"), StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not ready")));
}

TEST(GrpcLeaseReaderTest, AProxyThatIsGoneIsUnavailable) {
  FakePersistence proxy;
  auto server = grpc_util::GrpcServer::Start({.listen = "127.0.0.1:0"}, {&proxy}, nullptr);
  ASSERT_OK(server);
  const std::string address = (*server)->address();
  (*server)->Shutdown(absl::ZeroDuration());
  server->reset();
  GrpcLeaseReader reader(grpc_util::MakeChannel(address), absl::Seconds(5));
  EXPECT_THAT(Read(reader, "node:1"), StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace orch::sessionapi
