#include "common/base/file.h"

#include <sys/stat.h>
#include <unistd.h>

#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gtest/gtest.h"

namespace orch {
namespace {

using ::orch::testing::IsOkAndHolds;
using ::orch::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ReadFileTest, ReadsContent) {
  testing::TempDir dir;
  std::string path = dir.WriteFile("a.txt", "hello\n");
  EXPECT_THAT(ReadFile(path), IsOkAndHolds("hello\n"));
}

TEST(ReadFileTest, ErrorsNameThePathAndReason) {
  testing::TempDir dir;
  EXPECT_THAT(ReadFile(dir.path() + "/missing"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing': No such file")));
  EXPECT_THAT(ReadFile(dir.path()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is a directory")));
  std::string big = dir.WriteFile("big", std::string(100, 'x'));
  EXPECT_THAT(ReadFile(big, 10), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("larger")));
  if (::geteuid() != 0) {  // root reads anything
    std::string locked = dir.WriteFile("locked", "x");
    ::chmod(locked.c_str(), 0);
    EXPECT_THAT(ReadFile(locked), StatusIs(absl::StatusCode::kPermissionDenied));
  }
}

}  // namespace
}  // namespace orch
