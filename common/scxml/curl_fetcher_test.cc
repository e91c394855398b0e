#include "common/scxml/curl_fetcher.h"

#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gtest/gtest.h"

namespace orch::scxml {
namespace {

using ::orch::testing::IsOkAndHolds;
using ::orch::testing::StatusIs;
using ::testing::HasSubstr;

TEST(CurlFetcherTest, ResolvesAgainstTheBase) {
  EXPECT_EQ(CurlFetcher::Resolve("b.scxml", "/charts/a.scxml"), "/charts/b.scxml");
  EXPECT_EQ(CurlFetcher::Resolve("sub/b.scxml", "file:/charts/a.scxml"), "/charts/sub/b.scxml");
  EXPECT_EQ(CurlFetcher::Resolve("file:///abs/b.scxml", "/charts/a.scxml"), "/abs/b.scxml");
  EXPECT_EQ(CurlFetcher::Resolve("b.scxml", "a.scxml"), "b.scxml");
  EXPECT_EQ(CurlFetcher::Resolve("b.scxml", "http://host/charts/a.scxml"), "http://host/charts/b.scxml");
  EXPECT_EQ(CurlFetcher::Resolve("https://other/x.scxml", "/charts/a.scxml"), "https://other/x.scxml");
}

TEST(CurlFetcherTest, ReadsFilesAndSaysWhatIsMissing) {
  testing::TempDir dir;
  const std::string a = dir.WriteFile("a.scxml", "<scxml/>");
  dir.WriteFile("b.js", "var x = 1;");
  CurlFetcher fetcher;
  EXPECT_THAT(fetcher.Fetch("b.js", a), IsOkAndHolds("var x = 1;"));
  EXPECT_THAT(fetcher.Fetch("file://" + a, ""), IsOkAndHolds("<scxml/>"));
  EXPECT_THAT(fetcher.Fetch("missing.js", a), StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing.js")));
}

TEST(CurlFetcherTest, UnreachableHttpIsUnavailable) {
  CurlFetcher fetcher;
  EXPECT_THAT(fetcher.Fetch("http://127.0.0.1:1/x.scxml", ""),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("127.0.0.1:1")));
}

}  // namespace
}  // namespace orch::scxml
