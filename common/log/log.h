#pragma once

// Structured logs: one JSON object per line on stderr.
//
//   {"ts":"2026-11-23T10:49:58.123Z","level":"info","process":"session-engine",
//    "node":"1","msg":"session started","session":"~1~0A..."}
//
// `process` and `node` come from Configure(); every other field is given at
// the call site. The field name for a session id is "session". Thread-safe:
// each line is formatted first and written with one write(2).

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace orch::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// "debug", "info", "warn", "error".
absl::StatusOr<Level> ParseLevel(std::string_view name);
std::string_view LevelName(Level level);

// One field value: a string, an integer, a boolean or a double, rendered as
// the matching JSON type.
class Value {
 public:
  Value(std::string_view s) : kind_(Kind::kString), s_(s) {}         // NOLINT
  Value(const char* s) : kind_(Kind::kString), s_(s) {}              // NOLINT
  Value(const std::string& s) : kind_(Kind::kString), s_(s) {}       // NOLINT
  Value(bool b) : kind_(Kind::kBool), i_(b) {}                       // NOLINT
  Value(int i) : kind_(Kind::kInt), i_(i) {}                         // NOLINT
  Value(long i) : kind_(Kind::kInt), i_(i) {}                        // NOLINT
  Value(long long i) : kind_(Kind::kInt), i_(i) {}                   // NOLINT
  Value(unsigned i) : kind_(Kind::kUint), u_(i) {}                   // NOLINT
  Value(unsigned long i) : kind_(Kind::kUint), u_(i) {}              // NOLINT
  Value(unsigned long long i) : kind_(Kind::kUint), u_(i) {}         // NOLINT
  Value(double d) : kind_(Kind::kDouble), d_(d) {}                   // NOLINT
  void AppendJson(std::string* out) const;

 private:
  enum class Kind { kString, kBool, kInt, kUint, kDouble };
  Kind kind_;
  std::string_view s_;
  int64_t i_ = 0;
  uint64_t u_ = 0;
  double d_ = 0;
};

struct Field {
  std::string_view key;
  Value value;
};

// Sets the fields every line carries and the minimum level. Call once at
// start-up, before other threads log.
void Configure(std::string process, std::string node, Level min_level);
void SetLevel(Level min_level);
bool Enabled(Level level);

// Replaces stderr as the destination (nullptr restores it). For tests.
void SetSinkForTesting(std::function<void(std::string_view line)> sink);

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});
// The line Write would emit, without the trailing newline.
std::string Format(Level level, std::string_view msg, std::initializer_list<Field> fields);

inline void Debug(std::string_view msg, std::initializer_list<Field> fields = {}) {
  if (Enabled(Level::kDebug)) Write(Level::kDebug, msg, fields);
}
inline void Info(std::string_view msg, std::initializer_list<Field> fields = {}) {
  Write(Level::kInfo, msg, fields);
}
inline void Warn(std::string_view msg, std::initializer_list<Field> fields = {}) {
  Write(Level::kWarn, msg, fields);
}
inline void Error(std::string_view msg, std::initializer_list<Field> fields = {}) {
  Write(Level::kError, msg, fields);
}

}  // namespace orch::log
