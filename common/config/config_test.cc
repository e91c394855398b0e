#include "common/config/config.h"

#include "common/config/validators.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gtest/gtest.h"

namespace orch::config {
namespace {

using ::orch::testing::IsOk;
using ::orch::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

Schema TestSchema() {
  Schema s;
  s.Add({.section = "server", .name = "grpc-listen", .type = OptionType::kString,
         .default_value = std::string("127.0.0.1:0"), .help = "gRPC address",
         .validate = ValidateListenAddress});
  s.Add({.section = "server", .name = "shutdown-grace-ms", .type = OptionType::kInt,
         .default_value = int64_t{5000}, .help = "grace", .min = 0, .max = 600000});
  s.Add({.section = "log", .name = "level", .type = OptionType::kString,
         .default_value = std::string("info"), .help = "level",
         .allowed = {"debug", "info", "warn", "error"}});
  s.Add({.section = "persistence", .name = "tls-enabled", .type = OptionType::kBool,
         .default_value = false, .help = "tls"});
  s.Add({.section = "persistence", .name = "redis-nodes", .type = OptionType::kStringList,
         .default_value = std::vector<std::string>{"127.0.0.1:6379"}, .help = "seeds",
         .validate = ValidateEndpointList});
  s.Add({.section = "persistence", .name = "password", .type = OptionType::kString,
         .default_value = std::string(""), .help = "password", .secret = true});
  s.Add({.section = "persistence", .name = "tls-cert", .type = OptionType::kString,
         .default_value = std::string(""), .help = "cert"});
  s.Add({.section = "persistence", .name = "tls-key", .type = OptionType::kString,
         .default_value = std::string(""), .help = "key"});
  s.AddCheck([](const Config& c) -> absl::Status {
    if (c.GetString("persistence.tls-cert").empty() != c.GetString("persistence.tls-key").empty()) {
      return absl::InvalidArgumentError("persistence.tls-cert and persistence.tls-key: set both or neither");
    }
    return absl::OkStatus();
  });
  return s;
}

MapEnvironment Env(std::map<std::string, std::string> vars) { return MapEnvironment(std::move(vars)); }

absl::StatusOr<Config> ParseText(const std::string& text, const MapEnvironment& env = MapEnvironment()) {
  static const Schema* schema = new Schema(TestSchema());
  return Config::Parse(*schema, text, "test.toml", env);
}

TEST(ConfigTest, DefaultsWithoutFile) {
  Schema schema = TestSchema();
  auto c = Config::Load(schema, "", MapEnvironment());
  ASSERT_OK(c);
  EXPECT_EQ(c->GetString("server.grpc-listen"), "127.0.0.1:0");
  EXPECT_EQ(c->GetInt("server.shutdown-grace-ms"), 5000);
  EXPECT_FALSE(c->GetBool("persistence.tls-enabled"));
  EXPECT_THAT(c->GetStringList("persistence.redis-nodes"), ElementsAre("127.0.0.1:6379"));
  EXPECT_FALSE(c->IsSet("log.level"));
  EXPECT_EQ(c->Origin("log.level"), "default");
}

TEST(ConfigTest, GoodFileSetsEveryType) {
  testing::TempDir dir;
  std::string path = dir.WriteFile("good.toml", R"(# a comment
[server]
grpc-listen = "0.0.0.0:7001"
shutdown-grace-ms = 250

[log]
level = "debug"

[persistence]
tls-enabled = true
redis-nodes = ["10.0.0.1:6379", "[::1]:6380"]
)");
  Schema schema = TestSchema();
  auto c = Config::Load(schema, path, MapEnvironment());
  ASSERT_OK(c);
  EXPECT_EQ(c->GetString("server.grpc-listen"), "0.0.0.0:7001");
  EXPECT_EQ(c->GetInt("server.shutdown-grace-ms"), 250);
  EXPECT_EQ(c->GetString("log.level"), "debug");
  EXPECT_TRUE(c->GetBool("persistence.tls-enabled"));
  EXPECT_THAT(c->GetStringList("persistence.redis-nodes"), ElementsAre("10.0.0.1:6379", "[::1]:6380"));
  EXPECT_TRUE(c->IsSet("log.level"));
  EXPECT_EQ(c->Origin("server.shutdown-grace-ms"), path + ":4");
}

TEST(ConfigTest, UnknownOptionNamesFileLineAndKnownOptions) {
  EXPECT_THAT(ParseText("[server]\n\ngrpc-lsten = \"x\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("test.toml:3: unknown option server.grpc-lsten"),
                             HasSubstr("grpc-listen, shutdown-grace-ms"))));
}

TEST(ConfigTest, UnknownSectionAndTopLevelKey) {
  EXPECT_THAT(ParseText("[srever]\nx = 1\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("test.toml:1: unknown section [srever]"), HasSubstr("[server]"))));
  EXPECT_THAT(ParseText("level = \"info\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("outside any section")));
  EXPECT_THAT(ParseText("[server.tls]\ncert = \"x\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown option server.tls")));
}

TEST(ConfigTest, WrongTypeSaysWhatIsAllowed) {
  EXPECT_THAT(ParseText("[server]\nshutdown-grace-ms = \"5s\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("test.toml:2: server.shutdown-grace-ms must be an integer in 0..600000, not a string")));
  EXPECT_THAT(ParseText("[persistence]\ntls-enabled = \"yes\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("must be a boolean")));
  EXPECT_THAT(ParseText("[persistence]\nredis-nodes = [\"a:1\", 2]\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("array of strings, but has an integer")));
  EXPECT_THAT(ParseText("[server]\nshutdown-grace-ms = 1.5\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a float")));
}

TEST(ConfigTest, OutOfRangeAndNotAllowed) {
  EXPECT_THAT(ParseText("[server]\nshutdown-grace-ms = 600001\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("server.shutdown-grace-ms = 600001 is out of range: allowed 0..600000")));
  EXPECT_THAT(ParseText("[log]\nlevel = \"verbose\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("log.level = \"verbose\" is not allowed: one of debug, info, warn, error")));
  EXPECT_THAT(ParseText("[server]\ngrpc-listen = \"localhost\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("test.toml:2: server.grpc-listen: 'localhost' is not host:port")));
  EXPECT_THAT(ParseText("[persistence]\nredis-nodes = []\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at least one")));
}

TEST(ConfigTest, MalformedTomlGivesLineAndColumn) {
  EXPECT_THAT(ParseText("[server]\ngrpc-listen = \"unterminated\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("test.toml:2:")));
  EXPECT_THAT(ParseText("[server]\nshutdown-grace-ms = 1\nshutdown-grace-ms = 2\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("test.toml:3:"), HasSubstr("malformed TOML"))));
}

TEST(ConfigTest, MissingFileIsAnError) {
  Schema schema = TestSchema();
  EXPECT_THAT(Config::Load(schema, "/nonexistent/orch.toml", MapEnvironment()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("configuration file: cannot read '/nonexistent/orch.toml'")));
}

TEST(ConfigTest, EnvironmentOverridesFileAndDefault) {
  MapEnvironment env({{"ORCH_SERVER_SHUTDOWN_GRACE_MS", "42"},
                      {"ORCH_LOG_LEVEL", "warn"},
                      {"ORCH_PERSISTENCE_TLS_ENABLED", "1"},
                      {"ORCH_PERSISTENCE_REDIS_NODES", " a:1, b:2 ,"},
                      {"ORCH_NOT_AN_OPTION", "x"},
                      {"HOME", "/root"}});
  auto c = ParseText("[server]\nshutdown-grace-ms = 7\n", env);
  ASSERT_OK(c);
  EXPECT_EQ(c->GetInt("server.shutdown-grace-ms"), 42);
  EXPECT_EQ(c->Origin("server.shutdown-grace-ms"), "environment ORCH_SERVER_SHUTDOWN_GRACE_MS");
  EXPECT_EQ(c->GetString("log.level"), "warn");
  EXPECT_TRUE(c->GetBool("persistence.tls-enabled"));
  EXPECT_THAT(c->GetStringList("persistence.redis-nodes"), ElementsAre("a:1", "b:2"));
  EXPECT_THAT(c->unknown_environment(), ElementsAre("ORCH_NOT_AN_OPTION"));
}

TEST(ConfigTest, BadEnvironmentValueNamesTheVariable) {
  EXPECT_THAT(ParseText("", Env({{"ORCH_SERVER_SHUTDOWN_GRACE_MS", "soon"}})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("environment ORCH_SERVER_SHUTDOWN_GRACE_MS: server.shutdown-grace-ms must be an integer")));
  EXPECT_THAT(ParseText("", Env({{"ORCH_SERVER_SHUTDOWN_GRACE_MS", "-1"}})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("out of range")));
  EXPECT_THAT(ParseText("", Env({{"ORCH_PERSISTENCE_TLS_ENABLED", "maybe"}})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("must be true or false")));
}

TEST(ConfigTest, CrossOptionCheck) {
  EXPECT_THAT(ParseText("[persistence]\ntls-cert = \"/c.pem\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("set both or neither")));
  EXPECT_THAT(ParseText("[persistence]\ntls-cert = \"/c.pem\"\ntls-key = \"/k.pem\"\n"), IsOk());
}

TEST(ConfigTest, SecretsNeverShown) {
  Schema schema = TestSchema();
  schema.Add({.section = "persistence", .name = "token", .type = OptionType::kString,
              .default_value = std::string(""), .help = "token", .allowed = {"a", "b"},
              .secret = true});
  auto bad = Config::Parse(schema, "[persistence]\ntoken = \"hunter2\"\n", "t.toml", MapEnvironment());
  EXPECT_THAT(bad, StatusIs(absl::StatusCode::kInvalidArgument, Not(HasSubstr("hunter2"))));
  auto c = ParseText("[persistence]\npassword = \"hunter2\"\n");
  ASSERT_OK(c);
  EXPECT_EQ(c->GetString("persistence.password"), "hunter2");
  EXPECT_THAT(c->Dump(), AllOf(Not(HasSubstr("hunter2")), HasSubstr("password = \"<redacted>\"")));
}

TEST(ConfigTest, DumpIsTomlThatParsesBack) {
  auto c = ParseText("[log]\nlevel = \"error\"\n");
  ASSERT_OK(c);
  std::string dumped = c->Dump();
  EXPECT_THAT(dumped, HasSubstr("[server]\n"));
  auto again = ParseText(dumped);
  ASSERT_OK(again);
  EXPECT_EQ(again->GetString("log.level"), "error");
  EXPECT_EQ(again->GetInt("server.shutdown-grace-ms"), 5000);
}

TEST(ConfigTest, EnvNames) {
  Option o{.section = "persistence", .name = "tls-cacertdir"};
  EXPECT_EQ(o.EnvName(), "ORCH_PERSISTENCE_TLS_CACERTDIR");
}


// The cluster file: a schema that opts in, files in a temporary folder.
class ConfigClusterTest : public ::testing::Test {
 protected:
  ConfigClusterTest() : schema_(TestSchema()) { AddClusterFileOption(&schema_); }

  // The test schema's [server], [log] and [persistence], plus [scxml] that it
  // does not know.
  std::string WriteCluster(const std::string& options, const std::string& name = "cluster.toml") {
    return dir_.WriteFile(name, "name = \"prod\"\n[[node]]\nid = 1\n" + options);
  }
  // A process file's lines naming the cluster file at `path`.
  static std::string Naming(const std::string& path) { return "[cluster]\nfile = \"" + path + "\"\n"; }
  absl::StatusOr<Config> LoadProcess(const std::string& toml, const MapEnvironment& env = MapEnvironment()) {
    return Config::Load(schema_, dir_.WriteFile("process.toml", toml), env);
  }

  testing::TempDir dir_;
  Schema schema_;
};

TEST_F(ConfigClusterTest, NoClusterFileNamed) {
  auto c = LoadProcess("[log]\nlevel = \"warn\"\n");
  ASSERT_OK(c);
  EXPECT_EQ(c->cluster(), nullptr);
  EXPECT_EQ(c->GetString("cluster.file"), "");
  EXPECT_THAT(c->Dump(), Not(HasSubstr("# cluster")));
}

TEST_F(ConfigClusterTest, PrecedenceDefaultClusterFileEnvironment) {
  const std::string cluster = WriteCluster(R"(
[options.server]
shutdown-grace-ms = 111
grpc-listen = "0.0.0.0:7001"

[options.log]
level = "debug"

[options.persistence]
redis-nodes = ["r1:6379"]
)");
  auto c = LoadProcess(Naming(cluster) + "[log]\nlevel = \"warn\"\n",
                       Env({{"ORCH_SERVER_GRPC_LISTEN", "127.0.0.1:9"}}));
  ASSERT_OK(c);
  ASSERT_NE(c->cluster(), nullptr);
  EXPECT_EQ(c->cluster()->name(), "prod");
  // The cluster file over the default.
  EXPECT_EQ(c->GetInt("server.shutdown-grace-ms"), 111);
  EXPECT_EQ(c->Origin("server.shutdown-grace-ms"), cluster + ":6");
  EXPECT_TRUE(c->IsSet("server.shutdown-grace-ms"));
  EXPECT_THAT(c->GetStringList("persistence.redis-nodes"), ElementsAre("r1:6379"));
  EXPECT_EQ(c->Origin("persistence.redis-nodes"), cluster + ":13");
  // The process's file over the cluster file.
  EXPECT_EQ(c->GetString("log.level"), "warn");
  EXPECT_EQ(c->Origin("log.level"), dir_.path() + "/process.toml:4");
  // The environment over both.
  EXPECT_EQ(c->GetString("server.grpc-listen"), "127.0.0.1:9");
  // Untouched: the default.
  EXPECT_FALSE(c->GetBool("persistence.tls-enabled"));
  EXPECT_EQ(c->Origin("persistence.tls-enabled"), "default");
}

TEST_F(ConfigClusterTest, OptionsOfOtherProcessesAreIgnored) {
  const std::string cluster = WriteCluster(R"(
[options.scxml]
session-processing-threads = 8

[options.persistence]
proxy-endpoint = "proxy:7102"
tls-enabled = true
)");
  auto c = LoadProcess(Naming(cluster));
  ASSERT_OK(c);
  EXPECT_TRUE(c->GetBool("persistence.tls-enabled"));
  EXPECT_EQ(c->cluster()->options().size(), 3u);
}

TEST_F(ConfigClusterTest, RelativePathIsRelativeToTheProcessFile) {
  WriteCluster("[options.log]\nlevel = \"error\"\n", "etc/cluster.toml");
  const std::string process = dir_.WriteFile("etc/process.toml", "[cluster]\nfile = \"cluster.toml\"\n");
  auto c = Config::Load(schema_, process, MapEnvironment());
  ASSERT_OK(c);
  EXPECT_EQ(c->GetString("log.level"), "error");
  EXPECT_EQ(c->Origin("log.level"), dir_.path() + "/etc/cluster.toml:5");
}

TEST_F(ConfigClusterTest, NamedByTheEnvironment) {
  const std::string cluster = WriteCluster("[options.log]\nlevel = \"error\"\n");
  // Without a file at all, and with a file naming another cluster file.
  auto c = Config::Load(schema_, "", Env({{"ORCH_CLUSTER_FILE", cluster}}));
  ASSERT_OK(c);
  EXPECT_EQ(c->GetString("log.level"), "error");
  auto d = LoadProcess("[cluster]\nfile = \"/nonexistent/cluster.toml\"\n", Env({{"ORCH_CLUSTER_FILE", cluster}}));
  ASSERT_OK(d);
  EXPECT_EQ(d->cluster()->source_name(), cluster);
}

TEST_F(ConfigClusterTest, SchemaWithoutTheOptionDoesNotReadIt) {
  const std::string cluster = WriteCluster("[options.log]\nlevel = \"error\"\n");
  Schema plain = TestSchema();
  auto c = Config::Parse(plain, "", "", Env({{"ORCH_CLUSTER_FILE", cluster}}));
  ASSERT_OK(c);
  EXPECT_EQ(c->cluster(), nullptr);
  EXPECT_EQ(c->GetString("log.level"), "info");
  EXPECT_THAT(c->unknown_environment(), ElementsAre("ORCH_CLUSTER_FILE"));
  EXPECT_THAT(Config::Parse(plain, "[cluster]\nfile = \"x\"\n", "p.toml", MapEnvironment()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown section [cluster]")));
}

TEST_F(ConfigClusterTest, BadValueNamesTheClusterFileLineEvenWhenOverridden) {
  const std::string cluster = WriteCluster("[options.server]\nshutdown-grace-ms = \"5s\"\n");
  EXPECT_THAT(LoadProcess(Naming(cluster) + "[server]\nshutdown-grace-ms = 5\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(cluster + ":5: server.shutdown-grace-ms must be an integer in 0..600000, not a string")));
  struct Case {
    std::string options;
    std::string error;  // after "<cluster file>:5: "
  };
  const std::vector<Case> cases = {
      {"[options.server]\nshutdown-grace-ms = 600001\n",
       "server.shutdown-grace-ms = 600001 is out of range: allowed 0..600000"},
      {"[options.log]\nlevel = \"loud\"\n", "log.level = \"loud\" is not allowed"},
      {"[options.persistence]\nredis-nodes = [\"r1\"]\n", "persistence.redis-nodes: 'r1' is not host:port"},
      {"[options.persistence]\ntls-enabled = [\"yes\"]\n",
       "persistence.tls-enabled must be a boolean (true or false), not an array of strings"},
  };
  for (const Case& c : cases) {
    const std::string path = WriteCluster(c.options);
    EXPECT_THAT(LoadProcess(Naming(path)),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(path + ":5: " + c.error)));
  }
}

TEST_F(ConfigClusterTest, SecretFromTheClusterFileIsNeverShown) {
  schema_.Add({.section = "persistence", .name = "token", .type = OptionType::kString,
               .default_value = std::string(""), .help = "token", .allowed = {"a", "b"}, .secret = true});
  const std::string bad = WriteCluster("[options.persistence]\ntoken = \"hunter2\"\n");
  EXPECT_THAT(LoadProcess(Naming(bad)),
              StatusIs(absl::StatusCode::kInvalidArgument, AllOf(HasSubstr(bad + ":5"), Not(HasSubstr("hunter2")))));
  const std::string good = WriteCluster("[options.persistence]\npassword = \"hunter2\"\n", "good.toml");
  auto c = LoadProcess(Naming(good));
  ASSERT_OK(c);
  EXPECT_EQ(c->GetString("persistence.password"), "hunter2");
  EXPECT_THAT(c->Dump(), Not(HasSubstr("hunter2")));
}

TEST_F(ConfigClusterTest, UnreadableOrBadClusterFile) {
  EXPECT_THAT(LoadProcess("[cluster]\nfile = \"/nonexistent/cluster.toml\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(dir_.path() + "/process.toml:2: cluster.file: cannot read '/nonexistent/cluster.toml'")));
  EXPECT_THAT(Config::Load(schema_, "", Env({{"ORCH_CLUSTER_FILE", "/nonexistent/c.toml"}})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("environment ORCH_CLUSTER_FILE: cluster.file: cannot read '/nonexistent/c.toml'")));
  const std::string twice = dir_.WriteFile("twice.toml", "name = \"x\"\n[[node]]\nid = 1\n[[node]]\nid = 1\n");
  EXPECT_THAT(LoadProcess(Naming(twice)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(twice + ":5: node id 1 appears twice")));
}

TEST_F(ConfigClusterTest, CrossOptionChecksSeeClusterValues) {
  const std::string cluster = WriteCluster("[options.persistence]\ntls-cert = \"/c.pem\"\n");
  EXPECT_THAT(LoadProcess(Naming(cluster)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("set both or neither")));
  EXPECT_OK(LoadProcess(Naming(cluster) + "[persistence]\ntls-key = \"/k.pem\"\n"));
}

TEST_F(ConfigClusterTest, DumpNamesTheClusterFileAndParsesBack) {
  const std::string cluster = WriteCluster("[options.server]\nshutdown-grace-ms = 111\n");
  auto c = LoadProcess(Naming(cluster));
  ASSERT_OK(c);
  const std::string dumped = c->Dump();
  EXPECT_THAT(dumped, HasSubstr("# cluster prod from \"" + cluster + "\", digest " + c->cluster()->Digest() + "\n"));
  EXPECT_THAT(dumped, HasSubstr("shutdown-grace-ms = 111  # " + cluster + ":5\n"));
  auto again = Config::Parse(schema_, dumped, "dump.toml", MapEnvironment());
  ASSERT_OK(again);
  EXPECT_EQ(again->GetInt("server.shutdown-grace-ms"), 111);
  EXPECT_EQ(again->cluster()->Digest(), c->cluster()->Digest());
}

TEST_F(ConfigClusterTest, CopiesShareTheClusterFile) {
  const std::string cluster = WriteCluster("");
  auto c = LoadProcess(Naming(cluster));
  ASSERT_OK(c);
  Config copy = *c;
  EXPECT_EQ(copy.cluster(), c->cluster());
  EXPECT_THAT(copy.cluster()->NodeIds(), ElementsAre(1));
}

}  // namespace
}  // namespace orch::config
