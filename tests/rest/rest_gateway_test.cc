// rest-gateway as a real process in front of real session-engines,
// persistence-proxy and redis-server, all started here, driven over HTTP
// with libcurl and raw sockets: every endpoint, JSON and form bodies, the
// session cookie, request/response, routing to two nodes, a primary change
// followed, TLS and mutual TLS, tokens, limits (413, 429), unknown sessions,
// and a malformed-request suite after which nothing has reached a session.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <iterator>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base/net.h"
#include "common/grpc/channel.h"
#include "common/redis/testing/redis_server.h"
#include "common/testing/certs.h"
#include "common/testing/eventually.h"
#include "common/testing/http_client.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "orch/session/v1/sessions.grpc.pb.h"
#include "tests/stack/stack.h"

namespace orch::rest_gateway {
namespace {

namespace sv1 = ::orch::session::v1;
using ::orch::testing::Eventually;
using ::orch::testing::HttpCallOptions;
using ::orch::testing::HttpResponse;
using ::orch::testing::Launch;
using ::orch::testing::Served;
using ::testing::HasSubstr;

constexpr char kToken[] = "test-token-0123456789abcdef";
constexpr char kSessionsService[] = "orch.session.v1.Sessions";

const char kChart[] = R"XML(<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" _persist="true"
    xmlns:session="http://www.genesyslab.com/modules/session">
  <datamodel>
    <data id="count" expr="0"/><data id="last" expr="null"/><data id="secret" expr="'s3cr3t'"/>
    <data id="greeting" _type="parameter" expr="'none'"/><data id="caller" _type="parameter" expr="''"/>
  </datamodel>
  <state id="idle">
    <transition event="ev"><assign location="count" expr="count + 1"/><assign location="last" expr="_event.data"/></transition>
    <transition event="ask"><send event="answer" targetexpr="_event.origin">
      <param name="count" expr="count"/><param name="greeting" expr="greeting"/><param name="asked" expr="_event.data"/>
    </send></transition>
    <transition event="position"><session:response event="position"><param name="count" expr="count"/></session:response></transition>
    <transition event="slow"/>
    <transition event="stop" target="end"/>
  </state>
  <final id="end"/>
</scxml>
)XML";

// A JSON body as a Struct (empty when it does not parse).
google::protobuf::Struct ParseJson(const std::string& body) {
  google::protobuf::Struct s;
  if (!google::protobuf::util::JsonStringToMessage(body, &s).ok()) s.Clear();
  return s;
}

std::string Str(const google::protobuf::Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? "" : it->second.string_value();
}

double Num(const google::protobuf::Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? -1 : it->second.number_value();
}

std::string ErrorCode(const HttpResponse& r) {
  auto s = ParseJson(r.body);
  auto it = s.fields().find("error");
  if (it == s.fields().end()) return "";
  return Str(it->second.struct_value(), "code");
}

// Raw HTTP over a socket, for what curl will not send. Reads until the
// server closes or `limit` passes; returns what arrived.
struct Raw {
  int fd = -1;
  explicit Raw(int port) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      close(fd);
      fd = -1;
    }
  }
  ~Raw() {
    if (fd >= 0) close(fd);
  }
  bool Send(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  // Everything until close (or `limit`); `closed` tells which.
  std::string ReadAll(absl::Duration limit, bool* closed = nullptr) {
    std::string out;
    const absl::Time end = absl::Now() + limit;
    if (closed != nullptr) *closed = false;
    while (absl::Now() < end) {
      pollfd p{fd, POLLIN, 0};
      int ms = static_cast<int>(absl::ToInt64Milliseconds(end - absl::Now()));
      if (poll(&p, 1, std::max(ms, 1)) <= 0) continue;
      char buf[4096];
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) {
        if (closed != nullptr) *closed = true;
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
};

int StatusOf(const std::string& raw) {
  int code = 0;
  if (raw.size() >= 12 && absl::StartsWith(raw, "HTTP/1.1 ")) (void)absl::SimpleAtoi(raw.substr(9, 3), &code);
  return code;
}

class RestGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto redis = testing::RedisServer::Start({});
    ASSERT_OK(redis);
    redis_ = *std::move(redis);
    const std::string config = dir_.WriteFile(
        "proxy.toml",
        absl::StrCat("[server]\ngrpc-listen = \"127.0.0.1:0\"\nshutdown-grace-ms = 500\n[metrics]\n",
                     "listen = \"127.0.0.1:0\"\n[persistence]\nredis-nodes = [\"", redis_->address(),
                     "\"]\nredis-mode = \"standalone\"\nhealth-check-interval-ms = 100\n"));
    auto p = Launch(ORCH_PERSISTENCE_PROXY_BIN, config);
    ASSERT_OK(p);
    proxy_ = std::move(*p);
    ASSERT_TRUE(Eventually([&] { return proxy_.Healthy("orch.persistence.v1.Persistence"); }));
    chart_ = "file://" + dir_.WriteFile("chart.scxml", kChart);
  }

  absl::StatusOr<Served> StartEngine(int node, bool primary = true) {
    const std::string config = dir_.WriteFile(
        absl::StrCat("engine", ++configs_, ".toml"),
        absl::StrCat("[server]\ngrpc-listen = \"127.0.0.1:0\"\nshutdown-grace-ms = 500\n[metrics]\n",
                     "listen = \"127.0.0.1:0\"\n[orchestration]\nnode-id = ", node,
                     "\nlease-ttl-ms = 1500\nlease-renew-ms = 300\nsession-restart-timeout = 10\n[scxml]\n",
                     "session-processing-threads = 2\ndocument-url-prefixes = [\"file://", dir_.path(), "/\"]\n",
                     "[persistence]\nproxy-endpoint = \"", proxy_.grpc, "\"\nrequest-timeout-ms = 1000\n"));
    auto e = Launch(ORCH_SESSION_ENGINE_BIN, config);
    if (!e.ok()) return e.status();
    if (primary && !Eventually([&] { return e->Healthy(kSessionsService); })) {
      return absl::InternalError("session-engine did not become primary");
    }
    return e;
  }

  // A gateway; `extra` lines are "section.option = value".
  absl::StatusOr<Served> StartGateway(const std::string& extra = "", const std::string& nodes = "\"1\"") {
    auto section = [&](const std::string& name) { return testing::TomlSection(extra, name); };
    const std::string config = dir_.WriteFile(
        absl::StrCat("gateway", ++configs_, ".toml"),
        absl::StrCat("[server]\ngrpc-listen = \"127.0.0.1:0\"\nshutdown-grace-ms = 500\n[metrics]\n",
                     "listen = \"127.0.0.1:0\"\n[http]\nlisten = \"127.0.0.1:0\"\n",
                     absl::StrContains(extra, "http.read-timeout-ms") ? "" : "read-timeout-ms = 1000\n",
                     section("http"), "[auth]\n",
                     absl::StrContains(extra, "auth.token =") ? "" : absl::StrCat("token = \"", kToken, "\"\n"),
                     section("auth"), "[routing]\nproxy-endpoint = \"", proxy_.grpc, "\"\nnodes = [", nodes,
                     "]\nlease-refresh-ms = 100\n", section("routing"), "[api]\n",
                     "query-data-names = [\"count\", \"last\", \"greeting\", \"caller\"]\n", section("api")));
    auto g = Launch(ORCH_REST_GATEWAY_BIN, config);
    if (!g.ok()) return g.status();
    if (g->http.empty()) return absl::InternalError("rest-gateway logged no http address");
    return g;
  }

  static std::string Url(const Served& g, const std::string& path, bool tls = false) {
    return absl::StrCat(tls ? "https://" : "http://", g.http, path);
  }

  static HttpResponse Call(const Served& g, const std::string& method, const std::string& path,
                           const std::string& body = "", const std::string& content_type = "application/json",
                           std::vector<std::string> headers = {}, bool auth = true) {
    HttpCallOptions o;
    o.method = method;
    o.body = body;
    if (!body.empty() && !content_type.empty()) headers.push_back("Content-Type: " + content_type);
    if (auth) headers.push_back(absl::StrCat("Authorization: Bearer ", kToken));
    o.headers = std::move(headers);
    auto r = testing::HttpCall(Url(g, path), o);
    if (!r.ok()) {
      HttpResponse failed;
      failed.body = std::string(r.status().message());
      return failed;
    }
    return *std::move(r);
  }

  // Starts a session through the gateway; "" on failure.
  std::string StartSession(const Served& g, const std::string& extra_fields = "") {
    HttpResponse r = Call(g, "POST", "/scxml/session/start",
                          absl::StrCat("{\"src\":\"", chart_, "\"", extra_fields, "}"));
    if (r.status != 200) ADD_FAILURE() << r.status << " " << r.body;
    return Str(ParseJson(r.body), "sessionid");
  }

  // The session's "count" through the gateway (-1 when the query fails).
  double Count(const Served& g, const std::string& sid) {
    HttpResponse r = Call(g, "GET", absl::StrCat("/scxml/session/", sid, "/query?data=count"));
    if (r.status != 200) return -1;
    auto s = ParseJson(r.body);
    return Num(s.fields().at("data").struct_value(), "count");
  }

  testing::TempDir dir_;
  int configs_ = 0;
  std::unique_ptr<testing::RedisServer> redis_;
  Served proxy_;
  std::string chart_;
};

