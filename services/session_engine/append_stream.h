#pragma once

// Appends over one AppendEventsBatchStream to persistence-proxy: callers on
// many threads each wait for their own append, while a writer thread sends
// everything queued meanwhile in one message (the proxy then commits appends
// of many sessions in one Redis script call). A reader thread hands each
// result to its caller. A broken stream fails its appends with UNAVAILABLE
// (their outcome is unknown: they may have been written) and the next
// append opens a new stream.
//
// Thread-safe. Callers must not have two appends of one session in flight
// (session-engine holds the session's lock across an append).

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
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

 private:
  struct Pending {
    std::promise<absl::StatusOr<uint64_t>> promise;
    uint64_t stream = 0;   // the stream it was written to (0: not yet)
  };
  struct Stream {
    uint64_t number = 0;
    std::unique_ptr<::grpc::ClientContext> context;
    std::unique_ptr<::grpc::ClientReaderWriter<persistence::v1::AppendEventsBatchRequest,
                                               persistence::v1::AppendEventsBatchResponse>> rw;
    std::thread reader;
  };
  void WriterLoop();
  void ReaderLoop(Stream* s);
  // Fails every pending append written to stream `number`.
  void FailStream(uint64_t number, const std::string& why);

  persistence::v1::Persistence::Stub* const stub_;
  const absl::Duration timeout_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  uint64_t next_id_ = 1;
  std::deque<persistence::v1::AppendEventsStreamRequest> queue_;
  absl::flat_hash_map<uint64_t, std::shared_ptr<Pending>> pending_;
  std::unique_ptr<Stream> stream_;      // the writer's current stream
  uint64_t streams_ = 0;
  bool broken_ = true;
  std::thread writer_;
};

}  // namespace orch::session_engine
