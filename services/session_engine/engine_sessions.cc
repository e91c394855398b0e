// The engine's sessions on their workers: activation from the store,
// starting, applying, snapshots, timers, housekeeping and deactivation
// (engine.h; the API is in engine.cc).

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/log/log.h"
#include "orch/session/v1/record.pb.h"
#include "services/session_engine/engine.h"
#include "services/session_engine/log_entries.h"

namespace orch::session_engine {

namespace ev = orch::event::v1;
namespace sv1 = orch::session::v1;

namespace {
constexpr char kRecoveredEvent[] = "session.recovered";
constexpr int64_t kClockRetryMs = 500;  // a clock entry that could not be written is retried after this
}  // namespace

absl::Status Engine::Activate(const std::shared_ptr<SessionEntry>& entry) {
  auto loaded = store_.Load(entry->id);
  if (!loaded.ok()) {
    if (loaded.status().code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(absl::StrCat("unknown session ", entry->id, " (never started, finished or expired)"));
    }
    return absl::UnavailableError(absl::StrCat("cannot load session ", entry->id, ": ", loaded.status().message()));
  }
  sv1::SessionRecord record;
  const bool has_record = !loaded->snapshot.empty();
  if (has_record && !record.ParseFromString(loaded->snapshot)) {
    return absl::DataLossError(absl::StrCat("the snapshot of session ", entry->id, " does not parse"));
  }
  std::string sha = record.document_sha256();
  std::string url = record.document_url();
  if (!has_record) {
    if (loaded->entries.empty() || !loaded->entries[0].has_started()) {
      return absl::DataLossError(absl::StrCat("session ", entry->id, " has neither a snapshot nor its first entry"));
    }
    sha = loaded->entries[0].started().document_sha256();
    url = loaded->entries[0].started().document_url();
  }
  ASSIGN_OR_RETURN(auto doc, docs_.BySha(sha, url));
  docs_.WarmInvokes(*doc);  // here, not on the session's worker
  entry->persistent = true;
  entry->document_sha256 = sha;
  entry->last_seq = std::max(loaded->last_seq, loaded->snapshot_covers_seq);
  if (!loaded->entries.empty()) entry->last_seq = std::max(entry->last_seq, loaded->entries.back().seq());
  entry->last_time_ms = has_record ? record.clock_ms() : 0;
  for (const auto& e : record.effect_ids()) entry->effects.Remember(e);
  for (const auto& e : loaded->entries) {
    entry->last_time_ms = std::max(entry->last_time_ms, EntryTimeMs(e));
    if (e.has_event()) entry->effects.Remember(e.event().effect_id());
  }
  // Not a clean deactivation snapshot covering the whole log: it crashed.
  const bool crashed = !(has_record && record.deactivated() && loaded->entries.empty());
  RETURN_IF_ERROR(workers_.RunOn(entry->worker, [&] {
    return RestoreLive(entry->worker, entry, doc, has_record ? &record : nullptr, loaded->entries);
  }));
  metrics_->CountActivation(crashed);
  const bool send_recovered =
      has_record ? record.send_recovered()
                 : doc->extensions.count("_sendSessionRecovered") && doc->extensions.at("_sendSessionRecovered") == "true";
  if (loaded->state == kStateDeactivated) (void)store_.SetState(entry->id, lease_.epoch(), kStateActive);
  if (crashed && send_recovered) {
    ev::LogEntry log_entry;
    log_entry.mutable_event()->set_name(kRecoveredEvent);
    log_entry.mutable_event()->set_source(ev::EVENT_SOURCE_PLATFORM);
    auto r = WriteAndPost(entry, std::move(log_entry));
    if (!r.ok()) {
      Evict(entry);
      return r.status();
    }
  }
  return absl::OkStatus();
}

void Engine::Evict(const std::shared_ptr<SessionEntry>& entry) {
  registry_.Remove(entry);
  workers_.Post(entry->worker, [this, entry] {
    WorkerState& state = states_[entry->worker];
    auto it = state.live.find(entry->id);
    if (it == state.live.end() || it->second.entry != entry) return;
    state.hub.Close(entry->id, /*finished=*/false);
    state.live.erase(it);
    metrics_->SessionsInMemory(-1);
  });
}

// ---- on the worker thread ----------------------------------------------------------

Engine::Held* Engine::FindHeld(int worker, const std::shared_ptr<SessionEntry>& entry) {
  auto& live = states_[worker].live;
  auto it = live.find(entry->id);
  if (it == live.end() || it->second.entry != entry) return nullptr;
  return &it->second;
}

absl::Status Engine::StartLive(int worker, const std::shared_ptr<SessionEntry>& entry,
                               std::shared_ptr<const scxml::Document> doc, const ev::LogEntry& started) {
  ASSIGN_OR_RETURN(std::unique_ptr<LiveSession> session,
                   LiveSession::Start(entry->id, entry->persistent, std::move(doc), started, session_config_,
                                      &router_, clock_->MonotonicMs()));
  states_[worker].live[entry->id] = Held{entry, std::move(session)};
  metrics_->SessionsInMemory(+1);
  PostAfterApply(worker, entry);
  return absl::OkStatus();
}

absl::Status Engine::RestoreLive(int worker, const std::shared_ptr<SessionEntry>& entry,
                                 std::shared_ptr<const scxml::Document> doc, const sv1::SessionRecord* record,
                                 const std::vector<ev::LogEntry>& entries) {
  ASSIGN_OR_RETURN(std::unique_ptr<LiveSession> session,
                   LiveSession::Restore(entry->id, std::move(doc), record, entries, session_config_, &router_,
                                        clock_->MonotonicMs()));
  auto& live = states_[worker].live;
  if (auto it = live.find(entry->id); it != live.end()) {
    states_[worker].hub.Close(entry->id, /*finished=*/false);
    live.erase(it);
    metrics_->SessionsInMemory(-1);
  }
  live[entry->id] = Held{entry, std::move(session)};
  metrics_->SessionsInMemory(+1);
  // A `terminated` entry replayed (the engine died before deleting the
  // session) ended it: AfterApply finishes the deletion.
  PostAfterApply(worker, entry);
  return absl::OkStatus();
}

void Engine::ApplyEntry(int worker, const std::shared_ptr<SessionEntry>& entry, const ev::LogEntry& log_entry) {
  entry->pending.fetch_sub(1);
  Held* held = FindHeld(worker, entry);
  if (held == nullptr) return;  // dropped (fenced), evicted or finished
  if (log_entry.seq() <= held->session->applied_seq()) return;
  Apply(worker, *held, log_entry);
  metrics_->CountEvent();
  AfterApply(worker, *held);
}

void Engine::Apply(int worker, Held& held, const ev::LogEntry& log_entry) {
  held.session->Apply(log_entry);
  states_[worker].hub.Publish(*held.session, log_entry);
}

void Engine::PostAfterApply(int worker, const std::shared_ptr<SessionEntry>& entry) {
  workers_.Post(worker, [this, worker, entry] {
    if (Held* held = FindHeld(worker, entry)) AfterApply(worker, *held);
  });
}

void Engine::AfterApply(int worker, Held& held) {
  LiveSession& s = *held.session;
  const int64_t now = clock_->MonotonicMs();
  s.Touch(now);
  if (s.ended()) {
    FinishLive(worker, held);
    return;
  }
  if (auto due = s.TakeTimerToArm()) workers_.AddTimer(worker, *due, s.id());
  if (!s.NeedsSnapshot(now, options_.policy, held.entry->pending.load() == 0)) return;
  if (workers_.OnOwnThread(worker)) {
    (void)Snapshot(held, false);
    return;
  }
  // A thread helping the worker has a caller waiting for its answer: the
  // store write is left to the worker's own thread.
  workers_.PostToOwnThread(worker, [this, worker, entry = held.entry] {
    Held* h = FindHeld(worker, entry);
    if (h == nullptr) return;
    if (h->session->NeedsSnapshot(clock_->MonotonicMs(), options_.policy, entry->pending.load() == 0)) {
      (void)Snapshot(*h, false);
    }
  });
}

void Engine::FinishLive(int worker, Held& held) {
  const std::shared_ptr<SessionEntry> entry = held.entry;
  const bool persistent = held.session->persistent();
  const scxml::Interpreter* in = held.session->interpreter();
  log::Info("session ended", {{"session", entry->id}, {"final", in ? in->final_state() : std::string("terminated")}});
  registry_.Remove(entry);
  if (persistent && lease_.CheckWritable().ok()) {
    absl::Status st = store_.Delete(entry->id, lease_.epoch());
    if (!st.ok() && st.code() != absl::StatusCode::kNotFound) {
      log::Warn("cannot delete an ended session's state (its keys expire by TTL)",
                {{"session", entry->id}, {"error", std::string(st.message())}});
    }
  }
  states_[worker].hub.Close(entry->id, /*finished=*/true);
  states_[worker].live.erase(entry->id);  // destroys `held`
  metrics_->SessionsInMemory(-1);
  metrics_->CountEnded();
}

absl::Status Engine::Snapshot(Held& held, bool deactivated) {
  LiveSession& s = *held.session;
  if (s.sends_in_flight()->load() > 0) return absl::UnavailableError("sends in flight");
  RETURN_IF_ERROR(lease_.CheckWritable());
  ASSIGN_OR_RETURN(sv1::SessionRecord record, s.BuildRecord(deactivated, held.entry->effects.InOrder()));
  std::string bytes;
  record.SerializeToString(&bytes);
  absl::Status st = store_.PutSnapshot(s.id(), lease_.epoch(), s.applied_seq(), bytes);
  if (st.code() == absl::StatusCode::kAborted) {
    lease_.Fence(absl::StrCat("snapshot of ", s.id(), " refused: ", st.message()));
    return st;
  }
  RETURN_IF_ERROR(st);
  s.MarkSnapshotted(clock_->MonotonicMs());
  return absl::OkStatus();
}

void Engine::OnTimer(int worker, const std::string& key, int64_t due_ms) {
  auto it = states_[worker].live.find(key);
  if (it == states_[worker].live.end()) return;
  Held& held = it->second;
  LiveSession& s = *held.session;
  if (!s.TimerFired(due_ms)) return;  // superseded
  const int64_t now = clock_->NowMs();
  if (!s.persistent()) {
    // In memory only: nothing to log, and no seq (those belong to inputs).
    ev::LogEntry log_entry;
    log_entry.mutable_clock();
    SetEntryTime(&log_entry, now);
    Apply(worker, held, log_entry);
    AfterApply(worker, held);
    return;
  }
  if (s.clock_pending()) return;
  const std::shared_ptr<SessionEntry> entry = held.entry;
  // Bounded wait: a holder of the entry's lock is appending an input (a
  // store call with a deadline), never waiting for this worker.
  absl::MutexLock l(&entry->mu);
  entry->mu.Await(absl::Condition(entry.get(), &SessionEntry::NotWriting));  // bounded by the store's timeout
  if (entry->dead) return;
  ev::LogEntry log_entry;
  log_entry.mutable_clock();
  if (WriteAndPost(entry, std::move(log_entry)).ok()) {
    s.set_clock_pending(true);
  } else if (FindHeld(worker, entry) != nullptr) {
    // The store is unreachable: try again shortly (the send fires late, not never).
    s.ArmTimerAt(now + kClockRetryMs);
    workers_.AddTimer(worker, now + kClockRetryMs, key);
  }
}

void Engine::OnHousekeeping(int worker) {
  const int64_t now = clock_->MonotonicMs();
  const int64_t wall = clock_->NowMs();
  SessionPolicy policy = options_.policy;
  if (timers_ == nullptr) policy.sleep_min_ms = 0;
  std::vector<std::string> idle;
  for (auto& [id, held] : states_[worker].live) {
    const bool drained = held.entry->pending.load() == 0;
    if (held.session->NeedsSnapshot(now, policy, drained)) (void)Snapshot(held, false);
    if (held.session->IsIdle(now, wall, policy, drained)) idle.push_back(id);
  }
  for (const std::string& id : idle) Deactivate(worker, id);
}

void Engine::Deactivate(int worker, const std::string& id) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  WorkerState& state = states_[worker];
  auto it = state.live.find(id);
  if (it == state.live.end()) return;
  Held& held = it->second;
  const std::shared_ptr<SessionEntry> entry = held.entry;
  // Skipped when busy: whoever holds it is appending an input.
  if (!entry->mu.TryLock()) return;
  struct Unlock {
    absl::Mutex* mu;
    ~Unlock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu->Unlock(); }
  } unlock{&entry->mu};
  if (entry->pending.load() != 0 || entry->dead || entry->writing) return;
  // Delayed sends pending: it sleeps only once its wake is stored. The call
  // blocks this worker (at most orchestration.scheduler-timeout-ms); after a
  // failure no session tries again for kWakeBackoffMs, so a scheduler that
  // is down or slow costs the workers one call per interval, not one per
  // idle session and round.
  if (const std::optional<int64_t> due = held.session->NextDueMs(); due.has_value()) {
    if (timers_ == nullptr || clock_->MonotonicMs() < wake_backoff_until_ms_.load()) return;
    if (absl::Status s = timers_->ScheduleWake(id, *due); !s.ok()) {
      wake_backoff_until_ms_.store(clock_->MonotonicMs() + kWakeBackoffMs);
      metrics_->CountWakeFailure();
      log::Warn("session stays in memory: its wake timer was not stored",
                {{"session", id}, {"error", std::string(s.message())}});
      return;
    }
  }
  if (!Snapshot(held, /*deactivated=*/true).ok()) return;
  // Best effort: recovery then loads it to check.
  (void)store_.SetState(id, lease_.epoch(), kStateDeactivated);
  registry_.Remove(entry);
  state.hub.Close(id, /*finished=*/false);
  state.live.erase(it);
  metrics_->SessionsInMemory(-1);
  metrics_->CountDeactivation();
}

void Engine::OnStop(int worker) {
  WorkerState& state = states_[worker];
  // Persistent sessions get a last snapshot while the lease is ours; every
  // interpreter is destroyed on this thread (its data model belongs to it).
  if (snapshot_on_stop_.load()) {
    for (auto& [id, held] : state.live) {
      if (held.session->persistent() && !held.session->ended() &&
          held.session->applied_seq() > held.session->snapshot_seq()) {
        (void)Snapshot(held, /*deactivated=*/false);
      }
    }
  }
  for (auto& [id, held] : state.live) state.hub.Close(id, /*finished=*/false);
  state.live.clear();
}

void Engine::OnQueued(double seconds) { metrics_->ObserveQueueing(seconds); }

void Engine::OnEnter(int worker) { heaps_[worker].Enter(); }
void Engine::OnLeave(int worker) { heaps_[worker].Leave(); }

}  // namespace orch::session_engine
