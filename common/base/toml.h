#pragma once

// toml++ (Debian's libtomlplusplus-dev) as Orchestrion uses it: header-only,
// no exceptions (errors come back in toml::parse_result), no formatters.
// Include this instead of <toml++/toml.h>, from .cc files only: every
// translation unit must see the same settings, or the program would hold two
// different definitions of toml++'s inline functions.

#define TOML_HEADER_ONLY 1
#define TOML_EXCEPTIONS 0
#define TOML_ENABLE_FORMATTERS 0
#include <toml++/toml.h>

#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace orch {

// Parses a whole document. A syntax error is INVALID_ARGUMENT
// "<source_name>:<line>:<column>: malformed TOML: <toml++'s description>".
inline absl::StatusOr<toml::table> ParseToml(std::string_view text, const std::string& source_name) {
  toml::parse_result parsed = toml::parse(text, std::string_view(source_name));
  if (!parsed) {
    const toml::parse_error& err = parsed.error();
    return absl::InvalidArgumentError(absl::StrCat(source_name, ":", err.source().begin.line, ":",
                                                   err.source().begin.column, ": malformed TOML: ",
                                                   std::string(err.description())));
  }
  return std::move(parsed).table();
}

// "a table", "an integer", ...: the type of a TOML value, for messages.
inline std::string TomlTypeName(toml::node_type t) {
  switch (t) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

}  // namespace orch
