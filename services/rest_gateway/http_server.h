#pragma once

// The HTTP/1.1 listener of rest-gateway, on Boost.Beast and Asio (README.md
// says why). It parses requests, enforces the transport limits — header and
// body sizes, a deadline for a whole request to arrive, keep-alive idle time,
// connection count — terminates TLS (optionally verifying client
// certificates), and hands each complete request to one Handler. The handler
// answers later, from any thread, through the Exchange. Every response gets
// the security headers; the server's own errors (413, 431, 408, 400) have the
// API's JSON error body.
//
// Requests on one connection are answered in order, one at a time (no
// pipelining in parallel). Thread-safe.

#include "absl/strings/string_view.h"
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/tls/tls_files.h"

namespace orch::rest_gateway {

struct HttpRequest {
  std::string method;          // "GET", "POST", ...
  std::string target;          // path and query as sent
  // Header names in lower case, in arrival order (repeated names kept).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string peer_ip;         // "127.0.0.1"
  bool tls = false;
  std::string client_cert_cn;  // subject CN of a verified client certificate

  // The first header named `lower_name`, or nullptr.
  const std::string* Header(absl::string_view lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool close = false;          // close the connection after this response
};

// `{"error":{"code":...,"message":...}}` with `status`.
HttpResponse JsonError(int status, absl::string_view code, absl::string_view message);

// One request in flight. Respond exactly once, from any thread; an exchange
// destroyed without a response answers 500.
class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual const HttpRequest& request() const = 0;
  virtual void Respond(HttpResponse response) = 0;
};

using Handler = std::function<void(std::shared_ptr<Exchange>)>;

struct HttpServerOptions {
  std::string listen = "127.0.0.1:0";   // host:port
  int threads = 2;
  tls::TlsFiles tls;                    // TLS when tls.cert_pem is set
  bool require_client_cert = false;     // with tls.ca_pem: refuse handshakes without one
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 << 10;
  int read_timeout_ms = 10000;          // a whole request (headers and body), and a TLS handshake
  int idle_timeout_ms = 60000;          // a keep-alive connection with no request starting
  int write_timeout_ms = 10000;
  size_t max_connections = 10000;       // beyond: 503 and close
};

// Counters the gateway's metrics read.
struct HttpServerStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_refused = 0;     // over max_connections
  uint64_t tls_handshake_failures = 0;
  uint64_t requests_refused = 0;        // 400/408/413/431 from the transport
  size_t connections_open = 0;
};

class HttpServer {
 public:
  // Binds and starts serving. INVALID_ARGUMENT for a bad address or TLS
  // setup, ALREADY_EXISTS when the port is taken (messages name the address).
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options, Handler handler);
  ~HttpServer();

  // "host:port" actually bound.
  const std::string& address() const;
  int port() const;
  HttpServerStats stats() const;

  // Stops accepting. Connections that are idle close now; requests being
  // handled (or arriving) may still answer until Stop, with
  // "Connection: close", and then their connections close.
  void StopAccepting();
  // Closes every connection and joins the threads. Idempotent. Responses
  // given after Stop are dropped.
  void Stop();

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace orch::rest_gateway
