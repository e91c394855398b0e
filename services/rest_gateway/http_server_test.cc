// Unit tests of HttpServer over loopback: plain HTTP with raw POSIX sockets
// (so that malformed, oversized, slow and idle requests can be sent exactly),
// TLS with libcurl. Servers bind 127.0.0.1:0 and use short timeouts; every
// wait is bounded.

#include "services/rest_gateway/http_server.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/base/json.h"
#include "common/testing/certs.h"
#include "common/testing/eventually.h"
#include "common/testing/net.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "common/tls/tls_files.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace orch::rest_gateway {
namespace {

using ::orch::testing::Eventually;
using ::orch::testing::IsOk;
using ::orch::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

// ------------------------------------------------------------ raw client

struct RawResponse {
  int status = 0;
  std::string reason;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  const std::string& Header(const std::string& lower) const {
    static const std::string kNone = "<none>";
    auto it = headers.find(lower);
    return it == headers.end() ? kNone : it->second;
  }
  bool Has(const std::string& lower) const { return headers.count(lower) > 0; }
};

// A blocking TCP client with bounded reads (poll with a deadline).
class RawConn {
 public:
  explicit RawConn(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawConn() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;

  bool connected() const { return connected_; }

  bool Send(absl::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads what arrives within `timeout` (at most until the peer closes).
  // False when the wait ended without a close.
  bool ReadUntilClosed(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (!closed_) {
      if (!ReadOnce(deadline)) return false;
    }
    return true;
  }

  // One complete response (by Content-Length; `head`: no body follows), or
  // nullopt when none arrived by the deadline or the connection closed first.
  std::optional<RawResponse> ReadResponse(absl::Duration timeout = absl::Seconds(5), bool head = false) {
    const absl::Time deadline = absl::Now() + timeout;
    for (;;) {
      if (auto r = TakeResponse(head)) return r;
      if (closed_) return std::nullopt;
      if (!ReadOnce(deadline)) return std::nullopt;
    }
  }

  // Whether nothing arrives (and the connection stays open) for `d`.
  bool QuietFor(absl::Duration d) {
    const size_t before = buffer_.size();
    const absl::Time deadline = absl::Now() + d;
    while (!closed_ && buffer_.size() == before) {
      if (!ReadOnce(deadline)) break;
    }
    return !closed_ && buffer_.size() == before;
  }

  const std::string& buffer() const { return buffer_; }
  bool closed() const { return closed_; }
  void ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }

 private:
  // One poll + recv; false on deadline.
  bool ReadOnce(absl::Time deadline) {
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(ms));
    if (rc < 0 && errno == EINTR) return true;
    if (rc <= 0) return false;
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) {
      closed_ = true;  // EOF or reset
      reset_ = n < 0;
      return true;
    }
    buffer_.append(buf, static_cast<size_t>(n));
    return true;
  }

