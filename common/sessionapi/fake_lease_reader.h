#pragma once

// FakeLeaseReader: leases in memory, for unit tests of NodeDirectory and of
// what uses it. A lease runs out on the injected Clock like a stored one (its
// remaining time shrinks as the clock advances), reads can be failed (the
// store is down) or held and answered later (to see callers wait), and
// reads are counted.
//
//   time::SimulatedClock clock;
//   FakeLeaseReader leases(&clock);
//   leases.SetPrimary(1, "127.0.0.1:7101");      // node 1's lease, 10 s left
//   leases.Hold();                               // reads wait...
//   leases.ReleaseHeld();                        // ...until now
//
// Thread-safe. Reads answer inline unless held; held ones answer on the
// thread that calls ReleaseHeld.

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/sessionapi/lease_reader.h"
#include "common/sessionapi/session_id.h"
#include "common/time/clock.h"

namespace orch::sessionapi {

class FakeLeaseReader final : public LeaseReader {
 public:
  using Done = std::function<void(absl::StatusOr<Lease>)>;

  explicit FakeLeaseReader(time::Clock* clock) : clock_(clock) {}

  // Node `node`'s lease, held by a primary serving at `endpoint`, with `ttl`
  // left from now.
  void SetPrimary(int node, const std::string& endpoint, absl::Duration ttl = absl::Seconds(10)) {
    absl::MutexLock lock(&mu_);
    leases_[NodeLeaseName(node)] = {absl::StrCat("engine@", endpoint), endpoint, ++epoch_,
                                    clock_->MonotonicMs() + absl::ToInt64Milliseconds(ttl)};
  }
  // Nobody holds node `node`'s lease.
  void Clear(int node) {
    absl::MutexLock lock(&mu_);
    leases_.erase(NodeLeaseName(node));
  }
  // Every read answers `error` (OK: answer the leases again).
  void FailReads(absl::Status error) {
    absl::MutexLock lock(&mu_);
    error_ = std::move(error);
  }
  // Reads wait until ReleaseHeld.
  void Hold() {
    absl::MutexLock lock(&mu_);
    hold_ = true;
  }
  // Answers the held reads with the leases as they are now; reads answer
  // inline again.
  void ReleaseHeld() {
    std::vector<std::pair<std::string, Done>> held;
    {
      absl::MutexLock lock(&mu_);
      hold_ = false;
      held.swap(held_);
    }
    for (auto& [name, done] : held) Answer(name, std::move(done));
  }

  int Reads(int node) const {
    absl::MutexLock lock(&mu_);
    auto it = reads_.find(NodeLeaseName(node));
    return it == reads_.end() ? 0 : it->second;
  }
  int HeldReads() const {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(held_.size());
  }
  // Waits (in real time, at most `timeout`) until `n` reads of node `node`'s
  // lease have been answered and their callbacks have returned; false if
  // they have not.
  bool WaitForAnswers(int node, int n, absl::Duration timeout = absl::Seconds(10)) const {
    const std::string name = NodeLeaseName(node);
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      auto it = answers_.find(name);
      return it != answers_.end() && it->second >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }

  void ReadLease(const std::string& name, Done done) override {
    {
      absl::MutexLock lock(&mu_);
      ++reads_[name];
      if (hold_) {
        held_.emplace_back(name, std::move(done));
        return;
      }
    }
    Answer(name, std::move(done));
  }

 private:
  struct Stored {
    std::string holder;
    std::string endpoint;
    uint64_t epoch = 0;
    int64_t expires_ms = 0;
  };

  void Answer(const std::string& name, Done done) {
    absl::StatusOr<Lease> out = Lease{};
    {
      absl::MutexLock lock(&mu_);
      if (!error_.ok()) {
        out = error_;
      } else if (auto it = leases_.find(name); it != leases_.end()) {
        const int64_t left = it->second.expires_ms - clock_->MonotonicMs();
        if (left > 0) out = Lease{it->second.holder, it->second.endpoint, it->second.epoch, left};
      }
    }
    done(std::move(out));
    absl::MutexLock lock(&mu_);
    ++answers_[name];
  }

  time::Clock* const clock_;
  mutable absl::Mutex mu_;
  std::map<std::string, Stored> leases_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> reads_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> answers_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, Done>> held_ ABSL_GUARDED_BY(mu_);
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace orch::sessionapi
