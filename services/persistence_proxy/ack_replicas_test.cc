// Unit tests of persistence.ack-replicas: the options, reading replica
// counts from CLUSTER NODES and ROLE, and what "auto" resolves to.

#include "services/persistence_proxy/ack_replicas.h"

#include "common/base/environment.h"
#include "common/config/config.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/persistence_proxy/persistence_proxy.h"

namespace orch::persistence_proxy {
namespace {

using ::orch::testing::IsOk;
using ::orch::testing::StatusIs;
using ::testing::HasSubstr;
using redis::RedisReply;

absl::StatusOr<config::Config> ParseProxyConfig(const std::string& toml) {
  config::Schema schema;
  Definition().add_options(&schema);
  return config::Config::Parse(schema, toml, "proxy.toml", MapEnvironment());
}

TEST(AckOptionsTest, DefaultsAreAutoAndHalfASecond) {
  auto c = ParseProxyConfig("");
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->GetInt("persistence.ack-replicas"), kAckReplicasAuto);
  EXPECT_EQ(c->GetInt("persistence.ack-timeout-ms"), 500);
}

TEST(AckOptionsTest, ExplicitValues) {
  auto c = ParseProxyConfig("[persistence]\nack-replicas = 2\nack-timeout-ms = 50\n");
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->GetInt("persistence.ack-replicas"), 2);
  EXPECT_EQ(c->GetInt("persistence.ack-timeout-ms"), 50);
  c = ParseProxyConfig("[persistence]\nack-replicas = 0\n");
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->GetInt("persistence.ack-replicas"), 0);
}

