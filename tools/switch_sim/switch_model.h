#pragma once

// The simulated switch, without any link: calls arrive on routing points,
// agents take them, treatments play, callers hang up. Driven from outside:
//
//   SwitchModel model(config, &clock);
//   model.Advance();                      // everything due by clock.MonotonicMs()
//   RequestResult r = model.Handle(request);
//   for (Emitted& e : model.TakeEmitted()) ...   // events, in the switch's order
//
// Events carry no seq (each link numbers its own). An interaction event goes
// to the link of its call (calls are spread round-robin over `links`); a
// target event has link -1: every link must get it.
//
// Requests are answered once per request id: a repeated id gets the first
// answer again and is not acted on (counted in duplicate_requests). A ROUTE
// or REDIRECT to an agent that is BUSY with another call is answered "busy"
// and counted as a double route: the strategy side broke "never two calls to
// one agent".
//
// Not thread-safe: the caller serialises every call. Time comes only from
// `clock` (not owned; must outlive the model).

#include <cstdint>
#include <map>
#include <optional>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "common/time/clock.h"
#include "orch/calls/v1/calls.pb.h"

namespace orch::switch_sim {

enum class Arrival { kFixed, kPoisson };
enum class Patience { kFixed, kExponential };

struct SwitchConfig {
  std::vector<std::string> routing_points = {"5000"};
  std::vector<std::string> agent_dns;          // all logged in and READY at start
  std::vector<std::string> overflow_dns;       // non-agent DNs that take any call (queue, voicemail)
  double rate = 10;                            // calls per second
  Arrival arrival = Arrival::kFixed;
  uint64_t seed = 1;
  int64_t calls = 100;                         // stop arrivals after this many (0 = no limit)
  int64_t duration_ms = 0;                     // ... or after this long (0 = no limit)
  int64_t treatment_ms = 200;                  // a treatment's length when its duration_ms is 0
  std::string digits = "1";                    // what play-and-collect collects
  int64_t hold_ms = 1000;                      // talk time, jittered +-20% ...
  int64_t hold_min_ms = 0;                     // ... unless hold_max_ms > 0: then uniform in
  int64_t hold_max_ms = 0;                     //     [hold_min_ms, hold_max_ms]
  int64_t wrapup_ms = 0;                       // NOT_READY after a call, then READY
  int64_t patience_ms = 0;                     // 0 = callers never hang up
  Patience patience = Patience::kFixed;
  std::string run_id = "sim";                  // call_uuid = "<run_id>-<n>"
  int links = 1;
};

// What one event goes out as: an interaction event on `link`, or a target
// event (link -1, for every link).
struct Emitted {
  int link = -1;
  std::optional<calls::v1::InteractionEvent> interaction;
  std::optional<calls::v1::TargetEvent> target;
};

enum class Outcome { kRouted, kAbandoned, kDefaultRouted, kReleasedByStrategy, kUnfinished };
const char* OutcomeName(Outcome o);

// One APPLY_TREATMENT of a call. Times are since the model started.
struct TreatmentRecord {
  std::string request_id;
  int64_t started_ms = 0;
  int64_t ended_ms = -1;      // -1: still playing, or the call ended while it played
  std::string end;            // "done", or the TREATMENT_FAILED cause ("routed", "cancelled")
  bool end_acked = false;     // a watcher acknowledged the event that ended it
  bool followed = false;      // the call got a request after it ended
};

// One ROUTE or REDIRECT of a call. `already_routed`: the call was at a
// target when it came (a second route of one call, whatever the target).
struct RouteRecord {
  std::string request_id;
  int64_t at_ms = 0;
  std::string target;
  std::string result;         // "ok" or the error code
  bool already_routed = false;
};

// One ATTACH_USER_DATA of a call.
struct AttachRecord {
  std::string request_id;
  int64_t at_ms = 0;
  std::map<std::string, std::string> user_data;
};

struct CallRecord {
  std::string call_uuid;
  int64_t arrived_ms = 0;       // since the model started (scheduled arrival time)
  int64_t route_ms = -1;        // route request -> route received; -1 = never routed
  int treatments = 0;           // treatments started
  std::string digits;           // the last digits collected
  std::string routed_to;
  Outcome outcome = Outcome::kUnfinished;
  int64_t hold_ms = 0;          // time at the target before release
  int64_t ended_ms = -1;        // since the model started; -1 = not ended
  int64_t events_sent = 0;      // interaction events the switch produced for the call
  int64_t events_acked = 0;     // ... acknowledged by a watcher (see Acknowledged)
  int64_t events_rejected = 0;  // ... of them answered Rejected before their Ack
  std::vector<TreatmentRecord> treatment_log;   // in request order
  std::vector<RouteRecord> route_log;
  std::vector<AttachRecord> attach_log;
};

struct ModelCounts {
  int64_t calls = 0;
  int64_t routed = 0;
  int64_t abandoned = 0;
  int64_t default_routed = 0;
  int64_t released_by_strategy = 0;
  int64_t unfinished = 0;
  int64_t double_routes = 0;
  int64_t not_ready_routes = 0;   // routes to an agent in wrap-up (answered "busy", not a double route)
  int64_t duplicate_requests = 0;
  int64_t requests = 0;
};

class SwitchModel {
 public:
  SwitchModel(SwitchConfig config, time::Clock* clock);

