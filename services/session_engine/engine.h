#pragma once

// The session engine of one node instance (README.md in this folder):
//
//   - a lease keeper: acquires the node lease "node:<id>" through the store;
//     while another instance holds it this one is a standby (every call
//     answers UNAVAILABLE naming the primary) and takes over when it expires.
//     Each acquisition has a new epoch; every write carries it, and a write
//     refused as fenced (ABORTED), a lost renewal or a lease that ran out
//     locally makes the instance stop serving at once;
//   - workers: `worker_threads` threads, a session pinned to one by the hash
//     of its id; each runs its sessions' interpreters and delayed sends;
//   - durability: for persistent sessions an external input is appended to
//     the session's log before it is acknowledged and queued; snapshots when
//     a session's queue drains (at most every N entries or T ms), on
//     deactivation and at shutdown; recovery is snapshot + replay through the
//     same Apply() code.
//
// Thread-safe: the public methods are called from gRPC threads.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/scxml/data_model.h"
#include "orch/session/v1/sessions.pb.h"
#include "services/session_engine/session_store.h"

namespace orch::metrics {
class MetricsServer;
}

namespace orch::session_engine {

// _event.origin of a Request's event starts with this (then the request's
// id): a <send targetexpr="_event.origin"> answers it. The SCXML I/O
// processor's "#_scxml_" form keeps such a send inside the W3C rules; the
// rest is never a session id (those start with '~').
inline constexpr char kRequestOriginPrefix[] = "#_scxml_request-";

struct EngineOptions {
  int node_id = 1;
  std::string instance_id;          // unique per process instance: the lease holder
  std::string endpoint;             // where this instance serves gRPC (host:port)
  int worker_threads = 4;           // [scxml] session-processing-threads
  bool persistence_default = false; // [scxml] persistence-default: when <scxml> has no _persist
  uint32_t lease_ttl_ms = 5000;
  uint32_t lease_renew_ms = 1000;
  uint32_t snapshot_every_entries = 100;   // snapshot once the queue drains after this many
  uint32_t snapshot_every_ms = 10000;      // ... or when the oldest unsnapshotted entry is this old
  uint32_t deactivate_idle_ms = 300000;    // 0: never
  uint32_t session_restart_timeout_ms = 100;  // between proactive recovery batches
  bool proactive_recovery = true;
  size_t max_queue_per_worker = 10000;     // inputs waiting; RESOURCE_EXHAUSTED beyond
  size_t max_sessions = 200000;            // in memory; RESOURCE_EXHAUSTED for new ones beyond
  size_t max_event_bytes = 256 << 10;      // serialized event; RESOURCE_EXHAUSTED beyond
  scxml::DataModelLimits limits;
  size_t max_microsteps = 10000;
  // StartSession URLs must start with one of these; empty: any.
  std::vector<std::string> document_url_prefixes;
  // Stop() snapshots persistent sessions and releases the lease; unit tests
  // turn it off to leave the store as a crash would.
  bool clean_stop = true;
};

class Engine {
 public:
  // `store` must outlive the engine; `metrics` may be null.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(EngineOptions options, SessionStore* store,
                                                         metrics::MetricsServer* metrics);
  ~Engine();

  // Starts the workers and the lease keeper (call once the gRPC server
  // listens, with the endpoint it advertises). `on_serving` is told when
  // the instance starts and stops serving (primary or not).
  void Start(std::function<void(bool serving)> on_serving);
  // Snapshots persistent sessions in memory, releases the lease, stops threads.
  void Stop();

  absl::StatusOr<session::v1::StartSessionResponse> StartSession(const session::v1::StartSessionRequest& req);
  absl::StatusOr<session::v1::SendEventResponse> SendEvent(const session::v1::SendEventRequest& req);
  absl::StatusOr<session::v1::RequestEventResponse> Request(const session::v1::RequestEventRequest& req);
  absl::StatusOr<session::v1::QuerySessionResponse> QuerySession(const session::v1::QuerySessionRequest& req);
  // Streams the session's macrosteps to `write` (false: the client is gone)
  // until the session ends or `cancelled()` holds.
  absl::Status WatchSession(const session::v1::WatchSessionRequest& req,
                            const std::function<bool(const session::v1::WatchSessionResponse&)>& write,
                            const std::function<bool()>& cancelled);
  absl::Status TerminateSession(const session::v1::TerminateSessionRequest& req);
  absl::StatusOr<session::v1::ListSessionsResponse> ListSessions(const session::v1::ListSessionsRequest& req);

  bool serving() const;
  uint64_t epoch() const;

  class Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace orch::session_engine
