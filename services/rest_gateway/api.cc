#include "services/rest_gateway/api.h"

#include <sys/random.h>

#include <algorithm>
#include <functional>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/base/fnv1a.h"
#include "common/base/json.h"
#include "common/log/log.h"
#include "common/sessionapi/session_id.h"
#include "common/sessionapi/value_json.h"
#include "services/rest_gateway/request_parsing.h"

namespace orch::rest_gateway {

using sessionapi::ValueToJson;

namespace {

constexpr size_t kMaxIdempotencyKey = 256;
constexpr size_t kMaxClientMessage = 300;

const char* EndpointName(Endpoint e) {
  switch (e) {
    case Endpoint::kStart: return "start";
    case Endpoint::kEvent: return "event";
    case Endpoint::kRequest: return "request";
    case Endpoint::kQuery: return "query";
    case Endpoint::kTerminate: return "terminate";
    case Endpoint::kHelp: return "help";
    case Endpoint::kHealthz: return "healthz";
    case Endpoint::kReadyz: return "readyz";
    case Endpoint::kOpenApi: return "openapi";
  }
  return "other";
}

std::string RandomHex(size_t bytes) {
  unsigned char buf[16];
  bytes = std::min(bytes, sizeof(buf));
  if (getrandom(buf, bytes, 0) != static_cast<ssize_t>(bytes)) {
    for (size_t i = 0; i < bytes; ++i) buf[i] = static_cast<unsigned char>(absl::ToUnixNanos(absl::Now()) >> (i % 8));
  }
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(buf), bytes));
}

std::string Truncated(absl::string_view s) {
  if (s.size() <= kMaxClientMessage) return std::string(s);
  return absl::StrCat(std::string(s.substr(0, kMaxClientMessage)), "...");
}

bool PrintableAscii(absl::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return true;
}

constexpr char kHelpJson[] =
    R"({"service":"orchestrion rest-gateway","openapi":"/openapi.yaml","documentation":"docs/api.md",)"
    R"("authentication":"Authorization: Bearer <token> on /scxml/ paths","endpoints":[)"
    R"({"method":"POST","path":"/scxml/session/start","description":"start a session: src (document URL) required, other fields become session parameters; answers sessionid and sets the ORSSESSIONID cookie"},)"
    R"({"method":"POST","path":"/scxml/session/{id}/event/{name}","description":"send event {name}; data from query parameters and body; answers once the event is durable"},)"
    R"({"method":"POST","path":"/scxml/session/{id}/request/{name}","description":"send event {name} and wait for the session's answer (<send targetexpr=\"_event.origin\">); Request-Timeout header in ms"},)"
    R"({"method":"GET","path":"/scxml/session/{id}/query","description":"state, active states and the configured data of a session; POST works too"},)"
    R"({"method":"POST","path":"/scxml/session/{id}/terminate","description":"end a session and delete its durable state"},)"
    R"({"method":"GET","path":"/ors/help","description":"this description"},)"
    R"({"method":"GET","path":"/healthz","description":"liveness"},)"
    R"({"method":"GET","path":"/readyz","description":"readiness: persistence-proxy reachable and a node has a primary"},)"
    R"({"method":"GET","path":"/openapi.yaml","description":"the OpenAPI 3 document of this API"}]})";

}  // namespace

struct Api::Call {
  std::shared_ptr<Exchange> ex;
  Route route;
  std::string identity;
  std::string request_id;
  absl::Time started;
  Fields fields;

  const HttpRequest& req() const { return ex->request(); }
};

Api::Api(ApiOptions options, SessionsBackend* backend, const Authenticator* auth, GatewayMetrics* metrics)
    : options_(std::move(options)),
      backend_(backend),
      auth_(auth),
      metrics_(metrics),
      limiter_(options_.rate_limit_per_s, options_.rate_limit_burst),
      request_id_prefix_(RandomHex(4)) {}

namespace {

void Answer(const std::shared_ptr<Exchange>& ex, GatewayMetrics* metrics, const char* endpoint, absl::Time started,
            const std::string& request_id, HttpResponse r) {
  r.headers.emplace_back("X-Request-Id", request_id);
  metrics->ObserveRequest(endpoint, r.status, absl::ToDoubleSeconds(absl::Now() - started));
  ex->Respond(std::move(r));
}

HttpResponse Json(std::string body) {
  HttpResponse r;
  r.body = std::move(body);
  return r;
}

}  // namespace