  // Runs everything due at or before the clock's now, in time order:
  // arrivals, treatment ends, abandonments, hang-ups after hold, agents
  // back from wrap-up.
  void Advance();

  // Monotonic ms of the next thing due (nullopt: nothing will happen unless
  // a request comes).
  std::optional<int64_t> NextDueMs() const;

  // Answers a request from the strategy side (once per request id).
  calls::v1::RequestResult Handle(const calls::v1::SwitchRequest& request);

  // The events produced since the last call, oldest first.
  std::vector<Emitted> TakeEmitted();

  // The state of every agent now, as target events (sent after each Hello).
  std::vector<calls::v1::TargetEvent> TargetStates() const;

  // A watcher acknowledged an event of a call (`rejected`: it answered
  // Rejected for it first). Events of unknown calls are ignored.
  void Acknowledged(const calls::v1::InteractionEvent& event, bool rejected);

  // Arrivals are over (the call count or the duration was reached).
  bool ArrivalsDone() const;
  // Arrivals are over and every call has ended.
  bool Finished() const;

  // Every call so far, in arrival order, and the totals.
  std::vector<CallRecord> Records() const;
  ModelCounts Counts() const;

 private:
  enum class CallState { kRouting, kAtTarget, kReleased };
  enum class AgentState { kReady, kBusy, kWrapUp };
  enum class TimerKind { kArrival, kTreatmentEnd, kAbandon, kHangUp, kWrapUpEnd };

  struct Timer {
    int64_t due_ms;
    uint64_t order;   // ties run in the order they were set
    TimerKind kind;
    int64_t call;     // index in calls_ (arrival: unused)
    std::string key;  // treatment request id; agent DN for wrap-up
    uint64_t generation = 0;   // hang-up: the call's hang_up_generation when set
    bool operator>(const Timer& o) const { return due_ms != o.due_ms ? due_ms > o.due_ms : order > o.order; }
  };

  struct Call {
    CallRecord record;
    CallState state = CallState::kRouting;
    int link = 0;
    std::string connection_id;
    std::string ani;
    std::string routing_point;
    std::string at;               // the DN it is at (routing point or target)
    int64_t route_request_at = 0;
    int64_t at_target_since = 0;
    int64_t hold_ms = 0;
    uint64_t hang_up_generation = 0;   // invalidates the hang-up timer of an earlier target
    std::map<std::string, std::string> user_data;
    std::map<std::string, calls::v1::Treatment> treatments;   // playing, by request id
  };

  struct Agent {
    AgentState state = AgentState::kReady;
    std::string call_uuid;
  };

  void SetTimer(int64_t due_ms, TimerKind kind, int64_t call, std::string key = "", uint64_t generation = 0);
  void Fire(const Timer& t);
  void Arrive(int64_t due_ms);
  void ScheduleNextArrival(bool first);
  calls::v1::RequestResult Act(const calls::v1::SwitchRequest& request);
  calls::v1::RequestResult MoveTo(int64_t call, const std::string& target, bool overflow,
                                  const google::protobuf::Map<std::string, std::string>& user_data);
  void LeaveTarget(Call& call);
  void Release(int64_t call, const std::string& cause, Outcome outcome);
  void EndTreatment(Call& call, const std::string& request_id, bool done, const std::string& cause);
  void SetAgent(const std::string& dn, AgentState state, const std::string& call_uuid);
  calls::v1::InteractionEvent NewEvent(const Call& call, calls::v1::InteractionEventType type) const;
  void Emit(Call& call, calls::v1::InteractionEvent e);
  static TreatmentRecord* FindTreatment(Call& call, const std::string& request_id);
  static calls::v1::TargetState ToTargetState(AgentState s);
  int64_t SinceStart(int64_t mono_ms) const { return mono_ms - start_ms_; }

  const SwitchConfig config_;
  time::Clock* const clock_;
  const int64_t start_ms_;
  std::mt19937_64 rng_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;
  uint64_t timer_order_ = 0;
  double next_arrival_ms_ = 0;     // since start; fractional so fixed spacing does not drift
  bool arrivals_done_ = false;
  std::vector<Call> calls_;
  absl::flat_hash_map<std::string, int64_t> call_index_;   // call_uuid -> index
  std::map<std::string, Agent> agents_;
  absl::flat_hash_set<std::string> overflow_;
  absl::flat_hash_map<std::string, calls::v1::RequestResult> answered_;   // by request id
  int64_t open_calls_ = 0;
  ModelCounts counts_;
  std::vector<Emitted> emitted_;
};

}  // namespace orch::switch_sim
