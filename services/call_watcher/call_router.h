#pragma once

// CallRouter: call-watcher's logic between the adapters' links, the
// sessions and the store (calls-contract.md §1–§4).
//
// - Links: the adapter sequence rules (adapter_link.h); per adapter the
//   unanswered SwitchRequests, resent with the same id after a reconnection.
// - Calls: a ROUTE_REQUEST on a DN with an application, or NEW_INTERACTION,
//   claims the call in the CallStore, starts its session (node: rendezvous
//   hash of the call_uuid over `nodes`; idempotency key "call:<uuid>") and
//   delivers the call's events to it in order, one in flight per call, calls
//   in parallel; each event acknowledged once its session has it. A session
//   that cannot be started: Rejected + the DN's default route.
// - Actions (SubmitAction): de-duplicated by effect id per call; switch
//   requests down; results back as `<prefix>.<action>.done` / `error.…`
//   events with effect ids "cw/<action effect id>/<n>".
// - Queue: waiting submits (priority, then age), targets from the feed
//   (longest idle first), a target given only after CallStore::ReserveTarget
//   answers this call (so two replicas never give one agent twice).
// - Timers (Tick): default route of calls not routed in time, queue
//   timeouts, reservation TTLs, retries of deliveries and starts.
//
// Threading: thread-safe; one mutex guards the state. Sink and store calls
// are made without it: the sink's are asynchronous, the store's (blocking)
// go through `run_blocking`, which must run the function on another thread
// (or inline, in tests: then everything happens on the caller's thread).
// LinkChannel methods are called with the mutex held (they only queue).

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/time/clock.h"
#include "orch/calls/v1/calls.pb.h"
#include "services/call_watcher/adapter_link.h"
#include "services/call_watcher/call_metrics.h"
#include "services/call_watcher/call_store.h"
#include "services/call_watcher/dn_config.h"
#include "services/call_watcher/session_sink.h"
#include "services/call_watcher/targets.h"

namespace orch::call_watcher {

struct CallRouterOptions {
  std::string watcher;                  // this replica's advertised gRPC address (InteractionBinding.watcher)
  std::string cluster;                  // selects application@<cluster>; "" = none
  std::vector<int> nodes = {1};         // session-engine nodes sessions start on
  int64_t default_route_timeout_ms = 30000;
  int64_t reservation_ttl_ms = 15000;
  int64_t call_ttl_ms = 4 * 3600 * 1000;   // the call record's TTL in the store
  int64_t retry_ms = 200;               // between attempts to reach a session (UNAVAILABLE)
  int max_attempts = 5;                 // of a start or a delivery before giving up
  int64_t lost_target_retry_ms = 1000;  // a target reserved by another replica is skipped this long
  // Admission: while this many events wait for their sessions (engines
  // slower than the calls coming in), a new call is not started: it gets
  // its DN's default route at once (0 = no limit). Overload then degrades
  // into default routes instead of every call waiting longer.
  int64_t max_queued_events = 2000;
};

// Runs a function that blocks (CallStore calls), not on the caller's thread.
using BlockingRunner = std::function<void(std::function<void()>)>;

class CallRouter final : public LinkHandler {
 public:
  // Not owned, must outlive the router: every pointer. `dn` gives the
  // current DN file.
  CallRouter(CallRouterOptions options, std::function<std::shared_ptr<const DnConfig>()> dn, SessionSink* sink,
             CallStore* store, BlockingRunner run_blocking, time::Clock* clock, CallMetrics* metrics);
  ~CallRouter() override;

  // LinkHandler.
  absl::Status Attach(const cv1::Hello& hello, LinkChannel* link) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status OnMessage(const std::string& adapter_id, LinkChannel* link, const cv1::AdapterMessage& msg) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void Detach(const std::string& adapter_id, LinkChannel* link) override ABSL_LOCKS_EXCLUDED(mu_);

  // CallWatcher.SubmitAction: NOT_FOUND for a call this replica does not
  // know, INVALID_ARGUMENT for an unknown module or a missing field.
  absl::StatusOr<cv1::SubmitActionResponse> SubmitAction(const cv1::SubmitActionRequest& req)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<cv1::GetCallResponse> GetCall(const std::string& call_uuid) ABSL_LOCKS_EXCLUDED(mu_);
  cv1::ListTargetsResponse ListTargets() ABSL_LOCKS_EXCLUDED(mu_);

