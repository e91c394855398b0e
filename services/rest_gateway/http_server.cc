#include "services/rest_gateway/http_server.h"

#include <atomic>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/base/json.h"
#include "common/base/net.h"
#include "common/log/log.h"

namespace orch::rest_gateway {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

const std::string* HttpRequest::Header(absl::string_view lower_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lower_name) return &v;
  }
  return nullptr;
}

HttpResponse JsonError(int status, absl::string_view code, absl::string_view message) {
  HttpResponse r;
  r.status = status;
  r.body = "{\"error\":{\"code\":";
  AppendJsonString(&r.body, std::string_view(code.data(), code.size()));
  r.body += ",\"message\":";
  AppendJsonString(&r.body, std::string_view(message.data(), message.size()));
  r.body += "}}";
  return r;
}

namespace {

struct Shared;
class ConnBase;

// The connection whose Dispatch runs on this thread (handlers answering
// synchronously must not take its lock again).
thread_local const ConnBase* t_dispatching = nullptr;

class ConnBase : public std::enable_shared_from_this<ConnBase> {
 public:
  virtual ~ConnBase() = default;
  virtual void Start() = 0;
  // Posted to the connection's strand.
  virtual void PostClose() = 0;
  virtual void PostDeliver(HttpResponse r) = 0;
  // StopAccepting: close now if idle, else after the current response.
  virtual void PostDrain() = 0;
};

struct Shared {
  explicit Shared(int threads) : ioc(threads) {}
  net::io_context ioc;
  HttpServerOptions options;
  Handler handler;
  std::unique_ptr<net::ssl::context> ssl;
  std::atomic<bool> stopped{false};
  std::atomic<bool> draining{false};   // StopAccepting: no keep-alive any more
  std::atomic<uint64_t> accepted{0}, refused{0}, tls_failures{0}, requests_refused{0};
  std::atomic<size_t> open{0};
  std::mutex mu;
  std::set<std::weak_ptr<ConnBase>, std::owner_less<std::weak_ptr<ConnBase>>> conns;
};

class ExchangeImpl final : public Exchange {
 public:
  ExchangeImpl(std::shared_ptr<ConnBase> conn, std::shared_ptr<Shared> shared, HttpRequest req)
      : conn_(std::move(conn)), shared_(std::move(shared)), req_(std::move(req)) {}
  ~ExchangeImpl() override {
    if (!responded_.exchange(true)) Send(JsonError(500, "internal", "the request was not answered"));
  }
  const HttpRequest& request() const override { return req_; }
  void Respond(HttpResponse r) override {
    if (responded_.exchange(true)) return;
    Send(std::move(r));
  }

 private:
  void Send(HttpResponse r) {
    if (shared_->stopped.load()) return;
    conn_->PostDeliver(std::move(r));
  }
  std::shared_ptr<ConnBase> conn_;
  std::shared_ptr<Shared> shared_;
  HttpRequest req_;
  std::atomic<bool> responded_{false};
};

void AddSecurityHeaders(http::response<http::string_body>& res, bool tls) {
  res.set("X-Content-Type-Options", "nosniff");
  res.set(http::field::cache_control, "no-store");
  res.set("X-Frame-Options", "DENY");
  res.set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
  res.set("Referrer-Policy", "no-referrer");
  if (tls) res.set(http::field::strict_transport_security, "max-age=31536000");
}

// Stream: tcp::socket or net::ssl::stream<tcp::socket>.
template <typename Stream>
class Conn final : public ConnBase {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, tcp::socket>;
  // Small: with a first read as large as the header limit, Beast's parser
  // let headers of about twice the limit through (seen in tests/rest).
  static constexpr size_t kFirstRead = 512;

