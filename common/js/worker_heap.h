#pragma once

// One Duktape heap per worker (OS) thread, shared by every ECMAScript data
// model created on that thread. See docs/design/js-data-model.md
// ("Design").
//
// The heap holds the built-ins once, deeply frozen, and a template global
// object. A session is a Duktape thread (duk_push_thread) whose global object
// is a copy of the template's property table (own properties, so `var`,
// function declarations, `x = 1` and `delete` act on the session's global
// only) with its own global environment record. Compiled code is loaded once
// per worker heap and document, and bound to the running session's global
// environment for the duration of each call.
//
// Threading: a WorkerHeap belongs to the thread that created it
// (ForCurrentThread), or to the thread that entered it last (ExecutorHeap,
// in ecmascript_data_model.h). Everything done with it, and with the data
// models that use it, must happen on that thread; OnOwnerThread() tells. Sessions keep
// their heap alive (shared_ptr), so a data model may outlive its thread, but
// it must not be used concurrently from two threads.
//
// Memory accounting: every allocation carries a 16-byte header naming the
// account that was charged (the running session, or the worker itself for
// the built-ins and code templates) and its size. A free is credited to that
// account unless the account was closed since (its session ended).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/js/prng.h"
#include "common/scxml/data_model.h"
#include "duktape.h"

namespace orch::js {

class WorkerHeap;

// The properties of an event object, in the order they are defined, then
// the global's name (kEventKeyIndexEvent).
inline constexpr int kEventFieldCount = 8;
inline constexpr int kEventKeyIndexEvent = 8;
inline constexpr int kEventKeyCount = 9;
inline constexpr const char* kEventKeys[kEventKeyCount] = {
    "name", "type", "sendid", "origin", "origintype", "invokeid", "raw", "data", "_event"};

// What Duktape's hooks need for the session that is running: work budget,
// clock, PRNG, call depth. Owned by the data model.
struct SessionHooks {
  uint64_t work_used = 0;
  uint64_t work_limit = std::numeric_limits<uint64_t>::max();
  bool timed_out = false;
  Prng prng;
  scxml::DataModelHost* host = nullptr;
  long callstack_limit = std::numeric_limits<long>::max() / 2;
  // The lazily built `_event` (docs/design/js-data-model.md, "Lazy _event"):
  // the shared getter calls
  // this with `event_owner` to build the session's pending event object,
  // which it pushes (and makes the global's plain value) and returns 1.
  void* event_owner = nullptr;
  duk_ret_t (*materialize_event)(void* owner, duk_context* ctx) = nullptr;
};

// The heap's udata. `hooks` must come first: duk_config_overrides.h reads
// hooks.callstack_limit through the udata pointer.
struct HeapHooks {
  orch_js_heap_hooks hooks = {std::numeric_limits<long>::max() / 2, nullptr};
  WorkerHeap* worker = nullptr;      // null for Compile()'s private heaps
  SessionHooks* session = nullptr;   // the running session, if any
  uint32_t account = 0;              // charged for allocations (0 = the worker)
  bool refused = false;              // an allocation was refused since reset
  void* heap = nullptr;              // the duk_heap, once created
};

// Allocation functions for duk_create_heap; udata is a HeapHooks.
void* HeapAlloc(void* udata, duk_size_t size);
void* HeapRealloc(void* udata, void* ptr, duk_size_t size);
void HeapFree(void* udata, void* ptr);
void HeapFatal(void* udata, const char* msg);

class WorkerHeap {
 public:
  // One memory account: a session's (or, slot 0, the worker's).
  struct Account {
    size_t used = 0;
    size_t limit = 0;
    uint32_t generation = 0;
  };

  // The calling thread's worker heap, created on first use (about 80 KB and
  // a few hundred microseconds, once per thread).
  static absl::StatusOr<std::shared_ptr<WorkerHeap>> ForCurrentThread();
  // The calling thread's worker heap if it has one, else null.
  static WorkerHeap* ExistingForCurrentThread();

  WorkerHeap(const WorkerHeap&) = delete;
  WorkerHeap& operator=(const WorkerHeap&) = delete;
  ~WorkerHeap();

  duk_context* main() const { return ctx_; }
  HeapHooks& hooks() { return hooks_; }
  bool OnOwnerThread() const { return std::this_thread::get_id() == owner_.load(std::memory_order_relaxed); }

