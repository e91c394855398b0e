#include "common/redis/reply.h"

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace orch::redis {
namespace {

using ::orch::testing::StatusIs;

std::vector<RedisReply> ParseAll(const std::string& bytes, size_t chunk) {
  ReplyReader reader;
  std::vector<RedisReply> out;
  for (size_t i = 0; i < bytes.size(); i += chunk) {
    reader.Feed(bytes.data() + i, std::min(chunk, bytes.size() - i));
    for (;;) {
      auto next = reader.Next();
      EXPECT_TRUE(next.ok()) << next.status();
      if (!next.ok() || !next->has_value()) break;
      out.push_back(**next);
    }
  }
  return out;
}

TEST(ReplyReaderTest, ParsesEveryType) {
  static const char kBytes[] =
      "+OK\r\n"
      "-ERR wrong\r\n"
      ":-42\r\n"
      "$5\r\nhe\0lo\r\n"
      "$-1\r\n"
      "*3\r\n:1\r\n*1\r\n$1\r\nx\r\n$-1\r\n"
      "*0\r\n"
      "*-1\r\n";
  const std::string data(kBytes, sizeof kBytes - 1);
  for (size_t chunk : {size_t{1}, size_t{3}, data.size()}) {
    std::vector<RedisReply> r = ParseAll(data, chunk);
    ASSERT_EQ(r.size(), 8u) << "chunk " << chunk;
    EXPECT_EQ(r[0], RedisReply::Status("OK"));
    EXPECT_EQ(r[1], RedisReply::Error("ERR wrong"));
    EXPECT_EQ(r[1].error_code(), "ERR");
    EXPECT_EQ(r[2], RedisReply::Integer(-42));
    EXPECT_EQ(r[3], RedisReply::String(std::string("he\0lo", 5)));
    EXPECT_TRUE(r[4].is_nil());
    EXPECT_EQ(r[5], RedisReply::Array({RedisReply::Integer(1),
                                       RedisReply::Array({RedisReply::String("x")}),
                                       RedisReply::Nil()}));
    EXPECT_EQ(r[6], RedisReply::Array({}));
    EXPECT_TRUE(r[7].is_nil());
  }
}

TEST(ReplyReaderTest, ProtocolErrorIsReported) {
  ReplyReader reader;
  reader.Feed("?what\r\n", 7);
  EXPECT_THAT(reader.Next(), StatusIs(absl::StatusCode::kInternal));
}

TEST(FormatCommandTest, BinarySafeRoundTrip) {
  const std::string binary("a\0\r\nb", 5);
  static const char kWant[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na\0\r\nb\r\n";
  EXPECT_EQ(FormatCommand({"SET", "k", binary}), std::string(kWant, sizeof kWant - 1));
  EXPECT_EQ(FormatCommand({"PING"}), "*1\r\n$4\r\nPING\r\n");
  EXPECT_EQ(FormatCommand({"SET", "k", ""}), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
}

TEST(FormatCommandTest, CommandWriterPiecesJoinIntoOneCommand) {
  std::string pieces;
  CommandWriter w(&pieces);
  w.Add("k");
  w.Add(uint64_t{1234567890123});
  w.Add(uint64_t{0});
  std::string cmd;
  CommandWriter head(&cmd, 4);
  head.Add("SET");
  cmd += pieces;
  EXPECT_EQ(cmd, FormatCommand({"SET", "k", "1234567890123", "0"}));
}

TEST(RedisReplyTest, DebugString) {
  EXPECT_EQ(RedisReply::Nil().DebugString(), "(nil)");
  EXPECT_EQ(RedisReply::Array({RedisReply::Integer(1), RedisReply::String("a\n")}).DebugString(),
            "[(integer) 1, \"a\\n\"]");
  EXPECT_EQ(RedisReply::Error("MOVED 1 h:2").error_code(), "MOVED");
  EXPECT_EQ(RedisReply::Status("OK").error_code(), "");
}

}  // namespace
}  // namespace orch::redis
