#pragma once

// A 64-bit FNV-1a hash for values that must be the same in every build,
// version and machine: std::hash and absl::Hash promise neither.
//
// ITS VALUES MUST NEVER CHANGE. Session-engine derives each session's
// Math.random seed from its id (a restored or replayed session must draw the
// same numbers on another node and after an upgrade), and rest-gateway
// picks a node for an idempotency key with it (every gateway replica, of
// any version, must pick the same one). fnv1a_test.cc pins known values.
//
// The offset basis is 1469598103934665603, not the published
// 14695981039346656037 (one digit shorter): seeds and node choices already
// depend on this one, so it stays. The prime is the published one.

#include <cstdint>
#include <string_view>

namespace orch {

constexpr uint64_t Fnv1a64(std::string_view data) {
  uint64_t h = 1469598103934665603ULL;
  for (char c : data) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  return h;
}

}  // namespace orch