  std::optional<RawResponse> TakeResponse(bool head) {
    const size_t end = buffer_.find("\r\n\r\n");
    if (end == std::string::npos) return std::nullopt;
    RawResponse r;
    std::vector<std::string> lines = absl::StrSplit(buffer_.substr(0, end), "\r\n");
    std::vector<std::string> status = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
    if (status.size() < 2 || !absl::StartsWith(status[0], "HTTP/1.") || !absl::SimpleAtoi(status[1], &r.status)) {
      ADD_FAILURE() << "not an HTTP response: " << buffer_.substr(0, 200);
      buffer_.clear();
      return std::nullopt;
    }
    if (status.size() > 2) r.reason = status[2];
    for (size_t i = 1; i < lines.size(); ++i) {
      const size_t colon = lines[i].find(':');
      if (colon == std::string::npos) continue;
      std::string name = absl::AsciiStrToLower(lines[i].substr(0, colon));
      std::string value(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
      auto [it, inserted] = r.headers.emplace(name, value);
      if (!inserted) it->second += ", " + value;
    }
    size_t length = 0;
    if (!head && r.Has("content-length") && !absl::SimpleAtoi(r.Header("content-length"), &length)) {
      ADD_FAILURE() << "bad Content-Length";
    }
    if (buffer_.size() < end + 4 + length) return std::nullopt;
    r.body = buffer_.substr(end + 4, length);
    buffer_.erase(0, end + 4 + length);
    return r;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
  bool reset_ = false;
  std::string buffer_;
};

std::string Get(absl::string_view target, absl::string_view extra_headers = "") {
  return absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: test\r\n", extra_headers, "\r\n");
}

std::string Post(absl::string_view target, absl::string_view body, absl::string_view extra_headers = "") {
  return absl::StrCat("POST ", target, " HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n",
                      "Content-Length: ", body.size(), "\r\n", extra_headers, "\r\n", body);
}

google::protobuf::Struct ParseJson(const std::string& body) {
  google::protobuf::Struct s;
  auto st = google::protobuf::util::JsonStringToMessage(body, &s);
  EXPECT_TRUE(st.ok()) << "not JSON: " << body;
  return s;
}

std::string Field(const google::protobuf::Struct& s, const std::string& name) {
  auto it = s.fields().find(name);
  return it == s.fields().end() ? "<missing>" : it->second.string_value();
}

std::string ErrorCode(const RawResponse& r) {
  google::protobuf::Struct s = ParseJson(r.body);
  auto it = s.fields().find("error");
  if (it == s.fields().end()) return "<no error>";
  return Field(it->second.struct_value(), "code");
}

void ExpectSecurityHeaders(const RawResponse& r) {
  EXPECT_EQ(r.Header("x-content-type-options"), "nosniff");
  EXPECT_EQ(r.Header("cache-control"), "no-store");
  EXPECT_EQ(r.Header("x-frame-options"), "DENY");
  EXPECT_EQ(r.Header("content-security-policy"), "default-src 'none'; frame-ancestors 'none'");
  EXPECT_EQ(r.Header("referrer-policy"), "no-referrer");
}

// --------------------------------------------------------------- handlers

// Answers every request at once with what it saw, as JSON.
void Echo(std::shared_ptr<Exchange> ex) {
  const HttpRequest& q = ex->request();
  std::string body = "{\"method\":";
  AppendJsonString(&body, q.method);
  body += ",\"target\":";
  AppendJsonString(&body, q.target);
  body += ",\"body\":";
  AppendJsonString(&body, q.body);
  body += ",\"peer_ip\":";
  AppendJsonString(&body, q.peer_ip);
  body += ",\"tls\":";
  AppendJsonString(&body, q.tls ? "true" : "false");
  body += ",\"client_cert_cn\":";
  AppendJsonString(&body, q.client_cert_cn);
  body += ",\"headers\":";
  std::string headers;
  for (const auto& [k, v] : q.headers) absl::StrAppend(&headers, k, "=", v, "\n");
  AppendJsonString(&body, headers);
  body += "}";
  HttpResponse r;
  r.body = std::move(body);
  r.headers.emplace_back("X-Echo", "1");
  ex->Respond(std::move(r));
}

// Keeps every exchange for the test to answer (or drop) later.
class Pending {
 public:
  Handler handler() {
    return [this](std::shared_ptr<Exchange> ex) {
      std::lock_guard<std::mutex> lock(mu_);
      q_.push_back(std::move(ex));
      cv_.notify_all();
    };
  }
  std::shared_ptr<Exchange> Take(absl::Duration timeout = absl::Seconds(5)) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), [&] { return !q_.empty(); })) return nullptr;
    auto ex = std::move(q_.front());
    q_.pop_front();
    return ex;
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu_);
    return q_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Exchange>> q_;
};

HttpServerOptions FastOptions() {
  HttpServerOptions o;
  o.listen = "127.0.0.1:0";
  o.threads = 2;
  o.read_timeout_ms = 300;
  o.idle_timeout_ms = 300;
  o.write_timeout_ms = 1000;
  return o;
}

std::unique_ptr<HttpServer> MustStart(const HttpServerOptions& o, Handler h) {
  auto s = HttpServer::Start(o, std::move(h));
  EXPECT_THAT(s, IsOk());
  return s.ok() ? *std::move(s) : nullptr;
}

// ------------------------------------------------------------ plain HTTP

TEST(HttpServerTest, StartErrors) {
  HttpServerOptions o = FastOptions();
  o.listen = "not-an-address";
  EXPECT_THAT(HttpServer::Start(o, Echo), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("http.listen")));
  o.listen = "example.com:80";
  EXPECT_THAT(HttpServer::Start(o, Echo), StatusIs(absl::StatusCode::kInvalidArgument));
  o = FastOptions();
  o.threads = 0;
  EXPECT_THAT(HttpServer::Start(o, Echo), StatusIs(absl::StatusCode::kInvalidArgument));
  o = FastOptions();
  o.require_client_cert = true;
  EXPECT_THAT(HttpServer::Start(o, Echo), StatusIs(absl::StatusCode::kInvalidArgument));
  orch::testing::HeldPort held;
  o = FastOptions();
  o.listen = held.address();
  EXPECT_THAT(HttpServer::Start(o, Echo),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr(held.address())));
}

TEST(HttpServerTest, BindsAnEphemeralPort) {
  auto s = MustStart(FastOptions(), Echo);
  ASSERT_NE(s, nullptr);
  EXPECT_GT(s->port(), 0);
  EXPECT_EQ(s->address(), absl::StrCat("127.0.0.1:", s->port()));
  // "localhost" is accepted as 127.0.0.1.
  HttpServerOptions o = FastOptions();
  o.listen = "localhost:0";
  auto l = MustStart(o, Echo);
  ASSERT_NE(l, nullptr);
  EXPECT_TRUE(absl::StartsWith(l->address(), "127.0.0.1:"));
}

