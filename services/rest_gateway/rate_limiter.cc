#include "services/rest_gateway/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "absl/hash/hash.h"

namespace orch::rest_gateway {

RateLimiter::RateLimiter(double rate, double burst, size_t max_clients)
    : rate_(rate), burst_(std::max(burst, 1.0)), max_per_shard_(std::max<size_t>(max_clients / kShards, 1)),
      overflow_{std::max(burst, 1.0), 0} {}

int RateLimiter::Take(Bucket& b, double now_s) {
  // The time may step back (the API passes wall-clock seconds): no refill
  // then, rather than a debt as long as the step.
  b.tokens = std::min(burst_, b.tokens + std::max(0.0, now_s - b.last_s) * rate_);
  b.last_s = now_s;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  return std::max(1, static_cast<int>(std::ceil((1 - b.tokens) / rate_)));
}

int RateLimiter::Acquire(absl::string_view client, double now_s) {
  if (rate_ <= 0) return 0;
  Shard& s = shards_[absl::Hash<absl::string_view>()(client) % kShards];
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.buckets.find(std::string(client));
  if (it == s.buckets.end()) {
    if (s.buckets.size() >= max_per_shard_ && now_s - s.last_prune_s >= 1.0) {
      s.last_prune_s = now_s;
      for (auto i = s.buckets.begin(); i != s.buckets.end();) {
        const double refilled = i->second.tokens + (now_s - i->second.last_s) * rate_;
        i = refilled >= burst_ ? s.buckets.erase(i) : std::next(i);
      }
    }
    if (s.buckets.size() >= max_per_shard_) {
      std::lock_guard<std::mutex> o(overflow_mu_);
      return Take(overflow_, now_s);
    }
    it = s.buckets.emplace(std::string(client), Bucket{burst_, now_s}).first;
  }
  return Take(it->second, now_s);
}

}  // namespace orch::rest_gateway
