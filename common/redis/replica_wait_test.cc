// Writes that wait for replicas (ReplicaWait): a real master with a real
// replica (standalone), and a paused (SIGSTOPped) replica.

#include <signal.h>

#include <future>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/redis/redis_client.h"
#include "common/redis/reply.h"
#include "common/redis/testing/redis_server.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace orch::redis {
namespace {

using ::orch::testing::IsOk;
using ::orch::testing::RedisServer;
using ::orch::testing::StatusIs;
using ::testing::HasSubstr;

// The value of `field` in an INFO section ("field:value" lines), or -1.
int64_t InfoField(const std::string& info, const std::string& field) {
  for (absl::string_view line : absl::StrSplit(info, '\n')) {
    line = absl::StripTrailingAsciiWhitespace(line);
    if (!absl::StartsWith(line, field + ":")) continue;
    int64_t v = 0;
    if (absl::SimpleAtoi(line.substr(field.size() + 1), &v)) return v;
  }
  return -1;
}

// How many WAIT commands the server has run (INFO commandstats).
int64_t WaitCalls(const RedisServer& server) {
  auto stats = server.Cli({"info", "commandstats"});
  if (!stats.ok()) return -1;
  for (absl::string_view line : absl::StrSplit(*stats, '\n')) {
    if (!absl::StartsWith(line, "cmdstat_wait:calls=")) continue;
    line.remove_prefix(std::string("cmdstat_wait:calls=").size());
    int64_t v = 0;
    if (absl::SimpleAtoi(line.substr(0, line.find(',')), &v)) return v;
  }
  return 0;
}

absl::StatusOr<RedisReply> Call(RedisClient& client, std::vector<std::string> args,
                                const ReplicaWait& wait,
                                absl::Duration timeout = absl::Seconds(2)) {
  std::promise<absl::StatusOr<RedisReply>> done;
  client.Execute(std::move(args), timeout, wait,
                 [&done](absl::StatusOr<RedisReply> r) { done.set_value(std::move(r)); });
  return done.get_future().get();
}

class ReplicaWaitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A replica's full sync starts at once (the default waits 5 s for more
    // replicas to share it).
    auto master = RedisServer::Start({.extra_args = {"--repl-diskless-sync-delay", "0"}});
    ASSERT_TRUE(master.ok()) << master.status();
    master_ = *std::move(master);
    orch::testing::RedisServerOptions ro;
    ro.extra_args = {"--replicaof", "127.0.0.1", std::to_string(master_->port())};
    auto replica = RedisServer::Start(ro);
    ASSERT_TRUE(replica.ok()) << replica.status();
    replica_ = *std::move(replica);
    // In sync: a first write has reached the replica (a WAIT right after
    // the full sync, before the replica's first acknowledgement, would time
    // out: the master holds the command stream until then).
    ASSERT_THAT(master_->Cli({"set", "warm", "1"}), IsOk());
    ASSERT_THAT(master_->WaitForReplicasInSync(absl::Seconds(20)), IsOk());
    RedisOptions o;
    o.nodes = {master_->address()};
    o.connect_timeout = absl::Seconds(1);
    auto client = CreateRedisClient(o);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  std::unique_ptr<RedisServer> master_;
  std::unique_ptr<RedisServer> replica_;
  std::unique_ptr<RedisClient> client_;
};

TEST_F(ReplicaWaitTest, AWaitedWriteIsOnTheReplicaWhenItsReplyArrives) {
  auto r = Call(*client_, {"SET", "k", "v1"}, {.replicas = 1, .timeout = absl::Seconds(2)});
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(*r, RedisReply::Status("OK"));
  // No sleep: acknowledged by WAIT means the replica has applied it.
  auto on_replica = replica_->Cli({"get", "k"});
  ASSERT_THAT(on_replica, IsOk());
  EXPECT_EQ(*on_replica, "v1\n");
  EXPECT_EQ(WaitCalls(*master_), 1);
}

TEST_F(ReplicaWaitTest, ConcurrentWaitedWritesShareWaits) {
  constexpr int kN = 500;
  std::vector<std::vector<std::string>> sets;
  for (int i = 0; i < kN; ++i) sets.push_back({"SET", absl::StrCat("k", i), absl::StrCat(i)});
  std::promise<std::vector<absl::StatusOr<RedisReply>>> done;
  client_->ExecuteBatch(sets, absl::Seconds(5), {.replicas = 1, .timeout = absl::Seconds(2)},
                        [&done](std::vector<absl::StatusOr<RedisReply>> r) {
                          done.set_value(std::move(r));
                        });
  auto results = done.get_future().get();
  ASSERT_EQ(results.size(), static_cast<size_t>(kN));
  for (const auto& r : results) ASSERT_THAT(r, IsOk());
  auto size = replica_->Cli({"dbsize"});
  ASSERT_THAT(size, IsOk());
  EXPECT_EQ(*size, absl::StrCat(kN + 1, "\n"));  // and "warm"
  // One pipelined batch: one WAIT covers all of it (at most a few, if the
  // loop split the batch).
  const int64_t waits = WaitCalls(*master_);
  EXPECT_GE(waits, 1);
  EXPECT_LT(waits, 10);
}

