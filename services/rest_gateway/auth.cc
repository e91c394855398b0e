#include "services/rest_gateway/auth.h"

#include <sys/stat.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/base/file.h"
#include "openssl/crypto.h"

namespace orch::rest_gateway {
namespace {

constexpr size_t kMinTokenLength = 16;

long long MtimeNs(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -2;
  return static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
}

bool TokenCharsOk(absl::string_view t) {
  for (unsigned char c : t) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::vector<Authenticator::Token>> Authenticator::LoadTokens() const {
  std::vector<Token> out;
  auto add = [&](std::string name, absl::string_view token) {
    Token t;
    t.name = std::move(name);
    t.digest = Sha256(std::string_view(token.data(), token.size()));
    out.push_back(std::move(t));
  };
  if (!options_.token.empty()) {
    if (options_.token.size() < kMinTokenLength || !TokenCharsOk(options_.token)) {
      return absl::InvalidArgumentError(absl::StrCat("auth.token: must be at least ", kMinTokenLength,
                                                     " printable characters without spaces"));
    }
    add("default", options_.token);
  }
  if (!options_.tokens_file.empty()) {
    auto text = ReadFile(options_.tokens_file);
    if (!text.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("auth.tokens-file: cannot read ", options_.tokens_file, ": ", text.status().message()));
    }
    int line_no = 0;
    for (absl::string_view line : absl::StrSplit(*text, '\n')) {
      ++line_no;
      line = absl::StripAsciiWhitespace(line);
      if (line.empty() || line[0] == '#') continue;
      std::vector<absl::string_view> parts = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
      const std::string where = absl::StrCat(options_.tokens_file, ":", line_no);
      if (parts.size() != 2) {
        return absl::InvalidArgumentError(
            absl::StrCat("auth.tokens-file: ", where, ": expected '<client-name> <token>'"));
      }
      if (parts[1].size() < kMinTokenLength || !TokenCharsOk(parts[1])) {
        return absl::InvalidArgumentError(absl::StrCat("auth.tokens-file: ", where, ": the token must be at least ",
                                                       kMinTokenLength, " printable characters"));
      }
      if (parts[0].size() > 64 || !TokenCharsOk(parts[0])) {
        return absl::InvalidArgumentError(
            absl::StrCat("auth.tokens-file: ", where, ": the client name must be 1..64 printable characters"));
      }
      add(std::string(parts[0]), parts[1]);
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Create(const AuthOptions& options) {
  auto a = std::unique_ptr<Authenticator>(new Authenticator(options));
  if (!options.tokens_file.empty()) a->file_mtime_ns_ = MtimeNs(options.tokens_file);
  auto tokens = a->LoadTokens();
  if (!tokens.ok()) return tokens.status();
  a->tokens_ = *std::move(tokens);
  if (a->tokens_.empty() && options.client_cert_identities.empty() && !options.allow_anonymous) {
    return absl::InvalidArgumentError(
        "auth: no credentials configured: set auth.token (e.g. ORCH_AUTH_TOKEN), auth.tokens-file or "
        "auth.client-cert-identities, or auth.allow-anonymous = true for a local demo");
  }
  return a;
}

absl::Status Authenticator::Reload() {
  if (options_.tokens_file.empty()) return absl::OkStatus();
  const long long m = MtimeNs(options_.tokens_file);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (m == file_mtime_ns_) return absl::OkStatus();
  }
  auto tokens = LoadTokens();
  std::lock_guard<std::mutex> lock(mu_);
  file_mtime_ns_ = m;
  if (!tokens.ok()) return tokens.status();
  tokens_ = *std::move(tokens);
  return absl::OkStatus();
}

size_t Authenticator::token_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tokens_.size();
}

absl::StatusOr<std::string> Authenticator::Authenticate(const HttpRequest& request) const {
  const std::string* authz = request.Header("authorization");
  if (authz != nullptr) {
    absl::string_view v = absl::StripAsciiWhitespace(*authz);
    if (v.size() < 7 || !absl::EqualsIgnoreCase(v.substr(0, 7), "bearer ")) {
      return absl::UnauthenticatedError("the Authorization header must be 'Bearer <token>'");
    }
    absl::string_view presented = absl::StripAsciiWhitespace(v.substr(7));
    const Sha256Digest digest = Sha256(std::string_view(presented.data(), presented.size()));
    const Token* found = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const Token& t : tokens_) {
        // Every token is compared: the time taken does not depend on which
        // (if any) matches.
        const bool eq = CRYPTO_memcmp(digest.data(), t.digest.data(), digest.size()) == 0;
        if (eq && found == nullptr) found = &t;
      }
      if (found != nullptr) return absl::StrCat("token:", found->name);
    }
    return absl::UnauthenticatedError("the bearer token is not valid");
  }
  if (!request.client_cert_cn.empty()) {
    const auto& ids = options_.client_cert_identities;
    if (std::find(ids.begin(), ids.end(), request.client_cert_cn) != ids.end()) {
      return absl::StrCat("cert:", request.client_cert_cn);
    }
    if (!options_.allow_anonymous) {
      return absl::PermissionDeniedError("this client certificate is not allowed to use the API");
    }
  }
  if (options_.allow_anonymous) return absl::StrCat("anonymous:", request.peer_ip);
  return absl::UnauthenticatedError("authentication required: send 'Authorization: Bearer <token>'");
}

}  // namespace orch::rest_gateway
