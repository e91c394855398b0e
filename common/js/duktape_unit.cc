// The Duktape amalgamation (copied and patched into the build tree by
// CMakeLists.txt), compiled as C++ (DUK_USE_CPP_EXCEPTIONS) in its own target,
// plus the few helpers that need Duktape's internal structures. Keeping the
// helpers in this translation unit is what lets them see duk_hthread.

#include "duktape.c"  // NOLINT: third-party amalgamation, built as one unit

#include "common/js/duktape_internal.h"

namespace {

duk_hobject *ObjectAt(duk_context *ctx, duk_idx_t idx) {
  duk_tval *tv = duk_get_tval(reinterpret_cast<duk_hthread *>(ctx), idx);
  if (tv == nullptr || !DUK_TVAL_IS_OBJECT(tv)) return nullptr;
  return DUK_TVAL_GET_OBJECT(tv);
}

}  // namespace

extern "C" {

void orch_duk_reset_interrupt_counter(duk_context *ctx) {
  duk_hthread *thr = reinterpret_cast<duk_hthread *>(ctx);
  thr->interrupt_init = ORCH_DUK_INTERRUPT_INTERVAL;
  thr->interrupt_counter = ORCH_DUK_INTERRUPT_INTERVAL - 1;
}

int orch_duk_function_kind(duk_context *ctx, duk_idx_t idx) {
  duk_hthread *thr = reinterpret_cast<duk_hthread *>(ctx);
  duk_tval *tv = duk_get_tval(thr, idx);
  if (tv == nullptr) return ORCH_DUK_FUNC_NONE;
  if (DUK_TVAL_IS_LIGHTFUNC(tv)) return ORCH_DUK_FUNC_NATIVE;
  if (!DUK_TVAL_IS_OBJECT(tv)) return ORCH_DUK_FUNC_NONE;
  duk_hobject *h = DUK_TVAL_GET_OBJECT(tv);
  if (DUK_HOBJECT_IS_BOUNDFUNC(h)) return ORCH_DUK_FUNC_BOUND;
  if (DUK_HOBJECT_IS_NATFUNC(h)) return ORCH_DUK_FUNC_NATIVE;
  if (!DUK_HOBJECT_IS_COMPFUNC(h)) return ORCH_DUK_FUNC_NONE;
  duk_hobject *lex = DUK_HCOMPFUNC_GET_LEXENV(thr->heap, reinterpret_cast<duk_hcompfunc *>(h));
  return lex == thr->builtins[DUK_BIDX_GLOBAL_ENV] ? ORCH_DUK_FUNC_GLOBAL
                                                    : ORCH_DUK_FUNC_CLOSURE;
}

int orch_duk_object_class(duk_context *ctx, duk_idx_t idx) {
  duk_hobject *h = ObjectAt(ctx, idx);
  if (h == nullptr) return ORCH_DUK_CLASS_OTHER;
  switch (DUK_HOBJECT_GET_CLASS_NUMBER(h)) {
    case DUK_HOBJECT_CLASS_OBJECT: return ORCH_DUK_CLASS_OBJECT;
    case DUK_HOBJECT_CLASS_ARRAY: return ORCH_DUK_CLASS_ARRAY;
    case DUK_HOBJECT_CLASS_FUNCTION: return ORCH_DUK_CLASS_FUNCTION;
    case DUK_HOBJECT_CLASS_DATE: return ORCH_DUK_CLASS_DATE;
    case DUK_HOBJECT_CLASS_REGEXP: return ORCH_DUK_CLASS_REGEXP;
    case DUK_HOBJECT_CLASS_ERROR: return ORCH_DUK_CLASS_ERROR;
    default: return ORCH_DUK_CLASS_OTHER;
  }
}

int orch_duk_is_extensible(duk_context *ctx, duk_idx_t idx) {
  duk_hobject *h = ObjectAt(ctx, idx);
  return h != nullptr && DUK_HOBJECT_HAS_EXTENSIBLE(h) ? 1 : 0;
}

void orch_duk_prevent_extensions(duk_context *ctx, duk_idx_t idx) {
  duk_hobject *h = ObjectAt(ctx, idx);
  if (h != nullptr) DUK_HOBJECT_CLEAR_EXTENSIBLE(h);
}

int orch_duk_lightfunc_key(duk_context *ctx, duk_idx_t idx, void **func, int *flags) {
  duk_tval *tv = duk_get_tval(reinterpret_cast<duk_hthread *>(ctx), idx);
  if (tv == nullptr || !DUK_TVAL_IS_LIGHTFUNC(tv)) return 0;
  duk_c_function f;
  duk_small_uint_t lf_flags;
  DUK_TVAL_GET_LIGHTFUNC(tv, f, lf_flags);
  *func = reinterpret_cast<void *>(f);
  *flags = static_cast<int>(lf_flags);
  return 1;
}

}  // extern "C"
