#include "services/session_engine/task_runner.h"

namespace orch::session_engine {

TaskRunner::TaskRunner(int threads) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

TaskRunner::~TaskRunner() { Stop(); }

bool TaskRunner::Post(std::function<void()> task) {
  absl::MutexLock l(&mu_);
  if (stop_) return false;
  tasks_.push_back(std::move(task));
  return true;
}

void TaskRunner::Stop() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void TaskRunner::Loop() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock l(&mu_);
      mu_.Await(absl::Condition(this, &TaskRunner::Ready));
      if (tasks_.empty()) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

}  // namespace orch::session_engine
