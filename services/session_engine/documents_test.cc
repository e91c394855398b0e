#include "services/session_engine/documents.h"

#include "common/js/ecmascript_data_model.h"
#include "common/scxml/curl_fetcher.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/session_engine/fake_session_store.h"

namespace orch::session_engine {
namespace {

using ::orch::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kChart[] = R"(<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" initial="a">
  <state id="a"/>
</scxml>)";

class DocumentCacheTest : public ::testing::Test {
 protected:
  DocumentCache Cache() {
    scxml::CompileOptions o;
    o.ecmascript = &factory_;
    o.fetcher = &fetcher_;
    return DocumentCache(o, &store_, DocumentCache::Options{});
  }
  js::EcmascriptDataModelFactory factory_;
  scxml::CurlFetcher fetcher_;
  FakeSessionStore store_;
  testing::TempDir dir_;
};

TEST_F(DocumentCacheTest, CompilesOncePerUrlAndPerContent) {
  DocumentCache cache = Cache();
  const std::string url = "file://" + dir_.WriteFile("a.scxml", kChart);
  auto a = cache.FromUrl(url);
  auto b = cache.FromUrl(url);
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_EQ(a->get(), b->get());
  EXPECT_EQ(cache.fetches(), 1u);
  auto inline_doc = cache.FromSource(kChart, "inline");
  ASSERT_OK(inline_doc);
  EXPECT_EQ(inline_doc->get(), a->get());  // same content, same compiled document
}

TEST_F(DocumentCacheTest, ReadsAStoredDocumentBackByItsHashAndChecksIt) {
  DocumentCache first = Cache();
  auto doc = first.FromSource(kChart, "inline");
  ASSERT_OK(doc);
  const std::string sha = (*doc)->sha256;
  DocumentCache other = Cache();
  EXPECT_THAT(other.BySha(sha, ""), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK(store_.PutDocument(sha, kChart));
  auto back = other.BySha(sha, "");
  ASSERT_OK(back);
  EXPECT_EQ((*back)->sha256, sha);
  // A stored source that does not match its hash is refused, not run.
  const std::string fake_sha(64, 'a');
  store_.CorruptDocument(fake_sha, kChart);
  EXPECT_THAT(other.BySha(fake_sha, ""), StatusIs(absl::StatusCode::kDataLoss));
}

TEST_F(DocumentCacheTest, BadUrlsAndBadDocumentsAreClearErrors) {
  DocumentCache cache = Cache();
  EXPECT_THAT(cache.FromUrl(""), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(cache.FromUrl("ftp://x/y.scxml"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ftp")));
  EXPECT_THAT(cache.FromUrl("relative.scxml"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("absolute")));
  EXPECT_THAT(cache.FromUrl("file:///no such"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("space")));
  EXPECT_THAT(cache.FromUrl("file://" + dir_.path() + "/missing.scxml"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("missing.scxml")));
  const std::string bad = "file://" + dir_.WriteFile("bad.scxml", "<scxml xmlns=\"http://www.w3.org/2005/07/scxml\" "
                                                                  "version=\"1.0\"><state id=\"a\"><transition "
                                                                  "target=\"b\"/></state></scxml>");
  EXPECT_THAT(cache.FromUrl(bad), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad.scxml:1:")));
}

TEST_F(DocumentCacheTest, OnlyAllowedPrefixesWhenConfigured) {
  scxml::CompileOptions o;
  o.ecmascript = &factory_;
  o.fetcher = &fetcher_;
  DocumentCache::Options options;
  options.allowed_prefixes = {"file://" + dir_.path() + "/strategies/"};
  DocumentCache cache(o, &store_, options);
  EXPECT_OK(cache.FromUrl("file://" + dir_.WriteFile("strategies/a.scxml", kChart)).status());
  EXPECT_THAT(cache.FromUrl("file://" + dir_.WriteFile("elsewhere.scxml", kChart)),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("scxml.document-url-prefixes")));
  EXPECT_THAT(cache.FromUrl("file:///etc/passwd"), StatusIs(absl::StatusCode::kPermissionDenied));
}

}  // namespace
}  // namespace orch::session_engine