TEST(HttpServerTest, SimpleGetWithSecurityHeaders) {
  auto s = MustStart(FastOptions(), Echo);
  ASSERT_NE(s, nullptr);
  RawConn c(s->port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send(Get("/healthz?x=1&y=%20", "X-Custom: a\r\nx-custom: b\r\n")));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("content-type"), "application/json");
  EXPECT_EQ(r->Header("x-echo"), "1");
  ExpectSecurityHeaders(*r);
  EXPECT_FALSE(r->Has("strict-transport-security"));  // plain HTTP
  auto j = ParseJson(r->body);
  EXPECT_EQ(Field(j, "method"), "GET");
  EXPECT_EQ(Field(j, "target"), "/healthz?x=1&y=%20");
  EXPECT_EQ(Field(j, "peer_ip"), "127.0.0.1");
  EXPECT_EQ(Field(j, "tls"), "false");
  EXPECT_EQ(Field(j, "client_cert_cn"), "");
  // Names in lower case, repeated ones kept in order.
  EXPECT_THAT(Field(j, "headers"), HasSubstr("host=test\nx-custom=a\nx-custom=b\n"));
}

TEST(HttpServerTest, PostBodyReachesTheHandler) {
  auto s = MustStart(FastOptions(), Echo);
  ASSERT_NE(s, nullptr);
  RawConn c(s->port());
  ASSERT_TRUE(c.Send(Post("/scxml/session/start", R"({"src":"file:///x.scxml"})")));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  auto j = ParseJson(r->body);
  EXPECT_EQ(Field(j, "method"), "POST");
  EXPECT_EQ(Field(j, "body"), R"({"src":"file:///x.scxml"})");
  // Chunked bodies are assembled.
  ASSERT_TRUE(c.Send("POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"));
  auto r2 = c.ReadResponse();
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(Field(ParseJson(r2->body), "body"), "abcde");
}

// Clients that send "Expect: 100-continue" (Java, .NET, curl for large
// bodies) wait for the interim answer before the body.
TEST(HttpServerTest, ExpectContinueGets100BeforeTheBody) {
  auto s = MustStart(FastOptions(), Echo);
  ASSERT_NE(s, nullptr);
  RawConn c(s->port());
  ASSERT_TRUE(c.Send("POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  auto interim = c.ReadResponse(absl::Seconds(2));
  ASSERT_TRUE(interim.has_value());
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c.Send("hello"));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Field(ParseJson(r->body), "body"), "hello");
  // A body over the limit is refused at once, without a 100.
  HttpServerOptions small = FastOptions();
  small.max_body_bytes = 10;
  auto s2 = MustStart(small, Echo);
  ASSERT_NE(s2, nullptr);
  RawConn c2(s2->port());
  ASSERT_TRUE(c2.Send("POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 500\r\n\r\n"));
  auto refused = c2.ReadResponse(absl::Seconds(2));
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 413);
}

TEST(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  auto s = MustStart(FastOptions(), Echo);
  ASSERT_NE(s, nullptr);
  RawConn c(s->port());
  ASSERT_TRUE(c.Send(Get("/one")));
  auto r1 = c.ReadResponse();
  ASSERT_TRUE(r1.has_value());
  EXPECT_EQ(Field(ParseJson(r1->body), "target"), "/one");
  EXPECT_NE(absl::AsciiStrToLower(r1->Header("connection")), "close");
  ASSERT_TRUE(c.Send(Get("/two")));
  auto r2 = c.ReadResponse();
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(Field(ParseJson(r2->body), "target"), "/two");
  EXPECT_FALSE(c.closed());
  EXPECT_EQ(s->stats().connections_accepted, 1u);
}

TEST(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  auto s = MustStart(FastOptions(), Echo);
  ASSERT_NE(s, nullptr);
  RawConn c(s->port());
  ASSERT_TRUE(c.Send(absl::StrCat(Get("/a"), Post("/b", "{}"), Get("/c"))));
  for (const char* t : {"/a", "/b", "/c"}) {
    auto r = c.ReadResponse();
    ASSERT_TRUE(r.has_value()) << t;
    EXPECT_EQ(Field(ParseJson(r->body), "target"), t);
  }
}

TEST(HttpServerTest, ConnectionCloseIsHonoured) {
  auto s = MustStart(FastOptions(), Echo);
  ASSERT_NE(s, nullptr);
  RawConn c(s->port());
  ASSERT_TRUE(c.Send(Get("/x", "Connection: close\r\n")));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(absl::AsciiStrToLower(r->Header("connection")), "close");
  EXPECT_TRUE(c.ReadUntilClosed(absl::Seconds(2)));
  // HTTP/1.0 without keep-alive closes too.
  RawConn c10(s->port());
  ASSERT_TRUE(c10.Send("GET /y HTTP/1.0\r\n\r\n"));
  auto r10 = c10.ReadResponse();
  ASSERT_TRUE(r10.has_value());
  EXPECT_EQ(r10->status, 200);
  EXPECT_TRUE(c10.ReadUntilClosed(absl::Seconds(2)));
}

TEST(HttpServerTest, ResponseCloseClosesTheConnection) {
  auto s = MustStart(FastOptions(), [](std::shared_ptr<Exchange> ex) {
    HttpResponse r;
    r.status = 202;
    r.body = "{}";
    r.close = true;
    ex->Respond(std::move(r));
  });
  ASSERT_NE(s, nullptr);
  RawConn c(s->port());
  ASSERT_TRUE(c.Send(Get("/x")));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 202);
  EXPECT_TRUE(c.ReadUntilClosed(absl::Seconds(2)));
}

TEST(HttpServerTest, HeadResponsesHaveNoBody) {
  auto s = MustStart(FastOptions(), Echo);
  ASSERT_NE(s, nullptr);
  RawConn c(s->port());
  ASSERT_TRUE(c.Send("HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto h = c.ReadResponse(absl::Seconds(5), /*head=*/true);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->status, 200);
  // The length of the body a GET would get, without the body.
  size_t length = 0;
  EXPECT_TRUE(absl::SimpleAtoi(h->Header("content-length"), &length));
  EXPECT_GT(length, 0u);
  // Whatever follows on the connection must be the next response, not the
  // HEAD response's body.
  ASSERT_TRUE(c.Send(Get("/after-head")));
  auto g = c.ReadResponse();
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->status, 200);
  EXPECT_EQ(Field(ParseJson(g->body), "target"), "/after-head");
}

TEST(HttpServerTest, ResponseFromAnotherThreadLater) {
  Pending pending;
  auto s = MustStart(FastOptions(), pending.handler());
  ASSERT_NE(s, nullptr);
  RawConn c(s->port());
  ASSERT_TRUE(c.Send(Post("/slow", "{}")));
  std::shared_ptr<Exchange> ex = pending.Take();
  ASSERT_NE(ex, nullptr);
  EXPECT_EQ(ex->request().target, "/slow");
  // Nothing is sent before the answer (well within the read and idle
  // timeouts, which do not apply while a request is being handled).
  EXPECT_TRUE(c.QuietFor(absl::Milliseconds(500)));
  std::thread t([ex] {
    HttpResponse r;
    r.status = 201;
    r.body = R"({"later":true})";
    r.headers.emplace_back("X-From", "thread");
    ex->Respond(std::move(r));
    // A second answer is ignored.
    HttpResponse again;
    again.status = 500;
    ex->Respond(std::move(again));
  });
  t.join();
  ex.reset();
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, R"({"later":true})");
  EXPECT_EQ(r->Header("x-from"), "thread");
  ExpectSecurityHeaders(*r);
  // The connection goes on.
  ASSERT_TRUE(c.Send(Get("/next")));
  auto ex2 = pending.Take();
  ASSERT_NE(ex2, nullptr);
  EXPECT_EQ(ex2->request().target, "/next");
  Echo(ex2);
  auto r2 = c.ReadResponse();
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r2->status, 200);
  EXPECT_TRUE(c.QuietFor(absl::Milliseconds(50)));  // exactly one response each
}

TEST(HttpServerTest, DroppedExchangeAnswers500) {
  auto s = MustStart(FastOptions(), [](std::shared_ptr<Exchange>) {});
  ASSERT_NE(s, nullptr);
  RawConn c(s->port());
  ASSERT_TRUE(c.Send(Get("/x")));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(ErrorCode(*r), "internal");
  ExpectSecurityHeaders(*r);
}

TEST(HttpServerTest, BodyOverTheLimitIs413AndCloses) {
  HttpServerOptions o = FastOptions();
  o.max_body_bytes = 100;
  std::atomic<int> handled{0};
  auto s = MustStart(o, [&](std::shared_ptr<Exchange> ex) {
    handled.fetch_add(1);
    Echo(std::move(ex));
  });
  ASSERT_NE(s, nullptr);
  {
    // At the limit: fine.
    RawConn c(s->port());
    ASSERT_TRUE(c.Send(Post("/x", std::string(100, 'a'))));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
  }
  {
    // Announced too large: refused before the body is read.
    RawConn c(s->port());
    ASSERT_TRUE(c.Send(absl::StrCat("POST /x HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                                    "Content-Length: 101\r\n\r\n")));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 413);
    EXPECT_EQ(r->Header("content-type"), "application/json");
    EXPECT_EQ(ErrorCode(*r), "payload_too_large");
    ExpectSecurityHeaders(*r);
    EXPECT_TRUE(c.ReadUntilClosed(absl::Seconds(2)));
  }
  {
    // Sent too large, chunked (no length known in advance).
    RawConn c(s->port());
    const std::string chunk(80, 'b');
    ASSERT_TRUE(c.Send(absl::StrCat("POST /x HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                                    "Transfer-Encoding: chunked\r\n\r\n50\r\n",
                                    chunk, "\r\n50\r\n", chunk, "\r\n0\r\n\r\n")));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 413);
    EXPECT_TRUE(c.ReadUntilClosed(absl::Seconds(2)));
  }
  EXPECT_EQ(handled.load(), 1);
  EXPECT_GE(s->stats().requests_refused, 2u);
}

TEST(HttpServerTest, LargeBodyStillGets413BeforeTheClose) {
  // The client has sent far more than the server reads: the 413 must not be
  // lost to a connection reset when the server closes with unread data.
  HttpServerOptions o = FastOptions();
  o.max_body_bytes = 1000;
  auto s = MustStart(o, Echo);
  ASSERT_NE(s, nullptr);
  const std::string body(512 * 1024, 'x');
  RawConn c(s->port());
  std::thread sender([&] {
    c.Send(absl::StrCat("POST /x HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: ",
                        body.size(), "\r\n\r\n", body));
  });
  auto r = c.ReadResponse(absl::Seconds(5));
  sender.join();
  ASSERT_TRUE(r.has_value()) << "no response; got " << c.buffer().size() << " bytes, closed=" << c.closed();
  EXPECT_EQ(r->status, 413);
}

TEST(HttpServerTest, HeadersOverTheLimitAre431) {
  HttpServerOptions o = FastOptions();
  o.max_header_bytes = 1024;
  auto s = MustStart(o, Echo);
  ASSERT_NE(s, nullptr);
  RawConn c(s->port());
  ASSERT_TRUE(c.Send(Get("/x", absl::StrCat("X-Big: ", std::string(4000, 'h'), "\r\n"))));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 431);
  EXPECT_EQ(ErrorCode(*r), "header_too_large");
  ExpectSecurityHeaders(*r);
  EXPECT_TRUE(c.ReadUntilClosed(absl::Seconds(2)));
  // Headers within the limit are fine.
  RawConn ok(s->port());
  ASSERT_TRUE(ok.Send(Get("/x", absl::StrCat("X-Small: ", std::string(500, 'h'), "\r\n"))));
  auto r2 = ok.ReadResponse();
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r2->status, 200);
}

TEST(HttpServerTest, MalformedRequestsAre400) {
  auto s = MustStart(FastOptions(), Echo);
  ASSERT_NE(s, nullptr);
  for (const std::string& bad : {std::string("GARBAGE\r\n\r\n"), std::string("GET\r\n\r\n"),
                                 std::string("GET / HTTP/9.9\r\n\r\n"), std::string("GET / HTTP/1.1\r\nNo colon\r\n\r\n"),
                                 std::string("POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
                                 std::string("G(T / HTTP/1.1\r\n\r\n")}) {
    SCOPED_TRACE(absl::CEscape(bad));
    RawConn c(s->port());
    ASSERT_TRUE(c.Send(bad));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 400);
    EXPECT_EQ(ErrorCode(*r), "bad_request");
    EXPECT_TRUE(c.ReadUntilClosed(absl::Seconds(2)));
  }
}

TEST(HttpServerTest, SlowBodyIs408WithinTheReadTimeout) {
  HttpServerOptions o = FastOptions();
  o.idle_timeout_ms = 5000;  // so that only the read timeout can close it
  std::atomic<int> handled{0};
  auto s = MustStart(o, [&](std::shared_ptr<Exchange> ex) {
    handled.fetch_add(1);
    Echo(std::move(ex));
  });
  ASSERT_NE(s, nullptr);
  RawConn c(s->port());
  const absl::Time sent = absl::Now();
  ASSERT_TRUE(c.Send(absl::StrCat("POST /x HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                                  "Content-Length: 100\r\n\r\n",
                                  std::string(10, 'a'))));
  auto r = c.ReadResponse(absl::Milliseconds(o.read_timeout_ms + 1500));
  const absl::Duration took = absl::Now() - sent;
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 408);
  EXPECT_EQ(ErrorCode(*r), "request_timeout");
  EXPECT_GE(took, absl::Milliseconds(o.read_timeout_ms - 50));
  EXPECT_TRUE(c.ReadUntilClosed(absl::Seconds(2)));
  EXPECT_EQ(handled.load(), 0);
}

