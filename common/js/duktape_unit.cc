// The Duktape amalgamation (copied and patched into the build tree by
// CMakeLists.txt), compiled as C++ (DUK_USE_CPP_EXCEPTIONS) in its own target,
// plus the few helpers that need Duktape's internal structures. Keeping the
// helpers in this translation unit is what lets them see duk_hthread.

#include "duktape.c"  // NOLINT: third-party amalgamation, built as one unit

#include "common/js/duktape_internal.h"

#include <string>

namespace {

duk_hobject *ObjectAt(duk_context *ctx, duk_idx_t idx) {
  duk_tval *tv = duk_get_tval(reinterpret_cast<duk_hthread *>(ctx), idx);
  if (tv == nullptr || !DUK_TVAL_IS_OBJECT(tv)) return nullptr;
  return DUK_TVAL_GET_OBJECT(tv);
}


// ---- JSON fast path (orch_duk_json_decode_fast) ----
//
// A recursive-descent parser for the common subset of JSON, building values
// with exactly the calls Duktape's own decoder uses (duk_push_object +
// duk_xdef_prop_wec, duk_push_array + duk_xdef_prop_index_wec +
// duk_set_length, duk_numconv_parse for numbers), so that what it accepts
// gives the same value as JSON.parse. It gives up ("bail") on anything
// outside the subset: \u escapes, control characters, deep nesting, numbers
// Duktape would reject, trailing garbage. Objects are pre-sized (members are
// parsed onto the value stack first), so no property table is grown.
// With thr == nullptr it only checks (numbers other than plain integers bail).
// Bytes a JSON string can hold as they are: not '"', '\\' or a control
// character.
struct PlainTable {
  bool t[256];
  constexpr PlainTable() : t() {
    for (int c = 0; c < 256; ++c) t[c] = c >= 0x20 && c != '"' && c != '\\';
  }
  constexpr bool operator[](unsigned char c) const { return t[c]; }
};
constexpr PlainTable kPlain{};

class JsonFast {
 public:
  JsonFast(duk_hthread *thr, const char *p, size_t n)
      : thr_(thr),
        p_(reinterpret_cast<const unsigned char *>(p)),
        end_(reinterpret_cast<const unsigned char *>(p) + n) {}

  bool Run() {
    if (!Value()) return false;
    SkipWhite();
    return p_ == end_;
  }

 private:
  static constexpr int kMaxDepth = 32;

  void SkipWhite() {
    const unsigned char *p = p_;
    while (p < end_ && (*p == 0x20 || *p == 0x0a || *p == 0x0d || *p == 0x09)) ++p;
    p_ = p;
  }

  bool Literal(const char *word, size_t n) {
    if (static_cast<size_t>(end_ - p_) < n || memcmp(p_, word, n) != 0) return false;
    p_ += n;
    return true;
  }

  bool Value() {
    SkipWhite();
    if (p_ >= end_) return false;
    switch (*p_) {
      case '{': return Object();
      case '[': return Array();
      case '"': return String();
      case 't':
        if (!Literal("true", 4)) return false;
        if (thr_ != nullptr) duk_push_true(thr_);
        return true;
      case 'f':
        if (!Literal("false", 5)) return false;
        if (thr_ != nullptr) duk_push_false(thr_);
        return true;
      case 'n':
        if (!Literal("null", 4)) return false;
        if (thr_ != nullptr) duk_push_null(thr_);
        return true;
      default:
        if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) return Number();
        return false;
    }
  }

  bool String() {
    ++p_;  // opening quote
    const unsigned char *start = p_;
    {
      const unsigned char *p = p_;
      const unsigned char *end = end_;
      while (p < end && kPlain[*p]) ++p;
      p_ = p;
    }
    if (p_ >= end_ || *p_ < 0x20) return false;
    if (*p_ == '"') {
      if (thr_ != nullptr) {
        duk_push_lstring(thr_, reinterpret_cast<const char *>(start), static_cast<duk_size_t>(p_ - start));
      }
      ++p_;
      return true;
    }
    // Simple escapes only; \uXXXX is left to Duktape.
    scratch_.assign(reinterpret_cast<const char *>(start), static_cast<size_t>(p_ - start));
    while (p_ < end_) {
      unsigned char c = *p_++;
      if (c == '"') {
        if (thr_ != nullptr) duk_push_lstring(thr_, scratch_.data(), scratch_.size());
        return true;
      }
      if (c < 0x20) return false;
      if (c != '\\') {
        scratch_.push_back(static_cast<char>(c));
        continue;
      }
      if (p_ >= end_) return false;
      switch (*p_++) {
        case '"': scratch_.push_back('"'); break;
        case '\\': scratch_.push_back('\\'); break;
        case '/': scratch_.push_back('/'); break;
        case 'b': scratch_.push_back('\b'); break;
        case 'f': scratch_.push_back('\f'); break;
        case 'n': scratch_.push_back('\n'); break;
        case 'r': scratch_.push_back('\r'); break;
        case 't': scratch_.push_back('\t'); break;
        default: return false;
      }
    }
    return false;
  }

