#pragma once

// UTF-8 validation, as protobuf string fields and JSON require: no overlong
// forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF.

#include <cstddef>
#include <string_view>

namespace orch {

// Whether `s` is well-formed UTF-8. ASCII runs are checked eight bytes at a
// time (event fields and log text are mostly ASCII).
bool IsValidUtf8(std::string_view s);

// The length (1 to 4) of the well-formed UTF-8 sequence that starts at s[i],
// or 0 when none does there. `i` must be < s.size().
size_t Utf8SequenceLength(std::string_view s, size_t i);

}  // namespace orch
