#pragma once

// Conversion between absl::Status and grpc::Status, done only at the edges
// (service handlers and client wrappers). The canonical codes are the same
// numbers in both.

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace orch::grpc_util {

::grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const ::grpc::Status& status);

}  // namespace orch::grpc_util
