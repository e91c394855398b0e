#include "services/persistence_proxy/metered_store.h"

#include <map>
#include <mutex>
#include <utility>
#include <string>

#include "absl/strings/match.h"
#include "common/metrics/metrics_server.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace orch::persistence_proxy {

struct StoreMetrics::Families {
  prometheus::Gauge* redis_up;
  prometheus::Family<prometheus::Histogram>* seconds;
  prometheus::Family<prometheus::Counter>* operations;
  prometheus::Counter* fencing;
  prometheus::Counter* moved;
  prometheus::Counter* ask;
  prometheus::Counter* reconnects;
  prometheus::Counter* refreshes;
  // The series of each (op, code) seen, so an operation does not build label
  // maps and search the families (op names are string literals).
  std::mutex mu;
  std::map<std::pair<const char*, int>, std::pair<prometheus::Histogram*, prometheus::Counter*>> series;
};

StoreMetrics::StoreMetrics(metrics::MetricsServer& m) : f_(std::make_unique<Families>()) {
  auto& reg = m.registry();
  f_->redis_up = &prometheus::BuildGauge()
                      .Name(m.Name("redis_up"))
                      .Help("1 while Redis answers the periodic PING, else 0 (the persistence alarm).")
                      .Register(reg)
                      .Add({});
  f_->seconds = &prometheus::BuildHistogram()
                     .Name(m.Name("operation_seconds"))
                     .Help("Store operation latency (validation to reply), by operation.")
                     .Register(reg);
  f_->operations = &prometheus::BuildCounter()
                        .Name(m.Name("operations_total"))
                        .Help("Store operations, by operation and status code.")
                        .Register(reg);
  f_->fencing = &prometheus::BuildCounter()
                     .Name(m.Name("fencing_rejections_total"))
                     .Help("Writes rejected because the writer's epoch is older than the session's.")
                     .Register(reg)
                     .Add({});
  auto& redirects = prometheus::BuildCounter()
                        .Name(m.Name("redis_redirects_total"))
                        .Help("Redis Cluster MOVED/ASK redirections followed, by kind.")
                        .Register(reg);
  f_->moved = &redirects.Add({{"kind", "moved"}});
  f_->ask = &redirects.Add({{"kind", "ask"}});
  f_->reconnects = &prometheus::BuildCounter()
                        .Name(m.Name("redis_reconnects_total"))
                        .Help("Connections to a Redis node re-established after the first one.")
                        .Register(reg)
                        .Add({});
  f_->refreshes = &prometheus::BuildCounter()
                       .Name(m.Name("redis_topology_refreshes_total"))
                       .Help("Redis Cluster slot map refreshes.")
                       .Register(reg)
                       .Add({});
}

StoreMetrics::~StoreMetrics() = default;

void StoreMetrics::ObserveOperation(const char* op, const absl::Status& status, absl::Duration took) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
  std::pair<prometheus::Histogram*, prometheus::Counter*> s;
  {
    std::lock_guard<std::mutex> l(f_->mu);
    auto [it, added] = f_->series.try_emplace({op, static_cast<int>(status.code())});
    if (added) {
      it->second = {&f_->seconds->Add({{"op", op}}, kBuckets),
                    &f_->operations->Add({{"op", op}, {"code", absl::StatusCodeToString(status.code())}})};
    }
    s = it->second;
  }
  s.first->Observe(absl::ToDoubleSeconds(took));
  s.second->Increment();
  if (status.code() == absl::StatusCode::kAborted && absl::StrContains(status.message(), "fenced:")) {
    f_->fencing->Increment();
  }
}

void StoreMetrics::SetRedisUp(bool up) { f_->redis_up->Set(up ? 1 : 0); }

void StoreMetrics::OnRedirect(Redirect kind) {
  (kind == Redirect::kMoved ? f_->moved : f_->ask)->Increment();
}
void StoreMetrics::OnReconnect(const std::string&) { f_->reconnects->Increment(); }
void StoreMetrics::OnTopologyRefresh(bool) { f_->refreshes->Increment(); }

namespace {

template <typename Resp>
Done<Resp> Timed(StoreMetrics* m, const char* op, Done<Resp> done) {
  return [m, op, start = absl::Now(), done = std::move(done)](absl::StatusOr<Resp> r) mutable {
    m->ObserveOperation(op, r.status(), absl::Now() - start);
    std::move(done)(std::move(r));
  };
}

}  // namespace

#define ORCH_METERED_OP(Op)                                                        \
  void MeteredStore::Op(const pb::Op##Request& req, Done<pb::Op##Response> done) { \
    inner_->Op(req, Timed<pb::Op##Response>(metrics_, #Op, std::move(done)));      \
  }
ORCH_PERSISTENCE_UNARY_OPS(ORCH_METERED_OP)
#undef ORCH_METERED_OP

void MeteredStore::AppendEventsMany(std::vector<AppendItem> items) {
  for (auto& item : items) {
    item.second = Timed<pb::AppendEventsResponse>(metrics_, "AppendEvents", std::move(item.second));
  }
  inner_->AppendEventsMany(std::move(items));
}

void MeteredStore::ReadLogPage(const pb::ReadLogRequest& req, uint32_t max_entries,
                               Done<pb::ReadLogResponse> done) {
  inner_->ReadLogPage(req, max_entries, Timed<pb::ReadLogResponse>(metrics_, "ReadLog", std::move(done)));
}

}  // namespace orch::persistence_proxy
