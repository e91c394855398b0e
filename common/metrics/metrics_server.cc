#include "common/metrics/metrics_server.h"

#include <exception>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base/net.h"
#include "prometheus/exposer.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace orch::metrics {

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& listen,
                                                                    std::string prefix,
                                                                    std::string_view version) {
  absl::StatusOr<HostPort> hp = SplitHostPort(listen);
  if (!hp.ok()) return hp.status();
  if (absl::Status s = CheckCanListen(listen); !s.ok()) return s;

  auto server = std::unique_ptr<MetricsServer>(new MetricsServer());
  server->prefix_ = std::move(prefix);
  server->registry_ = std::make_shared<prometheus::Registry>();
  // The exposer reports bind failures by throwing; Orchestrion code does not
  // throw, so the exception stops here and becomes a status.
  try {
    server->exposer_ = std::make_unique<prometheus::Exposer>(listen, /*num_threads=*/2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", listen, ": ", e.what()));
  }
  server->exposer_->RegisterCollectable(server->registry_);
  auto ports = server->exposer_->GetListeningPorts();
  server->port_ = ports.empty() ? hp->port : ports.front();
  const bool v6 = hp->host.find(':') != std::string::npos;
  server->address_ = absl::StrCat(v6 ? "[" : "", hp->host, v6 ? "]" : "", ":", server->port_);

  prometheus::BuildGauge()
      .Name(server->Name("build_info"))
      .Help("Always 1; the version label says which build runs.")
      .Register(*server->registry_)
      .Add({{"version", std::string(version)}})
      .Set(1);
  prometheus::BuildGauge()
      .Name(server->Name("start_time_seconds"))
      .Help("Unix time at which the process started.")
      .Register(*server->registry_)
      .Add({})
      .Set(absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));
  return server;
}

void MetricsServer::SetClusterInfo(const std::string& cluster, const std::string& digest) {
  prometheus::BuildGauge()
      .Name(Name("cluster_info"))
      .Help("Always 1; the cluster file this process loaded: its cluster name and digest.")
      .Register(*registry_)
      .Add({{"cluster", cluster}, {"digest", digest}})
      .Set(1);
}

MetricsServer::~MetricsServer() = default;

std::string MetricsServer::Name(std::string_view suffix) const {
  return absl::StrCat(prefix_, "_", absl::string_view(suffix.data(), suffix.size()));
}

}  // namespace orch::metrics
