#include "services/session_engine/engine.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <queue>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base/check.h"
#include "common/base/status_macros.h"
#include "common/js/ecmascript_data_model.h"
#include "common/log/log.h"
#include "common/scxml/basic_http.h"
#include "common/scxml/curl_fetcher.h"
#include "common/scxml/interpreter.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "orch/scxml/v1/snapshot.pb.h"
#include "orch/session/v1/record.pb.h"
#include "orch/session/v1/sessions.grpc.pb.h"
#include "services/session_engine/documents.h"
#include "services/session_engine/engine_metrics.h"
#include "common/sessionapi/session_id.h"
#include "common/sessionapi/value_json.h"

namespace orch::session_engine {

using sessionapi::ValueToJson;
using sessionapi::JsonToValue;
using sessionapi::NewSessionId;
using sessionapi::SessionIdForKey;
using sessionapi::NodeOfSessionId;

namespace ev = orch::event::v1;
namespace sv1 = orch::session::v1;
using scxml::Interpreter;

namespace {

constexpr size_t kMaxEffectIds = 1024;
constexpr int64_t kDocumentRestoreMs = 3600 * 1000;
constexpr char kRecoveredEvent[] = "session.recovered";
// The session meta's state while a session is deactivated (only in the
// store): recovery after a takeover skips such sessions.
constexpr char kStateDeactivated[] = "deactivated";
constexpr char kStateActive[] = "active";

int64_t RealNowMs() { return absl::ToUnixMillis(absl::Now()); }
int64_t MonoNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t EntryTimeMs(const ev::LogEntry& e) {
  return e.append_time().seconds() * 1000 + e.append_time().nanos() / 1000000;
}
void SetEntryTime(ev::LogEntry* e, int64_t ms) {
  e->mutable_append_time()->set_seconds(ms / 1000);
  e->mutable_append_time()->set_nanos(static_cast<int32_t>((ms % 1000) * 1000000));
}

scxml::Event ToScxmlEvent(const ev::Event& e) {
  scxml::Event out;
  out.name = e.name();
  out.type = scxml::Event::Type::kExternal;
  out.sendid = e.send_id();
  out.origin = e.origin();
  out.origintype = e.origin_type();
  out.invokeid = e.invoke_id();
  out.data = e.has_data() ? ValueToJson(e.data()) : "undefined";
  return out;
}

absl::Status CheckEventName(const std::string& name) {
  if (name.empty()) return absl::InvalidArgumentError("event.name is empty");
  if (name.size() > 512) return absl::InvalidArgumentError("event.name is longer than 512 bytes");
  for (unsigned char c : name) {
    if (c <= 0x20 || c == 0x7f) return absl::InvalidArgumentError("event.name contains a space or control character");
  }
  if (name[0] == '.' || name.back() == '.') return absl::InvalidArgumentError("event.name starts or ends with '.'");
  return absl::OkStatus();
}

// The worker a session is pinned to.
int WorkerOf(const std::string& id, int workers) {
  return static_cast<int>(absl::HashOf(id) % static_cast<size_t>(workers));
}

uint64_t SeedOf(const std::string& id) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a: stable across builds and machines
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ull;
  return h == 0 ? 1 : h;
}

}  // namespace

// ---------------------------------------------------------------------------
// A session as the engine's threads share it: what is needed to append its
// next input. `mu` serializes appends, so log order = queue order.
struct Slot {
  Slot(std::string id_, int worker_) : id(std::move(id_)), worker(worker_) {}
  std::mutex mu;
  const std::string id;
  const int worker;
  bool persistent = false;
  bool ready = false;     // started or restored on its worker
  std::atomic<bool> dead{false};  // no longer in the map: look it up again
  std::string document_sha256;
  std::string document_url;
  uint64_t last_seq = 0;
  int64_t last_time_ms = 0;
  std::atomic<int> pending{0};   // inputs posted to the worker, not applied yet

  // Effect ids of delivered events (de-duplication), under their own lock
  // so that a worker never waits for `mu`'s holders.
  std::mutex effects_mu;
  std::deque<std::string> effect_order;
  absl::flat_hash_set<std::string> effects;

  bool SeenEffect(const std::string& id) {
    std::lock_guard<std::mutex> l(effects_mu);
    return effects.contains(id);
  }
  void RememberEffect(const std::string& id) {
    std::lock_guard<std::mutex> l(effects_mu);
    if (id.empty() || !effects.insert(id).second) return;
    effect_order.push_back(id);
    while (effect_order.size() > kMaxEffectIds) {
      effects.erase(effect_order.front());
      effect_order.pop_front();
    }
  }
};

// A WatchSession stream: the worker pushes, the gRPC thread pops.
struct Watcher {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<sv1::WatchSessionResponse> updates;
  uint64_t missed = 0;
  bool closed = false;
  std::atomic<bool> abandoned{false};

  void Push(sv1::WatchSessionResponse u, bool close) {
    {
      std::lock_guard<std::mutex> l(mu);
      if (updates.size() >= 256) {
        ++missed;
      } else {
        u.set_missed(missed);
        missed = 0;
        updates.push_back(std::move(u));
      }
      closed |= close;
    }
    cv.notify_all();
  }
};

// A Request waiting for the session's answer.
struct PendingRequest {
  std::mutex mu;
  std::condition_variable cv;
  bool answered = false;
  std::string name;
  std::string data_json;
};

// A session on its worker thread (only that thread touches it).
struct Live {
  std::shared_ptr<Slot> slot;
  std::shared_ptr<const scxml::Document> doc;
  std::unique_ptr<Interpreter> interp;
  uint64_t applied_seq = 0;
  uint64_t snapshot_seq = 0;
  int64_t unsnapshotted_since_ms = 0;  // mono time of the first entry not in a snapshot
  int64_t last_activity_ms = 0;        // mono
  int64_t timer_due = INT64_MAX;
  bool clock_pending = false;          // a ClockAdvanced entry is on its way
  bool replaying = false;
  bool send_recovered = false;
  uint32_t effects_in_entry = 0;
  uint64_t volatile_effects = 0;       // effect ids of in-memory sessions
  std::vector<std::shared_ptr<Watcher>> watchers;
  std::vector<std::string> logs;       // of the current macrostep, for watchers
  // Sends to other sessions not yet handed over; no snapshot meanwhile (a
  // crash must replay them). Shared with the delivery thread.
  std::shared_ptr<std::atomic<int>> outstanding_sends = std::make_shared<std::atomic<int>>(0);
};

