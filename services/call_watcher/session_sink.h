#pragma once

// SessionSink: where call-watcher starts the session of a call and sends it
// the call's events. GrpcSessionSink goes through sessionapi::SessionsClient
// (the node's primary, from its lease); FakeSessionSink records the calls
// for unit tests and answers them when the test says.
//
// Both calls are asynchronous: `done` runs exactly once, on any thread, or
// inline before the call returns; it must not block. Errors are the
// engine's (SessionsClient's contract): UNAVAILABLE / DEADLINE_EXCEEDED may
// be retried (starts carry an idempotency key and events an effect id), the
// others are final (e.g. a document that cannot be fetched or compiled).
// Thread-safe.

#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "orch/session/v1/sessions.pb.h"

namespace orch::sessionapi {
class SessionsClient;
}

namespace orch::call_watcher {

namespace sv1 = ::orch::session::v1;

template <typename T>
using SinkDone = std::function<void(absl::StatusOr<T>)>;

class SessionSink {
 public:
  virtual ~SessionSink() = default;
  virtual void StartSession(int node, sv1::StartSessionRequest req, SinkDone<sv1::StartSessionResponse> done) = 0;
  virtual void SendEvent(int node, sv1::SendEventRequest req, SinkDone<sv1::SendEventResponse> done) = 0;
};

class GrpcSessionSink final : public SessionSink {
 public:
  // `client` is not owned and must outlive the sink.
  explicit GrpcSessionSink(sessionapi::SessionsClient* client) : client_(client) {}
  void StartSession(int node, sv1::StartSessionRequest req, SinkDone<sv1::StartSessionResponse> done) override;
  void SendEvent(int node, sv1::SendEventRequest req, SinkDone<sv1::SendEventResponse> done) override;

 private:
  sessionapi::SessionsClient* const client_;
};

// Records every call. With auto-answer (the default) a start answers
// SessionIdForKey(node, idempotency key) and an event answers OK, both
// inline, except a start whose url was given to FailUrl (and whose
// alternate was too, or is empty): INVALID_ARGUMENT "cannot fetch <url>".
// Without auto-answer the calls wait for AnswerNextStart/AnswerNextSend.
class FakeSessionSink final : public SessionSink {
 public:
  struct Start {
    int node;
    sv1::StartSessionRequest req;
  };
  struct Send {
    int node;
    sv1::SendEventRequest req;
  };

  void StartSession(int node, sv1::StartSessionRequest req, SinkDone<sv1::StartSessionResponse> done) override;
  void SendEvent(int node, sv1::SendEventRequest req, SinkDone<sv1::SendEventResponse> done) override;

  void SetAutoAnswer(bool on) ABSL_LOCKS_EXCLUDED(mu_);
  void FailUrl(const std::string& url) ABSL_LOCKS_EXCLUDED(mu_);
  // Answers the oldest held SendEvent (false: none held).
  bool AnswerNextSend(absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);
  bool AnswerNextStart(absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);

  std::vector<Start> starts() const ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<Send> sends() const ABSL_LOCKS_EXCLUDED(mu_);
  // Names of the events sent to `session_id`, in order.
  std::vector<std::string> EventNames(const std::string& session_id) const ABSL_LOCKS_EXCLUDED(mu_);
  // The last event named `name` (any session); a default Event when none.
  ::orch::event::v1::Event LastEvent(const std::string& name) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::StatusOr<sv1::StartSessionResponse> AnswerStart(int node, const sv1::StartSessionRequest& req)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  bool auto_answer_ ABSL_GUARDED_BY(mu_) = true;
  std::vector<std::string> failing_urls_ ABSL_GUARDED_BY(mu_);
  std::vector<Start> starts_ ABSL_GUARDED_BY(mu_);
  std::vector<Send> sends_ ABSL_GUARDED_BY(mu_);
  struct HeldStart {
    int node;
    sv1::StartSessionRequest req;
    SinkDone<sv1::StartSessionResponse> done;
  };
  std::deque<HeldStart> held_starts_ ABSL_GUARDED_BY(mu_);
  std::deque<SinkDone<sv1::SendEventResponse>> held_sends_ ABSL_GUARDED_BY(mu_);
};

}  // namespace orch::call_watcher
