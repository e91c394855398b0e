#include "common/grpc/server.h"

#include "absl/time/clock.h"
#include "common/grpc/channel.h"
#include "common/metrics/metrics_server.h"
#include "common/testing/certs.h"
#include "common/testing/http_client.h"
#include "common/testing/net.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace orch::grpc_util {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::orch::testing::StatusIs;
using ::testing::HasSubstr;

// Health.Check over `channel`; the gRPC status when the call fails.
absl::StatusOr<HealthCheckResponse::ServingStatus> Check(std::shared_ptr<::grpc::Channel> channel) {
  auto stub = Health::NewStub(channel);
  ::grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  HealthCheckRequest req;
  HealthCheckResponse resp;
  ::grpc::Status s = stub->Check(&ctx, req, &resp);
  if (!s.ok()) return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  return resp.status();
}

// Lists services through server reflection (grpc.reflection.v1alpha): one
// ServerReflectionRequest{list_services: ""} on the bidi stream, encoded by
// hand because the reflection .proto is compiled into gRPC's own library.
absl::StatusOr<std::string> ReflectionListServices(std::shared_ptr<::grpc::Channel> channel) {
  ::grpc::GenericStub stub(channel);
  ::grpc::CompletionQueue cq;
  ::grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto call = stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag;
  bool ok;
  auto step = [&](int want) { return cq.Next(&tag, &ok) && ok && tag == reinterpret_cast<void*>(want); };
  call->StartCall(reinterpret_cast<void*>(1));
  if (!step(1)) return absl::UnavailableError("start failed");
  const char request[] = {0x3a, 0x00};  // field 7 (list_services), empty string
  ::grpc::Slice slice(request, sizeof request);
  ::grpc::ByteBuffer out(&slice, 1);
  call->Write(out, reinterpret_cast<void*>(2));
  if (!step(2)) return absl::UnavailableError("write failed");
  ::grpc::ByteBuffer in;
  call->Read(&in, reinterpret_cast<void*>(3));
  if (!step(3)) return absl::UnavailableError("read failed");
  call->WritesDone(reinterpret_cast<void*>(4));
  step(4);
  ::grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  step(5);
  std::vector<::grpc::Slice> slices;
  (void)in.Dump(&slices);
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return bytes;
}

TEST(GrpcServerTest, HealthServingThenNotServing) {
  auto server = GrpcServer::Start({.listen = "127.0.0.1:0"}, {}, nullptr);
  ASSERT_OK(server);
  ASSERT_GT((*server)->port(), 0);
  auto channel = MakeChannel((*server)->address());
  EXPECT_THAT(Check(channel), ::orch::testing::IsOkAndHolds(HealthCheckResponse::SERVING));
  (*server)->SetServing(false);
  EXPECT_THAT(Check(channel), ::orch::testing::IsOkAndHolds(HealthCheckResponse::NOT_SERVING));
}

TEST(GrpcServerTest, ReflectionListsServices) {
  auto server = GrpcServer::Start({.listen = "127.0.0.1:0"}, {}, nullptr);
  ASSERT_OK(server);
  auto listed = ReflectionListServices(MakeChannel((*server)->address()));
  ASSERT_OK(listed);
  EXPECT_THAT(*listed, HasSubstr("grpc.reflection.v1alpha.ServerReflection"));
}

TEST(GrpcServerTest, PortInUse) {
  testing::HeldPort held;
  EXPECT_THAT(GrpcServer::Start({.listen = held.address()}, {}, nullptr),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("address already in use")));
}

