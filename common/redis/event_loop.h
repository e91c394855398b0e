#pragma once

// A single-threaded epoll loop with a task queue and timers. Everything the
// loop owns is touched only on its thread; other threads talk to it with
// Post(). Internal to common/redis.

#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace orch::redis {

class EventLoop {
 public:
  using Task = absl::AnyInvocable<void() &&>;
  // Called with the epoll events of a registered fd.
  using IoHandler = absl::AnyInvocable<void(uint32_t events)>;
  using TimerId = std::pair<absl::Time, uint64_t>;

  static absl::StatusOr<std::unique_ptr<EventLoop>> Create();
  // Stops the thread (pending tasks are dropped after Stop()).
  ~EventLoop();

  // Starts the thread.
  void Start();
  // Runs `task` on the loop thread; runs it inline-queued if already there.
  // Tasks posted after Stop() are dropped (destroyed without running).
  void Post(Task task);
  // Runs `stop_task` on the loop thread, then ends it and joins. Idempotent.
  void Stop(Task stop_task);
  bool InLoopThread() const { return std::this_thread::get_id() == thread_id_.load(); }

  // Loop-thread only.
  void Add(int fd, uint32_t events, IoHandler handler);
  void Modify(int fd, uint32_t events);
  void Remove(int fd);
  TimerId RunAt(absl::Time when, Task task);
  void Cancel(const TimerId& id);

 private:
  EventLoop() = default;
  void Run();
  void Wake();

  int epoll_fd_ = -1;
  int event_fd_ = -1;
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};

  std::mutex mu_;
  std::deque<Task> tasks_;  // guarded by mu_
  bool stopping_ = false;   // guarded by mu_

  // Loop-thread state.
  bool running_ = true;
  uint64_t next_timer_ = 1;
  std::map<TimerId, Task> timers_;
  std::map<int, IoHandler> handlers_;
  // Handlers removed while events are being dispatched (one may remove
  // itself); destroyed after the batch.
  std::vector<IoHandler> removed_handlers_;
};

}  // namespace orch::redis
