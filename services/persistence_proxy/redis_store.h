#pragma once

// RedisStore: the Store on Redis (standalone or Cluster) through
// orch::redis::RedisClient. Key schema, entry format and the Lua scripts'
// contracts are in README.md. Every multi-key update of one session is one
// EVALSHA on keys sharing the hash tag {<session id>}, so it is atomic on
// Redis Cluster too. Requests never block a thread: each operation is one
// (rarely two) pipelined command(s) whose reply completes the callback on the
// client's I/O thread.
//
// Every operation that changes data is acknowledged only once
// ack_replicas() replicas of its master have it (WAIT; README.md,
// "Acknowledged means replicated"); when they do not answer within
// ack_timeout, it fails UNAVAILABLE: applied on the master, not replicated,
// outcome unknown (retry the identical request).

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/time/time.h"
#include "common/redis/redis_client.h"
#include "services/persistence_proxy/store.h"

namespace orch::persistence_proxy {

struct StoreOptions {
  std::string cluster_name = "orch";            // keys under ORS:<cluster_name>:
  absl::Duration max_lifetime = absl::Hours(24 * 30);  // TTL of every key, refreshed on activity
  absl::Duration request_timeout = absl::Seconds(1);   // per Redis request
  size_t max_entry_bytes = 256 * 1024;          // one serialized LogEntry
  size_t max_batch_entries = 1000;              // entries per AppendEvents
  size_t max_snapshot_bytes = 16 * 1024 * 1024;
  size_t max_document_bytes = 4 * 1024 * 1024;
  size_t max_payload_bytes = 256 * 1024;        // schedule payloads
  uint32_t max_call_events = 10000;             // events RecordCallEvent keeps per call
  uint32_t load_page_entries = 512;             // entries fetched per script call
  // Group commit of appends (README.md, "Group commit"): per hash slot (all
  // of standalone Redis is one group) at most this many Append script calls
  // in flight; appends arriving meanwhile wait and go together in the next
  // call, which carries at most append_call_entries entries and
  // append_call_bytes bytes (always at least one append).
  int append_calls_in_flight = 4;
  size_t append_call_entries = 256;
  size_t append_call_bytes = 1 << 20;
  // Replicas every write must reach before it is acknowledged (0: none),
  // and how long to wait for them beyond request_timeout.
  int ack_replicas = 0;
  absl::Duration ack_timeout = absl::Milliseconds(500);
};

class RedisStore final : public Store {
 public:
  // `client` must outlive the store (it is shared: the proxy also PINGs
  // through it). Destroy the store only when none of its operations is in
  // flight (their callbacks use it, group commit's in particular).
  RedisStore(std::shared_ptr<redis::RedisClient> client, StoreOptions options);

  const StoreOptions& options() const { return options_; }
  // Replicas a write waits for (options().ack_replicas until changed). Any
  // thread; takes effect for writes sent afterwards.
  int ack_replicas() const { return ack_replicas_.load(std::memory_order_relaxed); }
  void set_ack_replicas(int n) { ack_replicas_.store(n, std::memory_order_relaxed); }
  // The key prefix "ORS:<cluster>:".
  const std::string& prefix() const { return prefix_; }

  void AppendEvents(const pb::AppendEventsRequest& req, Done<pb::AppendEventsResponse> done) override;
  void AppendEventsMany(std::vector<AppendItem> items) override;
  void ReadLogPage(const pb::ReadLogRequest& req, uint32_t max_entries,
                   Done<pb::ReadLogResponse> done) override;
  void PutSnapshot(const pb::PutSnapshotRequest& req, Done<pb::PutSnapshotResponse> done) override;
  void LoadSession(const pb::LoadSessionRequest& req, Done<pb::LoadSessionResponse> done) override;
  void DeleteSession(const pb::DeleteSessionRequest& req, Done<pb::DeleteSessionResponse> done) override;
  void GetSessionMeta(const pb::GetSessionMetaRequest& req,
                      Done<pb::GetSessionMetaResponse> done) override;
  void SetSessionState(const pb::SetSessionStateRequest& req,
                       Done<pb::SetSessionStateResponse> done) override;
  void ListNodeSessions(const pb::ListNodeSessionsRequest& req,
                        Done<pb::ListNodeSessionsResponse> done) override;
  void PutDocument(const pb::PutDocumentRequest& req, Done<pb::PutDocumentResponse> done) override;
  void GetDocument(const pb::GetDocumentRequest& req, Done<pb::GetDocumentResponse> done) override;
  void AcquireLease(const pb::AcquireLeaseRequest& req, Done<pb::AcquireLeaseResponse> done) override;
  void RenewLease(const pb::RenewLeaseRequest& req, Done<pb::RenewLeaseResponse> done) override;
  void ReleaseLease(const pb::ReleaseLeaseRequest& req, Done<pb::ReleaseLeaseResponse> done) override;
  void GetLease(const pb::GetLeaseRequest& req, Done<pb::GetLeaseResponse> done) override;
  void AddSchedule(const pb::AddScheduleRequest& req, Done<pb::AddScheduleResponse> done) override;
  void CancelSchedule(const pb::CancelScheduleRequest& req,
                      Done<pb::CancelScheduleResponse> done) override;
  void Reschedule(const pb::RescheduleRequest& req, Done<pb::RescheduleResponse> done) override;
  void ClaimDue(const pb::ClaimDueRequest& req, Done<pb::ClaimDueResponse> done) override;
  void AckSchedule(const pb::AckScheduleRequest& req, Done<pb::AckScheduleResponse> done) override;
  void AckSchedules(const pb::AckSchedulesRequest& req, Done<pb::AckSchedulesResponse> done) override;
  void GetSchedule(const pb::GetScheduleRequest& req, Done<pb::GetScheduleResponse> done) override;
  void ListSchedules(const pb::ListSchedulesRequest& req, Done<pb::ListSchedulesResponse> done) override;
  void ClaimCall(const pb::ClaimCallRequest& req, Done<pb::ClaimCallResponse> done) override;
  void GetCall(const pb::GetCallRequest& req, Done<pb::GetCallResponse> done) override;
  void DeleteCall(const pb::DeleteCallRequest& req, Done<pb::DeleteCallResponse> done) override;
  void ReserveTarget(const pb::ReserveTargetRequest& req, Done<pb::ReserveTargetResponse> done) override;
  void ReleaseTarget(const pb::ReleaseTargetRequest& req, Done<pb::ReleaseTargetResponse> done) override;
  void BindCall(const pb::BindCallRequest& req, Done<pb::BindCallResponse> done) override;
  void RecordCallEvent(const pb::RecordCallEventRequest& req, Done<pb::RecordCallEventResponse> done) override;
  void ReadCallEvents(const pb::ReadCallEventsRequest& req, Done<pb::ReadCallEventsResponse> done) override;
  void ListNodeCalls(const pb::ListNodeCallsRequest& req, Done<pb::ListNodeCallsResponse> done) override;

