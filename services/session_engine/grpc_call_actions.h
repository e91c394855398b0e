#pragma once

// CallActions over gRPC: CallWatcher.SubmitAction to the replica named by
// the binding ("host:port"), one channel per replica (created on first use,
// TLS as configured), the callback API (no thread waits), a deadline on
// every call. Per session, one submit in flight at a time; the rest wait in
// order (call_actions.h). Destruction cancels nothing: it waits for the
// calls in flight to answer (bounded by the deadline).

#include <deque>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/grpc/channel.h"
#include "orch/calls/v1/calls.grpc.pb.h"
#include "services/session_engine/call_actions.h"

namespace orch::session_engine {

class GrpcCallActions final : public CallActions {
 public:
  struct Options {
    grpc_util::ChannelOptions channel;           // TLS to call-watcher
    absl::Duration call_timeout = absl::Seconds(5);
  };
  explicit GrpcCallActions(Options options) : options_(std::move(options)) {}
  ~GrpcCallActions() override;

  void Submit(const std::string& watcher, calls::v1::SubmitActionRequest request,
              std::function<void(absl::Status)> done) override;

 private:
  struct Pending {
    std::string watcher;
    calls::v1::SubmitActionRequest request;
    std::function<void(absl::Status)> done;
  };
  struct Call;

  void Start(Pending p) ABSL_LOCKS_EXCLUDED(mu_);
  void Finish(const std::string& session_id) ABSL_LOCKS_EXCLUDED(mu_);
  calls::v1::CallWatcher::Stub* StubFor(const std::string& watcher) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<calls::v1::CallWatcher::Stub>> stubs_ ABSL_GUARDED_BY(mu_);
  // Per session with a submit in flight: the ones waiting behind it.
  absl::flat_hash_map<std::string, std::deque<Pending>> lanes_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace orch::session_engine
