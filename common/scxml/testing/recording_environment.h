#pragma once

// Test support for the interpreter (unit tests, the replay test, the fuzz
// targets, benchmarks; never linked into a process): an environment that
// records what sessions do and reaches nothing outside them, the ECMAScript
// factory and options most tests want, and a driver that advances a session's
// clock.

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/js/ecmascript_data_model.h"
#include "common/scxml/compiler.h"
#include "common/scxml/interpreter.h"

namespace orch::scxml {

// Records <log> and external sends; every external send is refused
// (UNAVAILABLE, so the sender gets error.communication). <invoke src> is
// answered from `documents`, <invoke><content> is compiled with the options
// given at construction.
//
// Not thread-safe, like the sessions it serves.
class RecordingEnvironment : public InterpreterEnvironment {
 public:
  explicit RecordingEnvironment(CompileOptions compile = CompileOptions()) : compile_(std::move(compile)) {}

  void Log(const Interpreter& session, std::string_view label, std::string_view value_json) override;
  absl::Status SendExternal(const Interpreter& from, const std::string& target, const std::string& type,
                            const Event& event) override;
  absl::StatusOr<std::shared_ptr<const Document>> LoadDocument(const std::string& src,
                                                               const std::string& base) override;
  absl::StatusOr<std::shared_ptr<const Document>> CompileSource(const std::string& source,
                                                                const std::string& name) override;

  // Adds a line of the caller's own to `transcript` (e.g. the configuration
  // after each step), within max_recorded_bytes.
  void Append(absl::string_view text);

  // Logs of `root_session` are not prefixed.
  std::string root_session = "s";
  // "label=value" per <log>; "<session>: label=value" for other sessions
  // (invoked children).
  std::vector<std::string> logs;
  // "<target> <event name>" per refused external send.
  std::vector<std::string> external;
  // Both, in order, one line each with everything known:
  //   log <session> <label>=<value>
  //   external <session> -> <target> (<type>) <name> <data>
  std::string transcript;
  // Once this many bytes went into logs, external and transcript together,
  // nothing more is recorded: fuzzers and benchmarks bound their memory
  // with it (0: record nothing).
  size_t max_recorded_bytes = std::numeric_limits<size_t>::max();
  // Answers LoadDocument by `src` (NOT_FOUND for others).
  std::map<std::string, std::shared_ptr<const Document>> documents;

 private:
  // Whether `bytes` more may be recorded (and counts them if so).
  bool Room(size_t bytes);

  CompileOptions compile_;
  size_t recorded_bytes_ = 0;
};

// A process-wide ECMAScript data model factory with default options.
js::EcmascriptDataModelFactory* EcmascriptFactory();
// CompileOptions whose ecmascript is EcmascriptFactory().
CompileOptions EcmascriptCompileOptions();
// InterpreterOptions for session `id` whose ecmascript is EcmascriptFactory().
InterpreterOptions EcmascriptSessionOptions(std::string id);

// Runs `session` until it is idle, at most `max_rounds` calls of
// RunUntilIdle(`max_steps`) (a chart that never settles must not hang a test).
void Settle(Interpreter* session, size_t max_rounds = 100, size_t max_steps = 100000);

// Moves the session clock `ms` ahead, firing each due delayed send at its
// own due time (at most `max_fires` times, then the rest at the end) and
// settling after each.
void AdvanceClock(Interpreter* session, int64_t ms, size_t max_fires = 1000, size_t max_rounds = 100,
                  size_t max_steps = 100000);

}  // namespace orch::scxml
