#pragma once

// The delay of a <send>, one rule for delay="..." (checked when the document
// compiles) and for the value of delayexpr (checked when the <send> runs,
// where a bad value raises error.execution):
//
//  - ASCII whitespace around the value is ignored;
//  - then a CSS2 time, as the W3C tests write them ("1s", ".5s", "1.5s",
//    "500ms"): digits with an optional fraction, or a fraction alone, then
//    the unit "ms" or "s" (lower case). No sign, exponent, "inf" or "nan";
//  - rounded to the nearest millisecond, and at most kMaxDelayMs.

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace orch::scxml {

// About 31.7 years: longer delays are refused, not capped, so that a chart
// with a runaway delayexpr is told so.
inline constexpr int64_t kMaxDelayMs = 1'000'000'000'000;

// The delay in milliseconds; INVALID_ARGUMENT quoting the value (its first
// 64 bytes) and saying what is allowed otherwise.
absl::StatusOr<int64_t> ParseDelay(std::string_view text);

}  // namespace orch::scxml
