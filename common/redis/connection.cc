#include "common/redis/connection.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/base/check.h"

namespace orch::redis {
namespace {

// An alert by which the server refused our client certificate (or its absence).
bool IsCertificateRefusal(const std::string& msg) {
  return absl::StrContains(msg, "certificate required") ||
         absl::StrContains(msg, "bad certificate") || absl::StrContains(msg, "unknown ca");
}

bool IsIpLiteral(const std::string& host) {
  in6_addr a6;
  in_addr a4;
  return ::inet_pton(AF_INET, host.c_str(), &a4) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

std::string FormatAddress(const std::string& host, int port) {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

// The newest OpenSSL error on this thread, as text; clears the queue.
std::string OpenSslErrors() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    const char* reason = ERR_reason_error_string(e);
    out = reason != nullptr ? reason : buf;
  }
  return out;
}

const std::string kAsking = FormatCommand({"ASKING"});

}  // namespace

Connection::Connection(EventLoop* loop, const ConnectionSettings* settings, std::string host,
                       int port, ConnectionListener* listener)
    : loop_(loop),
      settings_(settings),
      host_(std::move(host)),
      port_(port),
      address_(FormatAddress(host_, port_)),
      listener_(listener),
      next_backoff_(settings->backoff_initial),
      reader_(std::make_unique<ReplyReader>()),
      wait_marker_(std::make_shared<Request>()) {
  wait_marker_->name = "WAIT";
}

Connection::~Connection() {
  if (connect_timer_) loop_->Cancel(*connect_timer_);
  if (backoff_timer_) loop_->Cancel(*backoff_timer_);
  for (auto* requests : {&in_flight_, &after_wait_}) {
    for (auto& r : *requests) {
      if (r != nullptr && r->in_flight_on == this) r->in_flight_on = nullptr;
    }
  }
  for (auto* requests : {&unwaited_, &covered_}) {
    for (auto& r : *requests) {
      if (r->in_flight_on == this) r->in_flight_on = nullptr;
    }
  }
  CloseSocket();
}

bool Connection::AwaitsWait(const Request& req) const {
  return req.in_flight_on == this && req.held_reply.has_value();
}

void Connection::CloseSocket() {
  if (ssl_ != nullptr) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  if (fd_ >= 0) {
    loop_->Remove(fd_);
    ::close(fd_);
    fd_ = -1;
  }
  want_write_ = false;
  out_.clear();
  out_offset_ = 0;
  reader_ = std::make_unique<ReplyReader>();
}

std::vector<std::shared_ptr<Request>> Connection::TakeAll() {
  std::vector<std::shared_ptr<Request>> all;
  // Held replies first: their requests are no longer in in_flight_.
  for (auto* requests : {&unwaited_, &covered_}) {
    for (auto& r : *requests) {
      if (AwaitsWait(*r)) all.push_back(r);
    }
    requests->clear();
  }
  for (auto& r : all) {
    r->in_flight_on = nullptr;
    r->held_reply.reset();
  }
  for (auto& r : in_flight_) {
    if (r != nullptr && r != wait_marker_) {
      r->in_flight_on = nullptr;
      all.push_back(std::move(r));
    }
  }
  for (auto& r : queued_) all.push_back(std::move(r));
  for (auto& r : after_wait_) all.push_back(std::move(r));
  in_flight_.clear();
  queued_.clear();
  after_wait_.clear();
  wait_in_flight_ = false;
  return all;
}

void Connection::Send(std::shared_ptr<Request> req) {
  switch (state_) {
    case State::kReady:
      Write(std::move(req));
      ScheduleFlush();
      return;
    case State::kBackoff:
      listener_->OnRequestFailed(this, std::move(req), last_error_, /*maybe_sent=*/false);
      return;
    case State::kIdle:
      queued_.push_back(std::move(req));
      StartConnect();
      return;
    default:
      queued_.push_back(std::move(req));
      return;
  }
}

void Connection::StartConnect() {
  state_ = State::kConnecting;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  // Known limit: a host name (not an IP literal) is resolved synchronously.
  int rc = ::getaddrinfo(host_.c_str(), std::to_string(port_).c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    Fail(absl::UnavailableError(
             absl::StrCat("redis ", address_, ": cannot resolve host: ", gai_strerror(rc))),
         true);
    return;
  }
  fd_ = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    ::freeaddrinfo(res);
    Fail(absl::UnavailableError(absl::StrCat("redis ", address_, ": socket: ", std::strerror(errno))),
         true);
    return;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  rc = ::connect(fd_, res->ai_addr, res->ai_addrlen);
  int err = errno;
  ::freeaddrinfo(res);
  if (rc != 0 && err != EINPROGRESS) {
    ::close(fd_);
    fd_ = -1;
    Fail(absl::UnavailableError(absl::StrCat("redis ", address_, ": connect: ", std::strerror(err))),
         true);
    return;
  }
  loop_->Add(fd_, EPOLLOUT, [this](uint32_t events) { OnEvents(events); });
  want_write_ = true;
  connect_timer_ = loop_->RunAt(absl::Now() + settings_->connect_timeout, [this]() {
    connect_timer_.reset();
    Fail(absl::UnavailableError(absl::StrCat("redis ", address_, ": connection not ready within ",
                                             absl::FormatDuration(settings_->connect_timeout))),
         true);
  });
}

void Connection::UpdateInterest() {
  if (fd_ < 0) return;
  bool want = out_.size() > out_offset_ || state_ == State::kConnecting;
  if (want == want_write_) return;
  want_write_ = want;
  loop_->Modify(fd_, EPOLLIN | (want ? EPOLLOUT : 0u));
}

void Connection::OnEvents(uint32_t events) {
  switch (state_) {
    case State::kConnecting:
      OnConnectDone();
      return;
    case State::kTls:
      DoHandshake();
      return;
    case State::kAuth:
    case State::kReady:
      if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        ReadAvailable();
        if (fd_ < 0) return;
      }
      if (out_.size() > out_offset_) Flush();
      return;
    default:
      return;
  }
}

