#include "common/sessionapi/value_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <vector>

#include "common/base/json.h"
#include "common/base/utf8.h"
#include "absl/strings/str_cat.h"

namespace orch::sessionapi {
namespace {

void Append(std::string* out, const google::protobuf::Value& v, int depth) {
  if (depth > 100) {  // protobuf's own parser stops at 100 levels too
    out->append("null");
    return;
  }
  switch (v.kind_case()) {
    case google::protobuf::Value::kNullValue:
    case google::protobuf::Value::KIND_NOT_SET:
      out->append("null");
      return;
    case google::protobuf::Value::kBoolValue:
      out->append(v.bool_value() ? "true" : "false");
      return;
    case google::protobuf::Value::kNumberValue: {
      const double d = v.number_value();
      if (!std::isfinite(d)) {
        out->append("null");
        return;
      }
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, d);  // shortest round-trip form
      out->append(buf, r.ptr);
      return;
    }
    case google::protobuf::Value::kStringValue:
      AppendJsonString(out, v.string_value());
      return;
    case google::protobuf::Value::kListValue: {
      out->push_back('[');
      bool first = true;
      for (const auto& x : v.list_value().values()) {
        if (!first) out->push_back(',');
        first = false;
        Append(out, x, depth + 1);
      }
      out->push_back(']');
      return;
    }
    case google::protobuf::Value::kStructValue: {
      const auto& fields = v.struct_value().fields();
      std::vector<const std::string*> keys;
      keys.reserve(fields.size());
      for (const auto& [k, x] : fields) keys.push_back(&k);
      std::sort(keys.begin(), keys.end(), [](const std::string* a, const std::string* b) { return *a < *b; });
      out->push_back('{');
      bool first = true;
      for (const std::string* k : keys) {
        if (!first) out->push_back(',');
        first = false;
        AppendJsonString(out, *k);
        out->push_back(':');
        Append(out, fields.at(*k), depth + 1);
      }
      out->push_back('}');
      return;
    }
  }
}

}  // namespace

std::string ValueToJson(const google::protobuf::Value& v) {
  if (v.kind_case() == google::protobuf::Value::KIND_NOT_SET) return "undefined";
  std::string out;
  Append(&out, v, 0);
  return out;
}

namespace {

// RFC 8259 JSON into a Value, directly (protobuf's JsonStringToMessage goes
// through a type resolver and a binary round trip: ~10x slower on small
// bodies, and its cost explodes with nesting). Strict: no comments, no
// trailing commas, no leading zeros, whole input consumed, strings UTF-8
// with valid escapes (surrogate pairs joined, lone surrogates refused);
// duplicate keys: the last wins.
class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  absl::Status Parse(google::protobuf::Value* out) {
    SkipSpace();
    if (auto st = ParseValue(out, 0); !st.ok()) return st;
    SkipSpace();
    if (i_ != s_.size()) return Error("unexpected text after the value");
    return absl::OkStatus();
  }