void Api::Handle(std::shared_ptr<Exchange> exchange) {
  auto call = std::make_shared<Call>();
  call->ex = std::move(exchange);
  call->started = absl::Now();
  const HttpRequest& req = call->req();
  const std::string* rid = req.Header("x-request-id");
  call->request_id = (rid != nullptr && !rid->empty() && rid->size() <= 64 && PrintableAscii(*rid))
                         ? *rid
                         : absl::StrCat(request_id_prefix_, "-", next_request_id_.fetch_add(1));
  auto fail = [&](const char* endpoint, HttpResponse r) {
    Answer(call->ex, metrics_, endpoint, call->started, call->request_id, std::move(r));
  };
  auto route = ParseRoute(req.method, req.target);
  if (!route.ok()) {
    // Under /scxml/ even a malformed request needs credentials: an
    // anonymous client learns nothing, not even which ids are well-formed.
    if (absl::StartsWith(req.target, "/scxml/")) {
      if (auto who = auth_->Authenticate(req); !who.ok()) return Unauthorized(call, "other", who.status());
    }
    if (absl::IsNotFound(route.status())) return fail("other", JsonError(404, "not_found", route.status().message()));
    return fail("other", JsonError(400, "bad_request", route.status().message()));
  }
  call->route = *std::move(route);
  const char* ep = EndpointName(call->route.endpoint);
  if (!call->route.method_allowed) {
    HttpResponse r = JsonError(405, "method_not_allowed",
                               absl::StrCat("use ", absl::StrJoin(absl::StrSplit(call->route.allow, ','), " or ")));
    r.headers.emplace_back("Allow", absl::StrJoin(absl::StrSplit(call->route.allow, ','), ", "));
    return fail(ep, std::move(r));
  }
  switch (call->route.endpoint) {
    case Endpoint::kHealthz: return fail(ep, Json(R"({"status":"ok"})"));
    case Endpoint::kReadyz: return Ready(call);
    case Endpoint::kHelp: return fail(ep, Json(kHelpJson));
    case Endpoint::kOpenApi: {
      HttpResponse r;
      if (options_.openapi_yaml.empty()) return fail(ep, JsonError(404, "not_found", "no OpenAPI document built in"));
      r.content_type = "application/yaml";
      r.body = options_.openapi_yaml;
      return fail(ep, std::move(r));
    }
    default: break;
  }
  auto who = auth_->Authenticate(req);
  if (!who.ok()) return Unauthorized(call, ep, who.status());
  call->identity = *std::move(who);
  if (int wait = limiter_.Acquire(call->identity, absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch())); wait > 0) {
    metrics_->CountRateLimited();
    HttpResponse r = JsonError(429, "too_many_requests", "rate limit exceeded for this client");
    r.headers.emplace_back("Retry-After", absl::StrCat(wait));
    return fail(ep, std::move(r));
  }
  if (call->route.endpoint != Endpoint::kStart && !options_.external_url.empty() &&
      std::find(options_.nodes.begin(), options_.nodes.end(), call->route.node) == options_.nodes.end()) {
    HttpResponse r;
    r.status = 307;
    const std::string location = absl::StrCat(options_.external_url, req.target);
    r.body = absl::StrCat("{\"location\":", JsonString(std::string_view(location)), "}");
    r.headers.emplace_back("Location", location);
    return fail(ep, std::move(r));
  }
  auto fields = ParseFields(call->route.query, req.Header("content-type"), req.body);
  if (!fields.ok()) {
    if (absl::IsUnimplemented(fields.status())) {
      return fail(ep, JsonError(415, "unsupported_media_type", fields.status().message()));
    }
    return fail(ep, JsonError(400, "bad_request", fields.status().message()));
  }
  call->fields = *std::move(fields);
  Dispatch(call);
}

void Api::Unauthorized(const std::shared_ptr<Call>& call, const char* endpoint, const absl::Status& st) {
  metrics_->CountAuthFailure();
  HttpResponse r;
  if (absl::IsPermissionDenied(st)) {
    r = JsonError(403, "forbidden", st.message());
  } else {
    r = JsonError(401, "unauthorized", st.message());
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"orchestrion\"");
  }
  Answer(call->ex, metrics_, endpoint, call->started, call->request_id, std::move(r));
}

