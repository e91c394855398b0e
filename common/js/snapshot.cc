#include "common/js/snapshot.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/js/duktape_internal.h"

namespace orch::js {
namespace {

// Format constants: see docs/design/js-data-model.md, "Serialization format".
constexpr std::string_view kMagic("ORCHJS\x01", 7);
constexpr char kPathSeparator = '\x1f';

// Debian's Abseil has its own string_view (ABSL_OPTION_USE_STD_STRING_VIEW=0).
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

enum Attr : uint8_t { kWritable = 1, kEnumerable = 2, kConfigurable = 4, kAccessor = 8 };

enum ValueTag : char {
  kTagUndefined = 'u',
  kTagNull = 'n',
  kTagTrue = 't',
  kTagFalse = 'f',
  kTagNumber = 'd',
  kTagString = 's',
  kTagObject = 'o',   // + varint index into the object table
  kTagBuiltin = 'b',  // + string: path from the global object
  kTagProto = 'p',    // + byte: ProtoCode
};

enum ShellTag : char {
  kShellPlain = 'O',
  kShellArray = 'A',     // + varint length
  kShellFunction = 'F',  // + string: duk_dump_function bytecode
  kShellDate = 'D',      // + f64 time value
  kShellRegExp = 'R',    // + string source + string flags
  kShellError = 'E',
};

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void PutDouble(std::string* out, double d) {
  uint64_t bits;
  if (std::isnan(d)) {
    bits = 0x7FF8000000000000ULL;  // one NaN: the same state gives the same bytes
  } else {
    std::memcpy(&bits, &d, sizeof bits);
  }
  PutU64(out, bits);
}

void PutString(std::string* out, std::string_view s) {
  PutVarint(out, s.size());
  out->append(s);
}

uint64_t Fnv1a64(std::string_view bytes) {
  uint64_t h = 0xCBF29CE484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001B3ULL;
  }
  return h;
}

std::string_view GetString(duk_context* ctx, duk_idx_t idx) {
  duk_size_t len = 0;
  const char* p = duk_get_lstring(ctx, idx, &len);
  return p == nullptr ? std::string_view() : std::string_view(p, len);
}

uint8_t DescriptorAttrs(duk_context* ctx, duk_idx_t desc) {
  uint8_t attrs = 0;
  auto flag = [&](const char* name, uint8_t bit) {
    duk_get_prop_string(ctx, desc, name);
    if (duk_to_boolean(ctx, -1)) attrs |= bit;
    duk_pop(ctx);
  };
  flag("writable", kWritable);
  flag("enumerable", kEnumerable);
  flag("configurable", kConfigurable);
  if (duk_has_prop_string(ctx, desc, "get") || duk_has_prop_string(ctx, desc, "set")) {
    attrs |= kAccessor;
    attrs &= static_cast<uint8_t>(~kWritable);
  }
  return attrs;
}

duk_uint_t DefPropFlags(uint8_t attrs) {
  duk_uint_t flags = DUK_DEFPROP_HAVE_ENUMERABLE | DUK_DEFPROP_HAVE_CONFIGURABLE | DUK_DEFPROP_FORCE;
  if (attrs & kEnumerable) flags |= DUK_DEFPROP_ENUMERABLE;
  if (attrs & kConfigurable) flags |= DUK_DEFPROP_CONFIGURABLE;
  if (attrs & kAccessor) {
    flags |= DUK_DEFPROP_HAVE_GETTER | DUK_DEFPROP_HAVE_SETTER;
  } else {
    flags |= DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_HAVE_WRITABLE;
    if (attrs & kWritable) flags |= DUK_DEFPROP_WRITABLE;
  }
  return flags;
}

// Calls visit(path, idx) for the global object (path "") and every object or
// lightfunc reachable from it through data properties in at most `max_depth`
// steps, breadth first, in property order; `_event` is not followed.
template <typename Visit>
void WalkBuiltins(duk_context* ctx, int max_depth, Visit visit) {
  struct Item {
    void* ptr;
    std::string path;
    int depth;
  };
  std::deque<Item> queue;
  absl::flat_hash_set<void*> seen;
  duk_push_global_object(ctx);
  void* global = duk_get_heapptr(ctx, -1);
  visit(std::string(), duk_normalize_index(ctx, -1));
  duk_pop(ctx);
  seen.insert(global);
  queue.push_back({global, std::string(), 0});
  while (!queue.empty()) {
    Item item = std::move(queue.front());
    queue.pop_front();
    if (item.depth >= max_depth) continue;
    // The global object's children are taken from the template global, so
    // that user variables (`var m = Math.max`) never name a built-in.
    if (item.depth == 0) {
      duk_push_heap_stash(ctx);
      duk_get_prop_string(ctx, -1, kStashInitialGlobals);
      duk_remove(ctx, -2);
    } else {
      duk_push_heapptr(ctx, item.ptr);
    }
    duk_idx_t obj = duk_normalize_index(ctx, -1);
    duk_enum(ctx, obj, DUK_ENUM_OWN_PROPERTIES_ONLY | DUK_ENUM_INCLUDE_NONENUMERABLE);
    while (duk_next(ctx, -1, 0)) {
      std::string_view key = GetString(ctx, -1);
      if (item.depth == 0 && key == "_event") {
        duk_pop(ctx);
        continue;
      }
      std::string path =
          item.path.empty() ? std::string(key) : absl::StrCat(item.path, std::string(1, kPathSeparator), Av(key));
      duk_get_prop_desc(ctx, obj, 0);  // key -> descriptor
      if (duk_is_object(ctx, -1) && duk_has_prop_string(ctx, -1, "value")) {
        duk_get_prop_string(ctx, -1, "value");
        duk_idx_t v = duk_normalize_index(ctx, -1);
        if (duk_is_lightfunc(ctx, v)) {
          visit(path, v);
        } else if (duk_is_object(ctx, v)) {
          void* p = duk_get_heapptr(ctx, v);
          if (seen.insert(p).second) {
            visit(path, v);
            queue.push_back({p, std::move(path), item.depth + 1});
          }
        }
        duk_pop(ctx);
      }
      duk_pop(ctx);  // descriptor
    }
    duk_pop_2(ctx);  // enum, object
  }
}

using LightfuncKey = std::pair<const void*, int>;

class Encoder {
 public:
  Encoder(duk_context* ctx, const std::vector<const void*>& builtins)
      : ctx_(ctx), builtins_(builtins) {}

