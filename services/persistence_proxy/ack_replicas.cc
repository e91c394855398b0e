#include "services/persistence_proxy/ack_replicas.h"

#include <algorithm>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace orch::persistence_proxy {
namespace {

bool HasFlag(const std::string& flags, const char* flag) {
  for (absl::string_view f : absl::StrSplit(flags, ',')) {
    if (f == flag) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<ReplicaCounts> ParseClusterNodes(const std::string& text) {
  // <id> <ip:port@cport[,hostname]> <flags> <master-id|-> <ping> <pong> <epoch> <link> [<slot>...]
  struct Node {
    std::string address;
    bool serves_slots = false;
    int live = 0;
    int configured = 0;
  };
  std::map<std::string, Node> masters;
  std::vector<std::pair<std::string, bool>> replicas;  // master id, failed
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() < 8) {
      return absl::InvalidArgumentError(absl::StrCat("CLUSTER NODES: malformed line '", line, "'"));
    }
    const bool failed = HasFlag(f[2], "fail");
    if (HasFlag(f[2], "master")) {
      if (failed) continue;  // its replica takes over (or the slots are down)
      Node& n = masters[f[0]];
      n.address = f[1].substr(0, f[1].find('@'));
      n.serves_slots = f.size() > 8;
    } else if (HasFlag(f[2], "slave") || HasFlag(f[2], "replica")) {
      replicas.emplace_back(f[3], failed);
    }
  }
  for (const auto& [master_id, failed] : replicas) {
    auto it = masters.find(master_id);
    if (it == masters.end()) continue;
    ++it->second.configured;
    if (!failed) ++it->second.live;
  }
  ReplicaCounts out;
  for (const auto& [id, n] : masters) {
    if (!n.serves_slots) continue;
    if (out.masters == 0 || n.live < out.min_live) {
      out.min_live = n.live;
      out.fewest_live_master = n.address;
    }
    out.max_configured = std::max(out.max_configured, n.configured);
    ++out.masters;
  }
  return out;
}

absl::StatusOr<ReplicaCounts> ParseRole(const redis::RedisReply& reply) {
  const auto& e = reply.elements();
  if (!reply.is_array() || e.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("ROLE: unexpected reply ", reply.DebugString()));
  }
  ReplicaCounts out;
  if (e[0].str() != "master") return out;
  if (e.size() < 3 || !e[2].is_array()) {
    return absl::InvalidArgumentError(absl::StrCat("ROLE: unexpected reply ", reply.DebugString()));
  }
  out.masters = 1;
  out.min_live = static_cast<int>(e[2].elements().size());
  out.max_configured = out.min_live;
  out.fewest_live_master = "the server";
  return out;
}

absl::StatusOr<ReplicaCounts> ReadReplicaCounts(redis::RedisClient& client,
                                                absl::Duration timeout) {
  const bool cluster = client.is_cluster();
  absl::StatusOr<redis::RedisReply> r =
      client.ExecuteSync(cluster ? std::vector<std::string>{"CLUSTER", "NODES"}
                                 : std::vector<std::string>{"ROLE"},
                         timeout);
  if (!r.ok()) return r.status();
  if (r->is_error()) {
    return absl::UnavailableError(
        absl::StrCat(cluster ? "CLUSTER NODES: " : "ROLE: ", r->str()));
  }
  return cluster ? ParseClusterNodes(r->str()) : ParseRole(*r);
}

std::string AckPolicy::Describe() const {
  return is_auto() ? absl::StrCat("auto (", replicas_, ")") : absl::StrCat(replicas_);
}

AckPolicy::Note AckPolicy::Observe(const ReplicaCounts& counts) {
  if (is_auto()) {
    if (counts.max_configured > 0) {
      seen_replica_ = true;
      replicas_ = 1;
    } else if (!seen_replica_) {
      replicas_ = 0;
    }
  }
  Note note;
  if (replicas_ > 0 && counts.masters > 0 && counts.min_live < replicas_) {
    note.warning = true;
    note.text = absl::StrCat(
        "persistence.ack-replicas = ", Describe(), ": master ", counts.fewest_live_master,
        " has ", counts.min_live, " live replica(s): writes to it fail with UNAVAILABLE (not "
        "replicated) until enough replicas are back, or after persistence.ack-timeout-ms each");
  } else if (replicas_ == 0) {
    note.text = absl::StrCat("persistence.ack-replicas = ", Describe(),
                             ": writes are acknowledged without waiting for replicas",
                             is_auto() ? " (no master has one)" : "");
  } else {
    note.text = absl::StrCat("persistence.ack-replicas = ", Describe(), ": every write waits for ",
                             replicas_, " replica(s) of its master (WAIT)");
  }
  if (note.text == last_note_) return Note{};
  last_note_ = note.text;
  return note;
}

}  // namespace orch::persistence_proxy
