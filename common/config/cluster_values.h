#pragma once

// What a process takes from the cluster file (docs/cluster.md) instead of
// repeating it in its own file: the cluster's node ids and its name.
//
//   ASSIGN_OR_RETURN(std::vector<int> nodes, config::ClusterNodeIds(c, "routing.nodes"));
//   ASSIGN_OR_RETURN(std::string name, config::ClusterName(c, "persistence.cluster-name"));
//
// Rules, the same in every process:
//   - the process's own option wins when it is set (file or environment);
//     with a cluster file loaded, each node it names must be a node of the
//     cluster, and a name must be the cluster's: a process configured for
//     another cluster is an error, not a silent split;
//   - otherwise the cluster file's nodes (ascending) / name;
//   - otherwise (no cluster file) the option's default.
// Errors are INVALID_ARGUMENT and start with the option's origin.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config/config.h"

namespace orch::config {

// `key` is a kStringList option of node ids (1..9999), at least one.
absl::StatusOr<std::vector<int>> ClusterNodeIds(const Config& c, std::string_view key);

// `key` is a kString option.
absl::StatusOr<std::string> ClusterName(const Config& c, std::string_view key);

}  // namespace orch::config
