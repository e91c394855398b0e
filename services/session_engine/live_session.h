#pragma once

// A running session, as its worker thread holds it: the interpreter, the
// last log entry applied, and the bookkeeping that decides when to
// snapshot and when to deactivate. Thread-free and store-free: nothing here
// locks, waits or talks to the store, so it is tested directly
// (live_session_test.cc), and the same code runs live and in replay.
//
//   auto s = LiveSession::Start(id, persistent, doc, started, config, outbox, now);
//   s->Apply(entry);                    // every later entry, live and in replay
//   s->NeedsSnapshot(now, policy, drained) -> s->BuildRecord(...) -> store -> s->MarkSnapshotted(now)
//   s->IsIdle(now, wall, policy, drained)   // deactivate it
//
//   auto r = LiveSession::Restore(id, doc, &record_or_null, entries_after_it, config, outbox, now);
//
// Apply(entry) is the one function that moves a session forward:
//
//   SetNow(max(now, entry.append_time)); Enqueue(event) | nothing | destroy; RunUntilIdle()
//
// so the chart's clock is the recorded time, delayed sends fire exactly when
// an entry's time passes their due time, and Math.random is the seeded PRNG
// whose state is in the snapshot.
//
// Effects leave through a SessionOutbox (send_router.h): <log> lines (not
// during replay), <send> to anything the session family does not hold, and
// documents for <invoke>. A send to another session carries a deterministic
// effect id (NextEffectId) so that a replayed send is recognised by its
// receiver.
//
// Not thread-safe: one thread (the session's worker) owns it.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/scxml/interpreter.h"
#include "orch/event/v1/event.pb.h"
#include "orch/session/v1/record.pb.h"

namespace orch::session_engine {

class LiveSession;

// Where a live session's effects go.
class SessionOutbox {
 public:
  virtual ~SessionOutbox() = default;
  // A <log> of a live (not replaying) session.
  virtual void Log(const LiveSession& from, std::string_view label, std::string_view value_json) = 0;
  // A <send> to a target outside the session family. Called in replay too
  // (from.replaying()): sends to other sessions are re-issued and their
  // receivers drop the ones they already have by effect id. An error
  // becomes error.communication in the sender.
  virtual absl::Status Send(LiveSession& from, const std::string& target, const std::string& type,
                            const scxml::Event& event) = 0;
  virtual absl::StatusOr<std::shared_ptr<const scxml::Document>> LoadDocument(const std::string& src,
                                                                              const std::string& base) = 0;
  virtual absl::StatusOr<std::shared_ptr<const scxml::Document>> CompileSource(const std::string& source,
                                                                               const std::string& name) = 0;
};

// What every session of an engine shares.
struct SessionConfig {
  scxml::DataModelFactory* ecmascript = nullptr;
  scxml::DataModelLimits limits;
  size_t max_microsteps = 10000;
  // _genesys.session.server.{name, cluster} of sessions that use functional
  // modules (scxml/modules.h).
  std::string server_name;
  std::string cluster;
};

// When a persistent session is snapshotted and when it is deactivated.
struct SessionPolicy {
  uint32_t snapshot_every_entries = 100;  // unsnapshotted entries, once its queue has drained
  uint32_t snapshot_every_ms = 10000;     // ... or age of the oldest unsnapshotted entry
  uint32_t deactivate_idle_ms = 300000;   // idle this long: dropped from memory (0: never)
  // A session whose next delayed send is at least this far off may leave
  // memory too (the engine registers a wake timer first; 0: such sessions
  // stay in memory).
  uint32_t sleep_min_ms = 0;
};

class LiveSession {
 public:
  // A new session from its `started` entry (seq 1), through its first
  // macrostep. `now_mono_ms` starts the policy clocks.
  static absl::StatusOr<std::unique_ptr<LiveSession>> Start(std::string id, bool persistent,
                                                            std::shared_ptr<const scxml::Document> doc,
                                                            const event::v1::LogEntry& started,
                                                            const SessionConfig& config, SessionOutbox* outbox,
                                                            int64_t now_mono_ms);
  // A persistent session from its snapshot (null: none was taken) and the
  // entries after it, replayed with Apply. Entries at or below the
  // snapshot's seq are skipped; a `terminated` entry or a final state ends
  // the replay (the caller then finishes the session). DATA_LOSS when the
  // snapshot does not restore or there is neither a snapshot nor entry 1.
  static absl::StatusOr<std::unique_ptr<LiveSession>> Restore(std::string id,
                                                              std::shared_ptr<const scxml::Document> doc,
                                                              const session::v1::SessionRecord* record,
                                                              const std::vector<event::v1::LogEntry>& entries,
                                                              const SessionConfig& config, SessionOutbox* outbox,
                                                              int64_t now_mono_ms);
  ~LiveSession();

