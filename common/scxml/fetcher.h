#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace orch::scxml {

// Fetches documents and the files they load (<script src>, <data src>,
// <invoke src>). URIs are resolved against `base` (the loading document's
// path or URL). The compiler depends on this seam only; CurlFetcher
// (curl_fetcher.h, orch::scxml_io) is the implementation processes use.
class Fetcher {
 public:
  virtual ~Fetcher() = default;
  virtual absl::StatusOr<std::string> Fetch(const std::string& uri, const std::string& base) = 0;
};

}  // namespace orch::scxml
