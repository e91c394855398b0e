#pragma once

// CallRouter: call-watcher's logic between the adapters' links, the
// sessions and the store (calls-contract.md §1–§4).
//
// - Links: the adapter sequence rules (adapter_link.h); per adapter the
//   unanswered SwitchRequests, resent with the same id after a reconnection.
// - Calls: a ROUTE_REQUEST on a DN with an application, or NEW_INTERACTION,
//   gets an assigned and a reserved node (ChooseNodes over the nodes that
//   are up), is claimed in the CallStore, and its session is started
//   (idempotency key "call:<uuid>", interaction.bind) on the assigned node,
//   retried without limit while the node has no primary; after
//   call_watching_timeout_ms on the reserved node too; a start refused
//   because another node owns the call follows that owner (GetCall). The
//   call's events go to its session in order, one in flight per call, calls
//   in parallel, each acknowledged once its session has it; retried without
//   limit while the node has no primary (later events wait behind). A call
//   restarted on switchover has each event recorded (RecordCallEvent) before
//   it is sent. A session that cannot be started: Rejected + the DN's
//   default route; a session gone (NOT_FOUND): the default route if the call
//   was not routed, and its later events are dropped.
// - Actions (SubmitAction): de-duplicated by effect id per call; switch
//   requests down; results back as `<prefix>.<action>.done` / `error.…`
//   events with effect ids "cw/<action effect id>/<n>".
// - Queue: waiting submits (priority, then age), targets from the feed
//   (longest idle first), a target given only after CallStore::ReserveTarget
//   answers this call (so two replicas never give one agent twice).
// - Repeated actions: an effect id already seen for the call (also from a
//   session restarted with the same id) answers OK and does nothing.
// - Timers (Tick): default route of calls not routed in time, queue
//   timeouts, reservation TTLs, retries of starts, records and deliveries,
//   ended calls unreachable too long, the gauges.
//
// Threading: thread-safe; one mutex guards the state. Sink and store calls
// are made without it: the sink's are asynchronous, the store's (blocking)
// go through `run_blocking`, which must run the function on another thread
// (or inline, in tests: then everything happens on the caller's thread).
// LinkChannel methods (they only queue) and NodeLiveness::IsUp (it never
// blocks) are called with the mutex held.

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
#include "services/call_watcher/node_liveness.h"
#include "services/call_watcher/session_sink.h"
#include "services/call_watcher/targets.h"

namespace orch::call_watcher {

struct CallRouterOptions {
  std::string watcher;                  // this replica's advertised gRPC address (InteractionBinding.watcher)
  std::string cluster;                  // selects application@<cluster>; "" = none
  std::vector<int> nodes = {1};         // session-engine nodes sessions start on
  // Each node's data center ("" = the nameless one); a node absent from the
  // map is in the nameless one. The reserved node of a call is taken from
  // another data center than its assigned node when there is one up.
  std::map<int, std::string> node_data_centers;
  int64_t default_route_timeout_ms = 30000;
  int64_t reservation_ttl_ms = 15000;
  int64_t call_ttl_ms = 4 * 3600 * 1000;   // the call record's TTL in the store
  int64_t retry_ms = 200;               // between attempts to reach a session (UNAVAILABLE): no limit
  // [orchestration] call-watching-timeout: from a call's first event, how
  // long its start is tried on the assigned node alone; then the reserved
  // node is tried too (alternating), and whichever binds the call first owns it.
  int64_t call_watching_timeout_ms = 5000;
  // An ended call (RELEASED, or past call_ttl_ms) whose session stays
  // unreachable this long is forgotten: its remaining events are dropped.
  // Long enough for a standby to take the node over and restart or recover
  // the session, so that it still gets interaction.deleted.
  int64_t ended_call_retry_ms = 60000;
  // [orchestration] restart-session-on-switchover: the default of the DN
  // file's per-DN setting; applies to sessions without persistence only.
  bool restart_session_on_switchover = false;
  // [orchestration] same-node-for-cons-prim-calls: a consultation call (an
  // event with a parent call) is assigned to its primary call's node when
  // this replica knows the primary call.
  bool same_node_for_cons_prim_calls = true;
  int64_t lost_target_retry_ms = 1000;  // a target reserved by another replica is skipped this long
  // Admission: while this many events wait for their sessions (engines
  // slower than the calls coming in), a new call is not started: it gets
  // its DN's default route at once (0 = no limit). Overload then degrades
  // into default routes instead of every call waiting longer.
  int64_t max_queued_events = 2000;
};

// A call's nodes (ha-contract D1.1): `reserved` is 0 when there is no other node.
struct NodeChoice {
  int assigned = 0;
  int reserved = 0;
};

// Runs a function that blocks (CallStore calls), not on the caller's thread.
using BlockingRunner = std::function<void(std::function<void()>)>;

class CallRouter final : public LinkHandler {
 public:
  // Not owned, must outlive the router: every pointer. `dn` gives the
  // current DN file. `liveness` null: every node counts as up.
  CallRouter(CallRouterOptions options, std::function<std::shared_ptr<const DnConfig>()> dn, SessionSink* sink,
             CallStore* store, NodeLiveness* liveness, BlockingRunner run_blocking, time::Clock* clock,
             CallMetrics* metrics);
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

