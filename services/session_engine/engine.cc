#include "services/session_engine/engine.h"

#include <optional>

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/config/validators.h"
#include "common/log/log.h"
#include "common/scxml/basic_http.h"
#include "common/scxml/delay.h"
#include "common/scxml/io_processors.h"
#include "common/sessionapi/call_binding.h"
#include "common/sessionapi/session_id.h"
#include "common/sessionapi/value_json.h"
#include "orch/session/v1/record.pb.h"
#include "services/session_engine/log_entries.h"

namespace orch::session_engine {

namespace ev = orch::event::v1;
namespace sv1 = orch::session::v1;

namespace {

constexpr size_t kMaxEventNameBytes = 512;
constexpr size_t kMaxReasonBytes = 1024;
constexpr size_t kMaxIdempotencyKeyBytes = 256;
constexpr int kMaxQueryDataNames = 100;
constexpr uint32_t kDefaultRequestTimeoutMs = 10000;
constexpr uint32_t kMaxRequestTimeoutMs = 300000;
constexpr int64_t kWatchPollMs = 200;          // how often a watch checks for cancellation
constexpr char kRestartEvent[] = "session.restart";  // the first event of a restarted call session

double Seconds(int64_t ms) { return static_cast<double>(ms) / 1000.0; }

// Without a PeerSessions (unit tests), other nodes cannot be reached.
class NoPeers final : public PeerSessions {
 public:
  void SendEvent(int node, sv1::SendEventRequest, std::function<void(absl::Status)> done) override {
    done(absl::UnavailableError(absl::StrCat("no route to node ", node, " is configured")));
  }
};

absl::Status CheckEventName(const std::string& name) {
  if (name.empty()) return absl::InvalidArgumentError("event.name is empty");
  if (name.size() > kMaxEventNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat("event.name is longer than ", kMaxEventNameBytes, " bytes"));
  }
  for (unsigned char c : name) {
    if (c <= 0x20 || c == 0x7f) return absl::InvalidArgumentError("event.name contains a space or control character");
  }
  if (name[0] == '.' || name.back() == '.') return absl::InvalidArgumentError("event.name starts or ends with '.'");
  return absl::OkStatus();
}

// <scxml _persist>, or the default.
absl::StatusOr<bool> IsPersistent(const scxml::Document& doc, bool by_default) {
  auto it = doc.extensions.find("_persist");
  if (it == doc.extensions.end()) return by_default;
  if (it->second != "true" && it->second != "false") {
    return absl::InvalidArgumentError(absl::StrCat("<scxml _persist=\"", it->second, "\">: must be true or false"));
  }
  return it->second == "true";
}

}  // namespace

absl::Status Engine::CheckSessionId(const std::string& id) const {
  ASSIGN_OR_RETURN(int node, sessionapi::NodeOfSessionId(id));
  if (node != options_.node_id) {
    return absl::FailedPreconditionError(
        absl::StrCat("session belongs to node ", node, "; this is node ", options_.node_id));
  }
  return absl::OkStatus();
}

// ---- construction and lifecycle ---------------------------------------------------

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(EngineOptions options, SessionStore* store,
                                                       metrics::MetricsServer* metrics, EngineDeps deps) {
  if (options.worker_threads < 1 || options.worker_threads > 256) {
    return absl::InvalidArgumentError("worker_threads must be 1..256");
  }
  if (options.lease_renew_ms * 2 > options.lease_ttl_ms) {
    return absl::InvalidArgumentError("the lease renewal period must be at most half of the lease TTL");
  }
  if (options.instance_id.empty()) return absl::InvalidArgumentError("instance id is empty");
  return std::unique_ptr<Engine>(new Engine(std::move(options), store, metrics, std::move(deps)));
}