void Connection::OnConnectDone() {
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    Fail(absl::UnavailableError(absl::StrCat("redis ", address_, ": connect: ", std::strerror(err))),
         true);
    return;
  }
  want_write_ = false;
  loop_->Modify(fd_, EPOLLIN);
  if (settings_->ssl_ctx == nullptr) {
    StartAuth();
    return;
  }
  state_ = State::kTls;
  ssl_ = SSL_new(settings_->ssl_ctx);
  SSL_set_fd(ssl_, fd_);
  const std::string& name = settings_->tls_sni.empty() ? host_ : settings_->tls_sni;
  if (!IsIpLiteral(name)) SSL_set_tlsext_host_name(ssl_, name.c_str());
  if (settings_->tls_verify_server_name) {
    if (IsIpLiteral(name)) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), name.c_str());
    } else {
      SSL_set1_host(ssl_, name.c_str());
    }
  }
  DoHandshake();
}

std::string Connection::TlsError(int ret, const char* what) {
  int e = SSL_get_error(ssl_, ret);
  std::string detail = OpenSslErrors();
  if (detail.empty()) {
    if (e == SSL_ERROR_SYSCALL) {
      detail = errno != 0 ? std::strerror(errno) : "connection closed by server";
    } else if (e == SSL_ERROR_ZERO_RETURN) {
      detail = "connection closed by server";
    } else {
      detail = absl::StrCat("SSL error ", e);
    }
  }
  return absl::StrCat("redis ", address_, ": TLS ", what, " failed: ", detail);
}

void Connection::DoHandshake() {
  ERR_clear_error();
  errno = 0;
  int ret = SSL_connect(ssl_);
  if (ret == 1) {
    StartAuth();
    return;
  }
  int e = SSL_get_error(ssl_, ret);
  if (e == SSL_ERROR_WANT_READ) {
    if (want_write_) {
      want_write_ = false;
      loop_->Modify(fd_, EPOLLIN);
    }
    return;
  }
  if (e == SSL_ERROR_WANT_WRITE) {
    if (!want_write_) {
      want_write_ = true;
      loop_->Modify(fd_, EPOLLIN | EPOLLOUT);
    }
    return;
  }
  long verify = SSL_get_verify_result(ssl_);
  if (verify != X509_V_OK) {
    ERR_clear_error();
    const std::string option = verify == X509_V_ERR_HOSTNAME_MISMATCH ||
                                       verify == X509_V_ERR_IP_ADDRESS_MISMATCH
                                   ? settings_->option_prefix + "tls-sni"
                                   : settings_->ca_option;
    Fail(absl::FailedPreconditionError(absl::StrCat(
             option, ": TLS handshake with redis ", address_,
             " failed: server certificate rejected: ", X509_verify_cert_error_string(verify))),
         true);
    return;
  }
  std::string msg = TlsError(ret, "handshake");
  if (absl::StrContains(msg, "certificate")) {
    Fail(absl::FailedPreconditionError(absl::StrCat(settings_->option_prefix, "tls-cert: ", msg)),
         true);
  } else if (absl::StrContains(msg, "wrong version number") ||
             absl::StrContains(msg, "packet length too long")) {
    Fail(absl::FailedPreconditionError(
             absl::StrCat(settings_->option_prefix, "tls-enabled: ", msg,
                          " (is the server's port plaintext?)")),
         true);
  } else {
    Fail(absl::UnavailableError(msg), true);
  }
}

