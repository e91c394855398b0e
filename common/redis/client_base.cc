#include "common/redis/client_base.h"

#include <openssl/err.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/base/check.h"
#include "common/redis/cluster_slots.h"

namespace orch::redis {
namespace {

std::string LastOpenSslError() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    const char* reason = ERR_reason_error_string(e);
    out = reason != nullptr ? reason : "unknown error";
  }
  return out;
}

}  // namespace

absl::StatusOr<SslCtxPtr> MakeClientSslContext(const RedisOptions& o) {
  const std::string& p = o.option_prefix;
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (ctx == nullptr) return absl::InternalError("SSL_CTX_new: " + LastOpenSslError());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (!o.tls_cacert.empty() || !o.tls_cacertdir.empty()) {
    const char* file = o.tls_cacert.empty() ? nullptr : o.tls_cacert.c_str();
    const char* dir = o.tls_cacertdir.empty() ? nullptr : o.tls_cacertdir.c_str();
    if (SSL_CTX_load_verify_locations(ctx.get(), file, dir) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(p, file != nullptr ? "tls-cacert" : "tls-cacertdir",
                       ": cannot load CA certificates: ", LastOpenSslError()));
    }
  } else if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        p, "tls-cacert: not set and the system CA store cannot be loaded: ", LastOpenSslError()));
  }
  if (!o.tls_cert.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), o.tls_cert.c_str()) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(p, "tls-cert: cannot use '", o.tls_cert, "': ", LastOpenSslError()));
    }
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), o.tls_key.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx.get()) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(p, "tls-key: cannot use '", o.tls_key, "': ", LastOpenSslError()));
    }
  }
  return ctx;
}

ClientBase::ClientBase(RedisOptions options) : options_(std::move(options)) {}

ClientBase::~ClientBase() {
  // Derived classes must have called Shutdown(); this is a safety net for a
  // failed Init().
  ORCH_CHECK(loop_ == nullptr || shut_down_, "derived RedisClient did not call Shutdown()");
}

absl::Status ClientBase::Init() {
  settings_.username = options_.username;
  settings_.password = options_.password;
  settings_.tls_sni = options_.tls_sni;
  settings_.tls_verify_server_name = options_.tls_verify_server_name;
  settings_.option_prefix = options_.option_prefix;
  settings_.ca_option = options_.option_prefix +
                        (options_.tls_cacert.empty() && !options_.tls_cacertdir.empty()
                             ? "tls-cacertdir"
                             : "tls-cacert");
  settings_.connect_timeout = options_.connect_timeout;
  settings_.backoff_initial = options_.backoff_initial;
  settings_.backoff_max = options_.backoff_max;
  if (options_.tls_enabled) {
    absl::StatusOr<SslCtxPtr> ctx = MakeClientSslContext(options_);
    if (!ctx.ok()) return ctx.status();
    ssl_ctx_ = *std::move(ctx);
    settings_.ssl_ctx = ssl_ctx_.get();
  }
  absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
  if (!loop.ok()) return loop.status();
  loop_ = *std::move(loop);
  loop_->Start();
  return absl::OkStatus();
}

void ClientBase::Shutdown() {
  if (loop_ == nullptr || shut_down_) return;
  loop_->Stop([this] {
    shut_down_ = true;
    std::vector<std::shared_ptr<Request>> live;
    for (auto& [ptr, req] : live_) live.push_back(req);
    for (auto& req : live) Complete(req, absl::CancelledError("Redis client shut down"));
    ShutdownInLoop();
  });
  shut_down_ = true;
}

namespace {

// A waited request may take WAIT's timeout longer.
absl::Time DeadlineOf(absl::Duration timeout, const ReplicaWait& wait) {
  return absl::Now() + timeout + (wait.replicas > 0 ? wait.timeout : absl::ZeroDuration());
}

}  // namespace

std::shared_ptr<Request> ClientBase::MakeRequest(std::vector<std::string> args,
                                                 absl::Time deadline, Callback done,
                                                 const ReplicaWait& wait) {
  const int slot = CommandSlot(args);
  std::string name = args.empty() ? std::string("?") : args[0];
  return MakeWireRequest(std::make_shared<const std::string>(FormatCommand(args)), slot,
                         std::move(name), deadline, std::move(done), wait);
}