Engine::Engine(EngineOptions options, SessionStore* store, metrics::MetricsServer* metrics, EngineDeps deps)
    : options_(std::move(options)),
      clock_(deps.clock != nullptr ? deps.clock : time::RealClock::Get()),
      metrics_(std::make_unique<EngineMetrics>(metrics)),
      store_(store, metrics_.get(), clock_),
      session_config_{&factory_, options_.limits, options_.max_microsteps,
                      absl::StrCat("node-", options_.node_id), options_.cluster_name},
      docs_(scxml::CompileOptions{.ecmascript = &factory_, .fetcher = &fetcher_}, &store_,
            DocumentCache::Options{.allowed_prefixes = options_.document_url_prefixes, .clock = clock_}),
      lease_(NodeLease::Options{options_.node_id, options_.instance_id, options_.endpoint, options_.lease_ttl_ms,
                                options_.lease_renew_ms},
             &store_, clock_, this),
      registry_(options_.max_sessions,
                [this](const std::string& id) { return workers_.WorkerOf(id); }),
      writer_(&store_, &lease_, clock_, options_.node_id,
              [this](const std::shared_ptr<SessionEntry>& e) { Evict(e); }),
      requests_(options_.instance_id, clock_),
      no_peers_(deps.peers != nullptr ? nullptr : std::make_unique<NoPeers>()),
      peers_(deps.peers != nullptr ? deps.peers : no_peers_.get()),
      timers_(deps.timers),
      router_(SendRouter::Options{options_.node_id, options_.io_threads}, &requests_, &docs_, peers_,
              deps.call_actions, [this](const std::string& id, const ev::Event& e) { return Deliver(id, e).status(); },
              deps.http ? deps.http : HttpSend(scxml::BasicHttpSend)),
      workers_(options_.worker_threads, clock_, this),
      states_(options_.worker_threads),
      heaps_(std::make_unique<js::ExecutorHeap[]>(options_.worker_threads)),
      recovery_(ProactiveRecovery::Options{options_.node_id, static_cast<size_t>(options_.worker_threads),
                                           options_.session_restart_timeout_ms},
                &store_, &registry_, clock_,
                [this](const std::string& id) -> absl::StatusOr<bool> {
                  ASSIGN_OR_RETURN(SessionRegistry::Locked locked, Find(id));
                  return locked.activated();
                },
                [this](double seconds) { metrics_->RecoveryDone(seconds); }),
      restarter_(CallRestarter::Options{.node_id = options_.node_id,
                                        .per_cycle = static_cast<size_t>(options_.worker_threads),
                                        .cycle_ms = options_.session_restart_timeout_ms},
                 &store_, clock_, metrics_.get(), [this](const std::string& id) { return registry_.Contains(id); },
                 [this](const persistence::v1::CallRecord& record, uint64_t epoch) {
                   return RestartCall(record, epoch);
                 }) {}

Engine::~Engine() { StopInternal(/*clean=*/true); }

void Engine::Start(std::function<void(bool)> on_serving) {
  on_serving_ = std::move(on_serving);
  workers_.Start();
  lease_.Begin();
  metrics_->SetRole(false);
  lease_thread_ = std::thread([this] { LeaseLoop(); });
}

void Engine::Stop() { StopInternal(/*clean=*/true); }

void Engine::SetSessionRestartTimeout(uint32_t ms) {
  restarter_.SetCycleMs(ms);
  recovery_.SetPauseMs(ms);
}
void Engine::StopAsIfCrashed() { StopInternal(/*clean=*/false); }

void Engine::StopInternal(bool clean) {
  {
    absl::MutexLock l(&stop_mu_);
    if (stopping_) return;
    stopping_ = true;
    stop_cv_.SignalAll();
  }
  if (lease_thread_.joinable()) lease_thread_.join();
  recovery_.Stop();
  restarter_.Stop();
  // SendEventAsync answers still owed: each comes within the store's
  // timeout, and may still post to the workers.
  blocking_.Stop();
  {
    absl::MutexLock l(&async_mu_);
    while (async_owed_ > 0) async_cv_.Wait(&async_mu_);
  }
  router_.Stop();  // finishes the sends already handed over
  const bool was_primary = lease_.BeginStop();
  // Workers snapshot on the way out only while the lease is still ours.
  snapshot_on_stop_ = was_primary && clean;
  workers_.Stop();
  if (was_primary && clean) lease_.Release();
  if (on_serving_) on_serving_(false);
}

void Engine::LeaseLoop() {
  for (;;) {
    const int64_t next = lease_.Tick();
    absl::MutexLock l(&stop_mu_);
    while (!stopping_ && !clock_->WaitUntil(&stop_cv_, &stop_mu_, next)) {
    }
    if (stopping_) return;
  }
}

void Engine::OnPrimary(uint64_t epoch) {
  metrics_->SetEpoch(epoch);
  metrics_->SetRole(true);
  const uint64_t generation = lease_.generation();
  auto current = [this, generation] { return lease_.generation() == generation; };
  // Serving once the calls to restart are known: until then the restarter
  // refuses every input (a lost call session must not be answered NOT_FOUND).
  restarter_.Start(epoch, current, [this, current] {
    if (current() && on_serving_) on_serving_(true);
  });
  if (options_.proactive_recovery) recovery_.Start(current);
}

