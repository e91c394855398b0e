#include "services/session_engine/worker_pool.h"

#include <algorithm>

#include "absl/hash/hash.h"
#include "absl/synchronization/notification.h"

namespace orch::session_engine {

struct WorkerPool::Worker {
  explicit Worker(int i) : index(i) {}
  struct Task {
    std::function<void()> fn;
    int64_t posted_ms;
  };
  struct Timer {
    int64_t due_ms;
    std::string key;
    bool operator>(const Timer& o) const { return due_ms > o.due_ms; }
  };

  const int index;
  std::thread thread;
  mutable absl::Mutex mu;
  absl::CondVar cv;
  std::deque<Task> tasks ABSL_GUARDED_BY(mu);
  bool stop ABSL_GUARDED_BY(mu) = false;
  // Worker-thread only.
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers;
};

WorkerPool::WorkerPool(int workers, time::Clock* clock, Handler* handler, int64_t housekeeping_ms)
    : clock_(clock), handler_(handler), housekeeping_ms_(housekeeping_ms) {
  for (int i = 0; i < workers; ++i) workers_.push_back(std::make_unique<Worker>(i));
}

WorkerPool::~WorkerPool() { Stop(); }

void WorkerPool::Start() {
  for (auto& w : workers_) {
    Worker* worker = w.get();
    worker->thread = std::thread([this, worker] { Loop(worker); });
  }
}

void WorkerPool::Stop() {
  for (auto& w : workers_) {
    absl::MutexLock l(&w->mu);
    w->stop = true;
    w->cv.Signal();
  }
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

int WorkerPool::WorkerOf(std::string_view key) const {
  return static_cast<int>(absl::HashOf(key) % workers_.size());
}

void WorkerPool::Post(int worker, std::function<void()> task) {
  Worker* w = workers_[worker].get();
  absl::MutexLock l(&w->mu);
  w->tasks.push_back({std::move(task), clock_->MonotonicMs()});
  w->cv.Signal();
}

size_t WorkerPool::queued(int worker) const {
  Worker* w = workers_[worker].get();
  absl::MutexLock l(&w->mu);
  return w->tasks.size();
}

bool WorkerPool::OnThread(int worker) const {
  return std::this_thread::get_id() == workers_[worker]->thread.get_id();
}

absl::Status WorkerPool::RunOn(int worker, absl::FunctionRef<absl::Status()> fn) {
  if (OnThread(worker)) return fn();
  absl::Status result;
  absl::Notification done;
  Post(worker, [&] {
    result = fn();
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

void WorkerPool::AddTimer(int worker, int64_t due_ms, std::string key) {
  workers_[worker]->timers.push({due_ms, std::move(key)});
}

void WorkerPool::FireTimers(Worker* w) {
  const int64_t now = clock_->NowMs();
  while (!w->timers.empty() && w->timers.top().due_ms <= now) {
    Worker::Timer t = w->timers.top();
    w->timers.pop();
    handler_->OnTimer(w->index, t.key, t.due_ms);
  }
}

void WorkerPool::Loop(Worker* w) {
  int64_t next_housekeeping = clock_->MonotonicMs() + housekeeping_ms_;
  for (;;) {
    std::deque<Worker::Task> batch;
    {
      absl::MutexLock l(&w->mu);
      for (;;) {
        if (w->stop || !w->tasks.empty()) break;
        const int64_t mono = clock_->MonotonicMs();
        int64_t wake = next_housekeeping;
        if (!w->timers.empty()) {
          wake = std::min(wake, mono + std::max<int64_t>(0, w->timers.top().due_ms - clock_->NowMs()));
        }
        if (clock_->WaitUntil(&w->cv, &w->mu, wake)) break;
      }
      if (w->stop && w->tasks.empty()) break;
      batch.swap(w->tasks);
    }
    for (Worker::Task& t : batch) {
      handler_->OnQueued(static_cast<double>(clock_->MonotonicMs() - t.posted_ms) / 1000.0);
      t.fn();
    }
    FireTimers(w);
    if (clock_->MonotonicMs() >= next_housekeeping) {
      handler_->OnHousekeeping(w->index);
      next_housekeeping = clock_->MonotonicMs() + housekeeping_ms_;
    }
  }
  handler_->OnStop(w->index);
}

}  // namespace orch::session_engine
