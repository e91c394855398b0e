// Starts each of the five executables as a real process on free ports and
// checks what every Orchestrion process promises: gRPC health SERVING,
// /metrics that promtool accepts, JSON log lines, a clean exit on SIGTERM or
// SIGINT within the grace period, and one clear line for each kind of bad
// input.

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/grpc/channel.h"
#include "common/testing/certs.h"
#include "common/testing/http_client.h"
#include "common/testing/net.h"
#include "common/testing/status_matchers.h"
#include "common/testing/subprocess.h"
#include "common/testing/temp_dir.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace orch {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::orch::testing::Subprocess;
using ::testing::HasSubstr;
using ::testing::Not;

struct Executable {
  const char* name;
  const char* path;
  const char* metrics_prefix;
  // The "<section>.<prefix>" of each gRPC client's TLS options
  // (config::AddClientTlsOptions), comma-separated.
  const char* client_tls = "";
  // A reloadable option of its own (TOML with its section) and its key, for
  // the SIGHUP test; empty: only the common log.level.
  const char* reloadable_toml = "";
  const char* reloadable_key = "";
};

const Executable kExecutables[] = {
    {"session-engine", ORCH_SESSION_ENGINE_BIN, "orch_session_engine", "persistence.proxy",
     "[orchestration]\nsession-restart-timeout = 200\n", "orchestration.session-restart-timeout"},
    {"persistence-proxy", ORCH_PERSISTENCE_PROXY_BIN, "orch_persistence"},
    {"scheduler", ORCH_SCHEDULER_BIN, "orch_scheduler"},
    {"call-watcher", ORCH_CALL_WATCHER_BIN, "orch_call_watcher", "",
     "[orchestration]\nrestart-session-on-switchover = true\n", "orchestration.restart-session-on-switchover"},
    {"rest-gateway", ORCH_REST_GATEWAY_BIN, "orch_rest_gateway", "routing.proxy,routing.engine"},
};

void PrintTo(const Executable& e, std::ostream* os) { *os << e.name; }

constexpr int kGraceMs = 2000;

std::string Field(const std::string& json_line, const std::string& key) {
  return testing::LogLineField(json_line, key);
}

std::string BasicConfig() {
  return absl::StrCat("[server]\ngrpc-listen = \"127.0.0.1:0\"\nshutdown-grace-ms = ", kGraceMs,
                      "\n\n[metrics]\nlisten = \"127.0.0.1:0\"\n");
}

// Test doubles for the environment: a clean one, so an ORCH_* variable of the
// machine running the tests cannot change what is tested.
std::vector<std::string> OrchVariablesOfThisEnvironment() { return testing::OrchEnvironmentVariables(); }

class ProcessTest : public ::testing::TestWithParam<Executable> {
 protected:
  absl::StatusOr<std::unique_ptr<Subprocess>> Start(std::vector<std::string> args,
                                                    std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), GetParam().path);
    if (std::string(GetParam().name) == "rest-gateway") {
      // Its own HTTP port (any free one) and the credentials it insists on.
      env.emplace("ORCH_HTTP_LISTEN", "127.0.0.1:0");
      env.emplace("ORCH_AUTH_TOKEN", "process-test-token-0123456789");
    }
    // Every process needs a cluster file (NoClusterFileIsRefused is the exception).
    if (!env.contains("ORCH_CLUSTER_FILE")) env.emplace("ORCH_CLUSTER_FILE", ClusterFile());
    return Subprocess::Start({.argv = args, .env = env, .unset_env = OrchVariablesOfThisEnvironment()});
  }

  // One node, cluster "orch" (the default cluster-name).
  std::string ClusterFile() {
    return dir_.WriteFile("cluster.toml", "name = \"orch\"\n[[node]]\nid = 1\n");
  }

  // Waits for the "serving" line; returns it. Every line before it must be a
  // JSON log line of this process.
  std::string WaitServing(Subprocess& p) {
    for (int i = 0; i < 50; ++i) {
      auto line = p.ReadLine(Subprocess::Stream::kStderr, absl::Seconds(30));
      if (!line.ok()) {
        ADD_FAILURE() << "no serving line: " << line.status();
        return "";
      }
      EXPECT_THAT(*line, ::testing::StartsWith("{\"ts\":\""));
      EXPECT_THAT(*line, HasSubstr(absl::StrCat("\"process\":\"", GetParam().name, "\"")));
      if (line->find("\"msg\":\"serving\"") != std::string::npos) return *line;
    }
    ADD_FAILURE() << "no serving line in the first 50";
    return "";
  }

  // Runs the process to completion; returns its exit code and stderr lines.
  std::pair<int, std::vector<std::string>> RunToExit(std::vector<std::string> args,
                                                     std::map<std::string, std::string> env = {}) {
    auto p = Start(std::move(args), std::move(env));
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok()) return {-1, {}};
    std::string out, err;
    EXPECT_OK((*p)->ReadUntilEof(absl::Seconds(30), &out, &err));
    auto status = (*p)->Wait(absl::Seconds(30));
    EXPECT_TRUE(status.ok() && WIFEXITED(*status)) << "did not exit normally";
    std::vector<std::string> lines = absl::StrSplit(err, '\n', absl::SkipEmpty());
    return {status.ok() && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1, lines};
  }

  // The process must fail with `code` and exactly one stderr line holding
  // `needle`.
  void ExpectOneLineFailure(std::vector<std::string> args, int code, const std::string& needle,
                            std::map<std::string, std::string> env = {}) {
    auto [exit_code, lines] = RunToExit(std::move(args), std::move(env));
    EXPECT_EQ(exit_code, code);
    ASSERT_EQ(lines.size(), 1u) << absl::StrJoin(lines, "\n");
    EXPECT_THAT(lines[0], HasSubstr(needle));
    EXPECT_THAT(lines[0], HasSubstr("\"level\":\"error\""));
  }

  testing::TempDir dir_;
};