  bool Number() {
    const unsigned char *start = p_;
    // The same lenient scan as Duktape's decoder, then a strict parse.
    while (p_ < end_ && ((*p_ >= '0' && *p_ <= '9') || *p_ == '.' || *p_ == 'e' || *p_ == 'E' ||
                         *p_ == '-' || *p_ == '+')) {
      ++p_;
    }
    const unsigned char *q = start;
    bool negative = false;
    if (*q == '-') {
      negative = true;
      ++q;
    }
    size_t digits = static_cast<size_t>(p_ - q);
    bool plain = digits >= 1 && digits <= 15 && !(digits > 1 && *q == '0');
    double value = 0;
    for (const unsigned char *d = q; plain && d < p_; ++d) {
      if (*d < '0' || *d > '9') plain = false;
      value = value * 10 + (*d - '0');
    }
    if (plain) {
      if (thr_ != nullptr) duk_push_number(thr_, negative ? -value : value);
      return true;
    }
    if (thr_ == nullptr) return false;
    duk_push_lstring(thr_, reinterpret_cast<const char *>(start), static_cast<duk_size_t>(p_ - start));
    duk_numconv_parse(thr_, 10, DUK_S2N_FLAG_ALLOW_EXP | DUK_S2N_FLAG_ALLOW_MINUS | DUK_S2N_FLAG_ALLOW_FRAC);
    return !duk_is_nan(thr_, -1);
  }

  bool Object() {
    if (++depth_ > kMaxDepth) return false;
    ++p_;  // '{'
    duk_uint32_t count = 0;
    if (thr_ != nullptr) duk_require_stack(thr_, 8);
    SkipWhite();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
    } else {
      for (;;) {
        SkipWhite();
        if (p_ >= end_ || *p_ != '"' || !String()) return false;
        SkipWhite();
        if (p_ >= end_ || *p_ != ':') return false;
        ++p_;
        if (!Value()) return false;
        ++count;
        if (thr_ != nullptr && (count & 3) == 0) duk_require_stack(thr_, 8);
        SkipWhite();
        if (p_ >= end_) return false;
        if (*p_ == ',') {
          ++p_;
          continue;
        }
        if (*p_ != '}') return false;
        ++p_;
        break;
      }
    }
    --depth_;
    if (thr_ == nullptr) return true;
    // [ ... key0 val0 ... keyN valN ] -> [ ... obj ]
    duk_idx_t base = duk_get_top(thr_) - static_cast<duk_idx_t>(2 * count);
    duk_hobject *obj = duk_push_object_helper(
        thr_, DUK_HOBJECT_FLAG_EXTENSIBLE | DUK_HOBJECT_FLAG_FASTREFS | DUK_HOBJECT_CLASS_AS_FLAGS(DUK_HOBJECT_CLASS_OBJECT),
        DUK_BIDX_OBJECT_PROTOTYPE);
    if (count > 0 && count < DUK_USE_HOBJECT_HASH_PROP_LIMIT && DistinctPlainKeys(base, count)) {
      // Small objects (no hash part, as Duktape makes them) with distinct
      // non-index keys: the entry table is filled directly, in order, with
      // the attributes duk_xdef_prop_wec gives (writable, enumerable,
      // configurable).
      duk_hobject_realloc_props(thr_, obj, count, 0, 0, 0);
      duk_heap *heap = thr_->heap;
      for (duk_uint32_t i = 0; i < count; ++i) {
        duk_tval *key = thr_->valstack_bottom + base + 2 * i;
        duk_hstring *k = DUK_TVAL_GET_STRING(key);
        DUK_HOBJECT_E_SET_KEY(heap, obj, i, k);
        DUK_HSTRING_INCREF(thr_, k);
        duk_tval *slot = DUK_HOBJECT_E_GET_VALUE_TVAL_PTR(heap, obj, i);
        DUK_TVAL_SET_TVAL(slot, key + 1);
        DUK_TVAL_INCREF(thr_, slot);
        DUK_HOBJECT_E_SET_FLAGS(heap, obj, i, DUK_PROPDESC_FLAGS_WEC);
      }
      DUK_HOBJECT_SET_ENEXT(obj, count);
    } else {
      if (count > 0) duk_hobject_realloc_props(thr_, obj, count, 0, duk__get_default_h_size(count), 0);
      duk_idx_t obj_idx = base + static_cast<duk_idx_t>(2 * count);
      for (duk_uint32_t i = 0; i < count; ++i) {
        duk_dup(thr_, base + static_cast<duk_idx_t>(2 * i));
        duk_dup(thr_, base + static_cast<duk_idx_t>(2 * i + 1));
        duk_xdef_prop_wec(thr_, obj_idx);
      }
    }
    if (count > 0) {
      duk_replace(thr_, base);
      duk_set_top(thr_, base + 1);
    }
    return true;
  }

  // Whether the keys at stack indices base, base+2, ... (count of them) are
  // distinct and none is an array index.
  bool DistinctPlainKeys(duk_idx_t base, duk_uint32_t count) {
    duk_tval *first = thr_->valstack_bottom + base;
    for (duk_uint32_t i = 0; i < count; ++i) {
      duk_hstring *k = DUK_TVAL_GET_STRING(first + 2 * i);
      if (DUK_HSTRING_HAS_ARRIDX(k)) return false;
      for (duk_uint32_t j = 0; j < i; ++j) {
        if (DUK_TVAL_GET_STRING(first + 2 * j) == k) return false;
      }
    }
    return true;
  }

  bool Array() {
    if (++depth_ > kMaxDepth) return false;
    ++p_;  // '['
    if (thr_ != nullptr) duk_push_array(thr_);
    duk_uarridx_t n = 0;
    SkipWhite();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
    } else {
      for (;;) {
        if (!Value()) return false;
        if (thr_ != nullptr) duk_xdef_prop_index_wec(thr_, -2, n);
        ++n;
        SkipWhite();
        if (p_ >= end_) return false;
        if (*p_ == ',') {
          ++p_;
          continue;
        }
        if (*p_ != ']') return false;
        ++p_;
        break;
      }
    }
    --depth_;
    if (thr_ != nullptr) duk_set_length(thr_, -1, n);
    return true;
  }

  duk_hthread *thr_;
  const unsigned char *p_;
  const unsigned char *end_;
  int depth_ = 0;
  std::string scratch_;
};

}  // namespace