  absl::Status Run(const Prng::State& prng, std::string* out) {
    duk_push_global_object(ctx_);
    global_ = duk_get_heapptr(ctx_, -1);
    // The session's own environment objects (Init's _ioprocessors) are
    // written by path, like the shared built-ins.
    for (const char* name : {"_ioprocessors"}) {
      duk_get_prop_string(ctx_, -1, name);
      CollectSessionPaths(duk_normalize_index(ctx_, -1), name, 0);
      duk_pop(ctx_);
    }
    duk_pop(ctx_);
    duk_push_heap_stash(ctx_);
    duk_get_prop_string(ctx_, -1, kStashProtos);
    for (int i = 0; i < kProtoCount; ++i) {
      duk_get_prop_index(ctx_, -1, i);
      protos_[i] = duk_get_heapptr(ctx_, -1);
      duk_pop(ctx_);
    }
    duk_pop(ctx_);
    duk_get_prop_string(ctx_, -1, kStashTools);
    duk_get_prop_index(ctx_, -1, kToolDateGetTime);
    date_get_time_ = duk_normalize_index(ctx_, -1);

    std::string globals;
    uint64_t global_count = 0;
    RETURN_IF_ERROR(EncodeGlobals(&globals, &global_count));
    for (size_t i = 0; i < objects_.size(); ++i) {  // grows while we go
      RETURN_IF_ERROR(EncodeObject(i));
    }
    duk_pop_3(ctx_);  // getTime, tools, stash

    out->append(kMagic);
    for (uint64_t word : prng) PutU64(out, word);
    PutVarint(out, objects_.size());
    out->append(shells_);
    out->append(props_);
    PutVarint(out, global_count);
    out->append(globals);
    PutU64(out, Fnv1a64(*out));
    return absl::OkStatus();
  }