absl::StatusOr<HealthCheckResponse::ServingStatus> Check(const std::string& target,
                                                         const grpc_util::ChannelOptions& options = {}) {
  auto stub = Health::NewStub(grpc_util::MakeChannel(target, options));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  HealthCheckResponse resp;
  grpc::Status s = stub->Check(&ctx, HealthCheckRequest(), &resp);
  if (!s.ok()) return absl::UnavailableError(s.error_message());
  return resp.status();
}

TEST_P(ProcessTest, ServesHealthAndMetricsThenStopsCleanlyOnSigterm) {
  const std::string config = dir_.WriteFile("p.toml", BasicConfig());
  auto p = Start({"--config", config});
  ASSERT_OK(p);
  const std::string serving = WaitServing(**p);
  const std::string grpc_address = Field(serving, "grpc");
  const std::string metrics_address = Field(serving, "metrics");
  ASSERT_THAT(grpc_address, ::testing::StartsWith("127.0.0.1:"));
  ASSERT_THAT(metrics_address, ::testing::StartsWith("127.0.0.1:"));
  EXPECT_THAT(grpc_address, Not(HasSubstr(":0")));

  EXPECT_THAT(Check(grpc_address), ::orch::testing::IsOkAndHolds(HealthCheckResponse::SERVING));

  auto metrics = testing::HttpGet("http://" + metrics_address + "/metrics");
  ASSERT_OK(metrics);
  EXPECT_EQ(metrics->status, 200);
  const std::string prefix = GetParam().metrics_prefix;
  EXPECT_THAT(metrics->body, HasSubstr(prefix + "_build_info{version=\""));
  EXPECT_THAT(metrics->body, HasSubstr(prefix + "_start_time_seconds "));
  EXPECT_THAT(metrics->body, HasSubstr(prefix + "_grpc_server_handled_total{grpc_code=\"OK\","
                                                "grpc_method=\"/grpc.health.v1.Health/Check\"} 1"));
  std::string out, err;
  auto promtool = testing::RunProgram({"/usr/bin/promtool", "check", "metrics"}, metrics->body, &out, &err);
  ASSERT_OK(promtool);
  EXPECT_TRUE(WIFEXITED(*promtool) && WEXITSTATUS(*promtool) == 0) << out << err;

  const absl::Time stop = absl::Now();
  ASSERT_OK((*p)->Signal(SIGTERM));
  auto status = (*p)->Wait(absl::Milliseconds(kGraceMs) + absl::Seconds(3));
  ASSERT_OK(status);
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  EXPECT_LT(absl::Now() - stop, absl::Milliseconds(kGraceMs) + absl::Seconds(3));
  std::string rest;
  ASSERT_OK((*p)->ReadUntilEof(absl::Seconds(5), nullptr, &rest));
  EXPECT_THAT(rest, HasSubstr("\"msg\":\"shutting down\",\"signal\":\"SIGTERM\""));
  EXPECT_THAT(rest, HasSubstr("\"msg\":\"stopped\""));
}

