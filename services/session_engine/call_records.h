#pragma once

// CallRecords: what session-engine reads and writes of the calls' records
// that call-watcher keeps in persistence-proxy (proto/orch/persistence/v1,
// "calls"; docs/design/call-watcher.md). A record is claimed by call-watcher
// on a call's first event and names the call's assigned and reserved nodes,
// its session and its StartSessionRequest; the engine uses it for two rules:
//
//   - exactly one owner: before it creates a call's session the engine binds
//     the call to its node (BindCall); a call bound to another node is not
//     started here;
//   - restart without persistence: after a takeover the new primary lists
//     its node's calls (ListNodeCalls) and starts again, from their recorded
//     events (ReadCallEvents), the memory-only sessions the old primary lost.
//
// Errors of every call:
//   INVALID_ARGUMENT  an empty or malformed call_uuid, a node outside 1..9999
//   NOT_FOUND         the call has no record (never claimed, ended, expired)
//   UNAVAILABLE       the store was not reached or did not answer in time
//                     (BindCall may or may not have happened; binding again
//                     by the same node is safe)
// Calls block the calling thread (at most the implementation's request
// timeout). Thread-safe.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "orch/event/v1/event.pb.h"
#include "orch/persistence/v1/persistence.pb.h"

namespace orch::session_engine {

struct CallBinding {
  bool bound = false;                     // true: the node owns the call (now, or already did)
  orch::persistence::v1::CallRecord record;  // after the call: the owner's node and session id
};

class CallRecords {
 public:
  virtual ~CallRecords() = default;

  // Makes `node` the owner of the claimed call `call_uuid`, with its session
  // `session_id`, unless another node owns it (bound = false; the record
  // names the owner). Owned by `node` already: bound = true, nothing changes.
  // The call is in `node`'s list (ListNodeCalls) from then on.
  virtual absl::StatusOr<CallBinding> BindCall(const std::string& call_uuid, int node,
                                               const std::string& session_id) = 0;
  // The records of the calls `node` owns, a page (at most `limit`; 0 = 1000)
  // at a time, in no particular order. `*cursor` is "" for the first page;
  // it is set to the next page's cursor, "" after the last page.
  virtual absl::StatusOr<std::vector<orch::persistence::v1::CallRecord>> ListNodeCalls(int node,
                                                                                       std::string* cursor,
                                                                                       uint32_t limit) = 0;
  // The events recorded for the call, in recording order (a retried record
  // may repeat an effect id: readers keep the first).
  virtual absl::StatusOr<std::vector<orch::event::v1::Event>> ReadCallEvents(const std::string& call_uuid) = 0;
};

}  // namespace orch::session_engine
