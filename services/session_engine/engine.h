#pragma once

// The session engine of one node instance: the public API of
// orch.session.v1.Sessions over the engine's parts (README.md in this
// folder has the picture):
//
//   NodeLease        the node lease and this instance's role (primary, standby, fenced)
//   SessionRegistry  sessions in memory, found or activated from the store, effect ids
//   SessionWriter    stamps and appends an input before it is acknowledged
//   WorkerPool       the threads that own sessions; timers; housekeeping
//   LiveSession      a session on its worker: Apply(entry) live and in replay, snapshots
//   WatchHub         WatchSession streams
//   PendingRequests  Request calls waiting for their answer
//   SendRouter       where sessions' sends go (other sessions, nodes, HTTP), off the workers
//   ProactiveRecovery restores the node's sessions after a takeover
//   CallRestarter    restarts the node's memory-only call sessions after a takeover
//
// Each RPC: validate, find or activate the session, write its input, post it
// to the session's worker.
//
// Thread-safe: the public methods are called from gRPC threads.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/js/ecmascript_data_model.h"
#include "common/scxml/data_model.h"
#include "common/scxml/curl_fetcher.h"
#include "common/time/clock.h"
#include "orch/session/v1/sessions.pb.h"
#include "services/session_engine/call_restarter.h"
#include "services/session_engine/documents.h"
#include "services/session_engine/engine_metrics.h"
#include "services/session_engine/live_session.h"
#include "services/session_engine/metered_session_store.h"
#include "services/session_engine/node_lease.h"
#include "services/session_engine/pending_requests.h"
#include "services/session_engine/proactive_recovery.h"
#include "services/session_engine/send_router.h"
#include "services/session_engine/session_registry.h"
#include "services/session_engine/session_store.h"
#include "services/session_engine/session_writer.h"
#include "services/session_engine/task_runner.h"
#include "services/session_engine/watch_hub.h"
#include "services/session_engine/session_timers.h"
#include "services/session_engine/worker_pool.h"

namespace orch::metrics {
class MetricsServer;
}

namespace orch::session_engine {

struct EngineOptions {
  int node_id = 1;
  std::string instance_id;          // unique per process instance: the lease holder
  std::string endpoint;             // where this instance serves gRPC (host:port)
  int worker_threads = 4;           // sessions are pinned to one of them
  bool persistence_default = false; // when <scxml> has no _persist
  uint32_t lease_ttl_ms = 5000;
  uint32_t lease_renew_ms = 1000;   // at most half the TTL
  SessionPolicy policy;             // snapshots and deactivation
  // Between proactive recovery batches and between cycles of call restarts
  // (both worker_threads sessions).
  uint32_t session_restart_timeout_ms = 50;
  bool proactive_recovery = true;
  size_t max_queue_per_worker = 10000;     // inputs waiting; RESOURCE_EXHAUSTED beyond
  size_t max_sessions = 200000;            // in memory; RESOURCE_EXHAUSTED for new ones beyond
  size_t max_event_bytes = 256 << 10;      // serialized event; OUT_OF_RANGE beyond
  scxml::DataModelLimits limits;
  size_t max_microsteps = 10000;
  // StartSession URLs must start with one of these; empty: any.
  std::vector<std::string> document_url_prefixes;
  int io_threads = 4;                      // concurrent BasicHTTP sends
  // _genesys.session.server.cluster of sessions that use functional modules
  // (server.name is "node-<node_id>").
  std::string cluster_name;
  // Sessions end this long after they start (0: no limit), unless their
  // document's <scxml _maxSessionAge> says otherwise; `session.maxage`
  // first, the terminate max_session_age_grace_ms later (session_timers.h).
  int64_t max_session_age_ms = 0;
  int64_t max_session_age_grace_ms = 5000;
};

// What the engine uses from outside, injectable for tests. Null members get
// the production choice.
struct EngineDeps {
  time::Clock* clock = nullptr;        // RealClock
  PeerSessions* peers = nullptr;       // null: sends to other nodes fail (UNAVAILABLE)
  CallActions* call_actions = nullptr; // null: module actions fail (error.<module>.<action>)
  HttpSend http;                       // scxml::BasicHttpSend
  // Timers at the scheduler: wakes of sessions that sleep with delayed
  // sends pending, maximum ages (null: such sessions stay in memory whatever
  // policy.sleep_min_ms says; no maximum age).
  SessionTimers* timers = nullptr;
};

class Engine final : private NodeLease::Listener, private WorkerPool::Handler {
 public:
  // `store` must outlive the engine; `metrics` may be null.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(EngineOptions options, SessionStore* store,
                                                         metrics::MetricsServer* metrics, EngineDeps deps = {});
  ~Engine() override;

