// Unit tests of Api: a FakeBackend in place of the engines (records every
// call, answers with canned results or errors, at once, from another thread,
// or when the test releases it) and a FakeExchange in place of the HTTP
// server (records the response).

#include "services/rest_gateway/api.h"

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace orch::rest_gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kToken[] = "api-test-token-0123456789";
constexpr char kRandom[] = "0K3M5P7R9T1V3X5Z7B9D1F3H5J7L9N1Q";

std::string IdOn(int node) { return absl::StrCat("~", node, "~", kRandom); }
const std::string kId1 = IdOn(1);

// ---------------------------------------------------------------- fakes

class FakeExchange final : public Exchange {
 public:
  explicit FakeExchange(HttpRequest r) : req_(std::move(r)) {}
  const HttpRequest& request() const override { return req_; }
  void Respond(HttpResponse r) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++responses_;
    if (!response_) response_ = std::move(r);
    cv_.notify_all();
  }
  std::optional<HttpResponse> Wait(absl::Duration timeout = absl::Seconds(5)) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), [&] { return response_.has_value(); });
    return response_;
  }
  bool responded() {
    std::lock_guard<std::mutex> lock(mu_);
    return response_.has_value();
  }
  int responses() {
    std::lock_guard<std::mutex> lock(mu_);
    return responses_;
  }

 private:
  HttpRequest req_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<HttpResponse> response_;
  int responses_ = 0;
};

struct Recorded {
  std::string kind;  // "start", "event", "request", "query", "terminate"
  int node = 0;
  bool retry_safe = false;
  absl::Duration deadline;
  sv1::StartSessionRequest start;
  sv1::SendEventRequest event;
  sv1::RequestEventRequest request;
  sv1::QuerySessionRequest query;
  sv1::TerminateSessionRequest terminate;
};

class FakeBackend final : public SessionsBackend {
 public:
  enum class Mode { kSync, kThread, kHold };

  ~FakeBackend() override { JoinAll(); }

  // Canned answers. start_result unset: a new session on the node asked.
  std::optional<absl::StatusOr<sv1::StartSessionResponse>> start_result;
  absl::StatusOr<sv1::SendEventResponse> event_result = sv1::SendEventResponse();
  absl::StatusOr<sv1::RequestEventResponse> request_result = sv1::RequestEventResponse();
  absl::StatusOr<sv1::QuerySessionResponse> query_result = RunningQuery();
  absl::StatusOr<sv1::TerminateSessionResponse> terminate_result = sv1::TerminateSessionResponse();

  static sv1::QuerySessionResponse RunningQuery() {
    sv1::QuerySessionResponse r;
    r.set_state(sv1::SESSION_STATE_RUNNING);
    return r;
  }

  void set_mode(Mode m) { mode_ = m; }
  void SetNode(int node, bool up, int retry_after_s = 1) {
    std::lock_guard<std::mutex> lock(mu_);
    nodes_[node] = NodeStatus{up, up ? "127.0.0.1:1" : "", retry_after_s};
  }
  void set_store_reachable(bool b) { store_reachable_ = b; }

  void StartSession(int node, sv1::StartSessionRequest req, bool retry_safe,
                    Done<sv1::StartSessionResponse> done) override {
    Recorded r{"start", node, retry_safe};
    r.start = req;
    Record(std::move(r));
    absl::StatusOr<sv1::StartSessionResponse> res;
    if (start_result.has_value()) {
      res = *start_result;
    } else {
      sv1::StartSessionResponse ok;
      ok.set_session_id(IdOn(node));
      ok.set_persistent(true);
      ok.set_created(true);
      res = ok;
    }
    Answer([done, res] { done(res); });
  }
  void SendEvent(int node, sv1::SendEventRequest req, bool retry_safe, Done<sv1::SendEventResponse> done) override {
    Recorded r{"event", node, retry_safe};
    r.event = req;
    Record(std::move(r));
    Answer([done, res = event_result] { done(res); });
  }
  void Request(int node, sv1::RequestEventRequest req, absl::Duration deadline,
               Done<sv1::RequestEventResponse> done) override {
    Recorded r{"request", node, false, deadline};
    r.request = req;
    Record(std::move(r));
    Answer([done, res = request_result] { done(res); });
  }
  void QuerySession(int node, sv1::QuerySessionRequest req, Done<sv1::QuerySessionResponse> done) override {
    Recorded r{"query", node};
    r.query = req;
    Record(std::move(r));
    Answer([done, res = query_result] { done(res); });
  }
  void TerminateSession(int node, sv1::TerminateSessionRequest req,
                        Done<sv1::TerminateSessionResponse> done) override {
    Recorded r{"terminate", node};
    r.terminate = req;
    Record(std::move(r));
    Answer([done, res = terminate_result] { done(res); });
  }
  NodeStatus Node(int node) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++node_lookups_;
    auto it = nodes_.find(node);
    return it == nodes_.end() ? NodeStatus{true, "127.0.0.1:1", 1} : it->second;
  }
  bool StoreReachable() override { return store_reachable_; }

  std::vector<Recorded> calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  Recorded last() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_.empty() ? Recorded{} : calls_.back();
  }
  size_t held() {
    std::lock_guard<std::mutex> lock(mu_);
    return held_.size();
  }
  // kHold: runs the held answers now, on this thread.
  void ReleaseAll() {
    std::deque<std::function<void()>> h;
    {
      std::lock_guard<std::mutex> lock(mu_);
      h.swap(held_);
    }
    for (auto& f : h) f();
  }
  void JoinAll() {
    std::vector<std::thread> t;
    {
      std::lock_guard<std::mutex> lock(mu_);
      t.swap(threads_);
    }
    for (auto& th : t) th.join();
  }

 private:
  void Record(Recorded r) {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back(std::move(r));
  }
  void Answer(std::function<void()> f) {
    switch (mode_) {
      case Mode::kSync:
        f();
        return;
      case Mode::kThread: {
        std::lock_guard<std::mutex> lock(mu_);
        threads_.emplace_back(std::move(f));
        return;
      }
      case Mode::kHold: {
        std::lock_guard<std::mutex> lock(mu_);
        held_.push_back(std::move(f));
        return;
      }
    }
  }

  Mode mode_ = Mode::kSync;
  bool store_reachable_ = true;
  std::mutex mu_;
  std::map<int, NodeStatus> nodes_;
  std::vector<Recorded> calls_;
  std::vector<std::thread> threads_;
  std::deque<std::function<void()>> held_;
  int node_lookups_ = 0;
};

// ------------------------------------------------------------- helpers

using Headers = std::vector<std::pair<std::string, std::string>>;

const std::string* HeaderOf(const HttpResponse& r, absl::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (absl::EqualsIgnoreCase(k, name)) return &v;
  }
  return nullptr;
}