TEST_P(ProcessTest, SigintStopsCleanlyToo) {
  auto p = Start({}, {{"ORCH_SERVER_GRPC_LISTEN", "127.0.0.1:0"}, {"ORCH_METRICS_LISTEN", "127.0.0.1:0"}});
  ASSERT_OK(p);
  WaitServing(**p);
  ASSERT_OK((*p)->Signal(SIGINT));
  auto status = (*p)->Wait(absl::Seconds(15));
  ASSERT_OK(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

TEST_P(ProcessTest, MissingConfigFile) {
  ExpectOneLineFailure({"--config", dir_.path() + "/nope.toml"}, 2,
                       "configuration file: cannot read '" + dir_.path() + "/nope.toml': No such file");
}

TEST_P(ProcessTest, MalformedConfigFile) {
  const std::string config = dir_.WriteFile("bad.toml", "[server]\ngrpc-listen = 127.0.0.1:1\n");
  ExpectOneLineFailure({"--config", config}, 2, config + ":2:");
}

TEST_P(ProcessTest, UnknownOption) {
  const std::string config = dir_.WriteFile("bad.toml", "[server]\ngrpc-lsten = \"127.0.0.1:0\"\n");
  ExpectOneLineFailure({"--config", config}, 2, config + ":2: unknown option server.grpc-lsten");
}

TEST_P(ProcessTest, WrongTypeAndRange) {
  const std::string config = dir_.WriteFile("bad.toml", "[server]\nshutdown-grace-ms = \"ten\"\n");
  ExpectOneLineFailure({"--config", config}, 2, "server.shutdown-grace-ms must be an integer in 0..600000");
  ExpectOneLineFailure({}, 2, "environment ORCH_LOG_LEVEL: log.level = \\\"loud\\\" is not allowed",
                       {{"ORCH_LOG_LEVEL", "loud"}});
}

TEST_P(ProcessTest, GrpcPortInUse) {
  testing::HeldPort held;
  ExpectOneLineFailure({}, 1,
                       "server.grpc-listen: cannot listen on " + held.address() + ": address already in use",
                       {{"ORCH_SERVER_GRPC_LISTEN", held.address()}, {"ORCH_METRICS_LISTEN", "127.0.0.1:0"}});
}

TEST_P(ProcessTest, MetricsPortInUse) {
  testing::HeldPort held;
  ExpectOneLineFailure({}, 1,
                       "metrics.listen: cannot listen on " + held.address() + ": address already in use",
                       {{"ORCH_SERVER_GRPC_LISTEN", "127.0.0.1:0"}, {"ORCH_METRICS_LISTEN", held.address()}});
}

TEST_P(ProcessTest, UnreadableTlsFile) {
  const std::string good = dir_.WriteFile(
      "tls2.toml", "[server]\ntls-cert = \"/nonexistent/cert.pem\"\ntls-key = \"/nonexistent/key.pem\"\n");
  ExpectOneLineFailure({"--config", good}, 2,
                       "server.tls-cert: cannot read '/nonexistent/cert.pem': No such file or directory");
}

// Required even for one node, as the seeds require (docs/cluster.md).
TEST_P(ProcessTest, NoClusterFileIsRefused) {
  const std::string config = dir_.WriteFile("p.toml", BasicConfig());
  ExpectOneLineFailure({"--config", config}, 2, "no cluster file: set [cluster] file (or ORCH_CLUSTER_FILE)",
                       {{"ORCH_CLUSTER_FILE", ""}});
}

// A manifest's ORCH_* variable with a typo: a warning when running (one
// environment is often shared by several processes), an error for
// --check-config --strict-env, which a deployment check runs.
TEST_P(ProcessTest, StrictEnvRefusesVariablesThatNameNoOption) {
  auto [code, lines] = RunToExit({"--check-config", "--strict-env"}, {{"ORCH_LOG_LEVLE", "debug"}});
  EXPECT_EQ(code, 2);
  ASSERT_EQ(lines.size(), 1u) << absl::StrJoin(lines, "\n");
  EXPECT_THAT(lines[0], HasSubstr("environment variables that name no option"));
  EXPECT_THAT(lines[0], HasSubstr("ORCH_LOG_LEVLE"));
  auto [lenient, warned] = RunToExit({"--check-config"}, {{"ORCH_LOG_LEVLE", "debug"}});
  EXPECT_EQ(lenient, 0);
  auto [clean, none] = RunToExit({"--check-config", "--strict-env"}, {{"ORCH_LOG_LEVEL", "debug"}});
  EXPECT_EQ(clean, 0);
  ExpectOneLineFailure({"--strict-env"}, 2, "--strict-env goes with --check-config");
}

TEST_P(ProcessTest, UnknownFlag) {
  ExpectOneLineFailure({"--confgi", "x"}, 2, "unknown argument '--confgi'");
}

TEST_P(ProcessTest, ServesOverMutualTls) {
  auto certs = testing::MakeTestCerts(dir_.path());
  ASSERT_OK(certs);
  const std::string config = dir_.WriteFile(
      "tls.toml", absl::StrCat("[server]\ngrpc-listen = \"127.0.0.1:0\"\ntls-cert = \"", certs->server_cert,
                               "\"\ntls-key = \"", certs->server_key, "\"\ntls-client-ca = \"",
                               certs->ca_cert, "\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n"));
  auto p = Start({"--config", config});
  ASSERT_OK(p);
  const std::string serving = WaitServing(**p);
  EXPECT_THAT(serving, HasSubstr("\"tls\":true,\"mtls\":true"));
  const std::string port = std::string(absl::StripPrefix(Field(serving, "grpc"), "127.0.0.1:"));
  auto client = tls::LoadTlsFiles({certs->client_cert, certs->client_key, certs->ca_cert});
  ASSERT_OK(client);
  EXPECT_THAT(Check("localhost:" + port, {.tls = *client}),
              ::orch::testing::IsOkAndHolds(HealthCheckResponse::SERVING));
  EXPECT_FALSE(Check("127.0.0.1:" + port).ok());  // plaintext is refused
}

// The processes with gRPC clients: a client certificate without the CA that
// verifies the server is refused at start, naming both options.
class ClientTlsProcessTest : public ProcessTest {};

TEST_P(ClientTlsProcessTest, ClientCertificateNeedsTheCa) {
  auto certs = testing::MakeTestCerts(dir_.path());
  ASSERT_OK(certs);
  for (absl::string_view prefix : absl::StrSplit(GetParam().client_tls, ',')) {
    SCOPED_TRACE(prefix);
    std::string env_prefix = absl::StrCat("ORCH_", prefix, "_TLS_");
    std::transform(env_prefix.begin(), env_prefix.end(), env_prefix.begin(),
                   [](char c) { return c == '.' || c == '-' ? '_' : absl::ascii_toupper(c); });
    ExpectOneLineFailure({}, 2, absl::StrCat(prefix, "-tls-cert needs ", prefix, "-tls-ca"),
                         {{env_prefix + "CERT", certs->client_cert}, {env_prefix + "KEY", certs->client_key}});
  }
}

TEST_P(ProcessTest, CheckConfigPrintsEffectiveConfigWithoutSecrets) {
  auto p = Start({"--check-config"}, {{"ORCH_LOG_LEVEL", "debug"}, {"ORCH_PERSISTENCE_PASSWORD", "hunter2"}});
  ASSERT_OK(p);
  std::string out, err;
  ASSERT_OK((*p)->ReadUntilEof(absl::Seconds(30), &out, &err));
  auto status = (*p)->Wait(absl::Seconds(10));
  ASSERT_OK(status);
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  EXPECT_THAT(out, HasSubstr("level = \"debug\"  # environment ORCH_LOG_LEVEL"));
  EXPECT_THAT(out + err, Not(HasSubstr("hunter2")));
}

// Reads stderr lines until one holds `needle`; returns them all (the last
// holds it) or fails the test.
std::vector<std::string> LinesUntil(Subprocess& p, const std::string& needle) {
  std::vector<std::string> lines;
  for (int i = 0; i < 50; ++i) {
    auto line = p.ReadLine(Subprocess::Stream::kStderr, absl::Seconds(20));
    if (!line.ok()) break;
    lines.push_back(*line);
    if (absl::StrContains(*line, needle)) return lines;
  }
  ADD_FAILURE() << "no line with " << needle << " in:\n" << absl::StrJoin(lines, "\n");
  return lines;
}

// SIGHUP: the configuration is read again; log.level and the process's own
// reloadable option take effect, an option that cannot change while running
// (server.shutdown-grace-ms) is refused by name, a file that does not load
// changes nothing, and the process goes on serving throughout.
TEST_P(ProcessTest, SighupAppliesReloadableOptionsAndRefusesTheOthers) {
  const std::string config = dir_.WriteFile("p.toml", BasicConfig() + "\n[log]\nlevel = \"info\"\n");
  auto p = Start({"--config", config});
  ASSERT_OK(p);
  const std::string serving = WaitServing(**p);
  const std::string metrics_url = "http://" + Field(serving, "metrics") + "/metrics";
  const std::string prefix = GetParam().metrics_prefix;

  dir_.WriteFile("p.toml", absl::StrCat("[server]\ngrpc-listen = \"127.0.0.1:0\"\nshutdown-grace-ms = ", kGraceMs + 500,
                                        "\n\n[metrics]\nlisten = \"127.0.0.1:0\"\n\n[log]\nlevel = \"warn\"\n",
                                        GetParam().reloadable_toml));
  ASSERT_OK((*p)->Signal(SIGHUP));
  std::vector<std::string> lines = LinesUntil(**p, "\"msg\":\"configuration reloaded\"");
  const std::string applied = std::string(GetParam().reloadable_key).empty()
                                  ? "log.level"
                                  : absl::StrCat("log.level, ", GetParam().reloadable_key);
  EXPECT_THAT(lines.back(), HasSubstr(absl::StrCat("\"applied\":\"", applied, "\"")));
  EXPECT_THAT(lines.back(), HasSubstr("\"refused\":\"server.shutdown-grace-ms\""));
  EXPECT_THAT(lines.back(), HasSubstr("\"result\":\"refused\""));
  bool refusal = false;
  for (const std::string& l : lines) {
    if (absl::StrContains(l, "takes effect only at a restart") &&
        absl::StrContains(l, "\"option\":\"server.shutdown-grace-ms\"") &&
        absl::StrContains(l, absl::StrCat("\"running\":\"", kGraceMs, "\""))) {
      refusal = true;
    }
  }
  EXPECT_TRUE(refusal) << absl::StrJoin(lines, "\n");

  // A file that does not load: said at error level (log.level is warn now).
  dir_.WriteFile("p.toml", "[server\n");
  ASSERT_OK((*p)->Signal(SIGHUP));
  lines = LinesUntil(**p, "configuration reload failed");
  EXPECT_THAT(lines.back(), HasSubstr("p.toml:1"));
  EXPECT_THAT(lines.back(), HasSubstr("\"level\":\"error\""));

  // Counted just after the line is logged: read until both are (5 s at most).
  const std::string refused = prefix + "_config_reloads_total{result=\"refused\"} 1";
  const std::string failed = prefix + "_config_reloads_total{result=\"failed\"} 1";
  std::string body;
  for (int i = 0; i < 100; ++i) {
    auto metrics = testing::HttpGet(metrics_url);
    ASSERT_OK(metrics);
    body = metrics->body;
    if (absl::StrContains(body, refused) && absl::StrContains(body, failed)) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_THAT(body, HasSubstr(refused));
  EXPECT_THAT(body, HasSubstr(failed));
  EXPECT_THAT(body, HasSubstr(prefix + "_config_reloads_total{result=\"applied\"} 0"));
  EXPECT_THAT(Check(Field(serving, "grpc")), ::orch::testing::IsOkAndHolds(HealthCheckResponse::SERVING));

  ASSERT_OK((*p)->Signal(SIGTERM));
  auto status = (*p)->Wait(absl::Milliseconds(kGraceMs) + absl::Seconds(5));
  ASSERT_OK(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

std::string TestName(const ::testing::TestParamInfo<Executable>& info) {
  std::string n = info.param.name;
  std::replace(n.begin(), n.end(), '-', '_');
  return n;
}

INSTANTIATE_TEST_SUITE_P(AllFive, ProcessTest, ::testing::ValuesIn(kExecutables), TestName);
INSTANTIATE_TEST_SUITE_P(WithGrpcClients, ClientTlsProcessTest,
                         ::testing::Values(kExecutables[0], kExecutables[4]), TestName);

}  // namespace
}  // namespace orch
