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

namespace orch {

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
