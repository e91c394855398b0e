#include "services/call_watcher/call_store_factory.h"

#include "services/call_watcher/grpc_call_store.h"

namespace orch::call_watcher {

absl::StatusOr<std::unique_ptr<CallStore>> MakeCallStore(const CallStoreOptions& options) {
  if (options.proxy_endpoint.empty()) return absl::InvalidArgumentError("calls.proxy-endpoint is empty");
  return std::make_unique<GrpcCallStore>(options.proxy_endpoint, options.channel, options.request_timeout);
}

}  // namespace orch::call_watcher
