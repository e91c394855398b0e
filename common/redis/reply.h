#pragma once

// RedisReply: one RESP2 reply as a value (never a hiredis struct), and
// ReplyReader, the incremental parser that turns bytes from a socket into
// replies (hiredis's redisReader underneath).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace orch::redis {

class RedisReply {
 public:
  enum class Type { kNil, kInteger, kString, kStatus, kError, kArray };

  RedisReply() = default;  // nil
  static RedisReply Nil() { return RedisReply(); }
  static RedisReply Integer(int64_t v);
  static RedisReply String(std::string s);  // bulk string, binary-safe
  static RedisReply Status(std::string s);  // "+OK"
  static RedisReply Error(std::string s);   // "-ERR ..." without the '-'
  static RedisReply Array(std::vector<RedisReply> elements);

  Type type() const { return type_; }
  bool is_nil() const { return type_ == Type::kNil; }
  bool is_integer() const { return type_ == Type::kInteger; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_status() const { return type_ == Type::kStatus; }
  bool is_error() const { return type_ == Type::kError; }
  bool is_array() const { return type_ == Type::kArray; }

  // Valid for kInteger (0 otherwise).
  int64_t integer() const { return integer_; }
  // The text of a kString, kStatus or kError (empty otherwise).
  const std::string& str() const { return str_; }
  // The elements of a kArray (empty otherwise).
  const std::vector<RedisReply>& elements() const { return elements_; }

  // For an error reply, its first word ("MOVED", "NOSCRIPT", "WRONGPASS").
  std::string_view error_code() const;

  // A short human-readable form for logs and test failures (long strings
  // shortened, binary bytes escaped).
  std::string DebugString() const;

  friend bool operator==(const RedisReply& a, const RedisReply& b);

 private:
  Type type_ = Type::kNil;
  int64_t integer_ = 0;
  std::string str_;
  std::vector<RedisReply> elements_;
};

// Incremental RESP parser. Not thread-safe; one per connection.
class ReplyReader {
 public:
  ReplyReader();
  ~ReplyReader();
  ReplyReader(const ReplyReader&) = delete;
  ReplyReader& operator=(const ReplyReader&) = delete;

  void Feed(const char* data, size_t size);
  // The next complete reply, nullopt when more bytes are needed, or INTERNAL
  // on a protocol error (the connection must then be dropped).
  absl::StatusOr<std::optional<RedisReply>> Next();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The RESP encoding of a command (an array of bulk strings), binary-safe.
std::string FormatCommand(const std::vector<std::string>& args);

// Appends the RESP encoding of a command to a string without building a
// vector of arguments first: the header for `argc` arguments at
// construction, then exactly `argc` Add() calls (not checked). Also used to
// encode pieces of a command (a bulk string each) that are joined later.
class CommandWriter {
 public:
  CommandWriter(std::string* out, size_t argc);
  // Only the pieces: no array header.
  explicit CommandWriter(std::string* out) : out_(out) {}
  void Add(std::string_view arg);
  void Add(uint64_t v);  // as decimal digits

 private:
  void AppendNumber(uint64_t v);
  std::string* out_;
};

}  // namespace orch::redis