void Connection::StartAuth() {
  if (settings_->password.empty()) {
    BecomeReady();
    return;
  }
  state_ = State::kAuth;
  std::vector<std::string> auth = {"AUTH"};
  if (!settings_->username.empty()) auth.push_back(settings_->username);
  auth.push_back(settings_->password);
  out_ += FormatCommand(auth);
  Flush();
}

void Connection::BecomeReady() {
  if (connect_timer_) {
    loop_->Cancel(*connect_timer_);
    connect_timer_.reset();
  }
  state_ = State::kReady;
  next_backoff_ = settings_->backoff_initial;
  const bool reconnect = ever_connected_;
  ever_connected_ = true;
  std::deque<std::shared_ptr<Request>> queued;
  queued.swap(queued_);
  for (auto& r : queued) {
    if (!r->done) Write(std::move(r));
  }
  Flush();
  if (fd_ >= 0) listener_->OnConnected(this, reconnect);
}

void Connection::Write(std::shared_ptr<Request> req) {
  if (req->wait_replicas > 0 && wait_in_flight_) {
    after_wait_.push_back(std::move(req));
    return;
  }
  if (req->asking) {
    out_ += kAsking;
    in_flight_.push_back(nullptr);
  }
  out_ += *req->wire;
  req->in_flight_on = this;
  if (req->wait_replicas > 0) unwaited_.push_back(req);
  in_flight_.push_back(std::move(req));
}

void Connection::WriteWait() {
  int replicas = 0;
  absl::Duration timeout = absl::Milliseconds(1);
  for (const auto& r : unwaited_) {
    replicas = std::max(replicas, r->wait_replicas);
    timeout = std::max(timeout, r->wait_timeout);
  }
  out_ += FormatCommand({"WAIT", std::to_string(replicas),
                         std::to_string(absl::ToInt64Milliseconds(timeout))});
  in_flight_.push_back(wait_marker_);
  wait_marker_->wait_replicas = replicas;
  wait_marker_->wait_timeout = timeout;
  covered_.swap(unwaited_);
  unwaited_.clear();
  wait_in_flight_ = true;
}

void Connection::OnWaitReply(const RedisReply& reply) {
  wait_in_flight_ = false;
  const absl::Duration waited = wait_marker_->wait_timeout;
  std::vector<std::shared_ptr<Request>> covered;
  covered.swap(covered_);
  // Waited requests held back while this WAIT was out leave now, together;
  // the flush adds their WAIT.
  std::deque<std::shared_ptr<Request>> next;
  next.swap(after_wait_);
  for (auto& r : next) {
    if (!r->done) Write(std::move(r));
  }
  if (!unwaited_.empty()) ScheduleFlush();
  for (size_t i = 0; i < covered.size(); ++i) {
    std::shared_ptr<Request>& r = covered[i];
    if (!AwaitsWait(*r)) continue;  // answered with an error, or sent elsewhere since
    RedisReply held = *std::move(r->held_reply);
    r->held_reply.reset();
    r->in_flight_on = nullptr;
    if (r->done) continue;  // timed out meanwhile
    if (fd_ < 0) {
      // A listener call below closed the connection; Fail() no longer saw
      // these (taken out of covered_ above).
      listener_->OnRequestFailed(this, std::move(r), last_error_, /*maybe_sent=*/true);
      continue;
    }
    if (reply.is_integer() && reply.integer() >= r->wait_replicas) {
      listener_->OnReply(this, std::move(r), std::move(held));
      continue;
    }
    const std::string what =
        reply.is_integer()
            ? absl::StrCat("only ", reply.integer(), " of ", r->wait_replicas,
                           " replicas acknowledged it within ",
                           absl::FormatDuration(waited))
            : absl::StrCat("WAIT failed: ", reply.is_error() ? reply.str() : reply.DebugString());
    absl::Status unreplicated = absl::UnavailableError(absl::StrCat(
        "redis ", address_, ": ", r->name, " ran, but ", what,
        " (WAIT): the write is applied on the master but not replicated, and may be lost in "
        "a failover"));
    listener_->OnRequestFailed(this, std::move(r), std::move(unreplicated), /*maybe_sent=*/true);
  }
}