void Api::Dispatch(const std::shared_ptr<Call>& call) {
  switch (call->route.endpoint) {
    case Endpoint::kStart: return Start(call);
    case Endpoint::kEvent: return Event(call, false);
    case Endpoint::kRequest: return Event(call, true);
    case Endpoint::kQuery: return Query(call);
    case Endpoint::kTerminate: return Terminate(call);
    default: break;
  }
  Answer(call->ex, metrics_, "other", call->started, call->request_id, JsonError(404, "not_found", "no such resource"));
}

void Api::Fail(const std::shared_ptr<Call>& call, int node, const absl::Status& st) {
  const char* ep = EndpointName(call->route.endpoint);
  const std::string msg = Truncated(st.message());
  HttpResponse r;
  switch (st.code()) {
    case absl::StatusCode::kInvalidArgument: r = JsonError(400, "bad_request", msg); break;
    case absl::StatusCode::kNotFound: r = JsonError(404, "not_found", msg); break;
    case absl::StatusCode::kPermissionDenied: r = JsonError(403, "forbidden", msg); break;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted: r = JsonError(409, "conflict", msg); break;
    // The engine's contract: OUT_OF_RANGE is input over its size limit (an
    // event, start parameters), RESOURCE_EXHAUSTED is load.
    case absl::StatusCode::kOutOfRange: r = JsonError(413, "payload_too_large", msg); break;
    case absl::StatusCode::kResourceExhausted:
      r = JsonError(503, "unavailable", "the session's node is overloaded; retry later");
      r.headers.emplace_back("Retry-After", "1");
      break;
    case absl::StatusCode::kUnavailable: {
      NodeStatus ns = backend_->Node(node);
      r = JsonError(503, "unavailable", absl::StrCat("node ", node, " is not available; retry later"));
      r.headers.emplace_back("Retry-After", absl::StrCat(std::max(1, ns.retry_after_s)));
      // Debug: during an outage every request would log; the 503s are
      // counted in http_requests_total and node_up says which node.
      log::Debug("node unavailable", {{"request_id", call->request_id}, {"engine_node", absl::StrCat(node)},
                                      {"error", st.ToString()}});
      break;
    }
    case absl::StatusCode::kDeadlineExceeded:
      r = JsonError(504, "timeout", call->route.endpoint == Endpoint::kRequest
                                        ? "the session did not answer in time"
                                        : "the session's node did not answer in time");
      break;
    default:
      r = JsonError(500, "internal", absl::StrCat("internal error (request id ", call->request_id, ")"));
      log::Error("request failed", {{"request_id", call->request_id}, {"endpoint", ep}, {"error", st.ToString()}});
  }
  Answer(call->ex, metrics_, ep, call->started, call->request_id, std::move(r));
}

int Api::PickNode(const std::string* key) {
  const auto& nodes = options_.nodes;
  if (key != nullptr) {
    // The same node for the same key in every gateway replica and version.
    return nodes[Fnv1a64(*key) % nodes.size()];
  }
  // Round robin over the nodes that are up (all of them when none is).
  // Picking "the first up node from the counter on" instead would give the
  // node after a down one its share as well.
  const uint64_t turn = next_node_.fetch_add(1);
  std::vector<int> up;
  up.reserve(nodes.size());
  for (int n : nodes) {
    if (backend_->Node(n).up) up.push_back(n);
  }
  if (up.empty()) return nodes[turn % nodes.size()];
  return up[turn % up.size()];
}

void Api::Start(const std::shared_ptr<Call>& call) {
  auto& m = call->fields.members;
  auto src = m.find("src");
  if (call->fields.value.has_value()) {
    return Answer(call->ex, metrics_, "start", call->started, call->request_id,
                  JsonError(400, "bad_request", "the body must be an object with 'src'"));
  }
  if (src == m.end() || src->second.kind_case() != google::protobuf::Value::kStringValue ||
      src->second.string_value().empty()) {
    return Answer(call->ex, metrics_, "start", call->started, call->request_id,
                  JsonError(400, "bad_request", "'src' (the document URL) is required and must be a string"));
  }
  sv1::StartSessionRequest req;
  req.set_url(src->second.string_value());
  for (auto& [k, v] : m) {
    if (k != "src") (*req.mutable_parameters())[k] = v;
  }
  const std::string* key = call->req().Header("idempotency-key");
  if (key != nullptr) {
    if (key->empty() || key->size() > kMaxIdempotencyKey || !PrintableAscii(*key)) {
      return Answer(call->ex, metrics_, "start", call->started, call->request_id,
                    JsonError(400, "bad_request", "Idempotency-Key must be 1..256 printable characters"));
    }
    req.set_idempotency_key(*key);
  }
  const int node = PickNode(key);
  backend_->StartSession(node, std::move(req), key != nullptr,
                         [this, call, node](absl::StatusOr<sv1::StartSessionResponse> r) {
                           if (!r.ok()) return Fail(call, node, r.status());
                           std::string body = "{\"sessionid\":";
                           AppendJsonString(&body, r->session_id());
                           absl::StrAppend(&body, ",\"persistent\":", r->persistent() ? "true" : "false",
                                           ",\"created\":", r->created() ? "true" : "false", "}");
                           HttpResponse resp = Json(std::move(body));
                           auto n = sessionapi::NodeOfSessionId(r->session_id());
                           const int owner = n.ok() ? *n : node;
                           resp.headers.emplace_back(
                               "Set-Cookie", absl::StrCat("ORSSESSIONID=", r->session_id(), ".node", owner,
                                                          "; Path=/; HttpOnly; SameSite=Strict",
                                                          call->req().tls ? "; Secure" : ""));
                           Answer(call->ex, metrics_, "start", call->started, call->request_id, std::move(resp));
                         });
}