  // Starts the workers and the lease keeper (call once the gRPC server
  // listens, with the endpoint it advertises). `on_serving` is told when
  // the instance starts and stops serving: primary with its restart backlog
  // loaded (CallRestarter), or not.
  void Start(std::function<void(bool serving)> on_serving);
  // Snapshots persistent sessions in memory, releases the lease, stops.
  void Stop();
  // [orchestration] session-restart-timeout, changed on SIGHUP: the pause
  // between cycles of restarts and of proactive recovery from now on.
  void SetSessionRestartTimeout(uint32_t ms);
  // Stops without snapshots and without releasing the lease: the store is
  // left as a crash would leave it (tests of recovery).
  void StopAsIfCrashed();

  absl::StatusOr<session::v1::StartSessionResponse> StartSession(const session::v1::StartSessionRequest& req);
  absl::StatusOr<session::v1::SendEventResponse> SendEvent(const session::v1::SendEventRequest& req);
  // SendEvent without holding the calling thread: a persistent session in
  // memory with no append in flight is appended asynchronously and `done`
  // runs on the store's thread once the event is durable and posted; a
  // session only in memory is served on the calling thread (no store call);
  // any other case runs SendEvent on one of the engine's threads. `done` must
  // not wait. The engine's Stop waits for the answers still owed.
  using SendEventDone = std::function<void(absl::StatusOr<session::v1::SendEventResponse>)>;
  void SendEventAsync(const session::v1::SendEventRequest& req, SendEventDone done);
  absl::StatusOr<session::v1::RequestEventResponse> Request(const session::v1::RequestEventRequest& req);
  absl::StatusOr<session::v1::QuerySessionResponse> QuerySession(const session::v1::QuerySessionRequest& req);
  // Streams the session's macrosteps to `write` (false: the client is gone)
  // until the session ends or `cancelled()` holds.
  absl::Status WatchSession(const session::v1::WatchSessionRequest& req,
                            const std::function<bool(const session::v1::WatchSessionResponse&)>& write,
                            const std::function<bool()>& cancelled);
  absl::Status TerminateSession(const session::v1::TerminateSessionRequest& req);
  // Activates a deactivated session (its due sends then fire); answers
  // whether it had to (false: it was in memory).
  absl::StatusOr<session::v1::WakeSessionResponse> WakeSession(const session::v1::WakeSessionRequest& req);
  absl::StatusOr<session::v1::ListSessionsResponse> ListSessions(const session::v1::ListSessionsRequest& req);

  bool serving() const { return lease_.primary() && restarter_.loaded(); }
  uint64_t epoch() const { return lease_.epoch(); }

 private:
  // A session as its worker holds it.
  struct Held {
    std::shared_ptr<SessionEntry> entry;
    std::unique_ptr<LiveSession> session;
  };
  // What one worker thread owns (touched only on that thread).
  struct WorkerState {
    absl::flat_hash_map<std::string, Held> live;
    WatchHub hub;
  };

  Engine(EngineOptions options, SessionStore* store, metrics::MetricsServer* metrics, EngineDeps deps);

  // NodeLease::Listener
  void OnPrimary(uint64_t epoch) override;
  void OnReacquired(uint64_t old_epoch, uint64_t epoch) override;
  void OnDeposed(const std::string& why) override;
  // WorkerPool::Handler
  void OnTimer(int worker, const std::string& key, int64_t due_ms) override;
  void OnHousekeeping(int worker) override;
  void OnStop(int worker) override;
  void OnQueued(double seconds) override;
  void OnEnter(int worker) override;
  void OnLeave(int worker) override;

  void StopInternal(bool clean);
  void LeaseLoop();