 private:
  absl::Status EncodeGlobals(std::string* out, uint64_t* count) {
    duk_push_global_object(ctx_);
    duk_idx_t global = duk_normalize_index(ctx_, -1);
    duk_push_heap_stash(ctx_);
    duk_get_prop_string(ctx_, -1, kStashInitialGlobals);
    duk_idx_t initial = duk_normalize_index(ctx_, -1);
    duk_enum(ctx_, global,
             DUK_ENUM_OWN_PROPERTIES_ONLY | DUK_ENUM_INCLUDE_NONENUMERABLE |
                 DUK_ENUM_SORT_ARRAY_INDICES);
    while (duk_next(ctx_, -1, 0)) {
      duk_idx_t key = duk_normalize_index(ctx_, -1);
      std::string name(GetString(ctx_, key));
      if (IsInitOnlyGlobal(name)) {
        duk_pop(ctx_);
        continue;
      }
      duk_dup(ctx_, key);
      duk_get_prop_desc(ctx_, global, 0);
      duk_idx_t desc = duk_normalize_index(ctx_, -1);
      uint8_t attrs = DescriptorAttrs(ctx_, desc);
      duk_dup(ctx_, key);
      bool existed_after_init = duk_has_prop(ctx_, initial);  // consumes the key copy
      if (!(attrs & kAccessor) && existed_after_init) {
        duk_get_prop_string(ctx_, desc, "value");
        duk_dup(ctx_, key);
        duk_get_prop(ctx_, initial);
        // A session's `globalThis` is its own global object (the template's
        // is the template).
        bool unchanged = duk_samevalue(ctx_, -1, -2) ||
                         (name == "globalThis" && duk_get_heapptr(ctx_, -2) == global_);
        duk_pop_2(ctx_);
        if (unchanged) {
          duk_pop_2(ctx_);  // desc, key
          continue;
        }
      }
      root_name_ = name;
      PutString(out, name);
      out->push_back(static_cast<char>(attrs));
      RETURN_IF_ERROR(EncodeDescriptorValue(desc, attrs, out));
      ++*count;
      duk_pop_2(ctx_);  // desc, key
    }
    duk_pop_n(ctx_, 4);  // enum, initial, stash, global
    return absl::OkStatus();
  }

  // The value, or the getter and setter, of the descriptor at `desc`.
  absl::Status EncodeDescriptorValue(duk_idx_t desc, uint8_t attrs, std::string* out) {
    if (attrs & kAccessor) {
      duk_get_prop_string(ctx_, desc, "get");
      RETURN_IF_ERROR(EncodeValue(duk_normalize_index(ctx_, -1), out));
      duk_pop(ctx_);
      duk_get_prop_string(ctx_, desc, "set");
      RETURN_IF_ERROR(EncodeValue(duk_normalize_index(ctx_, -1), out));
      duk_pop(ctx_);
      return absl::OkStatus();
    }
    duk_get_prop_string(ctx_, desc, "value");
    RETURN_IF_ERROR(EncodeValue(duk_normalize_index(ctx_, -1), out));
    duk_pop(ctx_);
    return absl::OkStatus();
  }

  absl::Status Unsupported(std::string_view what) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot serialize the data model: variable '", root_name_, "' holds ", Av(what)));
  }

