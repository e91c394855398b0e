// Fuzz target: arbitrary bytes as an SCXML document. The XML reader, the
// compiler's validation and the ECMAScript compilation of every expression
// must give a compiled document or a list of problems — never a crash, a hang
// or unbounded memory. Properties checked:
//  - CompileDocument succeeds exactly when ValidateDocument finds nothing;
//  - every problem is one line "fuzz.scxml:<line>:<col>: ..." (the location
//    every error message carries), and the failed compilation's message is the
//    problems joined by newlines;
//  - a compiled document is internally consistent (indices in range).
// No file or network access: the fetcher refuses everything.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/base/check.h"
#include "common/js/ecmascript_data_model.h"
#include "common/scxml/compiler.h"

namespace {

class RefusingFetcher final : public orch::scxml::Fetcher {
 public:
  absl::StatusOr<std::string> Fetch(const std::string& uri, const std::string&) override {
    return absl::PermissionDeniedError("the fuzzer fetches nothing: " + uri);
  }
};

// "fuzz.scxml:<digits>:<digits>: " at the start of a problem.
bool HasLocation(absl::string_view problem) {
  constexpr absl::string_view kName = "fuzz.scxml:";
  if (problem.substr(0, kName.size()) != kName) return false;
  std::vector<absl::string_view> parts = absl::StrSplit(problem.substr(kName.size()), absl::MaxSplits(':', 2));
  if (parts.size() != 3) return false;
  int line = 0;
  int col = 0;
  return absl::SimpleAtoi(parts[0], &line) && absl::SimpleAtoi(parts[1], &col) && line >= 0 && col >= 0;
}

void CheckDocument(const orch::scxml::Document& doc, int depth) {
  using orch::scxml::kNone;
  ORCH_CHECK(depth < 300, "child documents nested deeper than the XML nesting limit");
  ORCH_CHECK(!doc.states.empty(), "a compiled document has a root state");
  ORCH_CHECK(doc.compiled != nullptr, "a compiled document has compiled code");
  const size_t n = doc.states.size();
  for (const auto& s : doc.states) {
    ORCH_CHECK(s.index < n, "state index in range");
    ORCH_CHECK(s.last_descendant >= s.index && s.last_descendant < n, "last_descendant in range");
    ORCH_CHECK(s.parent == kNone || (s.parent >= 0 && static_cast<size_t>(s.parent) < s.index),
               "parent precedes child");
    for (uint32_t t : s.transitions) ORCH_CHECK(t < doc.transitions.size(), "transition index in range");
    for (uint32_t c : s.children) ORCH_CHECK(c > s.index && c <= s.last_descendant, "child in subtree");
    ORCH_CHECK(s.initial == kNone || (s.initial >= 0 && static_cast<size_t>(s.initial) < doc.transitions.size()),
               "initial transition in range");
  }
  for (const auto& t : doc.transitions) {
    ORCH_CHECK(t.source >= 0 && static_cast<size_t>(t.source) < n, "transition source in range");
    for (uint32_t target : t.targets) ORCH_CHECK(target < n, "transition target in range");
  }
  for (const auto& child : doc.children) {
    ORCH_CHECK(child != nullptr, "inline child document compiled");
    CheckDocument(*child, depth + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static RefusingFetcher* fetcher = new RefusingFetcher();
  static orch::js::EcmascriptDataModelFactory* factory = new orch::js::EcmascriptDataModelFactory();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  orch::scxml::CompileOptions options;
  options.ecmascript = factory;
  options.fetcher = fetcher;
  options.xml.max_bytes = 1 << 20;
  options.max_states = 2000;

  auto doc = orch::scxml::CompileDocument(text, "fuzz.scxml", options);
  std::vector<std::string> problems = orch::scxml::ValidateDocument(text, "fuzz.scxml", options);
  ORCH_CHECK(doc.ok() == problems.empty(), "CompileDocument and ValidateDocument disagree");
  if (doc.ok()) {
    CheckDocument(**doc, 0);
  } else {
    ORCH_CHECK(doc.status().code() == absl::StatusCode::kInvalidArgument ||
                   doc.status().code() == absl::StatusCode::kResourceExhausted,
               "unexpected status code for a bad document");
    ORCH_CHECK(doc.status().message() == absl::StrJoin(problems, "\n"),
               "the compile error is not the list of problems");
    for (const auto& p : problems) {
      ORCH_CHECK(HasLocation(absl::string_view(p)), "problem without file:line:col");
      ORCH_CHECK(p.find('\n') == std::string::npos, "multi-line problem");
    }
  }
  return 0;
}
