#include "common/js/utf8.h"

#include <cstdint>

namespace orch::js {
namespace {

// The UTF-16 surrogate encoded at s[i] (ED A0..BF xx), or 0.
uint32_t SurrogateAt(std::string_view s, size_t i) {
  if (i + 3 > s.size()) return 0;
  auto b0 = static_cast<uint8_t>(s[i]);
  auto b1 = static_cast<uint8_t>(s[i + 1]);
  auto b2 = static_cast<uint8_t>(s[i + 2]);
  if (b0 != 0xED || b1 < 0xA0 || b1 > 0xBF || (b2 & 0xC0) != 0x80) return 0;
  return 0xD000u | (static_cast<uint32_t>(b1 & 0x3F) << 6) | (b2 & 0x3F);
}

}  // namespace

std::string CesuToUtf8(std::string_view s) {
  if (s.find('\xED') == std::string_view::npos) return std::string(s);
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    uint32_t hi = SurrogateAt(s, i);
    if (hi == 0) {
      out.push_back(s[i++]);
      continue;
    }
    uint32_t lo = hi <= 0xDBFF ? SurrogateAt(s, i + 3) : 0;
    if (lo >= 0xDC00 && lo <= 0xDFFF) {
      uint32_t cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      i += 6;
    } else {
      out.append("\xEF\xBF\xBD");  // lone surrogate
      i += 3;
    }
  }
  return out;
}

}  // namespace orch::js
