#include "common/js/worker_heap.h"

#include <libxml/parser.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "common/js/ecmascript_data_model.h"
#include "absl/strings/str_cat.h"
#include "common/base/check.h"
#include "common/base/status_macros.h"
#include "common/js/duktape_internal.h"
#include "common/js/snapshot.h"
#include "common/js/xml_dom.h"

namespace orch::js {
namespace {

// In front of every allocation (16 bytes: keeps malloc's 16-byte alignment).
struct AllocHeader {
  uint64_t size;        // bytes requested by Duktape
  uint32_t account;     // slot charged
  uint32_t generation;  // the account's generation at that time
};
static_assert(sizeof(AllocHeader) == 16);
constexpr size_t kHeader = sizeof(AllocHeader);

AllocHeader* HeaderOf(void* ptr) {
  return reinterpret_cast<AllocHeader*>(static_cast<char*>(ptr) - kHeader);
}

// Globals that Duktape defines but a data model must not offer: not
// serializable (typed arrays, Proxy), engine internals (Duktape.gc/act/fin),
// or clocks (performance.now).
constexpr const char* kRemovedGlobals[] = {
    "Duktape",      "Proxy",       "CBOR",        "Buffer",          "ArrayBuffer",
    "DataView",     "Int8Array",   "Uint8Array",  "Uint8ClampedArray", "Int16Array",
    "Uint16Array",  "Int32Array",  "Uint32Array", "Float32Array",    "Float64Array",
    "TextEncoder",  "TextDecoder", "performance",
};

constexpr duk_uint_t kReadOnly = DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_HAVE_WRITABLE |
                                 DUK_DEFPROP_HAVE_ENUMERABLE | DUK_DEFPROP_HAVE_CONFIGURABLE |
                                 DUK_DEFPROP_FORCE;

HeapHooks* HooksOf(duk_context* ctx) {
  duk_memory_functions funcs;
  duk_get_memory_functions(ctx, &funcs);
  return static_cast<HeapHooks*>(funcs.udata);
}

// In(state_id), SCXML's predicate, asking the running session's host. One
// function object shared by all sessions of a heap.
duk_ret_t InFunction(duk_context* ctx) {
  duk_size_t len = 0;
  const char* id = duk_to_lstring(ctx, 0, &len);
  SessionHooks* s = HooksOf(ctx)->session;
  duk_push_boolean(ctx, s != nullptr && s->host != nullptr &&
                            s->host->In(std::string_view(id, len)));
  return 1;
}

// The getter of `_event` while the running session's event object is not
// built yet: builds it (which also replaces the accessor by the plain value).
duk_ret_t EventGetter(duk_context* ctx) {
  SessionHooks* s = HooksOf(ctx)->session;
  if (s != nullptr && s->materialize_event != nullptr) return s->materialize_event(s->event_owner, ctx);
  return 0;  // undefined
}

// Freezes every object reachable from the built-ins through own properties
// (values, getters, setters, of any key) and [[Prototype]]s, without calling
// getters. `keep_open` (the template global object) is walked but not frozen:
// sessions never see it, they get copies of its property table.
void FreezeReachable(duk_context* ctx, void* keep_open) {
  std::vector<void*> stack;
  absl::flat_hash_set<void*> seen;
  auto add = [&](duk_idx_t idx) {
    if (!duk_is_object(ctx, idx) || duk_is_lightfunc(ctx, idx)) return;
    void* p = duk_get_heapptr(ctx, idx);
    if (seen.insert(p).second) stack.push_back(p);
  };
  orch_duk_push_builtins(ctx);
  duk_size_t n = duk_get_length(ctx, -1);
  for (duk_size_t i = 0; i < n; ++i) {
    duk_get_prop_index(ctx, -1, static_cast<duk_uarridx_t>(i));
    add(-1);
    duk_pop(ctx);
  }
  duk_pop(ctx);
  while (!stack.empty()) {
    void* p = stack.back();
    stack.pop_back();
    duk_push_heapptr(ctx, p);
    duk_idx_t obj = duk_normalize_index(ctx, -1);
    duk_get_prototype(ctx, obj);
    add(-1);
    duk_pop(ctx);
    duk_enum(ctx, obj,
             DUK_ENUM_OWN_PROPERTIES_ONLY | DUK_ENUM_INCLUDE_NONENUMERABLE |
                 DUK_ENUM_INCLUDE_SYMBOLS | DUK_ENUM_INCLUDE_HIDDEN | DUK_ENUM_NO_PROXY_BEHAVIOR);
    while (duk_next(ctx, -1, 0)) {
      duk_get_prop_desc(ctx, obj, 0);  // key -> descriptor
      if (duk_is_object(ctx, -1)) {
        for (const char* field : {"value", "get", "set"}) {
          duk_get_prop_string(ctx, -1, field);
          add(-1);
          duk_pop(ctx);
        }
      }
      duk_pop(ctx);
    }
    duk_pop(ctx);  // enum
    if (p != keep_open) duk_freeze(ctx, obj);
    duk_pop(ctx);
  }
}

// The thread's worker heap lives as long as the thread (and as long as any
// session created in it).
thread_local std::shared_ptr<WorkerHeap> tls_worker;


// Whether the running account may not take `size` more bytes. Never during a
// mark-and-sweep: Duktape cannot report a failure there (its compaction and
// string table resizing run inside the collector).
bool Refuse(HeapHooks* h, const WorkerHeap::Account& a, size_t base, size_t size) {
  if (size <= a.limit && base + size + kHeader <= a.limit) return false;
  if (orch_duk_gc_running(h->heap)) return false;
  h->refused = true;
  // End the call at its next instruction (orch_js_exec_timeout_check).
  if (h->session != nullptr) orch_duk_request_interrupt(h->heap);
  return true;
}

}  // namespace

void* HeapAlloc(void* udata, duk_size_t size) {
  auto* h = static_cast<HeapHooks*>(udata);
  WorkerHeap* w = h->worker;
  WorkerHeap::Account* a = nullptr;
  if (w != nullptr) {
    a = &w->accounts_[h->account];
    if (Refuse(h, *a, a->used, size)) return nullptr;
  }
  void* raw = std::malloc(size + kHeader);
  if (raw == nullptr) return nullptr;
  auto* hdr = static_cast<AllocHeader*>(raw);
  hdr->size = size;
  hdr->account = h->account;
  hdr->generation = a != nullptr ? a->generation : 0;
  if (a != nullptr) {
    a->used += size + kHeader;
    w->total_ += size + kHeader;
  }
  return static_cast<char*>(raw) + kHeader;
}

void HeapFree(void* udata, void* ptr) {
  if (ptr == nullptr) return;
  auto* h = static_cast<HeapHooks*>(udata);
  AllocHeader* hdr = HeaderOf(ptr);
  if (WorkerHeap* w = h->worker; w != nullptr) {
    WorkerHeap::Account& a = w->accounts_[hdr->account];
    if (a.generation == hdr->generation) a.used -= hdr->size + kHeader;
    w->total_ -= hdr->size + kHeader;
  }
  std::free(hdr);
}

// A block stays with its owner (the account that allocated it) as long as
// that account is open; only the owner's own growth is checked against its
// cap (a collector compacting another session's objects does not charge the
// running one). A block whose owner closed is adopted by the running account.
void* HeapRealloc(void* udata, void* ptr, duk_size_t size) {
  if (ptr == nullptr) return HeapAlloc(udata, size);
  if (size == 0) {
    HeapFree(udata, ptr);
    return nullptr;
  }
  auto* h = static_cast<HeapHooks*>(udata);
  WorkerHeap* w = h->worker;
  AllocHeader* hdr = HeaderOf(ptr);
  const size_t old = hdr->size;
  uint32_t owner = hdr->account;
  if (w != nullptr) {
    bool live = w->accounts_[owner].generation == hdr->generation;
    if (!live) owner = h->account;
    WorkerHeap::Account& a = w->accounts_[owner];
    if (owner == h->account) {
      size_t base = live ? a.used - (old + kHeader) : a.used;
      if ((size > old || !live) && Refuse(h, a, base, size)) return nullptr;
    }
  }
  AllocHeader saved = *hdr;
  void* grown = std::realloc(hdr, size + kHeader);
  if (grown == nullptr) return nullptr;
  auto* nh = static_cast<AllocHeader*>(grown);
  nh->size = size;
  if (w != nullptr) {
    if (w->accounts_[saved.account].generation == saved.generation) {
      w->accounts_[saved.account].used -= old + kHeader;
    }
    WorkerHeap::Account& a = w->accounts_[owner];
    a.used += size + kHeader;
    w->total_ = w->total_ - old + size;
    nh->account = owner;
    nh->generation = a.generation;
  }
  return static_cast<char*>(grown) + kHeader;
}

// Only reached on a Duktape bug or an error thrown outside any protected call
// (all our calls are protected): not recoverable.
void HeapFatal(void*, const char* msg) {
  std::fprintf(stderr, "duktape fatal error: %s\n", msg != nullptr ? msg : "(none)");
  std::abort();
}

WorkerHeap::WorkerHeap() : owner_(std::this_thread::get_id()) {
  hooks_.worker = this;
  hooks_.hooks.owner = this;
  accounts_.push_back({0, std::numeric_limits<size_t>::max(), 0});  // slot 0: the worker
}

WorkerHeap::~WorkerHeap() {
  if (ctx_ != nullptr) {
    hooks_.account = 0;
    hooks_.session = nullptr;
    duk_destroy_heap(ctx_);
  }
}

absl::StatusOr<std::shared_ptr<WorkerHeap>> WorkerHeap::ForCurrentThread() {
  if (tls_worker != nullptr) return tls_worker;
  xmlInitParser();  // idempotent; libxml2 needs it before use from several threads
  std::shared_ptr<WorkerHeap> w(new WorkerHeap());
  w->ctx_ = duk_create_heap(HeapAlloc, HeapRealloc, HeapFree, &w->hooks_, HeapFatal);
  if (w->ctx_ == nullptr) return absl::ResourceExhaustedError("cannot create a JavaScript heap");
  w->hooks_.heap = orch_duk_heap_of(w->ctx_);
  RETURN_IF_ERROR(w->Setup());
  tls_worker = w;
  return w;
}

WorkerHeap* WorkerHeap::ExistingForCurrentThread() { return tls_worker.get(); }

ExecutorHeap::ExecutorHeap() = default;
ExecutorHeap::~ExecutorHeap() = default;

void ExecutorHeap::Enter() {
  saved_ = std::move(tls_worker);
  tls_worker = heap_;
  if (heap_ != nullptr) heap_->owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
}

void ExecutorHeap::Leave() {
  heap_ = std::move(tls_worker);  // also one created while entered
  tls_worker = std::move(saved_);
}

absl::Status WorkerHeap::Setup() {
  struct Frame {
    WorkerHeap* self;
  } frame{this};
  duk_int_t rc = duk_safe_call(
      ctx_,
      [](duk_context* ctx, void* udata) -> duk_ret_t {
        WorkerHeap* self = static_cast<Frame*>(udata)->self;
        duk_push_global_object(ctx);
        duk_idx_t global = duk_normalize_index(ctx, -1);
        for (const char* removed : kRemovedGlobals) duk_del_prop_string(ctx, global, removed);
        // Shared by all sessions: `_event` (undefined until a session's first
        // SetEvent replaces its own copy) and In().
        duk_push_string(ctx, "_event");
        duk_push_undefined(ctx);
        duk_def_prop(ctx, global, kReadOnly);
        duk_push_string(ctx, "In");
        duk_push_c_function(ctx, InFunction, 1);
        duk_def_prop(ctx, global, kReadOnly);

        duk_push_heap_stash(ctx);
        duk_idx_t stash = duk_normalize_index(ctx, -1);
        duk_push_object(ctx);
        duk_put_prop_string(ctx, stash, kStashCode);
        duk_push_array(ctx);
        duk_put_prop_string(ctx, stash, kStashSessions);
        duk_push_object(ctx);
        duk_put_prop_string(ctx, stash, kStashForeach);
        duk_push_array(ctx);
        static constexpr const char* kProtoOwners[kProtoCount] = {
            "Object",    "Array",      "Function",       "Date",        "RegExp",    "Error",
            "EvalError", "RangeError", "ReferenceError", "SyntaxError", "TypeError", "URIError"};
        for (int i = 0; i < kProtoCount; ++i) {
          duk_get_prop_string(ctx, global, kProtoOwners[i]);
          duk_get_prop_string(ctx, -1, "prototype");
          duk_put_prop_index(ctx, -3, i);
          duk_pop(ctx);
        }
        duk_put_prop_string(ctx, stash, kStashProtos);
        duk_push_array(ctx);
        duk_get_prop_string(ctx, global, "Date");
        duk_dup_top(ctx);
        duk_put_prop_index(ctx, -3, kToolDateConstructor);
        duk_get_prop_string(ctx, -1, "prototype");
        duk_get_prop_string(ctx, -1, "getTime");
        duk_put_prop_index(ctx, -4, kToolDateGetTime);
        duk_pop_2(ctx);
        duk_get_prop_string(ctx, global, "RegExp");
        duk_put_prop_index(ctx, -2, kToolRegExpConstructor);
        duk_get_prop_string(ctx, global, "Error");
        duk_put_prop_index(ctx, -2, kToolErrorConstructor);
        duk_put_prop_string(ctx, stash, kStashTools);
        duk_push_array(ctx);
        duk_push_c_function(ctx, EventGetter, 0);
        duk_freeze(ctx, -1);
        self->event_getter_ = duk_get_heapptr(ctx, -1);
        duk_put_prop_index(ctx, -2, 0);
        for (int i = 0; i < kEventKeyCount; ++i) {
          duk_push_string(ctx, kEventKeys[i]);
          self->event_keys_[i] = duk_get_heapptr(ctx, -1);
          duk_put_prop_index(ctx, -2, static_cast<duk_uarridx_t>(i + 1));
        }
        duk_put_prop_string(ctx, stash, kStashEvent);
        DefineXmlDom(ctx);
        // The template global is what every session starts from; snapshots
        // write the globals that differ from it.
        duk_dup(ctx, global);
        duk_put_prop_string(ctx, stash, kStashInitialGlobals);

        FreezeReachable(ctx, duk_get_heapptr(ctx, global));
        self->builtins_ = CollectBuiltinObjects(ctx);
        return 0;
      },
      &frame, 0, 1);
  if (rc != DUK_EXEC_SUCCESS) {
    std::string message = duk_safe_to_string(ctx_, -1);
    duk_pop(ctx_);
    return absl::InternalError(absl::StrCat("cannot set up the worker heap: ", message));
  }
  duk_pop(ctx_);
  return absl::OkStatus();
}

uint32_t WorkerHeap::OpenAccount(size_t limit) {
  uint32_t slot;
  if (!free_accounts_.empty()) {
    slot = free_accounts_.back();
    free_accounts_.pop_back();
  } else {
    slot = static_cast<uint32_t>(accounts_.size());
    accounts_.push_back({});
  }
  Account& a = accounts_[slot];
  a.used = 0;
  a.limit = limit;
  return slot;
}

void WorkerHeap::CloseAccount(uint32_t slot) {
  ORCH_CHECK(slot != 0 && slot < accounts_.size(), "bad account slot");
  Account& a = accounts_[slot];
  ++a.generation;  // later frees of its blocks are no longer credited
  a.used = 0;
  a.limit = 0;
  free_accounts_.push_back(slot);
}

WorkerHeap::CodeTemplates* WorkerHeap::AcquireCode(const void* key, size_t count) {
  auto [it, inserted] = code_.try_emplace(key);
  if (inserted) {
    it->second = std::make_unique<CodeTemplates>();
    it->second->key = key;
    it->second->index = next_code_index_++;
    it->second->functions.assign(count, nullptr);
  }
  ++it->second->users;
  return it->second.get();
}

void WorkerHeap::ReleaseCode(CodeTemplates* code) {
  if (--code->users > 0) return;
  bool any = false;
  for (void* f : code->functions) any = any || f != nullptr;
  if (any) {
    uint32_t index = code->index;
    duk_safe_call(
        ctx_,
        [](duk_context* ctx, void* udata) -> duk_ret_t {
          duk_push_heap_stash(ctx);
          duk_get_prop_string(ctx, -1, kStashCode);
          duk_del_prop_index(ctx, -1, *static_cast<uint32_t*>(udata));
          return 0;
        },
        &index, 0, 1);
    duk_pop(ctx_);
  }
  code_.erase(code->key);
}

void WorkerHeap::KeepTemplate(duk_context* ctx, CodeTemplates* code, size_t i) {
  duk_push_heap_stash(ctx);
  duk_get_prop_string(ctx, -1, kStashCode);
  if (!duk_get_prop_index(ctx, -1, code->index)) {
    duk_pop(ctx);
    duk_push_array(ctx);
    duk_dup_top(ctx);
    duk_put_prop_index(ctx, -3, code->index);
  }
  duk_dup(ctx, -4);
  duk_put_prop_index(ctx, -2, static_cast<duk_uarridx_t>(i));
  duk_pop_3(ctx);
  code->functions[i] = duk_get_heapptr(ctx, -1);
}

void WorkerHeap::CollectGarbage() {
  uint32_t account = hooks_.account;
  hooks_.account = 0;
  duk_gc(ctx_, 0);
  hooks_.account = account;
  garbage_estimate_ = 0;
  ++collections_;
}

void WorkerHeap::SessionEnded(size_t leftover_bytes) {
  constexpr size_t kMinGarbage = size_t{1} << 20;
  garbage_estimate_ += leftover_bytes;
  if (garbage_estimate_ >= std::max(kMinGarbage, total_ / 4)) CollectGarbage();
}

}  // namespace orch::js

// ---- Duktape hooks (declared in duk_config_overrides.h); udata is HeapHooks ----

extern "C" int orch_js_exec_timeout_check(void* udata) {
  auto* h = static_cast<orch::js::HeapHooks*>(udata);
  orch::js::SessionHooks* s = h->session;
  if (s == nullptr) return 0;
  // The memory cap was reached during this call: end it, whatever the script
  // does with the RangeError (each refusal costs full collections of the
  // shared heap; a try/catch loop must not repeat them).
  if (h->refused) return 1;
  s->work_used += ORCH_DUK_INTERRUPT_INTERVAL;
  if (s->work_used > s->work_limit) {
    s->timed_out = true;
    return 1;
  }
  return 0;
}

extern "C" double orch_js_date_now(void* udata) {
  orch::js::SessionHooks* s = static_cast<orch::js::HeapHooks*>(udata)->session;
  return s != nullptr && s->host != nullptr ? static_cast<double>(s->host->NowMs()) : 0.0;
}

extern "C" double orch_js_random_double(void* udata) {
  orch::js::SessionHooks* s = static_cast<orch::js::HeapHooks*>(udata)->session;
  return s != nullptr ? s->prng.NextDouble() : 0.5;
}
