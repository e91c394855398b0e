#include "services/session_engine/documents.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/base/sha256.h"
#include "common/base/status_macros.h"
#include "common/scxml/curl_fetcher.h"

namespace orch::session_engine {
namespace {

absl::Status CheckUrl(const std::string& url) {
  if (url.empty()) return absl::InvalidArgumentError("document url is empty");
  if (url.size() > 4096) return absl::InvalidArgumentError("document url is longer than 4096 bytes");
  for (unsigned char c : url) {
    if (c < 0x21 || c == 0x7f) {
      return absl::InvalidArgumentError("document url contains a space or control character");
    }
  }
  const size_t colon = url.find(':');
  const bool has_scheme = colon != std::string::npos && colon > 1 &&
                          url.substr(0, colon).find_first_not_of("abcdefghijklmnopqrstuvwxyz+.-") ==
                              std::string::npos;
  if (has_scheme && !absl::StartsWith(url, "file:") && !absl::StartsWith(url, "http://") &&
      !absl::StartsWith(url, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("document url scheme '", url.substr(0, colon), "' is not supported (file:, http:, https:)"));
  }
  if (!has_scheme && url[0] != '/') {
    return absl::InvalidArgumentError("document url must be absolute (file:, http:, https: or an absolute path)");
  }
  return absl::OkStatus();
}

}  // namespace

DocumentCache::DocumentCache(scxml::CompileOptions compile, DocumentStore* store, Options options)
    : compile_(std::move(compile)),
      store_(store),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : time::RealClock::Get()) {}

std::shared_ptr<const scxml::Document> DocumentCache::Cached(const std::string& url, bool* refresh) {
  *refresh = false;
  absl::MutexLock lock(&mu_);
  auto it = by_url_.find(url);
  if (it == by_url_.end()) return nullptr;
  auto doc = by_sha_.find(it->second.sha256);
  if (doc == by_sha_.end()) return nullptr;
  const int64_t now = clock_->MonotonicMs();
  const int64_t max_age = absl::ToInt64Milliseconds(options_.url_max_age);
  if (now - it->second.fetched_ms >= max_age && now - it->second.refresh_claimed_ms >= max_age) {
    it->second.refresh_claimed_ms = now;
    *refresh = true;
  }
  return doc->second;
}

void DocumentCache::WarmInvokes(const scxml::Document& doc) {
  std::vector<const scxml::Document*> todo = {&doc};
  std::vector<std::shared_ptr<const scxml::Document>> fetched;  // keeps todo's pointers valid
  int warmed = 0;
  while (!todo.empty() && warmed < kMaxWarmed) {
    const scxml::Document* d = todo.back();
    todo.pop_back();
    for (const auto& child : d->children) todo.push_back(child.get());
    for (const scxml::Invoke& inv : d->invokes) {
      if (inv.src.empty() || inv.srcexpr != scxml::kNoCode || warmed >= kMaxWarmed) continue;
      const std::string url = scxml::CurlFetcher::Resolve(inv.src, d->source_name);
      bool refresh = false;
      if (Cached(url, &refresh) != nullptr && !refresh) continue;
      ++warmed;
      auto got = FromUrl(url);
      if (got.ok()) {
        fetched.push_back(*got);
        todo.push_back(got->get());
      }
    }
  }
}

absl::Status DocumentCache::Store(const scxml::Document& doc) {
  if (store_ == nullptr) return absl::FailedPreconditionError("no store to keep documents in");
  const int64_t now = clock_->MonotonicMs();
  {
    absl::MutexLock lock(&mu_);
    auto it = stored_.find(doc.sha256);
    if (it != stored_.end() && now - it->second < absl::ToInt64Milliseconds(options_.restore_after)) {
      return absl::OkStatus();
    }
  }
  RETURN_IF_ERROR(store_->PutDocument(doc.sha256, doc.source_text));
  absl::MutexLock lock(&mu_);
  if (stored_.size() >= options_.max_documents) stored_.clear();  // only costs a rewrite
  stored_[doc.sha256] = now;
  return absl::OkStatus();
}

uint64_t DocumentCache::fetches() const {
  absl::MutexLock lock(&mu_);
  return fetches_;
}

