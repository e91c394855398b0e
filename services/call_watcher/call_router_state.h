#pragma once

// CallRouter's private state and small helpers, shared by the files that
// implement it (call_router.cc: links, events and delivery; call_start.cc:
// claim, assignment and start; call_actions.cc: switch requests and module
// actions; call_queue.cc: queue:submit and targets). Not for other users.
// Every member is guarded by CallRouter::mu_.

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"
#include "orch/calls/v1/calls.pb.h"
#include "orch/event/v1/event.pb.h"
#include "services/call_watcher/call_router.h"

namespace orch::call_watcher {
namespace router_internal {

inline google::protobuf::Value Str(absl::string_view s) {
  google::protobuf::Value v;
  v.set_string_value(std::string(s));
  return v;
}

inline google::protobuf::Struct Fields(std::initializer_list<std::pair<const char*, google::protobuf::Value>> kv) {
  google::protobuf::Struct s;
  for (const auto& [k, v] : kv) (*s.mutable_fields())[k] = v;
  return s;
}

// What a session-engine answers while the node has no primary, is
// overloaded, or the session is being restarted: the same call succeeds
// later.
inline bool Retryable(const absl::Status& st) {
  return absl::IsUnavailable(st) || absl::IsDeadlineExceeded(st) || absl::IsResourceExhausted(st);
}

inline std::string Lower(cv1::InteractionEventType t) {
  return absl::AsciiStrToLower(cv1::InteractionEventType_Name(t));
}

}  // namespace router_internal

// Names the router's files share (this header is theirs alone).
namespace ev1 = ::orch::event::v1;
using google::protobuf::Struct;
using google::protobuf::Value;
using router_internal::Fields;
using router_internal::Lower;
using router_internal::Retryable;
using router_internal::Str;

struct CallRouter::Pending {
  enum Kind { kAction, kDefaultRoute, kQueueRoute } kind = kAction;
  std::string call_uuid;
  std::string action;   // the action's effect id (kAction, kQueueRoute)
  cv1::SwitchRequest req;
};

struct CallRouter::Adapter {
  std::string id;
  std::string switch_name;
  std::string tenant;
  AdapterSequence seq;
  LinkChannel* link = nullptr;
  std::map<std::string, Pending> pending;   // requests without a result, by request id
};

struct CallRouter::Action {
  std::string effect_id;
  std::string request_id;
  std::string module;
  std::string action;
  Struct params;
  int results = 0;        // result events sent
  Waiting waiting;        // queue submit: what it waits for (kept to wait again)
};

struct CallRouter::Outgoing {
  ev1::Event event;
  uint64_t ack = 0;
  bool recorded = false;   // RecordCallEvent done (or given up): the send follows
};

struct CallRouter::Call {
  enum class Phase { kClaiming, kStarting, kActive, kNoSession };
  std::string uuid;
  std::string adapter_id;
  std::string switch_name;
  std::string tenant;
  std::string media;
  std::string route_dn;        // the DN whose application runs
  std::string default_route;
  std::string session_id;      // on `node`
  int node = 0;                // where the session is (kActive) or is being started
  int assigned_node = 0;
  int reserved_node = 0;       // 0: none
  bool owner_known = false;    // `node` is the owner the record names: starts go there only
  int64_t watch_until_ms = 0;  // monotonic: starts go to the assigned node alone until then
  int late_starts = 0;         // starts after watch_until_ms (they alternate reserved, assigned)
  bool restart_on_switchover = false;   // each event is recorded before it is sent
  Phase phase = Phase::kClaiming;
  sv1::StartSessionRequest start;
  bool start_in_flight = false;   // a start, or the look-up of the owner, is under way
  uint64_t first_seq = 0;
  int64_t created_ms = 0;      // monotonic
  int64_t created_unix_ms = 0; // the first event, on the wall clock (the record's)
  bool expired = false;        // past call_ttl_ms: being ended by call-watcher
  int64_t retry_at_ms = 0;     // monotonic: next start or delivery attempt
  bool orphaned = false;       // its session answered NOT_FOUND (kNoSession)
  bool stalled = false;        // the last start/record/send answered "later": events are buffered
  int64_t stalled_since_ms = 0;   // monotonic

  void Stall(int64_t now_ms) {
    if (!stalled) stalled_since_ms = now_ms;
    stalled = true;
  }
  // The interaction as the feed tells it.
  std::string connection_id, ani, dnis, this_dn, parent, state = "routing";
  std::map<std::string, std::string> udata;
  std::vector<cv1::Party> parties;
  // Delivery.
  std::deque<Outgoing> outbox;
  bool sending = false;
  // Routing.
  int64_t route_requested_ms = 0;
  int64_t default_route_due_ms = 0;
  bool default_routed = false;
  std::string routed_to;
  int routes_in_flight = 0;    // ROUTE/REDIRECT requests without a result
  std::string reserved_target;
  bool released = false;
  std::map<std::string, Action> actions;            // by effect id
  std::map<std::string, std::string> treatments;    // switch request id -> action effect id
};

}  // namespace orch::call_watcher