  absl::Status EncodeValue(duk_idx_t idx, std::string* out) {
    switch (duk_get_type(ctx_, idx)) {
      case DUK_TYPE_UNDEFINED:
        out->push_back(kTagUndefined);
        return absl::OkStatus();
      case DUK_TYPE_NULL:
        out->push_back(kTagNull);
        return absl::OkStatus();
      case DUK_TYPE_BOOLEAN:
        out->push_back(duk_get_boolean(ctx_, idx) ? kTagTrue : kTagFalse);
        return absl::OkStatus();
      case DUK_TYPE_NUMBER:
        out->push_back(kTagNumber);
        PutDouble(out, duk_get_number(ctx_, idx));
        return absl::OkStatus();
      case DUK_TYPE_STRING:
        if (duk_is_symbol(ctx_, idx)) return Unsupported("a Symbol");
        out->push_back(kTagString);
        PutString(out, GetString(ctx_, idx));
        return absl::OkStatus();
      case DUK_TYPE_LIGHTFUNC: {
        void* func = nullptr;
        int flags = 0;
        orch_duk_lightfunc_key(ctx_, idx, &func, &flags);
        BuildPaths();
        auto it = lightfunc_paths_.find(LightfuncKey(func, flags));
        if (it == lightfunc_paths_.end()) return Unsupported("a built-in function not reachable by name");
        out->push_back(kTagBuiltin);
        PutString(out, it->second);
        return absl::OkStatus();
      }
      case DUK_TYPE_OBJECT:
        break;
      default:
        return Unsupported("a buffer or pointer value");
    }
    const void* ptr = duk_get_heapptr(ctx_, idx);
    if (ptr == global_) {
      out->push_back(kTagBuiltin);
      PutString(out, "");
      return absl::OkStatus();
    }
    if (auto it = session_paths_.find(ptr); it != session_paths_.end()) {
      out->push_back(kTagBuiltin);
      PutString(out, it->second);
      return absl::OkStatus();
    }
    if (std::binary_search(builtins_.begin(), builtins_.end(), ptr)) {
      for (int i = 0; i < kProtoCount; ++i) {
        if (protos_[i] == ptr) {
          out->push_back(kTagProto);
          out->push_back(static_cast<char>(i));
          return absl::OkStatus();
        }
      }
      BuildPaths();
      auto it = object_paths_.find(ptr);
      if (it == object_paths_.end()) return Unsupported("a built-in object not reachable by name");
      out->push_back(kTagBuiltin);
      PutString(out, it->second);
      return absl::OkStatus();
    }
    auto [it, inserted] = index_.try_emplace(ptr, objects_.size());
    if (inserted) {
      objects_.push_back(ptr);
      roots_.push_back(root_name_);
    }
    out->push_back(kTagObject);
    PutVarint(out, it->second);
    return absl::OkStatus();
  }

