#pragma once

#include "common/config/config.h"
#include "common/process/process.h"
#include "common/redis/redis_options.h"

namespace orch::persistence_proxy {

// What persistence-proxy adds to the common process runtime: its options, its
// metrics prefix and default ports, and its component (Redis client, store,
// the Persistence service, the Redis health monitor).
process::ProcessDefinition Definition();

// The [persistence] options as client options (used by the configuration
// check too, so unreadable TLS files are a configuration error).
redis::RedisOptions RedisOptionsFromConfig(const config::Config& config);

}  // namespace orch::persistence_proxy
