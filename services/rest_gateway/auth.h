#pragma once

// Who is calling: a bearer token (from `auth.token` or `auth.tokens-file`),
// a verified client certificate whose subject CN is allowed, or — only with
// `auth.allow-anonymous` — nobody in particular. Tokens are kept as SHA-256
// digests and a presented token is compared with every one of them in
// constant time (CRYPTO_memcmp over digests, no early exit), so neither
// timing nor memory dumps reveal them. Thread-safe; the tokens file is
// re-read when it changes (Reload), so tokens rotate without a restart.

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/base/sha256.h"
#include "services/rest_gateway/http_server.h"

namespace orch::rest_gateway {

struct AuthOptions {
  bool allow_anonymous = false;
  std::string token;                              // a secret; may be empty
  std::string tokens_file;                        // "<client-name> <token>" lines; may be empty
  std::vector<std::string> client_cert_identities;  // allowed subject CNs
};

class Authenticator {
 public:
  // INVALID_ARGUMENT naming the option when nothing authenticates and
  // anonymous access is not allowed, a token is shorter than 16 characters,
  // or the tokens file cannot be read or has a malformed line (file:line).
  static absl::StatusOr<std::unique_ptr<Authenticator>> Create(const AuthOptions& options);

  // The caller's identity ("token:<name>", "cert:<cn>", "anonymous:<ip>"),
  // or UNAUTHENTICATED (no or wrong credentials: 401) or PERMISSION_DENIED
  // (a client certificate that is not allowed: 403). Messages never contain
  // the presented token.
  absl::StatusOr<std::string> Authenticate(const HttpRequest& request) const;

  // Re-reads the tokens file if its modification time changed. On error the
  // previous tokens stay and the error is returned (to be logged).
  absl::Status Reload();

  size_t token_count() const;

 private:
  struct Token {
    std::string name;
    Sha256Digest digest;
  };
  explicit Authenticator(AuthOptions options) : options_(std::move(options)) {}
  absl::StatusOr<std::vector<Token>> LoadTokens() const;

  const AuthOptions options_;
  mutable std::mutex mu_;
  std::vector<Token> tokens_;
  long long file_mtime_ns_ = -1;
};

}  // namespace orch::rest_gateway
