// orch-probe: asks a gRPC server for its health (grpc.health.v1) and exits 0
// when it is SERVING. For scripts, container health checks and humans.
//
//   orch-probe [--service NAME] [--wait-ms N] [--timeout-ms N]
//              [--tls-ca FILE [--tls-cert FILE --tls-key FILE] [--server-name NAME]]
//              HOST:PORT
//
// --wait-ms retries until SERVING or until N ms have passed (default 0: one
// try). Exit status: 0 SERVING, 1 anything else (one line on stderr says
// what), 2 bad arguments.

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "common/grpc/channel.h"
#include "common/tls/tls_files.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

int Usage(const std::string& problem) {
  std::fprintf(stderr, "orch-probe: %s\nusage: orch-probe [--service NAME] [--wait-ms N] [--timeout-ms N] "
                       "[--tls-ca FILE [--tls-cert FILE --tls-key FILE] [--server-name NAME]] HOST:PORT\n",
               problem.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string target, service, ca, cert, key, server_name;
  int64_t wait_ms = 0, timeout_ms = 2000;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (arg == "--service" && value(&service)) continue;
    if (arg == "--tls-ca" && value(&ca)) continue;
    if (arg == "--tls-cert" && value(&cert)) continue;
    if (arg == "--tls-key" && value(&key)) continue;
    if (arg == "--server-name" && value(&server_name)) continue;
    if (arg == "--wait-ms" && value(&v) && absl::SimpleAtoi(v, &wait_ms) && wait_ms >= 0) continue;
    if (arg == "--timeout-ms" && value(&v) && absl::SimpleAtoi(v, &timeout_ms) && timeout_ms > 0) continue;
    if (!arg.empty() && arg[0] != '-' && target.empty()) {
      target = arg;
      continue;
    }
    return Usage("bad argument '" + arg + "'");
  }
  if (target.empty()) return Usage("no HOST:PORT");

  auto options = orch::grpc_util::ClientChannelOptions(
      {.cert = cert, .key = key, .ca = ca, .cert_option = "--tls-cert", .key_option = "--tls-key",
       .ca_option = "--tls-ca"},
      server_name);
  if (!options.ok()) return Usage(std::string(options.status().message()));
  auto stub = Health::NewStub(orch::grpc_util::MakeChannel(target, *options));
  const absl::Time give_up = absl::Now() + absl::Milliseconds(wait_ms);
  std::string last;
  for (;;) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
    HealthCheckRequest req;
    req.set_service(service);
    HealthCheckResponse resp;
    grpc::Status s = stub->Check(&ctx, req, &resp);
    if (s.ok() && resp.status() == HealthCheckResponse::SERVING) {
      std::printf("%s SERVING\n", target.c_str());
      return 0;
    }
    last = s.ok() ? HealthCheckResponse::ServingStatus_Name(resp.status())
                  : "rpc failed: " + s.error_message() + " (code " + std::to_string(s.error_code()) + ")";
    if (absl::Now() >= give_up) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::fprintf(stderr, "%s %s\n", target.c_str(), last.c_str());
  return 1;
}
