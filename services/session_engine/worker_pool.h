#pragma once

// Workers that own sessions: each worker is a serial executor that runs its
// tasks in the order they were posted, fires the timers it was given when
// their (wall-clock) time comes, and calls a housekeeping hook every
// `housekeeping_ms`. It knows nothing of SCXML or sessions: keys are opaque
// strings, and what a task, a timer or housekeeping does is the Handler's
// business.
//
//   WorkerPool pool(4, clock, &handler);
//   pool.Start();
//   pool.Post(pool.WorkerOf(id), [] { ... });        // never blocks
//   pool.PostDeferred(w, [] { ... }); ...unlock...; pool.Help(w);  // runs it here
//   absl::Status s = pool.RunOn(w, [&] { ...; return absl::OkStatus(); });  // waits
//   pool.AddTimer(w, due_ms, id);                     // while running worker w
//   pool.Stop();   // runs what is queued, calls Handler::OnStop on each worker, joins
//
// Who runs a worker: one thread at a time holds its "runner" role — its own
// thread, or a thread that posted to it and found it idle (Help). Running
// the task on the thread that has it saves waking the worker's thread, which
// on a virtual machine costs more than a small task. Timers and housekeeping
// run on the worker's own thread. The Handler's OnEnter/OnLeave hooks frame
// every stretch a thread runs a worker, so what belongs to a worker (a
// JavaScript heap) follows the runner.
//
// Threads: Post, PostDeferred, Help, queued, RunOn and WorkerOf from any
// thread; AddTimer only while running the worker. Handler hooks run on the
// runner. RunOn from the worker's runner runs the function inline;
// otherwise it queues it, helps, and waits without a timeout, so a worker
// must never RunOn another worker. Help and RunOn may run any queued task
// of the worker on the calling thread: call them holding no lock a task
// may take (the engine's tasks take no session lock; its timers do, and
// they run on the worker's own thread only).

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <queue>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/time/clock.h"

namespace orch::session_engine {

class WorkerPool {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    // A timer added with AddTimer came due (wall clock >= due_ms).
    virtual void OnTimer(int worker, const std::string& key, int64_t due_ms) = 0;
    virtual void OnHousekeeping(int worker) = 0;
    // The worker is stopping: its last call, after its queue has run.
    virtual void OnStop(int worker) = 0;
    // How long a task waited in the queue.
    virtual void OnQueued(double seconds) {}
    // A thread starts / stops running the worker's tasks, timers or
    // housekeeping (every hook above runs between the two).
    virtual void OnEnter(int worker) {}
    virtual void OnLeave(int worker) {}
  };

  WorkerPool(int workers, time::Clock* clock, Handler* handler, int64_t housekeeping_ms = 200);
  ~WorkerPool();  // Stop()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Start();
  void Stop();

  int size() const { return static_cast<int>(workers_.size()); }
  // The worker a key (session id) is pinned to.
  int WorkerOf(std::string_view key) const;
  void Post(int worker, std::function<void()> task);
  // Queues `task` without waking the worker's thread: the caller promises
  // to call Help(worker) next (once it holds no locks). Should it not, the
  // task still runs at the worker's next timer or housekeeping.
  void PostDeferred(int worker, std::function<void()> task);
  // Queues `task` for the worker's own thread only, after the tasks it runs
  // now: work that may wait (a store write) and must not delay a thread
  // that helps while its caller waits for an answer.
  void PostToOwnThread(int worker, std::function<void()> task);
  // Whether the calling thread is the worker's own thread.
  bool OnOwnThread(int worker) const;
  // Runs the worker's queue on the calling thread if no thread is running
  // the worker (at most kHelpLimit tasks; what is left goes to the worker's
  // own thread). Returns at once when another thread runs it: that one will
  // see the tasks queued before.
  void Help(int worker);
  size_t queued(int worker) const;
  // Whether some thread runs the worker now.
  bool busy(int worker) const;
  // Whether the calling thread is running the worker now.
  bool OnThread(int worker) const;
  absl::Status RunOn(int worker, absl::FunctionRef<absl::Status()> fn);
  // While running worker `worker` only.
  void AddTimer(int worker, int64_t due_ms, std::string key);

  static constexpr size_t kHelpLimit = 64;

 private:
  struct Worker {
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
    absl::CondVar cv;  // the worker's thread waits on it
    std::deque<Task> tasks ABSL_GUARDED_BY(mu);
    std::deque<Task> own_tasks ABSL_GUARDED_BY(mu);  // PostToOwnThread
    bool stop ABSL_GUARDED_BY(mu) = false;
    bool running ABSL_GUARDED_BY(mu) = false;  // a thread holds the runner role
    std::atomic<std::thread::id> runner;        // that thread
    // The worker's thread is waiting (for work, or for the role) until
    // this wall time; INT64_MIN when it is not waiting.
    int64_t sleeping_until_ms ABSL_GUARDED_BY(mu) = INT64_MIN;
    bool waiting_for_role ABSL_GUARDED_BY(mu) = false;
    std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers ABSL_GUARDED_BY(mu);
  };
  void Enqueue(Worker* w, std::function<void()> task, bool wake);
  void Loop(Worker* w);
  // Runs queued tasks (at most `limit`; `one_batch`: only those queued
  // now) as w's runner; returns with the role still held and w->mu held.
  void RunTasks(Worker* w, size_t limit, bool one_batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu);
  // Gives up the runner role; wakes the worker's thread if it has something
  // to do that the leaving thread did not.
  void Release(Worker* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu);
  void FireTimers(Worker* w);

  time::Clock* const clock_;
  Handler* const handler_;
  const int64_t housekeeping_ms_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace orch::session_engine
