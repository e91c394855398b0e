#pragma once

// Internal to common/js, not part of the public API (that is
// ecmascript_data_model.h): what the files of the ECMAScript data model
// share. ecmascript_compile.cc compiles code specs into CompiledSpecs;
// ecmascript_session.cc opens and closes a session's Duktape thread and
// snapshots it (EcmascriptSessionBase); ecmascript_data_model.cc holds Init
// and the DataModel calls the interpreter makes per event, in
// EcmascriptDataModel, the final class derived from EcmascriptSessionBase,
// with the helpers they inline kept in that one file (the hot path: no link
// time optimization in this build).
//
// A session is used on the OS thread that created it (its worker heap's
// owner); otherwise the DataModel contract (common/scxml/data_model.h)
// applies. Errors are statuses; nothing here throws.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/js/duktape_internal.h"
#include "common/js/worker_heap.h"
#include "common/scxml/data_model.h"
#include "duktape.h"

namespace orch::js::ecmascript_internal {

using scxml::CodeKind;
using scxml::CodeSpec;
using scxml::ContentNode;
using scxml::ContentResult;
using scxml::DataModelHost;
using scxml::DataModelLimits;
using scxml::EventFields;

// Debian's Abseil has its own string_view (ABSL_OPTION_USE_STD_STRING_VIEW=0).
inline absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Duktape call stack entries that are ours, not the script's: the compiled
// program (or assignment function) we call. DUK_USE_CALLSTACK_LIMIT counts
// them too.
inline constexpr long kCallstackOverhead = 1;

inline constexpr const char* kSystemVariables[] = {"_sessionid", "_name", "_ioprocessors", "_event"};

inline bool IsSystemVariable(std::string_view name) {
  for (const char* v : kSystemVariables) {
    if (name == v) return true;
  }
  return false;
}

// Read-only, not enumerable: the system variables and `_event`.
inline constexpr duk_uint_t kReadOnlyFlags = DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_HAVE_WRITABLE |
                                             DUK_DEFPROP_HAVE_ENUMERABLE |
                                             DUK_DEFPROP_HAVE_CONFIGURABLE | DUK_DEFPROP_FORCE;

// ---- Compilation ----

struct CompiledSpec {
  CodeKind kind = CodeKind::kExpression;
  std::string where;
  std::string text;
  std::string error;   // set when the spec did not compile (deferred mode)
  std::string code;    // bytecode of a program whose completion value is the value
  std::string assign;  // locations: bytecode of function(v) { "use strict"; (loc) = v; }
  bool identifier = false;  // locations: a plain variable name
  bool read_only = false;   // locations: a system variable (_event, ...)
  bool fusable = false;     // may be part of a fused assignment or a content run (FusableText)
  std::string trimmed;      // TrimExpression(text)
};

class EcmascriptCompiledCode final : public scxml::CompiledCode {
 public:
  std::vector<CompiledSpec> specs;
};

// ---- The data model ----

// A session's Duktape thread and state, what every call needs (Call,
// Running), and the DataModel calls made once per session or per snapshot;
// ecmascript_data_model.cc derives the final class. Members are protected
// for that one derived class.
class EcmascriptSessionBase : public scxml::DataModel {
 public:
  EcmascriptSessionBase(std::shared_ptr<const EcmascriptCompiledCode> code, DataModelHost* host,
                        const DataModelLimits& limits)
      : code_(std::move(code)), limits_(limits) {
    session_.host = host;
    session_.work_limit = limits.max_work_per_call;
    session_.callstack_limit = static_cast<long>(limits.max_call_depth) + kCallstackOverhead;
    session_.event_owner = this;
    session_.materialize_event = &EcmascriptSessionBase::MaterializeEvent;
  }

  ~EcmascriptSessionBase() override;

  // Creates the session's Duktape thread in the calling thread's worker heap.
  absl::Status Open();

  absl::Status Init(std::string_view session_id, std::string_view name,
                    std::string_view ioprocessors_json, uint64_t random_seed) override;

  absl::StatusOr<std::string> Serialize() override;

  absl::Status Restore(std::string_view bytes) override;

  size_t MemoryBytes() const override { return worker_->AccountBytes(slot_); }

 protected:
  // Makes `model` the running session of its worker heap (hooks, memory
  // account, call depth) for the lifetime of this object.
  class Running {
   public:
    explicit Running(EcmascriptSessionBase* model)
        : hooks_(model->worker_->hooks()),
          session_(hooks_.session),
          account_(hooks_.account),
          callstack_limit_(hooks_.hooks.callstack_limit) {
      hooks_.session = &model->session_;
      hooks_.account = model->slot_;
      hooks_.hooks.callstack_limit = model->session_.callstack_limit;
    }
    ~Running() {
      hooks_.session = session_;
      hooks_.account = account_;
      hooks_.hooks.callstack_limit = callstack_limit_;
    }
    Running(const Running&) = delete;
    Running& operator=(const Running&) = delete;

