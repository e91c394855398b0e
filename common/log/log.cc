#include "common/log/log.h"

#include <unistd.h>

#include <atomic>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/base/json.h"

namespace orch::log {
namespace {

struct State {
  absl::Mutex mu;
  std::string process = "orch";
  std::string node;
  std::function<void(std::string_view)> sink;
};

State& GetState() {
  static State* state = new State();  // never destroyed: logging works during exit
  return *state;
}

std::atomic<int> g_min_level{static_cast<int>(Level::kInfo)};

}  // namespace

absl::StatusOr<Level> ParseLevel(std::string_view name) {
  if (name == "debug") return Level::kDebug;
  if (name == "info") return Level::kInfo;
  if (name == "warn") return Level::kWarn;
  if (name == "error") return Level::kError;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown log level '", absl::string_view(name.data(), name.size()),
                   "': one of debug, info, warn, error"));
}

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "?";
}

void Value::AppendJson(std::string* out) const {
  switch (kind_) {
    case Kind::kString: AppendJsonString(out, s_); break;
    case Kind::kBool: out->append(i_ ? "true" : "false"); break;
    case Kind::kInt: absl::StrAppend(out, i_); break;
    case Kind::kUint: absl::StrAppend(out, u_); break;
    case Kind::kDouble:
      if (std::isfinite(d_)) {
        absl::StrAppend(out, d_);
      } else {
        out->append("null");  // JSON has no NaN or infinity
      }
      break;
  }
}

void Configure(std::string process, std::string node, Level min_level) {
  State& s = GetState();
  absl::MutexLock lock(&s.mu);
  s.process = std::move(process);
  s.node = std::move(node);
  g_min_level.store(static_cast<int>(min_level));
}

void SetLevel(Level min_level) { g_min_level.store(static_cast<int>(min_level)); }

bool Enabled(Level level) { return static_cast<int>(level) >= g_min_level.load(std::memory_order_relaxed); }

void SetSinkForTesting(std::function<void(std::string_view)> sink) {
  State& s = GetState();
  absl::MutexLock lock(&s.mu);
  s.sink = std::move(sink);
}

std::string Format(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  State& s = GetState();
  std::string line;
  line.reserve(160 + msg.size());
  line.append("{\"ts\":\"");
  line.append(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()));
  line.append("\",\"level\":\"");
  line.append(LevelName(level));
  line.append("\",\"process\":");
  {
    absl::MutexLock lock(&s.mu);
    AppendJsonString(&line, s.process);
    line.append(",\"node\":");
    AppendJsonString(&line, s.node);
  }
  line.append(",\"msg\":");
  AppendJsonString(&line, msg);
  for (const Field& f : fields) {
    line.push_back(',');
    AppendJsonString(&line, f.key);
    line.push_back(':');
    f.value.AppendJson(&line);
  }
  line.push_back('}');
  return line;
}

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
  std::string line = Format(level, msg, fields);
  State& s = GetState();
  {
    absl::MutexLock lock(&s.mu);
    if (s.sink) {
      s.sink(line);
      return;
    }
  }
  line.push_back('\n');
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(2, p, left);
    if (n <= 0) return;  // nowhere left to report a failing stderr
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace orch::log