std::shared_ptr<Request> ClientBase::MakeWireRequest(std::shared_ptr<const std::string> wire,
                                                     int slot, std::string name,
                                                     absl::Time deadline, Callback done,
                                                     const ReplicaWait& wait) {
  auto req = std::make_shared<Request>();
  req->name = std::move(name);
  req->wire = std::move(wire);
  req->slot = slot;
  req->start = absl::Now();
  req->deadline = deadline;
  req->callback = std::move(done);
  if (wait.replicas > 0) {
    req->wait_replicas = wait.replicas;
    req->wait_timeout = std::max(wait.timeout, absl::Milliseconds(1));
  }
  return req;
}

void ClientBase::Execute(std::vector<std::string> args, absl::Duration timeout,
                         const ReplicaWait& wait, Callback done) {
  auto req = MakeRequest(std::move(args), DeadlineOf(timeout, wait), std::move(done), wait);
  loop_->Post([this, req]() mutable { Start(std::move(req)); });
}

void ClientBase::ExecuteBatch(std::vector<std::vector<std::string>> commands,
                              absl::Duration timeout, const ReplicaWait& wait,
                              BatchCallback done) {
  struct Batch {
    std::vector<absl::StatusOr<RedisReply>> results;
    size_t left;
    BatchCallback done;
  };
  const size_t n = commands.size();
  if (n == 0) {
    loop_->Post([done = std::move(done)]() mutable { std::move(done)({}); });
    return;
  }
  auto batch = std::make_shared<Batch>();
  batch->results.resize(n, absl::UnknownError("not finished"));
  batch->left = n;
  batch->done = std::move(done);
  const absl::Time deadline = DeadlineOf(timeout, wait);
  std::vector<std::shared_ptr<Request>> reqs;
  reqs.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    reqs.push_back(MakeRequest(
        std::move(commands[i]), deadline,
        [batch, i](absl::StatusOr<RedisReply> r) {
          batch->results[i] = std::move(r);
          if (--batch->left == 0) std::move(batch->done)(std::move(batch->results));
        },
        wait));
  }
  // One task: the commands are written back to back (pipelined).
  loop_->Post([this, reqs = std::move(reqs)]() mutable {
    for (auto& r : reqs) Start(std::move(r));
  });
}

void ClientBase::EvalSha(const RedisScript& script, std::vector<std::string> keys,
                         std::vector<std::string> args, absl::Duration timeout,
                         const ReplicaWait& wait, Callback done) {
  std::string wire = BeginEvalSha(script, keys.size(), keys.size() + args.size());
  size_t size = wire.size();
  for (const auto& k : keys) size += k.size() + 16;
  for (const auto& a : args) size += a.size() + 16;
  wire.reserve(size);
  CommandWriter w(&wire);
  for (const auto& k : keys) w.Add(k);
  for (const auto& a : args) w.Add(a);
  const int slot = keys.empty() ? -1 : KeySlot(keys[0]);
  EvalShaWire(script, std::move(wire), slot, timeout, wait, std::move(done));
}

void ClientBase::EvalShaWire(const RedisScript& script, std::string wire, int slot,
                             absl::Duration timeout, const ReplicaWait& wait, Callback done) {
  auto shared_wire = std::make_shared<const std::string>(std::move(wire));
  const absl::Time deadline = DeadlineOf(timeout, wait);
  loop_->Post([this, script, shared_wire = std::move(shared_wire), slot, deadline, wait,
               done = std::move(done)]() mutable {
    StartEvalSha(std::move(script), std::move(shared_wire), slot, deadline, wait,
                 std::move(done), false);
  });
}

