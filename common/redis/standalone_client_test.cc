// Integration tests of the standalone client against a real redis-server.

#include <signal.h>

#include <atomic>
#include <future>
#include <mutex>

#include "absl/synchronization/notification.h"
#include "common/redis/cluster_slots.h"
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

class StandaloneClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = RedisServer::Start({});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    options_.nodes = {server_->address()};
    options_.connect_timeout = absl::Seconds(1);
    auto client = CreateRedisClient(options_);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  std::unique_ptr<RedisServer> server_;
  RedisOptions options_;
  std::unique_ptr<RedisClient> client_;
};

TEST_F(StandaloneClientTest, AutoDetectsStandalone) { EXPECT_FALSE(client_->is_cluster()); }

TEST_F(StandaloneClientTest, SetGetAndErrorReplies) {
  auto set = client_->ExecuteSync({"SET", "greeting", "hello"});
  ASSERT_THAT(set, IsOk());
  EXPECT_EQ(*set, RedisReply::Status("OK"));
  auto get = client_->ExecuteSync({"GET", "greeting"});
  ASSERT_THAT(get, IsOk());
  EXPECT_EQ(*get, RedisReply::String("hello"));
  auto missing = client_->ExecuteSync({"GET", "nothing"});
  ASSERT_THAT(missing, IsOk());
  EXPECT_TRUE(missing->is_nil());
  // A Redis error is a reply, not a failed status.
  auto wrong = client_->ExecuteSync({"LPUSH", "greeting", "x"});
  ASSERT_THAT(wrong, IsOk());
  EXPECT_TRUE(wrong->is_error());
  EXPECT_EQ(wrong->error_code(), "WRONGTYPE");
}

TEST_F(StandaloneClientTest, StreamsWithBinaryData) {
  const std::string payload("\0\x01\xff\r\n*3\r\nbinary", 17);
  auto id = client_->ExecuteSync({"XADD", "{s1}:log", "*", "event", payload});
  ASSERT_THAT(id, IsOk());
  ASSERT_TRUE(id->is_string()) << id->DebugString();
  ASSERT_THAT(client_->ExecuteSync({"XADD", "{s1}:log", "*", "event", "second"}), IsOk());
  auto range = client_->ExecuteSync({"XRANGE", "{s1}:log", "-", "+"});
  ASSERT_THAT(range, IsOk());
  ASSERT_EQ(range->elements().size(), 2u) << range->DebugString();
  const RedisReply& first = range->elements()[0];
  EXPECT_EQ(first.elements()[0].str(), id->str());
  EXPECT_EQ(first.elements()[1],
            RedisReply::Array({RedisReply::String("event"), RedisReply::String(payload)}));
}

TEST_F(StandaloneClientTest, ThousandRequestsInFlightKeepTheirOrder) {
  constexpr int kN = 1000;
  std::mutex mu;
  std::vector<int64_t> values;
  absl::Notification all;
  std::atomic<int> left{kN};
  for (int i = 0; i < kN; ++i) {
    client_->Execute({"INCR", "counter"}, absl::Seconds(10), [&](absl::StatusOr<RedisReply> r) {
      {
        std::lock_guard<std::mutex> lock(mu);
        values.push_back(r.ok() && r->is_integer() ? r->integer() : -1);
      }
      if (--left == 0) all.Notify();
    });
  }
  ASSERT_TRUE(all.WaitForNotificationWithTimeout(absl::Seconds(20)));
  // Callbacks run on the one I/O thread in reply order: 1, 2, ..., kN.
  ASSERT_EQ(values.size(), static_cast<size_t>(kN));
  for (int i = 0; i < kN; ++i) ASSERT_EQ(values[i], i + 1) << i;

  std::vector<std::vector<std::string>> batch;
  for (int i = 0; i < kN; ++i) batch.push_back({"SET", "k" + std::to_string(i), std::to_string(i)});
  batch.push_back({"GET", "k999"});
  auto results = client_->ExecuteBatchSync(std::move(batch), absl::Seconds(10));
  ASSERT_EQ(results.size(), static_cast<size_t>(kN + 1));
  for (const auto& r : results) ASSERT_THAT(r, IsOk());
  EXPECT_EQ(*results.back(), RedisReply::String("999"));
  EXPECT_EQ(client_->stats().connects, 1u);  // one pipelined connection
}

