#pragma once

// Redis (standalone or a six-process cluster) and a persistence-proxy
// process on it, started on loopback for the tests that drive the proxy
// through a client of their own (the session store's and the call store's
// conformance runs). Test-only.
//
//   const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new ProxyBackends);
//   auto b = ProxyBackends::Get(/*cluster=*/true);   // started on first use
//   GrpcClient client((*b)->proxy.grpc);

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/redis/testing/redis_server.h"
#include "common/testing/temp_dir.h"
#include "gtest/gtest.h"
#include "tests/stack/stack.h"

namespace orch::testing {

struct ProxyBackend {
  std::unique_ptr<RedisServer> server;    // standalone
  std::unique_ptr<RedisCluster> cluster;  // or a 3+3 cluster
  TempDir dir;
  Served proxy;                           // healthy once started
};

// Starts Redis and a proxy on it (redis-mode set explicitly) and waits until
// the proxy's Persistence service is SERVING.
absl::StatusOr<std::unique_ptr<ProxyBackend>> StartProxyBackend(bool cluster);

// One standalone and one cluster backend per test program, started on first
// use and stopped (by PID, in their destructors) when the tests end. Register
// it once as a global test environment.
class ProxyBackends : public ::testing::Environment {
 public:
  static absl::StatusOr<ProxyBackend*> Get(bool cluster);
  void TearDown() override;

 private:
  static inline std::unique_ptr<ProxyBackend> standalone_;
  static inline std::unique_ptr<ProxyBackend> cluster_;
};

}  // namespace orch::testing