void ClientBase::StartEvalSha(RedisScript script, std::shared_ptr<const std::string> wire, int slot,
                              absl::Time deadline, ReplicaWait wait, Callback done, bool loaded) {
  auto on_reply = [this, script, wire, slot, deadline, wait, loaded,
                   done = std::move(done)](absl::StatusOr<RedisReply> r) mutable {
    if (loaded || !r.ok() || r->error_code() != "NOSCRIPT") {
      std::move(done)(std::move(r));
      return;
    }
    // NOSCRIPT: load the script on the node that serves the keys, then retry.
    auto load = MakeRequest(
        {"SCRIPT", "LOAD", script.body()}, deadline,
        [this, script, wire = std::move(wire), slot, deadline, wait,
         done = std::move(done)](absl::StatusOr<RedisReply> loaded_reply) mutable {
          if (!loaded_reply.ok() || loaded_reply->is_error()) {
            std::move(done)(std::move(loaded_reply));
            return;
          }
          StartEvalSha(std::move(script), std::move(wire), slot, deadline, wait, std::move(done),
                       true);
        });
    load->slot = slot;
    load->internal = true;
    Start(std::move(load));
  };
  Start(MakeWireRequest(std::move(wire), slot, "EVALSHA", deadline, std::move(on_reply), wait));
}

void ClientBase::Start(std::shared_ptr<Request> req) {
  if (shut_down_) {
    std::move(req->callback)(absl::CancelledError("Redis client shut down"));
    return;
  }
  live_[req.get()] = req;
  std::weak_ptr<Request> weak = req;
  req->timer = loop_->RunAt(req->deadline, [this, weak]() {
    if (auto r = weak.lock()) {
      r->timer.reset();
      OnTimeout(r);
    }
  });
  Route(std::move(req));
}

void ClientBase::OnTimeout(const std::shared_ptr<Request>& req) {
  if (req->done) return;
  Connection* conn = req->in_flight_on;
  const absl::Duration waited = absl::Now() - req->start;
  const std::string within = absl::FormatDuration(absl::Trunc(waited, absl::Milliseconds(1)));
  std::string msg =
      req->held_reply.has_value()
          ? absl::StrCat("redis: ", req->name, " ran, but WAIT for ", req->wait_replicas,
                         " replicas did not answer within ", within,
                         " (the write may or may not be replicated)")
          : absl::StrCat("redis: no reply to ", req->name, " within ", within);
  if (conn != nullptr) absl::StrAppend(&msg, " from ", conn->address());
  if (!req->last_error.ok()) absl::StrAppend(&msg, "; last error: ", req->last_error.message());
  Complete(req, absl::UnavailableError(msg));
  if (conn != nullptr) conn->OnRequestTimedOut();
}

void ClientBase::Complete(const std::shared_ptr<Request>& req, absl::StatusOr<RedisReply> result) {
  if (req->done) return;
  req->done = true;
  if (req->timer) {
    loop_->Cancel(*req->timer);
    req->timer.reset();
  }
  live_.erase(req.get());
  if (!req->internal) {
    const absl::Duration latency = absl::Now() - req->start;
    counters_.requests.fetch_add(1, std::memory_order_relaxed);
    if (!result.ok()) counters_.failed.fetch_add(1, std::memory_order_relaxed);
    counters_.latency_ns.fetch_add(absl::ToInt64Nanoseconds(latency), std::memory_order_relaxed);
    if (options_.observer != nullptr) options_.observer->OnRequestDone(latency, result.ok());
  }
  auto callback = std::move(req->callback);
  std::move(callback)(std::move(result));
}

void ClientBase::OnReply(Connection* conn, std::shared_ptr<Request> req, RedisReply reply) {
  Complete(req, std::move(reply));
}

void ClientBase::OnRequestFailed(Connection* conn, std::shared_ptr<Request> req,
                                 absl::Status status, bool maybe_sent) {
  Complete(req, std::move(status));
}

void ClientBase::OnConnected(Connection* conn, bool reconnect) {
  counters_.connects.fetch_add(1, std::memory_order_relaxed);
  if (reconnect) {
    counters_.reconnects.fetch_add(1, std::memory_order_relaxed);
    if (options_.observer != nullptr) options_.observer->OnReconnect(conn->address());
  }
}

RedisClientStats ClientBase::stats() const {
  RedisClientStats s;
  s.requests = counters_.requests.load();
  s.failed = counters_.failed.load();
  s.moved = counters_.moved.load();
  s.ask = counters_.ask.load();
  s.retries = counters_.retries.load();
  s.connects = counters_.connects.load();
  s.reconnects = counters_.reconnects.load();
  s.topology_refreshes = counters_.topology_refreshes.load();
  s.total_latency = absl::Nanoseconds(counters_.latency_ns.load());
  return s;
}

}  // namespace orch::redis