TEST_F(RestGatewayTest, EveryEndpointWithJsonBodies) {
  auto engine = StartEngine(1);
  ASSERT_OK(engine);
  auto g = StartGateway();
  ASSERT_OK(g);

  HttpResponse start = Call(*g, "POST", "/scxml/session/start",
                            absl::StrCat("{\"src\":\"", chart_, "\",\"greeting\":\"hello\",\"caller\":{\"ani\":5}}"));
  ASSERT_EQ(start.status, 200) << start.body;
  EXPECT_EQ(start.content_type, "application/json");
  auto s = ParseJson(start.body);
  const std::string sid = Str(s, "sessionid");
  ASSERT_TRUE(absl::StartsWith(sid, "~1~")) << start.body;
  EXPECT_TRUE(s.fields().at("persistent").bool_value());
  EXPECT_TRUE(s.fields().at("created").bool_value());
  EXPECT_EQ(start.Header("set-cookie"),
            absl::StrCat("ORSSESSIONID=", sid, ".node1; Path=/; HttpOnly; SameSite=Strict"));
  EXPECT_EQ(start.Header("x-content-type-options"), "nosniff");
  EXPECT_EQ(start.Header("cache-control"), "no-store");
  EXPECT_EQ(start.Header("x-frame-options"), "DENY");
  EXPECT_THAT(start.Header("content-security-policy"), HasSubstr("default-src 'none'"));
  EXPECT_FALSE(start.Header("x-request-id").empty());

  HttpResponse ev = Call(*g, "POST", absl::StrCat("/scxml/session/", sid, "/event/ev"), R"({"n":1,"tags":["a"]})");
  ASSERT_EQ(ev.status, 200) << ev.body;
  EXPECT_EQ(Num(ParseJson(ev.body), "seq"), 2);
  EXPECT_FALSE(ParseJson(ev.body).fields().at("duplicate").bool_value());

  // Under the gateway's body limit (1 MiB) but over the engine's
  // max-event-bytes (256 KiB): the engine's OUT_OF_RANGE is a 413, and the
  // event never reaches the session (its count stays 1 below).
  HttpResponse big = Call(*g, "POST", absl::StrCat("/scxml/session/", sid, "/event/ev"),
                          absl::StrCat("{\"x\":\"", std::string(300000, 'a'), "\"}"));
  EXPECT_EQ(big.status, 413) << big.body;
  EXPECT_EQ(ErrorCode(big), "payload_too_large");
  EXPECT_THAT(big.body, HasSubstr("larger than 262144 bytes"));

  HttpResponse q = Call(*g, "GET", absl::StrCat("/scxml/session/", sid, "/query"));
  ASSERT_EQ(q.status, 200) << q.body;
  auto qs = ParseJson(q.body);
  EXPECT_EQ(Str(qs, "state"), "running");
  ASSERT_EQ(qs.fields().at("active_states").list_value().values_size(), 1);
  EXPECT_EQ(qs.fields().at("active_states").list_value().values(0).string_value(), "idle");
  const auto& data = qs.fields().at("data").struct_value();
  EXPECT_EQ(Num(data, "count"), 1);
  EXPECT_EQ(Str(data, "greeting"), "hello");
  EXPECT_EQ(Num(data.fields().at("caller").struct_value(), "ani"), 5);   // a JSON parameter keeps its type
  EXPECT_EQ(Num(data.fields().at("last").struct_value(), "n"), 1);
  EXPECT_EQ(data.fields().count("secret"), 0u) << "only api.query-data-names are revealed";

  // POST works for query too.
  EXPECT_EQ(Call(*g, "POST", absl::StrCat("/scxml/session/", sid, "/query")).status, 200);

  HttpResponse req = Call(*g, "POST", absl::StrCat("/scxml/session/", sid, "/request/ask"), R"({"q":"position"})");
  ASSERT_EQ(req.status, 200) << req.body;
  auto rs = ParseJson(req.body);
  EXPECT_EQ(Str(rs, "name"), "answer");
  EXPECT_EQ(Num(rs.fields().at("data").struct_value(), "count"), 1);
  EXPECT_EQ(Str(rs.fields().at("data").struct_value(), "greeting"), "hello");
  EXPECT_EQ(Str(rs.fields().at("data").struct_value().fields().at("asked").struct_value(), "q"), "position");

  // The Orchestration Server's <session:response> answers a request too.
  HttpResponse pos = Call(*g, "POST", absl::StrCat("/scxml/session/", sid, "/request/position"));
  ASSERT_EQ(pos.status, 200) << pos.body;
  EXPECT_EQ(Str(ParseJson(pos.body), "name"), "position");
  EXPECT_EQ(Num(ParseJson(pos.body).fields().at("data").struct_value(), "count"), 1);

  HttpResponse t = Call(*g, "POST", absl::StrCat("/scxml/session/", sid, "/terminate"), R"({"reason":"test"})");
  ASSERT_EQ(t.status, 200) << t.body;
  EXPECT_TRUE(ParseJson(t.body).fields().at("terminated").bool_value());
  HttpResponse gone = Call(*g, "GET", absl::StrCat("/scxml/session/", sid, "/query"));
  EXPECT_EQ(gone.status, 404) << gone.body;
  EXPECT_EQ(ErrorCode(gone), "not_found");
  EXPECT_EQ(Call(*g, "POST", absl::StrCat("/scxml/session/", sid, "/event/ev")).status, 404);

  // A session that reached its <final> is gone too.
  const std::string sid2 = StartSession(*g);
  ASSERT_EQ(Call(*g, "POST", absl::StrCat("/scxml/session/", sid2, "/event/stop")).status, 200);
  EXPECT_TRUE(Eventually([&] { return Call(*g, "GET", absl::StrCat("/scxml/session/", sid2, "/query")).status == 404; }));

  // The public endpoints need no token.
  EXPECT_EQ(Call(*g, "GET", "/healthz", "", "", {}, false).status, 200);
  HttpResponse ready = Call(*g, "GET", "/readyz", "", "", {}, false);
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_THAT(ready.body, HasSubstr("\"1\":\"up\""));
  HttpResponse help = Call(*g, "GET", "/ors/help", "", "", {}, false);
  EXPECT_EQ(help.status, 200);
  EXPECT_THAT(help.body, HasSubstr("/scxml/session/{id}/request/{name}"));
  HttpResponse api = Call(*g, "GET", "/openapi.yaml", "", "", {}, false);
  EXPECT_EQ(api.status, 200);
  EXPECT_EQ(api.content_type, "application/yaml");
  std::ifstream f(std::string(ORCH_SOURCE_DIR) + "/docs/api/openapi.yaml");
  EXPECT_EQ(api.body, std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>()));
}

