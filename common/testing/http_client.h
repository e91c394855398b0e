#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace orch::testing {

struct HttpResponse {
  long status = 0;
  std::string content_type;
  std::string body;
  // Response headers, names in lower case, in order.
  std::vector<std::pair<std::string, std::string>> headers;
  // The first header named `lower_name`, or "".
  std::string Header(const std::string& lower_name) const;
};

struct HttpCallOptions {
  std::string method = "GET";
  std::vector<std::string> headers;   // "Name: value"
  std::string body;                   // sent when non-empty, or always for POST
  std::string ca_file;                // verify an https server against it
  std::string cert_file;              // client certificate (mutual TLS)
  std::string key_file;
  absl::Duration timeout = absl::Seconds(10);
};

// Any method, headers, body, TLS, with libcurl; the path is sent as is (no
// "../" squashing). UNAVAILABLE when the exchange fails (connection, TLS,
// timeout) — the message names curl's reason.
absl::StatusOr<HttpResponse> HttpCall(const std::string& url, const HttpCallOptions& options);

// A blocking HTTP GET with libcurl, for tests. UNAVAILABLE when the server
// cannot be reached or does not answer within `timeout`.
absl::StatusOr<HttpResponse> HttpGet(const std::string& url,
                                     absl::Duration timeout = absl::Seconds(10));

}  // namespace orch::testing