  Conn(std::shared_ptr<Shared> shared, tcp::socket socket)
      : shared_(std::move(shared)), stream_(MakeStream(std::move(socket))), timer_(stream_.get_executor()) {
    error_code ec;
    auto ep = beast::get_lowest_layer(stream_).remote_endpoint(ec);
    if (!ec) peer_ip_ = ep.address().to_string();
  }
  ~Conn() override { shared_->open.fetch_sub(1); }

  void Start() override {
    std::lock_guard<std::mutex> l(mu_);
    if constexpr (kTls) {
      Arm(shared_->options.read_timeout_ms);
      stream_.async_handshake(net::ssl::stream_base::server,
                              [self = Self()](const error_code& ec) {
                                std::lock_guard<std::mutex> l(self->mu_);
                                self->OnHandshake(ec);
                              });
    } else {
      BeginRequest();
    }
  }

  void PostClose() override {
    net::post(stream_.get_executor(), [self = Self()] {
      std::lock_guard<std::mutex> l(self->mu_);
      self->Close();
    });
  }

  void PostDrain() override {
    net::post(stream_.get_executor(), [self = Self()] {
      std::lock_guard<std::mutex> l(self->mu_);
      // Waiting for a request to start (or still in the TLS handshake): close.
      if (!self->handling_ && !self->started_) self->Close();
    });
  }

  void PostDeliver(HttpResponse r) override {
    if constexpr (!kTls) {
      // Answered from the handler's thread (a gRPC callback) when it is not
      // the connection's own Dispatch: the write is a non-blocking send on
      // this thread, which saves waking an Asio thread for it. The lock
      // keeps it apart from the connection's handlers.
      if (t_dispatching != this) return DeliverInline(std::move(r));
    }
    net::post(stream_.get_executor(), [self = Self(), r = std::move(r)]() mutable {
      std::lock_guard<std::mutex> l(self->mu_);
      self->Deliver(std::move(r));
    });
  }

 private:
  std::shared_ptr<Conn> Self() { return std::static_pointer_cast<Conn>(shared_from_this()); }

  Stream MakeStream(tcp::socket s) {
    if constexpr (kTls) {
      return Stream(std::move(s), *shared_->ssl);
    } else {
      return s;
    }
  }

  // The deadline of what is running now; on expiry the socket's operations
  // are cancelled and `timed_out_` tells why.
  void Arm(int ms) {
    ++gen_;
    timer_.expires_after(std::chrono::milliseconds(ms));
    timer_.async_wait([self = Self(), gen = gen_](const error_code& ec) {
      if (ec) return;
      std::lock_guard<std::mutex> l(self->mu_);
      if (gen != self->gen_ || self->closed_) return;
      self->timed_out_ = true;
      error_code ignored;
      beast::get_lowest_layer(self->stream_).cancel(ignored);
    });
  }
  void Disarm() {
    ++gen_;
    timer_.cancel();
  }

