// Integration tests of the cluster client against a six-process Redis
// Cluster started by the test.

#include <signal.h>

#include <atomic>
#include <future>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/redis/cluster_slots.h"
#include "common/redis/redis_client.h"
#include "common/redis/testing/redis_server.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace orch::redis {
namespace {

using ::orch::testing::IsOk;
using ::orch::testing::RedisCluster;
using ::orch::testing::RedisServer;
using ::orch::testing::StatusIs;

class ClusterClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = RedisCluster::Start();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    options_.nodes = {cluster_->addresses()[0], cluster_->addresses()[3]};
    auto client = CreateRedisClient(options_);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  std::string NodeId(const std::string& address) {
    auto id = cluster_->node(address)->Cli({"cluster", "myid"});
    EXPECT_TRUE(id.ok()) << id.status();
    return std::string(absl::StripAsciiWhitespace(id.ok() ? *id : ""));
  }

  std::unique_ptr<RedisCluster> cluster_;
  RedisOptions options_;
  std::unique_ptr<RedisClient> client_;
};

TEST_F(ClusterClientTest, KeysSpreadOverSlots) {
  EXPECT_TRUE(client_->is_cluster());
  std::vector<std::vector<std::string>> sets, gets;
  for (int i = 0; i < 300; ++i) {
    sets.push_back({"SET", absl::StrCat("key:", i), absl::StrCat("value-", i)});
    gets.push_back({"GET", absl::StrCat("key:", i)});
  }
  for (const auto& r : client_->ExecuteBatchSync(sets, absl::Seconds(10))) {
    ASSERT_THAT(r, IsOk());
    ASSERT_EQ(*r, RedisReply::Status("OK")) << r->DebugString();
  }
  auto got = client_->ExecuteBatchSync(gets, absl::Seconds(10));
  for (int i = 0; i < 300; ++i) {
    ASSERT_THAT(got[i], IsOk());
    EXPECT_EQ(*got[i], RedisReply::String(absl::StrCat("value-", i)));
  }
  // Every master holds some of the keys.
  for (const std::string& address : cluster_->addresses()) {
    auto role = cluster_->node(address)->Cli({"role"});
    ASSERT_TRUE(role.ok());
    if (role->rfind("master", 0) != 0) continue;
    auto n = cluster_->node(address)->Cli({"dbsize"});
    ASSERT_TRUE(n.ok());
    EXPECT_GT(std::stoi(*n), 50) << address;
  }
  EXPECT_EQ(client_->stats().moved, 0u);
  EXPECT_GE(client_->stats().topology_refreshes, 1u);
}

TEST_F(ClusterClientTest, FollowsAskAndMovedWhenASlotMoves) {
  const std::string key = "{moving}:k";
  const int slot = KeySlot(key);
  ASSERT_THAT(client_->ExecuteSync({"SET", "{moving}:warm", "1"}), IsOk());  // map loaded
  ASSERT_THAT(client_->ExecuteSync({"DEL", "{moving}:warm"}), IsOk());       // slot empty
  auto from = cluster_->MasterOf(slot);
  ASSERT_TRUE(from.ok()) << from.status();
  std::string to;
  for (const std::string& a : cluster_->addresses()) {
    auto role = cluster_->node(a)->Cli({"role"});
    if (a != *from && role.ok() && role->rfind("master", 0) == 0) to = a;
  }
  ASSERT_FALSE(to.empty());
  const std::string from_id = NodeId(*from), to_id = NodeId(to);
  const std::string s = std::to_string(slot);
  ASSERT_TRUE(cluster_->node(to)->Cli({"cluster", "setslot", s, "importing", from_id}).ok());
  ASSERT_TRUE(cluster_->node(*from)->Cli({"cluster", "setslot", s, "migrating", to_id}).ok());

  // Migrating: the old owner answers ASK for a key it does not have.
  auto set = client_->ExecuteSync({"SET", key, "moved-value"});
  ASSERT_THAT(set, IsOk());
  EXPECT_EQ(*set, RedisReply::Status("OK")) << set->DebugString();
  EXPECT_GE(client_->stats().ask, 1u);

  // Finish the move on every master: now the old owner answers MOVED.
  for (const std::string& a : cluster_->addresses()) {
    ASSERT_TRUE(cluster_->node(a)->Cli({"cluster", "setslot", s, "node", to_id}).ok());
  }
  auto get = client_->ExecuteSync({"GET", key});
  ASSERT_THAT(get, IsOk());
  EXPECT_EQ(*get, RedisReply::String("moved-value"));
  EXPECT_GE(client_->stats().moved, 1u);
  // The map learnt the new owner: no further redirections.
  const uint64_t moved = client_->stats().moved;
  ASSERT_THAT(client_->ExecuteSync({"GET", key}), IsOk());
  EXPECT_EQ(client_->stats().moved, moved);
}

TEST_F(ClusterClientTest, MultiKeyEvalShaOnOneHashTag) {
  RedisScript script(
      "redis.call('SET', KEYS[1], ARGV[1]); redis.call('XADD', KEYS[2], '*', 'e', ARGV[1]);"
      " return redis.call('XLEN', KEYS[2])");
  for (int i = 1; i <= 3; ++i) {
    auto r = client_->EvalShaSync(script, {"ORS:c:{sess42}:snap", "ORS:c:{sess42}:log"},
                                  {absl::StrCat("v", i)});
    ASSERT_THAT(r, IsOk());
    EXPECT_EQ(*r, RedisReply::Integer(i)) << r->DebugString();
  }
  EXPECT_EQ(*client_->ExecuteSync({"GET", "ORS:c:{sess42}:snap"}), RedisReply::String("v3"));
  // Keys on different slots: Redis's CROSSSLOT error comes back as a reply.
  auto cross = client_->EvalShaSync(script, {"{a}:x", "{b}:y"}, {"v"});
  ASSERT_THAT(cross, IsOk());
  EXPECT_TRUE(cross->is_error());
}