  // Replaces options.watcher for calls started from now on (the address
  // the server actually bound, when it listens on port 0).
  void SetWatcher(std::string watcher) ABSL_LOCKS_EXCLUDED(mu_);

  // Runs what came due on the clock; call it every few tens of ms.
  void Tick() ABSL_LOCKS_EXCLUDED(mu_);

  // The node a call's session runs on: rendezvous hash over `nodes`.
  static int NodeFor(const std::string& call_uuid, const std::vector<int>& nodes);

  // Calls known (tests, metrics).
  size_t CallCount() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Adapter;
  struct Call;
  struct Action;
  struct Pending;
  struct Outgoing;
  using Effects = std::vector<std::function<void()>>;

  // Each takes the lock's state and queues what must run without it.
  absl::Status OnInteraction(Adapter& a, const cv1::InteractionEvent& e, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status OnTarget(Adapter& a, const cv1::TargetEvent& e, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnResult(Adapter& a, const cv1::RequestResult& r, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartCall(Adapter& a, const cv1::InteractionEvent& e, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnClaimed(const std::string& uuid, absl::StatusOr<ClaimResult> r, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendStart(Call& c, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnStarted(const std::string& uuid, absl::StatusOr<sv1::StartSessionResponse> r, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FailStart(Call& c, const std::string& why, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds an event to the call's ordered delivery; `ack` (0: none) is the
  // feed event it completes.
  void Deliver(Call& c, std::string name, google::protobuf::Struct extra, std::string effect_id, uint64_t ack,
               Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Pump(Call& c, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnDelivered(const std::string& uuid, absl::Status st, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The feed event `seq` of adapter `adapter_id` is processed.
  void Processed(const std::string& adapter_id, uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Reject(Adapter& a, uint64_t seq, absl::string_view reason_code, const std::string& reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Finish(Call& c, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Switch requests.
  std::string SendRequest(Call& c, cv1::SwitchRequest req, Pending p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DefaultRoute(Call& c, absl::string_view reason, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Actions.
  void RunAction(Call& c, Action& act, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Result events of an action; `ack` (0: none) is the feed event that
  // produced the result.
  void ActionDone(Call& c, Action& act, google::protobuf::Struct extra, Effects& fx, uint64_t ack = 0)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ActionEvent(Call& c, Action& act, const std::string& name, google::protobuf::Struct extra, Effects& fx,
                   uint64_t ack = 0) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ActionError(Call& c, Action& act, const std::string& code, const std::string& description, Effects& fx,
                   uint64_t ack = 0) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Queue.
  void Assign(Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnReserved(const std::string& submit_id, const std::string& call_uuid, const std::string& target,
                  absl::StatusOr<std::string> holder, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void GiveTarget(Call& c, Action& act, const std::string& target, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseReservation(Call& c, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EndSubmits(Call& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  google::protobuf::Value InteractionValue(const Call& c) const;
  Call* FindCall(const std::string& uuid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunEffects(Effects& fx) ABSL_LOCKS_EXCLUDED(mu_);

  const CallRouterOptions options_;
  const std::function<std::shared_ptr<const DnConfig>()> dn_;
  SessionSink* const sink_;
  CallStore* const store_;
  const BlockingRunner run_blocking_;
  time::Clock* const clock_;
  CallMetrics* const metrics_;
  const std::string instance_;   // prefix of this replica's switch request ids

  absl::Mutex mu_;
  std::string watcher_ ABSL_GUARDED_BY(mu_);
  uint64_t next_request_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t queued_events_ ABSL_GUARDED_BY(mu_) = 0;   // in every call's outbox (admission)
  std::map<std::string, std::unique_ptr<Adapter>> adapters_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::unique_ptr<Call>> calls_ ABSL_GUARDED_BY(mu_);
  TargetBoard targets_ ABSL_GUARDED_BY(mu_);
  WaitingQueue waiting_ ABSL_GUARDED_BY(mu_);
};

}  // namespace orch::call_watcher