  absl::Status EncodeObject(size_t index) {
    root_name_ = roots_[index];
    duk_push_heapptr(ctx_, const_cast<void*>(objects_[index]));
    duk_idx_t obj = duk_normalize_index(ctx_, -1);
    int cls = orch_duk_object_class(ctx_, obj);
    switch (cls) {
      case ORCH_DUK_CLASS_OBJECT:
        shells_.push_back(kShellPlain);
        break;
      case ORCH_DUK_CLASS_ARRAY:
        shells_.push_back(kShellArray);
        PutVarint(&shells_, duk_get_length(ctx_, obj));
        break;
      case ORCH_DUK_CLASS_FUNCTION:
        switch (orch_duk_function_kind(ctx_, obj)) {
          case ORCH_DUK_FUNC_GLOBAL: {
            duk_dup(ctx_, obj);
            duk_dump_function(ctx_);
            duk_size_t size = 0;
            void* data = duk_get_buffer(ctx_, -1, &size);
            shells_.push_back(kShellFunction);
            PutString(&shells_, std::string_view(static_cast<const char*>(data), size));
            duk_pop(ctx_);
            break;
          }
          case ORCH_DUK_FUNC_CLOSURE:
            return Unsupported(
                "a function that captures a non-global scope (a closure); only functions "
                "created at global level can be serialized");
          case ORCH_DUK_FUNC_BOUND:
            return Unsupported("a bound function");
          default:
            return Unsupported("a native function");
        }
        break;
      case ORCH_DUK_CLASS_DATE:
        shells_.push_back(kShellDate);
        duk_dup(ctx_, date_get_time_);
        duk_dup(ctx_, obj);
        duk_call_method(ctx_, 0);
        PutDouble(&shells_, duk_get_number(ctx_, -1));
        duk_pop(ctx_);
        break;
      case ORCH_DUK_CLASS_REGEXP: {
        shells_.push_back(kShellRegExp);
        duk_get_prop_string(ctx_, obj, "source");
        PutString(&shells_, GetString(ctx_, -1));
        duk_pop(ctx_);
        std::string flags;
        for (auto [prop, flag] : {std::pair{"global", 'g'}, {"ignoreCase", 'i'}, {"multiline", 'm'}}) {
          duk_get_prop_string(ctx_, obj, prop);
          if (duk_to_boolean(ctx_, -1)) flags.push_back(flag);
          duk_pop(ctx_);
        }
        PutString(&shells_, flags);
        break;
      }
      case ORCH_DUK_CLASS_ERROR:
        shells_.push_back(kShellError);
        break;
      default:
        return Unsupported("an object of a kind that cannot be serialized "
                           "(a boxed primitive, an arguments object, ...)");
    }

    // [[Prototype]], extensibility, own string-keyed properties.
    duk_get_prototype(ctx_, obj);
    if (duk_is_undefined(ctx_, -1)) {
      props_.push_back(kTagNull);
    } else {
      RETURN_IF_ERROR(EncodeValue(duk_normalize_index(ctx_, -1), &props_));
    }
    duk_pop(ctx_);
    props_.push_back(orch_duk_is_extensible(ctx_, obj) ? 1 : 0);

    std::string props;
    uint64_t count = 0;
    duk_enum(ctx_, obj,
             DUK_ENUM_OWN_PROPERTIES_ONLY | DUK_ENUM_INCLUDE_NONENUMERABLE |
                 DUK_ENUM_SORT_ARRAY_INDICES);
    while (duk_next(ctx_, -1, 0)) {
      duk_idx_t key = duk_normalize_index(ctx_, -1);
      std::string_view name = GetString(ctx_, key);
      bool skip = (cls == ORCH_DUK_CLASS_ARRAY && name == "length") ||
                  (cls == ORCH_DUK_CLASS_FUNCTION &&
                   (name == "length" || name == "name" || name == "fileName"));
      if (skip) {
        duk_pop(ctx_);
        continue;
      }
      PutString(&props, name);
      duk_dup(ctx_, key);
      duk_get_prop_desc(ctx_, obj, 0);
      duk_idx_t desc = duk_normalize_index(ctx_, -1);
      uint8_t attrs = DescriptorAttrs(ctx_, desc);
      props.push_back(static_cast<char>(attrs));
      RETURN_IF_ERROR(EncodeDescriptorValue(desc, attrs, &props));
      ++count;
      duk_pop_2(ctx_);  // desc, key
    }
    duk_pop_2(ctx_);  // enum, obj
    PutVarint(&props_, count);
    props_.append(props);
    return absl::OkStatus();
  }

  // Paths of built-ins, computed only when a snapshot refers to one other
  // than a default prototype (rare: `var m = Math`).
  void BuildPaths() {
    if (paths_built_) return;
    paths_built_ = true;
    WalkBuiltins(ctx_, 3, [&](const std::string& path, duk_idx_t idx) {
      void* func = nullptr;
      int flags = 0;
      if (orch_duk_lightfunc_key(ctx_, idx, &func, &flags)) {
        lightfunc_paths_.try_emplace(LightfuncKey(func, flags), path);
      } else {
        object_paths_.try_emplace(duk_get_heapptr(ctx_, idx), path);
      }
    });
  }

