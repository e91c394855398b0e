#include "tests/stack/stack.h"

#include <fstream>
#include <iterator>
#include <map>
#include <regex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/grpc/channel.h"
#include "common/testing/http_client.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace orch::testing {

::grpc::health::v1::HealthCheckResponse::ServingStatus Served::Health(const std::string& service) const {
  using ::grpc::health::v1::Health;
  using ::grpc::health::v1::HealthCheckResponse;
  auto stub = Health::NewStub(grpc_util::MakeChannel(grpc));
  ::grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  HealthCheckResponse resp;
  ::grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (!stub->Check(&ctx, req, &resp).ok()) return HealthCheckResponse::UNKNOWN;
  return resp.status();
}

bool Served::Healthy(const std::string& service) const {
  return Health(service) == ::grpc::health::v1::HealthCheckResponse::SERVING;
}

std::string Served::Metrics() const {
  auto r = HttpGet("http://" + metrics + "/metrics");
  return r.ok() ? r->body : "";
}

double Served::Metric(const std::string& name) const {
  std::smatch m;
  std::string text = Metrics();
  if (std::regex_search(text, m, std::regex("\n" + name + " ([0-9.e+-]+)"))) return std::stod(m[1]);
  return -1;
}

std::string TestClusterFile(const std::string& dir, const std::string& name) {
  const std::string path = absl::StrCat(dir, "/cluster-", name, ".toml");
  std::ofstream(path) << "name = \"" << name << "\"\n"
                      << "[[node]]\nid = 1\n[[node]]\nid = 2\n[[node]]\nid = 3\n[[node]]\nid = 4\n";
  return path;
}

std::string TestClusterToml(const std::string& dir, const std::string& name) {
  return absl::StrCat("\n[cluster]\nfile = \"", TestClusterFile(dir, name), "\"\n");
}

absl::StatusOr<Served> Launch(const std::string& bin, const std::string& config) {
  std::map<std::string, std::string> env;
  std::ifstream in(config);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!absl::StrContains(text, "[cluster]")) {
    env["ORCH_CLUSTER_FILE"] = TestClusterFile(config.substr(0, config.rfind('/')));
  }
  auto p = Subprocess::Start({.argv = {bin, "--config", config}, .env = env, .unset_env = OrchEnvironmentVariables()});
  if (!p.ok()) return p.status();
  Served s;
  s.process = std::move(*p);
  s.config = config;
  for (int i = 0; i < 50; ++i) {
    auto line = s.process->ReadLine(Subprocess::Stream::kStderr, absl::Seconds(20));
    if (!line.ok()) return absl::InternalError(absl::StrCat(bin, ": no serving line: ", line.status().message()));
    if (absl::StrContains(*line, "\"msg\":\"http serving\"")) s.http = LogLineField(*line, "http");
    if (absl::StrContains(*line, "\"msg\":\"serving\"")) {
      s.grpc = LogLineField(*line, "grpc");
      s.metrics = LogLineField(*line, "metrics");
      return s;
    }
  }
  return absl::InternalError(absl::StrCat(bin, ": no serving line"));
}

std::string TomlSection(const std::string& extra, const std::string& section) {
  std::string out;
  size_t start = 0;
  while (start < extra.size()) {
    size_t end = extra.find('\n', start);
    if (end == std::string::npos) end = extra.size();
    std::string line = extra.substr(start, end - start);
    if (absl::StartsWith(line, section + ".")) out += line.substr(section.size() + 1) + "\n";
    start = end + 1;
  }
  return out;
}

}  // namespace orch::testing