void Api::Event(const std::shared_ptr<Call>& call, bool request) {
  const char* ep = request ? "request" : "event";
  orch::event::v1::Event ev;
  ev.set_name(call->route.name);
  if (call->fields.value.has_value()) {
    *ev.mutable_data() = *std::move(call->fields.value);
  } else if (!call->fields.members.empty()) {
    auto* s = ev.mutable_data()->mutable_struct_value()->mutable_fields();
    for (auto& [k, v] : call->fields.members) (*s)[k] = std::move(v);
  }
  const std::string* key = call->req().Header("idempotency-key");
  if (key != nullptr) {
    if (key->empty() || key->size() > kMaxIdempotencyKey || !PrintableAscii(*key)) {
      return Answer(call->ex, metrics_, ep, call->started, call->request_id,
                    JsonError(400, "bad_request", "Idempotency-Key must be 1..256 printable characters"));
    }
    ev.set_effect_id(absl::StrCat("http:", *key));
  }
  const int node = call->route.node;
  if (!request) {
    sv1::SendEventRequest req;
    req.set_session_id(call->route.session_id);
    *req.mutable_event() = std::move(ev);
    backend_->SendEvent(node, std::move(req), key != nullptr,
                        [this, call, node](absl::StatusOr<sv1::SendEventResponse> r) {
                          if (!r.ok()) return Fail(call, node, r.status());
                          std::string body = "{\"sessionid\":";
                          AppendJsonString(&body, call->route.session_id);
                          absl::StrAppend(&body, ",\"seq\":", r->seq(),
                                          ",\"duplicate\":", r->duplicate() ? "true" : "false", "}");
                          Answer(call->ex, metrics_, "event", call->started, call->request_id, Json(std::move(body)));
                        });
    return;
  }
  int timeout_ms = options_.request_timeout_ms;
  if (const std::string* t = call->req().Header("request-timeout"); t != nullptr) {
    if (!absl::SimpleAtoi(*t, &timeout_ms) || timeout_ms < 1) {
      return Answer(call->ex, metrics_, ep, call->started, call->request_id,
                    JsonError(400, "bad_request", "Request-Timeout must be a positive number of milliseconds"));
    }
    timeout_ms = std::min(timeout_ms, options_.max_request_timeout_ms);
  }
  sv1::RequestEventRequest req;
  req.set_session_id(call->route.session_id);
  *req.mutable_event() = std::move(ev);
  req.set_timeout_ms(static_cast<uint32_t>(timeout_ms));
  backend_->Request(node, std::move(req), absl::Milliseconds(timeout_ms) + absl::Seconds(2),
                    [this, call, node](absl::StatusOr<sv1::RequestEventResponse> r) {
                      if (!r.ok()) return Fail(call, node, r.status());
                      std::string body = "{\"sessionid\":";
                      AppendJsonString(&body, call->route.session_id);
                      body += ",\"name\":";
                      AppendJsonString(&body, r->name());
                      body += ",\"data\":";
                      body += r->has_data() ? ValueToJson(r->data()) : "null";
                      body += "}";
                      Answer(call->ex, metrics_, "request", call->started, call->request_id, Json(std::move(body)));
                    });
}