extern "C" {

int orch_duk_json_decode_fast(duk_context *ctx, const char *json, size_t len) {
  duk_hthread *thr = reinterpret_cast<duk_hthread *>(ctx);
  duk_idx_t top = duk_get_top(thr);
  if (JsonFast(thr, json, len).Run()) return 1;
  duk_set_top(thr, top);
  return 0;
}

int orch_json_check_fast(const char *json, size_t len) {
  return JsonFast(nullptr, json, len).Run() ? 1 : 0;
}

int orch_duk_put_own_data_fast(duk_context *ctx, duk_idx_t obj_idx, void *key) {
  duk_hthread *thr = reinterpret_cast<duk_hthread *>(ctx);
  duk_hobject *obj = ObjectAt(ctx, obj_idx);
  if (obj == nullptr || DUK_HOBJECT_HAS_EXOTIC_BEHAVIOR(obj) || DUK_HOBJECT_IS_PROXY(obj)) return 0;
  duk_uint_t attrs = 0;
  duk_tval *slot = duk_hobject_find_entry_tval_ptr_and_attrs(thr->heap, obj, static_cast<duk_hstring *>(key), &attrs);
  if (slot == nullptr || !(attrs & DUK_PROPDESC_FLAG_WRITABLE)) return 0;
  DUK_TVAL_SET_TVAL_UPDREF(thr, slot, thr->valstack_top - 1);  // side effects after the write
  duk_pop(thr);
  return 1;
}

int orch_duk_set_global_read_only(duk_context *ctx, void *key, void *getter) {
  duk_hthread *thr = reinterpret_cast<duk_hthread *>(ctx);
  duk_heap *heap = thr->heap;
  duk_hobject *g = thr->builtins[DUK_BIDX_GLOBAL];
  duk_int_t e_idx = -1;
  duk_int_t h_idx = -1;
  if (g == nullptr || !duk_hobject_find_entry(heap, g, static_cast<duk_hstring *>(key), &e_idx, &h_idx) ||
      e_idx < 0) {
    return 0;
  }
  const bool was_accessor = DUK_HOBJECT_E_SLOT_IS_ACCESSOR(heap, g, e_idx);
  duk_hobject *old_get = nullptr;
  duk_hobject *old_set = nullptr;
  duk_tval old_value;
  DUK_TVAL_SET_UNDEFINED(&old_value);
  if (was_accessor) {
    old_get = DUK_HOBJECT_E_GET_VALUE_GETTER(heap, g, e_idx);
    old_set = DUK_HOBJECT_E_GET_VALUE_SETTER(heap, g, e_idx);
  } else {
    DUK_TVAL_SET_TVAL(&old_value, DUK_HOBJECT_E_GET_VALUE_TVAL_PTR(heap, g, e_idx));
  }
  if (getter != nullptr) {
    duk_hobject *h = static_cast<duk_hobject *>(getter);
    DUK_HOBJECT_INCREF(thr, h);
    DUK_HOBJECT_E_SET_VALUE_GETTER(heap, g, e_idx, h);
    DUK_HOBJECT_E_SET_VALUE_SETTER(heap, g, e_idx, nullptr);
    DUK_HOBJECT_E_SET_FLAGS(heap, g, e_idx, DUK_PROPDESC_FLAG_ACCESSOR);
  } else {
    duk_tval *slot = DUK_HOBJECT_E_GET_VALUE_TVAL_PTR(heap, g, e_idx);
    DUK_TVAL_SET_TVAL(slot, thr->valstack_top - 1);
    DUK_TVAL_INCREF(thr, slot);
    DUK_HOBJECT_E_SET_FLAGS(heap, g, e_idx, 0);
    duk_pop(thr);
  }
  // The property is consistent again: now the old references may go
  // (possibly freeing objects).
  DUK_HOBJECT_DECREF_ALLOWNULL(thr, old_get);
  DUK_HOBJECT_DECREF_ALLOWNULL(thr, old_set);
  DUK_TVAL_DECREF(thr, &old_value);
  return 1;
}

void orch_duk_push_array_copy(duk_context *ctx, duk_idx_t src, duk_uint32_t length) {
  duk_hthread *thr = reinterpret_cast<duk_hthread *>(ctx);
  src = duk_require_normalize_index(thr, src);
  duk_harray *a = duk_push_harray_with_size(thr, length);
  for (duk_uint32_t i = 0; i < length; ++i) {
    duk_get_prop_index(thr, src, i);  // may run getters; the copy's table is looked up again below
    duk_tval *slot = DUK_HOBJECT_A_GET_VALUE_PTR(thr->heap, reinterpret_cast<duk_hobject *>(a), i);
    DUK_TVAL_SET_TVAL_UPDREF(thr, slot, thr->valstack_top - 1);
    duk_pop(thr);
  }
}

void orch_duk_push_frozen_record(duk_context *ctx, void *const *keys, int n) {
  duk_hthread *thr = reinterpret_cast<duk_hthread *>(ctx);
  duk_idx_t base = duk_get_top(thr) - n;
  duk_hobject *obj = duk_push_object_helper(
      thr, DUK_HOBJECT_FLAG_EXTENSIBLE | DUK_HOBJECT_FLAG_FASTREFS | DUK_HOBJECT_CLASS_AS_FLAGS(DUK_HOBJECT_CLASS_OBJECT),
      DUK_BIDX_OBJECT_PROTOTYPE);
  // No hash part: a few entries are searched linearly.
  duk_hobject_realloc_props(thr, obj, static_cast<duk_uint32_t>(n), 0, 0, 0);
  duk_heap *heap = thr->heap;
  for (int i = 0; i < n; ++i) {
    duk_hstring *key = static_cast<duk_hstring *>(keys[i]);
    DUK_HOBJECT_E_SET_KEY(heap, obj, i, key);
    DUK_HSTRING_INCREF(thr, key);
    duk_tval *slot = DUK_HOBJECT_E_GET_VALUE_TVAL_PTR(heap, obj, i);
    DUK_TVAL_SET_TVAL(slot, thr->valstack_bottom + base + i);
    DUK_TVAL_INCREF(thr, slot);
    // What duk_freeze leaves: enumerable, not writable, not configurable.
    DUK_HOBJECT_E_SET_FLAGS(heap, obj, i, DUK_PROPDESC_FLAG_ENUMERABLE);
  }
  DUK_HOBJECT_SET_ENEXT(obj, static_cast<duk_uint32_t>(n));
  DUK_HOBJECT_CLEAR_EXTENSIBLE(obj);
  duk_replace(thr, base);
  duk_set_top(thr, base + 1);
}


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

void orch_duk_unbind_global_env(duk_context *session, duk_context *main, void *const *funcs, size_t n) {
  duk_hthread *thr = reinterpret_cast<duk_hthread *>(session);
  duk_hobject *env = thr->builtins[DUK_BIDX_GLOBAL_ENV];
  for (size_t i = 0; i < n; ++i) {
    duk_hobject *h = static_cast<duk_hobject *>(funcs[i]);
    if (h == nullptr || !DUK_HOBJECT_IS_COMPFUNC(h)) continue;
    duk_hcompfunc *f = reinterpret_cast<duk_hcompfunc *>(h);
    if (DUK_HCOMPFUNC_GET_LEXENV(thr->heap, f) == env || DUK_HCOMPFUNC_GET_VARENV(thr->heap, f) == env) {
      orch_duk_bind_global_env(main, h);
    }
  }
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