  // Applies one log entry (an in-memory session's timer uses seq 0).
  void Apply(const event::v1::LogEntry& entry);

  // The snapshot record of this session (at a macrostep boundary).
  absl::StatusOr<session::v1::SessionRecord> BuildRecord(bool deactivated,
                                                         const std::vector<std::string>& effect_ids) const;
  void MarkSnapshotted(int64_t now_mono_ms);
  // An input was applied or the session was touched at `now_mono_ms`.
  void Touch(int64_t now_mono_ms);
  // Persistent, with entries not covered by a snapshot, its queue drained
  // (`drained`), no send to another session in flight, and either enough
  // entries or the oldest of them old enough.
  bool NeedsSnapshot(int64_t now_mono_ms, const SessionPolicy& policy, bool drained) const;
  // Persistent, idle for deactivate_idle_ms, drained, no send in flight,
  // and nothing due, or its next delayed send at least sleep_min_ms after
  // `now_wall_ms` (the session clock's time scale).
  bool IsIdle(int64_t now_mono_ms, int64_t now_wall_ms, const SessionPolicy& policy, bool drained) const;

  // When the next delayed send is due (session clock, Unix ms).
  std::optional<int64_t> NextDueMs() const;
  // The due time the worker's timer heap should get, when it changed since
  // the last call (at most one live timer per session).
  std::optional<int64_t> TakeTimerToArm();
  // The worker's timer for `due_ms` fired: true when it is still this
  // session's current timer (not superseded).
  bool TimerFired(int64_t due_ms);
  // Makes `due_ms` the current timer (a retry of one that could not be
  // logged); the worker adds it to its heap.
  void ArmTimerAt(int64_t due_ms) { timer_due_ = due_ms; }
  // A `clock` entry is on its way to the log (persistent sessions): no
  // second one until it is applied.
  bool clock_pending() const { return clock_pending_; }
  void set_clock_pending(bool pending) { clock_pending_ = pending; }

  // The effect id of the next send to another session from the entry being
  // applied: "<id>/<seq>/<n>" (persistent) or "<id>/m<k>" (in memory).
  std::string NextEffectId();
  // Sends to other sessions handed over and not yet done: no snapshot
  // meanwhile (a crash must replay them). The router holds a reference.
  const std::shared_ptr<std::atomic<int>>& sends_in_flight() const { return sends_in_flight_; }

  // <log> lines of the current macrostep are kept (at most 100) while
  // someone watches the session.
  void set_collect_logs(bool collect) { collect_logs_ = collect; }
  std::vector<std::string> TakeLogs() { return std::move(logs_); }

  const std::string& id() const { return id_; }
  bool persistent() const { return persistent_; }
  // The interaction the session was started for (empty when none): where
  // its module actions go.
  const event::v1::InteractionBinding& interaction() const { return interaction_; }
  bool replaying() const { return replaying_; }
  bool ended() const { return interp_ == nullptr || interp_->finished(); }
  // Null once terminated.
  scxml::Interpreter* interpreter() { return interp_.get(); }
  const scxml::Interpreter* interpreter() const { return interp_.get(); }
  uint64_t applied_seq() const { return applied_seq_; }
  uint64_t snapshot_seq() const { return snapshot_seq_; }

 private:
  class Env;

  LiveSession(std::string id, bool persistent, std::shared_ptr<const scxml::Document> doc, std::string url,
              SessionOutbox* outbox);
  absl::Status StartFrom(const event::v1::LogEntry& started, const SessionConfig& config);
  scxml::InterpreterOptions InterpreterOptionsFor(const SessionConfig& config, uint64_t seed) const;

  const std::string id_;
  const bool persistent_;
  const std::shared_ptr<const scxml::Document> doc_;
  const std::string document_url_;
  SessionOutbox* const outbox_;
  std::unique_ptr<Env> env_;
  std::unique_ptr<scxml::Interpreter> interp_;
  event::v1::InteractionBinding interaction_;

  uint64_t applied_seq_ = 0;
  uint64_t snapshot_seq_ = 0;
  int64_t unsnapshotted_since_ms_ = 0;  // mono: the oldest entry not in a snapshot
  int64_t last_activity_ms_ = 0;        // mono
  int64_t timer_due_ = INT64_MAX;       // the armed timer (session clock)
  bool clock_pending_ = false;
  bool replaying_ = false;
  bool send_recovered_ = false;
  uint32_t effects_in_entry_ = 0;
  uint64_t volatile_effects_ = 0;
  bool collect_logs_ = false;
  std::vector<std::string> logs_;
  std::shared_ptr<std::atomic<int>> sends_in_flight_ = std::make_shared<std::atomic<int>>(0);
};

}  // namespace orch::session_engine
