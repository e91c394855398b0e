#pragma once

// CallStore: what call-watcher keeps durably, in persistence-proxy — one
// record per call (which session handles it) and target reservations (so
// that two call-watcher replicas never give one agent to two calls).
//
// Implementations: GrpcCallStore (persistence-proxy over gRPC; the TTLs run
// on Redis's clock) and FakeCallStore (in memory, TTLs on an injected
// time::Clock); call_store_conformance.h holds both to the same rules.
//
// Errors of every call:
//   INVALID_ARGUMENT  an empty call_uuid / target / holder, one longer than
//                     256 bytes or with '{', '}', spaces or control bytes;
//                     a TTL outside 1 ms .. 7 days
//   UNAVAILABLE       the store was not reached or did not answer in time
//                     (a change may or may not have happened)
// Calls block the calling thread (at most the implementation's request
// timeout). Thread-safe.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "orch/event/v1/event.pb.h"
#include "orch/persistence/v1/persistence.pb.h"

namespace orch::call_watcher {

using CallRecord = ::orch::persistence::v1::CallRecord;

struct ClaimResult {
  bool created = false;   // false: a record existed; `record` is that one
  CallRecord record;
};

class CallStore {
 public:
  virtual ~CallStore() = default;

  // Stores `record` under record.call_uuid unless a record is there; either
  // way answers the stored record. Expires after `ttl`.
  virtual absl::StatusOr<ClaimResult> ClaimCall(const CallRecord& record, absl::Duration ttl) = 0;

  //   NOT_FOUND  no record (never claimed, deleted or expired)
  virtual absl::StatusOr<CallRecord> GetCall(absl::string_view call_uuid) = 0;

  // Answers whether a record was deleted (false: there was none). The
  // call's recorded events (RecordCallEvent) go with it.
  virtual absl::StatusOr<bool> DeleteCall(absl::string_view call_uuid) = 0;

  // Appends `event` (as it is then delivered: name, data, effect_id) to the
  // call's recorded events, from which session-engine restarts a session
  // that ran without persistence. Answers how many events the call has
  // recorded so far (a retried record counts again: readers keep the first
  // of an effect_id). The events expire with the record.
  //   NOT_FOUND  the call has no record
  virtual absl::StatusOr<uint64_t> RecordCallEvent(absl::string_view call_uuid,
                                                   const ::orch::event::v1::Event& event) = 0;

  // Reserves `target` for `holder` until released or `ttl` passes. Answers
  // the holder after the call: `holder` itself when reserved (also when it
  // held it already: the TTL restarts), another holder's name when not.
  virtual absl::StatusOr<std::string> ReserveTarget(absl::string_view target, absl::string_view holder,
                                                    absl::Duration ttl) = 0;

  // Ends `holder`'s reservation of `target`. Answers false when `holder` did
  // not hold it (expired, or held by another: left as it is).
  virtual absl::StatusOr<bool> ReleaseTarget(absl::string_view target, absl::string_view holder) = 0;
};

}  // namespace orch::call_watcher
