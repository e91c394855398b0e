#include "services/rest_gateway/request_parsing.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/base/utf8.h"
#include "common/sessionapi/session_id.h"
#include "common/sessionapi/value_json.h"

namespace orch::rest_gateway {
namespace {

constexpr size_t kMaxFields = 1000;
constexpr size_t kMaxFieldName = 256;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

google::protobuf::Value StringValue(std::string s) {
  google::protobuf::Value v;
  v.set_string_value(std::move(s));
  return v;
}

}  // namespace

absl::StatusOr<std::string> PercentDecode(absl::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) {
        return absl::InvalidArgumentError("malformed percent-encoding (a '%' not followed by two hex digits)");
      }
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) {
        return absl::InvalidArgumentError("malformed percent-encoding (a '%' not followed by two hex digits)");
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

absl::Status ValidateEventName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("the event name is empty");
  if (name.size() > 256) return absl::InvalidArgumentError("the event name is longer than 256 characters");
  bool token_empty = true;
  for (char c : name) {
    if (c == '.') {
      if (token_empty) return absl::InvalidArgumentError("the event name has an empty part (leading, trailing or double '.')");
      token_empty = true;
      continue;
    }
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != ':') {
      return absl::InvalidArgumentError(
          "the event name may hold only letters, digits, '_', '-', ':' and '.' between parts");
    }
    token_empty = false;
  }
  if (token_empty) return absl::InvalidArgumentError("the event name has an empty part (leading, trailing or double '.')");
  return absl::OkStatus();
}

absl::StatusOr<Route> ParseRoute(absl::string_view method, absl::string_view target) {
  Route r;
  const size_t q = target.find('?');
  r.path = std::string(target.substr(0, q));
  if (q != absl::string_view::npos) r.query = std::string(target.substr(q + 1));
  auto not_found = [] { return absl::NotFoundError("no such resource"); };
  if (r.path.empty() || r.path[0] != '/') return not_found();
  // Segments, decoded one by one: an encoded '/' stays inside its segment
  // (and then fails the id or name check).
  std::vector<std::string> seg;
  for (absl::string_view raw : absl::StrSplit(absl::string_view(r.path).substr(1), '/')) {
    auto d = PercentDecode(raw, false);
    if (!d.ok()) return not_found();
    seg.push_back(*std::move(d));
    if (seg.size() > 6) return not_found();
  }
  auto allow = [&](absl::string_view methods) {
    r.allow = std::string(methods);
    r.method_allowed = absl::StrContains(absl::StrCat(",", methods, ","), absl::StrCat(",", method, ","));
  };
  auto single = [&](Endpoint e, absl::string_view methods) -> absl::StatusOr<Route> {
    r.endpoint = e;
    allow(methods);
    return r;
  };
  if (seg.size() == 1) {
    if (seg[0] == "healthz") return single(Endpoint::kHealthz, "GET,HEAD");
    if (seg[0] == "readyz") return single(Endpoint::kReadyz, "GET,HEAD");
    if (seg[0] == "openapi.yaml") return single(Endpoint::kOpenApi, "GET,HEAD");
    return not_found();
  }
  if (seg.size() == 2 && seg[0] == "ors" && seg[1] == "help") return single(Endpoint::kHelp, "GET,HEAD");
  if (seg.size() < 3 || seg[0] != "scxml" || seg[1] != "session") return not_found();
  if (seg.size() == 3) {
    if (seg[2] == "start") return single(Endpoint::kStart, "POST");
    return not_found();
  }
  auto node = sessionapi::NodeOfSessionId(seg[2]);
  if (!node.ok()) return absl::NotFoundError("unknown session (malformed session id)");
  r.session_id = seg[2];
  r.node = *node;
  const std::string& verb = seg[3];
  if (seg.size() == 4) {
    if (verb == "query") return single(Endpoint::kQuery, "GET,POST");
    if (verb == "terminate") return single(Endpoint::kTerminate, "POST");
    return not_found();
  }
  if (seg.size() == 5 && (verb == "event" || verb == "request")) {
    if (auto st = ValidateEventName(seg[4]); !st.ok()) return absl::InvalidArgumentError(st.message());
    r.name = seg[4];
    return single(verb == "event" ? Endpoint::kEvent : Endpoint::kRequest, "POST");
  }
  return not_found();
}

