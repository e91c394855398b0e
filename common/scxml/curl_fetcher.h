#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "common/scxml/fetcher.h"

namespace orch::scxml {

// file: URIs and plain paths (relative ones against the base's folder), and
// http(s) with libcurl (timeout 10 s, at most `max_bytes`, 5 redirects).
// NOT_FOUND for a missing file or a non-2xx answer, UNAVAILABLE when the
// server cannot be reached, RESOURCE_EXHAUSTED beyond `max_bytes`.
//
// Blocks the calling thread for the whole transfer. Thread-safe (no shared
// state).
class CurlFetcher final : public Fetcher {
 public:
  explicit CurlFetcher(size_t max_bytes = 16 << 20) : max_bytes_(max_bytes) {}
  absl::StatusOr<std::string> Fetch(const std::string& uri, const std::string& base) override;
  // The absolute path or URL `uri` names, relative to `base`.
  static std::string Resolve(const std::string& uri, const std::string& base);

 private:
  size_t max_bytes_;
};

}  // namespace orch::scxml
