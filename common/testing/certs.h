#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace orch::testing {

// A throw-away PKI for TLS tests, made with the openssl command line: a CA,
// a server certificate for localhost / 127.0.0.1 and a client certificate,
// all signed by the CA (EC P-256 keys, valid two days). Paths are absolute.
struct TestCerts {
  std::string ca_cert;
  std::string server_cert;
  std::string server_key;
  std::string client_cert;
  std::string client_key;
  std::string other_key;   // a valid key that matches neither certificate
};

absl::StatusOr<TestCerts> MakeTestCerts(const std::string& dir);

}  // namespace orch::testing
