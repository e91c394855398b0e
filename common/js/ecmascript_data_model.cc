// EcmascriptDataModel (ecmascript_data_model_internal.h): the DataModel
// calls on a session's variables, Init (the session's own global object and
// system variables), DeclareData, and those the interpreter makes per event
// (conditions, values, <assign>, <script>, _event, <foreach>, content runs),
// with the helpers they inline kept in this one file; and
// EcmascriptDataModelFactory::Create.

#include "common/js/ecmascript_data_model.h"

#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/js/code_text.h"
#include "common/js/content_function.h"
#include "common/js/duktape_internal.h"
#include "common/js/ecmascript_data_model_internal.h"
#include "common/js/utf8.h"
#include "common/js/worker_heap.h"
#include "common/js/xml_dom.h"
#include "duktape.h"

namespace orch::js {
namespace ecmascript_internal {
namespace {

// Pushes the value of JSON text, or undefined for "undefined". Throws a
// SyntaxError on bad JSON.
void PushJson(duk_context* ctx, std::string_view json) {
  if (absl::StripAsciiWhitespace(absl::string_view(json.data(), json.size())) == "undefined") {
    duk_push_undefined(ctx);
    return;
  }
  if (orch_duk_json_decode_fast(ctx, json.data(), json.size())) return;
  duk_push_lstring(ctx, json.data(), json.size());
  duk_json_decode(ctx, -1);
}

// Pushes a value that crossed the seam (data_model.h): XML markup becomes a
// DOM Document (xml_dom.h), or the text itself as a string when it is not
// well-formed; anything else is JSON (PushJson).
void PushValue(duk_context* ctx, std::string_view text) {
  if (LooksLikeXml(text)) {
    if (!PushXmlDocument(ctx, text)) duk_push_lstring(ctx, text.data(), text.size());
    return;
  }
  PushJson(ctx, text);
}

void DeepFreeze(duk_context* ctx, duk_idx_t idx) {
  idx = duk_normalize_index(ctx, idx);
  if (!duk_is_object(ctx, idx)) return;
  duk_enum(ctx, idx, DUK_ENUM_OWN_PROPERTIES_ONLY);
  while (duk_next(ctx, -1, 1)) {
    DeepFreeze(ctx, -1);
    duk_pop_2(ctx);
  }
  duk_pop(ctx);
  duk_freeze(ctx, idx);
}

// What `var x` creates: writable, enumerable, not deletable.
constexpr duk_uint_t kVariableFlags = DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_HAVE_WRITABLE |
                                      DUK_DEFPROP_WRITABLE | DUK_DEFPROP_HAVE_ENUMERABLE |
                                      DUK_DEFPROP_ENUMERABLE | DUK_DEFPROP_HAVE_CONFIGURABLE;

// Defines global `name` (undefined) unless it exists.
void EnsureVariable(duk_context* ctx, std::string_view name) {
  duk_push_global_object(ctx);
  if (!duk_has_prop_lstring(ctx, -1, name.data(), name.size())) {
    duk_push_lstring(ctx, name.data(), name.size());
    duk_push_undefined(ctx);
    duk_def_prop(ctx, -3, kVariableFlags);
  }
  duk_pop(ctx);
}

// Sets global `name` to the value on top (popped); TypeError if read-only.
void PutGlobal(duk_context* ctx, std::string_view name) {
  duk_push_global_object(ctx);
  duk_insert(ctx, -2);
  duk_put_prop_lstring(ctx, -2, name.data(), name.size());
  duk_pop(ctx);
}

std::string ToUtf8(duk_context* ctx, duk_idx_t idx) {
  duk_size_t len = 0;
  const char* p = duk_get_lstring(ctx, idx, &len);
  return CesuToUtf8(std::string_view(p == nullptr ? "" : p, len));
}

}  // namespace

absl::Status EcmascriptSessionBase::Init(std::string_view session_id, std::string_view name,
                                         std::string_view ioprocessors_json, uint64_t random_seed) {
  if (initialized_) return absl::FailedPreconditionError("Init called twice");
  session_.prng.Seed(random_seed);
  RETURN_IF_ERROR(Call("Init", [&](duk_context* ctx) -> absl::Status {
    // The session's own global object: a copy of the template's property
    // table (built-ins, In, _event), with its own global environment.
    orch_duk_push_global_clone(ctx);
    duk_push_string(ctx, "globalThis");
    duk_dup(ctx, -2);
    duk_def_prop(ctx, -3, DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_FORCE);
    duk_set_global_object(ctx);
    own_global_ = true;

    duk_push_global_object(ctx);
    duk_idx_t global = duk_normalize_index(ctx, -1);
    // System variables: read-only, not enumerable.
    duk_push_string(ctx, "_sessionid");
    duk_push_lstring(ctx, session_id.data(), session_id.size());
    duk_def_prop(ctx, global, kReadOnlyFlags);
    duk_push_string(ctx, "_name");
    duk_push_lstring(ctx, name.data(), name.size());
    duk_def_prop(ctx, global, kReadOnlyFlags);
    duk_push_string(ctx, "_ioprocessors");
    PushJson(ctx, ioprocessors_json);
    DeepFreeze(ctx, -1);
    duk_def_prop(ctx, global, kReadOnlyFlags);
    return absl::OkStatus();
  }));
  initialized_ = true;
  return absl::OkStatus();
}

absl::Status EcmascriptSessionBase::BuildPendingEvent(duk_context* ctx, bool checked) {
  void* const* keys = worker_->event_keys();
  auto push = [&](const std::string& value, bool empty_is_undefined) {
    if (empty_is_undefined && value.empty()) {
      duk_push_undefined(ctx);
    } else {
      duk_push_lstring(ctx, value.data(), value.size());
    }
  };
  push(pending_.name, false);
  push(pending_.type, false);
  push(pending_.sendid, true);
  push(pending_.origin, true);
  push(pending_.origintype, true);
  push(pending_.invokeid, true);
  push(pending_.raw, true);
  absl::Status data_status = absl::OkStatus();
  if (checked) {
    PushValue(ctx, pending_.data);
  } else if (duk_safe_call(
                 ctx,
                 [](duk_context* c, void* udata) -> duk_ret_t {
                   PushValue(c, *static_cast<const std::string*>(udata));
                   return 1;
                 },
                 &pending_.data, 0, 1) != DUK_EXEC_SUCCESS) {
    // Bad JSON leaves data undefined (the event is still set) and reports.
    data_status = absl::InvalidArgumentError(
        absl::StrCat("event data is not JSON: ", duk_safe_to_string(ctx, -1)));
    duk_pop(ctx);
    duk_push_undefined(ctx);
  }
  orch_duk_push_frozen_record(ctx, keys, kEventFieldCount);
  duk_dup(ctx, -1);
  if (!orch_duk_set_global_read_only(ctx, keys[kEventKeyIndexEvent], nullptr)) {
    duk_push_global_object(ctx);
    duk_push_heapptr(ctx, keys[kEventKeyIndexEvent]);
    duk_dup(ctx, -3);
    duk_def_prop(ctx, -3, kReadOnlyFlags);
    duk_pop_2(ctx);
  }
  event_accessor_ = false;
  return data_status;
}

duk_ret_t EcmascriptSessionBase::MaterializeEvent(void* owner, duk_context* ctx) {
  auto* self = static_cast<EcmascriptSessionBase*>(owner);
  if (self->event_accessor_) {
    (void)self->BuildPendingEvent(ctx, /*checked=*/true);
    return 1;
  }
  // The getter kept by a script and called later: the current value.
  duk_push_global_object(ctx);
  duk_get_prop_heapptr(ctx, -1, self->worker_->event_keys()[kEventKeyIndexEvent]);
  duk_remove(ctx, -2);
  return 1;
}

namespace {

class EcmascriptDataModel final : public EcmascriptSessionBase {
 public:
  using EcmascriptSessionBase::EcmascriptSessionBase;