// One thread running tasks in order: sends to other sessions (they may
// block on the store or another node, which a worker must never do for
// another session's sake).
class Executor {
 public:
  Executor() : thread_([this] { Loop(); }) {}
  ~Executor() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void Post(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> l(mu_);
      tasks_.push_back(std::move(fn));
    }
    cv_.notify_one();
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> l(mu_);
    for (;;) {
      cv_.wait(l, [&] { return stop_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      auto fn = std::move(tasks_.front());
      tasks_.pop_front();
      l.unlock();
      fn();
      l.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::thread thread_;
};

class Engine::Impl final {
 public:
  Impl(EngineOptions options, SessionStore* store, metrics::MetricsServer* metrics);
  ~Impl();

  void Start(std::function<void(bool)> on_serving);
  void Stop();

  absl::StatusOr<sv1::StartSessionResponse> StartSession(const sv1::StartSessionRequest& req);
  absl::StatusOr<sv1::SendEventResponse> SendEvent(const sv1::SendEventRequest& req);
  absl::StatusOr<sv1::RequestEventResponse> Request(const sv1::RequestEventRequest& req);
  absl::StatusOr<sv1::QuerySessionResponse> QuerySession(const sv1::QuerySessionRequest& req);
  absl::Status WatchSession(const sv1::WatchSessionRequest& req,
                            const std::function<bool(const sv1::WatchSessionResponse&)>& write,
                            const std::function<bool()>& cancelled);
  // A reply to a Request (a <send> to its origin); unknown ids are ignored
  // (a replayed reply, or one after the caller gave up).
  void Answer(const std::string& request_id, const scxml::Event& reply);
  absl::Status TerminateSession(const sv1::TerminateSessionRequest& req);
  absl::StatusOr<sv1::ListSessionsResponse> ListSessions(const sv1::ListSessionsRequest& req);

  bool serving() const { return role_.load() == Role::kPrimary; }
  uint64_t epoch() const { return epoch_.load(); }

 private:
  enum class Role { kStarting, kStandby, kPrimary, kFenced, kStopped };
  class Worker;
  class WorkerEnv;

  // ---- roles and the lease ----
  void LeaseLoop();
  void BecomePrimary(uint64_t epoch);
  // Stops serving at once: a newer primary exists (or may exist).
  void Fence(const std::string& why);
  // Drops sessions from memory unsaved (all, or only persistent ones).
  void DropSessions(bool persistent_only);
  absl::Status CheckServing() const;
  absl::Status CheckWritable() const;
  absl::Status NotServing() const;

  // ---- sessions ----
  // The session's slot, restored from the store when it is not in memory.
  // The slot is returned locked.
  absl::StatusOr<std::shared_ptr<Slot>> Acquire(const std::string& id, std::unique_lock<std::mutex>* lock,
                                                bool* recovered_now);
  absl::Status Activate(const std::shared_ptr<Slot>& slot, bool* crashed);
  // Appends `entry` (seq and time set here) for a persistent session and
  // posts it to the session's worker. Slot locked.
  absl::StatusOr<uint64_t> AppendAndPost(const std::shared_ptr<Slot>& slot, ev::LogEntry entry);
  absl::StatusOr<sv1::SendEventResponse> Deliver(const std::string& id, const ev::Event& event);
  void RemoveSlot(const std::shared_ptr<Slot>& slot);
  // RemoveSlot, and the session leaves its worker's memory unsaved.
  void Evict(const std::shared_ptr<Slot>& slot);
  void RecoveryLoop(uint64_t generation);

  // ---- on the worker thread ----
  void ApplyEntry(Worker* w, const std::shared_ptr<Slot>& slot, const ev::LogEntry& entry);
  absl::Status StartLive(Worker* w, const std::shared_ptr<Slot>& slot, std::shared_ptr<const scxml::Document> doc,
                         const ev::LogEntry& started);
  // The interpreter of `live` from its `started` entry, through its first macrostep.
  absl::Status StartFromEntry(Worker* w, Live* live, const ev::LogEntry& started);
  absl::Status RestoreLive(Worker* w, const std::shared_ptr<Slot>& slot,
                           std::shared_ptr<const scxml::Document> doc, const LoadedSession& loaded,
                           const sv1::SessionRecord* record);
  void Apply(Worker* w, Live* live, const ev::LogEntry& entry);
  void Notify(Live* live, const ev::LogEntry& entry, bool finished);
  absl::Status CheckSessionId(const std::string& id) const;
  void AfterApply(Worker* w, Live* live);
  // AfterApply as the worker's next task: the session was just made live
  // for a caller that holds its Slot::mu and waits for this task.
  void PostAfterApply(Worker* w, const std::shared_ptr<Slot>& slot);
  void FinishLive(Worker* w, Live* live);
  absl::Status SnapshotLive(Live* live, bool deactivated);
  void Housekeep(Worker* w);
  void FireTimers(Worker* w);
  scxml::InterpreterOptions InterpreterOptionsFor(const std::string& id, uint64_t seed) const;

  // The worker runs `fn` and the caller waits for it (inline when the caller
  // is that worker). No timeout: `fn` refers to the caller's frame; workers
  // never wait for a thread that waits for them ("Threads and locks" in
  // README.md) and every call they make has a deadline.
  absl::Status RunOn(int worker, std::function<absl::Status(Worker*)> fn);

  const EngineOptions options_;
  SessionStore* const store_;
  std::unique_ptr<EngineMetrics> metrics_;
  scxml::CurlFetcher fetcher_;
  js::EcmascriptDataModelFactory factory_;
  std::unique_ptr<DocumentCache> docs_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::function<void(bool)> on_serving_;

  std::atomic<Role> role_{Role::kStarting};
  std::atomic<uint64_t> epoch_{0};
  std::atomic<int64_t> lease_valid_until_ms_{0};   // mono
  std::atomic<uint64_t> generation_{0};            // increments on every role change
  mutable std::mutex lease_mu_;
  std::condition_variable lease_cv_;
  std::string primary_endpoint_;                   // guarded by lease_mu_
  bool stopping_ = false;                          // guarded by lease_mu_
  std::thread lease_thread_;
  std::thread recovery_thread_;

  std::mutex mu_;   // the map; never wait for a Slot::mu while holding it
  absl::flat_hash_map<std::string, std::shared_ptr<Slot>> slots_;
  // Documents this process stored, and when (mono ms): a start stores its
  // document again only after kDocumentRestoreMs, which also refreshes the
  // document key's TTL for sessions that end before any snapshot.
  absl::flat_hash_map<std::string, int64_t> stored_documents_;

  std::mutex requests_mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<PendingRequest>> requests_;
  std::atomic<uint64_t> request_counter_{0};

  // Sends to other sessions (this node's and others').
  std::unique_ptr<Executor> sends_;
  std::mutex remote_mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<sv1::Sessions::Stub>> remote_stubs_;
};

// ---------------------------------------------------------------------------
// The interpreter's environment on one worker: logs, sends to other
// sessions, documents for <invoke>.
class Engine::Impl::WorkerEnv final : public scxml::InterpreterEnvironment {
 public:
  WorkerEnv(Impl* engine, Worker* worker) : engine_(engine), worker_(worker) {}
  void SetCurrent(Live* live) { current_ = live; }

  void Log(const Interpreter& session, std::string_view label, std::string_view value) override {
    if (current_ != nullptr && current_->replaying) return;
    log::Info("scxml log", {{"session", session.session_id()}, {"label", label}, {"value", value}});
    if (current_ != nullptr && !current_->watchers.empty() && current_->logs.size() < 100) {
      current_->logs.push_back(absl::StrCat(std::string(label), ": ", std::string(value)));
    }
  }

  absl::Status SendExternal(const Interpreter& from, const std::string& target, const std::string& type,
                            const scxml::Event& event) override;

  absl::StatusOr<std::shared_ptr<const scxml::Document>> LoadDocument(const std::string& src,
                                                                      const std::string& base) override {
    return engine_->docs_->FromUrl(scxml::CurlFetcher::Resolve(src, base));
  }
  absl::StatusOr<std::shared_ptr<const scxml::Document>> CompileSource(const std::string& source,
                                                                       const std::string& name) override {
    return engine_->docs_->FromSource(source, name);
  }

 private:
  Impl* engine_;
  Worker* worker_;
  Live* current_ = nullptr;
};

class Engine::Impl::Worker {
 public:
  Worker(Impl* engine, int index) : engine_(engine), index_(index), env_(engine, this) {}

  void Start() { thread_ = std::thread([this] { Loop(); }); }
  void StopAndJoin() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  // Never blocks; the caller checks queued() against the bound first.
  void Post(std::function<void(Worker*)> task) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks_.push_back(Task{std::move(task), MonoNowMs()});
    }
    cv_.notify_one();
  }
  size_t queued() const {
    std::lock_guard<std::mutex> lock(mu_);
    return tasks_.size();
  }
  bool OnThread() const { return std::this_thread::get_id() == thread_.get_id(); }

  // Worker-thread state.
  absl::flat_hash_map<std::string, std::unique_ptr<Live>> live;
  struct Timer {
    int64_t due_ms;
    std::string id;
    bool operator>(const Timer& o) const { return due_ms > o.due_ms; }
  };
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers;
  WorkerEnv& env() { return env_; }
  int index() const { return index_; }

 private:
  struct Task {
    std::function<void(Worker*)> fn;
    int64_t posted_ms;
  };
  void Loop();

  Impl* engine_;
  const int index_;
  WorkerEnv env_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> tasks_;
  bool stop_ = false;
  std::thread thread_;
};

void Engine::Impl::Worker::Loop() {
  int64_t next_housekeeping = MonoNowMs() + 200;
  for (;;) {
    std::deque<Task> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      int64_t wake = next_housekeeping;
      if (!timers.empty()) wake = std::min(wake, MonoNowMs() + std::max<int64_t>(0, timers.top().due_ms - RealNowMs()));
      cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(0, wake - MonoNowMs())),
                   [&] { return stop_ || !tasks_.empty(); });
      if (stop_ && tasks_.empty()) break;
      batch.swap(tasks_);
    }
    for (Task& t : batch) {
      engine_->metrics_->ObserveQueueing((MonoNowMs() - t.posted_ms) / 1000.0);
      t.fn(this);
    }
    engine_->FireTimers(this);
    if (MonoNowMs() >= next_housekeeping) {
      engine_->Housekeep(this);
      next_housekeeping = MonoNowMs() + 200;
    }
  }
  // Stop: persistent sessions get a last snapshot; every interpreter is
  // destroyed on this thread (its data model belongs to this thread).
  for (auto& [id, l] : live) {
    if (l->slot->persistent && l->applied_seq > l->snapshot_seq && engine_->role_.load() == Role::kStopped &&
        engine_->CheckWritable().ok()) {
      (void)engine_->SnapshotLive(l.get(), /*deactivated=*/false);
    }
  }
  live.clear();
}

// ---------------------------------------------------------------------------

Engine::Impl::Impl(EngineOptions options, SessionStore* store, metrics::MetricsServer* metrics)
    : options_(std::move(options)),
      store_(store),
      metrics_(std::make_unique<EngineMetrics>(metrics)),
      factory_() {
  scxml::CompileOptions compile;
  compile.ecmascript = &factory_;
  compile.fetcher = &fetcher_;
  DocumentCache::Options doc_options;
  doc_options.allowed_prefixes = options_.document_url_prefixes;
  docs_ = std::make_unique<DocumentCache>(compile, store_, doc_options);
  for (int i = 0; i < options_.worker_threads; ++i) workers_.push_back(std::make_unique<Worker>(this, i));
  sends_ = std::make_unique<Executor>();
}

Engine::Impl::~Impl() { Stop(); }

void Engine::Impl::Start(std::function<void(bool)> on_serving) {
  on_serving_ = std::move(on_serving);
  for (auto& w : workers_) w->Start();
  role_ = Role::kStandby;
  metrics_->SetRole(false);
  lease_thread_ = std::thread([this] { LeaseLoop(); });
}

