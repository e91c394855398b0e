#pragma once

// Compiled documents for sessions: fetched from file: and http(s): URLs,
// compiled once, cached by URL (re-fetched after `url_max_age`, reused when
// the content is unchanged) and by content hash, and stored through the
// DocumentStore so that a recovered session runs exactly the document it
// started with, even if the URL now serves another one.
//
// Sessions' workers never wait for the network here when they can avoid it:
// the documents a chart names in <invoke src> are fetched with the chart
// (WarmInvokes, on the thread that starts or restores the session), and a
// worker takes a cached document whatever its age (Cached) and has it
// refreshed elsewhere. Only an <invoke srcexpr> URL never seen before is
// fetched on the worker.
//
// Thread-safe. Fetching and compiling happen on the calling thread, outside
// the cache's lock.

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/scxml/compiler.h"
#include "common/time/clock.h"
#include "services/session_engine/document_store.h"

namespace orch::session_engine {

class DocumentCache {
 public:
  struct Options {
    absl::Duration url_max_age = absl::Seconds(10);
    size_t max_documents = 1000;   // by hash; the oldest are dropped beyond it
    size_t max_document_bytes = 4 << 20;
    // URLs a start may name must begin with one of these (after the checks
    // of FromUrl); empty: any file:, http: or https: URL. Documents loaded by
    // <invoke src> and <script src> are fetched by the compiler/interpreter
    // and are not filtered here.
    std::vector<std::string> allowed_prefixes;
    // Store() writes a document again after this long, which also refreshes
    // its key's TTL for sessions that end before any snapshot.
    absl::Duration restore_after = absl::Hours(1);
    time::Clock* clock = nullptr;  // null: the real clock
  };
  // `compile` must name a fetcher and the ECMAScript factory; `store` may be
  // null (then BySha finds only cached documents).
  DocumentCache(scxml::CompileOptions compile, DocumentStore* store, Options options);

  // The document at `url`. INVALID_ARGUMENT for a malformed URL or a document
  // that does not compile (every problem, file:line:col), NOT_FOUND /
  // UNAVAILABLE when it cannot be fetched.
  absl::StatusOr<std::shared_ptr<const scxml::Document>> FromUrl(const std::string& url);
  // An inline document, named `name` in messages.
  absl::StatusOr<std::shared_ptr<const scxml::Document>> FromSource(const std::string& source,
                                                                    const std::string& name);
  // The document with this sha256: cached, or read from the store and
  // compiled (the hash is verified). NOT_FOUND when the store has none.
  absl::StatusOr<std::shared_ptr<const scxml::Document>> BySha(const std::string& sha256,
                                                               const std::string& name);

  // The document cached for `url`, whatever its age; null when there is
  // none. Once the entry is older than url_max_age, `*refresh` is set for
  // one caller (again after each further url_max_age, should that refresh
  // fail): it should call FromUrl(url) where it may wait.
  std::shared_ptr<const scxml::Document> Cached(const std::string& url, bool* refresh);
  // Fetches and compiles, on the calling thread, the documents that `doc`
  // names in <invoke src> (a literal src, resolved against the document's
  // name), and theirs in turn, at most kMaxWarmed of them, unless cached.
  // A failure is left for the <invoke> to report when it runs.
  void WarmInvokes(const scxml::Document& doc);
  static constexpr int kMaxWarmed = 32;

  // Keeps `doc` in the store (for recovery by hash), unless this cache
  // stored it less than `restore_after` ago. The store's error otherwise.
  absl::Status Store(const scxml::Document& doc);

  const scxml::CompileOptions& compile_options() const { return compile_; }
  // Fetches done so far (cache misses by URL), for tests and metrics.
  uint64_t fetches() const;

 private:
  std::shared_ptr<const scxml::Document> Remember(std::shared_ptr<const scxml::Document> doc);

  scxml::CompileOptions compile_;
  DocumentStore* const store_;
  const Options options_;
  time::Clock* const clock_;
  mutable absl::Mutex mu_;
  struct UrlEntry {
    std::string sha256;
    int64_t fetched_ms;   // monotonic
    int64_t refresh_claimed_ms = INT64_MIN / 2;  // monotonic, by Cached
  };
  absl::flat_hash_map<std::string, UrlEntry> by_url_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<const scxml::Document>> by_sha_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> order_ ABSL_GUARDED_BY(mu_);   // hashes, oldest first
  absl::flat_hash_map<std::string, int64_t> stored_ ABSL_GUARDED_BY(mu_);  // sha256 -> monotonic ms of Store
  uint64_t fetches_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace orch::session_engine
