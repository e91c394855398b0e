#include "common/scxml/null_data_model.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/base/json.h"

namespace orch::scxml {
namespace {

// One compiled piece of code: In('x') (a condition) or 'text' (a literal).
struct NullCode {
  bool is_in = false;
  std::string argument;
};

class NullCompiled final : public CompiledCode {
 public:
  std::vector<NullCode> code;
};

// 'text' or "text" -> text.
bool Quoted(std::string_view s, std::string* out) {
  if (s.size() < 2 || (s.front() != '\'' && s.front() != '"') || s.back() != s.front()) return false;
  *out = std::string(s.substr(1, s.size() - 2));
  return out->find(s.front()) == std::string::npos;
}

class NullDataModel final : public DataModel {
 public:
  NullDataModel(std::shared_ptr<const NullCompiled> code, DataModelHost* host) : code_(std::move(code)), host_(host) {}

  absl::Status Init(std::string_view, std::string_view, std::string_view, uint64_t) override {
    return absl::OkStatus();
  }
  absl::Status DeclareData(std::string_view id, std::string_view) override { return NoData(); }
  absl::Status DeclareDataExpr(std::string_view id, uint32_t) override { return NoData(); }
  absl::StatusOr<bool> EvalCondition(uint32_t cond) override {
    const NullCode& c = code_->code[cond];
    if (!c.is_in) return absl::InvalidArgumentError("the null data model allows only In() conditions");
    return host_->In(c.argument);
  }
  absl::StatusOr<std::string> EvalValue(uint32_t expr) override {
    const NullCode& c = code_->code[expr];
    if (c.is_in) return std::string(host_->In(c.argument) ? "true" : "false");
    return JsonString(c.argument);
  }
  absl::StatusOr<std::string> EvalString(uint32_t expr) override {
    const NullCode& c = code_->code[expr];
    if (c.is_in) return std::string(host_->In(c.argument) ? "true" : "false");
    return c.argument;
  }
  absl::Status Assign(uint32_t, uint32_t) override { return NoData(); }
  absl::Status AssignValue(uint32_t, std::string_view) override { return NoData(); }
  absl::Status Execute(uint32_t) override { return NoData(); }
  absl::Status SetEvent(const EventFields&) override { return absl::OkStatus(); }
  absl::StatusOr<size_t> ForeachBegin(uint32_t) override { return NoData(); }
  absl::Status ForeachStep(size_t, uint32_t, uint32_t) override { return NoData(); }
  void ForeachEnd() override {}
  absl::StatusOr<std::string> Serialize() override { return std::string(); }
  absl::Status Restore(std::string_view) override { return absl::OkStatus(); }
  size_t MemoryBytes() const override { return sizeof(*this); }

 private:
  static absl::Status NoData() { return absl::InvalidArgumentError("the null data model holds no data"); }
  std::shared_ptr<const NullCompiled> code_;
  DataModelHost* host_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<const CompiledCode>> NullDataModelFactory::Compile(const std::vector<CodeSpec>& specs) {
  auto compiled = std::make_shared<NullCompiled>();
  for (const auto& spec : specs) {
    std::string text(absl::StripAsciiWhitespace(spec.text));
    NullCode c;
    std::string arg;
    if (text.size() > 4 && text.substr(0, 3) == "In(" && text.back() == ')' &&
        Quoted(std::string_view(text).substr(3, text.size() - 4), &arg)) {
      c.is_in = true;
      c.argument = arg;
    } else if (spec.kind != CodeKind::kCondition && Quoted(text, &arg)) {
      c.argument = arg;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          spec.where, ": the null data model accepts only In('state') conditions and quoted strings, not '",
          spec.text, "'"));
    }
    compiled->code.push_back(std::move(c));
  }
  return compiled;
}

absl::StatusOr<std::unique_ptr<DataModel>> NullDataModelFactory::Create(std::shared_ptr<const CompiledCode> code,
                                                                        DataModelHost* host,
                                                                        const DataModelLimits&) {
  return std::make_unique<NullDataModel>(std::static_pointer_cast<const NullCompiled>(code), host);
}

}  // namespace orch::scxml
