#pragma once

// One connection to one Redis node, owned by (and only touched on) the
// client's EventLoop thread. Internal to common/redis.
//
// States:
//   kIdle --Send--> kConnecting --> [kTls] --> [kAuth] --> kReady
//   any --error--> kBackoff --(backoff elapsed)--> kIdle
// Requests sent before kReady wait in a queue (pipelined on connect).
// Requests sent in kBackoff fail at once ("fail fast"), not sent. On a
// broken connection, in-flight requests fail as maybe-executed.
//
// Requests that wait for replicas (Request::wait_replicas > 0): the first
// flush after one is written appends WAIT, which covers every command
// written before it on this connection. At most one WAIT is in flight;
// waited requests sent meanwhile are held unwritten and go out together,
// with the next WAIT, when it answers (WAIT blocks the connection in Redis
// anyway, so holding them costs nothing and groups them). A non-error reply
// to a waited request is held until its WAIT answers: then the listener
// gets OnReply, or OnRequestFailed (maybe sent) when too few replicas
// acknowledged. Error replies are delivered at once.

#include <openssl/ssl.h>

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/redis/event_loop.h"
#include "common/redis/reply.h"

namespace orch::redis {

class Connection;

// One command on its way, shared by the client (timer, routing) and the
// connection that carries it. Loop-thread only.
struct Request {
  std::string name;    // the command's name (args[0]), for messages
  // The RESP encoding; shared with a re-send of the same command (EVALSHA
  // after SCRIPT LOAD), never copied.
  std::shared_ptr<const std::string> wire;
  int slot = -1;       // cluster slot, -1 = any node
  std::string target;  // explicit node (ASK redirect), overrides slot
  bool asking = false; // send ASKING first (after an ASK redirect)
  bool internal = false;  // the client's own (CLUSTER SLOTS, SCRIPT LOAD): no stats
  bool raw = false;       // complete with whatever comes back: no redirects, no retries
  // Replicas that must acknowledge the write before the reply counts (WAIT);
  // 0: none. wait_timeout is WAIT's own timeout.
  int wait_replicas = 0;
  absl::Duration wait_timeout;
  // The reply, held by the connection until the WAIT after it answers
  // (in_flight_on stays set meanwhile: a timeout then resets the connection).
  std::optional<RedisReply> held_reply;
  absl::Status last_error;  // why the last attempt failed (cluster retries)
  int redirects = 0;
  int retries = 0;
  absl::Time start;
  absl::Time deadline;
  bool done = false;
  Connection* in_flight_on = nullptr;  // written, reply not yet read
  std::optional<EventLoop::TimerId> timer;
  absl::AnyInvocable<void(absl::StatusOr<RedisReply>) &&> callback;
};

// What a connection reports to its owner. Calls happen on the loop thread,
// possibly from inside Connection::Send; owners must not destroy the
// connection from inside these calls (defer it with EventLoop::Post).
class ConnectionListener {
 public:
  virtual ~ConnectionListener() = default;
  virtual void OnReply(Connection* conn, std::shared_ptr<Request> req, RedisReply reply) = 0;
  // `maybe_sent`: the request was written before the failure and may have
  // executed; otherwise it certainly did not reach Redis.
  virtual void OnRequestFailed(Connection* conn, std::shared_ptr<Request> req,
                               absl::Status status, bool maybe_sent) = 0;
  virtual void OnConnected(Connection* conn, bool reconnect) = 0;
  virtual void OnDisconnected(Connection* conn, const absl::Status& why) = 0;
};

// Settings shared by every connection of a client. Immutable after creation.
struct ConnectionSettings {
  std::string username;
  std::string password;
  SSL_CTX* ssl_ctx = nullptr;  // TLS when set; owned by the client
  std::string tls_sni;
  bool tls_verify_server_name = true;
  std::string ca_option;  // "persistence.tls-cacert" (or -cacertdir) for messages
  std::string option_prefix;
  absl::Duration connect_timeout;
  absl::Duration backoff_initial;
  absl::Duration backoff_max;
};

class Connection {
 public:
  enum class State { kIdle, kConnecting, kTls, kAuth, kReady, kBackoff };

  Connection(EventLoop* loop, const ConnectionSettings* settings, std::string host, int port,
             ConnectionListener* listener);
  // Closes without calling the listener for pending requests: the owner
  // fails them itself (it owns their timers).
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  const std::string& address() const { return address_; }
  const std::string& host() const { return host_; }
  State state() const { return state_; }
  const absl::Status& last_error() const { return last_error_; }

  // Queues or writes `req`; connects when idle; fails it at once (not sent)
  // while backing off.
  void Send(std::shared_ptr<Request> req);
  // A request in flight here timed out: the connection is presumed stuck and
  // is closed (other in-flight requests fail as maybe-sent); reconnects on
  // the next Send, without backoff.
  void OnRequestTimedOut();
  // Closes and fails everything pending with `why` (no backoff).
  void Close(const absl::Status& why);
  // Every request queued, in flight, held for a WAIT or not yet written
  // because of one (for the owner's shutdown).
  std::vector<std::shared_ptr<Request>> TakeAll();

 private:
  void StartConnect();
  void OnEvents(uint32_t events);
  void OnConnectDone();
  void DoHandshake();
  void StartAuth();
  void BecomeReady();
  void Write(std::shared_ptr<Request> req);
  void ScheduleFlush();
  void Flush();
  void ReadAvailable();
  void HandleReply(RedisReply reply);
  // Appends WAIT for the waited requests written since the last one.
  void WriteWait();
  void OnWaitReply(const RedisReply& reply);
  // A waited request still owned here: in flight or its reply held.
  bool AwaitsWait(const Request& req) const;
  void UpdateInterest();
  // Tears down the socket; fails queued/in-flight requests via the listener.
  void Fail(const absl::Status& status, bool backoff);
  void CloseSocket();
  std::string TlsError(int ret, const char* what);

  EventLoop* const loop_;
  const ConnectionSettings* const settings_;
  const std::string host_;
  const int port_;
  const std::string address_;
  ConnectionListener* const listener_;

  State state_ = State::kIdle;
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  bool ever_connected_ = false;
  bool want_write_ = false;  // epoll interest in EPOLLOUT
  bool flush_pending_ = false;
  absl::Status last_error_;
  absl::Duration next_backoff_;
  std::optional<EventLoop::TimerId> connect_timer_;
  std::optional<EventLoop::TimerId> backoff_timer_;

  std::unique_ptr<ReplyReader> reader_;
  std::string out_;      // bytes not yet written
  size_t out_offset_ = 0;
  // In flight, in write order; nullptr marks an internal reply to drop
  // (ASKING).
  std::deque<std::shared_ptr<Request>> in_flight_;
  std::deque<std::shared_ptr<Request>> queued_;  // waiting for kReady

  // Replicated writes (see the top of this file).
  std::vector<std::shared_ptr<Request>> unwaited_;  // written since the last WAIT
  std::vector<std::shared_ptr<Request>> covered_;   // covered by the WAIT in flight
  std::deque<std::shared_ptr<Request>> after_wait_;  // not written: a WAIT is in flight
  // In in_flight_ at the WAIT's place (at most one WAIT is in flight).
  const std::shared_ptr<Request> wait_marker_;
  bool wait_in_flight_ = false;
};

}  // namespace orch::redis