 private:
  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("not JSON at byte ", i_, ": ", std::string(what)));
  }
  void SkipSpace() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool Literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }

  absl::Status ParseValue(google::protobuf::Value* out, int depth) {
    if (i_ >= s_.size()) return Error("a value is missing");
    const char c = s_[i_];
    if ((c == '{' || c == '[') && depth >= kMaxJsonDepth) return Error("nested too deeply");
    if (c == '{') return ParseObject(out->mutable_struct_value(), depth);
    if (c == '[') return ParseArray(out->mutable_list_value(), depth);
    if (c == '"') return ParseString(out->mutable_string_value());
    if (c == 't' && Literal("true")) {
      out->set_bool_value(true);
      return absl::OkStatus();
    }
    if (c == 'f' && Literal("false")) {
      out->set_bool_value(false);
      return absl::OkStatus();
    }
    if (c == 'n' && Literal("null")) {
      out->set_null_value(google::protobuf::NULL_VALUE);
      return absl::OkStatus();
    }
    if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(out);
    return Error("not a value");
  }

  absl::Status ParseObject(google::protobuf::Struct* out, int depth) {
    ++i_;  // '{'
    SkipSpace();
    if (i_ < s_.size() && s_[i_] == '}') {
      ++i_;
      return absl::OkStatus();
    }
    std::string key;
    while (true) {
      SkipSpace();
      if (i_ >= s_.size() || s_[i_] != '"') return Error("an object key must be a string");
      key.clear();
      if (auto st = ParseString(&key); !st.ok()) return st;
      SkipSpace();
      if (i_ >= s_.size() || s_[i_] != ':') return Error("':' expected");
      ++i_;
      SkipSpace();
      google::protobuf::Value& v = (*out->mutable_fields())[key];
      v.Clear();
      if (auto st = ParseValue(&v, depth + 1); !st.ok()) return st;
      SkipSpace();
      if (i_ < s_.size() && s_[i_] == ',') {
        ++i_;
        continue;
      }
      if (i_ < s_.size() && s_[i_] == '}') {
        ++i_;
        return absl::OkStatus();
      }
      return Error("',' or '}' expected");
    }
  }

  absl::Status ParseArray(google::protobuf::ListValue* out, int depth) {
    ++i_;  // '['
    SkipSpace();
    if (i_ < s_.size() && s_[i_] == ']') {
      ++i_;
      return absl::OkStatus();
    }
    while (true) {
      SkipSpace();
      if (auto st = ParseValue(out->add_values(), depth + 1); !st.ok()) return st;
      SkipSpace();
      if (i_ < s_.size() && s_[i_] == ',') {
        ++i_;
        continue;
      }
      if (i_ < s_.size() && s_[i_] == ']') {
        ++i_;
        return absl::OkStatus();
      }
      return Error("',' or ']' expected");
    }
  }

  bool Hex4(uint32_t* out) {
    if (i_ + 4 > s_.size()) return false;
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_ + k];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else return false;
    }
    i_ += 4;
    *out = v;
    return true;
  }

  static void AppendUtf8(std::string* out, uint32_t cp) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  absl::Status ParseString(std::string* out) {
    ++i_;  // '"'
    while (true) {
      // Plain runs are copied at once.
      size_t j = i_;
      while (j < s_.size() && s_[j] != '"' && s_[j] != '\\' && static_cast<unsigned char>(s_[j]) >= 0x20) ++j;
      out->append(s_.data() + i_, j - i_);
      i_ = j;
      if (i_ >= s_.size()) return Error("unterminated string");
      const char c = s_[i_];
      if (c == '"') {
        ++i_;
        break;
      }
      if (c != '\\') return Error("a control character in a string");
      ++i_;
      if (i_ >= s_.size()) return Error("unterminated string");
      const char e = s_[i_++];
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp;
          if (!Hex4(&cp)) return Error("a \\u escape needs four hex digits");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo;
            if (!Literal("\\u") || !Hex4(&lo) || lo < 0xDC00 || lo > 0xDFFF) return Error("a lone surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return Error("a lone surrogate");
          }
          AppendUtf8(out, cp);
          break;
        }
        default:
          return Error("an invalid escape");
      }
    }
    if (!IsValidUtf8(*out)) return Error("a string is not UTF-8");
    return absl::OkStatus();
  }

  absl::Status ParseNumber(google::protobuf::Value* out) {
    const size_t start = i_;
    if (s_[i_] == '-') ++i_;
    if (i_ >= s_.size() || !(s_[i_] >= '0' && s_[i_] <= '9')) return Error("a digit expected");
    if (s_[i_] == '0') {
      ++i_;
    } else {
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    }
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      if (i_ >= s_.size() || !(s_[i_] >= '0' && s_[i_] <= '9')) return Error("a digit expected after '.'");
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (i_ >= s_.size() || !(s_[i_] >= '0' && s_[i_] <= '9')) return Error("a digit expected in the exponent");
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    }
    double d = 0;
    auto r = std::from_chars(s_.data() + start, s_.data() + i_, d);
    if (r.ec != std::errc() || !std::isfinite(d)) return Error("a number out of range");
    out->set_number_value(d);
    return absl::OkStatus();
  }

  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

absl::StatusOr<google::protobuf::Value> JsonToValue(std::string_view json) {
  google::protobuf::Value v;
  if (json == "undefined") return v;
  Parser p(json);
  if (auto st = p.Parse(&v); !st.ok()) return st;
  return v;
}

}  // namespace orch::sessionapi
