#include "services/call_watcher/call_router.h"

#include <algorithm>
#include <random>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_format.h"
#include "common/base/fnv1a.h"
#include "common/log/log.h"
#include "common/sessionapi/session_id.h"

namespace orch::call_watcher {

namespace ev1 = ::orch::event::v1;
using google::protobuf::Struct;
using google::protobuf::Value;

namespace {

Value Str(absl::string_view s) {
  Value v;
  v.set_string_value(std::string(s));
  return v;
}

Struct Fields(std::initializer_list<std::pair<const char*, Value>> kv) {
  Struct s;
  for (const auto& [k, v] : kv) (*s.mutable_fields())[k] = v;
  return s;
}

bool Retryable(const absl::Status& st) {
  return absl::IsUnavailable(st) || absl::IsDeadlineExceeded(st) || absl::IsResourceExhausted(st);
}

// A parameter as a string: strings as they are, numbers without a needless
// fraction, booleans as true/false.
std::string AsString(const Value& v) {
  switch (v.kind_case()) {
    case Value::kStringValue: return v.string_value();
    case Value::kNumberValue: {
      double d = v.number_value();
      if (d == static_cast<double>(static_cast<int64_t>(d))) return absl::StrCat(static_cast<int64_t>(d));
      return absl::StrCat(d);
    }
    case Value::kBoolValue: return v.bool_value() ? "true" : "false";
    default: return "";
  }
}

const Value* Param(const Struct& s, const std::string& name) {
  auto it = s.fields().find(name);
  return it == s.fields().end() ? nullptr : &it->second;
}

double Number(const Struct& s, const std::string& name, double def) {
  const Value* v = Param(s, name);
  if (v == nullptr) return def;
  if (v->kind_case() == Value::kNumberValue) return v->number_value();
  double d;
  if (v->kind_case() == Value::kStringValue && absl::SimpleAtod(v->string_value(), &d)) return d;
  return def;
}

bool Bool(const Struct& s, const std::string& name) {
  const Value* v = Param(s, name);
  if (v == nullptr) return false;
  if (v->kind_case() == Value::kBoolValue) return v->bool_value();
  return v->kind_case() == Value::kStringValue && v->string_value() == "true";
}

// The objects of `params.<outer>[*].<inner>[*]` (the module's child
// elements, calls-contract.md §3); also `params.<inner>[*]`.
std::vector<const Struct*> Children(const Struct& params, const std::string& outer, const std::string& inner) {
  std::vector<const Struct*> out;
  auto collect = [&](const Value* list) {
    if (list == nullptr || list->kind_case() != Value::kListValue) return;
    for (const Value& item : list->list_value().values()) {
      if (item.kind_case() == Value::kStructValue) out.push_back(&item.struct_value());
    }
  };
  if (const Value* o = Param(params, outer); o != nullptr && o->kind_case() == Value::kListValue) {
    for (const Value& group : o->list_value().values()) {
      if (group.kind_case() == Value::kStructValue) collect(Param(group.struct_value(), inner));
    }
  }
  collect(Param(params, inner));
  return out;
}

// `to` of a redirect: a DN, or the `resource` object of queue.submit.done.
std::string TargetOf(const Value* to) {
  if (to == nullptr) return "";
  if (to->kind_case() == Value::kStructValue) {
    for (const char* k : {"target", "id"}) {
      if (const Value* v = Param(to->struct_value(), k); v != nullptr && !AsString(*v).empty()) return AsString(*v);
    }
    return "";
  }
  return AsString(*to);
}

std::string Lower(cv1::InteractionEventType t) { return absl::AsciiStrToLower(cv1::InteractionEventType_Name(t)); }

}  // namespace

struct CallRouter::Pending {
  enum Kind { kAction, kDefaultRoute, kQueueRoute } kind = kAction;
  std::string call_uuid;
  std::string action;   // the action's effect id (kAction, kQueueRoute)
  cv1::SwitchRequest req;
};

struct CallRouter::Adapter {
  std::string id;
  std::string switch_name;
  std::string tenant;
  AdapterSequence seq;
  LinkChannel* link = nullptr;
  std::map<std::string, Pending> pending;   // requests without a result, by request id
};

struct CallRouter::Action {
  std::string effect_id;
  std::string request_id;
  std::string module;
  std::string action;
  Struct params;
  int results = 0;        // result events sent
  Waiting waiting;        // queue submit: what it waits for (kept to wait again)
};

struct CallRouter::Outgoing {
  ev1::Event event;
  uint64_t ack = 0;
  int attempts = 0;
};

struct CallRouter::Call {
  enum class Phase { kClaiming, kStarting, kActive, kNoSession };
  std::string uuid;
  std::string adapter_id;
  std::string switch_name;
  std::string tenant;
  std::string media;
  std::string route_dn;        // the DN whose application runs
  std::string default_route;
  std::string session_id;
  int node = 0;
  Phase phase = Phase::kClaiming;
  sv1::StartSessionRequest start;
  int start_attempts = 0;
  bool start_in_flight = false;
  uint64_t first_seq = 0;
  int64_t created_ms = 0;      // monotonic
  bool expired = false;        // past call_ttl_ms: being ended by call-watcher
  int64_t retry_at_ms = 0;     // monotonic: next start or delivery attempt
  // The interaction as the feed tells it.
  std::string connection_id, ani, dnis, this_dn, parent, state = "routing";
  std::map<std::string, std::string> udata;
  std::vector<cv1::Party> parties;
  // Delivery.
  std::deque<Outgoing> outbox;
  bool sending = false;
  // Routing.
  int64_t route_requested_ms = 0;
  int64_t default_route_due_ms = 0;
  bool default_routed = false;
  std::string routed_to;
  int routes_in_flight = 0;    // ROUTE/REDIRECT requests without a result
  std::string reserved_target;
  bool released = false;
  std::map<std::string, Action> actions;            // by effect id
  std::map<std::string, std::string> treatments;    // switch request id -> action effect id
};

CallRouter::CallRouter(CallRouterOptions options, std::function<std::shared_ptr<const DnConfig>()> dn,
                       SessionSink* sink, CallStore* store, BlockingRunner run_blocking, time::Clock* clock,
                       CallMetrics* metrics)
    : options_(std::move(options)),
      dn_(std::move(dn)),
      sink_(sink),
      store_(store),
      run_blocking_(std::move(run_blocking)),
      clock_(clock),
      metrics_(metrics),
      instance_(absl::StrFormat("%08x", std::random_device()())),
      watcher_(options_.watcher) {}

void CallRouter::SetWatcher(std::string watcher) {
  absl::MutexLock l(&mu_);
  watcher_ = std::move(watcher);
}

CallRouter::~CallRouter() = default;

int CallRouter::NodeFor(const std::string& call_uuid, const std::vector<int>& nodes) {
  int best = nodes.empty() ? 1 : nodes[0];
  uint64_t best_score = 0;
  for (int n : nodes) {
    uint64_t h = Fnv1a64(absl::StrCat(n, "/", call_uuid));
    h ^= h >> 33;   // FNV's low bits mix poorly: fold and multiply (splitmix64's finaliser)
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    if (h >= best_score) {
      best_score = h;
      best = n;
    }
  }
  return best;
}

void CallRouter::RunEffects(Effects& fx) {
  for (auto& f : fx) f();
  fx.clear();
}

CallRouter::Call* CallRouter::FindCall(const std::string& uuid) {
  auto it = calls_.find(uuid);
  return it == calls_.end() ? nullptr : it->second.get();
}

size_t CallRouter::CallCount() {
  absl::MutexLock l(&mu_);
  return calls_.size();
}

// ------------------------------------------------------------------ links

absl::Status CallRouter::Attach(const cv1::Hello& hello, LinkChannel* link) {
  absl::MutexLock l(&mu_);
  auto& slot = adapters_[hello.adapter_id()];
  if (!slot) {
    slot = std::make_unique<Adapter>();
    slot->id = hello.adapter_id();
  }
  Adapter& a = *slot;
  if (a.link != nullptr && a.link != link) {
    a.link->Close(absl::AbortedError(absl::StrCat("a newer link of adapter ", a.id, " replaced this one")));
  } else if (a.link == nullptr) {
    if (metrics_) metrics_->LinkConnected(1);
  }
  a.link = link;
  a.switch_name = hello.switch_name();
  a.tenant = hello.tenant();
  cv1::WatcherMessage w;
  w.mutable_welcome()->set_resume_after_seq(a.seq.processed());
  w.mutable_welcome()->set_watcher(watcher_);
  link->Send(std::move(w));
  for (const auto& [id, p] : a.pending) {
    cv1::WatcherMessage m;
    *m.mutable_request() = p.req;
    link->Send(std::move(m));
  }
  log::Info("adapter linked", {{"adapter", a.id}, {"switch", a.switch_name},
                               {"resume_after_seq", a.seq.processed()}, {"requests_resent", a.pending.size()}});
  return absl::OkStatus();
}

void CallRouter::Detach(const std::string& adapter_id, LinkChannel* link) {
  absl::MutexLock l(&mu_);
  auto it = adapters_.find(adapter_id);
  if (it == adapters_.end() || it->second->link != link) return;
  it->second->link = nullptr;
  if (metrics_) metrics_->LinkConnected(-1);
  size_t calls = 0;
  for (const auto& [uuid, c] : calls_) calls += c->adapter_id == adapter_id ? 1 : 0;
  log::Warn("adapter link lost; its calls are kept for its reconnection",
            {{"adapter", adapter_id}, {"calls", calls}, {"requests_unanswered", it->second->pending.size()}});
}

absl::Status CallRouter::OnMessage(const std::string& adapter_id, LinkChannel* link, const cv1::AdapterMessage& msg) {
  Effects fx;
  absl::Status st;
  {
    absl::MutexLock l(&mu_);
    auto it = adapters_.find(adapter_id);
    if (it == adapters_.end() || it->second->link != link) {
      return absl::AbortedError(absl::StrCat("a newer link of adapter ", adapter_id, " replaced this one"));
    }
    Adapter& a = *it->second;
    if (msg.msg_case() == cv1::AdapterMessage::kResult) {
      OnResult(a, msg.result(), fx);
    } else if (msg.msg_case() == cv1::AdapterMessage::kInteraction ||
               msg.msg_case() == cv1::AdapterMessage::kTarget) {
      const uint64_t seq =
          msg.msg_case() == cv1::AdapterMessage::kInteraction ? msg.interaction().seq() : msg.target().seq();
      switch (a.seq.Receive(seq)) {
        case AdapterSequence::Verdict::kDuplicate:
          if (metrics_) metrics_->Duplicate();
          link->SendAck(a.seq.processed());
          break;
        case AdapterSequence::Verdict::kGap:
          log::Warn("sequence gap: the link is closed for the adapter to resend",
                    {{"adapter", a.id}, {"expected", a.seq.highest() + 1}, {"got", seq}});
          return absl::FailedPreconditionError(
              absl::StrCat("sequence gap: expected ", a.seq.highest() + 1, ", got ", seq));
        case AdapterSequence::Verdict::kNew:
          st = msg.msg_case() == cv1::AdapterMessage::kInteraction ? OnInteraction(a, msg.interaction(), fx)
                                                                    : OnTarget(a, msg.target(), fx);
          break;
      }
    } else {
      return absl::InvalidArgumentError("an AdapterMessage with no message");
    }
  }
  RunEffects(fx);
  return st;
}

void CallRouter::Processed(const std::string& adapter_id, uint64_t seq) {
  if (seq == 0) return;
  auto it = adapters_.find(adapter_id);
  if (it == adapters_.end()) return;
  Adapter& a = *it->second;
  if (a.seq.Done(seq) && a.link != nullptr) a.link->SendAck(a.seq.processed());
}

void CallRouter::Reject(Adapter& a, uint64_t seq, absl::string_view reason_code, const std::string& reason) {
  if (metrics_) metrics_->Rejected(reason_code);
  log::Warn("event rejected", {{"adapter", a.id}, {"seq", seq}, {"reason", std::string(reason)}});
  if (a.link != nullptr) {
    cv1::WatcherMessage m;
    m.mutable_rejected()->set_seq(seq);
    m.mutable_rejected()->set_reason(reason);
    a.link->Send(std::move(m));
  }
  Processed(a.id, seq);
}

// ------------------------------------------------------------------ calls

absl::Status CallRouter::OnInteraction(Adapter& a, const cv1::InteractionEvent& e, Effects& fx) {
  if (metrics_) metrics_->Event(Lower(e.type()));
  if (e.call_uuid().empty()) {
    Reject(a, e.seq(), "missing_call_uuid", "the event has no call_uuid");
    return absl::OkStatus();
  }
  Call* cp = FindCall(e.call_uuid());
  if (cp == nullptr) {
    if (e.type() == cv1::ROUTE_REQUEST || e.type() == cv1::NEW_INTERACTION) {
      StartCall(a, e, fx);
    } else {
      Reject(a, e.seq(), "unknown_call",
             absl::StrCat("unknown call ", e.call_uuid(), ": a call starts with ROUTE_REQUEST or NEW_INTERACTION"));
    }
    return absl::OkStatus();
  }
  Call& c = *cp;
  c.adapter_id = a.id;   // the call follows its adapter's link
  if (!e.connection_id().empty()) c.connection_id = e.connection_id();
  if (!e.ani().empty()) c.ani = e.ani();
  if (!e.dnis().empty()) c.dnis = e.dnis();
  if (!e.this_dn().empty()) c.this_dn = e.this_dn();
  if (!e.parent_call_uuid().empty()) c.parent = e.parent_call_uuid();
  if (e.parties_size() > 0) c.parties.assign(e.parties().begin(), e.parties().end());
  if (e.user_data_size() > 0 || e.type() == cv1::USER_DATA_CHANGED) {
    c.udata = std::map<std::string, std::string>(e.user_data().begin(), e.user_data().end());
  }
  const std::string effect = absl::StrCat("call/", a.id, "/", e.seq());
  switch (e.type()) {
    case cv1::ROUTE_REQUEST:
      c.state = "routing";
      c.route_dn = e.this_dn();
      if (c.default_route_due_ms == 0 && !c.default_routed) {
        c.route_requested_ms = clock_->MonotonicMs();
        c.default_route_due_ms = c.route_requested_ms + options_.default_route_timeout_ms;
      }
      Deliver(c, "interaction.onrouterequest", {}, effect, e.seq(), fx);
      break;
    case cv1::QUEUED:
      c.state = "queued";
      Deliver(c, "interaction.queued", {}, effect, e.seq(), fx);
      break;
    case cv1::RINGING:
    case cv1::ESTABLISHED:
    case cv1::PARTY_CHANGED:
    case cv1::TRANSFERRED: {
      if (e.type() == cv1::ESTABLISHED) {
        c.state = "established";
        c.default_route_due_ms = 0;
        if (c.routed_to.empty() && e.this_dn() != c.route_dn) c.routed_to = e.this_dn();
        if (!c.reserved_target.empty() && c.reserved_target == e.this_dn()) ReleaseReservation(c, fx);
      }
      std::string state = Lower(e.type());
      for (const cv1::Party& p : e.parties()) {
        if (p.dn() == e.this_dn() && !p.state().empty()) state = p.state();
      }
      Deliver(c, "interaction.partystatechanged",
              Fields({{"focusdeviceid", Str(e.this_dn())}, {"state", Str(state)}}), effect, e.seq(), fx);
      break;
    }
    case cv1::MERGED:
      Deliver(c, "interaction.onmerge",
              Fields({{"frominteractionid", Str(c.uuid)}, {"tointeractionid", Str(e.other_call_uuid())}}), effect,
              e.seq(), fx);
      break;
    case cv1::USER_DATA_CHANGED:
      Deliver(c, "interaction.udata.changed", {}, effect, e.seq(), fx);
      break;
    case cv1::RELEASED:
      c.state = "released";
      c.released = true;
      c.default_route_due_ms = 0;
      EndSubmits(c);
      ReleaseReservation(c, fx);
      Deliver(c, "interaction.deleted", Fields({{"resultof", Str(e.cause().empty() ? "normal" : e.cause())}}), effect,
              e.seq(), fx);   // may finish the call: `c` is not used after
      break;
    case cv1::TREATMENT_DONE:
    case cv1::TREATMENT_FAILED: {
      auto t = c.treatments.find(e.request_id());
      auto act = t == c.treatments.end() ? c.actions.end() : c.actions.find(t->second);
      if (act == c.actions.end()) {
        Processed(a.id, e.seq());
        break;
      }
      c.treatments.erase(t);
      if (e.type() == cv1::TREATMENT_DONE) {
        Struct extra;
        if (act->second.action == "playandcollect") (*extra.mutable_fields())["digits"] = Str(e.digits());
        ActionDone(c, act->second, std::move(extra), fx, e.seq());
      } else {
        ActionError(c, act->second, e.cause().empty() ? "failed" : e.cause(),
                    absl::StrCat("the treatment ended: ", e.cause().empty() ? "failed" : e.cause()), fx, e.seq());
      }
      break;
    }
    default:   // TREATMENT_STARTED, a repeated NEW_INTERACTION: nothing for the session
      Processed(a.id, e.seq());
      break;
  }
  return absl::OkStatus();
}

void CallRouter::StartCall(Adapter& a, const cv1::InteractionEvent& e, Effects& fx) {
  auto owned = std::make_unique<Call>();
  Call& c = *owned;
  c.uuid = e.call_uuid();
  c.adapter_id = a.id;
  c.switch_name = a.switch_name;
  c.tenant = e.tenant().empty() ? a.tenant : e.tenant();
  c.media = e.media_type().empty() ? "voice" : e.media_type();
  c.route_dn = e.this_dn();
  c.this_dn = e.this_dn();
  c.connection_id = e.connection_id();
  c.ani = e.ani();
  c.dnis = e.dnis();
  c.parent = e.parent_call_uuid();
  c.parties.assign(e.parties().begin(), e.parties().end());
  c.udata = std::map<std::string, std::string>(e.user_data().begin(), e.user_data().end());
  c.first_seq = e.seq();
  c.created_ms = clock_->MonotonicMs();
  if (e.type() == cv1::ROUTE_REQUEST) {
    c.route_requested_ms = clock_->MonotonicMs();
    c.default_route_due_ms = c.route_requested_ms + options_.default_route_timeout_ms;
  }
  calls_[c.uuid] = std::move(owned);

  std::shared_ptr<const DnConfig> cfg = dn_();
  const DnEntry* entry = cfg->Find(a.switch_name, e.this_dn());
  c.default_route = cfg->DefaultRoute(entry);
  absl::StatusOr<Application> app = absl::NotFoundError(
      absl::StrCat("no application for DN ", e.this_dn(), " (switch ", a.switch_name, ")"));
  if (entry != nullptr) {
    app = cfg->ApplicationFor(*entry, options_.cluster,
                              CallFacts{.ani = c.ani, .dnis = c.dnis, .dn = c.this_dn, .udata = c.udata});
  }
  if (!app.ok()) {
    c.phase = Call::Phase::kNoSession;
    if (metrics_) metrics_->SessionFailed("unknown_dn");
    Reject(a, e.seq(), "unknown_dn", std::string(app.status().message()));
    DefaultRoute(c, "unknown_dn", fx);
    return;
  }
  if (options_.max_queued_events > 0 && queued_events_ >= options_.max_queued_events) {
    c.phase = Call::Phase::kNoSession;
    if (metrics_) metrics_->SessionFailed("overloaded");
    Reject(a, e.seq(), "overloaded",
           absl::StrCat("call-watcher is overloaded: ", queued_events_,
                        " events wait for their sessions (calls.max-queued-events); the call gets its default route"));
    DefaultRoute(c, "overloaded", fx);
    return;
  }
  c.node = NodeFor(c.uuid, options_.nodes);
  const std::string key = "call:" + c.uuid;
  c.session_id = sessionapi::SessionIdForKey(c.node, key);
  c.start.set_url(app->url);
  c.start.set_alternate_url(app->alternate_url);
  for (auto& [k, v] : app->parameters) (*c.start.mutable_parameters())[k] = v;
  c.start.set_idempotency_key(key);
  auto* b = c.start.mutable_interaction();
  b->set_interaction_id(c.uuid);
  b->set_watcher(watcher_);
  b->set_media_type(c.media);
  b->set_tenant(c.tenant);
  c.start.set_persistence(cfg->Persistent(entry, c.media) ? sv1::PERSISTENCE_DOCUMENT : sv1::PERSISTENCE_OFF);
  Deliver(c, "interaction.added", {}, absl::StrCat("call/", a.id, "/", e.seq()), e.seq(), fx);

  CallRecord record;
  record.set_call_uuid(c.uuid);
  record.set_session_id(c.session_id);
  record.set_switch_name(c.switch_name);
  record.set_this_dn(c.this_dn);
  record.set_media_type(c.media);
  record.set_watcher(watcher_);
  record.set_created_unix_ms(clock_->NowMs());
  c.phase = Call::Phase::kClaiming;
  const absl::Duration ttl = absl::Milliseconds(options_.call_ttl_ms);
  fx.push_back([this, record, ttl] {
    run_blocking_([this, record, ttl] {
      absl::StatusOr<ClaimResult> r = store_->ClaimCall(record, ttl);
      Effects fx2;
      {
        absl::MutexLock l(&mu_);
        OnClaimed(record.call_uuid(), std::move(r), fx2);
      }
      RunEffects(fx2);
    });
  });
}

void CallRouter::OnClaimed(const std::string& uuid, absl::StatusOr<ClaimResult> r, Effects& fx) {
  Call* c = FindCall(uuid);
  if (c == nullptr || c->phase != Call::Phase::kClaiming) return;
  if (!r.ok()) {
    // The session is still started: a call must not wait for the record.
    // Its id is derived from the call, so a later claim names the same one.
    if (metrics_) metrics_->StoreError("claim_call");
    log::Warn("call record not stored; the call goes on", {{"call", uuid}, {"error", r.status().ToString()}});
  } else if (!r->created && !r->record.session_id().empty() && r->record.session_id() != c->session_id) {
    // Another replica (or a configuration with other nodes) started it:
    // keep that session.
    absl::StatusOr<int> node = sessionapi::NodeOfSessionId(r->record.session_id());
    if (node.ok()) {
      c->session_id = r->record.session_id();
      c->node = *node;
      log::Info("call claimed earlier: its session is kept", {{"call", uuid}, {"session", c->session_id}});
    }
  }
  c->phase = Call::Phase::kStarting;
  SendStart(*c, fx);
}

void CallRouter::SendStart(Call& c, Effects& fx) {
  c.start_in_flight = true;
  ++c.start_attempts;
  fx.push_back([this, uuid = c.uuid, node = c.node, req = c.start] {
    sink_->StartSession(node, req, [this, uuid](absl::StatusOr<sv1::StartSessionResponse> r) {
      Effects fx2;
      {
        absl::MutexLock l(&mu_);
        OnStarted(uuid, std::move(r), fx2);
      }
      RunEffects(fx2);
    });
  });
}

void CallRouter::OnStarted(const std::string& uuid, absl::StatusOr<sv1::StartSessionResponse> r, Effects& fx) {
  Call* c = FindCall(uuid);
  if (c == nullptr || c->phase != Call::Phase::kStarting) return;
  c->start_in_flight = false;
  if (r.ok()) {
    c->phase = Call::Phase::kActive;
    if (!r->session_id().empty()) c->session_id = r->session_id();
    if (metrics_) metrics_->SessionStarted();
    log::Debug("session started", {{"call", uuid}, {"session", c->session_id}, {"node", c->node}});
    Pump(*c, fx);
    return;
  }
  if (Retryable(r.status()) && c->start_attempts < options_.max_attempts) {
    c->retry_at_ms = clock_->MonotonicMs() + options_.retry_ms;
    return;
  }
  FailStart(*c, r.status().ToString(), fx);
}

void CallRouter::FailStart(Call& c, const std::string& why, Effects& fx) {
  c.phase = Call::Phase::kNoSession;
  if (metrics_) metrics_->SessionFailed("start_failed");
  log::Error("the call's application could not be started; the call gets its default route",
             {{"call", c.uuid}, {"dn", c.route_dn}, {"url", c.start.url()},
              {"alternate_url", c.start.alternate_url()}, {"error", why}});
  auto a = adapters_.find(c.adapter_id);
  if (a != adapters_.end()) {
    Reject(*a->second, c.first_seq, "start_failed",
           absl::StrCat("the application of DN ", c.route_dn, " could not be started: ", why));
  }
  bool finish = false;
  for (const Outgoing& o : c.outbox) {
    Processed(c.adapter_id, o.ack);
    finish = finish || o.event.name() == "interaction.deleted";
  }
  queued_events_ -= static_cast<int64_t>(c.outbox.size());
  c.outbox.clear();
  DefaultRoute(c, "start_failed", fx);
  if (finish) Finish(c, fx);
}

Value CallRouter::InteractionValue(const Call& c) const {
  Value v;
  Struct& s = *v.mutable_struct_value();
  auto& f = *s.mutable_fields();
  f["interactionid"] = Str(c.uuid);
  f["media"] = Str(c.media);
  f["type"] = Str("inbound");
  if (c.media == "voice") {
    f["voice"].mutable_struct_value()->CopyFrom(Fields({{"callid", Str(c.connection_id)}, {"ani", Str(c.ani)},
                                                        {"dnis", Str(c.dnis)}, {"type", Str("inbound")},
                                                        {"media", Str("voice")}}));
  }
  auto& udata = *f["udata"].mutable_struct_value()->mutable_fields();
  for (const auto& [k, val] : c.udata) udata[k] = Str(val);
  f["parentid"] = Str(c.parent);
  f["tenantid"] = Str(c.tenant);
  f["thisdn"] = Str(c.this_dn);
  auto* parties = f["parties"].mutable_list_value();
  for (const cv1::Party& p : c.parties) {
    parties->add_values()->mutable_struct_value()->CopyFrom(
        Fields({{"device", Str(p.dn())}, {"devicetype", Str(p.role())}, {"state", Str(p.state())}}));
  }
  f["state"] = Str(c.state);
  return v;
}

void CallRouter::Deliver(Call& c, std::string name, Struct extra, std::string effect_id, uint64_t ack, Effects& fx) {
  if (c.phase == Call::Phase::kNoSession) {
    Processed(c.adapter_id, ack);
    if (name == "interaction.deleted") Finish(c, fx);
    return;
  }
  Outgoing o;
  o.ack = ack;
  o.event.set_name(std::move(name));
  o.event.set_source(ev1::EVENT_SOURCE_CALL);
  o.event.set_effect_id(std::move(effect_id));
  auto& f = *o.event.mutable_data()->mutable_struct_value()->mutable_fields();
  f["interactionid"] = Str(c.uuid);
  f["interaction"] = InteractionValue(c);
  for (auto& [k, v] : *extra.mutable_fields()) f[k] = std::move(v);
  c.outbox.push_back(std::move(o));
  ++queued_events_;
  Pump(c, fx);
}

void CallRouter::Pump(Call& c, Effects& fx) {
  if (c.phase != Call::Phase::kActive || c.sending || c.outbox.empty()) return;
  if (c.retry_at_ms != 0 && c.retry_at_ms > clock_->MonotonicMs()) return;
  c.retry_at_ms = 0;
  c.sending = true;
  sv1::SendEventRequest req;
  req.set_session_id(c.session_id);
  *req.mutable_event() = c.outbox.front().event;
  fx.push_back([this, uuid = c.uuid, node = c.node, req = std::move(req)] {
    sink_->SendEvent(node, req, [this, uuid](absl::StatusOr<sv1::SendEventResponse> r) {
      Effects fx2;
      {
        absl::MutexLock l(&mu_);
        OnDelivered(uuid, r.status(), fx2);
      }
      RunEffects(fx2);
    });
  });
}

void CallRouter::OnDelivered(const std::string& uuid, absl::Status st, Effects& fx) {
  Call* c = FindCall(uuid);
  if (c == nullptr || !c->sending) return;
  c->sending = false;
  Outgoing& o = c->outbox.front();
  if (!st.ok()) {
    if (Retryable(st) && ++o.attempts < options_.max_attempts) {
      c->retry_at_ms = clock_->MonotonicMs() + options_.retry_ms;
      return;
    }
    if (metrics_) metrics_->DeliveryFailed(absl::StatusCodeToString(st.code()));
    log::Error("call event not delivered to its session",
               {{"call", uuid}, {"session", c->session_id}, {"event", o.event.name()}, {"error", st.ToString()}});
  }
  const uint64_t ack = o.ack;
  const bool last = o.event.name() == "interaction.deleted";
  c->outbox.pop_front();
  --queued_events_;
  Processed(c->adapter_id, ack);
  if (last) {
    Finish(*c, fx);
    return;
  }
  Pump(*c, fx);
}

void CallRouter::Finish(Call& c, Effects& fx) {
  ReleaseReservation(c, fx);
  EndSubmits(c);
  for (const Outgoing& o : c.outbox) Processed(c.adapter_id, o.ack);
  queued_events_ -= static_cast<int64_t>(c.outbox.size());
  c.outbox.clear();
  fx.push_back([this, uuid = c.uuid] {
    run_blocking_([this, uuid] {
      if (absl::StatusOr<bool> r = store_->DeleteCall(uuid); !r.ok()) {
        if (metrics_) metrics_->StoreError("delete_call");
        log::Warn("call record not deleted (it expires)", {{"call", uuid}, {"error", r.status().ToString()}});
      }
    });
  });
  log::Debug("call ended", {{"call", c.uuid}, {"session", c.session_id}});
  const std::string uuid = c.uuid;   // `c` is destroyed by the erase
  calls_.erase(uuid);
}

// --------------------------------------------------------------- requests

std::string CallRouter::SendRequest(Call& c, cv1::SwitchRequest req, Pending p) {
  const std::string id = absl::StrCat("cw-", instance_, "-", ++next_request_);
  req.set_request_id(id);
  req.set_call_uuid(c.uuid);
  p.call_uuid = c.uuid;
  p.req = req;
  if (req.type() == cv1::ROUTE || req.type() == cv1::REDIRECT) ++c.routes_in_flight;
  Adapter& a = *adapters_[c.adapter_id];
  a.pending[id] = std::move(p);
  if (a.link != nullptr) {
    cv1::WatcherMessage m;
    *m.mutable_request() = std::move(req);
    a.link->Send(std::move(m));
  }
  return id;
}

void CallRouter::DefaultRoute(Call& c, absl::string_view reason, Effects& fx) {
  if (c.default_routed) return;
  c.default_routed = true;
  c.default_route_due_ms = 0;
  if (c.default_route.empty()) {
    if (metrics_) metrics_->DefaultRoute("none_configured");
    log::Error("the call needs its default route but its DN has none (dn default-route, or the file's)",
               {{"call", c.uuid}, {"dn", c.route_dn}, {"reason", std::string(reason)}});
    return;
  }
  if (metrics_) metrics_->DefaultRoute(reason);
  log::Warn("default route", {{"call", c.uuid}, {"dn", c.route_dn}, {"target", c.default_route}, {"reason", std::string(reason)}});
  cv1::SwitchRequest req;
  req.set_type(cv1::ROUTE);
  req.set_target(c.default_route);
  req.set_reason(std::string(reason));
  SendRequest(c, std::move(req), Pending{.kind = Pending::kDefaultRoute});
}

void CallRouter::OnResult(Adapter& a, const cv1::RequestResult& r, Effects& fx) {
  auto it = a.pending.find(r.request_id());
  if (it == a.pending.end()) {
    log::Debug("result of an unknown or answered request", {{"adapter", a.id}, {"request", r.request_id()}});
    return;
  }
  Pending p = std::move(it->second);
  a.pending.erase(it);
  Call* c = FindCall(p.call_uuid);
  if (c == nullptr) return;
  const bool routing = p.req.type() == cv1::ROUTE || p.req.type() == cv1::REDIRECT;
  if (routing) --c->routes_in_flight;
  if (r.ok() && routing) {
    c->routed_to = p.req.target();
    c->state = "routed";
    c->default_route_due_ms = 0;
    if (metrics_ && c->route_requested_ms != 0) {
      metrics_->RouteLatency((clock_->MonotonicMs() - c->route_requested_ms) / 1000.0);
      c->route_requested_ms = 0;
    }
  }
  if (p.kind == Pending::kDefaultRoute) {
    if (!r.ok()) {
      if (metrics_) metrics_->DefaultRoute("failed");
      log::Error("default route refused by the switch",
                 {{"call", c->uuid}, {"target", p.req.target()}, {"error", r.error()}, {"description", r.description()}});
    }
    return;
  }
  auto act = c->actions.find(p.action);
  if (act == c->actions.end()) return;
  Action& action = act->second;
  if (p.kind == Pending::kQueueRoute) {
    if (r.ok()) {
      const std::string& t = p.req.target();
      ActionDone(*c, action,
                 Fields({{"targetselected", Str(t)}, {"vqselected", Str(action.waiting.queue)},
                         {"resource", [&] {
                            Value v;
                            v.mutable_struct_value()->CopyFrom(
                                Fields({{"target", Str(t)}, {"type", Str("agent")}, {"id", Str(t)}}));
                            return v;
                          }()}}),
                 fx);
    } else if (r.error() == "busy" && !c->released) {
      // The agent took another call meanwhile: wait for the next one.
      ReleaseReservation(*c, fx);
      log::Info("selected target busy: the call waits again", {{"call", c->uuid}, {"target", p.req.target()}});
      Waiting w = action.waiting;
      w.reserving = false;
      waiting_.Add(std::move(w));
      Assign(fx);
    } else {
      ReleaseReservation(*c, fx);
      ActionError(*c, action, r.error().empty() ? "failed" : r.error(), r.description(), fx);
    }
    return;
  }
  const bool treatment = action.module == "dialog" && p.req.type() == cv1::APPLY_TREATMENT;
  if (!r.ok()) {
    ActionError(*c, action, r.error().empty() ? "failed" : r.error(), r.description(), fx);
  } else if (treatment) {
    c->treatments[r.request_id()] = action.effect_id;   // done when TREATMENT_DONE/FAILED comes
  } else {
    ActionDone(*c, action, {}, fx);
  }
}

// ---------------------------------------------------------------- actions

absl::StatusOr<cv1::SubmitActionResponse> CallRouter::SubmitAction(const cv1::SubmitActionRequest& req) {
  if (req.effect_id().empty() || req.request_id().empty() || req.interaction_id().empty() || req.action().empty()) {
    return absl::InvalidArgumentError("SubmitAction needs effect_id, request_id, interaction_id and action");
  }
  if (req.module() != "interaction" && req.module() != "dialog" && req.module() != "queue") {
    return absl::InvalidArgumentError(
        absl::StrCat("SubmitAction.module '", req.module(), "' is not one of interaction, dialog, queue"));
  }
  Effects fx;
  cv1::SubmitActionResponse resp;
  {
    absl::MutexLock l(&mu_);
    Call* c = FindCall(req.interaction_id());
    if (c == nullptr || c->released) {
      if (metrics_) metrics_->Action(req.module(), req.action(), "unknown_interaction");
      return absl::NotFoundError(
          absl::StrCat("interaction ", req.interaction_id(), " is not a live call of this call-watcher"));
    }
    auto [it, inserted] = c->actions.try_emplace(req.effect_id());
    if (!inserted) {
      if (metrics_) metrics_->Action(req.module(), req.action(), "duplicate");
      resp.set_duplicate(true);
      return resp;
    }
    Action& act = it->second;
    act.effect_id = req.effect_id();
    act.request_id = req.request_id();
    act.module = req.module();
    act.action = req.action();
    act.params = req.params();
    if (metrics_) metrics_->Action(req.module(), req.action(), "accepted");
    RunAction(*c, act, fx);
  }
  RunEffects(fx);
  return resp;
}

void CallRouter::RunAction(Call& c, Action& act, Effects& fx) {
  const Struct& p = act.params;
  const std::string& m = act.module;
  const std::string& a = act.action;
  Pending pending{.kind = Pending::kAction, .action = act.effect_id};
  if (m == "interaction" && (a == "redirect" || a == "route")) {
    const std::string to = TargetOf(Param(p, "to"));
    if (to.empty()) return ActionError(c, act, "invalid-target", "'to' names no target (a DN or a resource)", fx);
    cv1::SwitchRequest req;
    const bool on_routing_point = c.routed_to.empty() && (c.state == "routing" || c.state == "queued");
    req.set_type(on_routing_point ? cv1::ROUTE : cv1::REDIRECT);
    req.set_target(to);
    SendRequest(c, std::move(req), std::move(pending));
  } else if (m == "interaction" && a == "attach") {
    cv1::SwitchRequest req;
    req.set_type(cv1::ATTACH_USER_DATA);
    if (const Value* u = Param(p, "udata"); u != nullptr && u->kind_case() == Value::kStructValue) {
      for (const auto& [k, v] : u->struct_value().fields()) (*req.mutable_user_data())[k] = AsString(v);
    }
    SendRequest(c, std::move(req), std::move(pending));
  } else if (m == "interaction" && a == "terminate") {
    cv1::SwitchRequest req;
    req.set_type(cv1::RELEASE);
    if (const Value* r = Param(p, "reason")) req.set_reason(AsString(*r));
    SendRequest(c, std::move(req), std::move(pending));
  } else if (m == "interaction" && (a == "detach" || a == "accept")) {
    ActionDone(c, act, {}, fx);   // nothing to ask the switch: the session just stops/starts owning it
  } else if (m == "dialog" && (a == "playsound" || a == "play" || a == "playandcollect")) {
    cv1::SwitchRequest req;
    req.set_type(cv1::APPLY_TREATMENT);
    cv1::Treatment* t = req.mutable_treatment();
    if (a == "playsound") {
      const Value* type = Param(p, "type");
      t->set_type(type != nullptr && AsString(*type) == "ringback" ? cv1::RINGBACK : cv1::MUSIC);
      t->set_duration_ms(static_cast<uint32_t>(std::max(0.0, Number(p, "duration", 0)) * 1000));
    } else {
      t->set_type(a == "play" ? cv1::PLAY_ANNOUNCEMENT : cv1::PLAY_AND_COLLECT);
      for (const Struct* prompt : Children(p, "prompts", "prompt")) {
        if (const Value* text = Param(*prompt, "text")) t->add_prompts(AsString(*text));
      }
      if (a == "playandcollect") {
        for (const Struct* in : Children(p, "input", "input")) {
          t->set_max_digits(static_cast<uint32_t>(Number(*in, "max_digits", 0)));
          if (const Value* td = Param(*in, "term_digits")) t->set_term_digits(AsString(*td));
          t->set_timeout_ms(static_cast<uint32_t>(Number(*in, "total_timeout", 0) * 1000));
        }
      }
    }
    SendRequest(c, std::move(req), std::move(pending));
  } else if (m == "dialog" && a == "stop") {
    const Value* target = Param(p, "target_requestid");
    const std::string tid = target == nullptr ? "" : AsString(*target);
    std::string switch_id;
    for (const auto& [sid, effect] : c.treatments) {
      auto other = c.actions.find(effect);
      if (other != c.actions.end() && other->second.request_id == tid) switch_id = sid;
    }
    if (switch_id.empty()) {
      return ActionError(c, act, "not-found", absl::StrCat("no dialog of requestid '", tid, "' is playing"), fx);
    }
    cv1::SwitchRequest req;
    req.set_type(cv1::CANCEL_TREATMENT);
    req.set_cancel_request_id(switch_id);
    SendRequest(c, std::move(req), std::move(pending));
  } else if (m == "queue" && a == "submit") {
    std::shared_ptr<const DnConfig> cfg = dn_();
    Waiting w;
    w.call_uuid = c.uuid;
    w.effect_id = act.effect_id;
    w.request_id = act.request_id;
    w.priority = static_cast<int>(Number(p, "priority", 0));
    w.route = Bool(p, "route");
    if (const Value* q = Param(p, "queue")) w.queue = AsString(*q);
    std::vector<std::string> unknown;
    for (const Struct* t : Children(p, "targets", "target")) {
      const Value* name = Param(*t, "name");
      const Value* type = Param(*t, "type");
      const std::string n = name == nullptr ? "" : AsString(*name);
      const std::string ty = type == nullptr ? "agent" : AsString(*type);
      if (n.empty()) continue;
      if (ty == "agentgroup") {
        if (const auto* members = cfg->Group(n)) {
          w.targets.insert(w.targets.end(), members->begin(), members->end());
        } else {
          unknown.push_back(n);
        }
      } else {
        w.targets.push_back(n);
      }
    }
    w.targets_hash = std::hash<std::string>()(absl::StrJoin(w.targets, ","));
    if (w.targets.empty()) {
      return ActionError(c, act, "invalid-target",
                         unknown.empty() ? "queue:submit names no target"
                                         : absl::StrCat("unknown agent group ", unknown[0]),
                         fx);
    }
    const double timeout_s = Number(p, "timeout", 0);
    const int64_t now = clock_->MonotonicMs();
    w.enqueued_ms = now;
    w.deadline_ms = timeout_s > 0 ? now + static_cast<int64_t>(timeout_s * 1000) : 0;
    act.waiting = w;
    ActionEvent(c, act, "queue.submit.requestid", {}, fx);
    waiting_.Add(std::move(w));
    Assign(fx);
  } else if (m == "queue" && a == "cancel") {
    const Value* target = Param(p, "target_requestid");
    const std::string tid = target == nullptr ? "" : AsString(*target);
    Waiting* w = waiting_.Find(tid);
    if (w == nullptr || w->call_uuid != c.uuid) {
      return ActionError(c, act, "not-found", absl::StrCat("no waiting queue:submit of requestid '", tid, "'"), fx);
    }
    waiting_.Remove(tid);
    ActionEvent(c, act, "queue.cancel.done", Fields({{"requestid", Str(tid)}}), fx);
  } else {
    ActionError(c, act, "unsupported", absl::StrCat(m, ":", a, " is not supported by call-watcher"), fx);
  }
}

void CallRouter::ActionEvent(Call& c, Action& act, const std::string& name, Struct extra, Effects& fx, uint64_t ack) {
  Struct data = Fields({{"requestid", Str(act.request_id)}});
  for (auto& [k, v] : *extra.mutable_fields()) (*data.mutable_fields())[k] = std::move(v);
  Deliver(c, name, std::move(data), absl::StrCat("cw/", act.effect_id, "/", ++act.results), ack, fx);
}

void CallRouter::ActionDone(Call& c, Action& act, Struct extra, Effects& fx, uint64_t ack) {
  const std::string action = act.module == "interaction" && act.action == "route" ? "redirect" : act.action;
  if (metrics_) metrics_->Action(act.module, act.action, "done");
  ActionEvent(c, act, absl::StrCat(act.module, ".", action, ".done"), std::move(extra), fx, ack);
}

void CallRouter::ActionError(Call& c, Action& act, const std::string& code, const std::string& description,
                             Effects& fx, uint64_t ack) {
  const std::string action = act.module == "interaction" && act.action == "route" ? "redirect" : act.action;
  if (metrics_) metrics_->Action(act.module, act.action, "error");
  log::Info("action failed", {{"call", c.uuid}, {"action", absl::StrCat(act.module, ":", act.action)},
                              {"requestid", act.request_id}, {"error", code}, {"description", description}});
  ActionEvent(c, act, absl::StrCat("error.", act.module, ".", action),
              Fields({{"error", Str(code)}, {"description", Str(description)}}), fx, ack);
}

// ------------------------------------------------------------------ queue

void CallRouter::Assign(Effects& fx) {
  const int64_t now = clock_->MonotonicMs();
  // Target lists found with no free target in this pass: the calls waiting
  // for the same agents are not searched again (with every agent busy, a
  // pass would otherwise cost waiting calls x agents on every event).
  absl::flat_hash_set<size_t> exhausted;
  const absl::Duration ttl = absl::Milliseconds(options_.reservation_ttl_ms);
  for (Waiting* w : waiting_.Ordered()) {
    if (w->reserving || exhausted.contains(w->targets_hash)) continue;
    const std::string target = targets_.Best(w->targets, now);
    if (target.empty()) {
      exhausted.insert(w->targets_hash);
      continue;
    }
    targets_.BeginReserve(target, w->call_uuid);
    w->reserving = true;
    fx.push_back([this, id = w->request_id, call = w->call_uuid, target, ttl] {
      run_blocking_([this, id, call, target, ttl] {
        absl::StatusOr<std::string> holder = store_->ReserveTarget(target, call, ttl);
        Effects fx2;
        {
          absl::MutexLock l(&mu_);
          OnReserved(id, call, target, std::move(holder), fx2);
        }
        RunEffects(fx2);
      });
    });
  }
}

void CallRouter::OnReserved(const std::string& submit_id, const std::string& call_uuid, const std::string& target,
                            absl::StatusOr<std::string> holder, Effects& fx) {
  const int64_t now = clock_->MonotonicMs();
  const bool won = holder.ok() && *holder == call_uuid;
  if (!holder.ok()) {
    if (metrics_) {
      metrics_->StoreError("reserve_target");
      metrics_->Reservation("error");
    }
    log::Warn("target not reserved: the store did not answer",
              {{"call", call_uuid}, {"target", target}, {"error", holder.status().ToString()}});
  }
  const bool still_ours =
      targets_.EndReserve(target, call_uuid, won, now + options_.reservation_ttl_ms, now + options_.lost_target_retry_ms);
  Waiting* w = waiting_.Find(submit_id);
  Call* c = FindCall(call_uuid);
  if (w != nullptr) w->reserving = false;
  if (won && (!still_ours || w == nullptr || c == nullptr || c->released)) {
    // Nobody to give it to now (the submit ended, the target changed
    // meanwhile): give it back, and let the call wait again if it still does.
    if (metrics_) metrics_->Reservation("dropped");
    if (still_ours) targets_.Unreserve(target, call_uuid);
    fx.push_back([this, target, call_uuid] {
      run_blocking_([this, target, call_uuid] { (void)store_->ReleaseTarget(target, call_uuid); });
    });
    Assign(fx);
    return;
  }
  if (!won) {
    if (holder.ok() && metrics_) metrics_->Reservation("lost");
    Assign(fx);
    return;
  }
  if (metrics_) {
    metrics_->Reservation("won");
    metrics_->QueueWait((now - w->enqueued_ms) / 1000.0);
  }
  const Waiting served = *w;
  waiting_.Remove(submit_id);
  c->reserved_target = target;
  auto act = c->actions.find(served.effect_id);
  if (act != c->actions.end()) GiveTarget(*c, act->second, target, fx);
  Assign(fx);
}

void CallRouter::GiveTarget(Call& c, Action& act, const std::string& target, Effects& fx) {
  if (act.waiting.route) {
    cv1::SwitchRequest req;
    const bool on_routing_point = c.routed_to.empty() && (c.state == "routing" || c.state == "queued");
    req.set_type(on_routing_point ? cv1::ROUTE : cv1::REDIRECT);
    req.set_target(target);
    SendRequest(c, std::move(req), Pending{.kind = Pending::kQueueRoute, .action = act.effect_id});
    return;
  }
  Value resource;
  resource.mutable_struct_value()->CopyFrom(
      Fields({{"target", Str(target)}, {"type", Str("agent")}, {"id", Str(target)}}));
  ActionDone(c, act,
             Fields({{"targetselected", Str(target)}, {"vqselected", Str(act.waiting.queue)}, {"resource", resource}}),
             fx);
}

void CallRouter::ReleaseReservation(Call& c, Effects& fx) {
  if (c.reserved_target.empty()) return;
  const std::string target = std::exchange(c.reserved_target, "");
  targets_.Unreserve(target, c.uuid);
  fx.push_back([this, target, call = c.uuid] {
    run_blocking_([this, target, call] {
      if (absl::StatusOr<bool> r = store_->ReleaseTarget(target, call); !r.ok()) {
        if (metrics_) metrics_->StoreError("release_target");
        log::Warn("reservation not released (it expires)", {{"target", target}, {"error", r.status().ToString()}});
      }
    });
  });
}

void CallRouter::EndSubmits(Call& c) {
  for (const std::string& id : waiting_.OfCall(c.uuid)) waiting_.Remove(id);
}

absl::Status CallRouter::OnTarget(Adapter& a, const cv1::TargetEvent& e, Effects& fx) {
  if (metrics_) metrics_->Event("target");
  if (e.target().empty()) {
    Reject(a, e.seq(), "missing_target", "the TargetEvent names no target");
    return absl::OkStatus();
  }
  const std::string lost = targets_.Apply(e, clock_->NowMs());
  if (!lost.empty()) {
    if (metrics_) metrics_->Reservation("target_gone");
    log::Warn("a reserved target left; its reservation is dropped",
              {{"target", e.target()}, {"call", lost}, {"state", cv1::TargetState_Name(e.state())}});
    Call* c = FindCall(lost);
    if (c != nullptr && c->reserved_target == e.target()) c->reserved_target.clear();
    fx.push_back([this, target = e.target(), lost] {
      run_blocking_([this, target, lost] { (void)store_->ReleaseTarget(target, lost); });
    });
  }
  if (e.state() == cv1::BUSY) {
    Call* c = FindCall(e.call_uuid());
    if (c != nullptr && c->reserved_target == e.target()) ReleaseReservation(*c, fx);   // landed
  }
  Processed(a.id, e.seq());
  // Only a READY target (or a reservation given up) can serve a waiting call.
  if (e.state() == cv1::READY || !lost.empty()) Assign(fx);
  return absl::OkStatus();
}

// ------------------------------------------------------------------ timers

void CallRouter::Tick() {
  Effects fx;
  {
    absl::MutexLock l(&mu_);
    const int64_t now = clock_->MonotonicMs();
    std::vector<Call*> due;
    for (auto& [uuid, c] : calls_) due.push_back(c.get());
    for (Call* c : due) {
      if (c->phase == Call::Phase::kStarting && !c->start_in_flight && c->retry_at_ms != 0 && c->retry_at_ms <= now) {
        c->retry_at_ms = 0;
        SendStart(*c, fx);
      } else if (c->phase == Call::Phase::kActive && !c->sending && c->retry_at_ms != 0 && c->retry_at_ms <= now) {
        Pump(*c, fx);
      }
      if (!c->released && !c->expired && now - c->created_ms >= options_.call_ttl_ms) {
        // Its RELEASED never came (an adapter that did not come back): the
        // session is told and the call forgotten, so memory stays bounded.
        c->expired = true;
        c->released = true;
        c->state = "released";
        c->default_route_due_ms = 0;
        EndSubmits(*c);
        ReleaseReservation(*c, fx);
        if (metrics_) metrics_->CallExpired();
        log::Warn("call ended by call-watcher: no RELEASED within calls.call-ttl-ms",
                  {{"call", c->uuid}, {"adapter", c->adapter_id}, {"session", c->session_id}});
        Deliver(*c, "interaction.deleted", Fields({{"resultof", Str("expired")}}),
                absl::StrCat("cw/expired/", c->uuid), 0, fx);   // may end the call: `c` is not used after
        continue;
      }
      // A route the strategy asked for and the switch has not answered yet
      // is given its chance: the default route waits for its result.
      if (c->default_route_due_ms != 0 && c->default_route_due_ms <= now && c->routed_to.empty() &&
          c->routes_in_flight == 0 && (c->state == "routing" || c->state == "queued")) {
        EndSubmits(*c);
        DefaultRoute(*c, "timeout", fx);
      }
    }
    for (const std::string& id : waiting_.Expired(now)) {
      Waiting* w = waiting_.Find(id);
      if (w == nullptr || w->reserving) continue;   // its reservation's answer decides
      const Waiting expired = *w;
      waiting_.Remove(id);
      Call* c = FindCall(expired.call_uuid);
      if (c == nullptr) continue;
      auto act = c->actions.find(expired.effect_id);
      if (act == c->actions.end()) continue;
      ActionError(*c, act->second, "timeout",
                  absl::StrCat("no target was ready within ", (expired.deadline_ms - expired.enqueued_ms) / 1000.0, " s"),
                  fx);
    }
    for (const auto& expired : targets_.Expire(now)) {
      const std::string& target = expired.first;   // not a structured binding: lambdas capture these
      const std::string& call = expired.second;
      Call* c = FindCall(call);
      if (c != nullptr && !c->released && c->reserved_target == target &&
          (c->routes_in_flight > 0 || c->routed_to == target)) {
        // The call is being routed there (a request without its result, or
        // accepted and not landed yet: an overloaded switch or link). Letting
        // the reservation go now would offer the target to another call while
        // this one is on its way to it: keep it, here and in the store.
        targets_.BeginReserve(target, call);
        targets_.EndReserve(target, call, /*won=*/true, now + options_.reservation_ttl_ms, 0);
        if (metrics_) metrics_->Reservation("extended");
        const absl::Duration ttl = absl::Milliseconds(options_.reservation_ttl_ms);
        fx.push_back([this, target, call, ttl] {
          run_blocking_([this, target, call, ttl] {
            absl::StatusOr<std::string> holder = store_->ReserveTarget(target, call, ttl);
            if (!holder.ok() || *holder != call) {
              if (metrics_) metrics_->Reservation("extension_failed");
              log::Error("a reservation being routed to could not be extended; another replica may take the target",
                         {{"target", target}, {"call", call},
                          {"holder", holder.ok() ? *holder : holder.status().ToString()}});
            }
          });
        });
        continue;
      }
      if (c != nullptr && c->reserved_target == target) c->reserved_target.clear();
      log::Info("reservation expired", {{"target", target}, {"call", call}});
    }
    Assign(fx);
  }
  RunEffects(fx);
}

// ------------------------------------------------------------- inspection

absl::StatusOr<cv1::GetCallResponse> CallRouter::GetCall(const std::string& call_uuid) {
  absl::MutexLock l(&mu_);
  Call* c = FindCall(call_uuid);
  if (c == nullptr) return absl::NotFoundError(absl::StrCat("call ", call_uuid, " is not known to this call-watcher"));
  cv1::GetCallResponse r;
  r.set_call_uuid(c->uuid);
  r.set_session_id(c->phase == Call::Phase::kNoSession ? "" : c->session_id);
  r.set_state(c->state);
  r.set_this_dn(c->this_dn);
  r.set_routed_to(c->routed_to);
  r.set_reserved_target(c->reserved_target);
  r.set_adapter_id(c->adapter_id);
  return r;
}

cv1::ListTargetsResponse CallRouter::ListTargets() {
  std::shared_ptr<const DnConfig> cfg = dn_();
  absl::MutexLock l(&mu_);
  cv1::ListTargetsResponse r;
  std::vector<std::pair<std::string, const Target*>> sorted;
  for (const auto& [name, t] : targets_.all()) sorted.emplace_back(name, &t);
  std::sort(sorted.begin(), sorted.end());
  for (const auto& [name, tp] : sorted) {
    const Target& t = *tp;
    cv1::TargetInfo* info = r.add_targets();
    info->set_target(name);
    info->set_state(t.state);
    info->set_call_uuid(t.call_uuid);
    info->set_reserved_for(t.reserved_for);
    info->set_ready_since_unix_ms(t.state == cv1::READY ? t.ready_since_ms : 0);
    for (const auto& [group, members] : cfg->groups()) {
      if (std::find(members.begin(), members.end(), name) != members.end()) info->add_groups(group);
    }
  }
  return r;
}

}  // namespace orch::call_watcher