void Engine::Impl::Stop() {
  {
    std::lock_guard<std::mutex> lock(lease_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  lease_cv_.notify_all();
  if (lease_thread_.joinable()) lease_thread_.join();
  if (recovery_thread_.joinable()) recovery_thread_.join();
  sends_.reset();  // finishes the sends already handed over
  const bool was_primary = role_.load() == Role::kPrimary && options_.clean_stop;
  // Workers snapshot on the way out only while the lease is still ours.
  if (was_primary) role_ = Role::kStopped;
  for (auto& w : workers_) w->StopAndJoin();
  role_ = Role::kStopped;
  if (was_primary) {
    (void)store_->ReleaseLease(absl::StrCat("node:", options_.node_id), options_.instance_id, epoch_.load());
    log::Info("released the node lease", {{"epoch", epoch_.load()}});
  }
  if (on_serving_) on_serving_(false);
}

// ---- lease ----------------------------------------------------------------

void Engine::Impl::LeaseLoop() {
  const std::string name = absl::StrCat("node:", options_.node_id);
  std::unique_lock<std::mutex> lock(lease_mu_);
  while (!stopping_) {
    lock.unlock();
    const int64_t started = MonoNowMs();
    uint32_t wait_ms = options_.lease_renew_ms;
    const Role role = role_.load();
    if (role == Role::kPrimary) {
      absl::Status s = store_->RenewLease(name, options_.instance_id, epoch_.load(), options_.lease_ttl_ms);
      if (s.ok()) {
        lease_valid_until_ms_ = started + options_.lease_ttl_ms * 9 / 10;
        metrics_->SetPersistenceUp(true);
      } else if (s.code() == absl::StatusCode::kAborted || s.code() == absl::StatusCode::kNotFound) {
        // Not ours any more. If nobody took it meanwhile (it expired while
        // the store was unreachable) it can be ours again, with a new epoch;
        // persistent sessions are re-read from the store, since another
        // primary may have run them in between.
        auto r = store_->AcquireLease(name, options_.instance_id, options_.endpoint, options_.lease_ttl_ms);
        if (r.ok() && r->acquired) {
          lease_valid_until_ms_ = started + options_.lease_ttl_ms * 9 / 10;
          log::Warn("the node lease had expired; acquired it again",
                    {{"old_epoch", epoch_.load()}, {"epoch", r->epoch}});
          DropSessions(/*persistent_only=*/true);
          epoch_ = r->epoch;
          metrics_->SetEpoch(r->epoch);
        } else {
          if (r.ok()) {
            std::lock_guard<std::mutex> l(lease_mu_);
            primary_endpoint_ = r->endpoint;
          }
          Fence(absl::StrCat("lease renewal refused: ", std::string(s.message())));
        }
      } else {
        // The store is unreachable: keep serving in-memory sessions; writes
        // stop by themselves once the lease may have run out (CheckWritable).
        metrics_->SetPersistenceUp(false);
        wait_ms = std::min<uint32_t>(wait_ms, 200);
      }
    } else {
      auto r = store_->AcquireLease(name, options_.instance_id, options_.endpoint, options_.lease_ttl_ms);
      if (r.ok() && r->acquired) {
        lease_valid_until_ms_ = started + options_.lease_ttl_ms * 9 / 10;
        metrics_->SetPersistenceUp(true);
        BecomePrimary(r->epoch);
      } else if (r.ok()) {
        metrics_->SetPersistenceUp(true);
        std::lock_guard<std::mutex> l(lease_mu_);
        if (primary_endpoint_ != r->endpoint) {
          log::Info("standby: the node lease is held", {{"holder", r->holder}, {"endpoint", r->endpoint}});
        }
        primary_endpoint_ = r->endpoint;
        if (role_.load() != Role::kStandby) role_ = Role::kStandby;
        wait_ms = std::min<uint32_t>(options_.lease_renew_ms, std::max<uint32_t>(100, options_.lease_ttl_ms / 10));
      } else {
        metrics_->SetPersistenceUp(false);
        log::Warn("cannot reach the lease store", {{"error", std::string(r.status().message())}});
        wait_ms = 500;
      }
    }
    lock.lock();
    lease_cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] { return stopping_; });
  }
}

void Engine::Impl::BecomePrimary(uint64_t epoch) {
  epoch_ = epoch;
  metrics_->SetEpoch(epoch);
  const uint64_t generation = ++generation_;
  {
    std::lock_guard<std::mutex> l(lease_mu_);
    primary_endpoint_ = options_.endpoint;
  }
  role_ = Role::kPrimary;
  metrics_->SetRole(true);
  log::Info("primary: acquired the node lease", {{"epoch", epoch}, {"endpoint", options_.endpoint}});
  if (on_serving_) on_serving_(true);
  if (options_.proactive_recovery) {
    if (recovery_thread_.joinable()) recovery_thread_.join();
    recovery_thread_ = std::thread([this, generation] { RecoveryLoop(generation); });
  }
}

void Engine::Impl::Fence(const std::string& why) {
  Role expected = Role::kPrimary;
  if (!role_.compare_exchange_strong(expected, Role::kFenced)) return;
  ++generation_;
  metrics_->SetRole(false);
  metrics_->CountFenced();
  log::Error("stopped serving: this instance is no longer the node's primary", {{"reason", why}});
  if (on_serving_) on_serving_(false);
  // Sessions in memory belong to the new primary now.
  DropSessions(/*persistent_only=*/false);
  // The lease keeper goes on trying to acquire the lease, as a standby.
  role_ = Role::kStandby;
}

void Engine::Impl::DropSessions(bool persistent_only) {
  std::vector<std::shared_ptr<Slot>> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = slots_.begin(); it != slots_.end();) {
      if (persistent_only && !it->second->persistent) {
        ++it;
        continue;
      }
      dropped.push_back(it->second);
      slots_.erase(it++);
    }
  }
  for (auto& s : dropped) s->dead = true;  // callers re-check under s->mu
  for (auto& w : workers_) {
    w->Post([this, persistent_only](Worker* w) {
      for (auto it = w->live.begin(); it != w->live.end();) {
        if (persistent_only && !it->second->slot->persistent) {
          ++it;
          continue;
        }
        w->live.erase(it++);
        metrics_->SessionsInMemory(-1);
      }
    });
  }
}

absl::Status Engine::Impl::NotServing() const {
  std::string primary;
  {
    std::lock_guard<std::mutex> l(lease_mu_);
    primary = primary_endpoint_;
  }
  const Role r = role_.load();
  if (r == Role::kStopped) return absl::UnavailableError("session-engine is shutting down");
  return absl::UnavailableError(absl::StrCat(
      "this instance is a standby of node ", options_.node_id,
      primary.empty() || primary == options_.endpoint ? std::string(" (no primary yet)")
                                                      : absl::StrCat("; the primary is at ", primary)));
}

absl::Status Engine::Impl::CheckServing() const {
  if (role_.load() != Role::kPrimary) return NotServing();
  return absl::OkStatus();
}

absl::Status Engine::Impl::CheckWritable() const {
  const Role r = role_.load();
  if (r != Role::kPrimary && r != Role::kStopped) return NotServing();
  if (MonoNowMs() >= lease_valid_until_ms_.load()) {
    return absl::UnavailableError("the node lease could not be renewed in time; not writing");
  }
  return absl::OkStatus();
}

// ---- the API ----------------------------------------------------------------

