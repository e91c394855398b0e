#pragma once

// Turning an HTTP request into what the Sessions API takes: the route (which
// endpoint, session id, event name), and the fields of the query string and
// body (JSON or form). Pure functions; every error is INVALID_ARGUMENT (400),
// NOT_FOUND (404, unknown path or malformed id) or UNIMPLEMENTED (415,
// content type), with a message fit for the client.

#include <map>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"

namespace orch::rest_gateway {

enum class Endpoint {
  kStart,
  kEvent,
  kRequest,
  kQuery,
  kTerminate,
  kHelp,
  kHealthz,
  kReadyz,
  kOpenApi,
};

struct Route {
  Endpoint endpoint;
  std::string session_id;   // for /scxml/session/{id}/...
  int node = 0;             // the id's node
  std::string name;         // event or request name
  std::string query;        // the raw query string (after '?'), may be empty
  std::string path;         // the raw path
  // False when the path matched but not the method: answer 405 with
  // `Allow: allow`.
  bool method_allowed = true;
  std::string allow;
};

// Matches method and target ("/path?query"). Path segments are
// percent-decoded before matching; ids and names are validated (a decoded
// '/' or '..' never matches anything).
absl::StatusOr<Route> ParseRoute(absl::string_view method, absl::string_view target);

// What a body and query string hold: an object's members, or (for a JSON
// body that is not an object) one value.
struct Fields {
  std::map<std::string, google::protobuf::Value> members;
  std::optional<google::protobuf::Value> value;
};

// Query parameters (strings) overlaid by the body's fields (JSON values or
// form strings). `content_type` may be null (then the body must be empty).
// Bounded: at most 1,000 fields, names at most 256 bytes. Text must be
// UTF-8.
absl::StatusOr<Fields> ParseFields(absl::string_view query, const std::string* content_type,
                                   absl::string_view body);

// application/x-www-form-urlencoded (also the query string): pairs decoded.
absl::StatusOr<std::map<std::string, std::string>> ParseForm(absl::string_view text);

// %XX and '+' (as space when `plus_is_space`); INVALID_ARGUMENT for a
// malformed escape.
absl::StatusOr<std::string> PercentDecode(absl::string_view s, bool plus_is_space);

// An event name as the engine accepts it (also checked here so that a bad
// name never reaches a session): 1..512 bytes, UTF-8, no spaces or control
// characters, no leading or trailing '.'.
absl::Status ValidateEventName(absl::string_view name);

}  // namespace orch::rest_gateway