  absl::Status DeclareData(std::string_view id, std::string_view value_json) override {
    RETURN_IF_ERROR(CheckDeclarable(id));
    return Call(id, [&](duk_context* ctx) {
      EnsureVariable(ctx, id);
      PushValue(ctx, value_json);
      PutGlobal(ctx, id);
      return absl::OkStatus();
    });
  }

  absl::Status DeclareDataExpr(std::string_view id, uint32_t expr) override {
    RETURN_IF_ERROR(CheckDeclarable(id));
    return Call(Where(expr), [&](duk_context* ctx) -> absl::Status {
      EnsureVariable(ctx, id);
      RETURN_IF_ERROR(RunCode(ctx, expr));
      PutGlobal(ctx, id);
      return absl::OkStatus();
    });
  }

  absl::StatusOr<bool> EvalCondition(uint32_t cond) override {
    bool result = false;
    RETURN_IF_ERROR(Call(Where(cond), [&](duk_context* ctx) -> absl::Status {
      RETURN_IF_ERROR(RunCode(ctx, cond));
      result = duk_to_boolean(ctx, -1);
      return absl::OkStatus();
    }));
    return result;
  }

  absl::StatusOr<std::string> EvalValue(uint32_t expr) override {
    std::string result;
    RETURN_IF_ERROR(Call(Where(expr), [&](duk_context* ctx) -> absl::Status {
      RETURN_IF_ERROR(RunCode(ctx, expr));
      result = ToJson(ctx);
      return absl::OkStatus();
    }));
    return result;
  }