absl::StatusOr<sv1::StartSessionResponse> Engine::Impl::StartSession(const sv1::StartSessionRequest& req) {
  RETURN_IF_ERROR(CheckServing());
  const int64_t t0 = MonoNowMs();
  metrics_->PendingCreations(+1);
  struct Done {
    EngineMetrics* m;
    ~Done() { m->PendingCreations(-1); }
  } done{metrics_.get()};

  if (req.idempotency_key().size() > 256) {
    return absl::InvalidArgumentError("idempotency_key is longer than 256 bytes");
  }
  // The document: fetched (then the alternate URL) or inline.
  absl::StatusOr<std::shared_ptr<const scxml::Document>> doc;
  std::string url;
  switch (req.document_case()) {
    case sv1::StartSessionRequest::kUrl: {
      url = req.url();
      const int64_t f0 = MonoNowMs();
      doc = docs_->FromUrl(url);
      if (!doc.ok() && !req.alternate_url().empty()) {
        log::Warn("document failed, trying the alternate url",
                  {{"url", url}, {"alternate", req.alternate_url()}, {"error", std::string(doc.status().message())}});
        url = req.alternate_url();
        doc = docs_->FromUrl(url);
      }
      metrics_->ObserveFetch((MonoNowMs() - f0) / 1000.0);
      break;
    }
    case sv1::StartSessionRequest::kSource:
      url = "inline";
      doc = docs_->FromSource(req.source(), "inline");
      break;
    default:
      return absl::InvalidArgumentError("one of url or source is required");
  }
  if (!doc.ok()) return doc.status();

  bool persistent = options_.persistence_default;
  if (auto it = (*doc)->extensions.find("_persist"); it != (*doc)->extensions.end()) {
    if (it->second != "true" && it->second != "false") {
      return absl::InvalidArgumentError(absl::StrCat("<scxml _persist=\"", it->second, "\">: must be true or false"));
    }
    persistent = it->second == "true";
  }
  // Start parameters: only for <data _type="parameter"> of the root.
  ev::LogEntry started;
  auto* s = started.mutable_started();
  s->set_document_sha256((*doc)->sha256);
  s->set_document_url(url);
  for (const auto& [name, value] : req.parameters()) {
    bool declared = false;
    for (const auto& d : (*doc)->states[0].data) declared |= (d.id == name && d.parameter);
    if (!declared) {
      return absl::InvalidArgumentError(absl::StrCat("parameter '", name.substr(0, 128),
                                                     "' is not a <data _type=\"parameter\"> of the document"));
    }
    (*s->mutable_parameters())[name] = value;
  }
  if (started.ByteSizeLong() > options_.max_event_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat("start parameters are larger than ", options_.max_event_bytes, " bytes"));
  }

  const std::string id = req.idempotency_key().empty() ? NewSessionId(options_.node_id)
                                                       : SessionIdForKey(options_.node_id, req.idempotency_key());
  s->set_random_seed(SeedOf(id));
  sv1::StartSessionResponse resp;
  resp.set_session_id(id);
  resp.set_persistent(persistent);

  if (!req.idempotency_key().empty()) {
    std::unique_lock<std::mutex> lock;
    bool recovered = false;
    auto existing = Acquire(id, &lock, &recovered);
    if (existing.ok()) {
      resp.set_persistent((*existing)->persistent);
      resp.set_created(false);
      return resp;
    }
    if (existing.status().code() != absl::StatusCode::kNotFound) return existing.status();
  }

  auto slot = std::make_shared<Slot>(id, WorkerOf(id, options_.worker_threads));
  std::unique_lock<std::mutex> slot_lock(slot->mu);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (slots_.size() >= options_.max_sessions) {
      return absl::ResourceExhaustedError(absl::StrCat("this node holds ", slots_.size(),
                                                       " sessions in memory (limit ", options_.max_sessions, ")"));
    }
    if (!slots_.try_emplace(id, slot).second) {
      // A concurrent start with the same idempotency key won.
      resp.set_created(false);
      return resp;
    }
  }
  slot->persistent = persistent;
  slot->document_sha256 = (*doc)->sha256;
  slot->document_url = url;
  if (workers_[slot->worker]->queued() >= options_.max_queue_per_worker) {
    RemoveSlot(slot);
    return absl::ResourceExhaustedError("the session's worker queue is full");
  }
  bool stored;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = stored_documents_.find((*doc)->sha256);
    stored = it != stored_documents_.end() && MonoNowMs() - it->second < kDocumentRestoreMs;
  }
  if (persistent && !stored) {
    absl::Status put = store_->PutDocument((*doc)->sha256, (*doc)->source_text);
    if (put.ok()) {
      std::lock_guard<std::mutex> l(mu_);
      stored_documents_[(*doc)->sha256] = MonoNowMs();
    }
    if (!put.ok()) {
      RemoveSlot(slot);
      metrics_->SetPersistenceUp(put.code() != absl::StatusCode::kUnavailable);
      return put.code() == absl::StatusCode::kUnavailable
                 ? absl::UnavailableError(absl::StrCat("cannot store the document: ", put.message()))
                 : put;
    }
  }
  // Entry 1 and the session's creation on its worker (waited for, so a
  // session that cannot start is not left half-created in memory).
  started.set_seq(1);
  const int64_t now = RealNowMs();
  SetEntryTime(&started, now);
  started.set_epoch(epoch_.load());
  if (persistent) {
    RETURN_IF_ERROR(CheckWritable());
    const int64_t a0 = MonoNowMs();
    auto r = store_->Append(id, epoch_.load(), options_.node_id, slot->document_sha256, {started});
    metrics_->ObserveAppend((MonoNowMs() - a0) / 1000.0, r.ok());
    if (!r.ok()) {
      RemoveSlot(slot);
      if (r.status().code() == absl::StatusCode::kAborted) {
        if (!req.idempotency_key().empty()) {
          return absl::AlreadyExistsError("a session with this idempotency key exists with other parameters");
        }
        Fence(absl::StrCat("append refused: ", r.status().message()));
        return NotServing();
      }
      metrics_->SetPersistenceUp(r.status().code() != absl::StatusCode::kUnavailable);
      (void)store_->Delete(id, epoch_.load());  // best effort: the append may land later
      return absl::UnavailableError(absl::StrCat("the session could not be made durable: ", r.status().message()));
    }
    metrics_->SetPersistenceUp(true);
  }
  slot->last_seq = 1;
  slot->last_time_ms = now;
  std::shared_ptr<const scxml::Document> d = *doc;
  absl::Status st = RunOn(
      slot->worker, [&](Worker* w) { return StartLive(w, slot, d, started); });
  if (!st.ok()) {
    RemoveSlot(slot);
    if (persistent) (void)store_->Delete(id, epoch_.load());
    return absl::Status(st.code() == absl::StatusCode::kDeadlineExceeded ? absl::StatusCode::kUnavailable : st.code(),
                        absl::StrCat("the session could not start: ", st.message()));
  }
  slot->ready = true;
  metrics_->SessionStarted(persistent, (MonoNowMs() - t0) / 1000.0);
  resp.set_created(true);
  return resp;
}

absl::StatusOr<sv1::SendEventResponse> Engine::Impl::SendEvent(const sv1::SendEventRequest& req) {
  RETURN_IF_ERROR(CheckServing());
  RETURN_IF_ERROR(CheckSessionId(req.session_id()));
  RETURN_IF_ERROR(CheckEventName(req.event().name()));
  if (req.event().ByteSizeLong() > options_.max_event_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat("event is larger than ", options_.max_event_bytes, " bytes"));
  }
  return Deliver(req.session_id(), req.event());
}

absl::Status Engine::Impl::CheckSessionId(const std::string& id) const {
  ASSIGN_OR_RETURN(int node, NodeOfSessionId(id));
  if (node != options_.node_id) {
    return absl::FailedPreconditionError(absl::StrCat("session belongs to node ", node, "; this is node ",
                                                      options_.node_id));
  }
  return absl::OkStatus();
}

absl::StatusOr<sv1::RequestEventResponse> Engine::Impl::Request(const sv1::RequestEventRequest& req) {
  RETURN_IF_ERROR(CheckServing());
  RETURN_IF_ERROR(CheckSessionId(req.session_id()));
  RETURN_IF_ERROR(CheckEventName(req.event().name()));
  if (req.event().ByteSizeLong() > options_.max_event_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat("event is larger than ", options_.max_event_bytes, " bytes"));
  }
  if (req.timeout_ms() > 300000) return absl::InvalidArgumentError("timeout_ms is above 300000");
  const uint32_t timeout_ms = req.timeout_ms() == 0 ? 10000 : req.timeout_ms();
  const std::string id = absl::StrCat(options_.instance_id, "-", ++request_counter_);
  auto pending = std::make_shared<PendingRequest>();
  {
    std::lock_guard<std::mutex> l(requests_mu_);
    if (requests_.size() >= 100000) return absl::ResourceExhaustedError("too many requests waiting");
    requests_[id] = pending;
  }
  struct Unregister {
    Impl* self;
    const std::string& id;
    ~Unregister() {
      std::lock_guard<std::mutex> l(self->requests_mu_);
      self->requests_.erase(id);
    }
  } unregister{this, id};
  ev::Event event = req.event();
  event.set_origin(absl::StrCat(kRequestOriginPrefix, id));
  event.set_origin_type("http://www.w3.org/TR/scxml/#SCXMLEventProcessor");
  ASSIGN_OR_RETURN(sv1::SendEventResponse sent, Deliver(req.session_id(), event));
  if (sent.duplicate()) {
    return absl::AlreadyExistsError("this effect_id was delivered before; its answer is gone");
  }
  std::unique_lock<std::mutex> l(pending->mu);
  if (!pending->cv.wait_for(l, std::chrono::milliseconds(timeout_ms), [&] { return pending->answered; })) {
    return absl::DeadlineExceededError(absl::StrCat("the session did not answer within ", timeout_ms,
                                                    " ms (the event was delivered)"));
  }
  sv1::RequestEventResponse resp;
  resp.set_seq(sent.seq());
  resp.set_name(pending->name);
  auto v = JsonToValue(pending->data_json);
  if (v.ok()) *resp.mutable_data() = *v;
  return resp;
}

void Engine::Impl::Answer(const std::string& request_id, const scxml::Event& reply) {
  std::shared_ptr<PendingRequest> p;
  {
    std::lock_guard<std::mutex> l(requests_mu_);
    auto it = requests_.find(request_id);
    if (it == requests_.end()) return;
    p = it->second;
  }
  {
    std::lock_guard<std::mutex> l(p->mu);
    if (p->answered) return;  // the first answer counts
    p->answered = true;
    p->name = reply.name;
    p->data_json = reply.data;
  }
  p->cv.notify_all();
}

