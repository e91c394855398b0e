#pragma once

// SHA-256 (OpenSSL), the one implementation for document hashes, log entry
// digests, token digests and idempotent session ids.
//
// Thread-safe. The digest algorithm is fetched once per process and each
// thread keeps its own context: OpenSSL 3's one-shot SHA256() looks the
// algorithm up (locks, property queries) on every call, which showed in
// persistence-proxy's append path.

#include <array>
#include <string>
#include <string_view>

namespace orch {

inline constexpr size_t kSha256Bytes = 32;
using Sha256Digest = std::array<unsigned char, kSha256Bytes>;

// The 32-byte digest of `data`.
Sha256Digest Sha256(std::string_view data);

// The digest as 64 lowercase hex digits.
std::string Sha256Hex(std::string_view data);

}  // namespace orch