  absl::StatusOr<std::string> EvalString(uint32_t expr) override {
    std::string result;
    RETURN_IF_ERROR(Call(Where(expr), [&](duk_context* ctx) -> absl::Status {
      RETURN_IF_ERROR(RunCode(ctx, expr));
      duk_to_string(ctx, -1);
      result = ToUtf8(ctx, -1);
      return absl::OkStatus();
    }));
    return result;
  }

  absl::Status Assign(uint32_t location, uint32_t expr) override {
    RETURN_IF_ERROR(CheckLocation(location));
    return Call(Where(location), [&](duk_context* ctx) -> absl::Status {
      if (void* fused = FusedAssignment(ctx, location, expr); fused != nullptr) {
        PushTemplate(ctx, fused);
        duk_push_global_object(ctx);  // `this`, as in the program form
        duk_call_method(ctx, 0);
        return absl::OkStatus();
      }
      RETURN_IF_ERROR(PushCode(ctx, location, /*assign=*/true));
      RETURN_IF_ERROR(RunCode(ctx, expr));
      duk_call(ctx, 1);
      return absl::OkStatus();
    });
  }

  absl::Status AssignValue(uint32_t location, std::string_view value_json) override {
    RETURN_IF_ERROR(CheckLocation(location));
    return Call(Where(location), [&](duk_context* ctx) -> absl::Status {
      RETURN_IF_ERROR(PushCode(ctx, location, /*assign=*/true));
      PushValue(ctx, value_json);
      duk_call(ctx, 1);
      return absl::OkStatus();
    });
  }

  absl::Status Execute(uint32_t script) override {
    return Call(Where(script), [&](duk_context* ctx) { return RunCode(ctx, script); });
  }

