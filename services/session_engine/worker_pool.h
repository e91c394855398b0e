#pragma once

// Worker threads that own sessions: each worker runs its tasks in the order
// they were posted, fires the timers it was given when their (wall-clock)
// time comes, and calls a housekeeping hook every `housekeeping_ms`. It
// knows nothing of SCXML or sessions: keys are opaque strings, and what a
// task, a timer or housekeeping does is the Handler's business.
//
//   WorkerPool pool(4, clock, &handler);
//   pool.Start();
//   pool.Post(pool.WorkerOf(id), [] { ... });        // never blocks
//   absl::Status s = pool.RunOn(w, [&] { ...; return absl::OkStatus(); });  // waits
//   pool.AddTimer(w, due_ms, id);                     // on worker w only
//   pool.Stop();   // runs what is queued, calls Handler::OnStop on each worker, joins
//
// Threads: Post, queued, RunOn and WorkerOf from any thread; AddTimer only
// on the worker's own thread. Handler hooks run on the worker's thread.
// RunOn from the worker's own thread runs the function inline; otherwise it
// waits without a timeout, so a worker must never RunOn another worker.

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
  size_t queued(int worker) const;
  bool OnThread(int worker) const;
  absl::Status RunOn(int worker, absl::FunctionRef<absl::Status()> fn);
  // On worker `worker`'s thread only.
  void AddTimer(int worker, int64_t due_ms, std::string key);

 private:
  struct Worker;
  void Loop(Worker* w);
  void FireTimers(Worker* w);

  time::Clock* const clock_;
  Handler* const handler_;
  const int64_t housekeeping_ms_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace orch::session_engine
