#include "common/js/code_text.h"

#include <string>

#include "absl/strings/ascii.h"

namespace orch::js {
namespace {

constexpr const char* kReservedWords[] = {
    "break",      "case",      "catch",   "class",     "const",   "continue",  "debugger",
    "default",    "delete",    "do",      "else",      "enum",    "export",    "extends",
    "false",      "finally",   "for",     "function",  "if",      "import",    "in",
    "instanceof", "new",       "null",    "return",    "super",   "switch",    "this",
    "throw",      "true",      "try",     "typeof",    "var",     "void",      "while",
    "with",       "yield",     "let",     "static",    "implements", "interface", "package",
    "private",    "protected", "public",
};

bool IsReservedWord(std::string_view word) {
  for (const char* r : kReservedWords) {
    if (word == r) return true;
  }
  return false;
}

bool IsIdentifierStart(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' || c >= 0x80;
}
bool IsIdentifierPart(unsigned char c) { return IsIdentifierStart(c) || (c >= '0' && c <= '9'); }

// Length of the IdentifierName at the start of `s`, or 0.
size_t IdentifierLength(std::string_view s) {
  if (s.empty() || !IsIdentifierStart(static_cast<unsigned char>(s[0]))) return 0;
  size_t n = 1;
  while (n < s.size() && IsIdentifierPart(static_cast<unsigned char>(s[n]))) ++n;
  return n;
}

// Skips a balanced (...) or [...] starting at s[i] (the opener); returns the
// index after the closer, or npos. Strings and nesting are honoured.
size_t SkipBalanced(std::string_view s, size_t i) {
  std::string stack;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\'' || c == '"') {
      for (++i; i < s.size() && s[i] != c; ++i) {
        if (s[i] == '\\') ++i;
      }
      if (i >= s.size()) return std::string_view::npos;
    } else if (c == '(' || c == '[' || c == '{') {
      stack.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    } else if (c == ')' || c == ']' || c == '}') {
      if (stack.empty() || stack.back() != c) return std::string_view::npos;
      stack.pop_back();
      if (stack.empty()) return i + 1;
    }
  }
  return std::string_view::npos;
}

}  // namespace

std::string_view TrimExpression(std::string_view text) {
  absl::string_view t = absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size()));
  // expr="new Foo();" is common in documents: a trailing ';' is not part of
  // the expression.
  while (!t.empty() && t.back() == ';') {
    t.remove_suffix(1);
    t = absl::StripTrailingAsciiWhitespace(t);
  }
  return std::string_view(t.data(), t.size());
}

bool FusableText(std::string_view t, bool location) {
  if (t.empty()) return false;
  for (std::string_view word : {"function", "arguments", "eval", "delete", "with", "yield"}) {
    if (t.find(word) != std::string_view::npos) return false;
  }
  if (location && t.find("this") != std::string_view::npos) return false;
  int depth = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    switch (c) {
      case ';': case '/': case '`': case '{': case '}': case '\\':
        return false;
      case '\'': case '"': {
        size_t j = i + 1;
        while (j < t.size() && t[j] != c) {
          if (t[j] == '\\' || t[j] == '\n') return false;
          ++j;
        }
        if (j >= t.size()) return false;
        i = j;
        break;
      }
      case '(': case '[':
        ++depth;
        break;
      case ')': case ']':
        if (--depth < 0) return false;
        break;
      case '+': case '-':
        if (i + 1 < t.size() && t[i + 1] == c) return false;
        break;
      case '=': {
        // Only ==, ===, !=, !==, <=, >= (not <<=, >>=, >>>=, +=, ...).
        char prev = i > 0 ? t[i - 1] : ' ';
        char next = i + 1 < t.size() ? t[i + 1] : ' ';
        if (next == '=') {
          i += (i + 2 < t.size() && t[i + 2] == '=') ? 2 : 1;
          break;
        }
        if (prev == '!' || prev == '=') break;
        if ((prev == '<' || prev == '>') && (i < 2 || (t[i - 2] != '<' && t[i - 2] != '>'))) break;
        return false;
      }
      default:
        break;
    }
  }
  return depth == 0;
}

bool IsValidVariableName(std::string_view text) {
  return !text.empty() && IdentifierLength(text) == text.size() && !IsReservedWord(text);
}

bool IsAssignableLocation(std::string_view text) {
  auto skip_space = [&](size_t i) {
    while (i < text.size() && absl::ascii_isspace(static_cast<unsigned char>(text[i]))) ++i;
    return i;
  };
  size_t i = skip_space(0);
  size_t n = IdentifierLength(text.substr(i));
  if (n == 0) return false;
  std::string_view first = text.substr(i, n);
  if (IsReservedWord(first) && first != "this") return false;
  bool ends_in_call = false;
  bool is_bare_this = first == "this";
  for (i = skip_space(i + n); i < text.size(); i = skip_space(i)) {
    is_bare_this = false;
    char c = text[i];
    if (c == '.') {
      i = skip_space(i + 1);
      n = IdentifierLength(text.substr(i));
      if (n == 0) return false;
      i += n;
      ends_in_call = false;
    } else if (c == '[' || c == '(') {
      i = SkipBalanced(text, i);
      if (i == std::string_view::npos) return false;
      ends_in_call = c == '(';
    } else {
      return false;
    }
  }
  return !ends_in_call && !is_bare_this;
}

}  // namespace orch::js
