#pragma once

// Metrics of persistence-proxy (names in README.md, "Metrics"):
// StoreMetrics owns the Prometheus families and is the Redis client's
// RedisObserver; MeteredStore decorates a Store with per-operation latency,
// result codes and fencing rejections.

#include <memory>

#include "absl/time/time.h"
#include "common/redis/redis_client.h"
#include "services/persistence_proxy/store.h"

namespace orch::metrics {
class MetricsServer;
}

namespace orch::persistence_proxy {

class StoreMetrics final : public redis::RedisObserver {
 public:
  explicit StoreMetrics(metrics::MetricsServer& server);
  ~StoreMetrics() override;

  void ObserveOperation(const char* op, const absl::Status& status, absl::Duration took);
  void SetRedisUp(bool up);

  void OnRedirect(Redirect kind) override;
  void OnReconnect(const std::string& address) override;
  void OnTopologyRefresh(bool ok) override;

 private:
  struct Families;
  std::unique_ptr<Families> f_;
};

class MeteredStore final : public Store {
 public:
  // `inner` and `metrics` must outlive this store.
  MeteredStore(std::shared_ptr<Store> inner, StoreMetrics* metrics)
      : inner_(std::move(inner)), metrics_(metrics) {}

#define ORCH_METERED_OP(Op, Req, Resp) void Op(const pb::Req& req, Done<pb::Resp> done) override;
  ORCH_METERED_OP(AppendEvents, AppendEventsRequest, AppendEventsResponse)
  ORCH_METERED_OP(PutSnapshot, PutSnapshotRequest, PutSnapshotResponse)
  ORCH_METERED_OP(LoadSession, LoadSessionRequest, LoadSessionResponse)
  ORCH_METERED_OP(DeleteSession, DeleteSessionRequest, DeleteSessionResponse)
  ORCH_METERED_OP(GetSessionMeta, GetSessionMetaRequest, GetSessionMetaResponse)
  ORCH_METERED_OP(SetSessionState, SetSessionStateRequest, SetSessionStateResponse)
  ORCH_METERED_OP(ListNodeSessions, ListNodeSessionsRequest, ListNodeSessionsResponse)
  ORCH_METERED_OP(PutDocument, PutDocumentRequest, PutDocumentResponse)
  ORCH_METERED_OP(GetDocument, GetDocumentRequest, GetDocumentResponse)
  ORCH_METERED_OP(AcquireLease, AcquireLeaseRequest, AcquireLeaseResponse)
  ORCH_METERED_OP(RenewLease, RenewLeaseRequest, RenewLeaseResponse)
  ORCH_METERED_OP(ReleaseLease, ReleaseLeaseRequest, ReleaseLeaseResponse)
  ORCH_METERED_OP(GetLease, GetLeaseRequest, GetLeaseResponse)
  ORCH_METERED_OP(AddSchedule, AddScheduleRequest, AddScheduleResponse)
  ORCH_METERED_OP(CancelSchedule, CancelScheduleRequest, CancelScheduleResponse)
  ORCH_METERED_OP(Reschedule, RescheduleRequest, RescheduleResponse)
  ORCH_METERED_OP(ClaimDue, ClaimDueRequest, ClaimDueResponse)
  ORCH_METERED_OP(AckSchedule, AckScheduleRequest, AckScheduleResponse)
#undef ORCH_METERED_OP
  void ReadLogPage(const pb::ReadLogRequest& req, uint32_t max_entries,
                   Done<pb::ReadLogResponse> done) override;
  void AppendEventsMany(std::vector<AppendItem> items) override;

 private:
  std::shared_ptr<Store> inner_;
  StoreMetrics* metrics_;
};

}  // namespace orch::persistence_proxy
