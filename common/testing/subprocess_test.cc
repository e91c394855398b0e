#include "common/testing/subprocess.h"

#include <signal.h>
#include <sys/wait.h>

#include "common/testing/status_matchers.h"
#include "gtest/gtest.h"

namespace orch::testing {
namespace {

TEST(SubprocessTest, CapturesOutputAndExitCode) {
  std::string out, err;
  auto status = RunProgram({"/bin/sh", "-c", "cat; echo oops >&2; exit 3"}, "hello", &out, &err);
  ASSERT_OK(status);
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 3);
  EXPECT_EQ(out, "hello");
  EXPECT_EQ(err, "oops\n");
}

TEST(SubprocessTest, ReadLineWaitsAndTimesOut) {
  auto child = Subprocess::Start({.argv = {"/bin/sh", "-c", "echo one >&2; echo two >&2; exec sleep 30"}});
  ASSERT_OK(child);
  EXPECT_THAT((*child)->ReadLine(Subprocess::Stream::kStderr, absl::Seconds(5)), IsOkAndHolds("one"));
  EXPECT_THAT((*child)->ReadLine(Subprocess::Stream::kStderr, absl::Seconds(5)), IsOkAndHolds("two"));
  EXPECT_THAT((*child)->ReadLine(Subprocess::Stream::kStderr, absl::Milliseconds(50)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT((*child)->Wait(absl::Milliseconds(20)), StatusIs(absl::StatusCode::kDeadlineExceeded));
  ASSERT_OK((*child)->Signal(SIGTERM));
  auto st = (*child)->Wait(absl::Seconds(5));
  ASSERT_OK(st);
  EXPECT_TRUE(WIFSIGNALED(*st));
  EXPECT_EQ(WTERMSIG(*st), SIGTERM);
}

TEST(SubprocessTest, EnvironmentIsPassed) {
  auto child = Subprocess::Start({.argv = {"/bin/sh", "-c", "echo \"$ORCH_X-$HOME\""},
                                  .env = {{"ORCH_X", "x y"}},
                                  .unset_env = {"HOME"}});
  ASSERT_OK(child);
  EXPECT_THAT((*child)->ReadLine(Subprocess::Stream::kStdout, absl::Seconds(5)), IsOkAndHolds("x y-"));
}

TEST(SubprocessTest, DestructorKillsRunningChild) {
  pid_t pid;
  {
    auto child = Subprocess::Start({.argv = {"/bin/sleep", "30"}});
    ASSERT_OK(child);
    pid = (*child)->pid();
  }
  EXPECT_NE(::kill(pid, 0), 0);  // reaped: the pid no longer exists
}

}  // namespace
}  // namespace orch::testing
