#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace orch::testing {

// A child process for integration tests: started with fork/exec, its stdin,
// stdout and stderr on pipes, stopped by PID. The destructor SIGKILLs and
// reaps a child that is still running, so a failing test leaves no process
// behind. Not thread-safe.
class Subprocess {
 public:
  struct Options {
    std::vector<std::string> argv;              // argv[0] is the program path
    std::map<std::string, std::string> env;     // added to (or replacing in) ours
    std::vector<std::string> unset_env;         // removed from ours
    bool pipe_stdin = false;                    // otherwise /dev/null
  };
  enum class Stream { kStdout, kStderr };

  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(const Options& options);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const { return !exited_; }

  absl::Status WriteStdin(std::string_view data);
  void CloseStdin();

  // The next complete line (without '\n') of `stream`. DEADLINE_EXCEEDED when
  // none arrives within `timeout`, OUT_OF_RANGE at end of stream.
  absl::StatusOr<std::string> ReadLine(Stream stream, absl::Duration timeout);
  // Everything the child writes on both streams until it closes them, or
  // DEADLINE_EXCEEDED. Already-buffered partial output is included.
  absl::Status ReadUntilEof(absl::Duration timeout, std::string* out, std::string* err);

  absl::Status Signal(int sig);
  // Waits for exit and returns the raw wait status (use WIFEXITED etc.).
  // DEADLINE_EXCEEDED if the child is still running after `timeout`.
  absl::StatusOr<int> Wait(absl::Duration timeout);

 private:
  Subprocess() = default;
  // Reads what is available on the fd of `stream` into its buffer, waiting at
  // most `timeout`. Returns false at EOF.
  bool Fill(Stream stream, absl::Duration timeout);

  pid_t pid_ = -1;
  bool exited_ = false;
  int wait_status_ = 0;
  int stdin_fd_ = -1;
  int fds_[2] = {-1, -1};
  std::string buffers_[2];
};

// Names of the ORCH_* variables of this process's environment: a test
// passes them as Options::unset_env, so that the machine running the tests
// cannot change what a child process is configured with.
std::vector<std::string> OrchEnvironmentVariables();

// The string value of "key" in one JSON log line ("" when absent), e.g. the
// addresses of a process's "serving" line.
std::string LogLineField(const std::string& json_line, const std::string& key);

// Runs a program to completion with `input` on its stdin; returns its wait
// status and fills stdout/stderr.
absl::StatusOr<int> RunProgram(const std::vector<std::string>& argv, const std::string& input,
                               std::string* out, std::string* err,
                               absl::Duration timeout = absl::Seconds(60));

}  // namespace orch::testing
