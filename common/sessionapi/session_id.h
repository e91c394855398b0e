#pragma once

// Session ids carry their node: "~<node>~<32 chars [0-9A-Z]>" (the seeds'
// sessionid-with-nodeid form), so any process routes a request from the id
// alone.

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace orch::sessionapi {

inline constexpr size_t kSessionIdRandomChars = 32;

// A fresh id for `node`, 32 characters from a cryptographic source
// (getrandom), ~165 bits: unguessable, so an id is also a capability.
std::string NewSessionId(int node);

// The id that a start with idempotency key `key` on `node` gets: the first
// 32 base-36 digits of SHA-256(node, key). Two starts with the same key
// name the same session, across restarts, without any stored map.
std::string SessionIdForKey(int node, absl::string_view key);

// The node of a well-formed id; INVALID_ARGUMENT naming what is wrong
// otherwise (the id is echoed only when it is short and printable).
absl::StatusOr<int> NodeOfSessionId(absl::string_view id);

// The name of the lease that node `node`'s primary holds ("node:<node>"):
// the engine acquires it, the gateway and other nodes read it to find the
// primary's endpoint.
std::string NodeLeaseName(int node);

}  // namespace orch::sessionapi
