#pragma once

// NodeLiveness: which session-engine nodes have a primary now (one holds
// the node's lease). CallRouter asks it when it assigns a call to a node.
//
// Implementations: DirectoryNodeLiveness (sessionapi::NodeDirectory's
// status, the view the SessionsClient already routes by) and
// FakeNodeLiveness (tests say which nodes are up).
//
// IsUp never blocks and may be called with locks held. Thread-safe.

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"

namespace orch::sessionapi {
class NodeDirectory;
}

namespace orch::call_watcher {

class NodeLiveness {
 public:
  virtual ~NodeLiveness() = default;
  virtual bool IsUp(int node) = 0;
};

class DirectoryNodeLiveness final : public NodeLiveness {
 public:
  // `directory` is not owned and must outlive this. A node the directory
  // has not read yet counts as down.
  explicit DirectoryNodeLiveness(sessionapi::NodeDirectory* directory) : directory_(directory) {}
  bool IsUp(int node) override;

 private:
  sessionapi::NodeDirectory* const directory_;
};

// Every node is up until SetUp(node, false).
class FakeNodeLiveness final : public NodeLiveness {
 public:
  bool IsUp(int node) override ABSL_LOCKS_EXCLUDED(mu_);
  void SetUp(int node, bool up) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::Mutex mu_;
  absl::flat_hash_set<int> down_ ABSL_GUARDED_BY(mu_);
};

}  // namespace orch::call_watcher
