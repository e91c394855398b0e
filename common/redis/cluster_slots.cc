#include "common/redis/cluster_slots.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace orch::redis {
namespace {

constexpr uint16_t kUnassigned = 0xFFFF;

constexpr std::array<uint16_t, 256> MakeCrcTable() {
  std::array<uint16_t, 256> table{};
  for (int i = 0; i < 256; ++i) {
    uint16_t crc = static_cast<uint16_t>(i << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<uint16_t>(crc << 1);
    }
    table[i] = crc;
  }
  return table;
}

constexpr std::array<uint16_t, 256> kCrcTable = MakeCrcTable();

}  // namespace

uint16_t Crc16(std::string_view data) {
  uint16_t crc = 0;
  for (unsigned char c : data) {
    crc = static_cast<uint16_t>((crc << 8) ^ kCrcTable[((crc >> 8) ^ c) & 0xFF]);
  }
  return crc;
}

int KeySlot(std::string_view key) {
  size_t open = key.find('{');
  if (open != std::string_view::npos) {
    size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return Crc16(key) % kClusterSlots;
}

std::optional<size_t> FirstKeyIndex(const std::vector<std::string>& args) {
  if (args.size() < 2) return std::nullopt;
  const std::string cmd = absl::AsciiStrToUpper(args[0]);
  if (cmd == "EVAL" || cmd == "EVALSHA" || cmd == "EVAL_RO" || cmd == "EVALSHA_RO" ||
      cmd == "FCALL" || cmd == "FCALL_RO") {
    int numkeys = 0;
    if (args.size() < 4 || !absl::SimpleAtoi(args[2], &numkeys) || numkeys <= 0) {
      return std::nullopt;
    }
    return 3;
  }
  if (cmd == "XREAD" || cmd == "XREADGROUP") {
    for (size_t i = 1; i + 1 < args.size(); ++i) {
      if (absl::AsciiStrToUpper(args[i]) == "STREAMS") return i + 1;
    }
    return std::nullopt;
  }
  static const char* const kKeyless[] = {
      "PING",   "INFO",  "SCRIPT",   "CLUSTER", "AUTH",  "HELLO",   "CLIENT", "CONFIG",
      "ECHO",   "TIME",  "DBSIZE",   "FLUSHDB", "FLUSHALL", "COMMAND", "ACL", "SELECT",
      "ASKING", "READONLY", "READWRITE", "WAIT",  "FUNCTION", "SLOWLOG", "MEMORY", "LATENCY",
      "QUIT",   "MULTI", "EXEC",     "DISCARD", "SAVE",  "BGSAVE",  "DEBUG", "PUBLISH"};
  for (const char* k : kKeyless) {
    if (cmd == k) return std::nullopt;
  }
  return 1;
}

int CommandSlot(const std::vector<std::string>& args) {
  std::optional<size_t> i = FirstKeyIndex(args);
  if (!i.has_value() || *i >= args.size()) return -1;
  return KeySlot(args[*i]);
}

absl::StatusOr<std::vector<SlotRange>> ParseClusterSlots(const RedisReply& reply,
                                                         const std::string& answering_host) {
  auto bad = [](const std::string& what) {
    return absl::InternalError(absl::StrCat("unexpected CLUSTER SLOTS reply: ", what));
  };
  if (!reply.is_array()) return bad(reply.DebugString());
  auto node = [&](const RedisReply& n) -> absl::StatusOr<std::string> {
    // [host, port] or [host, port, id] or [host, port, id, metadata].
    if (!n.is_array() || n.elements().size() < 2) return bad("node entry " + n.DebugString());
    const RedisReply& host = n.elements()[0];
    const RedisReply& port = n.elements()[1];
    if (!(host.is_string() || host.is_nil()) || !port.is_integer()) {
      return bad("node entry " + n.DebugString());
    }
    std::string h = host.str();
    if (h.empty() || h == "?") h = answering_host;
    if (h.find(':') != std::string::npos) h = absl::StrCat("[", h, "]");
    return absl::StrCat(h, ":", port.integer());
  };
  std::vector<SlotRange> ranges;
  for (const RedisReply& r : reply.elements()) {
    if (!r.is_array() || r.elements().size() < 3 || !r.elements()[0].is_integer() ||
        !r.elements()[1].is_integer()) {
      return bad("slot range " + r.DebugString());
    }
    SlotRange range;
    range.start = static_cast<int>(r.elements()[0].integer());
    range.end = static_cast<int>(r.elements()[1].integer());
    if (range.start < 0 || range.end >= kClusterSlots || range.start > range.end) {
      return bad("slot range " + r.DebugString());
    }
    absl::StatusOr<std::string> master = node(r.elements()[2]);
    if (!master.ok()) return master.status();
    range.master = *std::move(master);
    for (size_t i = 3; i < r.elements().size(); ++i) {
      absl::StatusOr<std::string> replica = node(r.elements()[i]);
      if (!replica.ok()) return replica.status();
      range.replicas.push_back(*std::move(replica));
    }
    ranges.push_back(std::move(range));
  }
  return ranges;
}

SlotMap::SlotMap() { slot_to_node_.fill(kUnassigned); }

int SlotMap::IndexOf(const std::string& address) {
  auto it = std::find(nodes_.begin(), nodes_.end(), address);
  if (it != nodes_.end()) return static_cast<int>(it - nodes_.begin());
  nodes_.push_back(address);
  return static_cast<int>(nodes_.size()) - 1;
}

void SlotMap::Assign(const std::vector<SlotRange>& ranges) {
  nodes_.clear();
  replicas_.clear();
  slot_to_node_.fill(kUnassigned);
  for (const SlotRange& r : ranges) {
    uint16_t idx = static_cast<uint16_t>(IndexOf(r.master));
    for (int s = r.start; s <= r.end; ++s) slot_to_node_[s] = idx;
    for (const auto& rep : r.replicas) {
      if (std::find(replicas_.begin(), replicas_.end(), rep) == replicas_.end()) {
        replicas_.push_back(rep);
      }
    }
  }
}

void SlotMap::Set(int slot, const std::string& address) {
  if (slot < 0 || slot >= kClusterSlots) return;
  slot_to_node_[slot] = static_cast<uint16_t>(IndexOf(address));
}

const std::string* SlotMap::NodeFor(int slot) const {
  if (slot < 0 || slot >= kClusterSlots) return nullptr;
  uint16_t idx = slot_to_node_[slot];
  if (idx == kUnassigned) return nullptr;
  return &nodes_[idx];
}

}  // namespace orch::redis