std::shared_ptr<const scxml::Document> DocumentCache::Remember(std::shared_ptr<const scxml::Document> doc) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = by_sha_.try_emplace(doc->sha256, doc);
  if (inserted) {
    order_.push_back(doc->sha256);
    while (order_.size() > options_.max_documents) {
      by_sha_.erase(order_.front());
      order_.pop_front();
    }
  }
  return it->second;
}

absl::StatusOr<std::shared_ptr<const scxml::Document>> DocumentCache::FromUrl(const std::string& url) {
  RETURN_IF_ERROR(CheckUrl(url));
  if (!options_.allowed_prefixes.empty() &&
      std::none_of(options_.allowed_prefixes.begin(), options_.allowed_prefixes.end(),
                   [&](const std::string& p) { return absl::StartsWith(url, p); })) {
    return absl::PermissionDeniedError(
        "document url is not under an allowed prefix (option scxml.document-url-prefixes)");
  }
  {
    absl::MutexLock lock(&mu_);
    auto it = by_url_.find(url);
    if (it != by_url_.end() && clock_->MonotonicMs() - it->second.fetched_ms < absl::ToInt64Milliseconds(options_.url_max_age)) {
      auto doc = by_sha_.find(it->second.sha256);
      if (doc != by_sha_.end()) return doc->second;
    }
  }
  if (compile_.fetcher == nullptr) return absl::FailedPreconditionError("no fetcher configured");
  auto text = compile_.fetcher->Fetch(url, "");
  {
    absl::MutexLock lock(&mu_);
    ++fetches_;
  }
  if (!text.ok()) {
    return absl::Status(text.status().code() == absl::StatusCode::kInvalidArgument
                            ? absl::StatusCode::kInvalidArgument
                            : absl::StatusCode::kFailedPrecondition,
                        absl::StrCat("cannot fetch document ", url, ": ", text.status().message()));
  }
  if (text->size() > options_.max_document_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("document ", url, " is larger than ",
                                                   options_.max_document_bytes, " bytes"));
  }
  const std::string sha = Sha256Hex(*text);
  std::shared_ptr<const scxml::Document> doc;
  {
    absl::MutexLock lock(&mu_);
    by_url_[url] = UrlEntry{sha, clock_->MonotonicMs()};
    if (auto it = by_sha_.find(sha); it != by_sha_.end()) return it->second;  // unchanged content
  }
  auto compiled = scxml::CompileDocument(*text, url, compile_);
  if (!compiled.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("document ", url, " is not valid SCXML:\n",
                                                   compiled.status().message()));
  }
  return Remember(*std::move(compiled));
}

absl::StatusOr<std::shared_ptr<const scxml::Document>> DocumentCache::FromSource(const std::string& source,
                                                                                 const std::string& name) {
  if (source.size() > options_.max_document_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("document source is larger than ",
                                                   options_.max_document_bytes, " bytes"));
  }
  const std::string sha = Sha256Hex(source);
  {
    absl::MutexLock lock(&mu_);
    if (auto it = by_sha_.find(sha); it != by_sha_.end()) return it->second;
  }
  auto compiled = scxml::CompileDocument(source, name, compile_);
  if (!compiled.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("document is not valid SCXML:\n", compiled.status().message()));
  }
  return Remember(*std::move(compiled));
}

absl::StatusOr<std::shared_ptr<const scxml::Document>> DocumentCache::BySha(const std::string& sha256,
                                                                            const std::string& name) {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = by_sha_.find(sha256); it != by_sha_.end()) return it->second;
  }
  if (store_ == nullptr) return absl::NotFoundError(absl::StrCat("document ", sha256, " is not cached"));
  ASSIGN_OR_RETURN(std::string source, store_->GetDocument(sha256));
  if (Sha256Hex(source) != sha256) {
    return absl::DataLossError(absl::StrCat("stored document ", sha256, " does not match its hash"));
  }
  auto compiled = scxml::CompileDocument(source, name.empty() ? absl::StrCat("sha256:", sha256) : name, compile_);
  if (!compiled.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("stored document ", sha256, " no longer compiles: ",
                                                      compiled.status().message()));
  }
  return Remember(*std::move(compiled));
}

}  // namespace orch::session_engine
