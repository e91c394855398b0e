#pragma once

// A fixed set of threads running posted tasks in FIFO order (with one
// thread: strictly in order). For work that may block (a store call,
// another node, an HTTP peer) and must therefore stay off the session
// workers.
//
// Thread-safe. Stop() (and the destructor) runs every task already posted,
// then joins; Post after Stop runs nothing and returns false.

#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace orch::session_engine {

class TaskRunner {
 public:
  explicit TaskRunner(int threads);
  ~TaskRunner();
  TaskRunner(const TaskRunner&) = delete;
  TaskRunner& operator=(const TaskRunner&) = delete;

  bool Post(std::function<void()> task);
  void Stop();

 private:
  void Loop();
  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !tasks_.empty(); }

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace orch::session_engine
