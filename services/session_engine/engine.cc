#include "services/session_engine/engine.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/log/log.h"
#include "common/scxml/basic_http.h"
#include "common/sessionapi/session_id.h"
#include "common/sessionapi/value_json.h"
#include "orch/session/v1/record.pb.h"
#include "services/session_engine/log_entries.h"

namespace orch::session_engine {

namespace ev = orch::event::v1;
namespace sv1 = orch::session::v1;

namespace {

constexpr char kRecoveredEvent[] = "session.recovered";
constexpr char kScxmlProcessor[] = "http://www.w3.org/TR/scxml/#SCXMLEventProcessor";
constexpr size_t kMaxEventNameBytes = 512;
constexpr size_t kMaxReasonBytes = 1024;
constexpr size_t kMaxIdempotencyKeyBytes = 256;
constexpr int kMaxQueryDataNames = 100;
constexpr uint32_t kDefaultRequestTimeoutMs = 10000;
constexpr uint32_t kMaxRequestTimeoutMs = 300000;
constexpr int64_t kWatchPollMs = 200;          // how often a watch checks for cancellation
constexpr int64_t kClockRetryMs = 500;         // a clock entry that could not be written

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
      session_config_{&factory_, options_.limits, options_.max_microsteps},
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
      router_(SendRouter::Options{options_.node_id, options_.io_threads}, &requests_, &docs_, peers_,
              [this](const std::string& id, const ev::Event& e) { return Deliver(id, e).status(); },
              deps.http ? deps.http : HttpSend(scxml::BasicHttpSend)),
      workers_(options_.worker_threads, clock_, this),
      states_(options_.worker_threads),
      recovery_(ProactiveRecovery::Options{options_.node_id, static_cast<size_t>(options_.worker_threads),
                                           options_.session_restart_timeout_ms},
                &store_, &registry_, clock_,
                [this](const std::string& id) {
                  auto locked = Find(id);
                  return locked.ok() && locked->activated();
                },
                [this](double seconds) { metrics_->RecoveryDone(seconds); }) {}

Engine::~Engine() { StopInternal(/*clean=*/true); }

void Engine::Start(std::function<void(bool)> on_serving) {
  on_serving_ = std::move(on_serving);
  workers_.Start();
  lease_.Begin();
  metrics_->SetRole(false);
  lease_thread_ = std::thread([this] { LeaseLoop(); });
}

void Engine::Stop() { StopInternal(/*clean=*/true); }
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
  if (on_serving_) on_serving_(true);
  if (options_.proactive_recovery) {
    const uint64_t generation = lease_.generation();
    recovery_.Start([this, generation] { return lease_.generation() == generation; });
  }
}

void Engine::OnReacquired(uint64_t, uint64_t epoch) {
  metrics_->SetEpoch(epoch);
  DropSessions(/*persistent_only=*/true);
}

void Engine::OnDeposed(const std::string&) {
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
  // The document: fetched (then the alternate URL) or inline.
  absl::StatusOr<std::shared_ptr<const scxml::Document>> doc;
  std::string url;
  switch (req.document_case()) {
    case sv1::StartSessionRequest::kUrl: {
      url = req.url();
      const int64_t f0 = clock_->MonotonicMs();
      doc = docs_.FromUrl(url);
      if (!doc.ok() && !req.alternate_url().empty()) {
        log::Warn("document failed, trying the alternate url",
                  {{"url", url}, {"alternate", req.alternate_url()}, {"error", std::string(doc.status().message())}});
        url = req.alternate_url();
        doc = docs_.FromUrl(url);
      }
      metrics_->ObserveFetch(Seconds(clock_->MonotonicMs() - f0));
      break;
    }
    case sv1::StartSessionRequest::kSource:
      url = "inline";
      doc = docs_.FromSource(req.source(), "inline");
      break;
    default:
      return absl::InvalidArgumentError("one of url or source is required");
  }
  if (!doc.ok()) return doc.status();
  ASSIGN_OR_RETURN(const bool persistent, IsPersistent(**doc, options_.persistence_default));

  // Entry 1. Start parameters: only for <data _type="parameter"> of the root.
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
    return absl::OutOfRangeError(
        absl::StrCat("start parameters are larger than ", options_.max_event_bytes, " bytes"));
  }
  const bool keyed = !req.idempotency_key().empty();
  const std::string id = keyed ? sessionapi::SessionIdForKey(options_.node_id, req.idempotency_key())
                               : sessionapi::NewSessionId(options_.node_id);
  s->set_random_seed(SeedOf(id));
  sv1::StartSessionResponse resp;
  resp.set_session_id(id);
  resp.set_persistent(persistent);