  // Lazy `_event` (docs/design/js-data-model.md, "Lazy _event"): when the
  // data is JSON that orch_json_check_fast accepts (or undefined), the fields
  // are only copied here and the global `_event` becomes an accessor whose
  // getter builds the event object on the first read, then makes it the
  // plain (read-only) value again. Other data (XML, JSON outside the fast
  // subset, bad JSON) is built here, at once.
  absl::Status SetEvent(const EventFields& event) override {
    if (ctx_ == nullptr) return absl::FailedPreconditionError("data model not open");
    if (!worker_->OnOwnerThread()) {
      return absl::FailedPreconditionError(
          "an ECMAScript data model must be used on the thread that created it");
    }
    // Before Init the thread's global is the worker's shared template.
    if (!initialized_) return absl::FailedPreconditionError("SetEvent before Init");
    const bool lazy = !LooksLikeXml(event.data) &&
                      (IsUndefinedText(event.data) ||
                       orch_json_check_fast(event.data.data(), event.data.size()) != 0);
    pending_.name = event.name;
    pending_.type = event.type;
    pending_.sendid = event.sendid;
    pending_.origin = event.origin;
    pending_.origintype = event.origintype;
    pending_.invokeid = event.invokeid;
    pending_.data = event.data;
    pending_.raw = event.raw;
    if (lazy) {
      if (event_accessor_) return absl::OkStatus();  // the previous event was never read
      return Call("SetEvent", [&](duk_context* ctx) -> absl::Status {
        void* key = worker_->event_keys()[kEventKeyIndexEvent];
        if (!orch_duk_set_global_read_only(ctx, key, worker_->event_getter())) {
          duk_push_global_object(ctx);
          duk_push_heapptr(ctx, key);
          duk_push_heapptr(ctx, worker_->event_getter());
          duk_def_prop(ctx, -3,
                       DUK_DEFPROP_HAVE_GETTER | DUK_DEFPROP_HAVE_ENUMERABLE |
                           DUK_DEFPROP_HAVE_CONFIGURABLE | DUK_DEFPROP_FORCE);
          duk_pop(ctx);
        }
        event_accessor_ = true;
        return absl::OkStatus();
      });
    }
    absl::Status data_status = absl::OkStatus();
    RETURN_IF_ERROR(Call("SetEvent", [&](duk_context* ctx) -> absl::Status {
      data_status = BuildPendingEvent(ctx, /*checked=*/false);
      duk_pop(ctx);
      return absl::OkStatus();
    }));
    return data_status;
  }

  absl::StatusOr<size_t> ForeachBegin(uint32_t array) override {
    size_t length = 0;
    void* copy = nullptr;
    RETURN_IF_ERROR(Call(Where(array), [&](duk_context* ctx) -> absl::Status {
      RETURN_IF_ERROR(RunCode(ctx, array));
      duk_idx_t value = duk_normalize_index(ctx, -1);
      if (!duk_is_array(ctx, value)) {
        return absl::InvalidArgumentError("<foreach> array is not an array");
      }
      length = duk_get_length(ctx, value);
      PushForeachLevels(ctx);
      // The shallow copy the loop iterates over.
      orch_duk_push_array_copy(ctx, value, static_cast<duk_uint32_t>(length));
      copy = duk_get_heapptr(ctx, -1);
      duk_put_prop_index(ctx, -2, static_cast<duk_uarridx_t>(foreach_lengths_.size()));
      return absl::OkStatus();
    }));
    foreach_lengths_.push_back(length);
    foreach_copies_.push_back(copy);  // kept alive by the stash
    return length;
  }

  absl::Status ForeachStep(size_t i, uint32_t item, uint32_t index) override {
    if (foreach_lengths_.empty()) return absl::FailedPreconditionError("ForeachStep outside a loop");
    if (i >= foreach_lengths_.back()) {
      return absl::InvalidArgumentError(absl::StrCat("foreach index ", i, " out of range"));
    }
    ASSIGN_OR_RETURN(std::string_view item_name, LoopVariable(item));
    std::string_view index_name;
    if (index != kNoCode) {
      ASSIGN_OR_RETURN(index_name, LoopVariable(index));
    }
    void* copy = foreach_copies_.back();
    return Call(Where(item), [&](duk_context* ctx) {
      duk_push_global_object(ctx);
      duk_idx_t global = duk_normalize_index(ctx, -1);
      duk_push_heapptr(ctx, copy);
      duk_get_prop_index(ctx, -1, static_cast<duk_uarridx_t>(i));
      duk_remove(ctx, -2);
      PutVariable(ctx, global, item, item_name);  // item = copy[i]
      if (!index_name.empty()) {
        duk_push_number(ctx, static_cast<double>(i));
        PutVariable(ctx, global, index, index_name);
      }
      return absl::OkStatus();
    });
  }

  void ForeachEnd() override {
    if (foreach_lengths_.empty()) return;
    foreach_lengths_.pop_back();
    foreach_copies_.pop_back();
    const size_t depth = foreach_lengths_.size();
    (void)Call("ForeachEnd", [&](duk_context* ctx) {
      PushForeachLevels(ctx);
      duk_set_length(ctx, -1, depth);  // drops the copy of the loop that ended
      return absl::OkStatus();
    });
  }

