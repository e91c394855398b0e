#pragma once

// Redis Cluster key-slot arithmetic and the slot map: pure functions and a
// plain data structure, no I/O.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/redis/reply.h"

namespace orch::redis {

inline constexpr int kClusterSlots = 16384;

// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), as the Redis
// Cluster specification uses.
uint16_t Crc16(std::string_view data);

// The slot of `key`: CRC16 of the key, or of the hash tag (the text between
// the first '{' and the next '}', when that text is not empty), mod 16384.
int KeySlot(std::string_view key);

// The position of the first key in a command (args[0] is the command name),
// or nullopt for commands without keys (PING, INFO, SCRIPT, CLUSTER, ...).
// Knows EVAL/EVALSHA/FCALL (numkeys), XREAD/XREADGROUP (STREAMS) and treats
// everything else with at least one argument as "first argument is the key".
std::optional<size_t> FirstKeyIndex(const std::vector<std::string>& args);

// The slot a command must go to, or -1 when any node may serve it.
int CommandSlot(const std::vector<std::string>& args);

struct SlotRange {
  int start = 0;
  int end = 0;  // inclusive
  std::string master;                 // "host:port"
  std::vector<std::string> replicas;  // "host:port"
};

// Parses a CLUSTER SLOTS reply. Node entries are [host, port, id, metadata]
// in Redis 7 (older servers send 2 or 3 elements); the extra elements are
// ignored. An empty host means "the node that answered": `answering_host`
// is used instead. INTERNAL when the reply does not have that shape.
absl::StatusOr<std::vector<SlotRange>> ParseClusterSlots(const RedisReply& reply,
                                                         const std::string& answering_host);

// Which node serves each slot. Not thread-safe.
class SlotMap {
 public:
  SlotMap();
  // Replaces the whole map.
  void Assign(const std::vector<SlotRange>& ranges);
  // Points one slot at `address` (after a MOVED).
  void Set(int slot, const std::string& address);
  // The master of `slot`, or nullptr when the slot is not covered.
  const std::string* NodeFor(int slot) const;
  bool empty() const { return nodes_.empty(); }
  // Every address that serves a slot, and every replica seen in the last
  // Assign (candidates for asking the topology).
  const std::vector<std::string>& masters() const { return nodes_; }
  const std::vector<std::string>& replicas() const { return replicas_; }

 private:
  int IndexOf(const std::string& address);
  std::vector<std::string> nodes_;
  std::vector<std::string> replicas_;
  std::array<uint16_t, kClusterSlots> slot_to_node_;
};

}  // namespace orch::redis
