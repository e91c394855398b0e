#pragma once

// Per-client token buckets: `rate` requests per second with bursts of
// `burst`. Memory is bounded: at most `max_clients` buckets; when full, the
// buckets that have refilled completely (idle clients) are dropped, and if
// none has, new clients share one overflow bucket. Thread-safe (sharded
// locks).

#include <array>
#include <cstddef>
#include <mutex>
#include <string>
#include "absl/strings/string_view.h"
#include <unordered_map>

namespace orch::rest_gateway {

class RateLimiter {
 public:
  // rate 0 = unlimited.
  RateLimiter(double rate, double burst, size_t max_clients = 100000);

  // 0 when the request may go ahead; otherwise the whole seconds to wait
  // before a token is available (at least 1), for Retry-After.
  int Acquire(absl::string_view client, double now_s);

 private:
  struct Bucket {
    double tokens;
    double last_s;
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, Bucket> buckets;
    double last_prune_s = -1e9;   // a full shard is scanned at most once a second
  };
  static constexpr size_t kShards = 16;
  int Take(Bucket& b, double now_s);

  const double rate_;
  const double burst_;
  const size_t max_per_shard_;
  std::array<Shard, kShards> shards_;
  std::mutex overflow_mu_;
  Bucket overflow_;
};

}  // namespace orch::rest_gateway