  void CollectSessionPaths(duk_idx_t idx, const std::string& path, int depth) {
    if (!duk_is_object(ctx_, idx) || duk_is_lightfunc(ctx_, idx) || depth > 3) return;
    if (!session_paths_.try_emplace(duk_get_heapptr(ctx_, idx), path).second) return;
    duk_enum(ctx_, idx, DUK_ENUM_OWN_PROPERTIES_ONLY | DUK_ENUM_INCLUDE_NONENUMERABLE);
    while (duk_next(ctx_, -1, 1)) {
      CollectSessionPaths(duk_normalize_index(ctx_, -1),
                          absl::StrCat(path, std::string(1, kPathSeparator), Av(GetString(ctx_, -2))),
                          depth + 1);
      duk_pop_2(ctx_);
    }
    duk_pop(ctx_);
  }

  duk_context* ctx_;
  const void* global_ = nullptr;
  absl::flat_hash_map<const void*, std::string> session_paths_;
  const std::vector<const void*>& builtins_;
  const void* protos_[kProtoCount] = {};
  duk_idx_t date_get_time_ = 0;

  absl::flat_hash_map<const void*, uint64_t> index_;
  std::vector<const void*> objects_;
  std::vector<std::string> roots_;  // per object: the global it was reached from
  std::string root_name_;
  std::string shells_;
  std::string props_;

  bool paths_built_ = false;
  absl::flat_hash_map<const void*, std::string> object_paths_;
  absl::flat_hash_map<LightfuncKey, std::string> lightfunc_paths_;
};

class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  bool Byte(uint8_t* v) {
    if (pos_ >= bytes_.size()) return false;
    *v = static_cast<uint8_t>(bytes_[pos_++]);
    return true;
  }
  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b;
      if (!Byte(&b)) return false;
      *v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  bool U64(uint64_t* v) {
    if (bytes_.size() - pos_ < 8) return false;
    *v = 0;
    for (int i = 0; i < 8; ++i) {
      *v |= static_cast<uint64_t>(static_cast<uint8_t>(bytes_[pos_ + i])) << (8 * i);
    }
    pos_ += 8;
    return true;
  }
  bool Double(double* d) {
    uint64_t bits;
    if (!U64(&bits)) return false;
    std::memcpy(d, &bits, sizeof bits);
    return true;
  }
  bool String(std::string_view* s) {
    uint64_t len;
    if (!Varint(&len) || len > bytes_.size() - pos_) return false;
    *s = bytes_.substr(pos_, len);
    pos_ += len;
    return true;
  }
  bool AtEnd() const { return pos_ == bytes_.size(); }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

absl::Status Malformed(std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("malformed data model snapshot: ", Av(what)));
}

class Decoder {
 public:
  Decoder(duk_context* ctx, std::string_view body) : ctx_(ctx), in_(body) {}

  absl::Status Run(Prng::State* prng) {
    for (uint64_t& word : *prng) {
      if (!in_.U64(&word)) return Malformed("truncated PRNG state");
    }
    if (!in_.Varint(&count_)) return Malformed("truncated object count");
    duk_push_heap_stash(ctx_);
    stash_ = duk_normalize_index(ctx_, -1);
    duk_get_prop_string(ctx_, stash_, kStashProtos);
    protos_ = duk_normalize_index(ctx_, -1);
    duk_get_prop_string(ctx_, stash_, kStashTools);
    tools_ = duk_normalize_index(ctx_, -1);
    duk_push_array(ctx_);  // keeps the new objects alive while we link them
    holder_ = duk_normalize_index(ctx_, -1);

    for (uint64_t i = 0; i < count_; ++i) {
      RETURN_IF_ERROR(DecodeShell());
      duk_put_prop_index(ctx_, holder_, static_cast<duk_uarridx_t>(i));
    }
    for (uint64_t i = 0; i < count_; ++i) {
      duk_get_prop_index(ctx_, holder_, static_cast<duk_uarridx_t>(i));
      RETURN_IF_ERROR(DecodeProps(duk_normalize_index(ctx_, -1)));
      duk_pop(ctx_);
    }
    uint64_t globals;
    if (!in_.Varint(&globals)) return Malformed("truncated global count");
    duk_push_global_object(ctx_);
    duk_idx_t global = duk_normalize_index(ctx_, -1);
    for (uint64_t i = 0; i < globals; ++i) RETURN_IF_ERROR(DecodeProperty(global));
    if (!in_.AtEnd()) return Malformed("trailing bytes");
    duk_pop_n(ctx_, 5);  // global, holder, tools, protos, stash
    return absl::OkStatus();
  }

