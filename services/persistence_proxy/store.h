#pragma once

// orch::persistence_proxy::Store — everything persistence-proxy keeps, behind
// one interface: session logs and snapshots, the session registry, documents,
// leases, schedules, call records and target reservations. RedisStore (redis_store.h) is the implementation;
// MeteredStore (metered_store.h) decorates any Store with metrics.
//
// The store speaks the wire contract's messages (orch.persistence.v1) so the
// gRPC handlers stay thin: validate + call + convert the status.
//
// Asynchronous: every operation takes a callback that runs exactly once,
// possibly on another thread (RedisStore: the Redis client's I/O thread), so
// it must be quick and must not block on the store. Thread-safe.
//
// Errors (the message names the field or the conflict):
//   INVALID_ARGUMENT    malformed request (empty or bad ids, oversize entries,
//                       seq numbers not consecutive, hash mismatch); nothing written
//   NOT_FOUND           unknown session, document, lease, schedule entry, call
//   ABORTED             fencing ("fenced: ..."), sequence gap, a different
//                       batch already stored under these seqs, lease lost;
//                       nothing written
//   OUT_OF_RANGE        ReadLog below the snapshot (entries trimmed)
//   FAILED_PRECONDITION snapshot beyond the last seq or older than the stored one
//   RESOURCE_EXHAUSTED  a call's recorded events are at their limit; Redis
//                       out of memory
//   UNAVAILABLE         Redis unreachable or too slow (the write may or may
//                       not have happened: retry the identical request)

#include <cstdint>
#include <future>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "orch/persistence/v1/persistence.pb.h"

namespace orch::persistence_proxy {

namespace pb = ::orch::persistence::v1;

template <typename T>
using Done = absl::AnyInvocable<void(absl::StatusOr<T>) &&>;

class Store {
 public:
  virtual ~Store() = default;

  // Session log.
  virtual void AppendEvents(const pb::AppendEventsRequest& req, Done<pb::AppendEventsResponse> done) = 0;
  // Several appends at once (one AppendEventsBatchStream message): the same
  // as AppendEvents for each, in order, but the store may send them
  // together. Each callback runs once. The requests need to live only until
  // this returns.
  using AppendItem = std::pair<const pb::AppendEventsRequest*, Done<pb::AppendEventsResponse>>;
  virtual void AppendEventsMany(std::vector<AppendItem> items) {
    for (auto& [req, done] : items) AppendEvents(*req, std::move(done));
  }
  // One page of ReadLog: at most `max_entries` entries with seq > after_seq.
  // Fewer than max_entries means the end of the log was reached.
  virtual void ReadLogPage(const pb::ReadLogRequest& req, uint32_t max_entries,
                           Done<pb::ReadLogResponse> done) = 0;
  virtual void PutSnapshot(const pb::PutSnapshotRequest& req, Done<pb::PutSnapshotResponse> done) = 0;
  virtual void LoadSession(const pb::LoadSessionRequest& req, Done<pb::LoadSessionResponse> done) = 0;
  virtual void DeleteSession(const pb::DeleteSessionRequest& req,
                             Done<pb::DeleteSessionResponse> done) = 0;

  // Registry.
  virtual void GetSessionMeta(const pb::GetSessionMetaRequest& req,
                              Done<pb::GetSessionMetaResponse> done) = 0;
  virtual void SetSessionState(const pb::SetSessionStateRequest& req,
                               Done<pb::SetSessionStateResponse> done) = 0;
  virtual void ListNodeSessions(const pb::ListNodeSessionsRequest& req,
                                Done<pb::ListNodeSessionsResponse> done) = 0;

  // Documents.
  virtual void PutDocument(const pb::PutDocumentRequest& req, Done<pb::PutDocumentResponse> done) = 0;
  virtual void GetDocument(const pb::GetDocumentRequest& req, Done<pb::GetDocumentResponse> done) = 0;

  // Leases.
  virtual void AcquireLease(const pb::AcquireLeaseRequest& req, Done<pb::AcquireLeaseResponse> done) = 0;
  virtual void RenewLease(const pb::RenewLeaseRequest& req, Done<pb::RenewLeaseResponse> done) = 0;
  virtual void ReleaseLease(const pb::ReleaseLeaseRequest& req, Done<pb::ReleaseLeaseResponse> done) = 0;
  virtual void GetLease(const pb::GetLeaseRequest& req, Done<pb::GetLeaseResponse> done) = 0;

