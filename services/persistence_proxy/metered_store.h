#pragma once

// Metrics of persistence-proxy (names in README.md, "Metrics"):
// StoreMetrics owns the Prometheus families and is the Redis client's
// RedisObserver; MeteredStore decorates a Store with per-operation latency,
// result codes and fencing rejections.

#include <memory>

#include "absl/time/time.h"
#include "common/redis/redis_client.h"
#include "services/persistence_proxy/store.h"
#include "services/persistence_proxy/store_operations.h"

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

#define ORCH_METERED_OP(Op) void Op(const pb::Op##Request& req, Done<pb::Op##Response> done) override;
  ORCH_PERSISTENCE_UNARY_OPS(ORCH_METERED_OP)
#undef ORCH_METERED_OP
  void ReadLogPage(const pb::ReadLogRequest& req, uint32_t max_entries,
                   Done<pb::ReadLogResponse> done) override;
  void AppendEventsMany(std::vector<AppendItem> items) override;

 private:
  std::shared_ptr<Store> inner_;
  StoreMetrics* metrics_;
};

}  // namespace orch::persistence_proxy
