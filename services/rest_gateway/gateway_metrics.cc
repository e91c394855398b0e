#include "services/rest_gateway/gateway_metrics.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/metrics/metrics_server.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace orch::rest_gateway {

struct GatewayMetrics::Families {
  prometheus::Family<prometheus::Counter>* requests;
  prometheus::Family<prometheus::Histogram>* seconds;
  prometheus::Family<prometheus::Gauge>* node_up;
  prometheus::Counter* auth_failures;
  prometheus::Counter* rate_limited;
  prometheus::Gauge* connections;
  prometheus::Gauge* accepted;
  prometheus::Gauge* refused;
  prometheus::Gauge* tls_failures;
};

GatewayMetrics::GatewayMetrics(metrics::MetricsServer* m) {
  if (m == nullptr) return;
  f_ = std::make_unique<Families>();
  auto& reg = m->registry();
  f_->requests = &prometheus::BuildCounter()
                      .Name(m->Name("http_requests_total"))
                      .Help("HTTP requests answered, by endpoint and status code.")
                      .Register(reg);
  f_->seconds = &prometheus::BuildHistogram()
                     .Name(m->Name("http_request_seconds"))
                     .Help("Time from a complete request to its answer, by endpoint.")
                     .Register(reg);
  f_->node_up = &prometheus::BuildGauge()
                     .Name(m->Name("node_up"))
                     .Help("1 when the node's lease names a primary, by node.")
                     .Register(reg);
  auto counter = [&](const char* name, const char* help) {
    return &prometheus::BuildCounter().Name(m->Name(name)).Help(help).Register(reg).Add({});
  };
  auto gauge = [&](const char* name, const char* help) {
    return &prometheus::BuildGauge().Name(m->Name(name)).Help(help).Register(reg).Add({});
  };
  f_->auth_failures = counter("auth_failures_total", "Requests refused with 401 or 403.");
  f_->rate_limited = counter("rate_limited_total", "Requests refused with 429.");
  f_->connections = gauge("http_connections", "HTTP connections open.");
  // Gauges mirroring the server's own counters (sampled every second).
  f_->accepted = gauge("http_connections_accepted", "HTTP connections accepted since start.");
  f_->refused = gauge("http_connections_refused", "Connections refused over http.max-connections since start.");
  f_->tls_failures = gauge("tls_handshake_failures", "TLS handshakes that failed since start.");
}

GatewayMetrics::~GatewayMetrics() = default;

void GatewayMetrics::ObserveRequest(absl::string_view endpoint, int status, double seconds) {
  if (!f_) return;
  const std::string e(endpoint);
  f_->requests->Add({{"endpoint", e}, {"code", absl::StrCat(status)}}).Increment();
  static const prometheus::Histogram::BucketBoundaries kBuckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                                0.05,   0.1,   0.25,   0.5,   1,    2.5, 10};
  f_->seconds->Add({{"endpoint", e}}, kBuckets).Observe(seconds);
}

void GatewayMetrics::CountAuthFailure() {
  if (f_) f_->auth_failures->Increment();
}

void GatewayMetrics::CountRateLimited() {
  if (f_) f_->rate_limited->Increment();
}

void GatewayMetrics::SetNodeUp(int node, bool up) {
  if (f_) f_->node_up->Add({{"node", absl::StrCat(node)}}).Set(up ? 1 : 0);
}

void GatewayMetrics::SetConnections(size_t open, uint64_t accepted, uint64_t refused, uint64_t tls_failures) {
  if (!f_) return;
  f_->connections->Set(static_cast<double>(open));
  f_->accepted->Set(static_cast<double>(accepted));
  f_->refused->Set(static_cast<double>(refused));
  f_->tls_failures->Set(static_cast<double>(tls_failures));
}

}  // namespace orch::rest_gateway
