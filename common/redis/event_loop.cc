#include "common/redis/event_loop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/base/check.h"

namespace orch::redis {

absl::StatusOr<std::unique_ptr<EventLoop>> EventLoop::Create() {
  auto loop = std::unique_ptr<EventLoop>(new EventLoop());
  loop->epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (loop->epoll_fd_ < 0) {
    return absl::InternalError(absl::StrCat("epoll_create1: ", std::strerror(errno)));
  }
  loop->event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (loop->event_fd_ < 0) {
    return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = loop->event_fd_;
  ::epoll_ctl(loop->epoll_fd_, EPOLL_CTL_ADD, loop->event_fd_, &ev);
  return loop;
}

EventLoop::~EventLoop() {
  Stop([] {});
  if (event_fd_ >= 0) ::close(event_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

void EventLoop::Start() {
  thread_ = std::thread([this] { Run(); });
}

void EventLoop::Post(Task task) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    // One eventfd write per batch of tasks: a non-empty queue already has a
    // wake-up pending (or the loop is about to take it). Tasks posted from
    // the loop thread itself need none: Run() polls without blocking while
    // tasks wait.
    wake = tasks_.empty() && !InLoopThread();
    tasks_.push_back(std::move(task));
  }
  if (wake) Wake();
}

void EventLoop::Stop(Task stop_task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    tasks_.push_back(std::move(stop_task));
    tasks_.push_back([this] { running_ = false; });
    stopping_ = true;
  }
  Wake();
  if (thread_.joinable()) {
    ORCH_CHECK(!InLoopThread(), "EventLoop::Stop called on the loop thread");
    thread_.join();
  }
}

void EventLoop::Wake() {
  uint64_t one = 1;
  (void)!::write(event_fd_, &one, sizeof one);
}

void EventLoop::Add(int fd, uint32_t events, IoHandler handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  ORCH_CHECK(::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0, std::strerror(errno));
  handlers_[fd] = std::move(handler);
}

void EventLoop::Modify(int fd, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  ORCH_CHECK(::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) == 0, std::strerror(errno));
}

void EventLoop::Remove(int fd) {
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  auto it = handlers_.find(fd);
  if (it == handlers_.end()) return;
  removed_handlers_.push_back(std::move(it->second));
  handlers_.erase(it);
}

EventLoop::TimerId EventLoop::RunAt(absl::Time when, Task task) {
  TimerId id{when, next_timer_++};
  timers_.emplace(id, std::move(task));
  return id;
}

void EventLoop::Cancel(const TimerId& id) { timers_.erase(id); }

void EventLoop::Run() {
  thread_id_.store(std::this_thread::get_id());
  std::vector<epoll_event> events(64);
  while (running_) {
    int timeout_ms = -1;
    if (!timers_.empty()) {
      absl::Duration left = timers_.begin()->first.first - absl::Now();
      timeout_ms = left <= absl::ZeroDuration()
                       ? 0
                       : static_cast<int>(absl::ToInt64Milliseconds(left + absl::Milliseconds(1)));
    }
    if (timeout_ms != 0) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!tasks_.empty()) timeout_ms = 0;
    }
    int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout_ms);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == event_fd_) {
        uint64_t v;
        (void)!::read(event_fd_, &v, sizeof v);
        continue;
      }
      // A handler may remove (and close) other fds; look each one up afresh.
      auto it = handlers_.find(fd);
      if (it != handlers_.end()) it->second(events[i].events);
    }
    removed_handlers_.clear();
    // Due timers. Each runs once; a timer task may add or cancel others.
    const absl::Time now = absl::Now();
    while (!timers_.empty() && timers_.begin()->first.first <= now) {
      auto node = timers_.extract(timers_.begin());
      std::move(node.mapped())();
    }
    // Tasks posted so far (and those they post, on the next round).
    std::deque<Task> tasks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks.swap(tasks_);
    }
    for (auto& t : tasks) {
      std::move(t)();
      if (!running_) break;
    }
  }
  // Whatever remains is dropped; owners failed their requests in stop_task.
  timers_.clear();
  std::lock_guard<std::mutex> lock(mu_);
  tasks_.clear();
}

}  // namespace orch::redis