void Engine::OnReacquired(uint64_t, uint64_t epoch) {
  metrics_->SetEpoch(epoch);
  DropSessions(/*persistent_only=*/true);
  // The new generation ends the restart pass: a new one lists again the
  // calls not restarted yet (those in memory are skipped).
  const uint64_t generation = lease_.generation();
  restarter_.Start(epoch, [this, generation] { return lease_.generation() == generation; }, nullptr);
}

void Engine::OnDeposed(const std::string&) {
  restarter_.Reset();
  metrics_->SetRole(false);
  metrics_->CountFenced();
  if (on_serving_) on_serving_(false);
  // Sessions in memory belong to the new primary now.
  DropSessions(/*persistent_only=*/false);
}

void Engine::DropSessions(bool persistent_only) {
  registry_.DropAll(persistent_only);
  for (int w = 0; w < workers_.size(); ++w) {
    workers_.Post(w, [this, w, persistent_only] {
      WorkerState& state = states_[w];
      for (auto it = state.live.begin(); it != state.live.end();) {
        if (persistent_only && !it->second.session->persistent()) {
          ++it;
          continue;
        }
        state.hub.Close(it->first, /*finished=*/false);
        state.live.erase(it++);
        metrics_->SessionsInMemory(-1);
      }
    });
  }
}

// ---- the API ---------------------------------------------------------------------

absl::StatusOr<sv1::StartSessionResponse> Engine::StartSession(const sv1::StartSessionRequest& req) {
  RETURN_IF_ERROR(lease_.CheckServing());
  return CreateSession(req, /*replay=*/nullptr);
}

absl::StatusOr<sv1::StartSessionResponse> Engine::CreateSession(const sv1::StartSessionRequest& req,
                                                                const std::vector<ev::Event>* replay) {
  const int64_t t0 = clock_->MonotonicMs();
  metrics_->PendingCreations(+1);
  struct Done {
    EngineMetrics* m;
    ~Done() { m->PendingCreations(-1); }
  } done{metrics_.get()};
  if (req.idempotency_key().size() > kMaxIdempotencyKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("idempotency_key is longer than ", kMaxIdempotencyKeyBytes, " bytes"));
  }
  ASSIGN_OR_RETURN(auto doc, ResolveDocument(req));
  docs_.WarmInvokes(*doc.document);  // here, not on the session's worker
  ASSIGN_OR_RETURN(bool persistent, IsPersistent(*doc.document, options_.persistence_default));
  if (req.persistence() == sv1::PERSISTENCE_OFF) persistent = false;
  ASSIGN_OR_RETURN(ev::LogEntry started, StartedEntry(req, *doc.document, doc.url));
  const bool keyed = !req.idempotency_key().empty();
  const std::string id = keyed ? sessionapi::SessionIdForKey(options_.node_id, req.idempotency_key())
                               : sessionapi::NewSessionId(options_.node_id);
  started.mutable_started()->set_random_seed(SeedOf(id));
  sv1::StartSessionResponse resp;
  resp.set_session_id(id);
  resp.set_persistent(persistent);
  if (replay == nullptr) RETURN_IF_ERROR(restarter_.Check(id));

  if (keyed) {
    auto existing = Find(id);
    if (existing.ok()) {
      resp.set_persistent(existing->entry().persistent);
      resp.set_created(false);
      return resp;
    }
    if (existing.status().code() != absl::StatusCode::kNotFound) return existing.status();
  }
  // One owner per call: bound to this node before anything is created.
  if (replay == nullptr && req.has_interaction() && req.interaction().bind()) {
    RETURN_IF_ERROR(BindCall(req.interaction().interaction_id(), id));
  }
  auto created = registry_.Create(id);
  if (!created.ok()) {
    if (created.status().code() != absl::StatusCode::kAlreadyExists) return created.status();
    resp.set_created(false);  // a concurrent start with the same key won
    return resp;
  }
  const std::shared_ptr<SessionEntry> entry = created->shared();
  entry->mu.AssertHeld();
  entry->persistent = persistent;
  entry->document_sha256 = doc.document->sha256;
  if (absl::Status q = CheckQueue(*entry); !q.ok()) {
    registry_.Remove(entry);
    return q;
  }
  if (persistent) {
    if (absl::Status put = docs_.Store(*doc.document); !put.ok()) {
      registry_.Remove(entry);
      if (put.code() == absl::StatusCode::kUnavailable) {
        return absl::UnavailableError(absl::StrCat("cannot store the document: ", put.message()));
      }
      return put;
    }
  }
  if (auto w = writer_.WriteFirst(entry, &started, keyed); !w.ok()) {
    registry_.Remove(entry);
    return w.status();
  }
  // The session's creation on its worker, waited for: a session that cannot
  // start is not left half-created in memory.
  absl::Status st =
      workers_.RunOn(entry->worker, [&] { return StartLive(entry->worker, entry, doc.document, started); });
  if (!st.ok()) {
    registry_.Remove(entry);
    if (persistent) (void)store_.Delete(id, started.epoch());
    return absl::Status(st.code(), absl::StrCat("the session could not start: ", st.message()));
  }
  if (replay != nullptr) {
    // Queued behind the start while the entry is still locked and not
    // ready: no input of a caller can overtake them.
    for (const ev::Event& event : *replay) {
      ev::LogEntry log_entry;
      *log_entry.mutable_event() = event;
      if (auto w = WriteAndPost(entry, std::move(log_entry)); !w.ok()) {
        Evict(entry);
        return w.status();
      }
      entry->effects.Remember(event.effect_id());
    }
  }
  entry->ready = true;
  metrics_->SessionStarted(persistent, Seconds(clock_->MonotonicMs() - t0));
  resp.set_created(true);
  if (replay == nullptr) ScheduleMaxAge(id, *doc.document);
  return resp;
}

