#include "common/redis/cluster_slots.h"

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace orch::redis {
namespace {

using ::orch::testing::StatusIs;
using ::testing::ElementsAre;

TEST(Crc16Test, KnownValues) {
  // The check value of CRC-16/XMODEM.
  EXPECT_EQ(Crc16("123456789"), 0x31C3);
  EXPECT_EQ(Crc16(""), 0);
}

TEST(KeySlotTest, KnownSlots) {
  EXPECT_EQ(KeySlot("foo"), 12182);
  EXPECT_EQ(KeySlot("bar"), 5061);
  EXPECT_EQ(KeySlot("{user1}:a"), 8106);
  EXPECT_EQ(KeySlot("{user1}:b"), 8106);
  EXPECT_EQ(KeySlot("user1"), 8106);
}

TEST(KeySlotTest, HashTagRules) {
  // Only the first '{' counts, up to the next '}'.
  EXPECT_EQ(KeySlot("foo{bar}{zap}"), KeySlot("bar"));
  EXPECT_EQ(KeySlot("{bar}baz"), KeySlot("bar"));
  // An empty tag or no closing brace: the whole key is hashed.
  EXPECT_EQ(KeySlot("foo{}{bar}"), Crc16("foo{}{bar}") % kClusterSlots);
  EXPECT_EQ(KeySlot("foo{bar"), Crc16("foo{bar") % kClusterSlots);
  EXPECT_EQ(KeySlot("{{bar}}"), KeySlot("{bar"));
}

TEST(CommandSlotTest, FindsTheKey) {
  EXPECT_EQ(CommandSlot({"GET", "foo"}), 12182);
  EXPECT_EQ(CommandSlot({"set", "foo", "1"}), 12182);
  EXPECT_EQ(CommandSlot({"EVALSHA", "abc", "2", "{user1}:a", "{user1}:b", "x"}), 8106);
  EXPECT_EQ(CommandSlot({"EVAL", "return 1", "0"}), -1);
  EXPECT_EQ(CommandSlot({"XREAD", "COUNT", "2", "STREAMS", "foo", "0"}), 12182);
  EXPECT_EQ(CommandSlot({"PING"}), -1);
  EXPECT_EQ(CommandSlot({"INFO", "cluster"}), -1);
  EXPECT_EQ(CommandSlot({"SCRIPT", "LOAD", "return 1"}), -1);
}

RedisReply Node(const std::string& host, int64_t port, bool redis7) {
  std::vector<RedisReply> e = {RedisReply::String(host), RedisReply::Integer(port),
                               RedisReply::String("0123abcd")};
  if (redis7) e.push_back(RedisReply::Array({}));  // the metadata map, empty
  return RedisReply::Array(std::move(e));
}

RedisReply Range(int64_t a, int64_t b, std::vector<RedisReply> nodes) {
  std::vector<RedisReply> e = {RedisReply::Integer(a), RedisReply::Integer(b)};
  for (auto& n : nodes) e.push_back(std::move(n));
  return RedisReply::Array(std::move(e));
}

class ParseClusterSlotsTest : public ::testing::TestWithParam<bool> {};

TEST_P(ParseClusterSlotsTest, ParsesRangesWithAndWithoutMetadata) {
  const bool redis7 = GetParam();
  RedisReply reply = RedisReply::Array({
      Range(0, 5460, {Node("127.0.0.1", 7001, redis7), Node("127.0.0.1", 7004, redis7)}),
      Range(5461, 10922, {Node("", 7002, redis7)}),  // empty host: the answering node's
      Range(10923, 16383, {Node("::1", 7003, redis7)}),
  });
  auto ranges = ParseClusterSlots(reply, "10.0.0.9");
  ASSERT_TRUE(ranges.ok()) << ranges.status();
  ASSERT_EQ(ranges->size(), 3u);
  EXPECT_EQ((*ranges)[0].start, 0);
  EXPECT_EQ((*ranges)[0].end, 5460);
  EXPECT_EQ((*ranges)[0].master, "127.0.0.1:7001");
  EXPECT_THAT((*ranges)[0].replicas, ElementsAre("127.0.0.1:7004"));
  EXPECT_EQ((*ranges)[1].master, "10.0.0.9:7002");
  EXPECT_EQ((*ranges)[2].master, "[::1]:7003");

  SlotMap map;
  map.Assign(*ranges);
  EXPECT_EQ(*map.NodeFor(0), "127.0.0.1:7001");
  EXPECT_EQ(*map.NodeFor(8106), "10.0.0.9:7002");
  EXPECT_EQ(*map.NodeFor(16383), "[::1]:7003");
  EXPECT_THAT(map.replicas(), ElementsAre("127.0.0.1:7004"));
  map.Set(8106, "127.0.0.1:7009");
  EXPECT_EQ(*map.NodeFor(8106), "127.0.0.1:7009");
  EXPECT_EQ(*map.NodeFor(8107), "10.0.0.9:7002");
}

INSTANTIATE_TEST_SUITE_P(Redis6And7, ParseClusterSlotsTest, ::testing::Bool());

TEST(ParseClusterSlotsTest, RejectsMalformedReplies) {
  const std::string h = "127.0.0.1";
  EXPECT_THAT(ParseClusterSlots(RedisReply::Error("ERR cluster support disabled"), h),
              StatusIs(absl::StatusCode::kInternal));
  EXPECT_THAT(ParseClusterSlots(RedisReply::Array({Range(0, 5, {})}), h),
              StatusIs(absl::StatusCode::kInternal));
  EXPECT_THAT(ParseClusterSlots(
                  RedisReply::Array({Range(5, 20000, {Node("127.0.0.1", 1, true)})}), h),
              StatusIs(absl::StatusCode::kInternal));
  EXPECT_THAT(ParseClusterSlots(RedisReply::Array({Range(
                                    0, 5, {RedisReply::Array({RedisReply::String("x")})})}),
                                h),
              StatusIs(absl::StatusCode::kInternal));
}

TEST(SlotMapTest, EmptyMapServesNothing) {
  SlotMap map;
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.NodeFor(0), nullptr);
  EXPECT_EQ(map.NodeFor(-1), nullptr);
  EXPECT_EQ(map.NodeFor(kClusterSlots), nullptr);
}

}  // namespace
}  // namespace orch::redis
