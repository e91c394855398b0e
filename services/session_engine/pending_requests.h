#pragma once

// Request calls waiting for their session's answer. A Request registers
// (getting the id that goes into the event's origin), delivers the event,
// then waits; the chart's <send> to that origin (or <session:response>)
// answers it through the send router. The first answer counts; answers to
// unknown ids (a replayed answer, or one after the caller gave up) are
// dropped.
//
//   ASSIGN_OR_RETURN(auto ticket, pending.Register());
//   ... deliver an event with origin kRequestOriginPrefix + ticket.id() ...
//   ASSIGN_OR_RETURN(auto reply, ticket.Wait(deadline_ms));
//
// Thread-safe.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/scxml/interpreter.h"
#include "common/time/clock.h"

namespace orch::session_engine {

// _event.origin of a Request's event starts with this (then the request's
// id): a <send targetexpr="_event.origin"> answers it. The SCXML I/O
// processor's "#_scxml_" form keeps such a send inside the W3C rules; the
// rest is never a session id (those start with '~').
inline constexpr char kRequestOriginPrefix[] = "#_scxml_request-";

class PendingRequests {
 public:
  static constexpr size_t kMaxWaiting = 100000;

  struct Reply {
    std::string name;
    std::string data_json;  // "undefined" when the answer has no data
  };

 private:
  struct State {
    absl::Mutex mu;
    absl::CondVar cv;
    bool answered ABSL_GUARDED_BY(mu) = false;
    Reply reply ABSL_GUARDED_BY(mu);
  };

 public:
  // One waiting request; unregisters when destroyed.
  class Ticket {
   public:
    Ticket(Ticket&& o) noexcept
        : owner_(std::exchange(o.owner_, nullptr)), id_(std::move(o.id_)), state_(std::move(o.state_)) {}
    ~Ticket();
    const std::string& id() const { return id_; }
    // Waits for the answer until `deadline_ms` (monotonic, on the clock);
    // DEADLINE_EXCEEDED then.
    absl::StatusOr<Reply> Wait(int64_t deadline_ms);

   private:
    friend class PendingRequests;
    Ticket(PendingRequests* owner, std::string id, std::shared_ptr<State> state)
        : owner_(owner), id_(std::move(id)), state_(std::move(state)) {}
    PendingRequests* owner_;
    std::string id_;
    std::shared_ptr<State> state_;
  };

  // Ids are "<prefix>-<n>": the instance id makes them unique across restarts.
  PendingRequests(std::string prefix, time::Clock* clock) : prefix_(std::move(prefix)), clock_(clock) {}

  // RESOURCE_EXHAUSTED beyond kMaxWaiting.
  absl::StatusOr<Ticket> Register();
  void Answer(const std::string& id, const scxml::Event& reply);

 private:
  void Forget(const std::string& id);

  const std::string prefix_;
  time::Clock* const clock_;
  std::atomic<uint64_t> counter_{0};
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<State>> waiting_ ABSL_GUARDED_BY(mu_);
};

}  // namespace orch::session_engine
