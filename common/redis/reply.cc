#include "common/redis/reply.h"

#include <hiredis/hiredis.h>

#include <cstdlib>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/base/check.h"

namespace orch::redis {

RedisReply RedisReply::Integer(int64_t v) {
  RedisReply r;
  r.type_ = Type::kInteger;
  r.integer_ = v;
  return r;
}

RedisReply RedisReply::String(std::string s) {
  RedisReply r;
  r.type_ = Type::kString;
  r.str_ = std::move(s);
  return r;
}

RedisReply RedisReply::Status(std::string s) {
  RedisReply r;
  r.type_ = Type::kStatus;
  r.str_ = std::move(s);
  return r;
}

RedisReply RedisReply::Error(std::string s) {
  RedisReply r;
  r.type_ = Type::kError;
  r.str_ = std::move(s);
  return r;
}

RedisReply RedisReply::Array(std::vector<RedisReply> elements) {
  RedisReply r;
  r.type_ = Type::kArray;
  r.elements_ = std::move(elements);
  return r;
}

std::string_view RedisReply::error_code() const {
  if (type_ != Type::kError) return {};
  std::string_view s = str_;
  return s.substr(0, s.find(' '));
}

std::string RedisReply::DebugString() const {
  auto shorten = [](const std::string& s) {
    std::string e = absl::CHexEscape(s.size() > 200 ? s.substr(0, 200) : s);
    if (s.size() > 200) absl::StrAppend(&e, "...(", s.size(), " bytes)");
    return e;
  };
  switch (type_) {
    case Type::kNil:
      return "(nil)";
    case Type::kInteger:
      return absl::StrCat("(integer) ", integer_);
    case Type::kString:
      return absl::StrCat("\"", shorten(str_), "\"");
    case Type::kStatus:
      return absl::StrCat("+", shorten(str_));
    case Type::kError:
      return absl::StrCat("-", shorten(str_));
    case Type::kArray: {
      std::vector<std::string> parts;
      for (const auto& e : elements_) parts.push_back(e.DebugString());
      return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
    }
  }
  return "?";
}

bool operator==(const RedisReply& a, const RedisReply& b) {
  return a.type_ == b.type_ && a.integer_ == b.integer_ && a.str_ == b.str_ &&
         a.elements_ == b.elements_;
}

namespace {

RedisReply Convert(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_STRING:
      return RedisReply::String(std::string(r->str, r->len));
    case REDIS_REPLY_STATUS:
      return RedisReply::Status(std::string(r->str, r->len));
    case REDIS_REPLY_ERROR:
      return RedisReply::Error(std::string(r->str, r->len));
    case REDIS_REPLY_INTEGER:
      return RedisReply::Integer(r->integer);
    case REDIS_REPLY_ARRAY: {
      std::vector<RedisReply> elements;
      elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) elements.push_back(Convert(r->element[i]));
      return RedisReply::Array(std::move(elements));
    }
    default:
      return RedisReply::Nil();
  }
}

}  // namespace

struct ReplyReader::Impl {
  redisReader* reader = nullptr;
};

ReplyReader::ReplyReader() : impl_(std::make_unique<Impl>()) {
  impl_->reader = redisReaderCreate();
  ORCH_CHECK(impl_->reader != nullptr, "redisReaderCreate: out of memory");
}

ReplyReader::~ReplyReader() { redisReaderFree(impl_->reader); }

void ReplyReader::Feed(const char* data, size_t size) {
  // Feed only fails on allocation failure or an earlier protocol error; the
  // latter is reported by Next().
  redisReaderFeed(impl_->reader, data, size);
}

absl::StatusOr<std::optional<RedisReply>> ReplyReader::Next() {
  void* raw = nullptr;
  if (redisReaderGetReply(impl_->reader, &raw) != REDIS_OK) {
    return absl::InternalError(
        absl::StrCat("Redis protocol error: ", redisReaderGetError(impl_->reader)));
  }
  if (raw == nullptr) return std::nullopt;
  RedisReply reply = Convert(static_cast<redisReply*>(raw));
  freeReplyObject(raw);
  return reply;
}

std::string FormatCommand(const std::vector<std::string>& args) {
  size_t size = 16;
  for (const auto& a : args) size += a.size() + 16;
  std::string out;
  out.reserve(size);
  CommandWriter w(&out, args.size());
  for (const auto& a : args) w.Add(a);
  return out;
}

CommandWriter::CommandWriter(std::string* out, size_t argc) : out_(out) {
  out_->push_back('*');
  AppendNumber(argc);
}

void CommandWriter::AppendNumber(uint64_t v) {
  char buf[24];
  char* p = buf + sizeof buf;
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  out_->append(p, static_cast<size_t>(buf + sizeof buf - p));
  out_->append("\r\n", 2);
}

void CommandWriter::Add(std::string_view arg) {
  out_->push_back('$');
  AppendNumber(arg.size());
  out_->append(arg.data(), arg.size());
  out_->append("\r\n", 2);
}

void CommandWriter::Add(uint64_t v) {
  char buf[24];
  char* p = buf + sizeof buf;
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  Add(std::string_view(p, static_cast<size_t>(buf + sizeof buf - p)));
}

}  // namespace orch::redis
