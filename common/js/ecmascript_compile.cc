// EcmascriptDataModelFactory::Compile: every code spec of a document to
// Duktape bytecode (CompiledSpec, ecmascript_data_model_internal.h), on a
// throw-away heap; README.md, "Compile once, load once per worker heap".

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/js/code_text.h"
#include "common/js/content_function.h"
#include "common/js/duktape_internal.h"
#include "common/js/ecmascript_data_model.h"
#include "common/js/ecmascript_data_model_internal.h"
#include "common/js/worker_heap.h"
#include "duktape.h"

namespace orch::js {
namespace {

using ecmascript_internal::Av;
using ecmascript_internal::CodeKind;
using ecmascript_internal::CodeSpec;
using ecmascript_internal::CompiledSpec;
using ecmascript_internal::EcmascriptCompiledCode;
using ecmascript_internal::IsSystemVariable;

// Compiles `source` and returns its bytecode, or the engine's message.
absl::StatusOr<std::string> CompileToBytecode(duk_context* ctx, std::string_view source,
                                              std::string_view where, duk_uint_t flags) {
  duk_push_lstring(ctx, where.data(), where.size());  // file name, for tracebacks
  if (duk_pcompile_lstring_filename(ctx, flags, source.data(), source.size()) != 0) {
    std::string message = duk_safe_to_string(ctx, -1);
    duk_pop(ctx);
    return absl::InvalidArgumentError(message);
  }
  duk_dump_function(ctx);
  duk_size_t size = 0;
  const char* data = static_cast<const char*>(duk_get_buffer(ctx, -1, &size));
  std::string bytecode(data, size);
  duk_pop(ctx);
  return bytecode;
}

absl::Status CompileSpec(duk_context* ctx, CompiledSpec& out) {
  switch (out.kind) {
    case CodeKind::kCondition:
    case CodeKind::kExpression: {
      out.trimmed = std::string(TrimExpression(out.text));
      out.fusable = FusableText(out.trimmed, false);
      ASSIGN_OR_RETURN(out.code, CompileToBytecode(ctx, absl::StrCat("(", Av(TrimExpression(out.text)), "\n)"),
                                                   out.where, 0));
      return absl::OkStatus();
    }
    case CodeKind::kScript: {
      ASSIGN_OR_RETURN(out.code, CompileToBytecode(ctx, out.text, out.where, 0));
      return absl::OkStatus();
    }
    case CodeKind::kLocation: {
      std::string_view loc = TrimExpression(out.text);
      if (!IsAssignableLocation(loc)) {
        return absl::InvalidArgumentError(
            absl::StrCat("'", out.text, "' is not a valid location (left-hand side)"));
      }
      out.identifier = IsValidVariableName(loc);
      out.trimmed = std::string(loc);
      out.read_only = out.identifier && IsSystemVariable(loc);
      out.fusable = !out.read_only && FusableText(loc, true);
      ASSIGN_OR_RETURN(out.code, CompileToBytecode(ctx, absl::StrCat("(", Av(loc), "\n)"), out.where, 0));
      // A named parameter rather than arguments[0]: no arguments object
      // (and no environment record) per call.
      const std::string param = FreshName({loc});
      ASSIGN_OR_RETURN(
          out.assign,
          CompileToBytecode(ctx,
                            absl::StrCat("function(", param, "){\"use strict\";(", Av(loc), "\n)=", param, ";}"),
                            out.where, DUK_COMPILE_FUNCTION));
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError("unknown code kind");
}

}  // namespace

absl::StatusOr<std::shared_ptr<const scxml::CompiledCode>> EcmascriptDataModelFactory::Compile(
    const std::vector<CodeSpec>& specs) {
  auto compiled = std::make_shared<EcmascriptCompiledCode>();
  compiled->specs.resize(specs.size());
  std::vector<bool> seen(specs.size(), false);
  for (const CodeSpec& spec : specs) {
    if (spec.id >= specs.size() || seen[spec.id]) {
      return absl::InvalidArgumentError(
          absl::StrCat(spec.where, ": code ids must be dense and unique (id ", spec.id, ")"));
    }
    seen[spec.id] = true;
    CompiledSpec& out = compiled->specs[spec.id];
    out.kind = spec.kind;
    out.where = spec.where;
    out.text = spec.text;
  }
  HeapHooks hooks;  // a private heap without accounting: compiling runs no user code
  duk_context* ctx = duk_create_heap(HeapAlloc, HeapRealloc, HeapFree, &hooks, HeapFatal);
  if (ctx == nullptr) return absl::ResourceExhaustedError("cannot create a JavaScript heap");
  hooks.heap = orch_duk_heap_of(ctx);
  absl::Status status = absl::OkStatus();
  for (CompiledSpec& spec : compiled->specs) {
    absl::Status s = CompileSpec(ctx, spec);
    if (s.ok()) continue;
    std::string message = absl::StrCat(spec.where, ": ", s.message());
    if (!options_.defer_compile_errors) {
      status = absl::InvalidArgumentError(message);
      break;
    }
    spec.error = std::move(message);
  }
  duk_destroy_heap(ctx);
  RETURN_IF_ERROR(status);
  return std::shared_ptr<const scxml::CompiledCode>(std::move(compiled));
}

}  // namespace orch::js