TEST(HttpServerTest, TricklingHeadersDoNotExtendTheReadTimeout) {
  HttpServerOptions o = FastOptions();
  o.idle_timeout_ms = 5000;
  auto s = MustStart(o, Echo);
  ASSERT_NE(s, nullptr);
  RawConn c(s->port());
  const std::string req = absl::StrCat("GET /x HTTP/1.1\r\nHost: t\r\nX-Slow: ", std::string(200, 's'), "\r\n\r\n");
  const absl::Time start = absl::Now();
  // One byte every 20 ms would take 4+ s; the request must be cut at ~300 ms.
  for (char ch : req) {
    if (!c.Send(std::string(1, ch)) || !c.QuietFor(absl::Milliseconds(20))) break;
  }
  auto r = c.ReadResponse(absl::Seconds(2));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 408);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(o.read_timeout_ms + 1500));
}

TEST(HttpServerTest, PartialHeadersAre408AtTheReadTimeout) {
  HttpServerOptions o = FastOptions();
  o.idle_timeout_ms = 5000;
  auto s = MustStart(o, Echo);
  ASSERT_NE(s, nullptr);
  RawConn c(s->port());
  const absl::Time start = absl::Now();
  ASSERT_TRUE(c.Send("GET /x HTTP/1.1\r\nHost"));
  auto r = c.ReadResponse(absl::Milliseconds(o.read_timeout_ms + 1500));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 408);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(o.read_timeout_ms - 50));
  EXPECT_TRUE(c.ReadUntilClosed(absl::Seconds(2)));
}