void Connection::ScheduleFlush() {
  // Commands sent in the same loop iteration go out in one write. The task
  // cannot outlive the connection: connections are destroyed only by the
  // client's stop task, after which no further task runs.
  if (flush_pending_) return;
  flush_pending_ = true;
  loop_->Post([this]() {
    flush_pending_ = false;
    if (fd_ >= 0) Flush();
  });
}

void Connection::Flush() {
  if (!wait_in_flight_ && !unwaited_.empty() && state_ == State::kReady) {
    // Only requests still waiting here need the WAIT (an error reply
    // completed some; a redirect sent some elsewhere).
    unwaited_.erase(std::remove_if(unwaited_.begin(), unwaited_.end(),
                                   [this](const std::shared_ptr<Request>& r) {
                                     return r->done || r->in_flight_on != this;
                                   }),
                    unwaited_.end());
    if (!unwaited_.empty()) WriteWait();
  }
  while (fd_ >= 0 && out_.size() > out_offset_) {
    const char* data = out_.data() + out_offset_;
    size_t len = out_.size() - out_offset_;
    ssize_t n;
    if (ssl_ != nullptr) {
      ERR_clear_error();
      errno = 0;
      int r = SSL_write(ssl_, data, static_cast<int>(std::min<size_t>(len, 1 << 30)));
      if (r <= 0) {
        int e = SSL_get_error(ssl_, r);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) break;
        std::string msg = TlsError(r, "write");
        // With TLS 1.3 the server checks our certificate after the handshake:
        // it sends an alert and closes, and a write that comes later meets its
        // reset. The alert is still in the receive buffer; read it so the
        // error names the real reason instead of "connection reset".
        char probe[512];
        ERR_clear_error();
        errno = 0;
        int pr = SSL_read(ssl_, probe, sizeof probe);
        if (pr <= 0) {
          std::string alert = TlsError(pr, "read");
          if (IsCertificateRefusal(alert)) {
            Fail(absl::FailedPreconditionError(
                     absl::StrCat(settings_->option_prefix, "tls-cert: ", alert)),
                 true);
            return;
          }
        }
        Fail(absl::UnavailableError(msg), true);
        return;
      }
      n = r;
    } else {
      n = ::send(fd_, data, len, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
        Fail(absl::UnavailableError(absl::StrCat("redis ", address_, ": write: ", std::strerror(errno))),
             true);
        return;
      }
    }
    out_offset_ += static_cast<size_t>(n);
  }
  if (out_offset_ == out_.size()) {
    out_.clear();
    out_offset_ = 0;
  } else if (out_offset_ > (1 << 20)) {
    out_.erase(0, out_offset_);
    out_offset_ = 0;
  }
  UpdateInterest();
}