  // Content runs (README.md, "Content runs in one call"): the run's
  // function (content_function.h), compiled in this worker heap on first
  // use, called once.
  ContentResult RunContent(uint32_t run, const std::vector<ContentNode>& nodes) override {
    ContentResult result;
    // Misuse (another thread, before Init) is left to the elements' calls,
    // which report it.
    if (ctx_ == nullptr || !initialized_ || nodes.empty() || !worker_->OnOwnerThread()) return result;
    if (run < templates_->runs.size() && templates_->runs[run] == kRunRefused) return result;
    bool ran = false;
    uint32_t failed_op = 0;
    absl::Status status = Call(OpWhere(nodes, 0), [&](duk_context* ctx) -> absl::Status {
      void* func = ContentFunction(ctx, run, nodes);
      if (func == nullptr) return absl::OkStatus();
      ran = true;
      PushTemplate(ctx, func);
      duk_push_global_object(ctx);  // `this`, as in the program form
      duk_push_heapptr(ctx, templates_->functions[templates_->content_helpers]);
      duk_push_heapptr(ctx, templates_->functions[templates_->content_helpers + 1]);
      duk_call_method(ctx, 2);
      if (duk_is_undefined(ctx, -1)) return absl::OkStatus();
      // [op] (not an array) or [op, error]
      duk_get_prop_index(ctx, -1, 0);
      failed_op = static_cast<uint32_t>(duk_get_uint(ctx, -1));
      duk_pop(ctx);
      if (duk_get_length(ctx, -1) < 2) return absl::InvalidArgumentError("<foreach> array is not an array");
      duk_get_prop_index(ctx, -1, 1);
      const std::string message = duk_safe_to_string(ctx, -1);
      return ErrorStatus(OpWhere(nodes, failed_op), message);
    });
    if (!ran) return result;
    if (status.ok()) {
      result.outcome = ContentResult::Outcome::kDone;
    } else {
      result.outcome = ContentResult::Outcome::kFailed;
      result.failed_op = failed_op;
      result.status = std::move(status);
    }
    return result;
  }

  absl::StatusOr<std::string> ReadVariable(std::string_view name) override {
    std::string result = "undefined";
    RETURN_IF_ERROR(Call(name, [&](duk_context* ctx) -> absl::Status {
      duk_push_global_object(ctx);
      if (duk_get_prop_lstring(ctx, -1, name.data(), name.size())) result = ToJson(ctx);
      return absl::OkStatus();
    }));
    return result;
  }

 private:
  // Pushes this session's array of <foreach> copies (one per nesting level),
  // creating it if needed.
  // The array is made once per session and kept until the session ends.
  void PushForeachLevels(duk_context* ctx) {
    if (foreach_levels_ != nullptr) {
      duk_push_heapptr(ctx, foreach_levels_);
      return;
    }
    duk_push_heap_stash(ctx);
    duk_get_prop_string(ctx, -1, kStashForeach);
    duk_push_array(ctx);
    duk_dup_top(ctx);
    duk_put_prop_index(ctx, -3, slot_);
    duk_remove(ctx, -2);
    duk_remove(ctx, -2);
    foreach_levels_ = duk_get_heapptr(ctx, -1);
  }