  void OnHandshake(const error_code& ec) {
    if (ec) {
      shared_->tls_failures.fetch_add(1);
      log::Debug("TLS handshake failed", {{"peer", peer_ip_}, {"error", ec.message()}});
      Close();
      return;
    }
    if constexpr (kTls) {
      SSL* ssl = stream_.native_handle();
      X509* cert = SSL_get1_peer_certificate(ssl);
      if (cert != nullptr) {
        if (SSL_get_verify_result(ssl) == X509_V_OK) {
          char cn[256];
          int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn));
          if (n > 0) client_cn_.assign(cn, static_cast<size_t>(n));
        }
        X509_free(cert);
      }
    }
    BeginRequest();
  }

  // A request's deadline (read-timeout-ms) runs from its first byte; before
  // that the connection may idle for idle-timeout-ms. The parser consumes
  // nothing until a header is complete, so the first bytes are read here,
  // into the parser's buffer, through the stream (for TLS: whatever the
  // handshake already buffered counts).
  void BeginRequest() {
    if (closed_) return;
    if (shared_->draining.load()) return Shutdown();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(shared_->options.max_header_bytes));
    parser_->body_limit(shared_->options.max_body_bytes);
    timed_out_ = false;
    continue_sent_ = false;
    if (buffer_.size() > 0) return Started();  // pipelined: the next request is here already
    // Wait (idle time) for the first bytes of a request with a plain read:
    // the parser reports nothing before a whole header is in, so through it
    // a request trickled in byte by byte would only be bounded by the idle
    // timeout, not by read_timeout_ms.
    started_ = false;
    Arm(shared_->options.idle_timeout_ms);
    stream_.async_read_some(buffer_.prepare(kFirstRead), [self = Self()](const error_code& ec, size_t n) {
      std::lock_guard<std::mutex> l(self->mu_);
      self->OnFirstBytes(ec, n);
    });
  }

  void OnFirstBytes(const error_code& ec, size_t n) {
    if (closed_) return;
    if (ec || n == 0) return Close();  // idle timeout, EOF, reset: no request started
    buffer_.commit(n);
    Started();
  }

  // A request has begun: all of it must arrive within read_timeout_ms.
  void Started() {
    started_ = true;
    Arm(shared_->options.read_timeout_ms);
    ReadSome();
  }

  void ReadSome() {
    http::async_read_some(stream_, buffer_, *parser_,
                          [self = Self()](const error_code& ec, size_t n) {
                            std::lock_guard<std::mutex> l(self->mu_);
                            self->OnRead(ec, n);
                          });
  }

  void OnRead(const error_code& ec, size_t /*n*/) {
    if (closed_) return;
    if (ec) {
      if (ec == http::error::header_limit) return Refuse(431, "header_too_large", "request headers are too large");
      if (ec == http::error::body_limit) return Refuse(413, "payload_too_large", "request body is too large");
      if (timed_out_) {
        if (started_) return Refuse(408, "request_timeout", "the request did not arrive in time");
        return Close();
      }
      if (ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::operation_aborted ||
          ec == net::error::connection_reset || ec == net::ssl::error::stream_truncated) {
        return Close();
      }
      if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
        return Refuse(400, "bad_request", absl::StrCat("malformed HTTP request: ", ec.message()));
      }
      return Close();
    }
    if (!parser_->is_done()) {
      // "Expect: 100-continue": the client waits for this before sending
      // the body (the header's limits have been checked by now: a body
      // over the limit was refused above).
      if (!continue_sent_ && parser_->is_header_done()) {
        const auto& h = parser_->get();
        auto it = h.find(http::field::expect);
        if (it != h.end() && beast::iequals(it->value(), "100-continue")) {
          continue_sent_ = true;
          static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          net::async_write(stream_, net::buffer(kContinue), [self = Self()](const error_code& ec, size_t) {
            std::lock_guard<std::mutex> l(self->mu_);
            if (self->closed_) return;
            if (ec) return self->Close();
            self->ReadSome();
          });
          return;
        }
      }
      return ReadSome();
    }
    Disarm();
    Dispatch();
  }

  void Dispatch() {
    auto& m = parser_->get();
    HttpRequest req;
    req.method = std::string(m.method_string());
    req.target = std::string(m.target());
    req.headers.reserve(8);
    for (const auto& f : m) {
      req.headers.emplace_back(absl::AsciiStrToLower(absl::string_view(f.name_string().data(), f.name_string().size())),
                               std::string(f.value()));
    }
    req.body = std::move(m.body());
    req.peer_ip = peer_ip_;
    req.tls = kTls;
    req.client_cert_cn = client_cn_;
    keep_alive_ = m.keep_alive();
    head_ = m.method() == http::verb::head;
    handling_ = true;
    auto ex = std::make_shared<ExchangeImpl>(shared_from_this(), shared_, std::move(req));
    // A handler answering at once (on this thread, lock held) goes through
    // the strand; see PostDeliver.
    t_dispatching = this;
    shared_->handler(std::move(ex));
    t_dispatching = nullptr;
  }

  void Refuse(int status, absl::string_view code, absl::string_view message) {
    shared_->requests_refused.fetch_add(1);
    keep_alive_ = false;
    head_ = false;
    HttpResponse r = JsonError(status, code, message);
    r.close = true;
    handling_ = true;
    Deliver(std::move(r));
  }

  // Fills res_ from `r`; whether the connection stays open after it.
  bool BuildResponse(HttpResponse r) {
    res_ = {};
    res_.version(11);
    res_.result(static_cast<unsigned>(r.status));
    AddSecurityHeaders(res_, kTls);
    if (!r.body.empty() || r.status >= 200) res_.set(http::field::content_type, r.content_type);
    for (auto& [k, v] : r.headers) res_.insert(k, v);
    res_.body() = std::move(r.body);
    const bool keep = keep_alive_ && !r.close && !shared_->stopped.load() && !shared_->draining.load();
    res_.keep_alive(keep);
    res_.prepare_payload();
    // A response to HEAD has the length of the body a GET would get, but no
    // body: bytes after it would be read as the next response.
    if (head_) res_.body().clear();
    return keep;
  }

  void Deliver(HttpResponse r) {
    if (closed_ || !handling_) return;
    handling_ = false;
    const bool keep = BuildResponse(std::move(r));
    timed_out_ = false;
    Arm(shared_->options.write_timeout_ms);
    http::async_write(stream_, res_, [self = Self(), keep](const error_code& ec, size_t) {
      std::lock_guard<std::mutex> l(self->mu_);
      self->OnWrite(ec, keep);
    });
  }

  // Plain TCP only: the response is sent with one non-blocking send from the
  // calling thread; what the socket does not take is written
  // asynchronously as usual.
  void DeliverInline(HttpResponse r) {
    std::lock_guard<std::mutex> l(mu_);
    if (closed_ || !handling_) return;
    handling_ = false;
    const bool keep = BuildResponse(std::move(r));
    wire_.clear();
    absl::StrAppend(&wire_, "HTTP/1.1 ", res_.result_int(), " ",
                    std::string(http::obsolete_reason(res_.result())), "\r\n");
    for (const auto& f : res_.base()) {
      absl::StrAppend(&wire_, std::string(f.name_string()), ": ", std::string(f.value()), "\r\n");
    }
    wire_ += "\r\n";
    wire_ += res_.body();
    auto& socket = beast::get_lowest_layer(stream_);
    error_code ec;
    if (!socket.non_blocking()) socket.non_blocking(true, ec);
    size_t n = ec ? 0 : socket.write_some(net::buffer(wire_), ec);
    if (ec == net::error::would_block || ec == net::error::try_again) {
      ec = {};
      n = 0;
    }
    if (ec) return Close();
    if (n == wire_.size()) return OnWrite({}, keep);
    timed_out_ = false;
    Arm(shared_->options.write_timeout_ms);
    net::async_write(stream_, net::buffer(wire_) + n, [self = Self(), keep](const error_code& ec, size_t) {
      std::lock_guard<std::mutex> l(self->mu_);
      self->OnWrite(ec, keep);
    });
  }

  void OnWrite(const error_code& ec, bool keep) {
    Disarm();
    if (closed_) return;
    if (ec || !keep) return Shutdown();
    BeginRequest();
  }

  void Shutdown() {
    if constexpr (kTls) {
      Arm(1000);
      stream_.async_shutdown([self = Self()](const error_code&) {
        std::lock_guard<std::mutex> l(self->mu_);
        self->Close();
      });
    } else {
      error_code ignored;
      stream_.shutdown(tcp::socket::shutdown_send, ignored);
      Close();
    }
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    Disarm();
    error_code ignored;
    beast::get_lowest_layer(stream_).close(ignored);
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->conns.erase(weak_from_this());
  }

  std::shared_ptr<Shared> shared_;
  Stream stream_;
  net::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  std::string wire_;          // DeliverInline's bytes
  // Serializes the handlers of this connection with DeliverInline (which
  // runs outside the strand).
  std::mutex mu_;
  std::string peer_ip_;
  std::string client_cn_;
  uint64_t gen_ = 0;
  bool started_ = false;
  bool timed_out_ = false;
  bool keep_alive_ = true;
  bool head_ = false;
  bool continue_sent_ = false;
  bool handling_ = false;
  bool closed_ = false;
};