void Engine::ScheduleMaxAge(const std::string& id, const scxml::Document& doc) {
  int64_t age = options_.max_session_age_ms;
  if (auto it = doc.extensions.find("_maxSessionAge"); it != doc.extensions.end()) {
    auto parsed = scxml::ParseDelay(it->second);   // checked when the document compiled
    if (parsed.ok()) age = *parsed;
  }
  if (age <= 0) return;
  absl::Status s = timers_ == nullptr
                       ? absl::FailedPreconditionError("no scheduler (orchestration.scheduler-endpoint is empty)")
                       : timers_->ScheduleMaxAge(id, age, clock_->NowMs() + age, options_.max_session_age_grace_ms);
  if (!s.ok()) {
    metrics_->CountMaxAgeFailure();
    log::Warn("session runs without its maximum age: its end was not scheduled",
              {{"session", id}, {"error", std::string(s.message())}});
  }
}

absl::StatusOr<sv1::SendEventResponse> Engine::SendEvent(const sv1::SendEventRequest& req) {
  RETURN_IF_ERROR(CheckInput(req.session_id(), req.event()));
  return Deliver(req.session_id(), req.event());
}

void Engine::SendEventAsync(const sv1::SendEventRequest& req, SendEventDone done) {
  if (absl::Status s = CheckInput(req.session_id(), req.event()); !s.ok()) return done(s);
  {
    absl::MutexLock l(&async_mu_);
    ++async_owed_;
  }
  // gRPC's callback threads are few: one never waits here for a session's
  // lock (held across an activation, say); the engine's threads do.
  if (std::shared_ptr<SessionEntry> entry = registry_.Get(req.session_id());
      entry != nullptr && entry->mu.TryLock()) {
    if (entry->ready && !entry->persistent.load() && !entry->dead.load()) {
      // In memory only: nothing to wait for (no store), so on this thread.
      entry->mu.Unlock();
      done(SendEvent(req));
      AsyncCallEnded();
      return;
    }
    if (TryDeliverAsync(entry, req.event(), done)) return;
  }
  auto run = std::make_shared<SendEventDone>(std::move(done));
  if (!blocking_.Post([this, req, run] {
        (*run)(SendEvent(req));
        AsyncCallEnded();
      })) {
    (*run)(absl::UnavailableError("session-engine is stopping"));
    AsyncCallEnded();
  }
}

void Engine::AsyncCallEnded() {
  absl::MutexLock l(&async_mu_);
  if (--async_owed_ == 0) async_cv_.SignalAll();
}

bool Engine::TryDeliverAsync(const std::shared_ptr<SessionEntry>& entry, const ev::Event& event,
                             SendEventDone& done) {
  // The synchronous path takes what needs waiting: activation, another
  // append of the session in flight.
  if (entry->dead.load() || !entry->ready || !entry->persistent.load() || entry->writing) {
    entry->mu.Unlock();
    return false;
  }
  if (std::optional<sv1::SendEventResponse> dup = Duplicate(*entry, event)) {
    entry->mu.Unlock();
    done(*dup);
    AsyncCallEnded();
    return true;
  }
  ev::LogEntry log_entry;
  *log_entry.mutable_event() = event;
  absl::Status begun = CheckQueue(*entry);
  if (begun.ok()) begun = writer_.BeginAsync(*entry, &log_entry);
  const std::string sha = entry->document_sha256;
  entry->mu.Unlock();
  if (!begun.ok()) {
    done(begun);
    AsyncCallEnded();
    return true;
  }
  store_.AppendAsync(
      entry->id, log_entry.epoch(), options_.node_id, sha, {log_entry},
      [this, entry, log_entry, done = std::move(done)](absl::StatusOr<uint64_t> appended) {
        absl::StatusOr<uint64_t> seq;
        {
          absl::MutexLock l(&entry->mu);
          seq = writer_.EndAsync(entry, log_entry, appended.status());
          if (seq.ok()) {
            // Posted before the lock is let go: log order = queue order.
            entry->effects.Remember(log_entry.event().effect_id());
            entry->pending.fetch_add(1);
            workers_.PostDeferred(entry->worker,
                                  [this, entry, log_entry] { ApplyEntry(entry->worker, entry, log_entry); });
          }
        }
        if (seq.ok()) {
          sv1::SendEventResponse resp;
          resp.set_seq(*seq);
          done(resp);  // the answer first; then the event is applied, here if its worker is idle
          workers_.Help(entry->worker);
        } else {
          done(seq.status());
        }
        AsyncCallEnded();  // last: Stop may destroy the engine once none is owed
      });
  return true;
}