  // Accounts. OpenAccount returns a slot (never 0) whose allocations count
  // against `limit`; CloseAccount forgets it (later frees of its memory are
  // not credited to anyone) and recycles the slot.
  uint32_t OpenAccount(size_t limit);
  void CloseAccount(uint32_t slot);
  size_t AccountBytes(uint32_t slot) const { return accounts_[slot].used; }
  // Every byte allocated in the heap (all sessions, shared built-ins, and
  // garbage of ended sessions not yet collected), headers included.
  size_t TotalBytes() const { return total_; }

  // Code of one document (CompiledCode) loaded into this heap: one slot per
  // code id and kind (2*id: program, 2*id+1: assignment function), filled on
  // first use. Shared by the sessions of this heap that use the document.
  // Further slots are appended on demand (AddSlot): fused assignment
  // functions, interned variable names.
  struct CodeTemplates {
    const void* key = nullptr;
    uint32_t index = 0;  // stash key
    int users = 0;
    std::vector<void*> functions;
    // (location << 32 | expression) -> slot of the fused assignment
    // function, or -1 when that pair cannot be fused.
    absl::flat_hash_map<uint64_t, int64_t> fused;
    // location id -> (expression id, slot or -1) of its last fused lookup:
    // a location is nearly always assigned from one expression.
    std::vector<std::pair<uint32_t, int64_t>> fused_by_location;
    // code id -> slot of the interned name (plain-identifier locations).
    absl::flat_hash_map<uint32_t, size_t> names;
    // content run id -> slot of its function, -1 when it cannot be fused,
    // -2 not tried yet; and the slot of the content functions' copy helper
    // (the declare helper is the next), -1 until made.
    std::vector<int64_t> runs;
    int64_t content_helpers = -1;
    size_t AddSlot() {
      functions.push_back(nullptr);
      return functions.size() - 1;
    }
  };
  CodeTemplates* AcquireCode(const void* key, size_t count);
  void ReleaseCode(CodeTemplates* code);
  // Stores `func` (top of `ctx`'s stack, not popped) as slot `i` of `code`.
  void KeepTemplate(duk_context* ctx, CodeTemplates* code, size_t i);

  // Built-in objects (sorted heap pointers): part of the environment, written
  // by reference in snapshots.
  const std::vector<const void*>& builtins() const { return builtins_; }

  // The getter of a session's `_event` while its event object is not built
  // yet (a frozen C function shared by the heap's sessions), and the keys of
  // an event object as interned strings, in property order (kEventKeys).
  void* event_getter() const { return event_getter_; }
  void* const* event_keys() const { return event_keys_; }

  // Called when a session ended and its account is about to close, with
  // the bytes still charged to it after its thread and global object were
  // released: garbage that only a mark-and-sweep can free (reference
  // cycles among its objects), plus strings still shared with others. When
  // these estimates add up to a quarter of the heap (at least 1 MiB), a full
  // mark-and-sweep runs, so its cost (proportional to the live heap) is
  // amortized over the garbage it frees.
  void SessionEnded(size_t leftover_bytes);
  // Runs a full mark-and-sweep (all sessions of the heap).
  void CollectGarbage();
  size_t live_sessions() const { return accounts_.size() - 1 - free_accounts_.size(); }
  uint64_t collections() const { return collections_; }

 private:
  friend class ExecutorHeap;
  friend void* HeapAlloc(void*, duk_size_t);
  friend void* HeapRealloc(void*, void*, duk_size_t);
  friend void HeapFree(void*, void*);

  WorkerHeap();
  absl::Status Setup();

  HeapHooks hooks_;
  duk_context* ctx_ = nullptr;
  std::atomic<std::thread::id> owner_;
  std::vector<Account> accounts_;
  std::vector<uint32_t> free_accounts_;
  size_t total_ = 0;
  absl::flat_hash_map<const void*, std::unique_ptr<CodeTemplates>> code_;
  uint32_t next_code_index_ = 0;
  std::vector<const void*> builtins_;
  void* event_getter_ = nullptr;
  void* event_keys_[kEventKeyCount] = {};
  size_t garbage_estimate_ = 0;
  uint64_t collections_ = 0;
};

// Heap stash keys of a worker heap.
inline constexpr char kStashCode[] = "orch_code";          // object: index -> array
inline constexpr char kStashSessions[] = "orch_sessions";  // array: slot -> thread
inline constexpr char kStashForeach[] = "orch_foreach";    // object: slot -> array
inline constexpr char kStashEvent[] = "orch_event";        // array: getter, then the keys


}  // namespace orch::js
