#pragma once

#include <string>
#include <string_view>

namespace orch::js {

// Duktape keeps strings as CESU-8 ("extended UTF-8"): a character outside the
// BMP that was built from UTF-16 code units in JavaScript ("\uD83D\uDE00")
// is stored as two 3-byte surrogate encodings, which is not valid UTF-8.
// Converts such pairs into one 4-byte UTF-8 sequence and lone surrogates into
// U+FFFD, so text leaving the data model is valid UTF-8. Other bytes are kept.
std::string CesuToUtf8(std::string_view s);

}  // namespace orch::js