absl::StatusOr<sv1::RequestEventResponse> Engine::Request(const sv1::RequestEventRequest& req) {
  RETURN_IF_ERROR(CheckInput(req.session_id(), req.event()));
  if (req.timeout_ms() > kMaxRequestTimeoutMs) {
    return absl::InvalidArgumentError(absl::StrCat("timeout_ms is above ", kMaxRequestTimeoutMs));
  }
  const uint32_t timeout_ms = req.timeout_ms() == 0 ? kDefaultRequestTimeoutMs : req.timeout_ms();
  ASSIGN_OR_RETURN(PendingRequests::Ticket ticket, requests_.Register());
  ev::Event event = req.event();
  event.set_origin(absl::StrCat(kRequestOriginPrefix, ticket.id()));
  event.set_origin_type(scxml::kScxmlEventProcessor);
  ASSIGN_OR_RETURN(sv1::SendEventResponse sent, Deliver(req.session_id(), event));
  if (sent.duplicate()) return absl::AlreadyExistsError("this effect_id was delivered before; its answer is gone");
  auto reply = ticket.Wait(clock_->MonotonicMs() + timeout_ms);
  if (!reply.ok()) {
    return absl::DeadlineExceededError(
        absl::StrCat("the session did not answer within ", timeout_ms, " ms (the event was delivered)"));
  }
  sv1::RequestEventResponse resp;
  resp.set_seq(sent.seq());
  resp.set_name(reply->name);
  if (auto v = sessionapi::JsonToValue(reply->data_json); v.ok()) *resp.mutable_data() = *std::move(v);
  return resp;
}

absl::StatusOr<sv1::QuerySessionResponse> Engine::QuerySession(const sv1::QuerySessionRequest& req) {
  RETURN_IF_ERROR(CheckSession(req.session_id()));
  if (req.data_names_size() > kMaxQueryDataNames) {
    return absl::InvalidArgumentError(absl::StrCat("at most ", kMaxQueryDataNames, " data_names"));
  }
  ASSIGN_OR_RETURN(SessionRegistry::Locked locked, Find(req.session_id()));
  const std::shared_ptr<SessionEntry> entry = locked.shared();
  locked.Unlock();  // the query runs after every input already posted
  sv1::QuerySessionResponse resp;
  resp.set_session_id(req.session_id());
  RETURN_IF_ERROR(workers_.RunOn(entry->worker, [&]() -> absl::Status {
    Held* held = FindHeld(entry->worker, entry);
    if (held == nullptr || held->session->interpreter() == nullptr) {
      return absl::NotFoundError(absl::StrCat("session ", entry->id, " has finished"));
    }
    scxml::Interpreter& in = *held->session->interpreter();
    resp.set_state(in.finished() ? sv1::SESSION_STATE_FINISHED : sv1::SESSION_STATE_RUNNING);
    for (auto& s : in.ActiveStates(false)) resp.add_active_states(s);
    for (const std::string& name : req.data_names()) {
      ASSIGN_OR_RETURN(std::string json, in.ReadData(name));
      auto value = sessionapi::JsonToValue(json);
      if (!value.ok()) return absl::InternalError(absl::StrCat("data '", name, "' is not JSON-representable"));
      (*resp.mutable_data())[name] = *std::move(value);
    }
    return absl::OkStatus();
  }));
  return resp;
}