TEST_F(StandaloneClientTest, EvalShaLoadsTheScriptOnNoscript) {
  RedisScript script(
      "redis.call('SET', KEYS[1], ARGV[1]); redis.call('XADD', KEYS[2], '*', 'e', ARGV[1]);"
      " return redis.call('XLEN', KEYS[2])");
  ASSERT_THAT(client_->ExecuteSync({"SCRIPT", "FLUSH"}), IsOk());
  auto r = client_->EvalShaSync(script, {"{s}:snap", "{s}:log"}, {"v1"});
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(*r, RedisReply::Integer(1));
  r = client_->EvalShaSync(script, {"{s}:snap", "{s}:log"}, {"v2"});
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(*r, RedisReply::Integer(2));
  EXPECT_EQ(*client_->ExecuteSync({"GET", "{s}:snap"}), RedisReply::String("v2"));
  // A script error is an error reply.
  RedisScript bad("return redis.call('NOSUCHCOMMAND')");
  r = client_->EvalShaSync(bad, {}, {});
  ASSERT_THAT(r, IsOk());
  EXPECT_TRUE(r->is_error()) << r->DebugString();
}

TEST_F(StandaloneClientTest, EvalShaWireSendsAPreEncodedCommand) {
  ASSERT_THAT(client_->ExecuteSync({"SCRIPT", "FLUSH"}), IsOk());
  std::promise<absl::StatusOr<RedisReply>> done;
  {
    // The script object may go away before the reply (NOSCRIPT then needs
    // its body): the client keeps what it needs.
    RedisScript script("return {KEYS[1], KEYS[2], ARGV[1], ARGV[2]}");
    std::string wire = RedisClient::BeginEvalSha(script, 2, 4);
    CommandWriter w(&wire);
    w.Add("{w}:a");
    w.Add("{w}:b");
    w.Add(std::string("x\0y", 3));
    w.Add(uint64_t{42});
    client_->EvalShaWire(script, std::move(wire), KeySlot("{w}:a"), absl::Seconds(5),
                         [&done](absl::StatusOr<RedisReply> r) { done.set_value(std::move(r)); });
  }
  auto r = done.get_future().get();
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(*r, RedisReply::Array({RedisReply::String("{w}:a"), RedisReply::String("{w}:b"),
                                   RedisReply::String(std::string("x\0y", 3)),
                                   RedisReply::String("42")}));
}

TEST_F(StandaloneClientTest, RedisDownFailsFastThenRecovers) {
  ASSERT_THAT(client_->ExecuteSync({"SET", "a", "1"}), IsOk());
  ASSERT_THAT(server_->Stop(SIGKILL), IsOk());
  for (int i = 0; i < 5; ++i) {
    const absl::Time start = absl::Now();
    auto r = client_->ExecuteSync({"GET", "a"}, absl::Seconds(10));
    EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnavailable, HasSubstr(server_->address())));
    EXPECT_LT(absl::Now() - start, absl::Seconds(1)) << "not fast";
  }
  ASSERT_THAT(server_->Restart(), IsOk());
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  absl::StatusOr<RedisReply> r;
  do {
    r = client_->ExecuteSync({"SET", "a", "2"}, absl::Seconds(2));
    if (r.ok()) break;
    absl::SleepFor(absl::Milliseconds(50));
  } while (absl::Now() < deadline);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(*r, RedisReply::Status("OK"));
  EXPECT_GE(client_->stats().reconnects, 1u);
}

TEST_F(StandaloneClientTest, StuckServerTimesOutAndTheClientRecovers) {
  ASSERT_THAT(client_->ExecuteSync({"SET", "a", "1"}), IsOk());
  ASSERT_EQ(::kill(server_->pid(), SIGSTOP), 0);
  const absl::Time start = absl::Now();
  auto r = client_->ExecuteSync({"GET", "a"}, absl::Milliseconds(300));
  const absl::Duration took = absl::Now() - start;
  ::kill(server_->pid(), SIGCONT);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("no reply")));
  EXPECT_LT(took, absl::Seconds(2));
  auto again = client_->ExecuteSync({"GET", "a"}, absl::Seconds(5));
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(*again, RedisReply::String("1"));
}

TEST(StandaloneClientNoServerTest, UnreachableIsUnavailable) {
  auto port_holder = RedisServer::Start({});
  ASSERT_TRUE(port_holder.ok()) << port_holder.status();
  const std::string address = (*port_holder)->address();
  port_holder->reset();  // now nobody listens there
  RedisOptions o;
  o.nodes = {address};
  EXPECT_THAT(CreateRedisClient(o), StatusIs(absl::StatusCode::kUnavailable, HasSubstr(address)));
  o.mode = RedisMode::kStandalone;
  auto client = CreateRedisClient(o);
  ASSERT_THAT(client, IsOk());
  EXPECT_THAT((*client)->ExecuteSync({"PING"}), StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace orch::redis
