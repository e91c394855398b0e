#pragma once

// How many replicas a write must reach before persistence-proxy acknowledges
// it (option persistence.ack-replicas; README.md, "Acknowledged means
// replicated"), and how the proxy learns the replica counts of the masters.
//
// AckPolicy is pure logic (no I/O, not thread-safe: the proxy's monitor
// thread owns it); ReadReplicaCounts asks Redis (blocking; never on the
// Redis client's I/O thread).

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/redis/redis_client.h"
#include "common/redis/reply.h"

namespace orch::persistence_proxy {

// The value of persistence.ack-replicas meaning "decide from the topology".
inline constexpr int kAckReplicasAuto = -1;

// Replicas per master serving slots (a standalone server: one master).
// `configured` counts every replica the topology lists, failed ones too;
// `live` only those not marked failed.
struct ReplicaCounts {
  int masters = 0;
  int min_live = 0;        // over masters
  int max_configured = 0;  // over masters
  std::string fewest_live_master;  // "host:port" of a master with min_live
};

// From CLUSTER NODES text: masters that serve slots and are not failed, and
// their replicas (by master id). INVALID_ARGUMENT on a malformed line.
absl::StatusOr<ReplicaCounts> ParseClusterNodes(const std::string& text);
// From ROLE of a standalone server: ["master", offset, [[ip, port, offset]...]]
// (a replica's ROLE gives no master: masters = 0).
absl::StatusOr<ReplicaCounts> ParseRole(const redis::RedisReply& reply);
// CLUSTER NODES (cluster) or ROLE (standalone) through `client`.
absl::StatusOr<ReplicaCounts> ReadReplicaCounts(redis::RedisClient& client,
                                                absl::Duration timeout);

// persistence.ack-replicas = N (0..): always N. "auto" (kAckReplicasAuto):
// 1 until a reading shows that no master has a replica (then 0: standalone
// development, nothing to wait for), and 1 again, for good, once any master
// has one. It never drops back to 0 once a replica was seen: replicas
// disappearing is exactly when unreplicated acknowledgements would be lost.
class AckPolicy {
 public:
  explicit AckPolicy(int configured) : configured_(configured) {
    replicas_ = configured == kAckReplicasAuto ? 1 : configured;
  }

  // The replicas to wait for now.
  int replicas() const { return replicas_; }
  bool is_auto() const { return configured_ == kAckReplicasAuto; }
  // Whether a reading may still change replicas() (auto, no replica seen).
  bool settled() const { return !is_auto() || seen_replica_; }

  // A line for the log: what the proxy waits for, or (warning) that some
  // master has fewer live replicas than that, so writes to its slots fail.
  struct Note {
    bool warning = false;
    std::string text;  // empty: nothing new since the last reading
  };
  // Takes a reading of the topology; the note only when its text differs
  // from the previous reading's.
  Note Observe(const ReplicaCounts& counts);

 private:
  std::string Describe() const;

  const int configured_;
  int replicas_;
  bool seen_replica_ = false;
  std::string last_note_;
};

}  // namespace orch::persistence_proxy