TEST_F(RestGatewayTest, FormBodiesQueryParametersAndIdempotency) {
  auto engine = StartEngine(1);
  ASSERT_OK(engine);
  auto g = StartGateway();
  ASSERT_OK(g);
  HttpResponse start = Call(*g, "POST", "/scxml/session/start",
                            absl::StrCat("src=", chart_, "&greeting=hi+there%21"), "application/x-www-form-urlencoded");
  ASSERT_EQ(start.status, 200) << start.body;
  const std::string sid = Str(ParseJson(start.body), "sessionid");

  HttpResponse ev = Call(*g, "POST", absl::StrCat("/scxml/session/", sid, "/event/ev?n=5&m=query"), "m=body&x=%C3%A9",
                         "application/x-www-form-urlencoded");
  ASSERT_EQ(ev.status, 200) << ev.body;
  HttpResponse q = Call(*g, "GET", absl::StrCat("/scxml/session/", sid, "/query?data=last,greeting"));
  ASSERT_EQ(q.status, 200) << q.body;
  const auto qs = ParseJson(q.body);
  const auto& data = qs.fields().at("data").struct_value();
  ASSERT_TRUE(data.fields().count("last")) << q.body;
  EXPECT_EQ(Str(data, "greeting"), "hi there!");
  const auto& last = data.fields().at("last").struct_value();
  EXPECT_EQ(Str(last, "n"), "5");          // form and query values are strings
  EXPECT_EQ(Str(last, "m"), "body");       // the body wins over the query string
  EXPECT_EQ(Str(last, "x"), "\xC3\xA9");
  EXPECT_EQ(data.fields().count("count"), 0u) << "?data= narrows the answer";
  HttpResponse secret = Call(*g, "GET", absl::StrCat("/scxml/session/", sid, "/query?data=secret"));
  EXPECT_EQ(secret.status, 403);
  EXPECT_EQ(ErrorCode(secret), "forbidden");

  // A JSON body that is not an object is the event's data as is.
  ASSERT_EQ(Call(*g, "POST", absl::StrCat("/scxml/session/", sid, "/event/ev"), "[1,2,3]").status, 200);
  HttpResponse q2 = Call(*g, "GET", absl::StrCat("/scxml/session/", sid, "/query?data=last"));
  EXPECT_THAT(q2.body, HasSubstr("\"last\":[1,2,3]"));

  // Idempotency-Key: a retried event is acknowledged, not delivered again.
  const double before = Count(*g, sid);
  for (int i = 0; i < 3; ++i) {
    HttpResponse r = Call(*g, "POST", absl::StrCat("/scxml/session/", sid, "/event/ev"), "{}", "application/json",
                          {"Idempotency-Key: retry-1"});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(ParseJson(r.body).fields().at("duplicate").bool_value(), i > 0);
  }
  EXPECT_EQ(Count(*g, sid), before + 1);
  // ... and a retried start answers the same session.
  auto start_key = [&] {
    return Call(*g, "POST", "/scxml/session/start", absl::StrCat("{\"src\":\"", chart_, "\"}"), "application/json",
                {"Idempotency-Key: call-42"});
  };
  HttpResponse a = start_key(), b = start_key();
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(Str(ParseJson(a.body), "sessionid"), Str(ParseJson(b.body), "sessionid"));
  EXPECT_FALSE(ParseJson(b.body).fields().at("created").bool_value());
}

