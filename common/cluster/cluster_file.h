#pragma once

// The cluster file: what every process of one Orchestrion cluster shares —
// the cluster's name, its nodes (id, data center, session-engine endpoints)
// and option sections that apply to every process (docs/cluster.md).
//
//   name = "prod"
//   data-centers = ["london", "paris"]
//   [[node]]
//   id = 1
//   data-center = "london"
//   engines = ["10.0.0.1:7101", "10.0.0.2:7101"]
//   [options.orchestration]
//   call-watching-timeout = 5000
//
// A process names it in its own file (`[cluster] file = ...`) or with
// ORCH_CLUSTER_FILE; config::Config::Load reads it and layers its options
// under the process's file (common/config/config.h). Processes that only
// need the nodes may load it alone with ClusterFile::Load.
//
// Every error is INVALID_ARGUMENT, one line "<file>:<line>: <what>" (or
// "<file>: <what>" for what has no line, such as a missing name). A
// ClusterFile is immutable once built: safe to share between threads.

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"

namespace orch::cluster {

inline constexpr int kMinNodeId = 1;
inline constexpr int kMaxNodeId = 9999;

struct Node {
  int id = 0;
  // "" is the nameless data center: nodes without one all belong to it.
  std::string data_center;
  // host:port of this node's session-engine instances (its primary and
  // standbys), in file order; may be empty when processes find the primary
  // through its lease.
  std::vector<std::string> engines;
  int line = 0;  // of the node's id
};

// The value of one option of an [options.<section>] table: the TOML types a
// process's option can have, in the order of config::OptionType (string,
// integer, boolean, array of strings), so config::Value is the same type.
using OptionValue = std::variant<std::string, int64_t, bool, std::vector<std::string>>;

struct OptionSetting {
  std::string section;
  std::string name;
  OptionValue value;
  int line = 0;
  std::string Key() const { return section + "." + name; }
};

class ClusterFile {
 public:
  // Reads and parses the file at `path` (at most 1 MiB). A file that cannot
  // be read is INVALID_ARGUMENT "cluster file: <path>: <reason>".
  static absl::StatusOr<ClusterFile> Load(const std::string& path);
  // Parses TOML text; `source_name` starts every error and every Origin().
  static absl::StatusOr<ClusterFile> Parse(std::string_view toml, const std::string& source_name);

  const std::string& source_name() const { return source_; }
  const std::string& name() const { return name_; }
  // The declared data centers, in file order, without the nameless one.
  const std::vector<std::string>& data_centers() const { return data_centers_; }
  // In ascending id order.
  const std::vector<Node>& nodes() const { return nodes_; }
  std::vector<int> NodeIds() const;
  // nullptr when the cluster has no node `id`.
  const Node* FindNode(int id) const;
  // The node's data center ("" for the nameless one); NOT_FOUND naming the
  // file when the cluster has no such node.
  absl::StatusOr<std::string> DataCenterOf(int id) const;

  // Every option of every [options.<section>], sorted by section then name.
  const std::vector<OptionSetting>& options() const { return options_; }
  // nullptr when the file does not set section.name.
  const OptionSetting* FindOption(std::string_view section, std::string_view name) const;
  // "<file>:<line>" of a setting of this file.
  std::string Origin(const OptionSetting& setting) const;

  // SHA-256 (64 hex digits) of a canonical form of the name, the declared
  // data centers (as a set), the nodes (by id; each node's engines as a set)
  // and the options (by key). Files that mean the same have the same digest
  // whatever their layout, comments, key order or file name, so processes can
  // compare what they loaded.
  const std::string& Digest() const { return digest_; }

 private:
  std::string source_;
  std::string name_;
  std::vector<std::string> data_centers_;
  std::vector<Node> nodes_;
  std::vector<OptionSetting> options_;
  std::string digest_;
};

}  // namespace orch::cluster
