#include "services/session_engine/worker_pool.h"

#include <algorithm>

#include "absl/hash/hash.h"
#include "absl/synchronization/notification.h"

namespace orch::session_engine {

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

void WorkerPool::Enqueue(Worker* w, std::function<void()> task, bool wake) {
  absl::MutexLock l(&w->mu);
  w->tasks.push_back({std::move(task), clock_->MonotonicMs()});
  // A runner sees it before giving up the role (Release checks under mu).
  if (wake && !w->running) w->cv.Signal();
}

void WorkerPool::Post(int worker, std::function<void()> task) {
  Enqueue(workers_[worker].get(), std::move(task), /*wake=*/true);
}

void WorkerPool::PostDeferred(int worker, std::function<void()> task) {
  Enqueue(workers_[worker].get(), std::move(task), /*wake=*/false);
}

void WorkerPool::PostToOwnThread(int worker, std::function<void()> task) {
  Worker* w = workers_[worker].get();
  absl::MutexLock l(&w->mu);
  w->own_tasks.push_back({std::move(task), clock_->MonotonicMs()});
  // A helper running the worker wakes the thread when it leaves (Release).
  if (!w->running) w->cv.Signal();
}

bool WorkerPool::OnOwnThread(int worker) const {
  return std::this_thread::get_id() == workers_[worker]->thread.get_id();
}

void WorkerPool::Help(int worker) {
  Worker* w = workers_[worker].get();
  absl::MutexLock l(&w->mu);
  if (w->running || w->tasks.empty()) return;
  if (w->stop) {
    // The worker's thread runs what is queued before it stops (and nothing
    // after OnStop): no helper any more.
    w->cv.Signal();
    return;
  }
  w->running = true;
  w->runner.store(std::this_thread::get_id(), std::memory_order_relaxed);
  w->mu.Unlock();
  handler_->OnEnter(w->index);
  w->mu.Lock();
  RunTasks(w, kHelpLimit, /*one_batch=*/false);
  w->mu.Unlock();
  handler_->OnLeave(w->index);
  w->mu.Lock();
  Release(w);
}

void WorkerPool::RunTasks(Worker* w, size_t limit, bool one_batch) {
  size_t done = 0;
  for (int round = 0; !w->tasks.empty() && done < limit && !(one_batch && round > 0); ++round) {
    std::deque<Worker::Task> batch;
    if (w->tasks.size() <= limit - done) {
      batch.swap(w->tasks);
    } else {
      for (size_t i = done; i < limit; ++i) {
        batch.push_back(std::move(w->tasks.front()));
        w->tasks.pop_front();
      }
    }
    done += batch.size();
    w->mu.Unlock();
    for (Worker::Task& t : batch) {
      handler_->OnQueued(static_cast<double>(clock_->MonotonicMs() - t.posted_ms) / 1000.0);
      t.fn();
    }
    w->mu.Lock();
  }
}

void WorkerPool::Release(Worker* w) {
  w->running = false;
  w->runner.store(std::thread::id(), std::memory_order_relaxed);
  if (w->sleeping_until_ms == INT64_MIN) return;  // the thread is not waiting: it will look
  const bool earlier_timer = !w->timers.empty() && w->timers.top().due_ms < w->sleeping_until_ms;
  if (!w->tasks.empty() || !w->own_tasks.empty() || w->waiting_for_role || earlier_timer) w->cv.Signal();
}

size_t WorkerPool::queued(int worker) const {
  Worker* w = workers_[worker].get();
  absl::MutexLock l(&w->mu);
  return w->tasks.size();
}

bool WorkerPool::busy(int worker) const {
  Worker* w = workers_[worker].get();
  absl::MutexLock l(&w->mu);
  return w->running;
}

bool WorkerPool::OnThread(int worker) const {
  return workers_[worker]->runner.load(std::memory_order_relaxed) == std::this_thread::get_id();
}

absl::Status WorkerPool::RunOn(int worker, absl::FunctionRef<absl::Status()> fn) {
  if (OnThread(worker)) return fn();
  absl::Status result;
  absl::Notification done;
  PostDeferred(worker, [&] {
    result = fn();
    done.Notify();
  });
  Help(worker);
  done.WaitForNotification();
  return result;
}

void WorkerPool::AddTimer(int worker, int64_t due_ms, std::string key) {
  Worker* w = workers_[worker].get();
  absl::MutexLock l(&w->mu);
  w->timers.push({due_ms, std::move(key)});
}

void WorkerPool::FireTimers(Worker* w) {
  const int64_t now = clock_->NowMs();
  for (;;) {
    Worker::Timer t;
    {
      absl::MutexLock l(&w->mu);
      if (w->timers.empty() || w->timers.top().due_ms > now) return;
      t = w->timers.top();
      w->timers.pop();
    }
    handler_->OnTimer(w->index, t.key, t.due_ms);
  }
}

void WorkerPool::Loop(Worker* w) {
  int64_t next_housekeeping = clock_->MonotonicMs() + housekeeping_ms_;
  w->mu.Lock();
  for (;;) {
    // Wait for work, and for the role while another thread runs the worker.
    for (;;) {
      const bool done = w->stop && w->tasks.empty() && w->own_tasks.empty();
      const int64_t now = clock_->NowMs();
      const int64_t mono = clock_->MonotonicMs();
      const bool timer_due = !w->timers.empty() && w->timers.top().due_ms <= now;
      const bool work = done || !w->tasks.empty() || !w->own_tasks.empty() || timer_due || mono >= next_housekeeping;
      if (work && !w->running) break;
      int64_t wake_wall = now + (next_housekeeping - mono);
      if (!w->timers.empty()) wake_wall = std::min(wake_wall, w->timers.top().due_ms);
      w->waiting_for_role = work;  // then the runner wakes it when it leaves
      w->sleeping_until_ms = work ? INT64_MAX : wake_wall;
      clock_->WaitUntil(&w->cv, &w->mu, work ? INT64_MAX : mono + (wake_wall - now));
      w->sleeping_until_ms = INT64_MIN;
      w->waiting_for_role = false;
    }
    if (w->stop && w->tasks.empty() && w->own_tasks.empty()) break;
    w->running = true;
    w->runner.store(std::this_thread::get_id(), std::memory_order_relaxed);
    w->mu.Unlock();
    handler_->OnEnter(w->index);
    w->mu.Lock();
    RunTasks(w, SIZE_MAX, /*one_batch=*/true);  // then timers get their turn
    std::deque<Worker::Task> own;
    own.swap(w->own_tasks);
    w->mu.Unlock();
    for (Worker::Task& t : own) t.fn();
    FireTimers(w);
    if (clock_->MonotonicMs() >= next_housekeeping) {
      handler_->OnHousekeeping(w->index);
      next_housekeeping = clock_->MonotonicMs() + housekeeping_ms_;
    }
    handler_->OnLeave(w->index);
    w->mu.Lock();
    w->running = false;
    w->runner.store(std::thread::id(), std::memory_order_relaxed);
  }
  // Stopping: the last stretch, with the role (helpers no longer take it).
  w->running = true;
  w->runner.store(std::this_thread::get_id(), std::memory_order_relaxed);
  w->mu.Unlock();
  handler_->OnEnter(w->index);
  handler_->OnStop(w->index);
  handler_->OnLeave(w->index);
}

}  // namespace orch::session_engine