absl::StatusOr<std::map<std::string, std::string>> ParseForm(absl::string_view text) {
  std::map<std::string, std::string> out;
  if (text.empty()) return out;
  size_t n = 0;
  for (absl::string_view pair : absl::StrSplit(text, '&')) {
    if (pair.empty()) continue;
    if (++n > kMaxFields) return absl::InvalidArgumentError(absl::StrCat("more than ", kMaxFields, " fields"));
    const size_t eq = pair.find('=');
    auto name = PercentDecode(pair.substr(0, eq), true);
    if (!name.ok()) return name.status();
    std::string value;
    if (eq != absl::string_view::npos) {
      auto v = PercentDecode(pair.substr(eq + 1), true);
      if (!v.ok()) return v.status();
      value = *std::move(v);
    }
    if (name->empty()) return absl::InvalidArgumentError("a field has an empty name");
    if (name->size() > kMaxFieldName) {
      return absl::InvalidArgumentError(absl::StrCat("a field name is longer than ", kMaxFieldName, " bytes"));
    }
    if (!IsValidUtf8(*name) || !IsValidUtf8(value)) return absl::InvalidArgumentError("a field is not UTF-8");
    out[*std::move(name)] = std::move(value);
  }
  return out;
}

absl::StatusOr<Fields> ParseFields(absl::string_view query, const std::string* content_type,
                                   absl::string_view body) {
  Fields f;
  auto q = ParseForm(query);
  if (!q.ok()) return absl::InvalidArgumentError(absl::StrCat("query string: ", q.status().message()));
  for (auto& [k, v] : *q) f.members[k] = StringValue(std::move(v));
  if (body.empty()) return f;
  std::string type;
  std::string charset;
  if (content_type != nullptr) {
    std::vector<std::string> parts = absl::StrSplit(*content_type, ';');
    type = absl::AsciiStrToLower(absl::StripAsciiWhitespace(parts[0]));
    for (size_t i = 1; i < parts.size(); ++i) {
      std::string p = absl::AsciiStrToLower(absl::StripAsciiWhitespace(parts[i]));
      if (absl::StartsWith(p, "charset=")) charset = std::string(absl::StripAsciiWhitespace(p.substr(8)));
    }
  }
  if (!charset.empty() && charset != "utf-8" && charset != "\"utf-8\"") {
    return absl::UnimplementedError(absl::StrCat("charset '", charset.substr(0, 32), "' is not supported (use utf-8)"));
  }
  if (type == "application/json") {
    if (!IsValidUtf8(std::string_view(body.data(), body.size()))) return absl::InvalidArgumentError("the body is not UTF-8");
    auto v = sessionapi::JsonToValue(std::string_view(body.data(), body.size()));
    if (!v.ok()) return absl::InvalidArgumentError(absl::StrCat("the body is not valid JSON (", v.status().message(), ")"));
    if (v->kind_case() == google::protobuf::Value::KIND_NOT_SET) {
      return absl::InvalidArgumentError("the body is not valid JSON");
    }
    if (v->kind_case() != google::protobuf::Value::kStructValue) {
      if (!f.members.empty()) {
        return absl::InvalidArgumentError("a JSON body that is not an object cannot be combined with query parameters");
      }
      f.value = *std::move(v);
      return f;
    }
    auto* fields = v->mutable_struct_value()->mutable_fields();
    if (fields->size() > kMaxFields) return absl::InvalidArgumentError(absl::StrCat("more than ", kMaxFields, " fields"));
    for (auto& [k, val] : *fields) {
      if (k.empty() || k.size() > kMaxFieldName) {
        return absl::InvalidArgumentError(absl::StrCat("a field name is empty or longer than ", kMaxFieldName, " bytes"));
      }
      f.members[k] = std::move(val);
    }
    if (f.members.size() > kMaxFields) return absl::InvalidArgumentError(absl::StrCat("more than ", kMaxFields, " fields"));
    return f;
  }
  if (type == "application/x-www-form-urlencoded") {
    auto form = ParseForm(body);
    if (!form.ok()) return absl::InvalidArgumentError(absl::StrCat("form body: ", form.status().message()));
    for (auto& [k, v] : *form) f.members[k] = StringValue(std::move(v));
    if (f.members.size() > kMaxFields) return absl::InvalidArgumentError(absl::StrCat("more than ", kMaxFields, " fields"));
    return f;
  }
  if (type.empty()) return absl::UnimplementedError("a body needs a Content-Type (application/json or application/x-www-form-urlencoded)");
  return absl::UnimplementedError(absl::StrCat("Content-Type '", type.substr(0, 64),
                                               "' is not supported (use application/json or "
                                               "application/x-www-form-urlencoded)"));
}

}  // namespace orch::rest_gateway