absl::Status Engine::WatchSession(const sv1::WatchSessionRequest& req,
                                  const std::function<bool(const sv1::WatchSessionResponse&)>& write,
                                  const std::function<bool()>& cancelled) {
  RETURN_IF_ERROR(CheckSession(req.session_id()));
  ASSIGN_OR_RETURN(SessionRegistry::Locked locked, Find(req.session_id()));
  const std::shared_ptr<SessionEntry> entry = locked.shared();
  locked.Unlock();
  auto watcher = std::make_shared<Watcher>();
  sv1::WatchSessionResponse first;
  RETURN_IF_ERROR(workers_.RunOn(entry->worker, [&]() -> absl::Status {
    Held* held = FindHeld(entry->worker, entry);
    if (held == nullptr || held->session->interpreter() == nullptr) {
      return absl::NotFoundError(absl::StrCat("session ", entry->id, " has finished"));
    }
    RETURN_IF_ERROR(states_[entry->worker].hub.Add(*held->session, watcher));
    for (auto& s : held->session->interpreter()->ActiveStates(false)) first.add_active_states(s);
    first.set_seq(held->session->persistent() ? held->session->applied_seq() : 0);
    return absl::OkStatus();
  }));
  struct Abandon {
    Watcher* w;
    ~Abandon() { w->Abandon(); }
  } abandon{watcher.get()};
  // The current configuration first, then every macrostep.
  if (!write(first)) return absl::OkStatus();
  for (;;) {
    std::deque<sv1::WatchSessionResponse> batch;
    const bool closed = watcher->Take(clock_, clock_->MonotonicMs() + kWatchPollMs, &batch);
    bool finished = false;
    for (const auto& u : batch) {
      if (!write(u)) return absl::OkStatus();
      finished |= u.finished();
    }
    if (finished) return absl::OkStatus();
    if (closed) return absl::UnavailableError("the session left this instance's memory; watch it again");
    if (cancelled() || !lease_.primary()) return absl::UnavailableError("the watch ended: not serving");
  }
}

absl::Status Engine::TerminateSession(const sv1::TerminateSessionRequest& req) {
  RETURN_IF_ERROR(CheckSession(req.session_id()));
  if (req.reason().size() > kMaxReasonBytes) {
    return absl::InvalidArgumentError(absl::StrCat("reason is longer than ", kMaxReasonBytes, " bytes"));
  }
  ASSIGN_OR_RETURN(SessionRegistry::Locked locked, Find(req.session_id()));
  const std::shared_ptr<SessionEntry> entry = locked.shared();
  ev::LogEntry log_entry;
  log_entry.mutable_terminated()->set_reason(req.reason());
  entry->mu.AssertHeld();
  RETURN_IF_ERROR(WriteAndPost(entry, std::move(log_entry)).status());
  locked.Unlock();
  // Answer once the worker has ended it (and deleted its durable state).
  return workers_.RunOn(entry->worker, [] { return absl::OkStatus(); });
}

absl::StatusOr<sv1::WakeSessionResponse> Engine::WakeSession(const sv1::WakeSessionRequest& req) {
  RETURN_IF_ERROR(CheckSession(req.session_id()));
  ASSIGN_OR_RETURN(SessionRegistry::Locked locked, Find(req.session_id()));
  sv1::WakeSessionResponse resp;
  resp.set_activated(locked.activated());
  return resp;
}

