#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace orch::testing {

struct HttpResponse {
  long status = 0;
  std::string content_type;
  std::string body;
};

// A blocking HTTP GET with libcurl, for tests. UNAVAILABLE when the server
// cannot be reached or does not answer within `timeout`.
absl::StatusOr<HttpResponse> HttpGet(const std::string& url,
                                     absl::Duration timeout = absl::Seconds(10));

}  // namespace orch::testing
