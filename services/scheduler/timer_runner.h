#pragma once

// TimerRunner: the scheduler's work — storing timers for the API, claiming
// the due timers of the buckets this replica owns (Membership), firing each
// at its due time, and acknowledging it once its action is done.
//
// The flow of a timer (services/scheduler/README.md has the picture):
//   ScheduleTimer: check, store (AddSchedule), answer. A timer due within
//   `horizon_ms` is stored already claimed by this replica and held here, so
//   it needs no poll; a later one is stored unclaimed.
//   Poll (every poll_interval_ms, per owned bucket): ClaimDue with the
//   horizon: every unclaimed timer due by the proxy's now + horizon is
//   claimed until due + claim_timeout_ms, and held here.
//   Fire: at its due time (the proxy's clock, carried over as an offset to
//   this process's monotonic clock), its action goes to the session's node
//   through SessionCalls: a start with the timer as idempotency key, an event
//   with the timer as effect id, a terminate, a wake.
//   Ack: when the action is done (or has nothing left to act on, or failed
//   for good), AckSchedule with the claim token removes the timer. A retry-
//   able failure (engine down, busy) leaves it: it is handed out again when
//   its claim runs out, by whichever replica owns its bucket then.
// A timer is therefore fired at least once; its effect is applied once by
// the engine (idempotency key, effect id). A replica that dies leaves the
// timers it claimed to be handed out after their claim, and its buckets to
// the others (Membership).
//
// Threads: a poller, a firer and `ack_threads` acknowledgers, started by
// Start() and joined by Stop(). The API methods block on the store and may
// run on any thread. Time: the injected clock (wall time only as a stand-in
// for the proxy's before its first answer; waiting on the monotonic clock).

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <queue>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/time/clock.h"
#include "orch/scheduler/v1/scheduler.pb.h"
#include "services/scheduler/membership.h"
#include "services/scheduler/scheduler_metrics.h"
#include "services/scheduler/session_calls.h"
#include "services/scheduler/timer_store.h"
#include "services/scheduler/timers.h"

namespace orch::scheduler {

struct RunnerOptions {
  int buckets = 16;
  int64_t claim_timeout_ms = 3000;
  int64_t horizon_ms = 500;
  int64_t poll_interval_ms = 200;
  uint32_t max_claim = 1000;        // per bucket and poll
  int64_t past_due_latency_ms = 5000;
  std::vector<int> nodes;           // a start's node when the timer names none
  int ack_threads = 4;
  // Flow control: firings waiting for the engine's answer, and timers
  // claimed and held here. Beyond them this replica stops firing / claiming
  // until some finish: a timer claimed but not fired within its claim would
  // be handed out (and fired) again.
  int64_t max_in_flight = 1000;
  int64_t max_held = 5000;
};

class TimerRunner {
 public:
  // Nothing is owned; all must outlive the runner.
  TimerRunner(RunnerOptions options, TimerStore* store, Membership* membership, SessionCalls* calls,
              time::Clock* clock, SchedulerMetrics* metrics);
  ~TimerRunner();

  void Start();
  // Stops polling and firing; firings in flight finish on their own (the
  // SessionCalls' owner bounds them); queued acknowledgements are made.
  void Stop();

  // The API (scheduler.proto states the contract).
  absl::StatusOr<sched::ScheduleTimerResponse> Schedule(sched::Timer timer);
  absl::StatusOr<bool> Cancel(const std::string& timer_id);
  absl::StatusOr<sched::RescheduleTimerResponse> Reschedule(const std::string& timer_id, int64_t due_ms);
  absl::StatusOr<sched::TimerStatus> Get(const std::string& timer_id);
  absl::StatusOr<sched::ListTimersResponse> List(const sched::ListTimersRequest& req);

  // One round of the poller (membership, then a claim per owned bucket) and
  // of the firer (what is due now): what the threads do, for unit tests that
  // drive time themselves without Start().
  void PollOnce();
  void FireDue();
  // Acknowledgements queued and not yet made (tests).
  size_t QueuedAcks() const ABSL_LOCKS_EXCLUDED(mu_);
  void DrainAcks();

 private:
  struct Held {
    int64_t fire_mono = 0;     // when to fire, on the monotonic clock
    int64_t due_ms = 0;        // the proxy's clock
    std::string bucket;
    std::string id;
    uint64_t token = 0;
    bool operator>(const Held& o) const { return fire_mono > o.fire_mono; }
  };
  struct Ack {
    std::string bucket;
    std::string id;
    uint64_t token = 0;
  };

  // The proxy's clock now, estimated from its last answer.
  int64_t ProxyNowMs() const ABSL_LOCKS_EXCLUDED(mu_);
  void NoteProxyNow(int64_t proxy_now_ms) ABSL_LOCKS_EXCLUDED(mu_);
  void StoreResult(const char* op, const absl::Status& s);
  // Holds a claimed entry until its due time.
  void Hold(const std::string& bucket, const std::string& id, int64_t due_ms, uint64_t token, std::string payload)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Forget(const std::string& bucket, const std::string& id) ABSL_LOCKS_EXCLUDED(mu_);
  void Fire(const Held& h, sched::Timer timer);
  void Finish(const Held& h, const sched::Timer& timer, const absl::Status& s, const std::string& session_id);
  void Reply(const Held& h, const sched::Timer& timer, const absl::Status& s, const std::string& session_id);
  void QueueAck(Ack a) ABSL_LOCKS_EXCLUDED(mu_);
  void AckOne(const Ack& a);
  void AckBatch(std::vector<Ack> acks);
  static constexpr size_t kMaxAckBatch = 500;
  static constexpr int64_t kAckLingerMs = 5;
  void PollerLoop();
  void FirerLoop();
  void AckerLoop();

  const RunnerOptions options_;
  TimerStore* const store_;
  Membership* const membership_;
  SessionCalls* const calls_;
  time::Clock* const clock_;
  SchedulerMetrics* const metrics_;

  mutable absl::Mutex mu_;
  absl::CondVar fire_cv_;   // a new earliest timer, or stopping
  absl::CondVar poll_cv_;   // stopping
  absl::CondVar ack_cv_;    // an acknowledgement queued, or stopping
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool have_offset_ ABSL_GUARDED_BY(mu_) = false;
  int64_t proxy_minus_mono_ ABSL_GUARDED_BY(mu_) = 0;   // the proxy's clock - our monotonic clock
  std::priority_queue<Held, std::vector<Held>, std::greater<Held>> heap_ ABSL_GUARDED_BY(mu_);
  // The timers held here: (bucket, id) -> (token, payload). A heap entry
  // whose token is no longer here was replaced, cancelled or fired.
  std::map<std::pair<std::string, std::string>, std::pair<uint64_t, std::string>> held_ ABSL_GUARDED_BY(mu_);
  std::deque<Ack> acks_ ABSL_GUARDED_BY(mu_);
  bool acks_closed_ ABSL_GUARDED_BY(mu_) = false;
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;   // firings sent, not yet answered   // Stop has drained the queue: acknowledge inline
  std::thread poller_;
  std::thread firer_;
  std::vector<std::thread> ackers_;
};

}  // namespace orch::scheduler