absl::StatusOr<sv1::ListSessionsResponse> Engine::ListSessions(const sv1::ListSessionsRequest& req) {
  RETURN_IF_ERROR(lease_.CheckServing());
  const uint32_t page = req.page_size() == 0 ? 100 : std::min<uint32_t>(req.page_size(), 1000);
  sv1::ListSessionsResponse resp;
  // The token is "m<offset>" while listing memory, "s<cursor>" in the store.
  const bool memory = req.filter() != sv1::ListSessionsRequest::FILTER_PERSISTENT;
  const bool stored = req.filter() != sv1::ListSessionsRequest::FILTER_IN_MEMORY_ONLY;
  std::string token = req.page_token().empty() ? (memory ? "m0" : "s0") : req.page_token();
  if (token[0] == 'm') {
    size_t offset = 0;
    if (!absl::SimpleAtoi(token.substr(1), &offset)) return absl::InvalidArgumentError("page_token is not valid");
    const std::vector<std::string> ids = registry_.VolatileIds();
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
  auto ids = store_.ListNodeSessions(options_.node_id, &cursor, page, nullptr);
  if (!ids.ok()) return absl::UnavailableError(absl::StrCat("cannot list stored sessions: ", ids.status().message()));
  for (auto& id : *ids) resp.add_session_ids(id);
  if (cursor != "0") resp.set_next_page_token(absl::StrCat("s", cursor));
  return resp;
}

absl::StatusOr<Engine::ResolvedDocument> Engine::ResolveDocument(const sv1::StartSessionRequest& req) {
  ResolvedDocument out;
  absl::StatusOr<std::shared_ptr<const scxml::Document>> doc;
  switch (req.document_case()) {
    case sv1::StartSessionRequest::kUrl: {
      out.url = req.url();
      const int64_t f0 = clock_->MonotonicMs();
      doc = docs_.FromUrl(out.url);
      if (!doc.ok() && !req.alternate_url().empty()) {
        log::Warn("document failed, trying the alternate url",
                  {{"url", out.url}, {"alternate", req.alternate_url()}, {"error", std::string(doc.status().message())}});
        out.url = req.alternate_url();
        doc = docs_.FromUrl(out.url);
      }
      metrics_->ObserveFetch(Seconds(clock_->MonotonicMs() - f0));
      break;
    }
    case sv1::StartSessionRequest::kSource:
      out.url = "inline";
      doc = docs_.FromSource(req.source(), "inline");
      break;
    default:
      return absl::InvalidArgumentError("one of url or source is required");
  }
  if (!doc.ok()) return doc.status();
  out.document = *std::move(doc);
  return out;
}

absl::StatusOr<ev::LogEntry> Engine::StartedEntry(const sv1::StartSessionRequest& req, const scxml::Document& doc,
                                                  const std::string& url) const {
  ev::LogEntry started;
  auto* s = started.mutable_started();
  s->set_document_sha256(doc.sha256);
  s->set_document_url(url);
  // Start parameters: only for <data _type="parameter"> of the root.
  for (const auto& [name, value] : req.parameters()) {
    bool declared = false;
    for (const auto& d : doc.states[0].data) declared |= (d.id == name && d.parameter);
    if (!declared) {
      return absl::InvalidArgumentError(absl::StrCat("parameter '", name.substr(0, 128),
                                                     "' is not a <data _type=\"parameter\"> of the document"));
    }
    (*s->mutable_parameters())[name] = value;
  }
  if (req.has_interaction()) {
    const ev::InteractionBinding& b = req.interaction();
    if (b.interaction_id().empty() || b.interaction_id().size() > 256) {
      return absl::InvalidArgumentError("interaction.interaction_id must be 1..256 bytes");
    }
    if (!b.watcher().empty()) {
      if (absl::Status e = config::ValidateEndpoint(config::Value(b.watcher())); !e.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("interaction.watcher: ", e.message()));
      }
    }
    *s->mutable_interaction() = b;
  }
  if (started.ByteSizeLong() > options_.max_event_bytes) {
    return absl::OutOfRangeError(
        absl::StrCat("start parameters are larger than ", options_.max_event_bytes, " bytes"));
  }
  return started;
}

// ---- the API's steps ---------------------------------------------------------------

absl::Status Engine::CheckSession(const std::string& session_id) const {
  RETURN_IF_ERROR(lease_.CheckServing());
  RETURN_IF_ERROR(CheckSessionId(session_id));
  return restarter_.Check(session_id);
}

