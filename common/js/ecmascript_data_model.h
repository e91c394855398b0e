#pragma once

// The SCXML ECMAScript data model (W3C SCXML 1.0 Appendix B.2) on Duktape
// 2.7.0: the implementation of common/scxml/data_model.h.
//
//   EcmascriptDataModelFactory factory;
//   ASSIGN_OR_RETURN(auto code, factory.Compile(specs));      // once per document
//   ASSIGN_OR_RETURN(auto dm, factory.Create(code, &host, limits));  // per session
//   RETURN_IF_ERROR(dm->Init(session_id, name, ioprocessors_json, seed));
//
// All data models created on one OS thread share that thread's Duktape heap
// (a "worker heap", worker_heap.h): the built-ins exist once, deeply frozen;
// each session is a Duktape thread with its own global object and global
// environment, so a session sees only its own variables and cannot change
// what another sees. Memory is accounted per session (its cap and
// MemoryBytes). Code is compiled once, by Compile(), into Duktape bytecode
// that each worker heap loads lazily the first time an id is used, shared by
// its sessions. Limits are in common/js/README.md; semantics and the
// Serialize() format in docs/design/js-data-model.md; measured costs in
// docs/performance.md.
//
// Threading rule: the factory may be used from any number of threads at once
// (Compile creates a private heap per call; Create uses the calling thread's
// worker heap). A DataModel must be used only on the thread that created it:
// calls from another thread return FAILED_PRECONDITION. It may be destroyed
// on another thread only if its creating thread no longer uses the worker
// heap concurrently (e.g. it has exited). A session engine pins each session
// to one worker thread, which satisfies this.

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "common/scxml/data_model.h"

namespace orch::js {

class EcmascriptDataModelFactory : public scxml::DataModelFactory {
 public:
  struct Options {
    // false (what data_model.h specifies): Compile() fails with
    // INVALID_ARGUMENT on the first CodeSpec that does not compile.
    // true: Compile() succeeds, and every use of a spec that did not compile
    // returns INVALID_ARGUMENT with the same message (so error.execution is
    // raised when the code runs, which W3C IRP tests 156, 277, 312, 313 and
    // 457 expect: they contain expr="return" or item="'continue'").
    bool defer_compile_errors = false;
  };

  EcmascriptDataModelFactory() = default;
  explicit EcmascriptDataModelFactory(Options options) : options_(options) {}

  // INVALID_ARGUMENT for a syntax error ("<where>: SyntaxError: ..."), a
  // location that is not an assignment target, or ids that are not dense.
  absl::StatusOr<std::shared_ptr<const scxml::CompiledCode>> Compile(
      const std::vector<scxml::CodeSpec>& specs) override;

  // INVALID_ARGUMENT if `code` is not from this kind of factory;
  // RESOURCE_EXHAUSTED if a heap does not fit in limits.max_memory_bytes.
  absl::StatusOr<std::unique_ptr<scxml::DataModel>> Create(
      std::shared_ptr<const scxml::CompiledCode> code, scxml::DataModelHost* host,
      const scxml::DataModelLimits& limits) override;

 private:
  Options options_;
};

// The calling thread's worker heap (docs/design/js-data-model.md, "Design"), for metrics and
// benchmarks. All zero when the thread has not created a data model yet.
struct WorkerHeapStats {
  size_t total_bytes = 0;    // everything allocated in the heap, headers included
  size_t live_sessions = 0;  // data models alive in it
  uint64_t collections = 0;  // full mark-and-sweeps run by our policy so far
};
WorkerHeapStats CurrentThreadHeapStats();
// Runs a full mark-and-sweep of the calling thread's worker heap (no-op if
// it has none). Normally not needed: see
// docs/design/js-data-model.md, "Garbage collection".
void CollectCurrentThreadGarbage();

// The worker heap of a serial executor whose tasks may run on any thread,
// one thread at a time (session-engine's workers run on whichever thread
// finds them idle). Between Enter() and Leave() the calling thread's data
// models use this heap — "the calling thread's worker heap" above means this
// one —; a heap the thread creates meanwhile (its first data model) is kept
// here at Leave(), and the thread's own heap, if any, comes back.
// Not thread-safe: the executor hands it from thread to thread under a lock
// (which orders each thread's use after the previous one's).
class WorkerHeap;
class ExecutorHeap {
 public:
  ExecutorHeap();
  ~ExecutorHeap();
  ExecutorHeap(const ExecutorHeap&) = delete;
  ExecutorHeap& operator=(const ExecutorHeap&) = delete;

  void Enter();
  void Leave();

 private:
  std::shared_ptr<WorkerHeap> heap_;
  std::shared_ptr<WorkerHeap> saved_;  // the thread's own, while entered
};

}  // namespace orch::js