TEST_F(RestGatewayTest, RequestWithoutAnswerTimesOut) {
  auto engine = StartEngine(1);
  ASSERT_OK(engine);
  auto g = StartGateway();
  ASSERT_OK(g);
  const std::string sid = StartSession(*g);
  const absl::Time t0 = absl::Now();
  HttpResponse r = Call(*g, "POST", absl::StrCat("/scxml/session/", sid, "/request/slow"), "", "",
                        {"Request-Timeout: 300"});
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_EQ(ErrorCode(r), "timeout");
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
  EXPECT_EQ(Call(*g, "POST", absl::StrCat("/scxml/session/", sid, "/request/slow"), "", "",
                 {"Request-Timeout: soon"}).status, 400);
}

TEST_F(RestGatewayTest, TokenRequired) {
  auto engine = StartEngine(1);
  ASSERT_OK(engine);
  const std::string tokens = dir_.WriteFile("tokens", "# client tokens\nivr-app ivr-token-abcdefghijklmnop\n");
  auto g = StartGateway(absl::StrCat("auth.tokens-file = \"", tokens, "\""));
  ASSERT_OK(g);
  const std::string sid = StartSession(*g);
  const std::string path = absl::StrCat("/scxml/session/", sid, "/query");

  HttpResponse missing = Call(*g, "GET", path, "", "", {}, false);
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(ErrorCode(missing), "unauthorized");
  EXPECT_EQ(missing.Header("www-authenticate"), "Bearer realm=\"orchestrion\"");
  HttpResponse wrong = Call(*g, "GET", path, "", "", {"Authorization: Bearer not-the-token-at-all"}, false);
  EXPECT_EQ(wrong.status, 401);
  EXPECT_THAT(wrong.body, ::testing::Not(HasSubstr("not-the-token")));
  EXPECT_EQ(Call(*g, "GET", path, "", "", {"Authorization: Basic dXNlcjpwdw=="}, false).status, 401);
  // Even a malformed id is not answered without credentials.
  EXPECT_EQ(Call(*g, "GET", "/scxml/session/not-an-id/query", "", "", {}, false).status, 401);
  EXPECT_EQ(Call(*g, "GET", path).status, 200);   // auth.token
  EXPECT_EQ(Call(*g, "GET", path, "", "", {"Authorization: Bearer ivr-token-abcdefghijklmnop"}, false).status, 200);
  // Nothing reached the session without a token: starts and events are refused too.
  EXPECT_EQ(Call(*g, "POST", "/scxml/session/start", absl::StrCat("{\"src\":\"", chart_, "\"}"), "application/json",
                 {}, false).status, 401);
  EXPECT_EQ(Call(*g, "POST", absl::StrCat("/scxml/session/", sid, "/event/ev"), "", "", {}, false).status, 401);
  EXPECT_EQ(Count(*g, sid), 0);
  EXPECT_GE(g->Metric("orch_rest_gateway_auth_failures_total"), 4);
}

