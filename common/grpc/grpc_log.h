#pragma once

namespace orch::grpc_util {

// Sends gRPC's own log lines (gpr_log) through orch::log as JSON lines with
// "component":"grpc", so a process's stderr holds one format only. Call once
// at start-up, before any gRPC object exists.
void RouteGrpcLogs();

}  // namespace orch::grpc_util
