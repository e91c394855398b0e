#include "common/cluster/cluster_file.h"

#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gtest/gtest.h"

namespace orch::cluster {
namespace {

using ::orch::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kTwoDataCenters[] = R"(name = "prod"
data-centers = ["london", "paris"]

[[node]]
id = 3
data-center = "paris"
engines = ["10.0.0.3:7101"]

[[node]]
id = 1
data-center = "london"
engines = ["10.0.0.1:7101", "10.0.0.2:7101"]

[[node]]
id = 5

[options.orchestration]
call-watching-timeout = 5000
restart-session-on-switchover = true

[options.persistence]
proxy-endpoint = "proxy:7102"
redis-nodes = ["r1:6379", "r2:6379"]
)";

absl::Status ParseError(const std::string& text) { return ClusterFile::Parse(text, "c.toml").status(); }

TEST(ClusterFileTest, ParsesNameNodesAndOptions) {
  auto f = ClusterFile::Parse(kTwoDataCenters, "c.toml");
  ASSERT_OK(f);
  EXPECT_EQ(f->name(), "prod");
  EXPECT_EQ(f->source_name(), "c.toml");
  EXPECT_THAT(f->data_centers(), ElementsAre("london", "paris"));
  EXPECT_THAT(f->NodeIds(), ElementsAre(1, 3, 5));
  const Node* one = f->FindNode(1);
  ASSERT_NE(one, nullptr);
  EXPECT_EQ(one->data_center, "london");
  EXPECT_THAT(one->engines, ElementsAre("10.0.0.1:7101", "10.0.0.2:7101"));
  EXPECT_EQ(one->line, 10);
  EXPECT_EQ(f->FindNode(2), nullptr);
  EXPECT_EQ(*f->DataCenterOf(3), "paris");
  EXPECT_EQ(*f->DataCenterOf(5), "");  // no data-center: the nameless one
  EXPECT_TRUE(f->FindNode(5)->engines.empty());
  EXPECT_THAT(f->DataCenterOf(2), StatusIs(absl::StatusCode::kNotFound,
                                           HasSubstr("node 2 is not in cluster prod (c.toml)")));

  ASSERT_EQ(f->options().size(), 4u);
  EXPECT_EQ(f->options()[0].Key(), "orchestration.call-watching-timeout");  // sorted by key
  EXPECT_EQ(f->options()[3].Key(), "persistence.redis-nodes");
  const OptionSetting* timeout = f->FindOption("orchestration", "call-watching-timeout");
  ASSERT_NE(timeout, nullptr);
  EXPECT_EQ(std::get<int64_t>(timeout->value), 5000);
  EXPECT_EQ(f->Origin(*timeout), "c.toml:18");
  EXPECT_TRUE(std::get<bool>(f->FindOption("orchestration", "restart-session-on-switchover")->value));
  EXPECT_EQ(std::get<std::string>(f->FindOption("persistence", "proxy-endpoint")->value), "proxy:7102");
  EXPECT_THAT(std::get<std::vector<std::string>>(f->FindOption("persistence", "redis-nodes")->value),
              ElementsAre("r1:6379", "r2:6379"));
  EXPECT_EQ(f->FindOption("persistence", "nope"), nullptr);
  EXPECT_EQ(f->Digest().size(), 64u);
}

TEST(ClusterFileTest, DigestIgnoresLayoutAndOrderButNotMeaning) {
  auto a = ClusterFile::Parse(kTwoDataCenters, "a.toml");
  ASSERT_OK(a);
  // The same cluster: other node order, key order, engine order, comments,
  // dotted keys and inline tables, data centers in another order, an explicit
  // nameless data center, another file name.
  auto b = ClusterFile::Parse(R"(name = "prod"
data-centers = ["paris", "london"]
# the same
[options]
persistence.redis-nodes = ["r1:6379", "r2:6379"]
persistence.proxy-endpoint = "proxy:7102"
orchestration = { restart-session-on-switchover = true, call-watching-timeout = 5000 }

[[node]]
id = 5
data-center = ""

[[node]]
engines = ["10.0.0.2:7101", "10.0.0.1:7101"]
data-center = "london"
id = 1

[[node]]
id = 3
data-center = "paris"
engines = ["10.0.0.3:7101"]
)",
                              "b.toml");
  ASSERT_OK(b);
  EXPECT_EQ(a->Digest(), b->Digest());

  // Each change of meaning changes the digest.
  std::string base = kTwoDataCenters;
  auto digest_with = [&](const std::string& from, const std::string& to) {
    std::string text = base;
    size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
    auto f = ClusterFile::Parse(text, "a.toml");
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? f->Digest() : std::string();
  };
  const std::vector<std::pair<std::string, std::string>> changes = {
      {"name = \"prod\"", "name = \"prod2\""},
      {"[\"london\", \"paris\"]", "[\"london\", \"paris\", \"rome\"]"},
      {"id = 5", "id = 6"},
      {"data-center = \"paris\"", "data-center = \"london\""},
      {"\"10.0.0.3:7101\"", "\"10.0.0.4:7101\""},
      {"call-watching-timeout = 5000", "call-watching-timeout = 5001"},
      {"call-watching-timeout = 5000", "call-watching-timeout = \"5000\""},
      {"restart-session-on-switchover = true", "restart-session-on-switchover = false"},
      {"[\"r1:6379\", \"r2:6379\"]", "[\"r2:6379\", \"r1:6379\"]"},  // a list's order is meaning
      {"[options.persistence]", "[options.persistence2]"},
  };
  for (const auto& [from, to] : changes) {
    EXPECT_NE(digest_with(from, to), a->Digest()) << from << " -> " << to;
  }
}