std::string H(const HttpResponse& r, absl::string_view name) {
  const std::string* v = HeaderOf(r, name);
  return v == nullptr ? "<none>" : *v;
}

int CountHeader(const HttpResponse& r, absl::string_view name) {
  int n = 0;
  for (const auto& [k, v] : r.headers) n += absl::EqualsIgnoreCase(k, name) ? 1 : 0;
  return n;
}

google::protobuf::Struct Json(const HttpResponse& r) {
  google::protobuf::Struct s;
  auto st = google::protobuf::util::JsonStringToMessage(r.body, &s);
  EXPECT_TRUE(st.ok()) << "not a JSON object: " << r.body;
  return s;
}

google::protobuf::Value JsonValue(const std::string& text) {
  google::protobuf::Value v;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(text, &v).ok()) << text;
  return v;
}

bool SameValue(const google::protobuf::Value& a, const google::protobuf::Value& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

std::string ErrorCode(const HttpResponse& r) {
  auto s = Json(r);
  auto it = s.fields().find("error");
  if (it == s.fields().end()) return "<no error>";
  return it->second.struct_value().fields().at("code").string_value();
}

std::string ErrorMessage(const HttpResponse& r) {
  auto s = Json(r);
  auto it = s.fields().find("error");
  if (it == s.fields().end()) return "<no error>";
  return it->second.struct_value().fields().at("message").string_value();
}

struct Req {
  std::string method = "POST";
  std::string target;
  std::string body;
  std::string content_type;  // empty: no header
  Headers headers;
  bool auth = true;
  bool tls = false;
  std::string peer_ip = "192.0.2.1";
  std::string client_cert_cn;
};

HttpRequest Build(const Req& q) {
  HttpRequest r;
  r.method = q.method;
  r.target = q.target;
  r.body = q.body;
  r.tls = q.tls;
  r.peer_ip = q.peer_ip;
  r.client_cert_cn = q.client_cert_cn;
  if (!q.content_type.empty()) r.headers.emplace_back("content-type", q.content_type);
  if (q.auth) r.headers.emplace_back("authorization", absl::StrCat("Bearer ", kToken));
  for (const auto& [k, v] : q.headers) r.headers.emplace_back(k, v);
  return r;
}

Req JsonPost(std::string target, std::string body, Headers headers = {}) {
  Req q;
  q.target = std::move(target);
  q.body = std::move(body);
  q.content_type = "application/json";
  q.headers = std::move(headers);
  return q;
}

Req GetReq(std::string target, bool auth = false) {
  Req q;
  q.method = "GET";
  q.target = std::move(target);
  q.auth = auth;
  return q;
}

// ------------------------------------------------------------- fixture

class ApiTest : public ::testing::Test {
 protected:
  ApiTest() : metrics_(nullptr) {
    options_.nodes = {1};
    AuthOptions a;
    a.token = kToken;
    a.client_cert_identities = {"allowed-client"};
    auth_ = *Authenticator::Create(a);
  }
  ~ApiTest() override { backend_.JoinAll(); }

  Api& api() {
    if (!api_) api_ = std::make_unique<Api>(options_, &backend_, auth_.get(), &metrics_);
    return *api_;
  }

  // Handles the request and waits (bounded) for its one response.
  HttpResponse Call(const Req& q) {
    auto ex = std::make_shared<FakeExchange>(Build(q));
    api().Handle(ex);
    auto r = ex->Wait();
    EXPECT_TRUE(r.has_value()) << q.method << " " << q.target << ": no response";
    backend_.JoinAll();
    EXPECT_EQ(ex->responses(), 1) << q.method << " " << q.target;
    return r.value_or(HttpResponse{-1});
  }

  // The nodes `n` starts without an idempotency key went to.
  std::vector<int> StartNodes(int n) {
    std::vector<int> nodes;
    for (int i = 0; i < n; ++i) {
      HttpResponse r = Call(JsonPost("/scxml/session/start", R"({"src": "file:///x.scxml"})"));
      EXPECT_EQ(r.status, 200);
      nodes.push_back(backend_.last().node);
    }
    return nodes;
  }

  ApiOptions options_;
  FakeBackend backend_;
  std::unique_ptr<Authenticator> auth_;
  GatewayMetrics metrics_;
  std::unique_ptr<Api> api_;
};

// ----------------------------------------------------------------- start

TEST_F(ApiTest, StartNeedsAStringSrc) {
  for (const std::string& body : {std::string("{}"), std::string(R"({"src": 5})"), std::string(R"({"src": ""})"),
                                  std::string(R"({"src": null})"), std::string(R"({"src": ["a"]})"),
                                  std::string(R"("file:///x.scxml")"), std::string("[1]")}) {
    SCOPED_TRACE(body);
    HttpResponse r = Call(JsonPost("/scxml/session/start", body));
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(ErrorCode(r), "bad_request");
    EXPECT_THAT(ErrorMessage(r), HasSubstr("src"));
  }
  // Nor without any body.
  Req empty;
  empty.target = "/scxml/session/start";
  EXPECT_EQ(Call(empty).status, 400);
  EXPECT_THAT(backend_.calls(), IsEmpty());
}

TEST_F(ApiTest, StartPassesParametersWithTheirJsonTypes) {
  HttpResponse r = Call(JsonPost("/scxml/session/start",
                                 R"({"src": "file:///abs/x.scxml", "n": 5, "s": "text", "b": false,
                                     "o": {"k": [1, "two"]}, "z": null})"));
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(backend_.calls().size(), 1u);
  Recorded c = backend_.last();
  EXPECT_EQ(c.kind, "start");
  EXPECT_EQ(c.node, 1);
  EXPECT_EQ(c.start.url(), "file:///abs/x.scxml");
  const auto& p = c.start.parameters();
  EXPECT_EQ(p.size(), 5u);
  EXPECT_EQ(p.count("src"), 0u);
  EXPECT_TRUE(SameValue(p.at("n"), JsonValue("5")));
  EXPECT_TRUE(SameValue(p.at("s"), JsonValue("\"text\"")));
  EXPECT_TRUE(SameValue(p.at("b"), JsonValue("false")));
  EXPECT_TRUE(SameValue(p.at("o"), JsonValue(R"({"k": [1, "two"]})")));
  EXPECT_TRUE(SameValue(p.at("z"), JsonValue("null")));
  EXPECT_EQ(c.start.idempotency_key(), "");
  EXPECT_FALSE(c.retry_safe);

  auto j = Json(r);
  EXPECT_EQ(j.fields().at("sessionid").string_value(), kId1);
  EXPECT_TRUE(j.fields().at("persistent").bool_value());
  EXPECT_TRUE(j.fields().at("created").bool_value());
  EXPECT_EQ(r.content_type, "application/json");
}

TEST_F(ApiTest, StartFormAndQueryValuesAreStrings) {
  Req q;
  q.target = "/scxml/session/start?fromquery=7&n=query";
  q.content_type = "application/x-www-form-urlencoded";
  q.body = "src=file%3A%2F%2F%2Fx.scxml&n=5&flag=true";
  HttpResponse r = Call(q);
  ASSERT_EQ(r.status, 200) << r.body;
  Recorded c = backend_.last();
  EXPECT_EQ(c.start.url(), "file:///x.scxml");
  const auto& p = c.start.parameters();
  EXPECT_EQ(p.at("n").string_value(), "5");  // the body wins over the query
  EXPECT_EQ(p.at("flag").string_value(), "true");
  EXPECT_EQ(p.at("fromquery").string_value(), "7");
}

TEST_F(ApiTest, StartCanTakeSrcFromTheQueryString) {
  Req q;
  q.target = "/scxml/session/start?src=file%3A%2F%2F%2Fq.scxml";
  HttpResponse r = Call(q);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(backend_.last().start.url(), "file:///q.scxml");
}

TEST_F(ApiTest, StartSetsTheSessionCookie) {
  options_.nodes = {2};
  HttpResponse r = Call(JsonPost("/scxml/session/start", R"({"src": "file:///x.scxml"})"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(H(r, "Set-Cookie"), absl::StrCat("ORSSESSIONID=", IdOn(2), ".node2; Path=/; HttpOnly; SameSite=Strict"));

  Req tls = JsonPost("/scxml/session/start", R"({"src": "file:///x.scxml"})");
  tls.tls = true;
  HttpResponse rt = Call(tls);
  ASSERT_EQ(rt.status, 200);
  EXPECT_EQ(H(rt, "Set-Cookie"),
            absl::StrCat("ORSSESSIONID=", IdOn(2), ".node2; Path=/; HttpOnly; SameSite=Strict; Secure"));
}

TEST_F(ApiTest, CookieNamesTheNodeOfTheAnsweredId) {
  // An earlier start with the same key may live on another node: the cookie
  // follows the id the engine answered.
  sv1::StartSessionResponse s;
  s.set_session_id(IdOn(3));
  s.set_created(false);
  backend_.start_result = s;
  HttpResponse r = Call(JsonPost("/scxml/session/start", R"({"src": "file:///x.scxml"})"));
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(H(r, "Set-Cookie"), StartsWith(absl::StrCat("ORSSESSIONID=", IdOn(3), ".node3;")));
  EXPECT_FALSE(Json(r).fields().at("created").bool_value());
  EXPECT_FALSE(Json(r).fields().at("persistent").bool_value());
}

TEST_F(ApiTest, StartIdempotencyKey) {
  HttpResponse r = Call(JsonPost("/scxml/session/start", R"({"src": "file:///x.scxml"})",
                                 {{"idempotency-key", "order-42"}}));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(backend_.last().start.idempotency_key(), "order-42");
  EXPECT_TRUE(backend_.last().retry_safe);
}

TEST_F(ApiTest, BadIdempotencyKeysAre400) {
  for (const std::string& key : {std::string(""), std::string(257, 'k'), std::string("tab\there"),
                                 std::string("caf\xC3\xA9")}) {
    SCOPED_TRACE(key.substr(0, 20));
    HttpResponse s = Call(JsonPost("/scxml/session/start", R"({"src": "file:///x.scxml"})",
                                   {{"idempotency-key", key}}));
    EXPECT_EQ(s.status, 400);
    EXPECT_THAT(ErrorMessage(s), HasSubstr("Idempotency-Key"));
    HttpResponse e = Call(JsonPost(absl::StrCat("/scxml/session/", kId1, "/event/go"), "{}",
                                   {{"idempotency-key", key}}));
    EXPECT_EQ(e.status, 400);
  }
  EXPECT_THAT(backend_.calls(), IsEmpty());
  // 256 printable characters are fine.
  EXPECT_EQ(Call(JsonPost("/scxml/session/start", R"({"src": "file:///x.scxml"})",
                          {{"idempotency-key", std::string(256, 'k')}}))
                .status,
            200);
}

TEST_F(ApiTest, IdempotencyKeyPicksTheSameNodeEveryTime) {
  options_.nodes = {1, 2, 3};
  std::set<int> used;
  for (int k = 0; k < 30; ++k) {
    const std::string key = absl::StrCat("key-", k);
    int node = -1;
    for (int i = 0; i < 10; ++i) {
      HttpResponse r = Call(JsonPost("/scxml/session/start", R"({"src": "file:///x.scxml"})",
                                     {{"idempotency-key", key}}));
      ASSERT_EQ(r.status, 200);
      const int n = backend_.last().node;
      if (node == -1) node = n;
      EXPECT_EQ(n, node) << key;
    }
    used.insert(node);
  }
  // And the keys spread over the nodes.
  EXPECT_GE(used.size(), 2u);
  // A second Api (another gateway) picks the same node for a key.
  Api other(options_, &backend_, auth_.get(), &metrics_);
  for (int k = 0; k < 5; ++k) {
    const std::string key = absl::StrCat("key-", k);
    Call(JsonPost("/scxml/session/start", R"({"src": "file:///x.scxml"})", {{"idempotency-key", key}}));
    const int here = backend_.last().node;
    auto ex = std::make_shared<FakeExchange>(
        Build(JsonPost("/scxml/session/start", R"({"src": "file:///x.scxml"})", {{"idempotency-key", key}})));
    other.Handle(ex);
    ASSERT_TRUE(ex->Wait().has_value());
    EXPECT_EQ(backend_.last().node, here) << key;
  }
}

TEST_F(ApiTest, StartsGoRoundRobinOverTheNodes) {
  options_.nodes = {1, 2, 3};
  auto nodes = StartNodes(6);
  EXPECT_THAT(nodes, ElementsAre(1, 2, 3, 1, 2, 3));
}

TEST_F(ApiTest, StartsSkipNodesThatAreDownAndShareEvenly) {
  options_.nodes = {1, 2, 3};
  backend_.SetNode(2, false);
  auto nodes = StartNodes(12);
  std::map<int, int> count;
  for (int n : nodes) ++count[n];
  EXPECT_EQ(count[2], 0);
  // The node after the one that is down must not get its share as well.
  EXPECT_EQ(count[1], 6);
  EXPECT_EQ(count[3], 6);
}

TEST_F(ApiTest, StartsWhenEveryNodeIsDownStillGoSomewhere) {
  options_.nodes = {1, 2};
  backend_.SetNode(1, false, 4);
  backend_.SetNode(2, false, 4);
  backend_.start_result = absl::UnavailableError("node has no primary");
  HttpResponse r = Call(JsonPost("/scxml/session/start", R"({"src": "file:///x.scxml"})"));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(H(r, "Retry-After"), "4");
  ASSERT_EQ(backend_.calls().size(), 1u);
}

// ----------------------------------------------------------------- event

TEST_F(ApiTest, EventDataFromQueryAndBody) {
  sv1::SendEventResponse ans;
  ans.set_seq(12);
  backend_.event_result = ans;
  HttpResponse r = Call(JsonPost(absl::StrCat("/scxml/session/", kId1, "/event/order.placed?a=1&both=q"),
                                 R"({"b": {"c": 2}, "both": true})"));
  ASSERT_EQ(r.status, 200) << r.body;
  Recorded c = backend_.last();
  EXPECT_EQ(c.kind, "event");
  EXPECT_EQ(c.node, 1);
  EXPECT_FALSE(c.retry_safe);
  EXPECT_EQ(c.event.session_id(), kId1);
  EXPECT_EQ(c.event.event().name(), "order.placed");
  EXPECT_EQ(c.event.event().effect_id(), "");
  EXPECT_TRUE(SameValue(c.event.event().data(), JsonValue(R"({"a": "1", "b": {"c": 2}, "both": true})")));
  auto j = Json(r);
  EXPECT_EQ(j.fields().at("sessionid").string_value(), kId1);
  EXPECT_EQ(j.fields().at("seq").number_value(), 12);
  EXPECT_FALSE(j.fields().at("duplicate").bool_value());
}

TEST_F(ApiTest, EventWithoutDataHasNone) {
  Req q;
  q.target = absl::StrCat("/scxml/session/", kId1, "/event/go");
  HttpResponse r = Call(q);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(backend_.last().event.event().has_data());
}

TEST_F(ApiTest, EventNonObjectBodyIsTheData) {
  for (const std::string& body : {std::string(R"("x")"), std::string("[1,2]"), std::string("5")}) {
    SCOPED_TRACE(body);
    HttpResponse r = Call(JsonPost(absl::StrCat("/scxml/session/", kId1, "/event/go"), body));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(SameValue(backend_.last().event.event().data(), JsonValue(body)));
  }
  size_t before = backend_.calls().size();
  HttpResponse bad = Call(JsonPost(absl::StrCat("/scxml/session/", kId1, "/event/go?a=1"), "[1]"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(backend_.calls().size(), before);
}

// Gateways of every version pick the same node for a key: Fnv1a64 of the
// key modulo the number of nodes (Fnv1a64("call-42") % 3 == 2).
TEST_F(ApiTest, IdempotencyKeyNodeChoiceIsPinned) {
  options_.nodes = {1, 2, 3};
  HttpResponse r = Call(JsonPost("/scxml/session/start", R"({"src": "file:///x.scxml"})",
                                 {{"idempotency-key", "call-42"}}));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(backend_.last().node, 3);
}

TEST_F(ApiTest, EventIdempotencyKeyIsTheEffectId) {
  sv1::SendEventResponse ans;
  ans.set_seq(3);
  ans.set_duplicate(true);
  backend_.event_result = ans;
  HttpResponse r =
      Call(JsonPost(absl::StrCat("/scxml/session/", kId1, "/event/go"), "{}", {{"idempotency-key", "retry-1"}}));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(backend_.last().event.event().effect_id(), "http:retry-1");
  EXPECT_TRUE(backend_.last().retry_safe);
  EXPECT_TRUE(Json(r).fields().at("duplicate").bool_value());
  EXPECT_EQ(Json(r).fields().at("seq").number_value(), 3);
}

TEST_F(ApiTest, EventGoesToTheNodeOfTheId) {
  options_.nodes = {1, 7};
  HttpResponse r = Call(JsonPost(absl::StrCat("/scxml/session/", IdOn(7), "/event/go"), "{}"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(backend_.last().node, 7);
  EXPECT_EQ(backend_.last().event.session_id(), IdOn(7));
}

TEST_F(ApiTest, EventFormBody) {
  Req q;
  q.target = absl::StrCat("/scxml/session/", kId1, "/event/go");
  q.content_type = "application/x-www-form-urlencoded";
  q.body = "amount=12.5&who=a+b";
  ASSERT_EQ(Call(q).status, 200);
  EXPECT_TRUE(SameValue(backend_.last().event.event().data(), JsonValue(R"({"amount": "12.5", "who": "a b"})")));
}

// --------------------------------------------------------------- request

TEST_F(ApiTest, RequestTimeouts) {
  options_.request_timeout_ms = 1500;
  options_.max_request_timeout_ms = 60000;
  const std::string target = absl::StrCat("/scxml/session/", kId1, "/request/get.price");
  ASSERT_EQ(Call(JsonPost(target, "{}")).status, 200);
  EXPECT_EQ(backend_.last().kind, "request");
  EXPECT_EQ(backend_.last().request.timeout_ms(), 1500u);
  EXPECT_GT(backend_.last().deadline, absl::Milliseconds(1500));

  ASSERT_EQ(Call(JsonPost(target, "{}", {{"request-timeout", "250"}})).status, 200);
  EXPECT_EQ(backend_.last().request.timeout_ms(), 250u);
  EXPECT_GT(backend_.last().deadline, absl::Milliseconds(250));
  EXPECT_LT(backend_.last().deadline, absl::Milliseconds(250) + absl::Seconds(30));

  ASSERT_EQ(Call(JsonPost(target, "{}", {{"request-timeout", "999999"}})).status, 200);
  EXPECT_EQ(backend_.last().request.timeout_ms(), 60000u);
}

TEST_F(ApiTest, BadRequestTimeoutIs400) {
  const std::string target = absl::StrCat("/scxml/session/", kId1, "/request/q");
  for (const char* v : {"", "abc", "0", "-5", "1.5", "10ms", "99999999999999"}) {
    SCOPED_TRACE(v);
    HttpResponse r = Call(JsonPost(target, "{}", {{"request-timeout", v}}));
    EXPECT_EQ(r.status, 400);
    EXPECT_THAT(ErrorMessage(r), HasSubstr("Request-Timeout"));
  }
  EXPECT_THAT(backend_.calls(), IsEmpty());
}

TEST_F(ApiTest, RequestAnswersTheReply) {
  sv1::RequestEventResponse ans;
  ans.set_name("price");
  *ans.mutable_data() = JsonValue(R"({"amount": 12.5, "currency": "EUR", "tags": ["a"]})");
  backend_.request_result = ans;
  HttpResponse r = Call(JsonPost(absl::StrCat("/scxml/session/", kId1, "/request/get.price?sku=7"),
                                 R"({"qty": 2})", {{"idempotency-key", "rq-1"}}));
  ASSERT_EQ(r.status, 200) << r.body;
  Recorded c = backend_.last();
  EXPECT_EQ(c.request.session_id(), kId1);
  EXPECT_EQ(c.request.event().name(), "get.price");
  EXPECT_EQ(c.request.event().effect_id(), "http:rq-1");
  EXPECT_TRUE(SameValue(c.request.event().data(), JsonValue(R"({"sku": "7", "qty": 2})")));
  auto j = Json(r);
  EXPECT_EQ(j.fields().at("sessionid").string_value(), kId1);
  EXPECT_EQ(j.fields().at("name").string_value(), "price");
  google::protobuf::Value data;
  *data.mutable_struct_value() = j.fields().at("data").struct_value();
  EXPECT_TRUE(SameValue(data, ans.data()));
}

TEST_F(ApiTest, RequestReplyWithoutDataIsNull) {
  sv1::RequestEventResponse ans;
  ans.set_name("done");
  backend_.request_result = ans;
  HttpResponse r = Call(JsonPost(absl::StrCat("/scxml/session/", kId1, "/request/q"), "{}"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Json(r).fields().at("data").kind_case(), google::protobuf::Value::kNullValue);
}

TEST_F(ApiTest, RequestTimeoutIs504) {
  backend_.request_result = absl::DeadlineExceededError("no reply within 250 ms");
  HttpResponse r = Call(JsonPost(absl::StrCat("/scxml/session/", kId1, "/request/q"), "{}"));
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(ErrorCode(r), "timeout");
  EXPECT_THAT(ErrorMessage(r), HasSubstr("did not answer"));
}

// ----------------------------------------------------------------- query

TEST_F(ApiTest, QueryAsksForTheAllowedNamesOnly) {
  options_.query_data_names = {"status", "total"};
  sv1::QuerySessionResponse ans;
  ans.set_state(sv1::SESSION_STATE_RUNNING);
  ans.add_active_states("s1");
  ans.add_active_states("s\"2");
  (*ans.mutable_data())["total"] = JsonValue(R"({"amount": 5, "items": [1, "x", null, true]})");
  (*ans.mutable_data())["status"] = JsonValue(R"("open")");
  backend_.query_result = ans;
  HttpResponse r = Call(GetReq(absl::StrCat("/scxml/session/", kId1, "/query"), true));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(backend_.last().kind, "query");
  EXPECT_EQ(backend_.last().query.session_id(), kId1);
  EXPECT_THAT(backend_.last().query.data_names(), ElementsAre("status", "total"));
  auto j = Json(r);
  EXPECT_EQ(j.fields().at("sessionid").string_value(), kId1);
  EXPECT_EQ(j.fields().at("state").string_value(), "running");
  const auto& states = j.fields().at("active_states").list_value();
  ASSERT_EQ(states.values_size(), 2);
  EXPECT_EQ(states.values(0).string_value(), "s1");
  EXPECT_EQ(states.values(1).string_value(), "s\"2");
  const auto& data = j.fields().at("data").struct_value().fields();
  ASSERT_EQ(data.size(), 2u);
  EXPECT_TRUE(SameValue(data.at("total"), ans.data().at("total")));
  EXPECT_TRUE(SameValue(data.at("status"), ans.data().at("status")));
}

TEST_F(ApiTest, QueryWithoutAllowedNamesRevealsNoData) {
  HttpResponse r = Call(GetReq(absl::StrCat("/scxml/session/", kId1, "/query"), true));
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(backend_.last().query.data_names(), IsEmpty());
  EXPECT_TRUE(Json(r).fields().at("data").struct_value().fields().empty());
}

TEST_F(ApiTest, QueryDataNarrows) {
  options_.query_data_names = {"a", "b", "c"};
  const std::string base = absl::StrCat("/scxml/session/", kId1, "/query");
  ASSERT_EQ(Call(GetReq(base + "?data=b", true)).status, 200);
  EXPECT_THAT(backend_.last().query.data_names(), ElementsAre("b"));
  ASSERT_EQ(Call(GetReq(base + "?data=c,a", true)).status, 200);
  EXPECT_THAT(backend_.last().query.data_names(), ElementsAre("c", "a"));
  ASSERT_EQ(Call(GetReq(base + "?data=", true)).status, 200);
  EXPECT_THAT(backend_.last().query.data_names(), IsEmpty());
  // POST with a form body works the same.
  Req post;
  post.target = base;
  post.content_type = "application/x-www-form-urlencoded";
  post.body = "data=a";
  ASSERT_EQ(Call(post).status, 200);
  EXPECT_THAT(backend_.last().query.data_names(), ElementsAre("a"));
}

TEST_F(ApiTest, QueryOfANameNotAllowedIs403) {
  options_.query_data_names = {"a"};
  const size_t before = backend_.calls().size();
  HttpResponse r = Call(GetReq(absl::StrCat("/scxml/session/", kId1, "/query?data=a,secret"), true));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(ErrorCode(r), "forbidden");
  EXPECT_THAT(ErrorMessage(r), HasSubstr("secret"));
  EXPECT_EQ(backend_.calls().size(), before);
  // A non-string 'data' is a bad request.
  HttpResponse l = Call(JsonPost(absl::StrCat("/scxml/session/", kId1, "/query"), R"({"data": ["a"]})"));
  EXPECT_EQ(l.status, 400);
}

TEST_F(ApiTest, QueryOfAFinishedSessionIs404) {
  sv1::QuerySessionResponse ans;
  ans.set_state(sv1::SESSION_STATE_FINISHED);
  backend_.query_result = ans;
  HttpResponse r = Call(GetReq(absl::StrCat("/scxml/session/", kId1, "/query"), true));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(ErrorCode(r), "not_found");
}

TEST_F(ApiTest, QueryStatesAndActiveStatesOption) {
  options_.query_active_states = false;
  sv1::QuerySessionResponse ans;
  ans.set_state(sv1::SESSION_STATE_DEACTIVATED);
  ans.add_active_states("secret-state");
  backend_.query_result = ans;
  HttpResponse r = Call(GetReq(absl::StrCat("/scxml/session/", kId1, "/query"), true));
  ASSERT_EQ(r.status, 200);
  auto j = Json(r);
  EXPECT_EQ(j.fields().at("state").string_value(), "deactivated");
  EXPECT_EQ(j.fields().count("active_states"), 0u);
  EXPECT_THAT(r.body, Not(HasSubstr("secret-state")));
}

// ------------------------------------------------------------- terminate

TEST_F(ApiTest, TerminateWithReason) {
  HttpResponse r = Call(JsonPost(absl::StrCat("/scxml/session/", kId1, "/terminate"), R"({"reason": "done"})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(backend_.last().kind, "terminate");
  EXPECT_EQ(backend_.last().terminate.session_id(), kId1);
  EXPECT_EQ(backend_.last().terminate.reason(), "done");
  auto j = Json(r);
  EXPECT_EQ(j.fields().at("sessionid").string_value(), kId1);
  EXPECT_TRUE(j.fields().at("terminated").bool_value());

  Req plain;
  plain.target = absl::StrCat("/scxml/session/", kId1, "/terminate");
  ASSERT_EQ(Call(plain).status, 200);
  EXPECT_EQ(backend_.last().terminate.reason(), "");

  const size_t before = backend_.calls().size();
  EXPECT_EQ(Call(JsonPost(plain.target, R"({"reason": 5})")).status, 400);
  EXPECT_EQ(backend_.calls().size(), before);
}

TEST_F(ApiTest, TerminateOfAnUnknownSessionIs404) {
  backend_.terminate_result = absl::NotFoundError("no session ~1~...");
  HttpResponse r = Call(JsonPost(absl::StrCat("/scxml/session/", kId1, "/terminate"), "{}"));
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(ErrorMessage(r), HasSubstr("no session"));
}

// ---------------------------------------------------------- error mapping

struct ErrorCase {
  absl::Status status;
  int http;
  std::string code;
};

TEST_F(ApiTest, EngineErrorsMapToHttp) {
  const ErrorCase cases[] = {
      {absl::InvalidArgumentError("event data too deep"), 400, "bad_request"},
      {absl::NotFoundError("unknown session"), 404, "not_found"},
      {absl::PermissionDeniedError("not yours"), 403, "forbidden"},
      {absl::AlreadyExistsError("session exists"), 409, "conflict"},
      {absl::FailedPreconditionError("session is finishing"), 409, "conflict"},
      {absl::AbortedError("fenced"), 409, "conflict"},
      {absl::OutOfRangeError("event is larger than 65536 bytes"), 413, "payload_too_large"},
      // The code decides, not the text: load that mentions a size is still load.
      {absl::ResourceExhaustedError("queue full"), 503, "unavailable"},
      {absl::ResourceExhaustedError("event is larger than 65536 bytes"), 503, "unavailable"},
      {absl::UnavailableError("connection refused"), 503, "unavailable"},
      {absl::DeadlineExceededError("deadline"), 504, "timeout"},
      {absl::InternalError("boom"), 500, "internal"},
      {absl::UnknownError("?"), 500, "internal"},
      {absl::CancelledError("cancelled"), 500, "internal"},
      {absl::DataLossError("lost"), 500, "internal"},
      {absl::UnauthenticatedError("engine auth"), 500, "internal"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.status.ToString());
    backend_.event_result = c.status;
    HttpResponse r = Call(JsonPost(absl::StrCat("/scxml/session/", kId1, "/event/go"), "{}"));
    EXPECT_EQ(r.status, c.http);
    EXPECT_EQ(ErrorCode(r), c.code);
    EXPECT_EQ(r.content_type, "application/json");
    if (c.http < 500) {
      EXPECT_THAT(ErrorMessage(r), HasSubstr(std::string(c.status.message())));
    }
    if (c.http == 503) {
      EXPECT_EQ(H(r, "Retry-After"), "1");
      EXPECT_EQ(CountHeader(r, "Retry-After"), 1);
    } else {
      EXPECT_EQ(HeaderOf(r, "Retry-After"), nullptr);
    }
  }
}

TEST_F(ApiTest, UnavailableRetryAfterComesFromTheNode) {
  backend_.SetNode(1, false, 7);
  backend_.event_result = absl::UnavailableError("no primary for node 1");
  HttpResponse r = Call(JsonPost(absl::StrCat("/scxml/session/", kId1, "/event/go"), "{}"));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(H(r, "Retry-After"), "7");
  EXPECT_THAT(ErrorMessage(r), HasSubstr("node 1"));
  // Never less than one second.
  backend_.SetNode(1, false, 0);
  EXPECT_EQ(H(Call(JsonPost(absl::StrCat("/scxml/session/", kId1, "/event/go"), "{}")), "Retry-After"), "1");
}

TEST_F(ApiTest, InternalErrorsDoNotLeakTheBackendMessage) {
  const std::string secret = "redis 10.0.0.5:6379 AUTH hunter2 failed";
  for (const absl::Status& st : {absl::InternalError(secret), absl::UnknownError(secret),
                                 absl::UnavailableError(secret), absl::ResourceExhaustedError(secret),
                                 absl::DeadlineExceededError(secret)}) {
    SCOPED_TRACE(st.ToString());
    backend_.query_result = st;
    HttpResponse r = Call(GetReq(absl::StrCat("/scxml/session/", kId1, "/query"), true));
    EXPECT_GE(r.status, 500);
    EXPECT_THAT(r.body, Not(HasSubstr("hunter2")));
    EXPECT_THAT(r.body, Not(HasSubstr("10.0.0.5")));
  }
  backend_.query_result = absl::InternalError(secret);
  HttpResponse r = Call(GetReq(absl::StrCat("/scxml/session/", kId1, "/query"), true));
  // The message points at the log line instead.
  EXPECT_THAT(ErrorMessage(r), HasSubstr(H(r, "X-Request-Id")));
}

TEST_F(ApiTest, LongClientMessagesAreTruncated) {
  backend_.event_result = absl::InvalidArgumentError(std::string(5000, 'm'));
  HttpResponse r = Call(JsonPost(absl::StrCat("/scxml/session/", kId1, "/event/go"), "{}"));
  EXPECT_EQ(r.status, 400);
  EXPECT_LE(ErrorMessage(r).size(), 310u);
  EXPECT_GE(ErrorMessage(r).size(), 300u);
}

TEST_F(ApiTest, StartErrorsMapToo) {
  backend_.start_result = absl::InvalidArgumentError("cannot load file:///x.scxml: no such file");
  HttpResponse r = Call(JsonPost("/scxml/session/start", R"({"src": "file:///x.scxml"})"));
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(ErrorMessage(r), HasSubstr("cannot load"));
  EXPECT_EQ(HeaderOf(r, "Set-Cookie"), nullptr);
}

// ------------------------------------------------- auth, limits, routing

TEST_F(ApiTest, MissingCredentialsAre401WithWwwAuthenticate) {
  for (const std::string& target :
       {std::string("/scxml/session/start"), absl::StrCat("/scxml/session/", kId1, "/event/go"),
        absl::StrCat("/scxml/session/", kId1, "/request/go"), absl::StrCat("/scxml/session/", kId1, "/query"),
        absl::StrCat("/scxml/session/", kId1, "/terminate")}) {
    SCOPED_TRACE(target);
    Req q = JsonPost(target, R"({"src": "file:///x.scxml"})");
    q.auth = false;
    HttpResponse r = Call(q);
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(ErrorCode(r), "unauthorized");
    EXPECT_EQ(H(r, "WWW-Authenticate"), "Bearer realm=\"orchestrion\"");
  }
  EXPECT_THAT(backend_.calls(), IsEmpty());
}

TEST_F(ApiTest, WrongTokenIs401AndNotEchoed) {
  Req q = JsonPost("/scxml/session/start", R"({"src": "file:///x.scxml"})");
  q.auth = false;
  q.headers.emplace_back("authorization", "Bearer not-the-right-token-xyz");
  HttpResponse r = Call(q);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(H(r, "WWW-Authenticate"), "Bearer realm=\"orchestrion\"");
  EXPECT_THAT(r.body, Not(HasSubstr("not-the-right-token-xyz")));
  EXPECT_THAT(backend_.calls(), IsEmpty());
}

TEST_F(ApiTest, ClientCertificates) {
  Req allowed = JsonPost("/scxml/session/start", R"({"src": "file:///x.scxml"})");
  allowed.auth = false;
  allowed.tls = true;
  allowed.client_cert_cn = "allowed-client";
  EXPECT_EQ(Call(allowed).status, 200);

  Req other = allowed;
  other.client_cert_cn = "someone-else";
  HttpResponse r = Call(other);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(ErrorCode(r), "forbidden");
  EXPECT_EQ(HeaderOf(r, "WWW-Authenticate"), nullptr);
  EXPECT_EQ(backend_.calls().size(), 1u);
}

TEST_F(ApiTest, RateLimitIs429WithRetryAfterPerClient) {
  options_.rate_limit_per_s = 0.001;  // practically no refill during the test
  options_.rate_limit_burst = 2;
  AuthOptions a;
  a.allow_anonymous = true;
  auth_ = *Authenticator::Create(a);
  Req q = JsonPost(absl::StrCat("/scxml/session/", kId1, "/event/go"), "{}");
  q.auth = false;
  EXPECT_EQ(Call(q).status, 200);
  EXPECT_EQ(Call(q).status, 200);
  HttpResponse r = Call(q);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(ErrorCode(r), "too_many_requests");
  int wait = 0;
  ASSERT_TRUE(absl::SimpleAtoi(H(r, "Retry-After"), &wait)) << H(r, "Retry-After");
  EXPECT_GE(wait, 1);
  EXPECT_EQ(backend_.calls().size(), 2u);
  // Another client ("anonymous:<its ip>") has its own budget.
  Req other = q;
  other.peer_ip = "192.0.2.99";
  EXPECT_EQ(Call(other).status, 200);
  // Public endpoints are not limited.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Call(GetReq("/healthz")).status, 200);
}

TEST_F(ApiTest, SessionsOfOtherNodesAreRedirectedWhenExternalUrlIsSet) {
  options_.nodes = {1};
  options_.external_url = "https://gw.example.com";
  const std::string target = absl::StrCat("/scxml/session/", IdOn(2), "/event/go?x=%20y");
  HttpResponse r = Call(JsonPost(target, "{}"));
  EXPECT_EQ(r.status, 307);
  EXPECT_EQ(H(r, "Location"), "https://gw.example.com" + target);
  EXPECT_THAT(backend_.calls(), IsEmpty());
  // Own nodes and starts are served here.
  EXPECT_EQ(Call(JsonPost(absl::StrCat("/scxml/session/", kId1, "/event/go"), "{}")).status, 200);
  EXPECT_EQ(Call(JsonPost("/scxml/session/start", R"({"src": "file:///x.scxml"})")).status, 200);
  EXPECT_EQ(backend_.calls().size(), 2u);
}

TEST_F(ApiTest, SessionsOfOtherNodesAreForwardedWithoutExternalUrl) {
  options_.nodes = {1};
  HttpResponse r = Call(GetReq(absl::StrCat("/scxml/session/", IdOn(2), "/query"), true));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(backend_.last().node, 2);
}

TEST_F(ApiTest, RoutingErrors) {
  HttpResponse nf = Call(GetReq("/nope", true));
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(ErrorCode(nf), "not_found");
  HttpResponse bad_id = Call(JsonPost("/scxml/session/~1~short/event/go", "{}"));
  EXPECT_EQ(bad_id.status, 404);
  HttpResponse bad_name = Call(JsonPost(absl::StrCat("/scxml/session/", kId1, "/event/%FF"), "{}"));
  EXPECT_EQ(bad_name.status, 400);
  EXPECT_EQ(ErrorCode(bad_name), "bad_request");

  HttpResponse m = Call(GetReq("/scxml/session/start"));
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(ErrorCode(m), "method_not_allowed");
  EXPECT_EQ(H(m, "Allow"), "POST");
  Req post_health = GetReq("/healthz");
  post_health.method = "POST";
  HttpResponse m2 = Call(post_health);
  EXPECT_EQ(m2.status, 405);
  EXPECT_EQ(H(m2, "Allow"), "GET, HEAD");
  Req del = GetReq(absl::StrCat("/scxml/session/", kId1, "/query"), true);
  del.method = "DELETE";
  EXPECT_EQ(H(Call(del), "Allow"), "GET, POST");
  EXPECT_THAT(backend_.calls(), IsEmpty());
}

TEST_F(ApiTest, BodyErrors) {
  const std::string target = absl::StrCat("/scxml/session/", kId1, "/event/go");
  Req xml = JsonPost(target, "<x/>");
  xml.content_type = "application/xml";
  HttpResponse r = Call(xml);
  EXPECT_EQ(r.status, 415);
  EXPECT_EQ(ErrorCode(r), "unsupported_media_type");
  Req none = JsonPost(target, "{}");
  none.content_type = "";
  EXPECT_EQ(Call(none).status, 415);
  Req latin = JsonPost(target, "{}");
  latin.content_type = "application/json; charset=latin1";
  EXPECT_EQ(Call(latin).status, 415);
  HttpResponse broken = Call(JsonPost(target, "{"));
  EXPECT_EQ(broken.status, 400);
  EXPECT_EQ(ErrorCode(broken), "bad_request");
  EXPECT_THAT(backend_.calls(), IsEmpty());
}

// ------------------------------------------------------ public endpoints

TEST_F(ApiTest, HealthzNeedsNoAuth) {
  HttpResponse r = Call(GetReq("/healthz"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Json(r).fields().at("status").string_value(), "ok");
  Req head = GetReq("/healthz");
  head.method = "HEAD";
  EXPECT_EQ(Call(head).status, 200);
}

TEST_F(ApiTest, Readyz) {
  options_.nodes = {1, 2};
  backend_.SetNode(1, true);
  backend_.SetNode(2, false);
  HttpResponse up = Call(GetReq("/readyz"));
  EXPECT_EQ(up.status, 200);
  auto j = Json(up);
  EXPECT_EQ(j.fields().at("status").string_value(), "ready");
  const auto& nodes = j.fields().at("nodes").struct_value().fields();
  EXPECT_EQ(nodes.at("1").string_value(), "up");
  EXPECT_EQ(nodes.at("2").string_value(), "down");

  backend_.set_store_reachable(false);
  HttpResponse no_store = Call(GetReq("/readyz"));
  EXPECT_EQ(no_store.status, 503);
  EXPECT_EQ(ErrorCode(no_store), "unavailable");
  EXPECT_THAT(ErrorMessage(no_store), HasSubstr("persistence-proxy"));
  EXPECT_EQ(H(no_store, "Retry-After"), "1");

  backend_.set_store_reachable(true);
  backend_.SetNode(1, false);
  HttpResponse no_node = Call(GetReq("/readyz"));
  EXPECT_EQ(no_node.status, 503);
  EXPECT_EQ(H(no_node, "Retry-After"), "1");
  EXPECT_THAT(backend_.calls(), IsEmpty());
}

TEST_F(ApiTest, HelpListsEveryEndpoint) {
  HttpResponse r = Call(GetReq("/ors/help"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  auto j = Json(r);
  EXPECT_EQ(j.fields().at("service").string_value(), "orchestrion rest-gateway");
  EXPECT_EQ(j.fields().at("openapi").string_value(), "/openapi.yaml");
  std::set<std::string> listed;
  for (const auto& e : j.fields().at("endpoints").list_value().values()) {
    const auto& f = e.struct_value().fields();
    EXPECT_FALSE(f.at("description").string_value().empty());
    listed.insert(absl::StrCat(f.at("method").string_value(), " ", f.at("path").string_value()));
  }
  EXPECT_EQ(listed, (std::set<std::string>{
                        "POST /scxml/session/start", "POST /scxml/session/{id}/event/{name}",
                        "POST /scxml/session/{id}/request/{name}", "GET /scxml/session/{id}/query",
                        "POST /scxml/session/{id}/terminate", "GET /ors/help", "GET /healthz", "GET /readyz",
                        "GET /openapi.yaml"}));
}

TEST_F(ApiTest, OpenApiYaml) {
  options_.openapi_yaml = "openapi: 3.0.3\ninfo:\n  title: x\n";
  HttpResponse r = Call(GetReq("/openapi.yaml"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/yaml");
  EXPECT_EQ(r.body, options_.openapi_yaml);
}

TEST_F(ApiTest, OpenApiYamlMissingIs404) {
  HttpResponse r = Call(GetReq("/openapi.yaml"));
  EXPECT_EQ(r.status, 404);
}

// ---------------------------------------------------------- request ids

TEST_F(ApiTest, EveryResponseHasARequestId) {
  options_.nodes = {1};
  std::vector<Req> reqs = {
      GetReq("/healthz"),
      GetReq("/readyz"),
      GetReq("/ors/help"),
      GetReq("/openapi.yaml"),
      GetReq("/nope"),
      GetReq("/scxml/session/start"),                                     // 405
      JsonPost("/scxml/session/start", R"({"src": "file:///x.scxml"})"),  // 200
      JsonPost("/scxml/session/start", "{}"),                             // 400
      JsonPost(absl::StrCat("/scxml/session/", kId1, "/event/go"), "{"),  // 400
  };
  Req unauth = JsonPost("/scxml/session/start", "{}");
  unauth.auth = false;
  reqs.push_back(unauth);
  std::set<std::string> ids;
  for (const Req& q : reqs) {
    SCOPED_TRACE(q.target);
    HttpResponse r = Call(q);
    ASSERT_EQ(CountHeader(r, "X-Request-Id"), 1);
    EXPECT_FALSE(H(r, "X-Request-Id").empty());
    ids.insert(H(r, "X-Request-Id"));
  }
  EXPECT_EQ(ids.size(), reqs.size());  // unique
  // Also on answers from the backend, errors included.
  backend_.event_result = absl::InternalError("x");
  EXPECT_EQ(CountHeader(Call(JsonPost(absl::StrCat("/scxml/session/", kId1, "/event/go"), "{}")), "X-Request-Id"),
            1);
}

TEST_F(ApiTest, IncomingRequestIdIsEchoedWhenValid) {
  Req q = GetReq("/healthz");
  q.headers.emplace_back("x-request-id", "trace-abc-123");
  EXPECT_EQ(H(Call(q), "X-Request-Id"), "trace-abc-123");

  backend_.event_result = absl::InternalError("x");
  Req e = JsonPost(absl::StrCat("/scxml/session/", kId1, "/event/go"), "{}", {{"x-request-id", "trace-77"}});
  HttpResponse r = Call(e);
  EXPECT_EQ(H(r, "X-Request-Id"), "trace-77");
  EXPECT_THAT(ErrorMessage(r), HasSubstr("trace-77"));

  for (const std::string& bad : {std::string(""), std::string(65, 'r'), std::string("a\x01z"),
                                 std::string("caf\xC3\xA9")}) {
    Req b = GetReq("/healthz");
    b.headers.emplace_back("x-request-id", bad);
    HttpResponse rb = Call(b);
    EXPECT_NE(H(rb, "X-Request-Id"), bad);
    EXPECT_FALSE(H(rb, "X-Request-Id").empty());
  }
}

// ------------------------------------------------------------- threading

TEST_F(ApiTest, AnswersFromAnotherThread) {
  backend_.set_mode(FakeBackend::Mode::kThread);
  sv1::SendEventResponse ans;
  ans.set_seq(9);
  backend_.event_result = ans;
  HttpResponse r = Call(JsonPost(absl::StrCat("/scxml/session/", kId1, "/event/go"), "{}"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Json(r).fields().at("seq").number_value(), 9);
  EXPECT_EQ(Call(JsonPost("/scxml/session/start", R"({"src": "file:///x.scxml"})")).status, 200);
  backend_.query_result = absl::UnavailableError("x");
  EXPECT_EQ(Call(GetReq(absl::StrCat("/scxml/session/", kId1, "/query"), true)).status, 503);
}

TEST_F(ApiTest, HandleDoesNotWaitForTheBackend) {
  backend_.set_mode(FakeBackend::Mode::kHold);
  std::vector<std::shared_ptr<FakeExchange>> exs;
  for (int i = 0; i < 3; ++i) {
    auto ex = std::make_shared<FakeExchange>(Build(JsonPost(absl::StrCat("/scxml/session/", kId1, "/event/e", i), "{}")));
    api().Handle(ex);  // returns although nothing answered
    exs.push_back(ex);
  }
  EXPECT_EQ(backend_.held(), 3u);
  for (auto& ex : exs) EXPECT_FALSE(ex->responded());
  backend_.ReleaseAll();
  for (auto& ex : exs) {
    auto r = ex->Wait(absl::Seconds(1));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(ex->responses(), 1);
  }
}

}  // namespace
}  // namespace orch::rest_gateway
