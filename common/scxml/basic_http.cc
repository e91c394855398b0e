#include "common/scxml/basic_http.h"

#include <civetweb.h>
#include <curl/curl.h>

#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/base/json.h"
#include "common/base/net.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace orch::scxml {
namespace {

void InitCivetweb() {
  static std::once_flag once;
  std::call_once(once, [] { mg_init_library(0); });
}

std::string Escape(CURL* curl, const std::string& s) {
  char* e = curl_easy_escape(curl, s.data(), static_cast<int>(s.size()));
  std::string out = e != nullptr ? e : "";
  curl_free(e);
  return out;
}

// A JSON scalar as form text: strings unquoted, others as written.
std::string FormValue(const google::protobuf::Value& v) {
  switch (v.kind_case()) {
    case google::protobuf::Value::kStringValue: return v.string_value();
    case google::protobuf::Value::kBoolValue: return v.bool_value() ? "true" : "false";
    case google::protobuf::Value::kNullValue: return "null";
    default: {
      std::string json;
      (void)google::protobuf::util::MessageToJsonString(v, &json);
      return json;
    }
  }
}

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

}  // namespace

absl::StatusOr<std::unique_ptr<BasicHttpServer>> BasicHttpServer::Start(const std::string& listen, Sink sink,
                                                                        size_t max_body_bytes) {
  auto hp = SplitHostPort(listen);
  if (!hp.ok()) return hp.status();
  if (absl::Status s = CheckCanListen(listen); !s.ok()) return s;
  InitCivetweb();
  auto server = std::unique_ptr<BasicHttpServer>(new BasicHttpServer());
  server->sink_ = std::move(sink);
  server->max_body_bytes_ = max_body_bytes;
  const char* options[] = {"listening_ports", listen.c_str(), "num_threads", "4", "request_timeout_ms", "10000", nullptr};
  mg_callbacks callbacks{};
  server->ctx_ = mg_start(&callbacks, nullptr, options);
  if (server->ctx_ == nullptr) return absl::UnavailableError(absl::StrCat("cannot serve BasicHTTP on ", listen));
  mg_set_request_handler(server->ctx_, "/scxml/", &BasicHttpServer::Handle, server.get());
  mg_server_port ports[4];
  int n = mg_get_server_ports(server->ctx_, 4, ports);
  int port = n > 0 ? ports[0].port : hp->port;
  server->base_ = absl::StrCat("http://", hp->host, ":", port, "/scxml/");
  return server;
}

BasicHttpServer::~BasicHttpServer() {
  if (ctx_ != nullptr) mg_stop(ctx_);
}

std::string BasicHttpServer::LocationFor(const std::string& session_id) const { return base_ + session_id; }

std::string BasicHttpServer::IoProcessorsMembers(const std::string& session_id) const {
  const std::string location = JsonString(LocationFor(session_id));
  return absl::StrCat("\"basichttp\":{\"location\":", location, "},", JsonString(kBasicHttpEventProcessor),
                      ":{\"location\":", location, "}");
}

int BasicHttpServer::Handle(mg_connection* conn, void* arg) {
  auto* self = static_cast<BasicHttpServer*>(arg);
  const mg_request_info* info = mg_get_request_info(conn);
  std::string uri = info->local_uri != nullptr ? info->local_uri : "";
  const std::string session_id = uri.size() > 7 ? uri.substr(7) : "";  // after "/scxml/"
  std::string body;
  char buf[8192];
  int n;
  while ((n = mg_read(conn, buf, sizeof buf)) > 0) {
    if (body.size() + static_cast<size_t>(n) > self->max_body_bytes_) {
      mg_send_http_error(conn, 413, "%s", "body too large");
      return 413;
    }
    body.append(buf, static_cast<size_t>(n));
  }
  Event e;
  e.type = Event::Type::kExternal;
  e.origintype = kBasicHttpEventProcessor;
  std::string raw = absl::StrCat(info->request_method, " ", uri, info->query_string ? "?" : "",
                                 info->query_string ? info->query_string : "", " HTTP/", info->http_version, "\r\n");
  std::string content_type;
  for (int i = 0; i < info->num_headers; ++i) {
    absl::StrAppend(&raw, info->http_headers[i].name, ": ", info->http_headers[i].value, "\r\n");
    if (absl::EqualsIgnoreCase(info->http_headers[i].name, "Content-Type")) content_type = info->http_headers[i].value;
  }
  absl::StrAppend(&raw, "\r\n", body);
  e.raw = raw;
  std::string form = body;
  if (info->query_string != nullptr && *info->query_string != '\0') {
    form = form.empty() ? info->query_string : absl::StrCat(info->query_string, "&", form);
  }
  std::string name;
  std::string data = "{";
  bool first = true;
  if (absl::StartsWith(content_type, "application/x-www-form-urlencoded") || content_type.empty() ||
      info->query_string != nullptr) {
    std::vector<mg_header> fields(256);
    std::vector<char> mutable_form(form.begin(), form.end());
    mutable_form.push_back('\0');
    int count = mg_split_form_urlencoded(mutable_form.data(), fields.data(), static_cast<unsigned>(fields.size()));
    for (int i = 0; i < count; ++i) {
      std::string key = fields[i].name != nullptr ? fields[i].name : "";
      std::string value = fields[i].value != nullptr ? fields[i].value : "";
      if (key == "_scxmleventname") {
        name = value;
        continue;
      }
      if (fields[i].value == nullptr) continue;  // a bare word is content, not a field
      if (!first) data += ",";
      first = false;
      AppendJsonString(&data, key);
      data += ":";
      AppendJsonString(&data, value);
    }
  }
  data += "}";
  e.name = name.empty() ? absl::StrCat("HTTP.", info->request_method) : name;
  e.data = first && !body.empty() ? JsonString(body) : (first ? std::string("undefined") : data);
  if (self->sink_) self->sink_(session_id, std::move(e));
  mg_send_http_ok(conn, "text/plain", 2);
  mg_write(conn, "OK", 2);
  return 200;
}

absl::Status BasicHttpSend(const std::string& url, const Event& event) {
  if (url.empty()) return absl::InvalidArgumentError("BasicHTTP <send> needs a target URL");
  if (!absl::StartsWith(url, "http://") && !absl::StartsWith(url, "https://")) {
    return absl::InvalidArgumentError(absl::StrCat("'", url, "' is not an http(s) URL"));
  }
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  std::string body;
  google::protobuf::Value data;
  const bool is_object = event.data != "undefined" &&
                         google::protobuf::util::JsonStringToMessage(event.data, &data).ok() &&
                         data.has_struct_value();
  if (!event.name.empty()) body = "_scxmleventname=" + Escape(curl, event.name);
  if (is_object) {
    for (const auto& [k, v] : data.struct_value().fields()) {
      absl::StrAppend(&body, body.empty() ? "" : "&", Escape(curl, k), "=", Escape(curl, FormValue(v)));
    }
  } else if (event.data != "undefined") {
    google::protobuf::Value content;
    std::string text = google::protobuf::util::JsonStringToMessage(event.data, &content).ok() && content.has_string_value()
                           ? content.string_value()
                           : event.data;
    absl::StrAppend(&body, body.empty() ? "" : "&", Escape(curl, text));
  }
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/x-www-form-urlencoded");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Discard);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) return absl::UnavailableError(absl::StrCat("POST ", url, ": ", curl_easy_strerror(rc)));
  if (status < 200 || status >= 300) return absl::UnavailableError(absl::StrCat("POST ", url, ": HTTP ", status));
  return absl::OkStatus();
}

}  // namespace orch::scxml
