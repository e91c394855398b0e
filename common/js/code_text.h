#pragma once

// What a piece of ECMAScript text is, judged from the text alone (no
// Duktape, any thread): the checks the data model makes before compiling a
// CodeSpec, and which texts may run inside a generated strict function.

#include <string_view>

namespace orch::js {

// The text of an expression without surrounding space and trailing ';'s
// (expr="new Foo();" is common in documents).
std::string_view TrimExpression(std::string_view text);

// Whether `text` (an expression, or a location) may be compiled into a fused
// assignment `function(){"use strict"; var t = (expr); (loc) = t;}` (one call
// instead of two; see docs/design/js-data-model.md, "<assign> in one call").
// The expression then runs in strict mode inside a function instead of as a
// sloppy program, so anything
// where that could differ is refused (conservatively, by looking at the
// text, string literals included): function literals (they would be strict
// closures), object literals (getters), `arguments`, `eval`, `this` in a
// location, assignments, ++/--, `delete`, `with`, `;`, comments and regular
// expressions (any '/'), template literals, unbalanced brackets. Refused
// texts take the two-call path; so does anything that does not compile.
// Every text of a content run must pass it too (content_function.h).
bool FusableText(std::string_view t, bool location);

// Whether `text` is a name <data id>, <foreach item/index> may declare: an
// IdentifierName that is not a reserved word (non-ASCII letters are accepted
// as they are; Duktape decides when the name is used).
bool IsValidVariableName(std::string_view text);

// Whether `text` has the shape of a left-hand side: an identifier followed by
// any chain of `.name`, `[expr]` and `(args)` that does not end in a call.
// The expressions inside brackets are checked by the compiler.
bool IsAssignableLocation(std::string_view text);

}  // namespace orch::js