absl::Status Engine::Impl::WatchSession(const sv1::WatchSessionRequest& req,
                                        const std::function<bool(const sv1::WatchSessionResponse&)>& write,
                                        const std::function<bool()>& cancelled) {
  RETURN_IF_ERROR(CheckServing());
  RETURN_IF_ERROR(CheckSessionId(req.session_id()));
  std::unique_lock<std::mutex> lock;
  bool recovered = false;
  ASSIGN_OR_RETURN(std::shared_ptr<Slot> slot, Acquire(req.session_id(), &lock, &recovered));
  lock.unlock();
  auto watcher = std::make_shared<Watcher>();
  sv1::WatchSessionResponse first;
  RETURN_IF_ERROR(RunOn(
      slot->worker,
      [&](Worker* w) -> absl::Status {
        auto it = w->live.find(slot->id);
        if (it == w->live.end() || it->second->interp == nullptr) {
          return absl::NotFoundError(absl::StrCat("session ", slot->id, " has finished"));
        }
        if (it->second->watchers.size() >= 16) return absl::ResourceExhaustedError("at most 16 watchers per session");
        it->second->watchers.push_back(watcher);
        for (auto& s : it->second->interp->ActiveStates(false)) first.add_active_states(s);
        first.set_seq(slot->persistent ? it->second->applied_seq : 0);
        return absl::OkStatus();
      }));
  struct Abandon {
    Watcher* w;
    ~Abandon() { w->abandoned = true; }
  } abandon{watcher.get()};
  // The current configuration first, then every macrostep.
  if (!write(first)) return absl::OkStatus();
  for (;;) {
    std::deque<sv1::WatchSessionResponse> batch;
    bool closed = false;
    {
      std::unique_lock<std::mutex> l(watcher->mu);
      watcher->cv.wait_for(l, std::chrono::milliseconds(200), [&] { return !watcher->updates.empty() || watcher->closed; });
      batch.swap(watcher->updates);
      closed = watcher->closed;
    }
    for (const auto& u : batch) {
      if (!write(u)) return absl::OkStatus();
    }
    if (closed) return absl::OkStatus();
    if (cancelled() || role_.load() != Role::kPrimary) return absl::UnavailableError("the watch ended: not serving");
  }
}

absl::StatusOr<sv1::SendEventResponse> Engine::Impl::Deliver(const std::string& id, const ev::Event& event) {
  std::unique_lock<std::mutex> lock;
  bool recovered = false;
  ASSIGN_OR_RETURN(std::shared_ptr<Slot> slot, Acquire(id, &lock, &recovered));
  sv1::SendEventResponse resp;
  if (!event.effect_id().empty() && slot->SeenEffect(event.effect_id())) {
    resp.set_duplicate(true);
    metrics_->CountDuplicate();
    return resp;
  }
  if (workers_[slot->worker]->queued() >= options_.max_queue_per_worker) {
    return absl::ResourceExhaustedError("the session's worker queue is full; retry later");
  }
  ev::LogEntry entry;
  *entry.mutable_event() = event;
  ASSIGN_OR_RETURN(uint64_t seq, AppendAndPost(slot, std::move(entry)));
  slot->RememberEffect(event.effect_id());
  resp.set_seq(slot->persistent ? seq : 0);
  return resp;
}

absl::StatusOr<uint64_t> Engine::Impl::AppendAndPost(const std::shared_ptr<Slot>& slot, ev::LogEntry entry) {
  const uint64_t seq = slot->last_seq + 1;
  const int64_t t = std::max(RealNowMs(), slot->last_time_ms);
  entry.set_seq(seq);
  SetEntryTime(&entry, t);
  entry.set_epoch(epoch_.load());
  if (slot->persistent) {
    RETURN_IF_ERROR(CheckWritable());
    const int64_t a0 = MonoNowMs();
    auto r = store_->Append(slot->id, epoch_.load(), options_.node_id, slot->document_sha256, {entry});
    metrics_->ObserveAppend((MonoNowMs() - a0) / 1000.0, r.ok());
    if (!r.ok()) {
      if (r.status().code() == absl::StatusCode::kAborted) {
        Fence(absl::StrCat("append to ", slot->id, " refused: ", r.status().message()));
        return NotServing();
      }
      metrics_->SetPersistenceUp(r.status().code() != absl::StatusCode::kUnavailable);
      // The outcome is unknown (a timeout may still land in the log): the
      // session leaves memory and is read back from the store next time, so
      // it runs exactly what its log holds.
      Evict(slot);
      return absl::UnavailableError(absl::StrCat(
          "the event could not be made durable (it may still be applied; retry with the same effect_id): ",
          r.status().message()));
    }
    metrics_->SetPersistenceUp(true);
  }
  slot->last_seq = seq;
  slot->last_time_ms = t;
  slot->pending.fetch_add(1);
  workers_[slot->worker]->Post([this, slot, entry = std::move(entry)](Worker* w) { ApplyEntry(w, slot, entry); });
  return seq;
}

absl::StatusOr<std::shared_ptr<Slot>> Engine::Impl::Acquire(const std::string& id,
                                                            std::unique_lock<std::mutex>* lock,
                                                            bool* recovered_now) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    RETURN_IF_ERROR(CheckServing());
    std::shared_ptr<Slot> slot;
    bool fresh = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = slots_.find(id);
      if (it != slots_.end()) {
        slot = it->second;
      } else {
        if (slots_.size() >= options_.max_sessions) {
          return absl::ResourceExhaustedError("this node holds the most sessions it may keep in memory");
        }
        slot = std::make_shared<Slot>(id, WorkerOf(id, options_.worker_threads));
        // Locked before anyone else can see it: they wait until it is restored.
        *lock = std::unique_lock<std::mutex>(slot->mu);
        slots_.emplace(id, slot);
        fresh = true;
      }
    }
    if (!fresh) *lock = std::unique_lock<std::mutex>(slot->mu);
    if (slot->dead) {
      lock->unlock();
      continue;
    }
    if (fresh || !slot->ready) {
      bool crashed = false;
      absl::Status st = Activate(slot, &crashed);
      if (!st.ok()) {
        Evict(slot);  // it may already be live on its worker (a failure after the restore)
        lock->unlock();
        return st;
      }
      slot->ready = true;
      *recovered_now = true;
      metrics_->CountActivation(crashed);
    }
    return slot;
  }
  return absl::UnavailableError(absl::StrCat("session ", id, " is being moved; retry"));
}

absl::Status Engine::Impl::Activate(const std::shared_ptr<Slot>& slot, bool* crashed) {
  auto loaded = store_->Load(slot->id);
  if (!loaded.ok()) {
    if (loaded.status().code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(absl::StrCat("unknown session ", slot->id, " (never started, finished or expired)"));
    }
    metrics_->SetPersistenceUp(loaded.status().code() != absl::StatusCode::kUnavailable);
    return absl::UnavailableError(absl::StrCat("cannot load session ", slot->id, ": ", loaded.status().message()));
  }
  metrics_->SetPersistenceUp(true);
  sv1::SessionRecord record;
  const bool has_record = !loaded->snapshot.empty();
  if (has_record && !record.ParseFromString(loaded->snapshot)) {
    return absl::DataLossError(absl::StrCat("the snapshot of session ", slot->id, " does not parse"));
  }
  std::string sha = has_record ? record.document_sha256() : loaded->document_sha256;
  std::string url = record.document_url();
  if (!has_record) {
    if (loaded->entries.empty() || !loaded->entries[0].has_started()) {
      return absl::DataLossError(absl::StrCat("session ", slot->id, " has neither a snapshot nor its first entry"));
    }
    sha = loaded->entries[0].started().document_sha256();
    url = loaded->entries[0].started().document_url();
  }
  ASSIGN_OR_RETURN(auto doc, docs_->BySha(sha, url));
  slot->persistent = true;
  slot->document_sha256 = sha;
  slot->document_url = url;
  slot->last_seq = std::max(loaded->last_seq, loaded->snapshot_covers_seq);
  if (!loaded->entries.empty()) slot->last_seq = std::max(slot->last_seq, loaded->entries.back().seq());
  slot->last_time_ms = has_record ? record.clock_ms() : 0;
  for (const auto& e : record.effect_ids()) slot->RememberEffect(e);
  for (const auto& e : loaded->entries) {
    slot->last_time_ms = std::max(slot->last_time_ms, EntryTimeMs(e));
    if (e.has_event()) slot->RememberEffect(e.event().effect_id());
  }
  *crashed = !(has_record && record.deactivated() && loaded->entries.empty());
  const LoadedSession& l = *loaded;
  RETURN_IF_ERROR(RunOn(
      slot->worker, [&](Worker* w) { return RestoreLive(w, slot, doc, l, has_record ? &record : nullptr); }));
  const bool send_recovered = has_record ? record.send_recovered()
                                         : doc->extensions.count("_sendSessionRecovered") &&
                                               doc->extensions.at("_sendSessionRecovered") == "true";
  if (loaded->state == kStateDeactivated) (void)store_->SetState(slot->id, epoch_.load(), kStateActive);
  if (*crashed && send_recovered) {
    ev::LogEntry entry;
    entry.mutable_event()->set_name(kRecoveredEvent);
    entry.mutable_event()->set_source(ev::EVENT_SOURCE_PLATFORM);
    auto r = AppendAndPost(slot, std::move(entry));
    if (!r.ok()) return r.status();
  }
  return absl::OkStatus();
}

void Engine::Impl::RemoveSlot(const std::shared_ptr<Slot>& slot) {
  slot->dead = true;
  std::lock_guard<std::mutex> l(mu_);
  auto it = slots_.find(slot->id);
  if (it != slots_.end() && it->second == slot) slots_.erase(it);
}

void Engine::Impl::Evict(const std::shared_ptr<Slot>& slot) {
  RemoveSlot(slot);
  workers_[slot->worker]->Post([this, slot](Worker* w) {
    auto it = w->live.find(slot->id);
    if (it == w->live.end() || it->second->slot != slot) return;
    w->live.erase(it);
    metrics_->SessionsInMemory(-1);
  });
}

