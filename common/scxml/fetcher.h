#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace orch::scxml {

// Fetches documents and the files they load (<script src>, <data src>,
// <invoke src>). URIs are resolved against `base` (the loading document's
// path or URL).
class Fetcher {
 public:
  virtual ~Fetcher() = default;
  virtual absl::StatusOr<std::string> Fetch(const std::string& uri, const std::string& base) = 0;
};

// file: URIs and plain paths (relative ones against the base's folder), and
// http(s) with libcurl (timeout 10 s, at most `max_bytes`).
class DefaultFetcher final : public Fetcher {
 public:
  explicit DefaultFetcher(size_t max_bytes = 16 << 20) : max_bytes_(max_bytes) {}
  absl::StatusOr<std::string> Fetch(const std::string& uri, const std::string& base) override;
  // The absolute path or URL `uri` names, relative to `base`.
  static std::string Resolve(const std::string& uri, const std::string& base);

 private:
  size_t max_bytes_;
};

}  // namespace orch::scxml
