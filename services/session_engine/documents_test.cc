#include "services/session_engine/documents.h"

#include "common/js/ecmascript_data_model.h"
#include "common/scxml/curl_fetcher.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "common/time/simulated_clock.h"
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
  DocumentCache Cache(DocumentCache::Options options = {}) {
    scxml::CompileOptions o;
    o.ecmascript = &factory_;
    o.fetcher = &fetcher_;
    return DocumentCache(o, &store_, options);
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

TEST_F(DocumentCacheTest, WarmInvokesFetchesTheInvokedDocumentsAndTheirsButNotExpressions) {
  DocumentCache cache = Cache();
  dir_.WriteFile("leaf.scxml", kChart);
  dir_.WriteFile("middle.scxml", R"(<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" initial="m">
  <state id="m"><invoke src="leaf.scxml"/></state>
</scxml>)");
  const std::string root = "file://" + dir_.WriteFile("root.scxml", R"(<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" initial="r">
  <state id="r">
    <invoke src="middle.scxml"/>
    <invoke srcexpr="'never.scxml'"/>
  </state>
</scxml>)");
  auto doc = cache.FromUrl(root);
  ASSERT_OK(doc);
  // Keys as the send router resolves an <invoke src> against its document.
  const std::string middle = scxml::CurlFetcher::Resolve("middle.scxml", root);
  const std::string leaf = scxml::CurlFetcher::Resolve("leaf.scxml", middle);
  const std::string never = scxml::CurlFetcher::Resolve("never.scxml", root);
  bool refresh = true;
  EXPECT_EQ(cache.Cached(middle, &refresh), nullptr);
  cache.WarmInvokes(**doc);
  EXPECT_EQ(cache.fetches(), 3u);  // root, middle, leaf
  EXPECT_NE(cache.Cached(middle, &refresh), nullptr);
  EXPECT_FALSE(refresh);
  EXPECT_NE(cache.Cached(leaf, &refresh), nullptr);
  EXPECT_EQ(cache.Cached(never, &refresh), nullptr);
  cache.WarmInvokes(**doc);
  EXPECT_EQ(cache.fetches(), 3u);  // all cached: nothing fetched again
}

TEST_F(DocumentCacheTest, CachedServesAnOldDocumentAndAsksOneCallerPerAgeToRefreshIt) {
  time::SimulatedClock clock;
  DocumentCache::Options options;
  options.clock = &clock;
  options.url_max_age = absl::Seconds(10);
  DocumentCache cache = Cache(options);
  const std::string url = "file://" + dir_.WriteFile("a.scxml", kChart);
  ASSERT_OK(cache.FromUrl(url));
  bool refresh = true;
  EXPECT_NE(cache.Cached(url, &refresh), nullptr);
  EXPECT_FALSE(refresh);
  clock.AdvanceMs(10000);
  EXPECT_NE(cache.Cached(url, &refresh), nullptr);
  EXPECT_TRUE(refresh);  // this caller refreshes
  EXPECT_NE(cache.Cached(url, &refresh), nullptr);
  EXPECT_FALSE(refresh);  // the others keep the old one meanwhile
  clock.AdvanceMs(10000);  // that refresh never came: ask again
  EXPECT_NE(cache.Cached(url, &refresh), nullptr);
  EXPECT_TRUE(refresh);
  ASSERT_OK(cache.FromUrl(url));
  EXPECT_NE(cache.Cached(url, &refresh), nullptr);
  EXPECT_FALSE(refresh);  // fresh again
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
