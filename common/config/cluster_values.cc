#include "common/config/cluster_values.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace orch::config {

absl::StatusOr<std::vector<int>> ClusterNodeIds(const Config& c, std::string_view key_view) {
  const std::string key(key_view);
  const cluster::ClusterFile* cl = c.cluster();
  if (cl != nullptr && !c.IsSet(key)) return cl->NodeIds();
  std::vector<int> nodes;
  for (const std::string& n : c.GetStringList(key)) {
    int v = 0;
    if (!absl::SimpleAtoi(n, &v) || v < 1 || v > 9999) {
      return absl::InvalidArgumentError(
          absl::StrCat(c.Origin(key), ": ", key, ": '", n, "' is not a node id (1..9999)"));
    }
    if (cl != nullptr && cl->FindNode(v) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(c.Origin(key), ": ", key, ": node ", v,
                                                     " is not a node of cluster ", cl->name(), " (",
                                                     cl->source_name(), ")"));
    }
    if (std::find(nodes.begin(), nodes.end(), v) == nodes.end()) nodes.push_back(v);
  }
  if (nodes.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(c.Origin(key), ": ", key, ": at least one node id is needed"));
  }
  return nodes;
}

absl::StatusOr<std::string> ClusterName(const Config& c, std::string_view key_view) {
  const std::string key(key_view);
  const cluster::ClusterFile* cl = c.cluster();
  const std::string& own = c.GetString(key);
  if (cl == nullptr) return own;
  if (!c.IsSet(key)) return cl->name();
  if (own != cl->name()) {
    return absl::InvalidArgumentError(absl::StrCat(c.Origin(key), ": ", key, " = \"", own,
                                                   "\" but the cluster file ", cl->source_name(),
                                                   " names the cluster \"", cl->name(), "\""));
  }
  return own;
}

}  // namespace orch::config