void Connection::ReadAvailable() {
  char buf[16384];
  // Bounded: at most 64 reads per readiness event, so one busy connection
  // cannot starve the others (level-triggered epoll brings us back).
  for (int round = 0; round < 64 && fd_ >= 0; ++round) {
    ssize_t n;
    if (ssl_ != nullptr) {
      ERR_clear_error();
      errno = 0;
      int r = SSL_read(ssl_, buf, sizeof buf);
      if (r <= 0) {
        int e = SSL_get_error(ssl_, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
        std::string msg = TlsError(r, "read");
        if (IsCertificateRefusal(msg)) {
          Fail(absl::FailedPreconditionError(
                   absl::StrCat(settings_->option_prefix, "tls-cert: ", msg)),
               true);
        } else {
          Fail(absl::UnavailableError(msg), true);
        }
        return;
      }
      n = r;
    } else {
      n = ::recv(fd_, buf, sizeof buf, 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        Fail(absl::UnavailableError(absl::StrCat("redis ", address_, ": read: ", std::strerror(errno))),
             true);
        return;
      }
      if (n == 0) {
        Fail(absl::UnavailableError(absl::StrCat("redis ", address_, ": connection closed by server")),
             true);
        return;
      }
    }
    reader_->Feed(buf, static_cast<size_t>(n));
    for (;;) {
      absl::StatusOr<std::optional<RedisReply>> next = reader_->Next();
      if (!next.ok()) {
        Fail(absl::UnavailableError(absl::StrCat("redis ", address_, ": ", next.status().message())),
             true);
        return;
      }
      if (!next->has_value()) break;
      HandleReply(**std::move(next));
      if (fd_ < 0) return;
    }
    if (ssl_ == nullptr && static_cast<size_t>(n) < sizeof buf) return;
  }
}

void Connection::HandleReply(RedisReply reply) {
  if (state_ == State::kAuth) {
    if (reply.is_error()) {
      std::string who = settings_->username.empty()
                            ? std::string()
                            : absl::StrCat(" for user '", settings_->username, "'");
      Fail(absl::FailedPreconditionError(absl::StrCat(settings_->option_prefix,
                                                      "password: authentication failed", who,
                                                      " (", reply.str(), ")")),
           true);
      return;
    }
    BecomeReady();
    return;
  }
  if (in_flight_.empty()) {
    Fail(absl::UnavailableError(absl::StrCat("redis ", address_, ": unexpected reply ",
                                             reply.DebugString())),
         false);
    return;
  }
  std::shared_ptr<Request> req = std::move(in_flight_.front());
  in_flight_.pop_front();
  if (req == nullptr) return;  // the reply to ASKING
  if (req == wait_marker_) {
    OnWaitReply(reply);
    return;
  }
  if (req->wait_replicas > 0 && !reply.is_error() && !req->done) {
    req->held_reply = std::move(reply);  // until the WAIT after it answers
    return;
  }
  req->in_flight_on = nullptr;
  if (req->done) return;       // timed out meanwhile
  listener_->OnReply(this, std::move(req), std::move(reply));
}

void Connection::OnRequestTimedOut() {
  Fail(absl::UnavailableError(
           absl::StrCat("redis ", address_, ": a request timed out; connection reset")),
       false);
}

void Connection::Close(const absl::Status& why) { Fail(why, false); }

void Connection::Fail(const absl::Status& status, bool backoff) {
  if (connect_timer_) {
    loop_->Cancel(*connect_timer_);
    connect_timer_.reset();
  }
  CloseSocket();
  last_error_ = status;
  if (backoff) {
    state_ = State::kBackoff;
    // Authentication and TLS problems do not fix themselves quickly.
    absl::Duration wait = status.code() == absl::StatusCode::kFailedPrecondition
                              ? settings_->backoff_max
                              : next_backoff_;
    next_backoff_ = std::min(next_backoff_ * 2, settings_->backoff_max);
    if (backoff_timer_) loop_->Cancel(*backoff_timer_);
    backoff_timer_ = loop_->RunAt(absl::Now() + wait, [this]() {
      backoff_timer_.reset();
      if (state_ == State::kBackoff) state_ = State::kIdle;
    });
  } else {
    state_ = State::kIdle;
  }
  std::deque<std::shared_ptr<Request>> in_flight, queued, after_wait;
  std::vector<std::shared_ptr<Request>> held;
  in_flight.swap(in_flight_);
  queued.swap(queued_);
  after_wait.swap(after_wait_);
  for (auto* requests : {&unwaited_, &covered_}) {
    for (auto& r : *requests) {
      if (AwaitsWait(*r)) held.push_back(r);
    }
    requests->clear();
  }
  wait_in_flight_ = false;
  for (auto& r : in_flight) {
    if (r == nullptr || r == wait_marker_) continue;
    r->in_flight_on = nullptr;
    if (!r->done) listener_->OnRequestFailed(this, std::move(r), status, /*maybe_sent=*/true);
  }
  for (auto& r : held) {
    r->in_flight_on = nullptr;
    r->held_reply.reset();
    if (!r->done) {
      listener_->OnRequestFailed(
          this, std::move(r),
          absl::Status(status.code(), absl::StrCat(status.message(), " (the command ran; its WAIT ",
                                                   "for replicas was not answered)")),
          /*maybe_sent=*/true);
    }
  }
  for (auto* requests : {&queued, &after_wait}) {
    for (auto& r : *requests) {
      if (!r->done) listener_->OnRequestFailed(this, std::move(r), status, /*maybe_sent=*/false);
    }
  }
  listener_->OnDisconnected(this, status);
}

}  // namespace orch::redis
