#pragma once

// DocumentStore: SCXML documents kept by session-engine in
// persistence-proxy, by the SHA-256 of their source, so that a session can
// be restored on any instance from its log's document hash.
// Implementations: RemoteSessionStore and FakeSessionStore
// (session_store_conformance.h checks both).
//
// Errors of every call: UNAVAILABLE (the store was not reached or did not
// answer in time; a put may or may not have happened, and retrying it is
// safe). Calls block the calling thread (at most the implementation's
// request timeout). Thread-safe.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace orch::session_engine {

class DocumentStore {
 public:
  virtual ~DocumentStore() = default;

  // Stores `source` under `sha256`, its SHA-256 as 64 lowercase hex digits.
  // Storing a document again is harmless (and keeps it alive longer).
  //   INVALID_ARGUMENT  sha256 malformed, or not the source's
  virtual absl::Status PutDocument(const std::string& sha256, const std::string& source) = 0;

  // The source stored under `sha256`.
  //   NOT_FOUND         never stored (or expired unused)
  //   INVALID_ARGUMENT  sha256 malformed
  virtual absl::StatusOr<std::string> GetDocument(const std::string& sha256) = 0;
};

}  // namespace orch::session_engine
