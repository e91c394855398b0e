#pragma once

// Serialization of a data model's heap (the user-visible part of it) into the
// deterministic byte format described in docs/design/js-data-model.md
// ("Serialization format"), and back.
//
// Both functions must run inside duk_safe_call: they use throwing Duktape
// calls (an allocation failure unwinds as a C++ exception to the safe call).
// They return a non-OK status for what they detect themselves.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "common/js/prng.h"
#include "duktape.h"

namespace orch::js {

// Heap stash keys shared with the data model.
inline constexpr char kStashInitialGlobals[] = "orch_initial_globals";  // the template global
inline constexpr char kStashProtos[] = "orch_protos";                   // array
inline constexpr char kStashTools[] = "orch_tools";                     // array

// Order of kStashProtos (the default [[Prototype]]s a value can have; they get
// a one-byte code in the format). Filled by the worker heap's setup.
enum ProtoCode : int {
  kProtoObject = 0,
  kProtoArray,
  kProtoFunction,
  kProtoDate,
  kProtoRegExp,
  kProtoError,
  kProtoEvalError,
  kProtoRangeError,
  kProtoReferenceError,
  kProtoSyntaxError,
  kProtoTypeError,
  kProtoUriError,
  kProtoCount,
};

// Order of kStashTools.
enum ToolIndex : int {
  kToolDateConstructor = 0,
  kToolDateGetTime,
  kToolRegExpConstructor,
  kToolErrorConstructor,
  kToolCount,
};

// Names of global properties that Serialize never writes: they are defined by
// Init() from its arguments.
bool IsInitOnlyGlobal(std::string_view name);

// The heap objects that are part of the environment rather than of the
// session's state: everything reachable from the (template) global object
// through data properties within three steps, computed once per worker heap.
// Sorted heap pointers.
std::vector<const void*> CollectBuiltinObjects(duk_context* ctx);

// Appends the snapshot of the running session (`ctx` is its thread) to
// `out`. The global properties written are those of the session's global
// object that differ (SameValue) from the template global
// (kStashInitialGlobals), minus IsInitOnlyGlobal ones; the session's global
// object itself and its _ioprocessors are written as built-in paths. FAILED_PRECONDITION for a value that cannot be
// written (a closure over a non-global scope, a bound function, a
// Symbol, ...), naming the global variable it was reached from.
absl::Status EncodeSnapshot(duk_context* ctx, const Prng::State& prng,
                            const std::vector<const void*>& builtins, std::string* out);

// Recreates the state of a snapshot in a freshly initialized heap.
// INVALID_ARGUMENT if the bytes are not a well-formed snapshot.
absl::Status DecodeSnapshot(duk_context* ctx, std::string_view bytes, Prng::State* prng);

}  // namespace orch::js
