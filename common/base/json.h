#pragma once

#include <string>
#include <string_view>

namespace orch {

// Appends `s` to `out` as a JSON string literal (with the quotes). Control
// characters are escaped; bytes that are not valid UTF-8 become U+FFFD, so
// the output is always valid JSON whatever the input.
void AppendJsonString(std::string* out, std::string_view s);

// The same, returned.
std::string JsonString(std::string_view s);

}  // namespace orch
