#pragma once

// Where the sessions' effects go (the SessionOutbox of every LiveSession),
// without a session worker ever waiting for I/O:
//
//   <send> target                         goes to
//   "#_scxml_request-<id>"                PendingRequests (the waiting Request call); not in replay
//   "#_scxml_<session on this node>"      the sends thread → Deliver (the target's normal input path)
//   "#_scxml_<session on another node>"   the sends thread → PeerSessions (that node's primary)
//   type BasicHTTP, an http(s) URL        the I/O threads → POST; a failure comes back to the
//                                         sender as an `error.communication` event (an input,
//                                         logged like any other)
//   type a functional module (an action   CallActions → the call-watcher of the session's
//   such as <ixn:redirect>)               interaction; results come back from call-watcher as
//                                         events; a failure to hand it over comes back as
//                                         `error.<module>.<action>` (an input, like the above)
//
// Sends to sessions carry the sender's deterministic effect id
// (LiveSession::NextEffectId): after a crash the entries since the last
// snapshot are replayed with their sends re-issued, and receivers drop the
// ones they already have. While a send is in flight the sender takes no
// snapshot (LiveSession::sends_in_flight). BasicHTTP sends are at least once
// in the same way (a replay re-issues them); the HTTP peer has no effect id
// to de-duplicate by.
//
// <log> lines go to the process log; documents for <invoke> come from the
// DocumentCache.
//
// Thread-safe; Send and Log are called on session workers and never block.

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "orch/event/v1/event.pb.h"
#include "orch/session/v1/sessions.pb.h"
#include "services/session_engine/call_actions.h"
#include "services/session_engine/documents.h"
#include "services/session_engine/live_session.h"
#include "services/session_engine/pending_requests.h"
#include "services/session_engine/task_runner.h"

namespace orch::session_engine {

// Sessions on other nodes: a SendEvent to node `node`'s primary. `done`
// runs once, on any thread, with the call's status (the peer's own code
// when it answered), within a bounded time (the implementation's deadline):
// the router's sends thread waits for it, to keep sends in order.
class PeerSessions {
 public:
  virtual ~PeerSessions() = default;
  virtual void SendEvent(int node, session::v1::SendEventRequest request, std::function<void(absl::Status)> done) = 0;
};

// Sends one BasicHTTP event (blocking; runs on the router's I/O threads).
using HttpSend = std::function<absl::Status(const std::string& url, const scxml::Event& event)>;

class SendRouter final : public SessionOutbox {
 public:
  // An input for a session of this node, through the engine's normal path.
  using Deliver = std::function<absl::Status(const std::string& session_id, const event::v1::Event& event)>;

  struct Options {
    int node_id = 1;
    int io_threads = 4;   // concurrent BasicHTTP sends
  };

  // Every pointer must outlive the router; `actions` may be null (module
  // actions then fail with error.<module>.<action>).
  SendRouter(Options options, PendingRequests* requests, DocumentCache* documents, PeerSessions* peers,
             CallActions* actions, Deliver deliver, HttpSend http);
  ~SendRouter() override;

  // Finishes what was handed over, then refuses further sends.
  void Stop();

  void Log(const LiveSession& from, std::string_view label, std::string_view value_json) override;
  absl::Status Send(LiveSession& from, const std::string& target, const std::string& type,
                    const scxml::Event& event) override;
  absl::StatusOr<std::shared_ptr<const scxml::Document>> LoadDocument(const std::string& src,
                                                                      const std::string& base) override;
  absl::StatusOr<std::shared_ptr<const scxml::Document>> CompileSource(const std::string& source,
                                                                       const std::string& name) override;

 private:
  absl::Status SendToSession(LiveSession& from, const std::string& target, const scxml::Event& event);
  absl::Status SendHttp(LiveSession& from, const std::string& target, const scxml::Event& event);
  absl::Status SendAction(LiveSession& from, std::string_view module, const scxml::Event& event);
  // Delivers `event` to `session` on the sends thread (a failure of an
  // effect of the session, coming back to it as an input).
  void DeliverFailure(const std::string& session, event::v1::Event event, std::shared_ptr<void> held);

  const Options options_;
  PendingRequests* const requests_;
  DocumentCache* const documents_;
  PeerSessions* const peers_;
  CallActions* const actions_;
  const Deliver deliver_;
  const HttpSend http_;
  TaskRunner sends_{1};   // in order: one session's sends arrive in the order sent
  TaskRunner io_;
};

}  // namespace orch::session_engine
