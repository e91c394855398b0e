// A configuration as a platform team would copy it from the seeds (every
// option named as there, wave2-requirements.md §5): the shared options in the
// cluster file's [options.*], Redis's in persistence-proxy's own file. Each of
// the five executables runs with --check-config and must exit 0; their dumps
// must show the values taken. An option of the cluster file that no process
// has is skipped by every process without a word, so the test also asserts
// that each seed option is taken by at least one process, except the ones
// listed as taken by none (kTakenByNone), which must stay exactly that list.

#include <sys/wait.h>

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/testing/certs.h"
#include "common/testing/status_matchers.h"
#include "common/testing/subprocess.h"
#include "common/testing/temp_dir.h"
#include "gtest/gtest.h"

namespace orch {
namespace {

using ::orch::testing::Subprocess;
using ::testing::HasSubstr;

struct Process {
  const char* name;
  const char* path;
};

const Process kProcesses[] = {
    {"session-engine", ORCH_SESSION_ENGINE_BIN}, {"persistence-proxy", ORCH_PERSISTENCE_PROXY_BIN},
    {"scheduler", ORCH_SCHEDULER_BIN},           {"call-watcher", ORCH_CALL_WATCHER_BIN},
    {"rest-gateway", ORCH_REST_GATEWAY_BIN},
};

// Every option the seeds name for a process's configuration (section.key).
const char* const kSeedOptions[] = {
    "orchestration.call-watching-timeout",
    "orchestration.backup-synch-max-buffer",
    "orchestration.backup-synch-max-age",
    "orchestration.sessionid-with-nodeid",
    "orchestration.restart-session-on-switchover",
    "orchestration.session-restart-timeout",
    "orchestration.new-session-on-reroute",
    "orchestration.same-node-for-cons-prim-calls",
    "orchestration.mcr-pull-by-this-node",
    "orchestration.switch-multi-links-enabled",
    "scxml.session-processing-threads",
    "scxml.persistence-default",
    "scxml.fips-enabled",
    "persistence.type",
    "persistence.redis-nodes",
    "persistence.username",
    "persistence.password",
    "persistence.tls-enabled",
    "persistence.tls-cert",
    "persistence.tls-key",
    "persistence.tls-cacert",
    "persistence.tls-cacertdir",
    "persistence.tls-sni",
    "persistence.cassandra-listenport",
    "persistence.cassandra-nodes",
    "persistence.cassandra-keyspace-name",
    "persistence.cassandra-schema-version",
    "persistence.cassandra-strategy-class",
    "persistence.cassandra-strategy-options",
};

// Seed options that no process takes today (the seeds' multimedia, FIPS and
// Cassandra options, "not planned" in the requirements): a cluster file that
// holds them loads, and they have no effect. An option that leaves this list
// (a process took it) or joins it (a process lost it) fails the test.
const std::set<std::string> kTakenByNone = {
    "orchestration.mcr-pull-by-this-node",    "orchestration.switch-multi-links-enabled",
    "scxml.fips-enabled",                     "persistence.cassandra-listenport",
    "persistence.cassandra-keyspace-name",    "persistence.cassandra-schema-version",
    "persistence.cassandra-strategy-class",   "persistence.cassandra-strategy-options",
};

// The cluster file: the options every process of the cluster shares, with
// the values the seeds give or recommend.
std::string ClusterFile(const std::string& cassandra_nodes) {
  return absl::StrCat(R"(name = "ors"
data-centers = ["London", "Paris"]

[[node]]
id = 1
data-center = "London"

[[node]]
id = 2
data-center = "Paris"

[options.orchestration]
call-watching-timeout = 7000
backup-synch-max-buffer = 100
backup-synch-max-age = 600
sessionid-with-nodeid = true
restart-session-on-switchover = true
session-restart-timeout = 50
new-session-on-reroute = true
same-node-for-cons-prim-calls = true
mcr-pull-by-this-node = true
switch-multi-links-enabled = true

[options.scxml]
session-processing-threads = 8
persistence-default = false
fips-enabled = false

[options.persistence]
type = "redis"
cassandra-listenport = "9042"
cassandra-nodes = ")",
                      cassandra_nodes, R"("
cassandra-keyspace-name = "ors"
cassandra-schema-version = "8.1.400"
cassandra-strategy-class = "SimpleStrategy"
cassandra-strategy-options = "replication_factor:2"
)");
}

// A process's effective configuration as --check-config prints it:
// "section.key" -> {value, origin}, the origin's file without its folder
// ("cluster.toml:12", "default").
using Dump = std::map<std::string, std::pair<std::string, std::string>>;

Dump ParseDump(const std::string& text) {
  Dump dump;
  std::string section;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "#")) continue;
    if (absl::StartsWith(line, "[") && absl::EndsWith(line, "]")) {
      section = std::string(line.substr(1, line.size() - 2));
      continue;
    }
    const size_t eq = line.find(" = ");
    const size_t hash = line.rfind("  # ");
    if (eq == absl::string_view::npos || hash == absl::string_view::npos || hash < eq) {
      ADD_FAILURE() << "not a dump line: " << line;
      continue;
    }
    absl::string_view origin = line.substr(hash + 4);
    if (const size_t slash = origin.rfind('/'); slash != absl::string_view::npos) origin.remove_prefix(slash + 1);
    dump[absl::StrCat(section, ".", line.substr(0, eq))] = {std::string(line.substr(eq + 3, hash - eq - 3)),
                                                             std::string(origin)};
  }
  return dump;
}

class SeedConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto certs = testing::MakeTestCerts(dir_.path());
    ASSERT_OK(certs);
    certs_ = *certs;
    dir_.WriteFile("cacerts/ca.pem", "");
    own_files_["session-engine"] = "[orchestration]\nnode-id = 1\n";
    own_files_["persistence-proxy"] = absl::StrCat(
        "[persistence]\nredis-nodes = [\"10.1.0.31:6379\", \"10.1.0.32:6379\", \"10.1.0.33:6379\"]\n",
        "username = \"ors\"\npassword = \"seed-password-42\"\ntls-enabled = true\n",
        "tls-cert = \"", certs_.client_cert, "\"\ntls-key = \"", certs_.client_key, "\"\ntls-cacert = \"",
        certs_.ca_cert, "\"\ntls-cacertdir = \"", dir_.path(), "/cacerts\"\ntls-sni = \"redis.ors.internal\"\n");
  }

  // Runs `process` with --check-config on its own file (which names the
  // cluster file); returns its exit code, stdout and stderr.
  struct Run {
    int code = -1;
    std::string out, err;
  };
  Run CheckConfig(const Process& process) {
    Run run;
    const std::string own = dir_.WriteFile(
        absl::StrCat(process.name, ".toml"),
        absl::StrCat("[cluster]\nfile = \"cluster.toml\"\n\n", own_files_[process.name]));
    std::map<std::string, std::string> env;
    if (std::string(process.name) == "rest-gateway") env.emplace("ORCH_AUTH_TOKEN", "seed-config-token-0123456789");
    auto p = Subprocess::Start({.argv = {process.path, "--config", own, "--check-config"},
                                .env = env,
                                .unset_env = testing::OrchEnvironmentVariables()});
    EXPECT_OK(p);
    if (!p.ok()) return run;
    EXPECT_OK((*p)->ReadUntilEof(absl::Seconds(30), &run.out, &run.err));
    auto status = (*p)->Wait(absl::Seconds(30));
    EXPECT_TRUE(status.ok() && WIFEXITED(*status)) << process.name << " did not exit normally";
    if (status.ok() && WIFEXITED(*status)) run.code = WEXITSTATUS(*status);
    return run;
  }

  testing::TempDir dir_;
  testing::TestCerts certs_;
  std::map<std::string, std::string> own_files_;
};

