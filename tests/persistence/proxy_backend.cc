#include "tests/persistence/proxy_backend.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/testing/eventually.h"

namespace orch::testing {

absl::StatusOr<std::unique_ptr<ProxyBackend>> StartProxyBackend(bool cluster) {
  auto b = std::make_unique<ProxyBackend>();
  std::string seed;
  if (cluster) {
    auto c = RedisCluster::Start();
    if (!c.ok()) return c.status();
    b->cluster = std::move(*c);
    seed = b->cluster->addresses()[0];
  } else {
    auto s = RedisServer::Start({});
    if (!s.ok()) return s.status();
    b->server = std::move(*s);
    seed = b->server->address();
  }
  const std::string config = b->dir.WriteFile(
      "proxy.toml",
      absl::StrCat("[server]\ngrpc-listen = \"127.0.0.1:0\"\nshutdown-grace-ms = 500\n",
                   "[metrics]\nlisten = \"127.0.0.1:0\"\n[persistence]\n", "redis-nodes = [\"", seed,
                   "\"]\nredis-mode = \"", cluster ? "cluster" : "standalone", "\"\n",
                   "health-check-interval-ms = 100\n"));
  auto p = Launch(ORCH_PERSISTENCE_PROXY_BIN, config);
  if (!p.ok()) return p.status();
  b->proxy = std::move(*p);
  if (!Eventually([&] { return b->proxy.Healthy("orch.persistence.v1.Persistence"); })) {
    return absl::InternalError("persistence-proxy did not become healthy");
  }
  return b;
}

absl::StatusOr<ProxyBackend*> ProxyBackends::Get(bool cluster) {
  std::unique_ptr<ProxyBackend>& b = cluster ? cluster_ : standalone_;
  if (b == nullptr) {
    auto started = StartProxyBackend(cluster);
    if (!started.ok()) return started.status();
    b = std::move(*started);
  }
  return b.get();
}

void ProxyBackends::TearDown() {
  standalone_.reset();
  cluster_.reset();
}

}  // namespace orch::testing
