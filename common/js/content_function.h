#pragma once

// The JavaScript source of a content run (scxml::ContentNode, data_model.h)
// as one strict function, so that the ECMAScript data model runs the run in
// one call (README.md, "Content runs in one call").
//
//   auto source = ContentFunctionSource(nodes, lookup);
//   // compile with DUK_COMPILE_FUNCTION, then call it with `this` = the
//   // session's global object and two arguments: a copy helper
//   // (array -> shallow copy, or undefined when not an array) and a
//   // declare helper (names -> defines each missing one like `var`).
//
// The function returns undefined when every element ran, [op] when the
// <foreach> of `op` was given something that is not an array, and
// [op, error] when operation `op` threw `error`. Each text runs in strict
// mode inside the function, so only texts that behave the same there are
// accepted (the lookup decides; the data model uses FusableText). Pure
// string building: no Duktape, any thread.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/scxml/data_model.h"

namespace orch::js {

// How a piece of code is used in the function.
enum class CodeUse {
  kValue,     // an expression or condition, evaluated
  kLocation,  // the left-hand side of an assignment
  kVariable,  // a <foreach> item or index: a plain variable name
};

// The text of code `id` trimmed for use as `use`, or nullopt when it cannot
// be used that way in strict mode (the run is then not fused).
using CodeLookup = std::function<std::optional<std::string_view>(uint32_t id, CodeUse use)>;

// nullopt when some code of the run is refused by `lookup`.
std::optional<std::string> ContentFunctionSource(const std::vector<scxml::ContentNode>& nodes,
                                                 const CodeLookup& lookup);

// The code whose `where` prefixes the messages of operation `op` of
// `nodes`, as the operation's own call would (assign: the location; if: the
// condition; foreach: the array, then the item), or kNoCode.
uint32_t OperationCode(const std::vector<scxml::ContentNode>& nodes, uint32_t op);

// A name that does not occur in any of `texts` (so it shadows nothing they
// refer to), for the parameters and temporaries of generated functions.
std::string FreshName(const std::vector<std::string_view>& texts);

}  // namespace orch::js