absl::Status Engine::CheckInput(const std::string& session_id, const ev::Event& event) const {
  RETURN_IF_ERROR(CheckSession(session_id));
  RETURN_IF_ERROR(CheckEventName(event.name()));
  if (event.ByteSizeLong() > options_.max_event_bytes) {
    return absl::OutOfRangeError(absl::StrCat("event is larger than ", options_.max_event_bytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status Engine::CheckQueue(const SessionEntry& entry) const {
  if (workers_.queued(entry.worker) >= options_.max_queue_per_worker) {
    return absl::ResourceExhaustedError("the session's worker queue is full; retry later");
  }
  return absl::OkStatus();
}

absl::StatusOr<SessionRegistry::Locked> Engine::Find(const std::string& id) {
  for (int attempt = 0;; ++attempt) {
    ASSIGN_OR_RETURN(SessionRegistry::Locked locked,
                     registry_.FindOrActivate(
                         id,
                         [&](const std::shared_ptr<SessionEntry>& e)
                             ABSL_NO_THREAD_SAFETY_ANALYSIS { return Activate(e); },
                         [&] { return lease_.CheckServing(); }));
    // An append of SendEventAsync in flight ends first, so that callers
    // find the session as its log has it (and its effect ids).
    SessionEntry& e = locked.entry();
    e.mu.AssertHeld();
    e.mu.Await(absl::Condition(&e, &SessionEntry::NotWriting));
    if (!e.dead.load()) return locked;
    if (attempt == 2) return absl::UnavailableError(absl::StrCat("session ", id, " kept leaving memory; retry"));
  }
}

std::optional<sv1::SendEventResponse> Engine::Duplicate(const SessionEntry& entry, const ev::Event& event) {
  if (event.effect_id().empty() || !entry.effects.Contains(event.effect_id())) return std::nullopt;
  metrics_->CountDuplicate();
  sv1::SendEventResponse resp;
  resp.set_duplicate(true);
  return resp;
}

absl::StatusOr<sv1::SendEventResponse> Engine::Deliver(const std::string& id, const ev::Event& event) {
  ASSIGN_OR_RETURN(SessionRegistry::Locked locked, Find(id));
  const std::shared_ptr<SessionEntry> entry = locked.shared();
  entry->mu.AssertHeld();
  if (std::optional<sv1::SendEventResponse> dup = Duplicate(*entry, event)) return *dup;
  sv1::SendEventResponse resp;
  RETURN_IF_ERROR(CheckQueue(*entry));
  ev::LogEntry log_entry;
  *log_entry.mutable_event() = event;
  ASSIGN_OR_RETURN(uint64_t seq, WriteAndPost(entry, std::move(log_entry), /*deferred=*/true));
  entry->effects.Remember(event.effect_id());
  resp.set_seq(entry->persistent ? seq : 0);
  locked.Unlock();
  workers_.Help(entry->worker);
  return resp;
}

absl::StatusOr<uint64_t> Engine::WriteAndPost(const std::shared_ptr<SessionEntry>& entry, ev::LogEntry log_entry,
                                              bool deferred) {
  ASSIGN_OR_RETURN(uint64_t seq, writer_.Write(entry, &log_entry));
  entry->pending.fetch_add(1);
  auto task = [this, entry, log_entry = std::move(log_entry)] { ApplyEntry(entry->worker, entry, log_entry); };
  if (deferred) {
    workers_.PostDeferred(entry->worker, std::move(task));
  } else {
    workers_.Post(entry->worker, std::move(task));
  }
  return seq;
}

absl::Status Engine::BindCall(const std::string& call_uuid, const std::string& session_id) {
  auto bound = store_.BindCall(call_uuid, options_.node_id, session_id);
  if (!bound.ok()) {
    const absl::Status& st = bound.status();
    switch (st.code()) {
      case absl::StatusCode::kNotFound:
        return sessionapi::CallHasNoRecord(call_uuid);
      case absl::StatusCode::kUnavailable:
      case absl::StatusCode::kDeadlineExceeded:
        return absl::UnavailableError(absl::StrCat("cannot bind call ", call_uuid, ": ", st.message()));
      default:
        return absl::Status(st.code(), absl::StrCat("cannot bind call ", call_uuid, ": ", st.message()));
    }
  }
  if (!bound->bound) {
    return sessionapi::CallOwnedByNode(call_uuid, bound->record.owner_node());
  }
  return absl::OkStatus();
}

absl::Status Engine::RestartCall(const persistence::v1::CallRecord& record, uint64_t epoch) {
  sv1::StartSessionRequest req;
  if (!req.ParseFromString(record.start_request())) {
    return absl::DataLossError("the record's start_request does not parse");
  }
  if (req.idempotency_key().empty() ||
      sessionapi::SessionIdForKey(options_.node_id, req.idempotency_key()) != record.session_id()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the record's start_request does not start session ", record.session_id()));
  }
  req.set_persistence(sv1::PERSISTENCE_OFF);
  auto recorded = store_.ReadCallEvents(record.call_uuid());
  if (!recorded.ok()) {
    return absl::Status(recorded.status().code(),
                        absl::StrCat("cannot read the call's events: ", recorded.status().message()));
  }
  std::vector<ev::Event> replay;
  replay.reserve(recorded->size() + 1);
  ev::Event& restart = replay.emplace_back();
  restart.set_name(kRestartEvent);
  restart.set_source(ev::EVENT_SOURCE_PLATFORM);
  restart.set_effect_id(absl::StrCat("restart/", record.call_uuid(), "/", epoch));
  (*restart.mutable_data()->mutable_struct_value()->mutable_fields())["interactionid"].set_string_value(
      record.call_uuid());
  // A record retried by call-watcher repeats an effect id: the first counts.
  absl::flat_hash_set<std::string> effects;
  for (ev::Event& e : *recorded) {
    if (!e.effect_id().empty() && !effects.insert(e.effect_id()).second) continue;
    replay.push_back(std::move(e));
  }
  ASSIGN_OR_RETURN(sv1::StartSessionResponse started, CreateSession(req, &replay));
  log::Info("restarted a call's session", {{"call", record.call_uuid()},
                                           {"session", started.session_id()},
                                           {"events", replay.size() - 1},
                                           {"created", started.created()}});
  return absl::OkStatus();
}

}  // namespace orch::session_engine