TEST(AckOptionsTest, BadValuesNameTheOption) {
  EXPECT_THAT(ParseProxyConfig("[persistence]\nack-replicas = -2\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("persistence.ack-replicas = -2 is out of range: allowed -1..100")));
  EXPECT_THAT(ParseProxyConfig("[persistence]\nack-replicas = \"auto\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("persistence.ack-replicas must be an integer")));
  EXPECT_THAT(ParseProxyConfig("[persistence]\nack-timeout-ms = 0\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("persistence.ack-timeout-ms = 0 is out of range")));
}

// CLUSTER NODES of a six-node cluster after a failover: 7104 took over
// 7101's slots (7101 failed), 7102 has its replica 7105, 7103's replica 7106
// is marked failed.
constexpr char kClusterNodes[] =
    "a1 127.0.0.1:7101@17101 master,fail - 1 1 1 disconnected\n"
    "a2 127.0.0.1:7102@17102 myself,master - 0 0 2 connected 5461-10922\n"
    "a3 127.0.0.1:7103@17103 master - 0 1 3 connected 10923-16383\n"
    "a4 127.0.0.1:7104@17104 master - 0 1 7 connected 0-5460\n"
    "a5 127.0.0.1:7105@17105 slave a2 0 1 2 connected\n"
    "a6 127.0.0.1:7106@17106 slave,fail a3 0 1 3 disconnected\n";

TEST(ReplicaCountsTest, ClusterNodes) {
  auto c = ParseClusterNodes(kClusterNodes);
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->masters, 3);
  EXPECT_EQ(c->max_configured, 1);
  EXPECT_EQ(c->min_live, 0);  // 7104 has none yet; 7103's is failed
  EXPECT_THAT(c->fewest_live_master, ::testing::AnyOf("127.0.0.1:7103", "127.0.0.1:7104"));
}

TEST(ReplicaCountsTest, ClusterNodesAllReplicated) {
  auto c = ParseClusterNodes(
      "a1 127.0.0.1:7101@17101 myself,master - 0 0 1 connected 0-8191\n"
      "a2 127.0.0.1:7102@17102 master - 0 1 2 connected 8192-16383\n"
      "b1 127.0.0.1:7103@17103 slave a1 0 1 1 connected\n"
      "b2 127.0.0.1:7104@17104 slave a2 0 1 2 connected\n"
      "b3 127.0.0.1:7105@17105 slave a2 0 1 2 connected\n"
      "c1 127.0.0.1:7106@17106 master - 0 1 0 connected\n");  // no slots: not counted
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->masters, 2);
  EXPECT_EQ(c->min_live, 1);
  EXPECT_EQ(c->fewest_live_master, "127.0.0.1:7101");
  EXPECT_EQ(c->max_configured, 2);
}

TEST(ReplicaCountsTest, MalformedClusterNodes) {
  EXPECT_THAT(ParseClusterNodes("a1 127.0.0.1:7101 master\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("malformed line")));
}

TEST(ReplicaCountsTest, Role) {
  auto replica = [](int port) {
    return RedisReply::Array({RedisReply::String("127.0.0.1"), RedisReply::String(std::to_string(port)),
                              RedisReply::String("100")});
  };
  auto two = ParseRole(RedisReply::Array(
      {RedisReply::String("master"), RedisReply::Integer(100), RedisReply::Array({replica(1), replica(2)})}));
  ASSERT_THAT(two, IsOk());
  EXPECT_EQ(two->masters, 1);
  EXPECT_EQ(two->min_live, 2);
  EXPECT_EQ(two->max_configured, 2);
  auto none = ParseRole(
      RedisReply::Array({RedisReply::String("master"), RedisReply::Integer(0), RedisReply::Array({})}));
  ASSERT_THAT(none, IsOk());
  EXPECT_EQ(none->max_configured, 0);
  auto is_replica = ParseRole(RedisReply::Array(
      {RedisReply::String("slave"), RedisReply::String("127.0.0.1"), RedisReply::Integer(6379),
       RedisReply::String("connected"), RedisReply::Integer(10)}));
  ASSERT_THAT(is_replica, IsOk());
  EXPECT_EQ(is_replica->masters, 0);
  EXPECT_THAT(ParseRole(RedisReply::Status("OK")), StatusIs(absl::StatusCode::kInvalidArgument));
}

ReplicaCounts Counts(int masters, int min_live, int max_configured) {
  return {.masters = masters, .min_live = min_live, .max_configured = max_configured,
          .fewest_live_master = "127.0.0.1:7101"};
}

TEST(AckPolicyTest, AutoWaitsUntilItKnowsThereAreNoReplicas) {
  AckPolicy p(kAckReplicasAuto);
  EXPECT_EQ(p.replicas(), 1);  // unknown: assume replicated
  EXPECT_FALSE(p.settled());
  AckPolicy::Note n = p.Observe(Counts(1, 0, 0));  // standalone, no replica
  EXPECT_EQ(p.replicas(), 0);
  EXPECT_FALSE(n.warning);
  EXPECT_THAT(n.text, HasSubstr("without waiting for replicas"));
  EXPECT_FALSE(p.settled());  // a replica may still be attached
  EXPECT_TRUE(p.Observe(Counts(1, 0, 0)).text.empty());  // nothing new
  n = p.Observe(Counts(1, 1, 1));
  EXPECT_EQ(p.replicas(), 1);
  EXPECT_TRUE(p.settled());
  EXPECT_THAT(n.text, HasSubstr("every write waits for 1 replica"));
}

TEST(AckPolicyTest, AutoNeverDropsBackOnceAReplicaWasSeen) {
  AckPolicy p(kAckReplicasAuto);
  p.Observe(Counts(3, 1, 1));
  ASSERT_EQ(p.replicas(), 1);
  // The replicas are gone (failed, or removed): writes must fail rather
  // than be acknowledged unreplicated.
  AckPolicy::Note n = p.Observe(Counts(3, 0, 0));
  EXPECT_EQ(p.replicas(), 1);
  EXPECT_TRUE(n.warning);
  EXPECT_THAT(n.text, HasSubstr("persistence.ack-replicas = auto (1): master 127.0.0.1:7101 has 0 "
                                "live replica(s): writes to it fail with UNAVAILABLE"));
}

TEST(AckPolicyTest, ExplicitCountsAreKeptAndShortfallsReported) {
  AckPolicy zero(0);
  EXPECT_TRUE(zero.settled());
  zero.Observe(Counts(3, 1, 1));
  EXPECT_EQ(zero.replicas(), 0);

  AckPolicy two(2);
  EXPECT_EQ(two.replicas(), 2);
  AckPolicy::Note n = two.Observe(Counts(3, 1, 1));
  EXPECT_EQ(two.replicas(), 2);
  EXPECT_TRUE(n.warning);
  EXPECT_THAT(n.text, HasSubstr("persistence.ack-replicas = 2: master 127.0.0.1:7101 has 1 live"));
  n = two.Observe(Counts(3, 2, 2));
  EXPECT_FALSE(n.warning);
  EXPECT_THAT(n.text, HasSubstr("every write waits for 2 replica(s)"));
}

}  // namespace
}  // namespace orch::persistence_proxy