  // Key names (README.md, "Key schema").
  std::string SessionKey(const std::string& sid, const char* suffix) const;
  // meta log snap head: the KEYS of the session scripts.
  std::vector<std::string> SessionKeys(const std::string& sid) const;
  std::string NodeSessionsKey(const std::string& node) const;
  std::string DocumentKey(const std::string& sha256) const;
  std::string LeaseKey(const std::string& name) const;
  std::string LeaseEpochKey(const std::string& name) const;
  std::string ScheduleKey(const std::string& bucket) const;
  std::string ScheduleDataKey(const std::string& bucket) const;
  std::string CallKey(const std::string& call_uuid) const;
  std::string CallEventsKey(const std::string& call_uuid) const;
  std::string NodeCallsKey(int node) const;
  std::string TargetKey(const std::string& target) const;

 private:
  // One validated append, encoded for the Append script and waiting for a
  // call (RESP bulk strings, joined by SendAppends).
  struct PendingAppend {
    std::string keys;  // meta log snap head
    std::string args;  // epoch first n prev [node doc] {entry digest}...
    size_t nargs = 0;
    size_t entries = 0;
    absl::Time deadline;
    std::string session_id;
    Done<pb::AppendEventsResponse> done;
  };
  struct AppendGroup {
    std::deque<PendingAppend> pending;
    int in_flight = 0;
  };
  using AppendBatch = std::vector<PendingAppend>;

  int64_t TtlMs() const;
  // What a write waits for (ack_replicas(), ack_timeout).
  redis::ReplicaWait Replicated() const;
  // Validates and encodes `req` into `p` (slot in *slot); a creation (first
  // seq 1) also names its node. On a bad request, completes `done` and
  // returns false.
  bool PrepareAppend(const pb::AppendEventsRequest& req, Done<pb::AppendEventsResponse>& done,
                     PendingAppend* p, int* slot, std::string* create_node);
  // Creation: registers the session with its node, then enqueues it.
  void RegisterAndEnqueue(int slot, std::string node, PendingAppend p);
  void EnqueueAppends(int slot, std::vector<PendingAppend> ps);
  // Takes the next call's appends from `group` if a call may start; expired
  // ones go to `expired`. Called with append_mu_ held.
  AppendBatch TakeAppendsLocked(AppendGroup& group, AppendBatch* expired);
  void SendAppends(int slot, AppendBatch batch);
  void OnAppendsDone(int slot, AppendBatch batch, absl::StatusOr<redis::RedisReply> r);

  std::shared_ptr<redis::RedisClient> client_;
  StoreOptions options_;
  std::string prefix_;

  std::atomic<int> ack_replicas_;

  std::mutex append_mu_;
  std::unordered_map<int, AppendGroup> append_groups_;  // by slot (-1: standalone)
};

// The x an append at now_ms stores in a session's head (README.md, "Key
// schema"): the start of now_ms's bucket of time plus the lifetime ttl_ms,
// buckets being 1% of the lifetime (at most an hour). Keys whose TTLs were
// set to ttl_ms during that bucket live at least until then; an append that
// finds another x refreshes them.
int64_t HeadX(int64_t now_ms, int64_t ttl_ms);

// The 8-byte digest stored beside each log entry: the first 8 bytes of
// SHA-256 over the deterministic serialization of the entry with
// append_time cleared (so a retry stamped at another time still matches).
std::string EntryDigest(const orch::event::v1::LogEntry& entry);

// What the store keeps for `entry` as written by `epoch` at `now` (unless it
// has an append_time): the deterministic serialization of the entry with
// epoch (and append_time) set, and its EntryDigest, from one serialization.
struct EncodedEntry {
  std::string bytes;
  std::string digest;
};
EncodedEntry EncodeEntry(const orch::event::v1::LogEntry& entry, uint64_t epoch, absl::Time now);

}  // namespace orch::persistence_proxy