TEST(HttpServerTest, IdleConnectionsAreClosedAfterTheIdleTimeout) {
  HttpServerOptions o = FastOptions();
  o.read_timeout_ms = 5000;
  auto s = MustStart(o, Echo);
  ASSERT_NE(s, nullptr);
  {
    // Nothing ever sent: closed without a response.
    RawConn c(s->port());
    const absl::Time start = absl::Now();
    EXPECT_TRUE(c.ReadUntilClosed(absl::Milliseconds(o.idle_timeout_ms + 1500)));
    EXPECT_GE(absl::Now() - start, absl::Milliseconds(o.idle_timeout_ms - 50));
    EXPECT_EQ(c.buffer(), "");
  }
  {
    // Idle after a request on a keep-alive connection.
    RawConn c(s->port());
    ASSERT_TRUE(c.Send(Get("/x")));
    ASSERT_TRUE(c.ReadResponse().has_value());
    EXPECT_TRUE(c.ReadUntilClosed(absl::Milliseconds(o.idle_timeout_ms + 1500)));
    EXPECT_EQ(c.buffer(), "");
  }
  EXPECT_TRUE(Eventually([&] { return s->stats().connections_open == 0; }));
}

TEST(HttpServerTest, TooManyConnectionsAre503) {
  HttpServerOptions o = FastOptions();
  o.max_connections = 1;
  o.idle_timeout_ms = 5000;
  auto s = MustStart(o, Echo);
  ASSERT_NE(s, nullptr);
  auto first = std::make_unique<RawConn>(s->port());
  ASSERT_TRUE(first->Send(Get("/first")));
  ASSERT_TRUE(first->ReadResponse().has_value());  // accepted and open

  RawConn second(s->port());
  auto r = second.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(ErrorCode(*r), "unavailable");
  EXPECT_EQ(r->Header("retry-after"), "1");
  ExpectSecurityHeaders(*r);
  EXPECT_TRUE(second.ReadUntilClosed(absl::Seconds(2)));
  EXPECT_EQ(s->stats().connections_refused, 1u);

  // The first still works; once it is gone there is room again.
  ASSERT_TRUE(first->Send(Get("/again")));
  ASSERT_TRUE(first->ReadResponse().has_value());
  first.reset();
  ASSERT_TRUE(Eventually([&] { return s->stats().connections_open == 0; }));
  RawConn third(s->port());
  ASSERT_TRUE(third.Send(Get("/third")));
  auto r3 = third.ReadResponse();
  ASSERT_TRUE(r3.has_value());
  EXPECT_EQ(r3->status, 200);
}