TEST(GrpcServerTest, TwoServersNeverShareAPort) {
  auto first = GrpcServer::Start({.listen = "127.0.0.1:0"}, {}, nullptr);
  ASSERT_OK(first);
  EXPECT_THAT(GrpcServer::Start({.listen = (*first)->address()}, {}, nullptr),
              StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST(GrpcServerTest, MetricsCountRpcsByMethodAndCode) {
  auto metrics = metrics::MetricsServer::Start("127.0.0.1:0", "orch_test", "1");
  ASSERT_OK(metrics);
  auto server = GrpcServer::Start({.listen = "127.0.0.1:0"}, {}, metrics->get());
  ASSERT_OK(server);
  auto channel = MakeChannel((*server)->address());
  ASSERT_OK(Check(channel));
  ASSERT_OK(Check(channel));
  auto body = testing::HttpGet("http://" + (*metrics)->address() + "/metrics");
  ASSERT_OK(body);
  EXPECT_THAT(body->body, HasSubstr("orch_test_grpc_server_handled_total{grpc_code=\"OK\","
                                    "grpc_method=\"/grpc.health.v1.Health/Check\"} 2"));
  EXPECT_THAT(body->body, HasSubstr("orch_test_grpc_server_handling_seconds_count{"
                                    "grpc_method=\"/grpc.health.v1.Health/Check\"} 2"));
}

TEST(GrpcServerTest, ShutdownIsBoundedByGraceEvenWithOpenStreams) {
  auto server = GrpcServer::Start({.listen = "127.0.0.1:0"}, {}, nullptr);
  ASSERT_OK(server);
  auto stub = Health::NewStub(MakeChannel((*server)->address()));
  ::grpc::ClientContext ctx;
  auto watch = stub->Watch(&ctx, HealthCheckRequest());  // a stream that never ends by itself
  HealthCheckResponse first;
  ASSERT_TRUE(watch->Read(&first));
  EXPECT_EQ(first.status(), HealthCheckResponse::SERVING);
  absl::Time start = absl::Now();
  (*server)->Shutdown(absl::Milliseconds(300));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));  // a hang would never return
  ctx.TryCancel();
}

class GrpcServerTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto certs = testing::MakeTestCerts(dir_.path());
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *certs;
  }
  tls::TlsFiles Load(std::string cert, std::string key, std::string ca) {
    auto f = tls::LoadTlsFiles({cert, key, ca});
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? *f : tls::TlsFiles{};
  }
  testing::TempDir dir_;
  testing::TestCerts certs_;
};

TEST_F(GrpcServerTlsTest, TlsServerAcceptsVerifiedClientsOnly) {
  auto server = GrpcServer::Start(
      {.listen = "127.0.0.1:0", .tls = Load(certs_.server_cert, certs_.server_key, "")}, {}, nullptr);
  ASSERT_OK(server);
  const std::string target = "localhost:" + std::to_string((*server)->port());
  ChannelOptions verified{.tls = Load("", "", certs_.ca_cert)};
  EXPECT_THAT(Check(MakeChannel(target, verified)),
              ::orch::testing::IsOkAndHolds(HealthCheckResponse::SERVING));
  EXPECT_THAT(Check(MakeChannel(target)), StatusIs(absl::StatusCode::kUnavailable));
  // A CA that did not sign the server's certificate.
  testing::TempDir other_dir;
  auto other = testing::MakeTestCerts(other_dir.path());
  ASSERT_OK(other);
  EXPECT_THAT(Check(MakeChannel(target, {.tls = Load("", "", other->ca_cert)})),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(GrpcServerTlsTest, MutualTlsRequiresAClientCertificate) {
  auto server = GrpcServer::Start(
      {.listen = "127.0.0.1:0", .tls = Load(certs_.server_cert, certs_.server_key, certs_.ca_cert)},
      {}, nullptr);
  ASSERT_OK(server);
  const std::string target = "localhost:" + std::to_string((*server)->port());
  EXPECT_THAT(Check(MakeChannel(target, {.tls = Load("", "", certs_.ca_cert)})),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(Check(MakeChannel(target, {.tls = Load(certs_.client_cert, certs_.client_key, certs_.ca_cert)})),
              ::orch::testing::IsOkAndHolds(HealthCheckResponse::SERVING));
}

}  // namespace
}  // namespace orch::grpc_util
