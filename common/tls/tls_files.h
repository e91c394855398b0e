#pragma once

// Loading and checking the PEM files of a TLS endpoint (a gRPC or HTTP server,
// a Redis connection) before any library uses them, so that a wrong file is
// refused at start with a message naming the option, not at the first
// handshake with an opaque library error.

#include <string>

#include "absl/status/statusor.h"

namespace orch::tls {

struct TlsPaths {
  std::string cert;   // certificate chain; empty = TLS off
  std::string key;    // private key of the first certificate
  std::string ca;     // CA bundle that verifies peers; may be empty
  // Option names used in messages, e.g. "server.tls-cert".
  std::string cert_option = "tls-cert";
  std::string key_option = "tls-key";
  std::string ca_option = "tls-ca";
};

struct TlsFiles {
  std::string cert_pem;
  std::string key_pem;
  std::string ca_pem;
  bool enabled() const { return !cert_pem.empty(); }
};

// Reads and checks the files named in `paths`: each parses as PEM of the
// right kind, the key matches the certificate, cert and key come together.
// INVALID_ARGUMENT with "<option>: <what is wrong>" otherwise. The key's
// contents never appear in a message.
absl::StatusOr<TlsFiles> LoadTlsFiles(const TlsPaths& paths);

}  // namespace orch::tls
