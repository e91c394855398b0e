#include "common/grpc/status.h"

#include "gtest/gtest.h"

namespace orch::grpc_util {
namespace {

TEST(GrpcStatusTest, RoundTripsCodeAndMessage) {
  for (int code = 1; code <= 16; ++code) {
    absl::Status a(static_cast<absl::StatusCode>(code), "msg " + std::to_string(code));
    ::grpc::Status g = ToGrpcStatus(a);
    EXPECT_EQ(static_cast<int>(g.error_code()), code);
    EXPECT_EQ(g.error_message(), "msg " + std::to_string(code));
    EXPECT_EQ(FromGrpcStatus(g), a);
  }
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(::grpc::Status::OK).ok());
}

}  // namespace
}  // namespace orch::grpc_util