TEST_F(SeedConfigTest, EveryProcessLoadsItAndEverySeedOptionIsTakenBySome) {
  dir_.WriteFile("cluster.toml", ClusterFile("unknown"));
  std::map<std::string, Dump> dumps;
  for (const Process& process : kProcesses) {
    Run run = CheckConfig(process);
    EXPECT_EQ(run.code, 0) << process.name << ": " << run.err;
    EXPECT_THAT(run.out, HasSubstr("cluster ors from")) << process.name;
    EXPECT_FALSE(absl::StrContains(run.out + run.err, "seed-password-42")) << process.name << " shows the password";
    dumps[process.name] = ParseDump(run.out);
  }

  // Values taken, and from where.
  auto expect = [&](const char* process, const char* key, const std::string& value, const std::string& origin) {
    auto it = dumps[process].find(key);
    ASSERT_NE(it, dumps[process].end()) << process << " has no " << key;
    EXPECT_EQ(it->second.first, value) << process << " " << key;
    EXPECT_TRUE(absl::StartsWith(it->second.second, origin))
        << process << " " << key << " comes from " << it->second.second << ", expected " << origin;
  };
  expect("call-watcher", "orchestration.call-watching-timeout", "7000", "cluster.toml:");
  expect("call-watcher", "orchestration.restart-session-on-switchover", "true", "cluster.toml:");
  expect("call-watcher", "orchestration.same-node-for-cons-prim-calls", "true", "cluster.toml:");
  expect("session-engine", "orchestration.session-restart-timeout", "50", "cluster.toml:");
  expect("session-engine", "orchestration.sessionid-with-nodeid", "true", "cluster.toml:");
  expect("session-engine", "scxml.session-processing-threads", "8", "cluster.toml:");
  expect("session-engine", "scxml.persistence-default", "false", "cluster.toml:");
  expect("session-engine", "persistence.cassandra-nodes", "\"unknown\"", "cluster.toml:");
  expect("persistence-proxy", "persistence.type", "\"redis\"", "cluster.toml:");
  expect("persistence-proxy", "persistence.redis-nodes",
         "[\"10.1.0.31:6379\", \"10.1.0.32:6379\", \"10.1.0.33:6379\"]", "persistence-proxy.toml:");
  expect("persistence-proxy", "persistence.tls-sni", "\"redis.ors.internal\"", "persistence-proxy.toml:");
  expect("persistence-proxy", "persistence.tls-enabled", "true", "persistence-proxy.toml:");

  // Each seed option is taken by some process, from the file it was put in.
  std::set<std::string> taken_by_none;
  for (const char* option : kSeedOptions) {
    bool taken = false;
    for (const auto& [process, dump] : dumps) {
      auto it = dump.find(option);
      if (it != dump.end() && (absl::StartsWith(it->second.second, "cluster.toml:") ||
                               absl::StartsWith(it->second.second, absl::StrCat(process, ".toml:")))) {
        taken = true;
      }
    }
    if (!taken) taken_by_none.insert(option);
  }
  EXPECT_EQ(taken_by_none, kTakenByNone) << "seed options no process takes: " << absl::StrJoin(taken_by_none, ", ");
}

TEST_F(SeedConfigTest, CassandraNodesOtherThanUnknownIsRefusedByName) {
  dir_.WriteFile("cluster.toml", ClusterFile("10.1.0.41;10.1.0.42"));
  Run run = CheckConfig(kProcesses[0]);
  EXPECT_EQ(run.code, 2);
  std::vector<std::string> lines = absl::StrSplit(run.err, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u) << run.err;
  EXPECT_THAT(lines[0], HasSubstr("cassandra-nodes"));
  EXPECT_THAT(lines[0], HasSubstr("cluster.toml:"));
  EXPECT_THAT(lines[0], HasSubstr("\"level\":\"error\""));
}

}  // namespace
}  // namespace orch
