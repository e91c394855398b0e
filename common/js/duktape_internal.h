#pragma once

// Helpers that need Duktape internals; implemented in duktape_unit.cc, the
// translation unit that compiles duktape.c. All take a value stack index.

#include "duktape.h"

extern "C" {

// Starts a fresh interrupt countdown of ORCH_DUK_INTERRUPT_INTERVAL
// instructions, so that the work counted for a call does not depend on what
// earlier calls left in the counter (replay after Restore must be exact).
void orch_duk_reset_interrupt_counter(duk_context *ctx);

// What a function value is, as far as serialization cares.
enum {
  ORCH_DUK_FUNC_NONE = 0,     // not a function
  ORCH_DUK_FUNC_GLOBAL = 1,   // compiled function whose scope is the global one
  ORCH_DUK_FUNC_CLOSURE = 2,  // compiled function capturing a non-global scope
  ORCH_DUK_FUNC_NATIVE = 3,   // C function or lightfunc (built-ins, In)
  ORCH_DUK_FUNC_BOUND = 4,    // Function.prototype.bind result
};
int orch_duk_function_kind(duk_context *ctx, duk_idx_t idx);

// The [[Class]] of an object, reduced to what serialization handles.
enum {
  ORCH_DUK_CLASS_OTHER = 0,
  ORCH_DUK_CLASS_OBJECT = 1,
  ORCH_DUK_CLASS_ARRAY = 2,
  ORCH_DUK_CLASS_FUNCTION = 3,
  ORCH_DUK_CLASS_DATE = 4,
  ORCH_DUK_CLASS_REGEXP = 5,
  ORCH_DUK_CLASS_ERROR = 6,
};
int orch_duk_object_class(duk_context *ctx, duk_idx_t idx);

int orch_duk_is_extensible(duk_context *ctx, duk_idx_t idx);
void orch_duk_prevent_extensions(duk_context *ctx, duk_idx_t idx);

// For a lightfunc (a built-in function without an object, see
// DUK_USE_LIGHTFUNC_BUILTINS): its C function and flags (magic, nargs,
// length), which together identify it. Returns 0 if the value is not one.
int orch_duk_lightfunc_key(duk_context *ctx, duk_idx_t idx, void **func, int *flags);

}  // extern "C"