TEST_F(ReplicaWaitTest, MoreReplicasThanThereAreIsUnavailableButApplied) {
  auto r = Call(*client_, {"SET", "k", "v"}, {.replicas = 2, .timeout = absl::Milliseconds(100)});
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnavailable,
                          HasSubstr("only 1 of 2 replicas acknowledged it")));
  EXPECT_THAT(r.status().message(), HasSubstr("not replicated"));
  // The write itself happened: the caller must treat the outcome as unknown.
  EXPECT_EQ(*client_->ExecuteSync({"GET", "k"}), RedisReply::String("v"));
}

TEST_F(ReplicaWaitTest, ErrorRepliesComeBackWithoutWaiting) {
  ASSERT_THAT(client_->ExecuteSync({"SET", "s", "x"}), IsOk());
  ASSERT_THAT(replica_->Pause(), IsOk());
  // WRONGTYPE wrote nothing: delivered as the reply even though no replica
  // would acknowledge anything now.
  auto r = Call(*client_, {"LPUSH", "s", "y"}, {.replicas = 1, .timeout = absl::Seconds(1)});
  ASSERT_THAT(replica_->Resume(), IsOk());
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->error_code(), "WRONGTYPE");
}

TEST_F(ReplicaWaitTest, APausedReplicaFailsWritesNotReads) {
  ASSERT_THAT(Call(*client_, {"SET", "k", "before"}, {.replicas = 1}), IsOk());
  ASSERT_THAT(replica_->Pause(), IsOk());
  std::promise<absl::StatusOr<RedisReply>> write;
  client_->Execute({"SET", "k", "during"}, absl::Seconds(5),
                   {.replicas = 1, .timeout = absl::Seconds(2)},
                   [&write](absl::StatusOr<RedisReply> r) { write.set_value(std::move(r)); });
  auto future = write.get_future();
  // While the WAIT blocks its connection, reads on the ordinary one answer
  // (they would time out behind a 2 s WAIT).
  for (int i = 0; i < 3; ++i) {
    auto read = client_->ExecuteSync({"GET", "k"}, absl::Seconds(1));
    ASSERT_THAT(read, IsOk());
  }
  EXPECT_EQ(future.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout)
      << "the waited write was answered while its replica was paused";
  auto w = future.get();
  EXPECT_THAT(w, StatusIs(absl::StatusCode::kUnavailable,
                          HasSubstr("only 0 of 1 replicas acknowledged it")));
  // A write that waits less than the request lasts: its WAIT answers, the
  // connection stays (no reset of a stuck connection).
  const uint64_t connects = client_->stats().connects;
  EXPECT_THAT(Call(*client_, {"SET", "k", "again"}, {.replicas = 1, .timeout = absl::Milliseconds(200)}),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(client_->stats().connects, connects);
  ASSERT_THAT(replica_->Resume(), IsOk());
  auto after = Call(*client_, {"SET", "k", "after"}, {.replicas = 1, .timeout = absl::Seconds(5)});
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(*replica_->Cli({"get", "k"}), "after\n");
}

TEST_F(ReplicaWaitTest, WaitedEvalShaAndNoscript) {
  RedisScript script("redis.call('SET', KEYS[1], ARGV[1]); return 7");
  ASSERT_THAT(client_->ExecuteSync({"SCRIPT", "FLUSH"}), IsOk());
  std::promise<absl::StatusOr<RedisReply>> done;
  client_->EvalSha(script, {"e"}, {"x"}, absl::Seconds(2), {.replicas = 1},
                   [&done](absl::StatusOr<RedisReply> r) { done.set_value(std::move(r)); });
  auto r = done.get_future().get();
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(*r, RedisReply::Integer(7));
  EXPECT_EQ(*replica_->Cli({"get", "e"}), "x\n");
}

TEST(ReplicaWaitNoReplicaTest, NoReplicaIsUnavailable) {
  auto server = RedisServer::Start({});
  ASSERT_TRUE(server.ok()) << server.status();
  RedisOptions o;
  o.nodes = {(*server)->address()};
  auto client = CreateRedisClient(o);
  ASSERT_THAT(client, IsOk());
  auto r = Call(**client, {"SET", "k", "v"}, {.replicas = 1, .timeout = absl::Milliseconds(50)});
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("only 0 of 1")));
  auto info = (*server)->Cli({"info", "replication"});
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(InfoField(*info, "connected_slaves"), 0);
}

}  // namespace
}  // namespace orch::redis
