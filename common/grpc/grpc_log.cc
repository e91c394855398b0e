#include "common/grpc/grpc_log.h"

#include <grpc/support/log.h>

#include "common/log/log.h"

namespace orch::grpc_util {
namespace {

void LogFromGrpc(gpr_log_func_args* args) {
  log::Level level = log::Level::kInfo;
  switch (args->severity) {
    case GPR_LOG_SEVERITY_DEBUG: level = log::Level::kDebug; break;
    case GPR_LOG_SEVERITY_INFO: level = log::Level::kInfo; break;
    case GPR_LOG_SEVERITY_ERROR: level = log::Level::kError; break;
  }
  log::Write(level, args->message != nullptr ? args->message : "",
             {{"component", "grpc"},
              {"file", args->file != nullptr ? args->file : ""},
              {"line", args->line}});
}

}  // namespace

void RouteGrpcLogs() { gpr_set_log_function(&LogFromGrpc); }

}  // namespace orch::grpc_util