absl::Status ConfigureTls(net::ssl::context& ctx, const HttpServerOptions& o) {
  SSL_CTX* c = ctx.native_handle();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  error_code ec;
  ctx.use_certificate_chain(net::buffer(o.tls.cert_pem), ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("http.tls-cert: ", ec.message()));
  ctx.use_private_key(net::buffer(o.tls.key_pem), net::ssl::context::pem, ec);
  if (ec) return absl::InvalidArgumentError("http.tls-key: the private key is not usable");
  if (!o.tls.ca_pem.empty()) {
    ctx.add_certificate_authority(net::buffer(o.tls.ca_pem), ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("http.tls-client-ca: ", ec.message()));
    int mode = net::ssl::verify_peer;
    if (o.require_client_cert) mode |= net::ssl::verify_fail_if_no_peer_cert;
    ctx.set_verify_mode(mode, ec);
    // Ask for certificates signed by the CA.
    BIO* bio = BIO_new_mem_buf(o.tls.ca_pem.data(), static_cast<int>(o.tls.ca_pem.size()));
    STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
    if (bio != nullptr && names != nullptr) {
      while (X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
        sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(x)));
        X509_free(x);
      }
      SSL_CTX_set_client_CA_list(c, names);
      names = nullptr;
    }
    if (names != nullptr) sk_X509_NAME_free(names);
    if (bio != nullptr) BIO_free(bio);
  } else if (o.require_client_cert) {
    return absl::InvalidArgumentError("http.tls-require-client-cert needs http.tls-client-ca");
  }
  return absl::OkStatus();
}

}  // namespace