TEST(ClusterFileTest, OneNodeIsEnough) {
  auto f = ClusterFile::Parse("name = \"solo\"\n[[node]]\nid = 1\n", "c.toml");
  ASSERT_OK(f);
  EXPECT_THAT(f->NodeIds(), ElementsAre(1));
  EXPECT_TRUE(f->data_centers().empty());
  EXPECT_TRUE(f->options().empty());
}

TEST(ClusterFileTest, MissingNameOrNodes) {
  EXPECT_THAT(ParseError("[[node]]\nid = 1\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("c.toml: name is missing")));
  EXPECT_THAT(ParseError("name = \"x\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("c.toml: no node"), HasSubstr("even with a single node"))));
  EXPECT_THAT(ParseError(""), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name is missing")));
}

TEST(ClusterFileTest, BadName) {
  EXPECT_THAT(ParseError("name = \"a b\"\n[[node]]\nid = 1\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("c.toml:1: name = \"a b\" is not a cluster name: 1 to 64 of A-Z a-z 0-9 _ -")));
  EXPECT_THAT(ParseError("name = \"\"\n[[node]]\nid = 1\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not a cluster name")));
  EXPECT_THAT(ParseError("name = \"" + std::string(65, 'a') + "\"\n[[node]]\nid = 1\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not a cluster name")));
  EXPECT_OK(ClusterFile::Parse("name = \"" + std::string(64, 'a') + "\"\n[[node]]\nid = 1\n", "c.toml"));
  EXPECT_THAT(ParseError("name = 7\n[[node]]\nid = 1\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("c.toml:1: name must be a string, not an integer")));
}

TEST(ClusterFileTest, NodeIdTwiceNamesBothLines) {
  EXPECT_THAT(ParseError("name = \"x\"\n[[node]]\nid = 2\n\n[[node]]\nid = 2\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("c.toml:6: node id 2 appears twice: at c.toml:3 and c.toml:6")));
}

TEST(ClusterFileTest, NodeIdRangeTypeAndPresence) {
  EXPECT_THAT(ParseError("name = \"x\"\n[[node]]\nid = 0\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("c.toml:3: node id 0 is out of range: allowed 1..9999")));
  EXPECT_THAT(ParseError("name = \"x\"\n[[node]]\nid = 10000\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("node id 10000 is out of range")));
  EXPECT_OK(ClusterFile::Parse("name = \"x\"\n[[node]]\nid = 9999\n", "c.toml"));
  EXPECT_THAT(ParseError("name = \"x\"\n[[node]]\nid = \"1\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("c.toml:3: node id must be an integer in 1..9999, not a string")));
  EXPECT_THAT(ParseError("name = \"x\"\n[[node]]\ndata-center = \"\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("c.toml:2: [[node]] without an id")));
}

TEST(ClusterFileTest, UndeclaredDataCenter) {
  EXPECT_THAT(ParseError("name = \"x\"\ndata-centers = [\"london\"]\n[[node]]\nid = 1\ndata-center = \"paris\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("c.toml:5: node data-center \"paris\" is not declared in data-centers"),
                             HasSubstr("declared: london"))));
  EXPECT_THAT(ParseError("name = \"x\"\n[[node]]\nid = 1\ndata-center = \"paris\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("(none is;")));
  // Declared after the nodes is fine: TOML puts it before any table anyway,
  // but the check does not depend on the order of keys.
  EXPECT_OK(ClusterFile::Parse("data-centers = [\"paris\"]\nname = \"x\"\n[[node]]\nid = 1\ndata-center = \"paris\"\n",
                               "c.toml"));
}

TEST(ClusterFileTest, BadDataCenterList) {
  EXPECT_THAT(ParseError("name = \"x\"\ndata-centers = [\"a\", \"a\"]\n[[node]]\nid = 1\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("c.toml:2: data-centers: \"a\" is declared twice")));
  EXPECT_THAT(ParseError("name = \"x\"\ndata-centers = [\"\"]\n[[node]]\nid = 1\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("the nameless data center")));
  EXPECT_THAT(ParseError("name = \"x\"\ndata-centers = \"a\"\n[[node]]\nid = 1\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("c.toml:2: data-centers must be an array of strings, not a string")));
}

TEST(ClusterFileTest, BadEngines) {
  EXPECT_THAT(ParseError("name = \"x\"\n[[node]]\nid = 1\nengines = [\"10.0.0.1\"]\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("c.toml:4: node engines: '10.0.0.1' is not host:port")));
  EXPECT_THAT(ParseError("name = \"x\"\n[[node]]\nid = 1\nengines = [\"h:0\"]\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("the port must be 1..65535")));
  EXPECT_THAT(ParseError("name = \"x\"\n[[node]]\nid = 1\nengines = [\"h:1\", \"h:1\"]\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("node engines: h:1 is listed twice")));
  EXPECT_THAT(ParseError("name = \"x\"\n[[node]]\nid = 1\nengines = [\"h:1\"]\n[[node]]\nid = 2\nengines = [\"h:1\"]\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("c.toml:6: engine h:1 is listed by node 1 (c.toml:3) and node 2")));
  EXPECT_THAT(ParseError("name = \"x\"\n[[node]]\nid = 1\nengines = [1]\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("array of strings, but has an integer in it")));
}

TEST(ClusterFileTest, UnknownKeys) {
  EXPECT_THAT(ParseError("name = \"x\"\nnodes = [1]\n[[node]]\nid = 1\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("c.toml:2: unknown key nodes"), HasSubstr("name, data-centers, node"))));
  EXPECT_THAT(ParseError("name = \"x\"\n[[node]]\nid = 1\nengine = \"h:1\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("c.toml:4: unknown key engine in [[node]]"), HasSubstr("id, data-center, engines"))));
  EXPECT_THAT(ParseError("name = \"x\"\n[orchestration]\nnode-id = 1\n[[node]]\nid = 1\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("c.toml:2: unknown key orchestration")));
  // A key that would break the one-line message is quoted.
  const absl::Status odd = ParseError("name = \"x\"\n\"a\\nb\" = 1\n[[node]]\nid = 1\n");
  EXPECT_THAT(odd, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("c.toml:2: unknown key \"a\\nb\";")));
  EXPECT_EQ(odd.message().find('\n'), absl::string_view::npos);
  EXPECT_THAT(ParseError("name = \"x\"\n[node]\nid = 1\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("c.toml:2: node must be an array of tables (write each node as [[node]]), not a table")));
}

TEST(ClusterFileTest, BadOptions) {
  const std::string head = "name = \"x\"\n[[node]]\nid = 1\n";
  EXPECT_THAT(ParseError(head + "[options]\nlevel = \"info\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("c.toml:5: options.level must be a table ([options.level]), not a string")));
  EXPECT_THAT(ParseError("name = \"x\"\noptions = 3\n[[node]]\nid = 1\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("c.toml:2: options must be a table of sections")));
  EXPECT_THAT(ParseError(head + "[options.server.tls]\ncert = \"x\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("options.server.tls is a table; an option is a string, an integer, a boolean")));
  EXPECT_THAT(ParseError(head + "[options.scxml]\nratio = 1.5\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("c.toml:5: options.scxml.ratio is a float")));
  EXPECT_THAT(ParseError(head + "[options.scxml]\nids = [1, 2]\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("options.scxml.ids must be an array of strings, but has an integer in it")));
  EXPECT_THAT(ParseError(head + "[options.cluster]\nfile = \"other.toml\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("[options.cluster]")));
  EXPECT_OK(ClusterFile::Parse(head + "[options.scxml]\n", "c.toml"));  // an empty section is harmless
}

TEST(ClusterFileTest, MalformedToml) {
  EXPECT_THAT(ParseError("name = \"x\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("c.toml:1:")));
  EXPECT_THAT(ParseError("name = \"x\"\nname = \"y\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("c.toml:2:")));
}

TEST(ClusterFileTest, LoadNamesTheUnreadableFile) {
  orch::testing::TempDir dir;
  EXPECT_THAT(ClusterFile::Load(dir.path() + "/missing.toml"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("cluster file: "), HasSubstr("missing.toml"))));
  const std::string path = dir.WriteFile("c.toml", "name = \"x\"\n[[node]]\nid = 4\n");
  auto f = ClusterFile::Load(path);
  ASSERT_OK(f);
  EXPECT_EQ(f->source_name(), path);
  EXPECT_THAT(ClusterFile::Load(dir.WriteFile("bad.toml", "name = \"x\"\n")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad.toml: no node")));
}

TEST(ClusterFileTest, ShippedExamplesParse) {
  auto one = ClusterFile::Load(ORCH_CLUSTER_EXAMPLES_DIR "/one-node.toml");
  ASSERT_OK(one);
  EXPECT_EQ(one->name(), "demo");
  EXPECT_THAT(one->NodeIds(), ElementsAre(1));
  EXPECT_EQ(*one->DataCenterOf(1), "");
  EXPECT_THAT(one->FindNode(1)->engines, ElementsAre("127.0.0.1:7101"));

  auto four = ClusterFile::Load(ORCH_CLUSTER_EXAMPLES_DIR "/four-nodes.toml");
  ASSERT_OK(four);
  EXPECT_THAT(four->NodeIds(), ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(four->data_centers(), ElementsAre("london", "paris"));
  EXPECT_EQ(*four->DataCenterOf(2), "london");
  EXPECT_EQ(*four->DataCenterOf(3), "paris");
}

}  // namespace
}  // namespace orch::cluster