TEST_F(RestGatewayTest, RoutesByNodeToTwoEngines) {
  auto one = StartEngine(1);
  ASSERT_OK(one);
  auto two = StartEngine(2);
  ASSERT_OK(two);
  auto g = StartGateway("", "\"1\", \"2\"");
  ASSERT_OK(g);
  ASSERT_TRUE(Eventually([&] { return Call(*g, "GET", "/readyz", "", "", {}, false).body.find("\"2\":\"up\"") !=
                                      std::string::npos; }));
  std::map<int, std::vector<std::string>> by_node;
  for (int i = 0; i < 8; ++i) {
    const std::string sid = StartSession(*g);
    ASSERT_FALSE(sid.empty());
    by_node[sid[1] - '0'].push_back(sid);   // the node is in the id
  }
  ASSERT_EQ(by_node.size(), 2u) << "new sessions are spread over both nodes";
  for (auto& [node, ids] : by_node) {
    const Served& engine = node == 1 ? *one : *two;
    auto stub = sv1::Sessions::NewStub(grpc_util::MakeChannel(engine.grpc));
    for (const auto& sid : ids) {
      ASSERT_EQ(Call(*g, "POST", absl::StrCat("/scxml/session/", sid, "/event/ev"), "{}").status, 200);
      EXPECT_EQ(Count(*g, sid), 1);
      // The engine of the id's node holds it.
      sv1::QuerySessionRequest req;
      req.set_session_id(sid);
      sv1::QuerySessionResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      EXPECT_TRUE(stub->QuerySession(&ctx, req, &resp).ok()) << sid << " on node " << node;
    }
  }
}

TEST_F(RestGatewayTest, FollowsAPrimaryChange) {
  auto primary = StartEngine(1);
  ASSERT_OK(primary);
  auto standby = StartEngine(1, /*primary=*/false);
  ASSERT_OK(standby);
  auto g = StartGateway();
  ASSERT_OK(g);
  const std::string sid = StartSession(*g);
  ASSERT_EQ(Call(*g, "POST", absl::StrCat("/scxml/session/", sid, "/event/ev"), "{}").status, 200);

  ASSERT_EQ(kill(primary->process->pid(), SIGKILL), 0);
  // Until the standby takes over, calls answer 503 with Retry-After; then
  // they reach the new primary, which recovered the session.
  std::set<int> statuses;
  bool retry_after_seen = false;
  ASSERT_TRUE(Eventually([&] {
    HttpResponse r = Call(*g, "POST", absl::StrCat("/scxml/session/", sid, "/event/ev"), "{}");
    statuses.insert(static_cast<int>(r.status));
    if (r.status == 503) {
      retry_after_seen = retry_after_seen || !r.Header("retry-after").empty();
      EXPECT_EQ(ErrorCode(r), "unavailable");
      EXPECT_THAT(r.body, ::testing::Not(HasSubstr("127.0.0.1"))) << "no internal detail";
    }
    return r.status == 200;
  }, absl::Seconds(20)));
  for (int s : statuses) EXPECT_TRUE(s == 200 || s == 503) << s;
  if (statuses.count(503)) {
    EXPECT_TRUE(retry_after_seen);
  }
  EXPECT_TRUE(standby->Healthy(kSessionsService));
  EXPECT_EQ(Count(*g, sid), 2);
}