absl::StatusOr<sv1::QuerySessionResponse> Engine::Impl::QuerySession(const sv1::QuerySessionRequest& req) {
  RETURN_IF_ERROR(CheckServing());
  RETURN_IF_ERROR(CheckSessionId(req.session_id()));
  if (req.data_names_size() > 100) return absl::InvalidArgumentError("at most 100 data_names");
  std::unique_lock<std::mutex> lock;
  bool recovered = false;
  ASSIGN_OR_RETURN(std::shared_ptr<Slot> slot, Acquire(req.session_id(), &lock, &recovered));
  lock.unlock();  // the query task runs after every input already posted
  sv1::QuerySessionResponse resp;
  resp.set_session_id(req.session_id());
  absl::Status st = RunOn(
      slot->worker,
      [&](Worker* w) -> absl::Status {
        auto it = w->live.find(slot->id);
        if (it == w->live.end() || it->second->interp == nullptr) {
          return absl::NotFoundError(absl::StrCat("session ", slot->id, " has finished"));
        }
        Interpreter& in = *it->second->interp;
        resp.set_state(in.finished() ? sv1::SESSION_STATE_FINISHED : sv1::SESSION_STATE_RUNNING);
        for (auto& s : in.ActiveStates(false)) resp.add_active_states(s);
        for (const std::string& name : req.data_names()) {
          auto v = in.ReadData(name);
          if (!v.ok()) return v.status();
          auto value = JsonToValue(*v);
          if (!value.ok()) return absl::InternalError(absl::StrCat("data '", name, "' is not JSON-representable"));
          (*resp.mutable_data())[name] = *value;
        }
        return absl::OkStatus();
      });
  if (!st.ok()) return st;
  return resp;
}

absl::Status Engine::Impl::TerminateSession(const sv1::TerminateSessionRequest& req) {
  RETURN_IF_ERROR(CheckServing());
  RETURN_IF_ERROR(CheckSessionId(req.session_id()));
  if (req.reason().size() > 1024) return absl::InvalidArgumentError("reason is longer than 1024 bytes");
  std::unique_lock<std::mutex> lock;
  bool recovered = false;
  ASSIGN_OR_RETURN(std::shared_ptr<Slot> slot, Acquire(req.session_id(), &lock, &recovered));
  ev::LogEntry entry;
  entry.mutable_terminated()->set_reason(req.reason());
  RETURN_IF_ERROR(AppendAndPost(slot, std::move(entry)).status());
  lock.unlock();
  // Answer once the worker has ended it (and deleted its durable state).
  return RunOn(slot->worker, [](Worker*) { return absl::OkStatus(); });
}

absl::StatusOr<sv1::ListSessionsResponse> Engine::Impl::ListSessions(const sv1::ListSessionsRequest& req) {
  RETURN_IF_ERROR(CheckServing());
  uint32_t page = req.page_size() == 0 ? 100 : std::min<uint32_t>(req.page_size(), 1000);
  sv1::ListSessionsResponse resp;
  // The token is "m<offset>" while listing memory, "s<cursor>" in the store.
  const bool memory = req.filter() != sv1::ListSessionsRequest::FILTER_PERSISTENT;
  const bool stored = req.filter() != sv1::ListSessionsRequest::FILTER_IN_MEMORY_ONLY;
  std::string token = req.page_token().empty() ? (memory ? "m0" : "s0") : req.page_token();
  if (token[0] == 'm') {
    size_t offset = 0;
    if (!absl::SimpleAtoi(token.substr(1), &offset)) return absl::InvalidArgumentError("page_token is not valid");
    std::vector<std::string> ids;
    {
      std::lock_guard<std::mutex> l(mu_);
      for (auto& [id, s] : slots_) {
        if (!s->persistent) ids.push_back(id);
      }
    }
    std::sort(ids.begin(), ids.end());
    for (size_t i = offset; i < ids.size() && resp.session_ids_size() < static_cast<int>(page); ++i) {
      resp.add_session_ids(ids[i]);
    }
    if (offset + resp.session_ids_size() < ids.size()) {
      resp.set_next_page_token(absl::StrCat("m", offset + resp.session_ids_size()));
      return resp;
    }
    if (!stored) return resp;
    token = "s0";
  }
  if (token[0] != 's') return absl::InvalidArgumentError("page_token is not valid");
  std::string cursor = token.substr(1);
  auto ids = store_->ListNodeSessions(options_.node_id, &cursor, page);
  if (!ids.ok()) return absl::UnavailableError(absl::StrCat("cannot list stored sessions: ", ids.status().message()));
  for (auto& id : *ids) resp.add_session_ids(id);
  if (cursor != "0") resp.set_next_page_token(absl::StrCat("s", cursor));
  return resp;
}

// ---- proactive recovery -------------------------------------------------------

