#include "common/config/cluster_values.h"

#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace orch::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::orch::testing::StatusIs;

class ClusterValuesTest : public ::testing::Test {
 protected:
  ClusterValuesTest() {
    schema_.AddStringList("routing", "nodes", {"1"}, "node ids");
    schema_.Add({.section = "persistence", .name = "cluster-name", .type = OptionType::kString,
                 .default_value = std::string("orch"), .help = "prefix"});
    AddClusterFileOption(&schema_);
  }
  absl::StatusOr<Config> Load(const std::string& process, bool with_cluster = true) {
    std::string text = process;
    if (with_cluster) {
      const std::string cluster = dir_.WriteFile(
          "cluster.toml", "name = \"prod\"\n[[node]]\nid = 3\n[[node]]\nid = 1\n[[node]]\nid = 2\n");
      text = "[cluster]\nfile = \"" + cluster + "\"\n" + process;
    }
    return Config::Load(schema_, dir_.WriteFile("process.toml", text), MapEnvironment());
  }

  testing::TempDir dir_;
  Schema schema_;
};

TEST_F(ClusterValuesTest, WithoutClusterFileTheOptionOrItsDefault) {
  auto c = Load("", false);
  ASSERT_OK(c);
  EXPECT_THAT(*ClusterNodeIds(*c, "routing.nodes"), ElementsAre(1));
  EXPECT_EQ(*ClusterName(*c, "persistence.cluster-name"), "orch");
  c = Load("[routing]\nnodes = [\"4\", \"2\", \"4\"]\n[persistence]\ncluster-name = \"x\"\n", false);
  ASSERT_OK(c);
  EXPECT_THAT(*ClusterNodeIds(*c, "routing.nodes"), ElementsAre(4, 2));
  EXPECT_EQ(*ClusterName(*c, "persistence.cluster-name"), "x");
}

TEST_F(ClusterValuesTest, TheClusterFileFillsWhatTheProcessDoesNotSay) {
  auto c = Load("");
  ASSERT_OK(c);
  EXPECT_THAT(*ClusterNodeIds(*c, "routing.nodes"), ElementsAre(1, 2, 3));
  EXPECT_EQ(*ClusterName(*c, "persistence.cluster-name"), "prod");
}

TEST_F(ClusterValuesTest, TheProcessMayNarrowTheNodesButNotLeaveTheCluster) {
  auto c = Load("[routing]\nnodes = [\"2\"]\n");
  ASSERT_OK(c);
  EXPECT_THAT(*ClusterNodeIds(*c, "routing.nodes"), ElementsAre(2));
  c = Load("[routing]\nnodes = [\"2\", \"7\"]\n");
  ASSERT_OK(c);
  auto bad = ClusterNodeIds(*c, "routing.nodes");
  EXPECT_THAT(bad, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(bad.status().message(), HasSubstr("process.toml:4: routing.nodes: node 7 is not a node of cluster prod"));
  c = Load("[routing]\nnodes = [\"x\"]\n");
  ASSERT_OK(c);
  EXPECT_THAT(ClusterNodeIds(*c, "routing.nodes").status().message(), HasSubstr("'x' is not a node id"));
  c = Load("[routing]\nnodes = []\n");
  ASSERT_OK(c);
  EXPECT_THAT(ClusterNodeIds(*c, "routing.nodes").status().message(), HasSubstr("at least one node id"));
}

TEST_F(ClusterValuesTest, AnotherClusterNameIsAnError) {
  auto c = Load("[persistence]\ncluster-name = \"prod\"\n");
  ASSERT_OK(c);
  EXPECT_EQ(*ClusterName(*c, "persistence.cluster-name"), "prod");
  c = Load("[persistence]\ncluster-name = \"staging\"\n");
  ASSERT_OK(c);
  auto bad = ClusterName(*c, "persistence.cluster-name");
  EXPECT_THAT(bad, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(bad.status().message(), HasSubstr("cluster-name = \"staging\" but the cluster file"));
  EXPECT_THAT(bad.status().message(), HasSubstr("names the cluster \"prod\""));
}

}  // namespace
}  // namespace orch::config