  // SIGHUP: options.restart_session_on_switchover and
  // options.call_watching_timeout_ms for the calls that arrive from now on
  // (a call keeps what it got when it arrived).
  void Reconfigure(bool restart_session_on_switchover, int64_t call_watching_timeout_ms) ABSL_LOCKS_EXCLUDED(mu_);

  // Runs what came due on the clock; call it every few tens of ms.
  void Tick() ABSL_LOCKS_EXCLUDED(mu_);

  // Rendezvous hash of the call over `nodes` (1 when empty).
  static int NodeFor(const std::string& call_uuid, const std::vector<int>& nodes);
  // A call's nodes: `assigned` = NodeFor over `up` (over `nodes` when none
  // is up), or `forced` when not 0; `reserved` = NodeFor over the same set
  // minus `assigned`, restricted to nodes of another data center than
  // `assigned` when there is one (0 when no other node).
  static NodeChoice ChooseNodes(const std::string& call_uuid, const std::vector<int>& nodes,
                                const std::vector<int>& up, const std::map<int, std::string>& data_centers,
                                int forced = 0);

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
  void Claim(Call& c, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendStart(Call& c, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A start was refused: another node owns the call. Reads the record.
  void LookUpOwner(Call& c, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnOwner(const std::string& uuid, absl::StatusOr<CallRecord> r, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnStarted(const std::string& uuid, absl::StatusOr<sv1::StartSessionResponse> r, Effects& fx)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FailStart(Call& c, const std::string& why, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds an event to the call's ordered delivery; `ack` (0: none) is the
  // feed event it completes.
  void Deliver(Call& c, std::string name, google::protobuf::Struct extra, std::string effect_id, uint64_t ack,
               Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Pump(Call& c, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnDelivered(const std::string& uuid, absl::Status st, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnRecorded(const std::string& uuid, absl::Status st, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The call's session no longer exists.
  void Orphan(Call& c, const absl::Status& why, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops the events waiting for the session (acknowledged); the call ends
  // when one of them was its end.
  void DropOutbox(Call& c, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The gauges of calls (owned, buffered events, treatments).
  void UpdateGauges() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
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
  // Drops the reservation `c` holds before landing (at its end, or a route
  // given up), here and in the store.
  void ReleaseReservation(Call& c, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reservations at their TTL: extended (here and in the store) while their
  // call is being routed to the target or has landed on it, dropped
  // otherwise.
  void RenewReservations(int64_t now_ms, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // An effect: StoreRelease on a store thread.
  void ReleaseInStore(const std::string& target, const std::string& holder, Effects& fx);
  // ReleaseTarget (blocks); a failure is logged and counted.
  void StoreRelease(const std::string& target, const std::string& holder) ABSL_LOCKS_EXCLUDED(mu_);
  void EndSubmits(Call& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  google::protobuf::Value InteractionValue(const Call& c) const;
  Call* FindCall(const std::string& uuid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunEffects(Effects& fx) ABSL_LOCKS_EXCLUDED(mu_);

  const CallRouterOptions options_;
  const std::function<std::shared_ptr<const DnConfig>()> dn_;
  SessionSink* const sink_;
  CallStore* const store_;
  NodeLiveness* const liveness_;
  const BlockingRunner run_blocking_;
  time::Clock* const clock_;
  CallMetrics* const metrics_;
  const std::string instance_;   // prefix of this replica's switch request ids

  absl::Mutex mu_;
  std::string watcher_ ABSL_GUARDED_BY(mu_);
  // options_'s values until Reconfigure.
  bool restart_session_on_switchover_ ABSL_GUARDED_BY(mu_);
  int64_t call_watching_timeout_ms_ ABSL_GUARDED_BY(mu_);
  uint64_t next_request_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t queued_events_ ABSL_GUARDED_BY(mu_) = 0;   // in every call's outbox (admission)
  std::map<std::string, std::unique_ptr<Adapter>> adapters_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::unique_ptr<Call>> calls_ ABSL_GUARDED_BY(mu_);
  TargetBoard targets_ ABSL_GUARDED_BY(mu_);
  WaitingQueue waiting_ ABSL_GUARDED_BY(mu_);
};

}  // namespace orch::call_watcher
