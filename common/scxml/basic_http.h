#pragma once

// The BasicHTTP Event I/O Processor (W3C SCXML 1.0, Appendix C.2).
//
// Receiving: BasicHttpServer listens (civetweb, loopback by default) and
// turns each request to /scxml/<session id> into an event for that session:
// the name is the _scxmleventname parameter, else "HTTP.<METHOD>"; the other
// form parameters become _event.data (an object), a body that is not a form
// becomes _event.data as a string; _event.raw is the whole request.
// Sending: BasicHttpSend POSTs an event with libcurl: _scxmleventname plus
// the data object's fields form-encoded, or <content> as the body.
//
// civetweb was chosen because Debian ships it (prometheus-cpp depends on it,
// so it is already installed), it is a maintained embeddable server with
// its own request parsing, and it serves TLS when needed.

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/scxml/interpreter.h"
#include "common/scxml/io_processors.h"

struct mg_context;
struct mg_connection;

namespace orch::scxml {

class BasicHttpServer {
 public:
  // Called on a server thread for every accepted request.
  using Sink = std::function<void(const std::string& session_id, Event event)>;

  static absl::StatusOr<std::unique_ptr<BasicHttpServer>> Start(const std::string& listen, Sink sink,
                                                                size_t max_body_bytes = 1 << 20);
  ~BasicHttpServer();
  BasicHttpServer(const BasicHttpServer&) = delete;
  BasicHttpServer& operator=(const BasicHttpServer&) = delete;

  // http://<host>:<port>/scxml/<session id>
  std::string LocationFor(const std::string& session_id) const;
  // _ioprocessors members for a session (JSON, without braces).
  std::string IoProcessorsMembers(const std::string& session_id) const;

 private:
  BasicHttpServer() = default;
  static int Handle(mg_connection* conn, void* self);

  mg_context* ctx_ = nullptr;
  std::string base_;
  Sink sink_;
  size_t max_body_bytes_ = 0;
};

// POSTs `event` to `url`. UNAVAILABLE when the peer cannot be reached or
// does not answer 2xx within 10 s; INVALID_ARGUMENT for an empty target.
absl::Status BasicHttpSend(const std::string& url, const Event& event);

}  // namespace orch::scxml