TEST_F(RestGatewayTest, DownNodeAnswers503AndForeignNodeRedirects) {
  auto engine = StartEngine(1);
  ASSERT_OK(engine);
  auto g = StartGateway();
  ASSERT_OK(g);
  const std::string foreign = "~7~ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
  HttpResponse down = Call(*g, "POST", absl::StrCat("/scxml/session/", foreign, "/event/ev"));
  EXPECT_EQ(down.status, 503) << down.body;
  EXPECT_FALSE(down.Header("retry-after").empty());
  // Unknown but well-formed, and malformed ids: 404.
  HttpResponse unknown = Call(*g, "GET", "/scxml/session/~1~ABCDEFGHIJKLMNOPQRSTUVWXYZ012345/query");
  EXPECT_EQ(unknown.status, 404) << unknown.body;
  EXPECT_EQ(ErrorCode(unknown), "not_found");
  EXPECT_EQ(Call(*g, "GET", "/scxml/session/not-an-id/query").status, 404);
  EXPECT_EQ(Call(*g, "GET", "/no/such/path").status, 404);
  HttpResponse method = Call(*g, "GET", "/scxml/session/start");
  EXPECT_EQ(method.status, 405);
  EXPECT_EQ(method.Header("allow"), "POST");

  auto redirecting = StartGateway("routing.external-url = \"https://lb.example:8443/\"");
  ASSERT_OK(redirecting);
  HttpResponse r = Call(*redirecting, "POST", absl::StrCat("/scxml/session/", foreign, "/event/ev?x=1"));
  EXPECT_EQ(r.status, 307);
  EXPECT_EQ(r.Header("location"), absl::StrCat("https://lb.example:8443/scxml/session/", foreign, "/event/ev?x=1"));
}

TEST_F(RestGatewayTest, TlsAndMutualTls) {
  auto engine = StartEngine(1);
  ASSERT_OK(engine);
  auto certs = testing::MakeTestCerts(dir_.path());
  ASSERT_OK(certs);
  auto g = StartGateway(absl::StrCat("http.tls-cert = \"", certs->server_cert, "\"\nhttp.tls-key = \"",
                                     certs->server_key, "\"\nhttp.tls-client-ca = \"", certs->ca_cert,
                                     "\"\nauth.client-cert-identities = [\"orch-test-client\"]"));
  ASSERT_OK(g);
  HttpCallOptions o;
  o.ca_file = certs->ca_cert;
  o.headers = {absl::StrCat("Authorization: Bearer ", kToken)};
  // Ready once its node directory has seen the engine's lease (a moment
  // after it serves; longer on a loaded machine).
  absl::StatusOr<testing::HttpResponse> ok;
  ASSERT_TRUE(Eventually([&] {
    ok = testing::HttpCall(Url(*g, "/readyz", true), o);
    return ok.ok() && ok->status == 200;
  })) << (ok.ok() ? ok->body : ok.status().ToString());
  EXPECT_EQ(ok->Header("strict-transport-security"), "max-age=31536000");
  // A session over TLS: the cookie is Secure.
  o.method = "POST";
  o.headers.push_back("Content-Type: application/json");
  o.body = absl::StrCat("{\"src\":\"", chart_, "\"}");
  auto start = testing::HttpCall(Url(*g, "/scxml/session/start", true), o);
  ASSERT_OK(start);
  ASSERT_EQ(start->status, 200) << start->body;
  EXPECT_THAT(start->Header("set-cookie"), HasSubstr("; Secure"));
  const std::string sid = Str(ParseJson(start->body), "sessionid");

  // Plain HTTP to the TLS port gets nothing useful.
  auto plain = testing::HttpGet(Url(*g, "/healthz"), absl::Seconds(3));
  EXPECT_TRUE(!plain.ok() || plain->status != 200);
  // An untrusted server certificate is refused by the client.
  HttpCallOptions untrusted;
  EXPECT_FALSE(testing::HttpCall(Url(*g, "/healthz", true), untrusted).ok());

  // Mutual TLS: the client certificate authenticates without a token.
  HttpCallOptions m;
  m.ca_file = certs->ca_cert;
  m.cert_file = certs->client_cert;
  m.key_file = certs->client_key;
  auto q = testing::HttpCall(Url(*g, absl::StrCat("/scxml/session/", sid, "/query"), true), m);
  ASSERT_OK(q);
  EXPECT_EQ(q->status, 200) << q->body;
  HttpCallOptions nocert;
  nocert.ca_file = certs->ca_cert;
  auto anon = testing::HttpCall(Url(*g, absl::StrCat("/scxml/session/", sid, "/query"), true), nocert);
  ASSERT_OK(anon);
  EXPECT_EQ(anon->status, 401);
}

