#include "common/testing/subprocess.h"

#include <regex>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace orch::testing {
namespace {

absl::Status Errno(const char* what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(const Options& options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("empty argv");
  // Everything exec needs is built before fork: the child may only make
  // async-signal-safe calls.
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq != nullptr) env[std::string(*e, eq - *e)] = eq + 1;
  }
  for (const auto& name : options.unset_env) env.erase(name);
  for (const auto& [k, v] : options.env) env[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = options.argv;
  std::vector<char*> argv;
  for (auto& s : argv_copy) argv.push_back(s.data());
  argv.push_back(nullptr);

  int in[2] = {-1, -1}, out[2], err[2];
  if (options.pipe_stdin && ::pipe2(in, O_CLOEXEC) != 0) return Errno("pipe2");
  if (::pipe2(out, O_CLOEXEC) != 0) return Errno("pipe2");
  if (::pipe2(err, O_CLOEXEC) != 0) return Errno("pipe2");
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);

  pid_t pid = ::fork();
  if (pid < 0) return Errno("fork");
  if (pid == 0) {
    sigset_t all;
    sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::dup2(options.pipe_stdin ? in[0] : devnull, 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::execve(argv[0], argv.data(), envp.data());
    static const char kMsg[] = "Subprocess: execve failed\n";
    (void)!::write(2, kMsg, sizeof kMsg - 1);
    ::_exit(127);
  }
  ::close(devnull);
  ::close(out[1]);
  ::close(err[1]);
  auto p = std::unique_ptr<Subprocess>(new Subprocess());
  p->pid_ = pid;
  p->fds_[0] = out[0];
  p->fds_[1] = err[0];
  if (options.pipe_stdin) {
    ::close(in[0]);
    p->stdin_fd_ = in[1];
  }
  return p;
}

Subprocess::~Subprocess() {
  if (!exited_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  CloseStdin();
  for (int& fd : fds_) {
    if (fd >= 0) ::close(fd);
  }
}

absl::Status Subprocess::WriteStdin(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(stdin_fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("write to child stdin");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

void Subprocess::CloseStdin() {
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
  stdin_fd_ = -1;
}

bool Subprocess::Fill(Stream stream, absl::Duration timeout) {
  int& fd = fds_[static_cast<int>(stream)];
  if (fd < 0) return false;
  pollfd p{fd, POLLIN, 0};
  int ms = static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(timeout)));
  int r = ::poll(&p, 1, ms);
  if (r <= 0) return true;  // timeout (or EINTR): not at EOF
  char buf[8192];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n <= 0) {
    if (n < 0 && errno == EINTR) return true;
    ::close(fd);
    fd = -1;
    return false;
  }
  buffers_[static_cast<int>(stream)].append(buf, static_cast<size_t>(n));
  return true;
}

absl::StatusOr<std::string> Subprocess::ReadLine(Stream stream, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string& buf = buffers_[static_cast<int>(stream)];
  for (;;) {
    size_t nl = buf.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      return line;
    }
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(absl::StrCat("no line within ", absl::FormatDuration(timeout),
                                                      "; partial: ", buf));
    }
    if (!Fill(stream, left)) {
      if (buf.empty()) return absl::OutOfRangeError("end of stream");
      std::string line = std::move(buf);
      buf.clear();
      return line;
    }
  }
}

absl::Status Subprocess::ReadUntilEof(absl::Duration timeout, std::string* out, std::string* err) {
  const absl::Time deadline = absl::Now() + timeout;
  while (fds_[0] >= 0 || fds_[1] >= 0) {
    if (absl::Now() >= deadline) return absl::DeadlineExceededError("child output not closed in time");
    pollfd p[2];
    int n = 0;
    for (int i = 0; i < 2; ++i) {
      if (fds_[i] >= 0) p[n++] = pollfd{fds_[i], POLLIN, 0};
    }
    int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now())) + 1;
    if (::poll(p, n, ms) <= 0) continue;
    for (int i = 0; i < n; ++i) {
      if (p[i].revents == 0) continue;
      Stream s = p[i].fd == fds_[0] ? Stream::kStdout : Stream::kStderr;
      Fill(s, absl::ZeroDuration());
    }
  }
  if (out != nullptr) *out = std::move(buffers_[0]);
  if (err != nullptr) *err = std::move(buffers_[1]);
  buffers_[0].clear();
  buffers_[1].clear();
  return absl::OkStatus();
}

absl::Status Subprocess::Signal(int sig) {
  if (exited_) return absl::FailedPreconditionError("child already exited");
  if (::kill(pid_, sig) != 0) return Errno("kill");
  return absl::OkStatus();
}

absl::StatusOr<int> Subprocess::Wait(absl::Duration timeout) {
  if (exited_) return wait_status_;
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    int status;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      wait_status_ = status;
      return status;
    }
    if (r < 0 && errno != EINTR) return Errno("waitpid");
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("pid ", pid_, " still running after ", absl::FormatDuration(timeout)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

absl::StatusOr<int> RunProgram(const std::vector<std::string>& argv, const std::string& input,
                               std::string* out, std::string* err, absl::Duration timeout) {
  Subprocess::Options options;
  options.argv = argv;
  options.pipe_stdin = true;
  auto child = Subprocess::Start(options);
  if (!child.ok()) return child.status();
  // Write then close stdin; inputs here are small enough for the pipe buffer
  // or read promptly by the child.
  if (auto s = (*child)->WriteStdin(input); !s.ok()) return s;
  (*child)->CloseStdin();
  if (auto s = (*child)->ReadUntilEof(timeout, out, err); !s.ok()) return s;
  return (*child)->Wait(timeout);
}

std::vector<std::string> OrchEnvironmentVariables() {
  std::vector<std::string> names;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view v(*e);
    if (v.substr(0, 5) == "ORCH_") names.emplace_back(v.substr(0, v.find('=')));
  }
  return names;
}

std::string LogLineField(const std::string& json_line, const std::string& key) {
  std::smatch m;
  if (std::regex_search(json_line, m, std::regex("\"" + key + "\":\"([^\"]*)\""))) return m[1];
  return "";
}

}  // namespace orch::testing
