#pragma once

// google.protobuf.Value <-> the JSON text the interpreter's seam takes
// ("undefined" for an unset value). ValueToJson is on every event's path, so
// it writes directly instead of going through protobuf's JSON printer; its
// output is deterministic (object members in map order is NOT guaranteed by
// protobuf, so members are sorted), which replay relies on.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"

namespace orch::sessionapi {

std::string ValueToJson(const google::protobuf::Value& v);
// Arrays and objects nest at most this deep in JsonToValue: each level is
// two protobuf messages (Value, then ListValue or Struct), and protobuf
// refuses messages nested more than 100 deep on the wire, so a deeper value
// could not be sent over gRPC anyway.
inline constexpr int kMaxJsonDepth = 32;

// RFC 8259 JSON (strict, UTF-8) into a Value; INVALID_ARGUMENT naming the
// byte offset and the problem otherwise. "undefined" gives an unset Value.
absl::StatusOr<google::protobuf::Value> JsonToValue(std::string_view json);

}  // namespace orch::sessionapi
