#include "services/session_engine/call_restarter.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log/log.h"

namespace orch::session_engine {

namespace pv1 = orch::persistence::v1;

namespace {
constexpr int64_t kListRetryMs = 500;
constexpr int kMaxAttempts = 3;  // of a restart answered UNAVAILABLE
}  // namespace

CallRestarter::CallRestarter(Options options, CallRecords* store, time::Clock* clock, EngineMetrics* metrics,
                             InMemory in_memory, Restart restart)
    : options_(options),
      cycle_ms_(options.cycle_ms),
      store_(store),
      clock_(clock),
      metrics_(metrics),
      in_memory_(std::move(in_memory)),
      restart_(std::move(restart)) {}

CallRestarter::~CallRestarter() { Stop(); }

void CallRestarter::Start(uint64_t epoch, std::function<bool()> still_current, std::function<void()> loaded) {
  uint64_t pass;
  {
    absl::MutexLock l(&mu_);
    pass = ++pass_;
    loading_ = true;
    backlog_.clear();
    cv_.SignalAll();
  }
  metrics_->SetRestartBacklog(0);
  if (thread_.joinable()) thread_.join();
  thread_ = std::thread([this, pass, epoch, still_current = std::move(still_current), loaded = std::move(loaded)] {
    Run(pass, epoch, still_current, loaded);
  });
}

void CallRestarter::Reset() {
  {
    absl::MutexLock l(&mu_);
    ++pass_;
    loading_ = true;
    backlog_.clear();
    cv_.SignalAll();
  }
  metrics_->SetRestartBacklog(0);
}

void CallRestarter::Stop() {
  Reset();
  if (thread_.joinable()) thread_.join();
}

absl::Status CallRestarter::Check(const std::string& session_id) const {
  absl::MutexLock l(&mu_);
  if (loading_) return absl::UnavailableError("the calls to restart after the takeover are being listed; retry");
  if (backlog_.contains(session_id)) {
    return absl::UnavailableError(absl::StrCat("session ", session_id, " is being restarted"));
  }
  return absl::OkStatus();
}

bool CallRestarter::loaded() const {
  absl::MutexLock l(&mu_);
  return !loading_;
}

size_t CallRestarter::backlog() const {
  absl::MutexLock l(&mu_);
  return backlog_.size();
}

uint64_t CallRestarter::cycles() const {
  absl::MutexLock l(&mu_);
  return cycles_;
}

bool CallRestarter::WaitUntil(uint64_t pass, int64_t deadline_ms) {
  absl::MutexLock l(&mu_);
  while (Current(pass) && !clock_->WaitUntil(&cv_, &mu_, deadline_ms)) {
  }
  return Current(pass);
}

bool CallRestarter::Load(uint64_t pass, const std::function<bool()>& still_current, std::deque<Item>* todo) {
  for (;;) {
    todo->clear();
    std::string cursor;
    absl::Status failed;
    do {
      if (!still_current()) return false;
      auto page = store_->ListNodeCalls(options_.node_id, &cursor, options_.page);
      if (page.status().code() == absl::StatusCode::kUnimplemented) {
        // A proxy older than call records has none to restart.
        log::Warn("restart: persistence-proxy keeps no call records (too old?); nothing to restart",
                  {{"error", std::string(page.status().message())}});
        todo->clear();
        return true;
      }
      if (!page.ok()) {
        failed = page.status();
        break;
      }
      for (pv1::CallRecord& r : *page) {
        if (!r.restart_on_switchover() || r.owner_node() != options_.node_id || r.session_id().empty() ||
            in_memory_(r.session_id())) {
          continue;
        }
        todo->push_back(Item{std::move(r)});
      }
    } while (!cursor.empty());
    if (failed.ok()) return true;
    log::Warn("restart: cannot list the node's calls; retrying", {{"error", std::string(failed.message())}});
    if (!WaitUntil(pass, clock_->MonotonicMs() + kListRetryMs)) return false;
  }
}

void CallRestarter::Done(uint64_t pass, const std::string& session_id) {
  size_t left;
  {
    absl::MutexLock l(&mu_);
    if (!Current(pass)) return;
    backlog_.erase(session_id);
    left = backlog_.size();
  }
  metrics_->SetRestartBacklog(left);
}

void CallRestarter::Run(uint64_t pass, uint64_t epoch, const std::function<bool()>& still_current,
                        const std::function<void()>& loaded) {
  std::deque<Item> todo;
  if (!Load(pass, still_current, &todo)) return;
  {
    absl::MutexLock l(&mu_);
    if (!Current(pass)) return;
    for (const Item& item : todo) backlog_.insert(item.record.session_id());
    loading_ = false;
  }
  metrics_->SetRestartBacklog(todo.size());
  log::Info("restart: backlog loaded", {{"calls", todo.size()}, {"epoch", epoch}});
  if (loaded) loaded();
  size_t restarted = 0, failed = 0, ended = 0;
  const size_t per_cycle = std::max<size_t>(1, options_.per_cycle);
  int64_t previous_start_ms = -1;
  while (!todo.empty()) {
    std::vector<Item> retry;
    {
      absl::MutexLock l(&mu_);
      if (!Current(pass)) return;
    }
    if (!still_current()) return;
    // The cycle's restarts run at once, one thread each (the seeds' quota
    // is the engine's working threads): each waits for the store and for
    // its session's worker, so one after another would make a cycle as
    // long as the sum of their round trips.
    std::vector<Item> batch;
    while (batch.size() < per_cycle && !todo.empty()) {
      batch.push_back(std::move(todo.front()));
      todo.pop_front();
    }
    std::vector<absl::Status> results(batch.size());
    const int64_t start_ms = clock_->MonotonicMs();
    {
      std::vector<std::thread> threads;
      threads.reserve(batch.size());
      for (size_t i = 0; i < batch.size(); ++i) {
        threads.emplace_back([&, i] { results[i] = restart_(batch[i].record, epoch); });
      }
      for (std::thread& t : threads) t.join();
    }
    const int64_t work_ms = clock_->MonotonicMs() - start_ms;
    for (size_t i = 0; i < batch.size(); ++i) {
      Item& item = batch[i];
      const pv1::CallRecord& r = item.record;
      const absl::Status& st = results[i];
      if (st.code() == absl::StatusCode::kUnavailable && ++item.attempts < kMaxAttempts) {
        log::Warn("restart: a call's session could not be restarted yet; retrying in a later cycle",
                  {{"call", r.call_uuid()}, {"session", r.session_id()}, {"error", std::string(st.message())}});
        retry.push_back(std::move(item));
        continue;
      }
      if (st.ok()) {
        ++restarted;
        metrics_->CountSessionRestarted();
      } else if (st.code() == absl::StatusCode::kNotFound) {
        // The call ended (call-watcher deleted its record) after the backlog
        // was listed: nothing to restart.
        ++ended;
        log::Info("restart: the call ended before its turn", {{"call", r.call_uuid()}, {"session", r.session_id()}});
      } else {
        ++failed;
        metrics_->CountRestartFailure();
        log::Error("restart: a call's session could not be restarted; call-watcher will find it gone",
                   {{"call", r.call_uuid()}, {"session", r.session_id()}, {"error", std::string(st.message())}});
      }
      Done(pass, r.session_id());
    }
    for (Item& item : retry) todo.push_back(std::move(item));
    int64_t deadline;
    {
      absl::MutexLock l(&mu_);
      if (!Current(pass)) return;
      ++cycles_;
      deadline = clock_->MonotonicMs() + cycle_ms_.load(std::memory_order_relaxed);
    }
    metrics_->ObserveRestartCycle(batch.size(), static_cast<double>(work_ms) / 1000,
                                  previous_start_ms < 0 ? 0 : static_cast<double>(start_ms - previous_start_ms) / 1000);
    previous_start_ms = start_ms;
    if (!todo.empty() && !WaitUntil(pass, deadline)) return;
  }
  log::Info("restart: backlog done",
            {{"restarted", restarted}, {"ended", ended}, {"failed", failed}, {"epoch", epoch}});
}

}  // namespace orch::session_engine
