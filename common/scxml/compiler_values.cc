// The seam values (data_model.h) of text and markup written in a document:
// ContentTextToJson, MarkupValue, DataTextToValue, and IsJson with its
// syntax checker (compiler.h).

#include <string>
#include <string_view>

#include "absl/strings/ascii.h"
#include "common/base/json.h"
#include "common/scxml/compiler.h"

namespace orch::scxml {
namespace {

// ---- JSON syntax check (no values built) ----
struct JsonChecker {
  std::string_view s;
  size_t i = 0;
  int depth = 0;
  void Ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  }
  bool Lit(std::string_view w) {
    if (s.substr(i, w.size()) != w) return false;
    i += w.size();
    return true;
  }
  bool String() {
    if (i >= s.size() || s[i] != '"') return false;
    ++i;
    while (i < s.size()) {
      char c = s[i++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c == '\\') {
        if (i >= s.size()) return false;
        char e = s[i++];
        if (e == 'u') {
          for (int k = 0; k < 4; ++k, ++i) {
            if (i >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
          }
        } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
          return false;
        }
      }
    }
    return false;
  }
  bool Number() {
    size_t start = i;
    if (i < s.size() && s[i] == '-') ++i;
    if (i >= s.size()) return false;
    if (s[i] == '0') {
      ++i;
    } else if (std::isdigit(static_cast<unsigned char>(s[i]))) {
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    } else {
      return false;
    }
    if (i < s.size() && s[i] == '.') {
      ++i;
      if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) return false;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    }
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
      ++i;
      if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
      if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) return false;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    }
    return i > start;
  }
  bool Value() {
    if (++depth > 256) return false;
    Ws();
    if (i >= s.size()) return false;
    bool ok;
    switch (s[i]) {
      case '{': {
        ++i;
        Ws();
        if (i < s.size() && s[i] == '}') {
          ++i;
          ok = true;
          break;
        }
        ok = false;
        while (true) {
          Ws();
          if (!String()) break;
          Ws();
          if (i >= s.size() || s[i] != ':') break;
          ++i;
          if (!Value()) break;
          Ws();
          if (i < s.size() && s[i] == ',') {
            ++i;
            continue;
          }
          if (i < s.size() && s[i] == '}') {
            ++i;
            ok = true;
          }
          break;
        }
        break;
      }
      case '[': {
        ++i;
        Ws();
        if (i < s.size() && s[i] == ']') {
          ++i;
          ok = true;
          break;
        }
        ok = false;
        while (true) {
          if (!Value()) break;
          Ws();
          if (i < s.size() && s[i] == ',') {
            ++i;
            continue;
          }
          if (i < s.size() && s[i] == ']') {
            ++i;
            ok = true;
          }
          break;
        }
        break;
      }
      case '"': ok = String(); break;
      case 't': ok = Lit("true"); break;
      case 'f': ok = Lit("false"); break;
      case 'n': ok = Lit("null"); break;
      default: ok = Number();
    }
    --depth;
    return ok;
  }
};

}  // namespace

std::string MarkupValue(const XmlElement& parent) {
  std::string markup;
  int elements = 0;
  for (const auto& c : parent.children) {
    if (c.element) {
      markup += c.element->Serialize();
      ++elements;
    }
  }
  // One element: an XML value (a DOM in the ECMAScript data model). Several
  // have no single root: a string of their markup, as before.
  return elements == 1 ? markup : JsonString(markup);
}

std::string DataTextToValue(std::string_view text) {
  absl::string_view t = absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size()));
  if (!t.empty() && t.front() == '<') return std::string(t);
  return ContentTextToJson(text);
}

bool IsJson(std::string_view text) {
  JsonChecker c{text};
  if (!c.Value()) return false;
  c.Ws();
  return c.i == text.size();
}

std::string ContentTextToJson(std::string_view text) {
  absl::string_view t = absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size()));
  if (!t.empty() && IsJson(std::string_view(t.data(), t.size()))) return std::string(t);
  std::string normalized;
  bool space = false;
  for (char c : t) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = true;
    } else {
      if (space && !normalized.empty()) normalized.push_back(' ');
      space = false;
      normalized.push_back(c);
    }
  }
  return JsonString(normalized);
}

}  // namespace orch::scxml
