#pragma once

// The CallStore that the call-watcher process uses (persistence-proxy over
// gRPC). A seam of its own so that call_watcher.cc does not depend on how
// the store is built.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/grpc/channel.h"
#include "services/call_watcher/call_store.h"

namespace orch::call_watcher {

struct CallStoreOptions {
  std::string proxy_endpoint;            // persistence-proxy's host:port
  grpc_util::ChannelOptions channel;     // TLS to it when channel.tls.ca_pem is set
  absl::Duration request_timeout = absl::Seconds(2);
};

absl::StatusOr<std::unique_ptr<CallStore>> MakeCallStore(const CallStoreOptions& options);

}  // namespace orch::call_watcher