TEST(HttpServerTest, StopWithOpenConnectionsIsPromptAndLateAnswersAreDropped) {
  HttpServerOptions o = FastOptions();
  o.idle_timeout_ms = 60000;  // Stop must not wait for these
  o.read_timeout_ms = 60000;
  Pending pending;
  auto s = MustStart(o, pending.handler());
  ASSERT_NE(s, nullptr);
  RawConn idle1(s->port());
  RawConn idle2(s->port());
  RawConn partial(s->port());
  ASSERT_TRUE(partial.Send("GET /partial HTTP/1.1\r\nHost"));
  RawConn busy(s->port());
  ASSERT_TRUE(busy.Send(Get("/busy")));
  std::shared_ptr<Exchange> ex = pending.Take();
  ASSERT_NE(ex, nullptr);
  ASSERT_TRUE(Eventually([&] { return s->stats().connections_open == 4; }));

  const absl::Time start = absl::Now();
  s->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  s->Stop();  // idempotent

  for (RawConn* c : {&idle1, &idle2, &partial, &busy}) EXPECT_TRUE(c->ReadUntilClosed(absl::Seconds(2)));
  EXPECT_EQ(busy.buffer(), "");

  // Late: dropped without a crash, also once the server is gone.
  const int port = s->port();
  HttpResponse r;
  r.body = "{}";
  ex->Respond(std::move(r));
  EXPECT_EQ(busy.buffer(), "");
  s.reset();
  ex.reset();

  // Nothing listens any more.
  EXPECT_FALSE(RawConn(port).connected());
}

