#pragma once

// Helpers shared by RedisStore's two source files, redis_store.cc (sessions,
// registry, documents, leases, schedules) and redis_call_ops.cc (call
// records, owners, events, node call lists, target reservations). Internal
// to persistence_proxy_lib: nothing outside this folder includes it.

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/status/statusor.h"
#include "common/redis/redis_client.h"
#include "google/protobuf/message_lite.h"
#include "services/persistence_proxy/store.h"

namespace orch::persistence_proxy::redis_store_internal {

// The longest id that becomes part of a key (session ids, names, buckets).
inline constexpr size_t kMaxIdBytes = 200;

// The deterministic serialization of `m` (what the store writes).
std::string Serialize(const google::protobuf::MessageLite& m);

// Ids that become part of a key: no hash-tag braces (a '{' would change the
// slot or let one session's keys collide with another's), no whitespace or
// control bytes; INVALID_ARGUMENT naming `field` otherwise.
absl::Status ValidateKeyPart(const char* field, const std::string& v, bool allow_colon = true,
                             size_t max_bytes = kMaxIdBytes);

// An error reply of our scripts (first word = kind) or of Redis, as a status
// (README.md, "Lua scripts' contract").
absl::Status FromErrorReply(const redis::RedisReply& reply, const std::string& context);

// A transport status of the Redis client prefixed with `context`.
absl::Status WithContext(const absl::Status& s, const std::string& context);

// The proxy's clock (Unix ms): what decides whether a schedule entry is due.
inline int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

// An integer reply, or a decimal string reply (0 if it is not one).
uint64_t ToU64(const redis::RedisReply& r);

// A sorted-set score or a decimal string as whole milliseconds (Redis may
// write a large score as "1.7e+12"); 0 if it is not a number.
int64_t ScoreMs(const std::string& v);

// Completes `done` with parse(reply), or with the transport/error-reply status.
template <typename Resp, typename Parse>
redis::RedisClient::Callback Complete(std::string context, Done<Resp> done, Parse parse) {
  return [context = std::move(context), done = std::move(done),
          parse = std::move(parse)](absl::StatusOr<redis::RedisReply> r) mutable {
    if (!r.ok()) return std::move(done)(WithContext(r.status(), context));
    if (r->is_error()) return std::move(done)(FromErrorReply(*r, context));
    std::move(done)(parse(*r));
  };
}

}  // namespace orch::persistence_proxy::redis_store_internal
