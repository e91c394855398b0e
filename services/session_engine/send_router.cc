#include "services/session_engine/send_router.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/log/log.h"
#include "common/scxml/basic_http.h"
#include "common/scxml/curl_fetcher.h"
#include "common/scxml/io_processors.h"
#include "common/scxml/modules.h"
#include "common/sessionapi/session_id.h"
#include "common/sessionapi/value_json.h"

namespace orch::session_engine {

namespace ev = orch::event::v1;
namespace sv1 = orch::session::v1;

namespace {
constexpr absl::string_view kSessionTargetPrefix = "#_scxml_";

// Holds one count of a session's sends in flight until destroyed.
struct InFlight {
  explicit InFlight(std::shared_ptr<std::atomic<int>> c) : count(std::move(c)) { count->fetch_add(1); }
  InFlight(const InFlight&) = delete;
  ~InFlight() { count->fetch_sub(1); }
  std::shared_ptr<std::atomic<int>> count;
};
}  // namespace

SendRouter::SendRouter(Options options, PendingRequests* requests, DocumentCache* documents, PeerSessions* peers,
                       CallActions* actions, Deliver deliver, HttpSend http)
    : options_(options),
      requests_(requests),
      documents_(documents),
      peers_(peers),
      actions_(actions),
      deliver_(std::move(deliver)),
      http_(std::move(http)),
      io_(options.io_threads) {}

SendRouter::~SendRouter() { Stop(); }

void SendRouter::Stop() {
  io_.Stop();     // an HTTP failure may still hand an event to the sends thread
  sends_.Stop();
}

void SendRouter::Log(const LiveSession& from, std::string_view label, std::string_view value_json) {
  log::Info("scxml log", {{"session", from.id()}, {"label", label}, {"value", value_json}});
}

absl::Status SendRouter::Send(LiveSession& from, const std::string& target, const std::string& type,
                              const scxml::Event& event) {
  if (type == scxml::kBasicHttpEventProcessor) return SendHttp(from, target, event);
  if (std::string_view module = scxml::ModuleOfSendType(type); !module.empty()) {
    return SendAction(from, module, event);
  }
  if (absl::StartsWith(target, kRequestOriginPrefix)) {
    if (!from.replaying()) requests_->Answer(target.substr(std::string_view(kRequestOriginPrefix).size()), event);
    return absl::OkStatus();
  }
  if (!type.empty() && type != scxml::kScxmlEventProcessor && type != "scxml") {
    return absl::InvalidArgumentError(absl::StrCat("unsupported send type '", type, "'"));
  }
  if (!absl::StartsWith(target, kSessionTargetPrefix)) {
    return absl::InvalidArgumentError(absl::StrCat("target '", target, "' is not reachable from session-engine"));
  }
  return SendToSession(from, target, event);
}

absl::Status SendRouter::SendToSession(LiveSession& from, const std::string& target, const scxml::Event& event) {
  std::string to = target.substr(kSessionTargetPrefix.size());
  auto node = sessionapi::NodeOfSessionId(to);
  if (!node.ok()) return node.status();
  ev::Event out;
  out.set_name(event.name);
  if (event.data != "undefined") {
    auto v = sessionapi::JsonToValue(event.data);
    if (v.ok()) *out.mutable_data() = *std::move(v);
  }
  out.set_origin(absl::StrCat(kSessionTargetPrefix, from.id()));
  out.set_origin_type(scxml::kScxmlEventProcessor);
  out.set_send_id(event.sendid);
  out.set_source(ev::EVENT_SOURCE_SESSION);
  // Deterministic: a replay of the entry being applied sends the same id
  // and the receiver acknowledges it without delivering it twice.
  out.set_effect_id(from.NextEffectId());
  auto held = std::make_shared<InFlight>(from.sends_in_flight());
  if (*node == options_.node_id) {
    // On the sends thread, which may wait for the target's activation on
    // its worker; a worker never waits for another.
    sends_.Post([this, to = std::move(to), out = std::move(out), held] {
      absl::Status st = deliver_(to, out);
      if (!st.ok()) log::Warn("send to a session failed", {{"target", to}, {"error", std::string(st.message())}});
    });
    return absl::OkStatus();
  }
  sv1::SendEventRequest req;
  req.set_session_id(to);
  *req.mutable_event() = std::move(out);
  sends_.Post([this, node = *node, req = std::move(req), held]() mutable {
    // Waited for: the sends thread hands sends over one at a time, so that
    // one session's events reach another in the order they were sent.
    const std::string to = req.session_id();
    absl::Notification finished;
    peers_->SendEvent(node, std::move(req), [&](absl::Status st) {
      if (!st.ok()) log::Warn("send to a session failed", {{"target", to}, {"error", std::string(st.message())}});
      finished.Notify();
    });
    finished.WaitForNotification();
  });
  return absl::OkStatus();
}

absl::Status SendRouter::SendHttp(LiveSession& from, const std::string& target, const scxml::Event& event) {
  if (target.empty()) return absl::InvalidArgumentError("BasicHTTP send without a target");
  // The failure event's effect id: a replay that fails again is dropped.
  std::string effect = absl::StrCat(from.NextEffectId(), "/http");
  auto held = std::make_shared<InFlight>(from.sends_in_flight());
  io_.Post([this, session = from.id(), target, event, effect = std::move(effect), held] {
    absl::Status st = http_(target, event);
    if (st.ok()) return;
    log::Warn("BasicHTTP send failed", {{"session", session}, {"target", target}, {"error", std::string(st.message())}});
    ev::Event err;
    err.set_name("error.communication");
    err.set_send_id(event.sendid);
    err.set_source(ev::EVENT_SOURCE_PLATFORM);
    err.set_effect_id(effect);
    auto& fields = *err.mutable_data()->mutable_struct_value()->mutable_fields();
    fields["target"].set_string_value(target);
    fields["reason"].set_string_value(std::string(st.message()));
    DeliverFailure(session, std::move(err), held);
  });
  return absl::OkStatus();
}

void SendRouter::DeliverFailure(const std::string& session, ev::Event event, std::shared_ptr<void> held) {
  sends_.Post([this, session, event = std::move(event), held = std::move(held)] {
    absl::Status d = deliver_(session, event);
    if (!d.ok() && d.code() != absl::StatusCode::kNotFound) {
      log::Warn("cannot deliver a failure event",
                {{"session", session}, {"event", event.name()}, {"error", std::string(d.message())}});
    }
  });
}

absl::Status SendRouter::SendAction(LiveSession& from, std::string_view module, const scxml::Event& event) {
  // event.data: {"module", "action", "requestid", "interactionid", "target_requestid", "params"}
  // (scxml/interpreter_modules.cc).
  auto value = sessionapi::JsonToValue(event.data);
  if (!value.ok() || !value->has_struct_value()) return absl::InternalError("malformed module action");
  const auto& fields = value->struct_value().fields();
  auto text = [&](const char* name) {
    auto it = fields.find(name);
    return it != fields.end() && it->second.has_string_value() ? it->second.string_value() : std::string();
  };
  calls::v1::SubmitActionRequest req;
  req.set_session_id(from.id());
  // Deterministic: a replay re-issues the action with the same id, and
  // call-watcher acts on it once.
  req.set_effect_id(from.NextEffectId());
  req.set_request_id(text("requestid"));
  req.set_module(std::string(module));
  req.set_action(text("action"));
  req.set_interaction_id(text("interactionid"));
  if (req.interaction_id().empty()) req.set_interaction_id(from.interaction().interaction_id());
  if (auto it = fields.find("params"); it != fields.end() && it->second.has_struct_value()) {
    *req.mutable_params() = it->second.struct_value();
  }
  if (auto it = fields.find("target_requestid"); it != fields.end() && it->second.has_string_value()) {
    (*req.mutable_params()->mutable_fields())["target_requestid"] = it->second;
  }
  // The error event if the action cannot be handed over (not the params:
  // this is captured for every action).
  auto failure = [session = from.id(), action = absl::StrCat(req.module(), ".", req.action()),
                  request_id = req.request_id(), interaction_id = req.interaction_id(),
                  effect_id = req.effect_id()](const std::string& code, absl::string_view why) {
    ev::Event err;
    err.set_name(absl::StrCat("error.", action));
    err.set_send_id(request_id);
    err.set_source(ev::EVENT_SOURCE_PLATFORM);
    err.set_effect_id(absl::StrCat(effect_id, "/error"));
    auto& f = *err.mutable_data()->mutable_struct_value()->mutable_fields();
    f["requestid"].set_string_value(request_id);
    f["interactionid"].set_string_value(interaction_id);
    f["error"].set_string_value(code);
    f["description"].set_string_value(std::string(why));
    const std::string description(why);
    log::Warn("module action failed",
              {{"session", session}, {"action", action}, {"error", code}, {"description", description}});
    return err;
  };
  auto held = std::make_shared<InFlight>(from.sends_in_flight());
  const std::string& watcher = from.interaction().watcher();
  if (actions_ == nullptr || watcher.empty() || req.interaction_id().empty()) {
    const char* why = actions_ == nullptr    ? "this engine has no call-watcher client"
                      : req.interaction_id().empty() ? "no interaction: the session was not started for one "
                                                     "and the action names none"
                                             : "the session was not started by call-watcher";
    DeliverFailure(from.id(), failure("no-interaction", why), held);
    return absl::OkStatus();
  }
  const std::string session = from.id();
  actions_->Submit(watcher, std::move(req), [this, session, failure, held](absl::Status st) {
    if (st.ok()) return;
    const std::string code = st.code() == absl::StatusCode::kNotFound ? "no-interaction" : "unavailable";
    DeliverFailure(session, failure(code, st.message()), held);
  });
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const scxml::Document>> SendRouter::LoadDocument(const std::string& src,
                                                                                const std::string& base) {
  const std::string url = scxml::CurlFetcher::Resolve(src, base);
  bool refresh = false;
  if (auto doc = documents_->Cached(url, &refresh); doc != nullptr) {
    if (refresh) io_.Post([this, url] { (void)documents_->FromUrl(url); });  // off the worker
    return doc;
  }
  return documents_->FromUrl(url);  // a URL no chart named literally: fetched here, once
}

absl::StatusOr<std::shared_ptr<const scxml::Document>> SendRouter::CompileSource(const std::string& source,
                                                                                 const std::string& name) {
  return documents_->FromSource(source, name);
}

}  // namespace orch::session_engine
