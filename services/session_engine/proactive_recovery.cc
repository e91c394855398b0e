#include "services/session_engine/proactive_recovery.h"

#include <algorithm>
#include <atomic>
#include <vector>

#include "common/log/log.h"

namespace orch::session_engine {

namespace {
constexpr int64_t kListRetryMs = 500;
constexpr char kGone[] = "<gone>";

// Runs fn(i) for i in [0, n) on up to `width` threads.
void ParallelFor(size_t n, size_t width, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  for (size_t t = 0; t < std::min(n, width); ++t) {
    threads.emplace_back([&] {
      for (size_t i = next++; i < n; i = next++) fn(i);
    });
  }
  for (auto& t : threads) t.join();
}
}  // namespace

ProactiveRecovery::ProactiveRecovery(Options options, SessionLog* store, SessionRegistry* registry,
                                     time::Clock* clock, Activate activate, std::function<void(double)> on_done)
    : options_(options),
      pause_ms_(options.pause_ms),
      store_(store),
      registry_(registry),
      clock_(clock),
      activate_(std::move(activate)),
      on_done_(std::move(on_done)) {}

ProactiveRecovery::~ProactiveRecovery() { Stop(); }

void ProactiveRecovery::Start(std::function<bool()> still_current) {
  Stop();
  {
    absl::MutexLock l(&mu_);
    stop_ = false;
  }
  thread_ = std::thread([this, still_current = std::move(still_current)] { Run(still_current); });
}

void ProactiveRecovery::Stop() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
    cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

bool ProactiveRecovery::Pause(int64_t ms) {
  absl::MutexLock l(&mu_);
  const int64_t deadline = clock_->MonotonicMs() + ms;
  while (!stop_ && !clock_->WaitUntil(&cv_, &mu_, deadline)) {
  }
  return !stop_;
}

bool ProactiveRecovery::ActivateAll(const std::vector<std::string>& ids, const std::function<bool()>& stopped,
                                 Tally* tally, std::vector<std::string>* retry) {
  const size_t batch = std::max<size_t>(1, options_.batch);
  for (size_t i = 0; i < ids.size(); i += batch) {
    const size_t n = std::min(ids.size(), i + batch) - i;
    std::vector<absl::StatusOr<bool>> results(n, absl::UnknownError("not run"));
    ParallelFor(n, batch, [&](size_t j) { results[j] = activate_(ids[i + j]); });
    for (size_t j = 0; j < n; ++j) {
      const absl::StatusOr<bool>& r = results[j];
      if (r.ok()) {
        ++(*r ? tally->restored : tally->already);
      } else if (absl::IsNotFound(r.status())) {
        ++tally->ended;
      } else if (absl::IsUnavailable(r.status()) || absl::IsDeadlineExceeded(r.status()) ||
                 absl::IsResourceExhausted(r.status())) {
        retry->push_back(ids[i + j]);
      } else {
        ++tally->failed;
        log::Error("recovery: a session could not be restored; its next event will try again",
                   {{"session", ids[i + j]}, {"error", std::string(r.status().message())}});
      }
    }
    if (stopped() || !Pause(pause_ms_.load(std::memory_order_relaxed))) return false;
  }
  return true;
}

void ProactiveRecovery::Run(const std::function<bool()>& still_current) {
  auto stopped = [&] {
    if (!still_current()) return true;
    absl::MutexLock l(&mu_);
    return stop_;
  };
  std::string cursor = "0";
  size_t skipped = 0, listed = 0;
  Tally tally;
  std::vector<std::string> retry;
  const int64_t t0 = clock_->MonotonicMs();
  do {
    if (stopped()) return;
    std::vector<std::string> states;
    auto ids = store_->ListNodeSessions(options_.node_id, &cursor, options_.page, &states);
    if (!ids.ok()) {
      log::Warn("recovery: cannot list the node's sessions; retrying", {{"error", std::string(ids.status().message())}});
      if (!Pause(kListRetryMs)) return;
      continue;
    }
    listed += ids->size();
    std::vector<std::string> todo;
    for (size_t i = 0; i < ids->size(); ++i) {
      if (states[i] != kStateDeactivated && states[i] != kGone && !registry_->Contains((*ids)[i])) {
        todo.push_back((*ids)[i]);
      } else {
        ++skipped;
      }
    }
    if (!ActivateAll(todo, stopped, &tally, &retry)) return;
  } while (cursor != "0");
  for (int attempt = 2; attempt <= kAttempts && !retry.empty(); ++attempt) {
    std::vector<std::string> again;
    again.swap(retry);
    log::Info("recovery: trying again the sessions the store or the workers could not take",
              {{"sessions", again.size()}, {"attempt", attempt}});
    if (!ActivateAll(again, stopped, &tally, &retry)) return;
  }
  if (!retry.empty()) {
    tally.failed += retry.size();
    log::Error("recovery: sessions could not be restored after every attempt; each is activated by its next event",
               {{"sessions", retry.size()}, {"first", retry.front()}, {"attempts", kAttempts}});
  }
  const int64_t ms = clock_->MonotonicMs() - t0;
  log::Info("recovery: done", {{"listed", listed},
                               {"restored", tally.restored},
                               {"deactivated_or_in_memory", skipped + tally.already},
                               {"ended", tally.ended},
                               {"failed", tally.failed},
                               {"ms", ms}});
  if (on_done_) on_done_(static_cast<double>(ms) / 1000.0);
}

}  // namespace orch::session_engine