void Engine::Impl::RecoveryLoop(uint64_t generation) {
  // Pages of the node's registry; in each, the sessions whose state says
  // they were in memory (not deactivated) are restored in batches of
  // `worker_threads`, `session_restart_timeout_ms` apart. Deactivated ones
  // stay in the store until their next event.
  std::string cursor = "0";
  size_t restored = 0, deactivated = 0, gone = 0, listed = 0;
  const int64_t t0 = MonoNowMs();
  const size_t batch = static_cast<size_t>(std::max(1, options_.worker_threads));
  auto stop = [&] {
    if (generation_.load() != generation) return true;
    std::lock_guard<std::mutex> l(lease_mu_);
    return stopping_;
  };
  // Runs fn(i) for i in [0, n) on up to `width` threads.
  auto parallel = [](size_t n, size_t width, const std::function<void(size_t)>& fn) {
    std::atomic<size_t> next{0};
    std::vector<std::thread> threads;
    for (size_t t = 0; t < std::min(n, width); ++t) {
      threads.emplace_back([&] {
        for (size_t i = next++; i < n; i = next++) fn(i);
      });
    }
    for (auto& t : threads) t.join();
  };
  do {
    if (stop()) return;
    std::vector<std::string> states;
    auto ids = store_->ListNodeSessions(options_.node_id, &cursor, 1000, &states);
    if (!ids.ok()) {
      log::Warn("recovery: cannot list the node's sessions; retrying", {{"error", std::string(ids.status().message())}});
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    listed += ids->size();
    std::vector<char> wanted(ids->size(), 0);
    {
      std::lock_guard<std::mutex> l(mu_);
      for (size_t i = 0; i < ids->size(); ++i) {
        wanted[i] = states[i] != kStateDeactivated && states[i] != "<gone>" && !slots_.contains((*ids)[i]);
      }
    }
    std::vector<std::string> todo;
    for (size_t i = 0; i < ids->size(); ++i) {
      if (wanted[i]) {
        todo.push_back((*ids)[i]);
      } else {
        ++deactivated;
      }
    }
    for (size_t i = 0; i < todo.size(); i += batch) {
      std::atomic<size_t> ok{0};
      parallel(std::min(todo.size(), i + batch) - i, batch, [&](size_t j) {
        std::unique_lock<std::mutex> lock;
        bool now = false;
        auto s = Acquire(todo[i + j], &lock, &now);
        if (s.ok() && now) ok.fetch_add(1);
      });
      restored += ok.load();
      gone += std::min(todo.size(), i + batch) - i - ok.load();
      if (stop()) return;
      std::unique_lock<std::mutex> l(lease_mu_);
      lease_cv_.wait_for(l, std::chrono::milliseconds(options_.session_restart_timeout_ms), [&] { return stopping_; });
      if (stopping_) return;
    }
  } while (cursor != "0");
  log::Info("recovery: done", {{"listed", listed},
                               {"restored", restored},
                               {"deactivated_or_in_memory", deactivated},
                               {"unavailable_or_gone", gone},
                               {"ms", MonoNowMs() - t0}});
  metrics_->RecoveryDone(static_cast<double>(MonoNowMs() - t0) / 1000.0);
}

// ---- worker side ------------------------------------------------------------

scxml::InterpreterOptions Engine::Impl::InterpreterOptionsFor(const std::string& id, uint64_t seed) const {
  scxml::InterpreterOptions io;
  io.session_id = id;
  io.ecmascript = const_cast<js::EcmascriptDataModelFactory*>(&factory_);
  io.limits = options_.limits;
  io.random_seed = seed;
  io.max_microsteps = options_.max_microsteps;
  return io;
}

absl::Status Engine::Impl::RunOn(int worker, std::function<absl::Status(Worker*)> fn) {
  Worker* w = workers_[worker].get();
  if (w->OnThread()) return fn(w);
  auto promise = std::make_shared<std::promise<absl::Status>>();
  auto future = promise->get_future();
  auto shared_fn = std::make_shared<std::function<absl::Status(Worker*)>>(std::move(fn));
  w->Post([promise, shared_fn](Worker* w) { promise->set_value((*shared_fn)(w)); });
  return future.get();
}

absl::Status Engine::Impl::StartFromEntry(Worker* w, Live* live, const ev::LogEntry& started) {
  scxml::InterpreterOptions io = InterpreterOptionsFor(live->slot->id, started.started().random_seed());
  for (const auto& [name, value] : started.started().parameters()) io.initial_data[name] = ValueToJson(value);
  auto in = Interpreter::Create(live->doc, &w->env(), std::move(io));
  if (!in.ok()) return in.status();
  live->interp = *std::move(in);
  auto it = live->doc->extensions.find("_sendSessionRecovered");
  live->send_recovered = it != live->doc->extensions.end() && it->second == "true";
  live->interp->SetNow(EntryTimeMs(started));
  w->env().SetCurrent(live);
  live->effects_in_entry = 0;
  absl::Status st = live->interp->Start();
  if (st.ok()) live->interp->RunUntilIdle();
  w->env().SetCurrent(nullptr);
  RETURN_IF_ERROR(st);
  live->applied_seq = started.seq();
  return absl::OkStatus();
}

absl::Status Engine::Impl::StartLive(Worker* w, const std::shared_ptr<Slot>& slot,
                                     std::shared_ptr<const scxml::Document> doc, const ev::LogEntry& started) {
  auto live = std::make_unique<Live>();
  live->slot = slot;
  live->doc = doc;
  RETURN_IF_ERROR(StartFromEntry(w, live.get(), started));
  live->unsnapshotted_since_ms = MonoNowMs();
  live->last_activity_ms = MonoNowMs();
  w->live[slot->id] = std::move(live);
  metrics_->SessionsInMemory(+1);
  PostAfterApply(w, slot);
  return absl::OkStatus();
}

absl::Status Engine::Impl::RestoreLive(Worker* w, const std::shared_ptr<Slot>& slot,
                                       std::shared_ptr<const scxml::Document> doc, const LoadedSession& loaded,
                                       const sv1::SessionRecord* record) {
  if (w->live.contains(slot->id)) w->live.erase(slot->id);
  auto live = std::make_unique<Live>();
  live->slot = slot;
  live->doc = doc;
  size_t first = 0;
  if (record != nullptr) {
    auto in = Interpreter::Restore(doc, &w->env(), InterpreterOptionsFor(slot->id, 1), record->interpreter());
    if (!in.ok()) return absl::DataLossError(absl::StrCat("cannot restore session ", slot->id, ": ", in.status().message()));
    live->interp = *std::move(in);
    live->applied_seq = record->covers_seq();
    live->snapshot_seq = record->covers_seq();
    live->send_recovered = record->send_recovered();
  } else {
    live->replaying = true;
    RETURN_IF_ERROR(StartFromEntry(w, live.get(), loaded.entries[0]));
    first = 1;
  }
  live->replaying = true;
  for (size_t i = first; i < loaded.entries.size(); ++i) {
    if (loaded.entries[i].seq() <= live->applied_seq) continue;
    Apply(w, live.get(), loaded.entries[i]);
    // A `terminated` entry (the engine died before deleting the session)
    // destroys the interpreter; AfterApply then finishes the deletion.
    if (live->interp == nullptr || live->interp->finished()) break;
  }
  live->replaying = false;
  live->unsnapshotted_since_ms = MonoNowMs();
  live->last_activity_ms = MonoNowMs();
  w->live[slot->id] = std::move(live);
  metrics_->SessionsInMemory(+1);
  PostAfterApply(w, slot);
  return absl::OkStatus();
}

void Engine::Impl::ApplyEntry(Worker* w, const std::shared_ptr<Slot>& slot, const ev::LogEntry& entry) {
  slot->pending.fetch_sub(1);
  auto it = w->live.find(slot->id);
  if (it == w->live.end() || it->second->slot != slot) return;  // dropped (fenced) or finished
  Live* live = it->second.get();
  if (entry.seq() <= live->applied_seq) return;
  Apply(w, live, entry);
  metrics_->CountEvent();
  AfterApply(w, live);
}

void Engine::Impl::Apply(Worker* w, Live* live, const ev::LogEntry& entry) {
  Interpreter& in = *live->interp;
  in.SetNow(std::max(in.now(), EntryTimeMs(entry)));
  w->env().SetCurrent(live);
  live->effects_in_entry = 0;
  if (entry.seq() != 0) live->applied_seq = entry.seq();  // effect ids of this entry's sends use it
  switch (entry.kind_case()) {
    case ev::LogEntry::kEvent: {
      absl::Status st = in.Enqueue(ToScxmlEvent(entry.event()));
      if (!st.ok()) log::Warn("event not queued", {{"session", live->slot->id}, {"error", std::string(st.message())}});
      break;
    }
    case ev::LogEntry::kTerminated:
      w->env().SetCurrent(nullptr);
      live->interp.reset();  // cancels invoked children; no final state
      Notify(live, entry, true);
      return;
    case ev::LogEntry::kClock:
      live->clock_pending = false;
      break;
    default:
      break;
  }
  in.RunUntilIdle();
  w->env().SetCurrent(nullptr);
  Notify(live, entry, in.finished());
}

void Engine::Impl::Notify(Live* live, const ev::LogEntry& entry, bool finished) {
  if (live->replaying || live->watchers.empty()) {
    live->logs.clear();
    return;
  }
  sv1::WatchSessionResponse u;
  u.set_seq(live->slot->persistent ? entry.seq() : 0);
  switch (entry.kind_case()) {
    case ev::LogEntry::kEvent:
      u.set_input(absl::StrCat("event:", entry.event().name()));
      break;
    case ev::LogEntry::kStarted:
      u.set_input("started");
      break;
    case ev::LogEntry::kTerminated:
      u.set_input("terminated");
      break;
    default:
      u.set_input("clock");
  }
  if (live->interp != nullptr) {
    for (auto& s : live->interp->ActiveStates(false)) u.add_active_states(s);
  }
  for (auto& l : live->logs) u.add_logs(std::move(l));
  live->logs.clear();
  u.set_finished(finished);
  for (auto it = live->watchers.begin(); it != live->watchers.end();) {
    if ((*it)->abandoned.load()) {
      it = live->watchers.erase(it);
      continue;
    }
    (*it)->Push(u, finished);
    ++it;
  }
  if (finished) live->watchers.clear();
}

void Engine::Impl::PostAfterApply(Worker* w, const std::shared_ptr<Slot>& slot) {
  w->Post([this, slot](Worker* w) {
    auto it = w->live.find(slot->id);
    if (it != w->live.end() && it->second->slot == slot) AfterApply(w, it->second.get());
  });
}

void Engine::Impl::AfterApply(Worker* w, Live* live) {
  live->last_activity_ms = MonoNowMs();
  if (live->interp == nullptr || live->interp->finished()) {
    FinishLive(w, live);
    return;
  }
  if (auto due = live->interp->NextDueMs()) {
    if (*due != live->timer_due) {
      live->timer_due = *due;
      w->timers.push({*due, live->slot->id});
    }
  } else {
    live->timer_due = INT64_MAX;
  }
  if (!live->slot->persistent) return;
  if (live->snapshot_seq >= live->applied_seq) {
    live->unsnapshotted_since_ms = MonoNowMs();
    return;
  }
  // Snapshot when this session's queue has drained and enough has happened.
  if (live->slot->pending.load() == 0 &&
      (live->applied_seq - live->snapshot_seq >= options_.snapshot_every_entries ||
       MonoNowMs() - live->unsnapshotted_since_ms >= options_.snapshot_every_ms)) {
    (void)SnapshotLive(live, false);
  }
}

void Engine::Impl::FinishLive(Worker* w, Live* live) {
  std::shared_ptr<Slot> slot = live->slot;
  const bool persistent = slot->persistent;
  log::Info("session ended", {{"session", slot->id},
                              {"final", live->interp ? live->interp->final_state() : std::string("terminated")}});
  RemoveSlot(slot);
  if (persistent && CheckWritable().ok()) {
    absl::Status st = store_->Delete(slot->id, epoch_.load());
    if (!st.ok() && st.code() != absl::StatusCode::kNotFound) {
      log::Warn("cannot delete an ended session's state (its keys expire by TTL)",
                {{"session", slot->id}, {"error", std::string(st.message())}});
    }
  }
  for (auto& watcher : live->watchers) {
    sv1::WatchSessionResponse u;
    u.set_finished(true);
    watcher->Push(u, true);
  }
  w->live.erase(slot->id);  // destroys `live`
  metrics_->SessionsInMemory(-1);
  metrics_->CountEnded();
}

absl::Status Engine::Impl::SnapshotLive(Live* live, bool deactivated) {
  if (live->outstanding_sends->load() > 0) return absl::UnavailableError("sends in flight");
  sv1::SessionRecord record;
  record.set_format_version(1);
  record.set_document_sha256(live->slot->document_sha256);
  record.set_document_url(live->slot->document_url);
  record.set_covers_seq(live->applied_seq);
  record.set_clock_ms(live->interp->now());
  record.set_send_recovered(live->send_recovered);
  record.set_deactivated(deactivated);
  {
    std::lock_guard<std::mutex> l(live->slot->effects_mu);
    for (const auto& e : live->slot->effect_order) record.add_effect_ids(e);
  }
  RETURN_IF_ERROR(live->interp->Snapshot(record.mutable_interpreter()));
  std::string bytes;
  record.SerializeToString(&bytes);
  RETURN_IF_ERROR(CheckWritable());
  const int64_t t0 = MonoNowMs();
  absl::Status st = store_->PutSnapshot(live->slot->id, epoch_.load(), live->applied_seq, bytes);
  metrics_->ObserveSnapshot((MonoNowMs() - t0) / 1000.0, bytes.size(), st.ok());
  if (st.code() == absl::StatusCode::kAborted) {
    Fence(absl::StrCat("snapshot of ", live->slot->id, " refused: ", st.message()));
    return st;
  }
  if (!st.ok()) return st;
  live->snapshot_seq = live->applied_seq;
  live->unsnapshotted_since_ms = MonoNowMs();
  return absl::OkStatus();
}

void Engine::Impl::FireTimers(Worker* w) {
  const int64_t now = RealNowMs();
  while (!w->timers.empty() && w->timers.top().due_ms <= now) {
    Worker::Timer t = w->timers.top();
    w->timers.pop();
    auto it = w->live.find(t.id);
    if (it == w->live.end()) continue;
    Live* live = it->second.get();
    if (live->timer_due != t.due_ms || live->interp == nullptr) continue;  // superseded
    live->timer_due = INT64_MAX;
    if (!live->slot->persistent) {
      // In memory only: nothing to log, and no seq (those belong to inputs).
      ev::LogEntry entry;
      entry.mutable_clock();
      SetEntryTime(&entry, now);
      Apply(w, live, entry);
      AfterApply(w, live);
      continue;
    }
    if (live->clock_pending) continue;
    std::lock_guard<std::mutex> l(live->slot->mu);
    if (live->slot->dead) continue;
    ev::LogEntry entry;
    entry.mutable_clock();
    auto r = AppendAndPost(live->slot, std::move(entry));
    if (r.ok()) {
      live->clock_pending = true;
    } else {
      // Redis unreachable: try again shortly (the send fires late, not never).
      live->timer_due = now + 500;
      w->timers.push({now + 500, t.id});
    }
  }
}

void Engine::Impl::Housekeep(Worker* w) {
  const int64_t now = MonoNowMs();
  std::vector<std::string> idle;
  for (auto& [id, l] : w->live) {
    Live* live = l.get();
    if (!live->slot->persistent || live->interp == nullptr) continue;
    if (live->applied_seq > live->snapshot_seq && live->slot->pending.load() == 0 &&
        now - live->unsnapshotted_since_ms >= options_.snapshot_every_ms) {
      (void)SnapshotLive(live, false);
    }
    if (options_.deactivate_idle_ms > 0 && now - live->last_activity_ms >= options_.deactivate_idle_ms &&
        live->slot->pending.load() == 0 && !live->interp->NextDueMs().has_value() &&
        live->outstanding_sends->load() == 0) {
      idle.push_back(id);
    }
  }
  for (const std::string& id : idle) {
    Live* live = w->live[id].get();
    std::shared_ptr<Slot> slot = live->slot;
    // Skipped when busy: whoever holds it is appending an input.
    std::unique_lock<std::mutex> l(slot->mu, std::try_to_lock);
    if (!l.owns_lock() || slot->pending.load() != 0 || slot->dead) continue;
    if (!SnapshotLive(live, /*deactivated=*/true).ok()) continue;
    (void)store_->SetState(id, epoch_.load(), kStateDeactivated);  // best effort: recovery then loads it to check
    RemoveSlot(slot);
    w->live.erase(id);
    metrics_->SessionsInMemory(-1);
    metrics_->CountDeactivation();
  }
}

// ---- sends to other sessions ----------------------------------------------------

absl::Status Engine::Impl::WorkerEnv::SendExternal(const Interpreter& from, const std::string& target,
                                                   const std::string& type, const scxml::Event& event) {
  if (type == scxml::kBasicHttpEventProcessor) return scxml::BasicHttpSend(target, event);
  if (absl::StartsWith(target, kRequestOriginPrefix)) {
    if (current_ == nullptr || !current_->replaying) {
      engine_->Answer(target.substr(std::string_view(kRequestOriginPrefix).size()), event);
    }
    return absl::OkStatus();
  }
  if (!type.empty() && type != "http://www.w3.org/TR/scxml/#SCXMLEventProcessor" && type != "scxml") {
    return absl::InvalidArgumentError(absl::StrCat("unsupported send type '", type, "'"));
  }
  constexpr absl::string_view kPrefix = "#_scxml_";
  if (!absl::StartsWith(target, kPrefix)) {
    return absl::InvalidArgumentError(absl::StrCat("target '", target, "' is not reachable from session-engine"));
  }
  const std::string to = target.substr(kPrefix.size());
  auto node = NodeOfSessionId(to);
  if (!node.ok()) return node.status();
  if (current_ == nullptr) return absl::FailedPreconditionError("send outside a macrostep");
  ev::Event out;
  out.set_name(event.name);
  if (event.data != "undefined") {
    auto v = JsonToValue(event.data);
    if (v.ok()) *out.mutable_data() = *v;
  }
  out.set_origin(absl::StrCat("#_scxml_", from.session_id()));
  out.set_origin_type("http://www.w3.org/TR/scxml/#SCXMLEventProcessor");
  out.set_send_id(event.sendid);
  out.set_source(ev::EVENT_SOURCE_SESSION);
  // Deterministic: the sender, the log entry being applied and the send's
  // place in it. A replay of that entry sends the same id, and the receiver
  // acknowledges it without delivering it twice.
  out.set_effect_id(current_->slot->persistent
                        ? absl::StrCat(current_->slot->id, "/", current_->applied_seq, "/", current_->effects_in_entry++)
                        : absl::StrCat(current_->slot->id, "/m", ++current_->volatile_effects));
  std::shared_ptr<std::atomic<int>> outstanding = current_->outstanding_sends;
  outstanding->fetch_add(1);
  Impl* engine = engine_;
  auto finish = [outstanding](const absl::Status& st, const std::string& to) {
    if (!st.ok()) log::Warn("send to a session failed", {{"target", to}, {"error", std::string(st.message())}});
    outstanding->fetch_sub(1);
  };
  if (*node == engine->options_.node_id) {
    // Asynchronous, on the sends thread (which may wait for the target's
    // restore on its worker; a worker never waits for another).
    engine->sends_->Post([engine, to, out, finish] {
      auto r = engine->Deliver(to, out);
      finish(r.status(), to);
    });
    return absl::OkStatus();
  }
  // Another node: its primary, from its lease.
  engine->sends_->Post([engine, to, out, finish, node = *node] {
    absl::Status st;
    auto lease = engine->store_->GetLease(absl::StrCat("node:", node));
    if (!lease.ok() || lease->holder.empty()) {
      st = absl::UnavailableError(absl::StrCat("node ", node, " has no primary"));
    } else {
      std::shared_ptr<sv1::Sessions::Stub> stub;
      {
        std::lock_guard<std::mutex> l(engine->remote_mu_);
        auto& s = engine->remote_stubs_[lease->endpoint];
        if (!s) s = sv1::Sessions::NewStub(::grpc::CreateChannel(lease->endpoint, ::grpc::InsecureChannelCredentials()));
        stub = s;
      }
      sv1::SendEventRequest req;
      req.set_session_id(to);
      *req.mutable_event() = out;
      sv1::SendEventResponse resp;
      ::grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      ::grpc::Status gs = stub->SendEvent(&ctx, req, &resp);
      if (!gs.ok()) st = absl::UnavailableError(gs.error_message());
    }
    finish(st, to);
  });
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(EngineOptions options, SessionStore* store,
                                                       metrics::MetricsServer* metrics) {
  if (options.worker_threads < 1 || options.worker_threads > 256) {
    return absl::InvalidArgumentError("scxml.session-processing-threads must be 1..256");
  }
  if (options.lease_renew_ms * 2 > options.lease_ttl_ms) {
    return absl::InvalidArgumentError("orchestration.lease-renew-ms must be at most half of lease-ttl-ms");
  }
  if (options.instance_id.empty()) return absl::InvalidArgumentError("instance id is empty");
  return std::unique_ptr<Engine>(new Engine(std::make_unique<Impl>(std::move(options), store, metrics)));
}

void Engine::Start(std::function<void(bool)> on_serving) { impl_->Start(std::move(on_serving)); }
void Engine::Stop() { impl_->Stop(); }
absl::StatusOr<sv1::StartSessionResponse> Engine::StartSession(const sv1::StartSessionRequest& req) {
  return impl_->StartSession(req);
}
absl::StatusOr<sv1::SendEventResponse> Engine::SendEvent(const sv1::SendEventRequest& req) {
  return impl_->SendEvent(req);
}
absl::StatusOr<sv1::QuerySessionResponse> Engine::QuerySession(const sv1::QuerySessionRequest& req) {
  return impl_->QuerySession(req);
}
absl::StatusOr<sv1::RequestEventResponse> Engine::Request(const sv1::RequestEventRequest& req) {
  return impl_->Request(req);
}
absl::Status Engine::WatchSession(const sv1::WatchSessionRequest& req,
                                  const std::function<bool(const sv1::WatchSessionResponse&)>& write,
                                  const std::function<bool()>& cancelled) {
  return impl_->WatchSession(req, write, cancelled);
}
absl::Status Engine::TerminateSession(const sv1::TerminateSessionRequest& req) { return impl_->TerminateSession(req); }
absl::StatusOr<sv1::ListSessionsResponse> Engine::ListSessions(const sv1::ListSessionsRequest& req) {
  return impl_->ListSessions(req);
}
bool Engine::serving() const { return impl_->serving(); }
uint64_t Engine::epoch() const { return impl_->epoch(); }

}  // namespace orch::session_engine
