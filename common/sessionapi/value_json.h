#pragma once

// google.protobuf.Value <-> the JSON text the interpreter's seam takes
// ("undefined" for an unset value). ValueToJson is on every event's path, so
// it writes directly instead of going through protobuf's JSON printer; its
// output is deterministic (object members in map order is NOT guaranteed by
// protobuf, so members are sorted), which replay relies on.

#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"

namespace orch::sessionapi {

std::string ValueToJson(const google::protobuf::Value& v);
// INVALID_ARGUMENT when `json` is not JSON; "undefined" gives an unset Value.
absl::StatusOr<google::protobuf::Value> JsonToValue(const std::string& json);

}  // namespace orch::sessionapi