  // Schedules.
  virtual void AddSchedule(const pb::AddScheduleRequest& req, Done<pb::AddScheduleResponse> done) = 0;
  virtual void CancelSchedule(const pb::CancelScheduleRequest& req,
                              Done<pb::CancelScheduleResponse> done) = 0;
  virtual void Reschedule(const pb::RescheduleRequest& req, Done<pb::RescheduleResponse> done) = 0;
  virtual void ClaimDue(const pb::ClaimDueRequest& req, Done<pb::ClaimDueResponse> done) = 0;
  virtual void AckSchedule(const pb::AckScheduleRequest& req, Done<pb::AckScheduleResponse> done) = 0;
  virtual void AckSchedules(const pb::AckSchedulesRequest& req, Done<pb::AckSchedulesResponse> done) = 0;
  virtual void GetSchedule(const pb::GetScheduleRequest& req, Done<pb::GetScheduleResponse> done) = 0;
  virtual void ListSchedules(const pb::ListSchedulesRequest& req, Done<pb::ListSchedulesResponse> done) = 0;

  // Calls (call-watcher's records; the rules are those of
  // services/call_watcher/call_store.h). ClaimCall stores the record unless
  // one exists and answers the stored one, atomically: concurrent claims of
  // a call all answer the same record.
  virtual void ClaimCall(const pb::ClaimCallRequest& req, Done<pb::ClaimCallResponse> done) = 0;
  virtual void GetCall(const pb::GetCallRequest& req, Done<pb::GetCallResponse> done) = 0;
  virtual void DeleteCall(const pb::DeleteCallRequest& req, Done<pb::DeleteCallResponse> done) = 0;
  // Target reservations: one holder at a time; the holder reserving again
  // restarts the TTL; only the holder releases.
  virtual void ReserveTarget(const pb::ReserveTargetRequest& req, Done<pb::ReserveTargetResponse> done) = 0;
  virtual void ReleaseTarget(const pb::ReleaseTargetRequest& req, Done<pb::ReleaseTargetResponse> done) = 0;

  // A call's owner and its recorded events (README.md, "Calls"). BindCall
  // makes `node` the owner of a claimed call unless another node is, then
  // lists the call under the node (ListNodeCalls). RecordCallEvent appends
  // to the call's events, ReadCallEvents reads them all in order; both answer
  // NOT_FOUND without a record, and DeleteCall deletes the events and the
  // node's list entry with the record. RecordCallEvent answers
  // RESOURCE_EXHAUSTED once a call has its maximum of recorded events.
  virtual void BindCall(const pb::BindCallRequest& req, Done<pb::BindCallResponse> done) = 0;
  virtual void RecordCallEvent(const pb::RecordCallEventRequest& req,
                               Done<pb::RecordCallEventResponse> done) = 0;
  virtual void ReadCallEvents(const pb::ReadCallEventsRequest& req, Done<pb::ReadCallEventsResponse> done) = 0;
  virtual void ListNodeCalls(const pb::ListNodeCallsRequest& req, Done<pb::ListNodeCallsResponse> done) = 0;
};

// A burst of callbacks run together on one thread (the results of one Redis
// call): while one is open, a consumer may defer work that it would do per
// callback (writing a gRPC message) until the burst ends, so it does it once
// for all of them. Deferred work runs on the same thread when the outermost
// burst closes.
class CallbackBurst {
 public:
  CallbackBurst() { ++depth(); }
  ~CallbackBurst() {
    if (--depth() > 0) return;
    while (!deferred().empty()) {
      std::vector<absl::AnyInvocable<void() &&>> run;
      run.swap(deferred());
      for (auto& f : run) std::move(f)();
    }
  }
  CallbackBurst(const CallbackBurst&) = delete;
  CallbackBurst& operator=(const CallbackBurst&) = delete;

  // True inside a burst on this thread.
  static bool Active() { return depth() > 0; }
  // Runs `f` at the end of the current burst (Active() must be true).
  static void Defer(absl::AnyInvocable<void() &&> f) { deferred().push_back(std::move(f)); }

 private:
  static int& depth() {
    thread_local int d = 0;
    return d;
  }
  static std::vector<absl::AnyInvocable<void() &&>>& deferred() {
    thread_local std::vector<absl::AnyInvocable<void() &&>> v;
    return v;
  }
};

// Blocking call of one Store operation, for tests and tools (never on the
// store's callback thread):  auto r = CallSync(store, &Store::AppendEvents, req);
template <typename Req, typename Resp>
absl::StatusOr<Resp> CallSync(Store& store, void (Store::*op)(const Req&, Done<Resp>), const Req& req) {
  std::promise<absl::StatusOr<Resp>> promise;
  auto future = promise.get_future();
  (store.*op)(req, [&promise](absl::StatusOr<Resp> r) { promise.set_value(std::move(r)); });
  return future.get();
}

}  // namespace orch::persistence_proxy