TEST_F(RestGatewayTest, BodyLimitAndRateLimit) {
  auto engine = StartEngine(1);
  ASSERT_OK(engine);
  auto g = StartGateway("http.max-body-bytes = 1024\nhttp.rate-limit-per-s = 5\nhttp.rate-limit-burst = 5");
  ASSERT_OK(g);
  const std::string sid = StartSession(*g);
  HttpResponse big = Call(*g, "POST", absl::StrCat("/scxml/session/", sid, "/event/ev"),
                          absl::StrCat("{\"x\":\"", std::string(2000, 'a'), "\"}"));
  EXPECT_EQ(big.status, 413) << big.body;
  EXPECT_EQ(ErrorCode(big), "payload_too_large");
  int limited = 0;
  std::string retry_after;
  for (int i = 0; i < 12; ++i) {
    HttpResponse r = Call(*g, "GET", absl::StrCat("/scxml/session/", sid, "/query"));
    if (r.status == 429) {
      ++limited;
      retry_after = r.Header("retry-after");
      EXPECT_EQ(ErrorCode(r), "too_many_requests");
    }
  }
  EXPECT_GT(limited, 0);
  int seconds = 0;
  EXPECT_TRUE(absl::SimpleAtoi(retry_after, &seconds) && seconds >= 1) << retry_after;
  EXPECT_GE(g->Metric("orch_rest_gateway_rate_limited_total"), limited);
  // The limit is per client and refills: the public endpoints still answer,
  // and after a pause the client is served again.
  EXPECT_EQ(Call(*g, "GET", "/healthz", "", "", {}, false).status, 200);
  EXPECT_TRUE(Eventually([&] { return Call(*g, "GET", absl::StrCat("/scxml/session/", sid, "/query")).status == 200; },
                         absl::Seconds(5)));
}