 private:
  absl::Status DecodeShell() {
    uint8_t tag;
    if (!in_.Byte(&tag)) return Malformed("truncated object table");
    switch (static_cast<char>(tag)) {
      case kShellPlain:
        duk_push_object(ctx_);
        return absl::OkStatus();
      case kShellError:
        duk_get_prop_index(ctx_, tools_, kToolErrorConstructor);
        duk_new(ctx_, 0);
        return absl::OkStatus();
      case kShellArray: {
        uint64_t length;
        if (!in_.Varint(&length) || length > 0xFFFFFFFFULL) return Malformed("array length");
        duk_push_array(ctx_);
        duk_push_number(ctx_, static_cast<double>(length));
        duk_put_prop_string(ctx_, -2, "length");
        return absl::OkStatus();
      }
      case kShellFunction: {
        std::string_view code;
        if (!in_.String(&code) || code.empty()) return Malformed("function bytecode");
        void* buf = duk_push_fixed_buffer(ctx_, code.size());
        std::memcpy(buf, code.data(), code.size());
        duk_load_function(ctx_);
        return absl::OkStatus();
      }
      case kShellDate: {
        double t;
        if (!in_.Double(&t)) return Malformed("date value");
        duk_get_prop_index(ctx_, tools_, kToolDateConstructor);
        duk_push_number(ctx_, t);
        duk_new(ctx_, 1);
        return absl::OkStatus();
      }
      case kShellRegExp: {
        std::string_view source, flags;
        if (!in_.String(&source) || !in_.String(&flags)) return Malformed("regexp");
        duk_get_prop_index(ctx_, tools_, kToolRegExpConstructor);
        duk_push_lstring(ctx_, source.data(), source.size());
        duk_push_lstring(ctx_, flags.data(), flags.size());
        duk_new(ctx_, 2);
        return absl::OkStatus();
      }
      default:
        return Malformed("unknown object kind");
    }
  }

  absl::Status DecodeProps(duk_idx_t obj) {
    RETURN_IF_ERROR(DecodeValue());
    if (!duk_is_object(ctx_, -1) && !duk_is_null(ctx_, -1)) return Malformed("prototype");
    duk_set_prototype(ctx_, obj);
    uint8_t extensible;
    uint64_t count;
    if (!in_.Byte(&extensible) || !in_.Varint(&count)) return Malformed("truncated object");
    for (uint64_t i = 0; i < count; ++i) RETURN_IF_ERROR(DecodeProperty(obj));
    if (!extensible) orch_duk_prevent_extensions(ctx_, obj);
    return absl::OkStatus();
  }

  absl::Status DecodeProperty(duk_idx_t obj) {
    std::string_view key;
    uint8_t attrs;
    if (!in_.String(&key) || !in_.Byte(&attrs)) return Malformed("truncated property");
    duk_push_lstring(ctx_, key.data(), key.size());
    RETURN_IF_ERROR(DecodeValue());
    if (attrs & kAccessor) RETURN_IF_ERROR(DecodeValue());
    duk_def_prop(ctx_, obj, DefPropFlags(attrs));
    return absl::OkStatus();
  }