// ReplicaWait on a cluster: each write waits on the connection of the
// master that ran it; a batch over every master waits on each.
TEST_F(ClusterClientTest, WaitedWritesReachTheReplicasOfEveryMaster) {
  constexpr int kN = 300;
  std::vector<std::vector<std::string>> sets;
  for (int i = 0; i < kN; ++i) sets.push_back({"SET", absl::StrCat("w:", i), "v"});
  std::promise<std::vector<absl::StatusOr<RedisReply>>> done;
  client_->ExecuteBatch(sets, absl::Seconds(10), {.replicas = 1, .timeout = absl::Seconds(5)},
                        [&done](std::vector<absl::StatusOr<RedisReply>> r) {
                          done.set_value(std::move(r));
                        });
  for (const auto& r : done.get_future().get()) {
    ASSERT_THAT(r, IsOk());
    EXPECT_TRUE(r->is_status()) << r->DebugString();
  }
  // Acknowledged: every replica has what its master has, at once.
  int masters = 0;
  int64_t waits = 0;
  for (const std::string& address : cluster_->addresses()) {
    RedisServer* node = cluster_->node(address);
    auto role = node->Cli({"role"});
    ASSERT_TRUE(role.ok());
    if (role->rfind("master", 0) != 0) continue;
    ++masters;
    auto replicas = cluster_->ReplicasOf(address);
    ASSERT_THAT(replicas, IsOk());
    ASSERT_EQ(replicas->size(), 1u) << address << "\n" << *node->Cli({"cluster", "nodes"});
    auto size = node->Cli({"dbsize"});
    auto replica_size = cluster_->node((*replicas)[0])->Cli({"dbsize"});
    ASSERT_THAT(size, IsOk());
    ASSERT_THAT(replica_size, IsOk());
    EXPECT_GT(std::stoi(*size), 50) << address;
    EXPECT_EQ(*replica_size, *size) << address;
    auto stats = node->Cli({"info", "commandstats"});
    ASSERT_THAT(stats, IsOk());
    const size_t at = stats->find("cmdstat_wait:calls=");
    ASSERT_NE(at, std::string::npos) << address << " ran no WAIT";
    waits += std::stoll(stats->substr(at + std::string("cmdstat_wait:calls=").size()));
  }
  EXPECT_EQ(masters, 3);
  // Pipelined: WAITs are shared by the writes sent together.
  EXPECT_LT(waits, kN / 2);
}

TEST_F(ClusterClientTest, FailoverWhileRequestsRun) {
  const std::string tag = "{victim}";
  const int slot = KeySlot(tag);
  ASSERT_THAT(client_->ExecuteSync({"SET", tag + ":before", "1"}), IsOk());

  std::atomic<bool> stop{false};
  std::atomic<int> ok_count{0}, unavailable{0}, other{0};
  std::atomic<int64_t> last_ok_ns{0};
  std::thread writer([&] {
    for (int i = 0; !stop.load() && i < 100000; ++i) {
      auto r = client_->ExecuteSync({"SET", absl::StrCat(tag, ":", i), "x"}, absl::Seconds(15));
      if (r.ok() && r->is_status()) {
        ++ok_count;
        last_ok_ns = absl::ToUnixNanos(absl::Now());
      } else if (!r.ok() && r.status().code() == absl::StatusCode::kUnavailable) {
        ++unavailable;
      } else {
        ++other;
        ADD_FAILURE() << (r.ok() ? r->DebugString() : r.status().ToString());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const int before = ok_count.load();
  const absl::Time kill_start = absl::Now();
  auto new_master = cluster_->KillMasterAndWaitForFailover(slot, absl::Seconds(30));
  std::cout << "failover took " << absl::FormatDuration(absl::Now() - kill_start) << "\n";
  const absl::Time promoted = absl::Now();
  ASSERT_TRUE(new_master.ok()) << new_master.status();
  // Requests resume after the promotion.
  const absl::Time deadline = absl::Now() + absl::Seconds(15);
  while (absl::FromUnixNanos(last_ok_ns.load()) <= promoted && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop = true;
  writer.join();
  const RedisClientStats st = client_->stats();
  std::cout << "failover: ok=" << ok_count << " unavailable=" << unavailable
            << " promoted after kill+wait, resumed " << absl::FormatDuration(
                   absl::FromUnixNanos(last_ok_ns.load()) - promoted)
            << " later; retries=" << st.retries << " refreshes=" << st.topology_refreshes
            << " moved=" << st.moved << " reconnects=" << st.reconnects << "\n";
  EXPECT_GT(before, 0);
  EXPECT_GT(absl::FromUnixNanos(last_ok_ns.load()), promoted) << "no success after failover";
  EXPECT_LE(unavailable.load(), 2) << "only requests in flight at the kill may fail";
  EXPECT_EQ(other.load(), 0);

  // The client follows the new topology for every slot.
  std::vector<std::vector<std::string>> sets;
  for (int i = 0; i < 100; ++i) sets.push_back({"SET", absl::StrCat("after:", i), "y"});
  for (const auto& r : client_->ExecuteBatchSync(sets, absl::Seconds(10))) {
    ASSERT_THAT(r, IsOk());
    EXPECT_TRUE(r->is_status()) << r->DebugString();
  }
  auto before_value = client_->ExecuteSync({"GET", tag + ":before"});
  ASSERT_THAT(before_value, IsOk());
  EXPECT_EQ(*before_value, RedisReply::String("1"));
  EXPECT_GE(client_->stats().topology_refreshes, 2u);
}

}  // namespace
}  // namespace orch::redis