TEST(HttpServerTest, DestroyingTheServerWithAnUnansweredExchange) {
  Pending pending;
  auto s = MustStart(FastOptions(), pending.handler());
  ASSERT_NE(s, nullptr);
  const int port = s->port();
  RawConn c(port);
  ASSERT_TRUE(c.Send(Get("/x")));
  std::shared_ptr<Exchange> ex = pending.Take();
  ASSERT_NE(ex, nullptr);
  const absl::Time start = absl::Now();
  s.reset();  // ~HttpServer stops
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_TRUE(c.ReadUntilClosed(absl::Seconds(2)));
  ex.reset();  // the 500 of a dropped exchange goes nowhere
  RawConn refused(port);
  EXPECT_FALSE(refused.connected());
}

TEST(HttpServerTest, StopAcceptingClosesIdleConnectionsAndFinishesBusyOnes) {
  Pending pending;
  HttpServerOptions o = FastOptions();
  o.idle_timeout_ms = 60000;  // so that only StopAccepting can close them
  o.read_timeout_ms = 60000;
  auto s = MustStart(o, pending.handler());
  ASSERT_NE(s, nullptr);
  RawConn never_sent(s->port());
  RawConn kept_alive(s->port());
  ASSERT_TRUE(kept_alive.Send(Get("/first")));
  auto first = pending.Take();
  ASSERT_NE(first, nullptr);
  Echo(first);
  ASSERT_TRUE(kept_alive.ReadResponse().has_value());
  RawConn busy(s->port());
  ASSERT_TRUE(busy.Send(Get("/busy")));
  auto ex = pending.Take();
  ASSERT_NE(ex, nullptr);
  ASSERT_TRUE(Eventually([&] { return s->stats().connections_open == 3; }));

  s->StopAccepting();
  // No new connections.
  ASSERT_TRUE(Eventually([&] { return !RawConn(s->port()).connected(); }));
  // Idle ones close now, not after the idle timeout.
  EXPECT_TRUE(never_sent.ReadUntilClosed(absl::Seconds(2)));
  EXPECT_TRUE(kept_alive.ReadUntilClosed(absl::Seconds(2)));
  EXPECT_EQ(kept_alive.buffer(), "");
  // The request being handled is still answered, as the last one.
  Echo(ex);
  auto r = busy.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(absl::AsciiStrToLower(r->Header("connection")), "close");
  EXPECT_TRUE(busy.ReadUntilClosed(absl::Seconds(2)));
}

// -------------------------------------------------------------------- TLS

struct CurlResult {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string headers;  // raw, lower-cased
  std::string body;
};

size_t AppendTo(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

CurlResult CurlGet(const std::string& url, const std::string& ca, const std::string& cert = "",
                   const std::string& key = "") {
  CurlResult res;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    res.code = CURLE_FAILED_INIT;
    return res;
  }
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_CAINFO, ca.c_str());
  if (!cert.empty()) curl_easy_setopt(curl, CURLOPT_SSLCERT, cert.c_str());
  if (!key.empty()) curl_easy_setopt(curl, CURLOPT_SSLKEY, key.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &AppendTo);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &res.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &AppendTo);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &res.headers);
  res.code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res.status);
  curl_easy_cleanup(curl);
  res.headers = absl::AsciiStrToLower(res.headers);
  return res;
}

class HttpServerTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new orch::testing::TempDir();
    auto c = orch::testing::MakeTestCerts(dir_->path());
    ASSERT_THAT(c, IsOk());
    certs_ = new orch::testing::TestCerts(*c);
  }
  static void TearDownTestSuite() {
    delete certs_;
    certs_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }

  // With `client_ca`, client certificates are verified (required or not).
  std::unique_ptr<HttpServer> StartTls(bool client_ca, bool require) {
    tls::TlsPaths paths;
    paths.cert = certs_->server_cert;
    paths.key = certs_->server_key;
    if (client_ca) paths.ca = certs_->ca_cert;
    auto files = tls::LoadTlsFiles(paths);
    EXPECT_THAT(files, IsOk());
    if (!files.ok()) return nullptr;
    HttpServerOptions o = FastOptions();
    o.tls = *files;
    o.require_client_cert = require;
    return MustStart(o, [this](std::shared_ptr<Exchange> ex) {
      handled_.fetch_add(1);
      Echo(std::move(ex));
    });
  }
  static std::string Url(const HttpServer& s) { return absl::StrCat("https://127.0.0.1:", s.port(), "/tls?q=1"); }

  static orch::testing::TempDir* dir_;
  static orch::testing::TestCerts* certs_;
  std::atomic<int> handled_{0};
};

orch::testing::TempDir* HttpServerTlsTest::dir_ = nullptr;
orch::testing::TestCerts* HttpServerTlsTest::certs_ = nullptr;