  // Pushes one value.
  absl::Status DecodeValue() {
    uint8_t tag;
    if (!in_.Byte(&tag)) return Malformed("truncated value");
    switch (static_cast<char>(tag)) {
      case kTagUndefined:
        duk_push_undefined(ctx_);
        return absl::OkStatus();
      case kTagNull:
        duk_push_null(ctx_);
        return absl::OkStatus();
      case kTagTrue:
        duk_push_true(ctx_);
        return absl::OkStatus();
      case kTagFalse:
        duk_push_false(ctx_);
        return absl::OkStatus();
      case kTagNumber: {
        double d;
        if (!in_.Double(&d)) return Malformed("number");
        duk_push_number(ctx_, d);
        return absl::OkStatus();
      }
      case kTagString: {
        std::string_view s;
        if (!in_.String(&s)) return Malformed("string");
        duk_push_lstring(ctx_, s.data(), s.size());
        return absl::OkStatus();
      }
      case kTagObject: {
        uint64_t index;
        if (!in_.Varint(&index) || index >= count_) return Malformed("object reference");
        duk_get_prop_index(ctx_, holder_, static_cast<duk_uarridx_t>(index));
        return absl::OkStatus();
      }
      case kTagProto: {
        uint8_t code;
        if (!in_.Byte(&code) || code >= kProtoCount) return Malformed("prototype code");
        duk_get_prop_index(ctx_, protos_, code);
        return absl::OkStatus();
      }
      case kTagBuiltin: {
        std::string_view path;
        if (!in_.String(&path)) return Malformed("builtin path");
        if (path.empty()) {
          duk_push_global_object(ctx_);
          return absl::OkStatus();
        }
        // The first step is looked up in the template globals, or for what
        // Init() defines per session (_ioprocessors), in the session's.
        size_t first = path.find(kPathSeparator);
        if (IsInitOnlyGlobal(path.substr(0, first))) {
          duk_push_global_object(ctx_);
        } else {
          duk_get_prop_string(ctx_, stash_, kStashInitialGlobals);
        }
        while (!path.empty()) {
          size_t sep = path.find(kPathSeparator);
          std::string_view key = path.substr(0, sep);
          duk_get_prop_lstring(ctx_, -1, key.data(), key.size());
          duk_remove(ctx_, -2);
          if (duk_is_undefined(ctx_, -1)) {
            return Malformed(absl::StrCat("unknown built-in ", Av(key)));
          }
          path = sep == std::string_view::npos ? std::string_view() : path.substr(sep + 1);
        }
        return absl::OkStatus();
      }
      default:
        return Malformed("unknown value tag");
    }
  }

  duk_context* ctx_;
  Reader in_;
  uint64_t count_ = 0;
  duk_idx_t stash_ = 0, protos_ = 0, tools_ = 0, holder_ = 0;
};

}  // namespace

bool IsInitOnlyGlobal(std::string_view name) {
  return name == "_sessionid" || name == "_name" || name == "_ioprocessors" || name == "In";
}

std::vector<const void*> CollectBuiltinObjects(duk_context* ctx) {
  std::vector<const void*> out;
  WalkBuiltins(ctx, 3, [&](const std::string&, duk_idx_t idx) {
    if (duk_is_object(ctx, idx)) out.push_back(duk_get_heapptr(ctx, idx));
  });
  std::sort(out.begin(), out.end());
  return out;
}

absl::Status EncodeSnapshot(duk_context* ctx, const Prng::State& prng,
                            const std::vector<const void*>& builtins, std::string* out) {
  return Encoder(ctx, builtins).Run(prng, out);
}

absl::Status DecodeSnapshot(duk_context* ctx, std::string_view bytes, Prng::State* prng) {
  if (bytes.size() < kMagic.size() + 8 || bytes.substr(0, kMagic.size()) != kMagic) {
    return Malformed("not a snapshot (bad magic)");
  }
  std::string_view signed_part = bytes.substr(0, bytes.size() - 8);
  uint64_t checksum;
  Reader tail(bytes.substr(bytes.size() - 8));
  tail.U64(&checksum);
  if (checksum != Fnv1a64(signed_part)) return Malformed("checksum mismatch");
  return Decoder(ctx, signed_part.substr(kMagic.size())).Run(prng);
}

}  // namespace orch::js