  absl::Status CheckDeclarable(std::string_view id) const {
    if (!IsValidVariableName(id)) {
      return absl::InvalidArgumentError(absl::StrCat("'", Av(id), "' is not a valid variable name"));
    }
    if (IsSystemVariable(id) || id == "In") {
      return absl::InvalidArgumentError(absl::StrCat(Av(id), " is read-only"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<const CompiledSpec*> Spec(uint32_t id) const {
    if (id >= code_->specs.size()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown code id ", id));
    }
    const CompiledSpec& spec = code_->specs[id];
    if (!spec.error.empty()) return absl::InvalidArgumentError(spec.error);
    return &spec;
  }

  absl::Status CheckLocation(uint32_t location) const {
    ASSIGN_OR_RETURN(const CompiledSpec* spec, Spec(location));
    if (spec->kind != CodeKind::kLocation) {
      return absl::InvalidArgumentError(absl::StrCat(spec->where, ": not a location"));
    }
    if (spec->read_only) {
      return absl::InvalidArgumentError(absl::StrCat(spec->where, ": ", spec->trimmed, " is read-only"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string_view> LoopVariable(uint32_t id) const {
    ASSIGN_OR_RETURN(const CompiledSpec* spec, Spec(id));
    std::string_view name = spec->trimmed;
    if (spec->kind != CodeKind::kLocation || !spec->identifier) {
      return absl::InvalidArgumentError(
          absl::StrCat(spec->where, ": '", spec->text, "' is not a valid variable name"));
    }
    if (spec->read_only) {
      return absl::InvalidArgumentError(absl::StrCat(spec->where, ": ", Av(name), " is read-only"));
    }
    return name;
  }

  static bool IsUndefinedText(std::string_view text) {
    return absl::StripAsciiWhitespace(Av(text)) == "undefined";
  }

  static constexpr int64_t kRunRefused = -1;
  static constexpr int64_t kRunUnknown = -2;

  // The function of content run `run`, or null when the run cannot be
  // fused (some text is not FusableText, or the function does not compile
  // in strict mode); either is remembered per worker heap.
  void* ContentFunction(duk_context* ctx, uint32_t run, const std::vector<ContentNode>& nodes) {
    std::vector<int64_t>& runs = templates_->runs;
    if (run >= runs.size()) runs.resize(run + 1, kRunUnknown);
    if (runs[run] >= 0) return templates_->functions[runs[run]];
    if (runs[run] == kRunRefused) return nullptr;
    runs[run] = kRunRefused;
    std::optional<std::string> source = ContentFunctionSource(
        nodes, [&](uint32_t id, CodeUse use) -> std::optional<std::string_view> {
          if (id >= code_->specs.size()) return std::nullopt;
          const CompiledSpec& spec = code_->specs[id];
          if (!spec.error.empty()) return std::nullopt;
          const bool location = spec.kind == CodeKind::kLocation;
          switch (use) {
            case CodeUse::kValue:
              if (location || spec.kind == CodeKind::kScript || !spec.fusable) return std::nullopt;
              break;
            case CodeUse::kLocation:
              if (!location || !spec.fusable) return std::nullopt;
              break;
            case CodeUse::kVariable:
              if (!location || !spec.identifier || spec.read_only) return std::nullopt;
              break;
          }
          return std::string_view(spec.trimmed);
        });
    if (!source.has_value()) return nullptr;
    ChargeWorker charge(worker_->hooks());
    if (templates_->content_helpers < 0) {
      const size_t copy = templates_->AddSlot();
      duk_push_c_function(ctx, &EcmascriptDataModel::CopyIfArray, 1);
      duk_freeze(ctx, -1);
      worker_->KeepTemplate(ctx, templates_, copy);
      duk_pop(ctx);
      const size_t declare = templates_->AddSlot();
      duk_push_c_function(ctx, &EcmascriptDataModel::DeclareVariables, DUK_VARARGS);
      duk_freeze(ctx, -1);
      worker_->KeepTemplate(ctx, templates_, declare);
      duk_pop(ctx);
      templates_->content_helpers = static_cast<int64_t>(copy);
    }
    const std::string_view where = OpWhere(nodes, 0);
    duk_push_lstring(ctx, where.data(), where.size());
    if (duk_pcompile_lstring_filename(ctx, DUK_COMPILE_FUNCTION, source->data(), source->size()) != 0) {
      duk_pop(ctx);
      return nullptr;
    }
    const size_t slot = templates_->AddSlot();
    worker_->KeepTemplate(ctx, templates_, slot);
    duk_pop(ctx);
    runs[run] = static_cast<int64_t>(slot);
    return templates_->functions[slot];
  }

  // The copy helper of content functions: what ForeachBegin iterates over.
  static duk_ret_t CopyIfArray(duk_context* ctx) {
    if (!duk_is_array(ctx, 0)) return 0;
    orch_duk_push_array_copy(ctx, 0, static_cast<duk_uint32_t>(duk_get_length(ctx, 0)));
    return 1;
  }

  // The declare helper of content functions: what ForeachStep declares.
  static duk_ret_t DeclareVariables(duk_context* ctx) {
    const duk_idx_t n = duk_get_top(ctx);
    duk_push_global_object(ctx);
    for (duk_idx_t i = 0; i < n; ++i) {
      duk_dup(ctx, i);
      EnsureVariableKey(ctx, n);
      duk_pop(ctx);
    }
    return 0;
  }

  // The `where` that prefixes the messages of operation `op` of `nodes`.
  std::string_view OpWhere(const std::vector<ContentNode>& nodes, uint32_t op) const {
    return Where(OperationCode(nodes, op));
  }

  // Pushes the interned name of plain-identifier location `id` (`name`),
  // kept per worker heap, and returns it.
  void* PushName(duk_context* ctx, uint32_t id, std::string_view name) {
    auto [it, inserted] = templates_->names.try_emplace(id, 0);
    if (inserted) {
      ChargeWorker charge(worker_->hooks());
      it->second = templates_->AddSlot();
      duk_push_lstring(ctx, name.data(), name.size());
      worker_->KeepTemplate(ctx, templates_, it->second);
      return templates_->functions[it->second];
    }
    void* key = templates_->functions[it->second];
    duk_push_heapptr(ctx, key);
    return key;
  }

  // Sets variable `name` (of plain-identifier location `id`) of `global` to
  // the value on top (popped), declaring it like `var` if it does not exist.
  void PutVariable(duk_context* ctx, duk_idx_t global, uint32_t id, std::string_view name) {
    void* key = PushName(ctx, id, name);
    duk_pop(ctx);
    if (orch_duk_put_own_data_fast(ctx, global, key)) return;
    duk_push_heapptr(ctx, key);
    EnsureVariableKey(ctx, global);
    duk_insert(ctx, -2);
    duk_put_prop(ctx, global);
  }

  // The key on top (kept): defines it on `global` like `var` unless it exists.
  static void EnsureVariableKey(duk_context* ctx, duk_idx_t global) {
    duk_dup(ctx, -1);
    if (!duk_has_prop(ctx, global)) {
      duk_dup(ctx, -1);
      duk_push_undefined(ctx);
      duk_def_prop(ctx, global, kVariableFlags);
    }
  }

  // The fused function of <assign location expr>
  // (docs/design/js-data-model.md, "<assign> in one call"),
  // compiled in this worker heap on first use, or null when the pair cannot
  // be fused.
  void* FusedAssignment(duk_context* ctx, uint32_t location, uint32_t expr) {
    if (expr >= code_->specs.size()) return nullptr;
    const CompiledSpec& loc = code_->specs[location];
    const CompiledSpec& value = code_->specs[expr];
    if (!loc.fusable || !value.fusable || !value.error.empty()) return nullptr;
    auto& by_location = templates_->fused_by_location;
    if (by_location.size() != code_->specs.size()) by_location.assign(code_->specs.size(), {kNoCode, -1});
    std::pair<uint32_t, int64_t>& last = by_location[location];
    if (last.first == expr) return last.second < 0 ? nullptr : templates_->functions[last.second];
    const uint64_t key = (static_cast<uint64_t>(location) << 32) | expr;
    auto [it, inserted] = templates_->fused.try_emplace(key, -1);
    if (!inserted) {
      last = {expr, it->second};
      return it->second < 0 ? nullptr : templates_->functions[it->second];
    }
    const std::string tmp = FreshName({loc.trimmed, value.trimmed});
    const std::string source = absl::StrCat("function(){\"use strict\";var ", tmp, "=(", value.trimmed,
                                            "\n);(", loc.trimmed, "\n)=", tmp, ";}");
    ChargeWorker charge(worker_->hooks());
    duk_push_lstring(ctx, loc.where.data(), loc.where.size());
    if (duk_pcompile_lstring_filename(ctx, DUK_COMPILE_FUNCTION, source.data(), source.size()) != 0) {
      duk_pop(ctx);
      return nullptr;
    }
    const size_t slot = templates_->AddSlot();
    worker_->KeepTemplate(ctx, templates_, slot);
    duk_pop(ctx);
    it->second = static_cast<int64_t>(slot);
    by_location[location] = {expr, it->second};
    return templates_->functions[slot];
  }

  // Pushes the shared template `func`, bound to this session's global
  // environment for the rest of the call.
  void PushTemplate(duk_context* ctx, void* func) {
    duk_push_heapptr(ctx, func);
    orch_duk_bind_global_env(ctx, func);
  }

  // Pushes the function of code `id` bound to this session's global
  // environment. The function is loaded into the worker heap the first time
  // any of its sessions uses it (charged to the worker, not the session) and
  // shared. It stays bound to this session until another session runs it or
  // this one ends (the destructor binds it back to the worker's environment).
  absl::Status PushCode(duk_context* ctx, uint32_t id, bool assign) {
    if (id >= code_->specs.size() || !code_->specs[id].error.empty()) return Spec(id).status();
    const CompiledSpec* spec = &code_->specs[id];
    const size_t slot = 2 * static_cast<size_t>(id) + (assign ? 1 : 0);
    void* func = templates_->functions[slot];
    if (func != nullptr) {
      duk_push_heapptr(ctx, func);
    } else {
      ChargeWorker charge(worker_->hooks());
      const std::string& bytecode = assign ? spec->assign : spec->code;
      duk_push_external_buffer(ctx);
      duk_config_buffer(ctx, -1, const_cast<char*>(bytecode.data()), bytecode.size());
      duk_load_function(ctx);
      worker_->KeepTemplate(ctx, templates_, slot);
      func = templates_->functions[slot];
    }
    orch_duk_bind_global_env(ctx, func);
    return absl::OkStatus();
  }

  // Runs code `id` and pushes its value.
  absl::Status RunCode(duk_context* ctx, uint32_t id) {
    RETURN_IF_ERROR(PushCode(ctx, id, /*assign=*/false));
    duk_call(ctx, 0);
    return absl::OkStatus();
  }

  // The value on top as JSON text (JSON.stringify), or "undefined".
  static std::string ToJson(duk_context* ctx) {
    if (duk_is_undefined(ctx, -1)) return "undefined";
    // Fast paths with exactly JSON.stringify's result: printable ASCII
    // strings without quotes or backslashes, integers, booleans, null.
    if (duk_is_string(ctx, -1)) {
      duk_size_t len = 0;
      const char* p = duk_get_lstring(ctx, -1, &len);
      bool plain = true;
      for (duk_size_t i = 0; i < len && plain; ++i) {
        unsigned char c = static_cast<unsigned char>(p[i]);
        plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
      }
      if (plain) {
        std::string out;
        out.reserve(len + 2);
        out.push_back('"');
        out.append(p, len);
        out.push_back('"');
        return out;
      }
    } else if (duk_is_number(ctx, -1)) {
      double v = duk_get_number(ctx, -1);
      if (v > -9007199254740992.0 && v < 9007199254740992.0 && v == std::trunc(v)) {
        return absl::StrCat(static_cast<int64_t>(v));
      }
    } else if (duk_is_boolean(ctx, -1)) {
      return duk_get_boolean(ctx, -1) ? "true" : "false";
    } else if (duk_is_null(ctx, -1)) {
      return "null";
    }
    duk_json_encode(ctx, -1);
    if (!duk_is_string(ctx, -1)) return "undefined";  // a function, a Symbol
    return ToUtf8(ctx, -1);
  }
};

}  // namespace
}  // namespace ecmascript_internal

using ecmascript_internal::EcmascriptCompiledCode;
using ecmascript_internal::EcmascriptDataModel;

absl::StatusOr<std::unique_ptr<scxml::DataModel>> EcmascriptDataModelFactory::Create(
    std::shared_ptr<const scxml::CompiledCode> code, scxml::DataModelHost* host,
    const scxml::DataModelLimits& limits) {
  auto ours = std::dynamic_pointer_cast<const EcmascriptCompiledCode>(code);
  if (ours == nullptr) {
    return absl::InvalidArgumentError("CompiledCode was not made by EcmascriptDataModelFactory");
  }
  if (host == nullptr) return absl::InvalidArgumentError("host must not be null");
  auto model = std::make_unique<EcmascriptDataModel>(std::move(ours), host, limits);
  RETURN_IF_ERROR(model->Open());
  return std::unique_ptr<scxml::DataModel>(std::move(model));
}

}  // namespace orch::js
