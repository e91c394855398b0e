#include "services/call_watcher/node_liveness.h"

#include "common/sessionapi/node_directory.h"

namespace orch::call_watcher {

bool DirectoryNodeLiveness::IsUp(int node) { return directory_->Status(node).up; }

bool FakeNodeLiveness::IsUp(int node) {
  absl::MutexLock l(&mu_);
  return !down_.contains(node);
}

void FakeNodeLiveness::SetUp(int node, bool up) {
  absl::MutexLock l(&mu_);
  if (up) {
    down_.erase(node);
  } else {
    down_.insert(node);
  }
}

}  // namespace orch::call_watcher