class HttpServer::Impl {
 public:
  std::shared_ptr<Shared> shared;
  std::optional<tcp::acceptor> acceptor;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  std::string address;
  int port = 0;
  bool stopped = false;

  void Accept() {
    acceptor->async_accept(net::make_strand(shared->ioc), [this](const error_code& ec, tcp::socket socket) {
      if (ec) {
        if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
        // EMFILE and the like: keep accepting after a short pause.
        log::Warn("accept failed", {{"error", ec.message()}});
        auto t = std::make_shared<net::steady_timer>(shared->ioc, std::chrono::milliseconds(50));
        t->async_wait([this, t](const error_code&) {
          if (acceptor->is_open()) Accept();
        });
        return;
      }
      OnAccepted(std::move(socket));
      Accept();
    });
  }

  void OnAccepted(tcp::socket socket) {
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    if (shared->stopped.load()) return;
    if (shared->open.load() >= shared->options.max_connections) {
      shared->refused.fetch_add(1);
      if (!shared->ssl) {
        http::response<http::string_body> res{http::status::service_unavailable, 11};
        AddSecurityHeaders(res, false);
        res.set(http::field::content_type, "application/json");
        res.set(http::field::retry_after, "1");
        res.body() = JsonError(503, "unavailable", "too many connections").body;
        res.keep_alive(false);
        res.prepare_payload();
        http::write(socket, res, ignored);
      }
      socket.close(ignored);
      return;
    }
    shared->open.fetch_add(1);
    shared->accepted.fetch_add(1);
    std::shared_ptr<ConnBase> c;
    if (shared->ssl) {
      c = std::make_shared<Conn<net::ssl::stream<tcp::socket>>>(shared, std::move(socket));
    } else {
      c = std::make_shared<Conn<tcp::socket>>(shared, std::move(socket));
    }
    {
      std::lock_guard<std::mutex> lock(shared->mu);
      shared->conns.insert(c);
    }
    c->Start();
  }
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options, Handler handler) {
  auto hp = SplitHostPort(options.listen);
  if (!hp.ok()) return absl::InvalidArgumentError(absl::StrCat("http.listen: ", hp.status().message()));
  if (options.threads < 1) return absl::InvalidArgumentError("http.threads must be at least 1");
  auto impl = std::make_unique<Impl>();
  impl->shared = std::make_shared<Shared>(options.threads);
  impl->shared->options = options;
  impl->shared->handler = std::move(handler);
  if (options.tls.enabled()) {
    impl->shared->ssl = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
    if (auto st = ConfigureTls(*impl->shared->ssl, options); !st.ok()) return st;
  } else if (options.require_client_cert) {
    return absl::InvalidArgumentError("http.tls-require-client-cert needs http.tls-cert");
  }
  std::string host = hp->host == "localhost" ? "127.0.0.1" : hp->host;
  error_code ec;
  auto addr = net::ip::make_address(host, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("http.listen: '", options.listen, "' is not an IP address and port (e.g. 127.0.0.1:7180)"));
  }
  tcp::endpoint ep(addr, static_cast<unsigned short>(hp->port));
  auto& ioc = impl->shared->ioc;
  impl->acceptor.emplace(ioc);
  impl->acceptor->open(ep.protocol(), ec);
  if (!ec) impl->acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor->bind(ep, ec);
  if (ec) {
    if (ec == net::error::address_in_use) {
      return absl::AlreadyExistsError(absl::StrCat("http.listen ", options.listen, ": address already in use"));
    }
    return absl::InvalidArgumentError(absl::StrCat("http.listen ", options.listen, ": ", ec.message()));
  }
  impl->acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("http.listen ", options.listen, ": ", ec.message()));
  auto bound = impl->acceptor->local_endpoint(ec);
  impl->port = bound.port();
  impl->address = bound.address().is_v6() ? absl::StrCat("[", bound.address().to_string(), "]:", impl->port)
                                          : absl::StrCat(bound.address().to_string(), ":", impl->port);
  impl->work.emplace(net::make_work_guard(ioc));
  impl->Accept();
  for (int i = 0; i < options.threads; ++i) {
    impl->threads.emplace_back([&ioc] { ioc.run(); });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

const std::string& HttpServer::address() const { return impl_->address; }
int HttpServer::port() const { return impl_->port; }

HttpServerStats HttpServer::stats() const {
  const Shared& s = *impl_->shared;
  return {s.accepted.load(), s.refused.load(), s.tls_failures.load(), s.requests_refused.load(), s.open.load()};
}

void HttpServer::StopAccepting() {
  impl_->shared->draining.store(true);
  net::post(impl_->acceptor->get_executor(), [impl = impl_.get()] {
    error_code ignored;
    impl->acceptor->close(ignored);
  });
  std::vector<std::shared_ptr<ConnBase>> conns;
  {
    std::lock_guard<std::mutex> lock(impl_->shared->mu);
    for (const auto& w : impl_->shared->conns) {
      if (auto c = w.lock()) conns.push_back(std::move(c));
    }
  }
  for (auto& c : conns) c->PostDrain();
}

void HttpServer::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->shared->stopped.store(true);
  StopAccepting();
  std::vector<std::shared_ptr<ConnBase>> conns;
  {
    std::lock_guard<std::mutex> lock(impl_->shared->mu);
    for (const auto& w : impl_->shared->conns) {
      if (auto c = w.lock()) conns.push_back(std::move(c));
    }
  }
  for (auto& c : conns) c->PostClose();
  conns.clear();
  impl_->work.reset();
  // Every connection is closing and the acceptor is closed: run() returns
  // once their handlers have finished.
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  impl_->shared->ioc.stop();
}

}  // namespace orch::rest_gateway
