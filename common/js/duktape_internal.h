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

// ---- Worker heaps (see worker_heap.h) ----

// The heap of a context, and whether a mark-and-sweep is running in it (the
// allocator must not refuse allocations then: Duktape cannot report them).
void *orch_duk_heap_of(duk_context *ctx);
int orch_duk_gc_running(void *heap);
// Makes the running thread of `heap` take an interrupt (and so call the exec
// timeout hook) at its next bytecode instruction.
void orch_duk_request_interrupt(void *heap);

// Pushes a copy of the calling thread's global object: same class,
// [[Prototype]] and property table (keys, values and attributes copied
// verbatim, reference counts taken). Only the object itself is copied: the
// built-ins it refers to are shared.
void orch_duk_push_global_clone(duk_context *ctx);

// Points the lexical and variable environment of the compiled function
// `func` (a heap pointer) at the global environment of thread `ctx`. A
// program loaded once per worker heap is bound to the running session's
// global environment for each call, and back to the worker's afterwards.
void orch_duk_bind_global_env(duk_context *ctx, void *func);

// Binds back to `main`'s global environment every function of funcs[0..n)
// (heap pointers; null and non-compiled entries skipped) that is bound to
// `session`'s (templates stay bound to the last session that ran them until
// it ends; see docs/design/js-data-model.md, "Code loaded once per worker heap").
void orch_duk_unbind_global_env(duk_context *session, duk_context *main, void *const *funcs, size_t n);

// Pushes an array of the built-in objects of the calling thread (Duktape's
// internal table: constructors, prototypes, the global object, the %ThrowTypeError%
// function, ...), environment records excluded.
void orch_duk_push_builtins(duk_context *ctx);

// Deletes every own property of the object at `idx`, non-configurable ones
// included (used to break reference cycles through a session's global
// object when the session ends).
void orch_duk_clear_object(duk_context *ctx, duk_idx_t idx);

// ---- Fast paths of the data model (ecmascript_data_model.cc) ----

// Pushes the value of JSON text and returns 1, for the common subset of JSON
// (no \u escapes or control characters, nesting up to 32, numbers Duktape
// accepts); returns 0 with the stack unchanged for anything else, which the
// caller then gives to duk_json_decode (for the exact value or error). What it
// accepts gives exactly the value JSON.parse gives (same construction calls).
int orch_duk_json_decode_fast(duk_context *ctx, const char *json, size_t len);
// Whether orch_duk_json_decode_fast accepts `json` (numbers: plain integers
// of up to 15 digits only), without a heap.
int orch_json_check_fast(const char *json, size_t len);

// If the (ordinary) object at obj_idx has `key` (an interned string, heap
// pointer) as an own writable data property, stores the value on top there
// (popping it) and returns 1: what [[Put]] does in that case. Otherwise
// returns 0 and changes nothing.
int orch_duk_put_own_data_fast(duk_context *ctx, duk_idx_t obj_idx, void *key);

// Redefines the calling thread's global property `key` (interned string;
// it must exist, else 0 is returned and nothing changes) in place, keeping
// it not enumerable and not configurable: with getter != null, as an
// accessor with that getter and no setter; otherwise as a non-writable data
// property holding the value on top (popped). Returns 1. What duk_def_prop
// with DUK_DEFPROP_FORCE does, without its generic checks.
int orch_duk_set_global_read_only(duk_context *ctx, void *key, void *getter);

// Pushes a new dense array of `length` elements: src[0] .. src[length-1]
// read with [[Get]] (holes become undefined), allocated once at its size.
void orch_duk_push_array_copy(duk_context *ctx, duk_idx_t src, duk_uint32_t length);

// Replaces the top `n` values by a new plain object holding them under
// `keys` (distinct interned strings, heap pointers), in that order, already frozen
// (the properties duk_freeze would leave: enumerable, not writable, not
// configurable; not extensible), with a property table of exactly n slots.
void orch_duk_push_frozen_record(duk_context *ctx, void *const *keys, int n);

}  // extern "C"