   private:
    HeapHooks& hooks_;
    SessionHooks* session_;
    uint32_t account_;
    long callstack_limit_;
  };

  // Charges allocations to the worker (shared code templates) for the
  // lifetime of this object.
  class ChargeWorker {
   public:
    explicit ChargeWorker(HeapHooks& hooks) : hooks_(hooks), account_(hooks.account) {
      hooks_.account = 0;
    }
    ~ChargeWorker() { hooks_.account = account_; }
    ChargeWorker(const ChargeWorker&) = delete;
    ChargeWorker& operator=(const ChargeWorker&) = delete;

   private:
    HeapHooks& hooks_;
    uint32_t account_;
  };

  std::string_view Where(uint32_t id) const {
    return id < code_->specs.size() ? std::string_view(code_->specs[id].where)
                                    : std::string_view("?");
  }

  // Builds the event object of pending_ (frozen, its `data` parsed and not
  // frozen; identical whether built lazily or at once), makes it the value
  // of the read-only global `_event`, and leaves it on the stack. `checked`:
  // the data passed orch_json_check_fast (or is undefined), so parsing cannot
  // fail; otherwise bad data leaves `data` undefined and is the returned error.
  absl::Status BuildPendingEvent(duk_context* ctx, bool checked);

  // SessionHooks::materialize_event: the getter of `_event` was called.
  static duk_ret_t MaterializeEvent(void* owner, duk_context* ctx);

  // Runs body(ctx) -> absl::Status as a protected Duktape call with a fresh
  // work budget. A JavaScript error becomes DEADLINE_EXCEEDED (budget),
  // RESOURCE_EXHAUSTED (memory cap) or INVALID_ARGUMENT (anything thrown),
  // its message prefixed with `where`.
  template <typename Body>
  absl::Status Call(std::string_view where, Body&& body) {
    if (ctx_ == nullptr) return absl::FailedPreconditionError("data model not open");
    if (!worker_->OnOwnerThread()) {
      return absl::FailedPreconditionError(
          "an ECMAScript data model must be used on the thread that created it");
    }
    struct Frame {
      Body* body;
      absl::Status status;
    } frame{&body, absl::OkStatus()};
    Running running(this);
    HeapHooks& hooks = worker_->hooks();
    session_.work_used = 0;
    session_.timed_out = false;
    hooks.refused = false;
    orch_duk_reset_interrupt_counter(ctx_);
    duk_int_t rc = duk_safe_call(
        ctx_,
        [](duk_context* ctx, void* udata) -> duk_ret_t {
          auto* f = static_cast<Frame*>(udata);
          f->status = (*f->body)(ctx);
          return 0;
        },
        &frame, 0, 1);
    if (rc != DUK_EXEC_SUCCESS) frame.status = ErrorStatus(where, duk_safe_to_string(ctx_, -1));
    duk_pop(ctx_);
    return frame.status;
  }

  // The status of a JavaScript error `message` thrown in the current call
  // (Call), its message prefixed with `where`.
  absl::Status ErrorStatus(std::string_view where, const std::string& message) const {
    if (session_.timed_out) {
      return absl::DeadlineExceededError(absl::StrCat(Av(where), ": execution budget of ",
                                                      limits_.max_work_per_call,
                                                      " instructions used up (", message, ")"));
    }
    if (worker_->hooks().refused) {
      return absl::ResourceExhaustedError(absl::StrCat(Av(where), ": memory cap of ",
                                                       limits_.max_memory_bytes, " bytes reached (",
                                                       message, ")"));
    }
    return absl::InvalidArgumentError(absl::StrCat(Av(where), ": ", message));
  }

  std::shared_ptr<const EcmascriptCompiledCode> code_;
  DataModelLimits limits_;
  SessionHooks session_;
  std::shared_ptr<WorkerHeap> worker_;
  uint32_t slot_ = 0;  // memory account; also keys the session in the stash
  WorkerHeap::CodeTemplates* templates_ = nullptr;
  duk_context* ctx_ = nullptr;  // the session's Duktape thread
  bool own_global_ = false;     // Init replaced the thread's global object
  bool initialized_ = false;
  std::vector<size_t> foreach_lengths_;  // the <foreach> stack
  std::vector<void*> foreach_copies_;    // its arrays (kept alive by the stash)
  void* foreach_levels_ = nullptr;       // the array holding them (stash, per session)
  EventFields pending_;                  // the last SetEvent's fields
  bool event_accessor_ = false;          // `_event` is the getter: pending_ not built yet
};

}  // namespace orch::js::ecmascript_internal
