#include "common/sessionapi/value_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <vector>

#include "common/base/json.h"
#include "google/protobuf/util/json_util.h"

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

absl::StatusOr<google::protobuf::Value> JsonToValue(const std::string& json) {
  google::protobuf::Value v;
  if (json == "undefined") return v;
  auto st = google::protobuf::util::JsonStringToMessage(json, &v);
  if (!st.ok()) return absl::InvalidArgumentError("value is not JSON");
  return v;
}

}  // namespace orch::sessionapi