// Each malformed request gets a 4xx, the gateway keeps serving, and nothing
// reaches the session (its count and the engine's applied inputs are
// unchanged).
TEST_F(RestGatewayTest, MalformedRequests) {
  auto engine = StartEngine(1);
  ASSERT_OK(engine);
  auto g = StartGateway("http.max-header-bytes = 4096\nhttp.read-timeout-ms = 500");
  ASSERT_OK(g);
  const std::string sid = StartSession(*g);
  const double applied_before = engine->Metric("orch_session_engine_inputs_applied_total");
  auto port = SplitHostPort(g->http);
  ASSERT_OK(port);
  const std::string auth = absl::StrCat("Authorization: Bearer ", kToken, "\r\n");
  const std::string ev = absl::StrCat("/scxml/session/", sid, "/event/ev");
  auto post = [&](const std::string& path, const std::string& type, const std::string& body) {
    return absl::StrCat("POST ", path, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n", auth, type.empty() ? "" : "Content-Type: " + type + "\r\n",
                        "Content-Length: ", body.size(), "\r\n\r\n", body);
  };
  std::string deep(50000, '[');
  deep += std::string(50000, ']');
  struct Case {
    std::string name;
    std::string raw;
    int status;
  };
  const std::vector<Case> cases = {
      {"broken JSON", post(ev, "application/json", "{\"n\": 1,"), 400},
      {"JSON with trailing garbage", post(ev, "application/json", "{\"n\":1} x"), 400},
      {"deeply nested JSON", post(ev, "application/json", deep), 400},
      {"wrong content type", post(ev, "text/plain", "n=1"), 415},
      {"XML body", post(ev, "application/xml", "<n>1</n>"), 415},
      {"body without content type", post(ev, "", "{\"n\":1}"), 415},
      {"latin-1 charset", post(ev, "application/json; charset=iso-8859-1", "{\"n\":1}"), 415},
      {"non-UTF-8 JSON", post(ev, "application/json", "{\"n\":\"\xff\xfe\"}"), 400},
      {"non-UTF-8 form", post(ev, "application/x-www-form-urlencoded", "n=%FF%FE"), 400},
      {"malformed percent escape", post(ev, "application/x-www-form-urlencoded", "n=%G1"), 400},
      {"non-UTF-8 event name", post(absl::StrCat("/scxml/session/", sid, "/event/%FF"), "", ""), 400},
      {"event name with a space", post(absl::StrCat("/scxml/session/", sid, "/event/a%20b"), "", ""), 400},
      {"path traversal", post("/scxml/session/../../etc/passwd", "", ""), 404},
      {"encoded traversal", post("/scxml/session/%2e%2e%2f%2e%2e%2fetc/event/ev", "", ""), 404},
      {"encoded slash in id", post(absl::StrCat("/scxml/session/", sid, "%2Fevent/ev"), "", ""), 404},
      {"id with NUL", post("/scxml/session/~1~ABC%00DEFGHIJKLMNOPQRSTUVWXYZ01234/event/ev", "", ""), 404},
      {"too long id", post(absl::StrCat("/scxml/session/", sid, "AAAA/event/ev"), "", ""), 404},
      {"huge header", absl::StrCat("POST ", ev, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n", auth, "X-Big: ", std::string(8000, 'b'),
                                   "\r\nContent-Length: 0\r\n\r\n"), 431},
      {"many headers", [&] {
         std::string r = absl::StrCat("POST ", ev, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n", auth);
         for (int i = 0; i < 500; ++i) absl::StrAppend(&r, "X-H", i, ": v\r\n");
         return r + "Content-Length: 0\r\n\r\n";
       }(), 431},
      {"garbage request line", "GARBAGE\r\n\r\n", 400},
      {"bad HTTP version", absl::StrCat("POST ", ev, " HTTP/9.9\r\n\r\n"), 400},
      {"negative content length", absl::StrCat("POST ", ev, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n", auth,
                                               "Content-Length: -5\r\n\r\n"), 400},
      {"query of a non-object JSON body", post(ev + "?a=1", "application/json", "[1]"), 400},
      {"no token", absl::StrCat("POST ", ev, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"), 401},
  };
  for (const Case& c : cases) {
    Raw raw(port->port);
    ASSERT_GE(raw.fd, 0);
    ASSERT_TRUE(raw.Send(c.raw)) << c.name;
    const absl::Time sent = absl::Now();
    std::string answer = raw.ReadAll(absl::Seconds(3));
    EXPECT_EQ(StatusOf(answer), c.status) << c.name << ": " << answer.substr(0, 300);
    EXPECT_LT(absl::Now() - sent, absl::Seconds(2)) << c.name << ": the answer (and close) came late";
    if (StatusOf(answer) >= 400) {
      EXPECT_THAT(answer, HasSubstr("{\"error\":{\"code\":")) << c.name;
    }
  }

  // Slow requests are cut off by http.read-timeout-ms (500 ms here) with
  // 408: a body that never completes, headers that never end.
  for (const std::string& partial :
       {absl::StrCat("POST ", ev, " HTTP/1.1\r\nHost: x\r\n", auth,
                     "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"n\":"),
        absl::StrCat("POST ", ev, " HTTP/1.1\r\nHost: x\r\nX-Slow: ")}) {
    Raw raw(port->port);
    ASSERT_TRUE(raw.Send(partial));
    const absl::Time t0 = absl::Now();
    bool closed = false;
    std::string answer = raw.ReadAll(absl::Seconds(5), &closed);
    EXPECT_EQ(StatusOf(answer), 408) << answer;
    EXPECT_TRUE(closed);
    EXPECT_LT(absl::Now() - t0, absl::Seconds(3));
  }
  // A slowloris that trickles one byte every 100 ms is cut off as well.
  {
    Raw raw(port->port);
    const std::string head = absl::StrCat("POST ", ev, " HTTP/1.1\r\nHost: x\r\n", auth,
                                          "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n");
    ASSERT_TRUE(raw.Send(head));
    const absl::Time t0 = absl::Now();
    bool open = true;
    for (int i = 0; i < 50 && open; ++i) {
      open = raw.Send(" ");
      pollfd p{raw.fd, POLLIN, 0};
      if (poll(&p, 1, 100) > 0) break;
    }
    bool closed = false;
    std::string answer = raw.ReadAll(absl::Seconds(3), &closed);
    EXPECT_EQ(StatusOf(answer), 408) << answer;
    EXPECT_TRUE(closed);
    EXPECT_LT(absl::Now() - t0, absl::Seconds(4));
  }

  // Still serving; nothing reached the session.
  EXPECT_EQ(Call(*g, "GET", "/healthz", "", "", {}, false).status, 200);
  EXPECT_EQ(Count(*g, sid), 0);
  EXPECT_EQ(engine->Metric("orch_session_engine_inputs_applied_total"), applied_before);
  ASSERT_EQ(Call(*g, "POST", ev, "{\"n\":1}").status, 200);
  EXPECT_EQ(Count(*g, sid), 1);
}

TEST_F(RestGatewayTest, RefusesToStartWithoutCredentials) {
  const std::string config = dir_.WriteFile(
      "nocreds.toml", testing::TestClusterToml(dir_.path()) + "[server]\ngrpc-listen = \"127.0.0.1:0\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n"
                      "[http]\nlisten = \"127.0.0.1:0\"\n");
  auto p = testing::Subprocess::Start({.argv = {ORCH_REST_GATEWAY_BIN, "--config", config},
                                       .unset_env = testing::OrchEnvironmentVariables()});
  ASSERT_OK(p);
  auto line = (*p)->ReadLine(testing::Subprocess::Stream::kStderr, absl::Seconds(10));
  ASSERT_OK(line);
  EXPECT_THAT(*line, HasSubstr("auth.allow-anonymous"));
  auto rc = (*p)->Wait(absl::Seconds(10));
  ASSERT_OK(rc);
  ASSERT_TRUE(WIFEXITED(*rc));
  EXPECT_EQ(WEXITSTATUS(*rc), 2);
}

}  // namespace
}  // namespace orch::rest_gateway
