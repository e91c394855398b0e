#include "common/redis/standalone_client.h"

#include "common/base/net.h"

namespace orch::redis {

absl::StatusOr<std::unique_ptr<StandaloneClient>> StandaloneClient::Create(
    const RedisOptions& options) {
  absl::StatusOr<HostPort> hp = SplitHostPort(options.nodes.at(0));
  if (!hp.ok()) return hp.status();
  auto client = std::unique_ptr<StandaloneClient>(new StandaloneClient(options));
  absl::Status s = client->Init();
  if (!s.ok()) return s;
  client->conn_ = std::make_unique<Connection>(client->loop_.get(), &client->settings_, hp->host,
                                               hp->port, client.get());
  client->replicated_conn_ = std::make_unique<Connection>(
      client->loop_.get(), &client->settings_, hp->host, hp->port, client.get());
  return client;
}

StandaloneClient::~StandaloneClient() { Shutdown(); }

void StandaloneClient::Route(std::shared_ptr<Request> req) {
  Connection* conn = req->wait_replicas > 0 ? replicated_conn_.get() : conn_.get();
  conn->Send(std::move(req));
}

void StandaloneClient::ShutdownInLoop() {
  conn_.reset();
  replicated_conn_.reset();
}

}  // namespace orch::redis