void Api::Query(const std::shared_ptr<Call>& call) {
  sv1::QuerySessionRequest req;
  req.set_session_id(call->route.session_id);
  const auto& allowed = options_.query_data_names;
  auto d = call->fields.members.find("data");
  if (d != call->fields.members.end()) {
    if (d->second.kind_case() != google::protobuf::Value::kStringValue) {
      return Answer(call->ex, metrics_, "query", call->started, call->request_id,
                    JsonError(400, "bad_request", "'data' must be a comma-separated list of names"));
    }
    for (absl::string_view n : absl::StrSplit(d->second.string_value(), ',', absl::SkipEmpty())) {
      if (std::find(allowed.begin(), allowed.end(), n) == allowed.end()) {
        return Answer(call->ex, metrics_, "query", call->started, call->request_id,
                      JsonError(403, "forbidden", absl::StrCat("data '", Truncated(n),
                                                               "' may not be queried (api.query-data-names)")));
      }
      req.add_data_names(std::string(n));
    }
  } else {
    for (const auto& n : allowed) req.add_data_names(n);
  }
  const int node = call->route.node;
  backend_->QuerySession(node, std::move(req), [this, call, node](absl::StatusOr<sv1::QuerySessionResponse> r) {
    if (!r.ok()) return Fail(call, node, r.status());
    if (r->state() == sv1::SESSION_STATE_FINISHED) return Fail(call, node, absl::NotFoundError("the session has finished"));
    std::string body = "{\"sessionid\":";
    AppendJsonString(&body, call->route.session_id);
    absl::StrAppend(&body, ",\"state\":\"",
                    r->state() == sv1::SESSION_STATE_DEACTIVATED ? "deactivated" : "running", "\"");
    if (options_.query_active_states) {
      body += ",\"active_states\":[";
      for (int i = 0; i < r->active_states_size(); ++i) {
        if (i > 0) body += ",";
        AppendJsonString(&body, r->active_states(i));
      }
      body += "]";
    }
    body += ",\"data\":{";
    std::vector<std::string> names;
    for (const auto& [k, v] : r->data()) names.push_back(k);
    std::sort(names.begin(), names.end());
    for (size_t i = 0; i < names.size(); ++i) {
      if (i > 0) body += ",";
      AppendJsonString(&body, names[i]);
      body += ":";
      body += ValueToJson(r->data().at(names[i]));
    }
    body += "}}";
    Answer(call->ex, metrics_, "query", call->started, call->request_id, Json(std::move(body)));
  });
}

void Api::Terminate(const std::shared_ptr<Call>& call) {
  sv1::TerminateSessionRequest req;
  req.set_session_id(call->route.session_id);
  auto reason = call->fields.members.find("reason");
  if (reason != call->fields.members.end()) {
    if (reason->second.kind_case() != google::protobuf::Value::kStringValue) {
      return Answer(call->ex, metrics_, "terminate", call->started, call->request_id,
                    JsonError(400, "bad_request", "'reason' must be a string"));
    }
    req.set_reason(reason->second.string_value());
  }
  const int node = call->route.node;
  backend_->TerminateSession(node, std::move(req),
                             [this, call, node](absl::StatusOr<sv1::TerminateSessionResponse> r) {
                               if (!r.ok()) return Fail(call, node, r.status());
                               std::string body = "{\"sessionid\":";
                               AppendJsonString(&body, call->route.session_id);
                               body += ",\"terminated\":true}";
                               Answer(call->ex, metrics_, "terminate", call->started, call->request_id,
                                      Json(std::move(body)));
                             });
}

void Api::Ready(const std::shared_ptr<Call>& call) {
  bool any = false;
  std::string nodes;
  for (int n : options_.nodes) {
    NodeStatus s = backend_->Node(n);
    any = any || s.up;
    if (!nodes.empty()) nodes += ",";
    absl::StrAppend(&nodes, "\"", n, "\":\"", s.up ? "up" : "down", "\"");
  }
  HttpResponse r;
  if (!backend_->StoreReachable()) {
    r = JsonError(503, "unavailable", "persistence-proxy is not reachable");
  } else if (!any) {
    r = JsonError(503, "unavailable", "no node of routing.nodes has a primary");
  } else {
    r = Json(absl::StrCat(R"({"status":"ready","nodes":{)", nodes, "}}"));
  }
  if (r.status == 503) r.headers.emplace_back("Retry-After", "1");
  Answer(call->ex, metrics_, "readyz", call->started, call->request_id, std::move(r));
}

}  // namespace orch::rest_gateway