TEST_F(HttpServerTlsTest, HttpsWorksAndSetsHsts) {
  auto s = StartTls(false, false);
  ASSERT_NE(s, nullptr);
  CurlResult r = CurlGet(Url(*s), certs_->ca_cert);
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.headers, HasSubstr("strict-transport-security: max-age=31536000"));
  EXPECT_THAT(r.headers, HasSubstr("x-content-type-options: nosniff"));
  auto j = ParseJson(r.body);
  EXPECT_EQ(Field(j, "tls"), "true");
  EXPECT_EQ(Field(j, "target"), "/tls?q=1");
  EXPECT_EQ(Field(j, "client_cert_cn"), "");
}

TEST_F(HttpServerTlsTest, HttpsKeepAlive) {
  auto s = StartTls(false, false);
  ASSERT_NE(s, nullptr);
  CURL* curl = curl_easy_init();
  ASSERT_NE(curl, nullptr);
  std::string body;
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_CAINFO, certs_->ca_cert.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &AppendTo);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    body.clear();
    const std::string url = absl::StrCat("https://127.0.0.1:", s->port(), "/k", i);
    const std::string post = absl::StrCat("{\"i\":", i, "}");
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post.c_str());
    ASSERT_EQ(curl_easy_perform(curl), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    EXPECT_EQ(status, 200);
    auto j = ParseJson(body);
    EXPECT_EQ(Field(j, "target"), absl::StrCat("/k", i));
    EXPECT_EQ(Field(j, "body"), post);
    long connects = -1;
    curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &connects);
    EXPECT_EQ(connects, i == 0 ? 1 : 0);  // the same connection after the first
  }
  curl_easy_cleanup(curl);
  EXPECT_EQ(s->stats().connections_accepted, 1u);
}

TEST_F(HttpServerTlsTest, UnknownCaFailsVerification) {
  auto s = StartTls(false, false);
  ASSERT_NE(s, nullptr);
  // The client certificate is not a CA: nothing verifies the server.
  CurlResult r = CurlGet(Url(*s), certs_->client_cert);
  EXPECT_NE(r.code, CURLE_OK);
  EXPECT_EQ(handled_.load(), 0);
}

TEST_F(HttpServerTlsTest, PlaintextToTheTlsPortFails) {
  auto s = StartTls(false, false);
  ASSERT_NE(s, nullptr);
  RawConn c(s->port());
  ASSERT_TRUE(c.Send(Get("/plain")));
  EXPECT_TRUE(c.ReadUntilClosed(absl::Seconds(3)));
  EXPECT_FALSE(absl::StartsWith(c.buffer(), "HTTP/"));
  EXPECT_EQ(handled_.load(), 0);
  EXPECT_TRUE(Eventually([&] { return s->stats().tls_handshake_failures >= 1; }));
}

TEST_F(HttpServerTlsTest, SilentTlsClientIsCutAtTheReadTimeout) {
  auto s = StartTls(false, false);
  ASSERT_NE(s, nullptr);
  RawConn c(s->port());
  const absl::Time start = absl::Now();
  EXPECT_TRUE(c.ReadUntilClosed(absl::Seconds(3)));
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(300 + 1500));
}

TEST_F(HttpServerTlsTest, RequiredClientCertificate) {
  auto s = StartTls(true, true);
  ASSERT_NE(s, nullptr);
  CurlResult without = CurlGet(Url(*s), certs_->ca_cert);
  EXPECT_NE(without.code, CURLE_OK) << "status " << without.status;
  EXPECT_EQ(handled_.load(), 0);

  CurlResult with = CurlGet(Url(*s), certs_->ca_cert, certs_->client_cert, certs_->client_key);
  ASSERT_EQ(with.code, CURLE_OK) << curl_easy_strerror(with.code);
  EXPECT_EQ(with.status, 200);
  EXPECT_EQ(Field(ParseJson(with.body), "client_cert_cn"), "orch-test-client");
  EXPECT_EQ(handled_.load(), 1);
}

TEST_F(HttpServerTlsTest, OptionalClientCertificate) {
  auto s = StartTls(true, false);
  ASSERT_NE(s, nullptr);
  CurlResult without = CurlGet(Url(*s), certs_->ca_cert);
  ASSERT_EQ(without.code, CURLE_OK) << curl_easy_strerror(without.code);
  EXPECT_EQ(Field(ParseJson(without.body), "client_cert_cn"), "");
  CurlResult with = CurlGet(Url(*s), certs_->ca_cert, certs_->client_cert, certs_->client_key);
  ASSERT_EQ(with.code, CURLE_OK) << curl_easy_strerror(with.code);
  EXPECT_EQ(Field(ParseJson(with.body), "client_cert_cn"), "orch-test-client");
}

TEST_F(HttpServerTlsTest, ClientCertificateWithoutItsKeyIsRefused) {
  auto s = StartTls(true, true);
  ASSERT_NE(s, nullptr);
  CurlResult r = CurlGet(Url(*s), certs_->ca_cert, certs_->client_cert, certs_->other_key);
  EXPECT_NE(r.code, CURLE_OK);
  EXPECT_EQ(handled_.load(), 0);
}

}  // namespace
}  // namespace orch::rest_gateway
