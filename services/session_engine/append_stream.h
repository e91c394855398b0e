#pragma once

// Appends over one AppendEventsBatchStream to persistence-proxy: callers on
// many threads each wait for their own append (Append), or are called back
// with its result (AppendAsync). Whoever finds no write in
// progress writes what is queued — its own append and those that queued
// while the previous write went out — in one message (the proxy then
// commits appends of many sessions in one Redis script call), so an append
// wakes no writer thread. A reader thread hands each result to its caller.
// A watchdog thread (a few wake-ups per second) cancels a stream whose write
// has not gone out within the timeout (a stalled proxy stops reading, so a
// write could block for ever) and fails appends unanswered within the
// timeout with UNAVAILABLE. A broken stream fails its appends with
// UNAVAILABLE (their outcome is unknown: they may have been written) and the
// next append opens a new stream.
//
// Thread-safe. Callers must not have two appends of one session in flight
// (session-engine holds the session's lock across an append).

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "orch/persistence/v1/persistence.grpc.pb.h"

namespace orch::session_engine {

class AppendStream {
 public:
  AppendStream(persistence::v1::Persistence::Stub* stub, absl::Duration timeout);
  ~AppendStream();

  // The proxy's answer for this append; UNAVAILABLE when it did not come
  // within the timeout or the stream broke.
  absl::StatusOr<uint64_t> Append(persistence::v1::AppendEventsRequest request);
  // The same answer, given to `done` on the stream's reader or watchdog
  // thread (on the calling thread when the stream is closed). `done` must
  // not wait.
  using Done = std::function<void(absl::StatusOr<uint64_t>)>;
  void AppendAsync(persistence::v1::AppendEventsRequest request, Done done);

 private:
  struct Pending {
    Done done;
    absl::Time deadline;
    uint64_t stream = 0;   // the stream it was written to (0: not yet)
  };
  struct Stream {
    uint64_t number = 0;
    std::unique_ptr<::grpc::ClientContext> context;
    std::unique_ptr<::grpc::ClientReaderWriter<persistence::v1::AppendEventsBatchRequest,
                                               persistence::v1::AppendEventsBatchResponse>> rw;
    std::thread reader;
  };
  // Writes the queue until it is empty, as the one writer (writing_ set).
  void WriteQueued() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Replaces a broken stream (its reader is joined, its appends failed).
  void Reopen() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReaderLoop(Stream* s);
  // Fails appends past their deadline and cancels a stuck stream.
  void WatchdogLoop();
  // Fails every pending append written to stream `number`.
  void FailStream(uint64_t number, const std::string& why) ABSL_LOCKS_EXCLUDED(mu_);

  persistence::v1::Persistence::Stub* const stub_;
  const absl::Duration timeout_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::deque<persistence::v1::AppendEventsStreamRequest> queue_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, std::shared_ptr<Pending>> pending_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Stream> stream_ ABSL_GUARDED_BY(mu_);  // the current stream
  uint64_t streams_ ABSL_GUARDED_BY(mu_) = 0;
  bool broken_ ABSL_GUARDED_BY(mu_) = true;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;    // a caller is writing the queue
  absl::Time write_started_ ABSL_GUARDED_BY(mu_);  // of the write in progress
  absl::CondVar watchdog_cv_;
  std::thread watchdog_;
};

}  // namespace orch::session_engine
