#pragma once

// FakeCallStore: CallStore in memory, with TTLs on an injected time::Clock,
// for unit tests of call-watcher's logic (call_store.h is the contract;
// call_store_conformance.h checks this fake and GrpcCallStore alike).
// `SetUnavailable(true)` makes every call fail with UNAVAILABLE.

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/time/clock.h"
#include "services/call_watcher/call_store.h"

namespace orch::call_watcher {

class FakeCallStore final : public CallStore {
 public:
  // `clock` must outlive the store.
  explicit FakeCallStore(time::Clock* clock) : clock_(clock) {}

  absl::StatusOr<ClaimResult> ClaimCall(const CallRecord& record, absl::Duration ttl) override;
  absl::StatusOr<CallRecord> GetCall(absl::string_view call_uuid) override;
  absl::StatusOr<bool> DeleteCall(absl::string_view call_uuid) override;
  absl::StatusOr<uint64_t> RecordCallEvent(absl::string_view call_uuid,
                                           const ::orch::event::v1::Event& event) override;
  absl::StatusOr<std::string> ReserveTarget(absl::string_view target, absl::string_view holder,
                                            absl::Duration ttl) override;
  absl::StatusOr<bool> ReleaseTarget(absl::string_view target, absl::string_view holder) override;

  void SetUnavailable(bool unavailable);

  // The events recorded for a call, in order (none: empty). Tests.
  std::vector<::orch::event::v1::Event> RecordedEvents(absl::string_view call_uuid);

 private:
  template <typename T>
  struct Expiring {
    T value;
    int64_t expires_ms = 0;
  };

  absl::Status Check() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  time::Clock* const clock_;
  absl::Mutex mu_;
  bool unavailable_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<std::string, Expiring<CallRecord>> calls_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Expiring<std::string>> targets_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::vector<::orch::event::v1::Event>> events_ ABSL_GUARDED_BY(mu_);
};

// The argument rules of call_store.h, shared by the implementations.
absl::Status ValidateCallStoreKey(absl::string_view what, absl::string_view key);
absl::Status ValidateCallStoreTtl(absl::Duration ttl);

}  // namespace orch::call_watcher
