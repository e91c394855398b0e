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

void *orch_duk_heap_of(duk_context *ctx) { return reinterpret_cast<duk_hthread *>(ctx)->heap; }

int orch_duk_gc_running(void *heap) {
  return heap != nullptr && static_cast<duk_heap *>(heap)->ms_running != 0 ? 1 : 0;
}

void orch_duk_request_interrupt(void *heap) {
  duk_hthread *thr = heap != nullptr ? static_cast<duk_heap *>(heap)->curr_thread : nullptr;
  if (thr != nullptr) thr->interrupt_counter = 0;
}

void orch_duk_push_global_clone(duk_context *ctx) {
  duk_hthread *thr = reinterpret_cast<duk_hthread *>(ctx);
  duk_heap *heap = thr->heap;
  duk_hobject *src = thr->builtins[DUK_BIDX_GLOBAL];
  duk_hobject *dst = duk_push_object_helper_proto(
      thr,
      DUK_HOBJECT_FLAG_EXTENSIBLE | DUK_HOBJECT_FLAG_FASTREFS |
          DUK_HOBJECT_CLASS_AS_FLAGS(DUK_HOBJECT_CLASS_GLOBAL),
      DUK_HOBJECT_GET_PROTOTYPE(heap, src));
  duk_uint32_t size = DUK_HOBJECT_P_ALLOC_SIZE(src);
  if (size == 0) return;
  duk_uint8_t *props = static_cast<duk_uint8_t *>(DUK_ALLOC_CHECKED(thr, size));
  duk_memcpy(props, DUK_HOBJECT_GET_PROPS(heap, src), size);
  DUK_HOBJECT_SET_PROPS(heap, dst, props);
  DUK_HOBJECT_SET_ESIZE(dst, DUK_HOBJECT_GET_ESIZE(src));
  DUK_HOBJECT_SET_ENEXT(dst, DUK_HOBJECT_GET_ENEXT(src));
  DUK_HOBJECT_SET_ASIZE(dst, DUK_HOBJECT_GET_ASIZE(src));
  DUK_HOBJECT_SET_HSIZE(dst, DUK_HOBJECT_GET_HSIZE(src));
  for (duk_uint_fast32_t i = 0; i < DUK_HOBJECT_GET_ENEXT(dst); ++i) {
    duk_hstring *key = DUK_HOBJECT_E_GET_KEY(heap, dst, i);
    if (key == nullptr) continue;  // a deleted entry
    DUK_HSTRING_INCREF(thr, key);
    if (DUK_HOBJECT_E_SLOT_IS_ACCESSOR(heap, dst, i)) {
      DUK_HOBJECT_INCREF_ALLOWNULL(thr, DUK_HOBJECT_E_GET_VALUE_GETTER(heap, dst, i));
      DUK_HOBJECT_INCREF_ALLOWNULL(thr, DUK_HOBJECT_E_GET_VALUE_SETTER(heap, dst, i));
    } else {
      DUK_TVAL_INCREF(thr, DUK_HOBJECT_E_GET_VALUE_TVAL_PTR(heap, dst, i));
    }
  }
  for (duk_uint_fast32_t i = 0; i < DUK_HOBJECT_GET_ASIZE(dst); ++i) {
    DUK_TVAL_INCREF(thr, DUK_HOBJECT_A_GET_VALUE_PTR(heap, dst, i));
  }
}

void orch_duk_bind_global_env(duk_context *ctx, void *func) {
  duk_hthread *thr = reinterpret_cast<duk_hthread *>(ctx);
  duk_hobject *h = static_cast<duk_hobject *>(func);
  if (h == nullptr || !DUK_HOBJECT_IS_COMPFUNC(h)) return;
  duk_hcompfunc *f = reinterpret_cast<duk_hcompfunc *>(h);
  duk_hobject *env = thr->builtins[DUK_BIDX_GLOBAL_ENV];
  duk_hobject *old_lex = DUK_HCOMPFUNC_GET_LEXENV(thr->heap, f);
  duk_hobject *old_var = DUK_HCOMPFUNC_GET_VARENV(thr->heap, f);
  if (old_lex == env && old_var == env) return;
  DUK_HOBJECT_INCREF(thr, env);
  DUK_HOBJECT_INCREF(thr, env);
  DUK_HCOMPFUNC_SET_LEXENV(thr->heap, f, env);
  DUK_HCOMPFUNC_SET_VARENV(thr->heap, f, env);
  // Never the last reference (the old environment belongs to a live thread),
  // so no refzero processing is needed here.
  if (old_lex != nullptr) DUK_HOBJECT_DECREF_NORZ(thr, old_lex);
  if (old_var != nullptr) DUK_HOBJECT_DECREF_NORZ(thr, old_var);
}

void orch_duk_push_builtins(duk_context *ctx) {
  duk_hthread *thr = reinterpret_cast<duk_hthread *>(ctx);
  duk_push_array(ctx);
  duk_uarridx_t n = 0;
  for (int i = 0; i < DUK_NUM_BUILTINS; ++i) {
    duk_hobject *h = thr->builtins[i];
    if (h == nullptr || DUK_HOBJECT_IS_OBJENV(h) || DUK_HOBJECT_IS_DECENV(h)) continue;
    duk_push_hobject(thr, h);
    duk_put_prop_index(ctx, -2, n++);
  }
}

void orch_duk_clear_object(duk_context *ctx, duk_idx_t idx) {
  duk_hthread *thr = reinterpret_cast<duk_hthread *>(ctx);
  duk_hobject *obj = ObjectAt(ctx, idx);
  if (obj == nullptr) return;
  duk_push_hobject(thr, obj);  // keeps it alive while we delete
  // Deleting marks the entry's key NULL without moving other entries.
  for (duk_uint_fast32_t i = 0; i < DUK_HOBJECT_GET_ENEXT(obj); ++i) {
    duk_hstring *key = DUK_HOBJECT_E_GET_KEY(thr->heap, obj, i);
    if (key != nullptr) duk_hobject_delprop_raw(thr, obj, key, DUK_DELPROP_FLAG_FORCE);
  }
  duk_pop(ctx);
}

}  // extern "C"
