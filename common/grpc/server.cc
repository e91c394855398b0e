#include "common/grpc/server.h"

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/base/net.h"
#include "common/metrics/metrics_server.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/server_interceptor.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace orch::grpc_util {
namespace {

namespace gx = ::grpc::experimental;

class RpcMetrics {
 public:
  explicit RpcMetrics(metrics::MetricsServer* m)
      : handled_(prometheus::BuildCounter()
                     .Name(m->Name("grpc_server_handled_total"))
                     .Help("RPCs completed on the server, by method and status code.")
                     .Register(m->registry())),
        seconds_(prometheus::BuildHistogram()
                     .Name(m->Name("grpc_server_handling_seconds"))
                     .Help("Time from the start of an RPC to its status, by method.")
                     .Register(m->registry())) {}

  void Record(const std::string& method, ::grpc::StatusCode code, absl::Duration took) {
    Children* c;
    {
      // The families' own lookup builds a label map per call; this one
      // finds the method's children by name.
      absl::MutexLock l(&mu_);
      auto [it, fresh] = by_method_.try_emplace(method);
      c = &it->second;
      if (fresh) {
        static const prometheus::Histogram::BucketBoundaries kBuckets = {
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
        c->seconds = &seconds_.Add({{"grpc_method", method}}, kBuckets);
      }
      const int i = static_cast<int>(code);
      if (i < 0 || i >= kCodes) return;
      if (c->handled[i] == nullptr) {
        c->handled[i] = &handled_.Add(
            {{"grpc_method", method}, {"grpc_code", absl::StatusCodeToString(static_cast<absl::StatusCode>(code))}});
      }
      c->handled[i]->Increment();
    }
    c->seconds->Observe(absl::ToDoubleSeconds(took));
  }

 private:
  static constexpr int kCodes = 17;  // grpc::StatusCode OK .. UNAUTHENTICATED
  struct Children {
    prometheus::Histogram* seconds = nullptr;
    prometheus::Counter* handled[kCodes] = {};
  };
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Histogram>& seconds_;
  absl::Mutex mu_;
  // Children live as long as their families (the registry's).
  absl::flat_hash_map<std::string, Children> by_method_ ABSL_GUARDED_BY(mu_);
};

class MetricsInterceptor final : public gx::Interceptor {
 public:
  MetricsInterceptor(RpcMetrics* metrics, const char* method)
      : metrics_(metrics), method_(method != nullptr ? method : ""), start_(absl::Now()) {}

  void Intercept(gx::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(gx::InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics_->Record(method_, methods->GetSendStatus().error_code(), absl::Now() - start_);
    }
    methods->Proceed();
  }

 private:
  RpcMetrics* metrics_;
  std::string method_;
  absl::Time start_;
};

class MetricsInterceptorFactory final : public gx::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(std::shared_ptr<RpcMetrics> metrics) : metrics_(std::move(metrics)) {}
  gx::Interceptor* CreateServerInterceptor(gx::ServerRpcInfo* info) override {
    return new MetricsInterceptor(metrics_.get(), info->method());
  }

 private:
  std::shared_ptr<RpcMetrics> metrics_;
};

std::shared_ptr<::grpc::ServerCredentials> Credentials(const tls::TlsFiles& tls) {
  if (!tls.enabled()) return ::grpc::InsecureServerCredentials();
  ::grpc::SslServerCredentialsOptions ssl(
      tls.ca_pem.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                         : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = tls.ca_pem;
  ssl.pem_key_cert_pairs.push_back({tls.key_pem, tls.cert_pem});
  return ::grpc::SslServerCredentials(ssl);
}

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(
    const GrpcServerOptions& options, const std::vector<::grpc::Service*>& services,
    metrics::MetricsServer* metrics) {
  absl::StatusOr<HostPort> hp = SplitHostPort(options.listen);
  if (!hp.ok()) return hp.status();
  if (absl::Status s = CheckCanListen(options.listen); !s.ok()) return s;

  // Both are process-wide switches read when a server is built.
  ::grpc::EnableDefaultHealthCheckService(true);
  ::grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  auto server = std::unique_ptr<GrpcServer>(new GrpcServer());
  ::grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetSyncServerOption(::grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, options.sync_threads_kept);
  builder.AddListeningPort(options.listen, Credentials(options.tls), &server->port_);
  for (::grpc::Service* s : services) builder.RegisterService(s);
  if (metrics != nullptr) {
    std::vector<std::unique_ptr<gx::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(std::make_unique<MetricsInterceptorFactory>(std::make_shared<RpcMetrics>(metrics)));
    builder.experimental().SetInterceptorCreators(std::move(creators));
  }
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot start the gRPC server on ", options.listen,
                                               " (see the grpc log line before this one)"));
  }
  const bool v6 = hp->host.find(':') != std::string::npos;
  server->address_ = absl::StrCat(v6 ? "[" : "", hp->host, v6 ? "]" : "", ":", server->port_);
  server->SetServing(true);
  return server;
}

GrpcServer::~GrpcServer() {
  if (!shut_down_) Shutdown(absl::ZeroDuration());
}

void GrpcServer::SetServing(bool serving) {
  if (auto* health = server_->GetHealthCheckService(); health != nullptr) {
    health->SetServingStatus(serving);
  }
}

void GrpcServer::SetServing(const std::string& service, bool serving) {
  if (auto* health = server_->GetHealthCheckService(); health != nullptr) {
    health->SetServingStatus(service, serving);
  }
}

void GrpcServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  SetServing(false);
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
}

}  // namespace orch::grpc_util
