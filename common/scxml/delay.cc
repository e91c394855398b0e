#include "common/scxml/delay.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace orch::scxml {
namespace {

std::string Quoted(absl::string_view text) {
  constexpr size_t kMaxEcho = 64;
  if (text.size() <= kMaxEcho) return absl::StrCat("'", text, "'");
  return absl::StrCat("'", text.substr(0, kMaxEcho), "...' (", text.size(), " bytes)");
}

bool IsDigits(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// [0-9]+ | [0-9]* "." [0-9]+
bool IsCss2Number(absl::string_view s) {
  const size_t dot = s.find('.');
  if (dot == absl::string_view::npos) return !s.empty() && IsDigits(s);
  return IsDigits(s.substr(0, dot)) && dot + 1 < s.size() && IsDigits(s.substr(dot + 1));
}

}  // namespace

absl::StatusOr<int64_t> ParseDelay(std::string_view text) {
  const absl::string_view original(text.data(), text.size());
  absl::string_view t = absl::StripAsciiWhitespace(original);
  double factor = 0;
  if (absl::ConsumeSuffix(&t, "ms")) {
    factor = 1;
  } else if (absl::ConsumeSuffix(&t, "s")) {
    factor = 1000;
  }
  double number = 0;
  if (factor == 0 || !IsCss2Number(t) || !absl::SimpleAtod(t, &number)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quoted(original), " is not a time such as 500ms, 2s or .5s"));
  }
  const double ms = std::round(number * factor);
  if (ms > static_cast<double>(kMaxDelayMs)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quoted(original), " is longer than the limit of ", kMaxDelayMs, " ms"));
  }
  return static_cast<int64_t>(ms);
}

}  // namespace orch::scxml
