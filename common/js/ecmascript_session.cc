// EcmascriptSessionBase (ecmascript_data_model_internal.h): a session's
// Duktape thread opened in the calling thread's worker heap and released,
// Serialize/Restore (snapshot.h); and the worker heap queries of
// ecmascript_data_model.h.

#include "common/js/ecmascript_data_model.h"

#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/js/duktape_internal.h"
#include "common/js/ecmascript_data_model_internal.h"
#include "common/js/prng.h"
#include "common/js/snapshot.h"
#include "common/js/worker_heap.h"
#include "duktape.h"

namespace orch::js {
namespace ecmascript_internal {

EcmascriptSessionBase::~EcmascriptSessionBase() {
  if (worker_ == nullptr) return;
  if (ctx_ != nullptr) {
    // Break the cycles through the session's global object (globalThis,
    // functions stored in variables) so that reference counting frees
    // most of the session now, then drop the thread. What remains (cycles
    // among the session's own objects) waits for a mark-and-sweep.
    Running running(this);
    if (own_global_) {
      duk_safe_call(
          ctx_,
          [](duk_context* ctx, void*) -> duk_ret_t {
            duk_push_global_object(ctx);
            orch_duk_clear_object(ctx, -1);
            return 0;
          },
          nullptr, 0, 1);
      duk_pop(ctx_);
    }
    // Templates last run by this session go back to the worker's
    // environment (they keep it alive until then).
    if (templates_ != nullptr) {
      orch_duk_unbind_global_env(ctx_, worker_->main(), templates_->functions.data(),
                                 templates_->functions.size());
    }
    duk_safe_call(
        worker_->main(),
        [](duk_context* ctx, void* udata) -> duk_ret_t {
          uint32_t slot = *static_cast<uint32_t*>(udata);
          duk_push_heap_stash(ctx);
          duk_get_prop_string(ctx, -1, kStashForeach);
          duk_del_prop_index(ctx, -1, slot);
          duk_pop(ctx);
          duk_get_prop_string(ctx, -1, kStashSessions);
          duk_del_prop_index(ctx, -1, slot);
          return 0;
        },
        &slot_, 0, 1);
    duk_pop(worker_->main());
  }
  if (templates_ != nullptr) worker_->ReleaseCode(templates_);
  size_t leftover = worker_->AccountBytes(slot_);
  worker_->CloseAccount(slot_);
  worker_->SessionEnded(leftover);
}

absl::Status EcmascriptSessionBase::Open() {
  ASSIGN_OR_RETURN(worker_, WorkerHeap::ForCurrentThread());
  slot_ = worker_->OpenAccount(limits_.max_memory_bytes);
  templates_ = worker_->AcquireCode(code_.get(), code_->specs.size() * 2);
  Running running(this);
  duk_context* main = worker_->main();
  duk_int_t rc = duk_safe_call(
      main,
      [](duk_context* ctx, void* udata) -> duk_ret_t {
        uint32_t slot = *static_cast<uint32_t*>(udata);
        duk_push_thread(ctx);
        duk_push_heap_stash(ctx);
        duk_get_prop_string(ctx, -1, kStashSessions);
        duk_dup(ctx, -3);
        duk_put_prop_index(ctx, -2, slot);  // keeps the thread alive
        duk_pop_2(ctx);
        return 1;
      },
      &slot_, 0, 1);
  if (rc != DUK_EXEC_SUCCESS) {
    std::string message = duk_safe_to_string(main, -1);
    duk_pop(main);
    return absl::ResourceExhaustedError(absl::StrCat(
        "cannot create a JavaScript session within ", limits_.max_memory_bytes, " bytes: ",
        message));
  }
  ctx_ = duk_get_context(main, -1);
  duk_pop(main);
  return absl::OkStatus();
}

absl::StatusOr<std::string> EcmascriptSessionBase::Serialize() {
  if (!initialized_) return absl::FailedPreconditionError("Serialize before Init");
  std::string out;
  RETURN_IF_ERROR(Call("Serialize", [&](duk_context* ctx) {
    // The bytes are those of an event built at SetEvent (the format has
    // no notion of a pending event).
    if (event_accessor_) {
      (void)BuildPendingEvent(ctx, /*checked=*/true);
      duk_pop(ctx);
    }
    return EncodeSnapshot(ctx, session_.prng.state(), worker_->builtins(), &out);
  }));
  return out;
}

absl::Status EcmascriptSessionBase::Restore(std::string_view bytes) {
  if (!initialized_) return absl::FailedPreconditionError("Restore before Init");
  Prng::State prng;
  RETURN_IF_ERROR(Call("Restore", [&](duk_context* ctx) {
    if (event_accessor_) {
      // The snapshot may not name _event (no event yet): back to the
      // template's undefined.
      duk_push_global_object(ctx);
      duk_push_heapptr(ctx, worker_->event_keys()[kEventKeyIndexEvent]);
      duk_push_undefined(ctx);
      duk_def_prop(ctx, -3, kReadOnlyFlags);
      duk_pop(ctx);
      event_accessor_ = false;
    }
    return DecodeSnapshot(ctx, bytes, &prng);
  }));
  session_.prng.set_state(prng);
  return absl::OkStatus();
}

}  // namespace ecmascript_internal

WorkerHeapStats CurrentThreadHeapStats() {
  WorkerHeapStats stats;
  if (WorkerHeap* w = WorkerHeap::ExistingForCurrentThread(); w != nullptr) {
    stats.total_bytes = w->TotalBytes();
    stats.live_sessions = w->live_sessions();
    stats.collections = w->collections();
  }
  return stats;
}

void CollectCurrentThreadGarbage() {
  if (WorkerHeap* w = WorkerHeap::ExistingForCurrentThread(); w != nullptr) w->CollectGarbage();
}

}  // namespace orch::js