  // ---- the API's steps ----
  struct ResolvedDocument {
    std::shared_ptr<const scxml::Document> document;
    std::string url;   // as started: the URL that worked, or "inline"
  };
  // The start's document: fetched (then the alternate URL) or inline.
  absl::StatusOr<ResolvedDocument> ResolveDocument(const session::v1::StartSessionRequest& req);
  // Entry 1 of a new session (without its seed, which needs the id).
  absl::StatusOr<event::v1::LogEntry> StartedEntry(const session::v1::StartSessionRequest& req,
                                                   const scxml::Document& doc, const std::string& url) const;
  // INVALID_ARGUMENT for a malformed id, FAILED_PRECONDITION for another node's.
  absl::Status CheckSessionId(const std::string& id) const;
  absl::Status CheckInput(const std::string& session_id, const event::v1::Event& event) const;
  // Serving, the id is this node's and not in the restart backlog.
  absl::Status CheckSession(const std::string& session_id) const;
  // StartSession's creation. `replay` (a restart): events enqueued before
  // the session becomes visible, their effect ids remembered; no BindCall
  // and no restart-backlog check (the restarter is the caller).
  absl::StatusOr<session::v1::StartSessionResponse> CreateSession(const session::v1::StartSessionRequest& req,
                                                                  const std::vector<event::v1::Event>* replay);
  // BindCall for a start with interaction.bind, its errors as StartSession's.
  absl::Status BindCall(const std::string& call_uuid, const std::string& session_id);
  // CallRestarter's restart: the record's session afresh, memory-only, with
  // session.restart then the recorded events.
  absl::Status RestartCall(const persistence::v1::CallRecord& record, uint64_t epoch);
  absl::StatusOr<SessionRegistry::Locked> Find(const std::string& id);
  // Restores a session from the store into `entry` (its mu held).
  absl::Status Activate(const std::shared_ptr<SessionEntry>& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(entry->mu);
  // The maximum age's timers of a session just started (session_timers.h).
  void ScheduleMaxAge(const std::string& id, const scxml::Document& doc);
  absl::StatusOr<session::v1::SendEventResponse> Deliver(const std::string& id, const event::v1::Event& event);
  // Writes `entry` for the locked session and posts it to its worker.
  // `deferred`: the caller runs the worker (WorkerPool::Help) once it has
  // let go of the session's lock, instead of waking the worker's thread.
  absl::StatusOr<uint64_t> WriteAndPost(const std::shared_ptr<SessionEntry>& session, event::v1::LogEntry entry,
                                        bool deferred = false) ABSL_EXCLUSIVE_LOCKS_REQUIRED(session->mu);
  absl::Status CheckQueue(const SessionEntry& entry) const;
  // The answer to an event whose effect id the session has seen (counted),
  // or nullopt.
  std::optional<session::v1::SendEventResponse> Duplicate(const SessionEntry& entry, const event::v1::Event& event)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(entry.mu);
  // SendEventAsync's path when it applies; false (nothing done, lock let
  // go) otherwise.
  bool TryDeliverAsync(const std::shared_ptr<SessionEntry>& entry, const event::v1::Event& event,
                       SendEventDone& done) ABSL_UNLOCK_FUNCTION(entry->mu);
  // A SendEventAsync call has given its answer and touches the engine no more.
  void AsyncCallEnded();
  // The session leaves memory unsaved (registry and worker).
  void Evict(const std::shared_ptr<SessionEntry>& entry);
  void DropSessions(bool persistent_only);

  // ---- on the worker thread ----
  Held* FindHeld(int worker, const std::shared_ptr<SessionEntry>& entry);
  absl::Status StartLive(int worker, const std::shared_ptr<SessionEntry>& entry,
                         std::shared_ptr<const scxml::Document> doc, const event::v1::LogEntry& started);
  absl::Status RestoreLive(int worker, const std::shared_ptr<SessionEntry>& entry,
                           std::shared_ptr<const scxml::Document> doc, const session::v1::SessionRecord* record,
                           const std::vector<event::v1::LogEntry>& entries);
  void ApplyEntry(int worker, const std::shared_ptr<SessionEntry>& entry, const event::v1::LogEntry& log_entry);
  void Apply(int worker, Held& held, const event::v1::LogEntry& log_entry);
  void AfterApply(int worker, Held& held);
  void PostAfterApply(int worker, const std::shared_ptr<SessionEntry>& entry);
  void FinishLive(int worker, Held& held);
  absl::Status Snapshot(Held& held, bool deactivated);
  void Deactivate(int worker, const std::string& id);

  const EngineOptions options_;
  time::Clock* const clock_;
  std::unique_ptr<EngineMetrics> metrics_;
  MeteredSessionStore store_;
  scxml::CurlFetcher fetcher_;
  js::EcmascriptDataModelFactory factory_;
  SessionConfig session_config_;
  DocumentCache docs_;
  NodeLease lease_;
  SessionRegistry registry_;
  SessionWriter writer_;
  PendingRequests requests_;
  std::unique_ptr<PeerSessions> no_peers_;
  PeerSessions* peers_;
  SessionTimers* const timers_;   // may be null
  // No wake is asked for before this (monotonic ms): the scheduler failed.
  std::atomic<int64_t> wake_backoff_until_ms_{0};
  static constexpr int64_t kWakeBackoffMs = 10000;
  SendRouter router_;
  // SendEventAsync calls that may wait (activation, an append in flight).
  // Sized for a takeover, when the first event of every session activates
  // it (store round trips): 32 threads doubled the slowest session's
  // takeover with 1,000 sessions (tests/fault/kill9.sh --standby).
  TaskRunner blocking_{256};
  absl::Mutex async_mu_;
  absl::CondVar async_cv_;
  int async_owed_ ABSL_GUARDED_BY(async_mu_) = 0;  // SendEventAsync answers not given yet
  WorkerPool workers_;
  std::vector<WorkerState> states_;   // one per worker, that worker's runner only
  std::unique_ptr<js::ExecutorHeap[]> heaps_;  // one per worker: its sessions' JavaScript heap
  ProactiveRecovery recovery_;
  CallRestarter restarter_;
  std::function<void(bool)> on_serving_;

  absl::Mutex stop_mu_;
  absl::CondVar stop_cv_;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::atomic<bool> snapshot_on_stop_{false};
  std::thread lease_thread_;
};

}  // namespace orch::session_engine