  if (keyed) {
    auto existing = Find(id);
    if (existing.ok()) {
      resp.set_persistent(existing->entry().persistent);
      resp.set_created(false);
      return resp;
    }
    if (existing.status().code() != absl::StatusCode::kNotFound) return existing.status();
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
  entry->document_sha256 = (*doc)->sha256;
  if (absl::Status q = CheckQueue(*entry); !q.ok()) {
    registry_.Remove(entry);
    return q;
  }
  if (persistent) {
    if (absl::Status put = docs_.Store(**doc); !put.ok()) {
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
  std::shared_ptr<const scxml::Document> d = *doc;
  absl::Status st =
      workers_.RunOn(entry->worker, [&] { return StartLive(entry->worker, entry, d, started); });
  if (!st.ok()) {
    registry_.Remove(entry);
    if (persistent) (void)store_.Delete(id, started.epoch());
    return absl::Status(st.code(), absl::StrCat("the session could not start: ", st.message()));
  }
  entry->ready = true;
  metrics_->SessionStarted(persistent, Seconds(clock_->MonotonicMs() - t0));
  resp.set_created(true);
  return resp;
}

absl::StatusOr<sv1::SendEventResponse> Engine::SendEvent(const sv1::SendEventRequest& req) {
  RETURN_IF_ERROR(CheckInput(req.session_id(), req.event()));
  return Deliver(req.session_id(), req.event());
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
  event.set_origin_type(kScxmlProcessor);
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
  RETURN_IF_ERROR(lease_.CheckServing());
  RETURN_IF_ERROR(CheckSessionId(req.session_id()));
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
  RETURN_IF_ERROR(lease_.CheckServing());
  RETURN_IF_ERROR(CheckSessionId(req.session_id()));
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
  RETURN_IF_ERROR(lease_.CheckServing());
  RETURN_IF_ERROR(CheckSessionId(req.session_id()));
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

// ---- the API's steps ---------------------------------------------------------------

absl::Status Engine::CheckInput(const std::string& session_id, const ev::Event& event) const {
  RETURN_IF_ERROR(lease_.CheckServing());
  RETURN_IF_ERROR(CheckSessionId(session_id));
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
  return registry_.FindOrActivate(
      id,
      [&](const std::shared_ptr<SessionEntry>& e) ABSL_NO_THREAD_SAFETY_ANALYSIS { return Activate(e); },
      [&] { return lease_.CheckServing(); });
}

absl::StatusOr<sv1::SendEventResponse> Engine::Deliver(const std::string& id, const ev::Event& event) {
  ASSIGN_OR_RETURN(SessionRegistry::Locked locked, Find(id));
  const std::shared_ptr<SessionEntry>& entry = locked.shared();
  entry->mu.AssertHeld();
  sv1::SendEventResponse resp;
  if (!event.effect_id().empty() && entry->effects.Contains(event.effect_id())) {
    resp.set_duplicate(true);
    metrics_->CountDuplicate();
    return resp;
  }
  RETURN_IF_ERROR(CheckQueue(*entry));
  ev::LogEntry log_entry;
  *log_entry.mutable_event() = event;
  ASSIGN_OR_RETURN(uint64_t seq, WriteAndPost(entry, std::move(log_entry)));
  entry->effects.Remember(event.effect_id());
  resp.set_seq(entry->persistent ? seq : 0);
  return resp;
}

absl::StatusOr<uint64_t> Engine::WriteAndPost(const std::shared_ptr<SessionEntry>& entry, ev::LogEntry log_entry) {
  ASSIGN_OR_RETURN(uint64_t seq, writer_.Write(entry, &log_entry));
  entry->pending.fetch_add(1);
  workers_.Post(entry->worker, [this, entry, log_entry = std::move(log_entry)] {
    ApplyEntry(entry->worker, entry, log_entry);
  });
  return seq;
}

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
  if (s.NeedsSnapshot(now, options_.policy, held.entry->pending.load() == 0)) (void)Snapshot(held, false);
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
  std::vector<std::string> idle;
  for (auto& [id, held] : states_[worker].live) {
    const bool drained = held.entry->pending.load() == 0;
    if (held.session->NeedsSnapshot(now, options_.policy, drained)) (void)Snapshot(held, false);
    if (held.session->IsIdle(now, options_.policy, drained)) idle.push_back(id);
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
  if (entry->pending.load() != 0 || entry->dead) return;
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

}  // namespace orch::session_engine
