#include "services/call_watcher/call_store_factory.h"

namespace orch::call_watcher {

// GrpcCallStore is wired here.
absl::StatusOr<std::unique_ptr<CallStore>> MakeCallStore(const CallStoreOptions& options) {
  return absl::UnimplementedError(
      "call-watcher has no CallStore over persistence-proxy in this build (GrpcCallStore)");
}

}  // namespace orch::call_watcher
