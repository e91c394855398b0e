#pragma once

// An adapter's link (calls.proto, CallWatcher.Connect): the sequence rules
// as pure logic (AdapterSequence), and the gRPC reactor that carries the
// stream (ConnectReactor) on top of a LinkHandler (CallRouter).
//
// Sequence rules (docs: services/call_watcher/README.md):
//   - one sequence 1, 2, 3 ... per adapter over interaction and target
//     events; seq <= the highest received is a duplicate (dropped, covered
//     by the next Ack); seq > highest + 1 is a gap (the stream ends with
//     FAILED_PRECONDITION);
//   - an event is "processed" when its session has it or it was rejected;
//     the Ack (and a later Welcome's resume_after_seq) is the end of the
//     contiguous run of processed events, so an event still in flight holds
//     back the Acks of the ones after it.

#include <cstdint>
#include <deque>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/support/server_callback.h"
#include "orch/calls/v1/calls.pb.h"

namespace orch::call_watcher {

namespace cv1 = ::orch::calls::v1;

// Not thread-safe (its owner's lock guards it).
class AdapterSequence {
 public:
  enum class Verdict { kNew, kDuplicate, kGap };
  Verdict Receive(uint64_t seq);
  // `seq` (received as kNew) is processed. Returns true when processed()
  // moved.
  bool Done(uint64_t seq);
  // The end of the contiguous processed run (what Ack and Welcome carry).
  uint64_t processed() const { return in_flight_.empty() ? highest_ : *in_flight_.begin() - 1; }
  uint64_t highest() const { return highest_; }

 private:
  uint64_t highest_ = 0;
  std::set<uint64_t> in_flight_;
};

// What the reactor needs from call-watcher; LinkChannel is how call-watcher
// talks back on one stream.
class LinkChannel {
 public:
  virtual ~LinkChannel() = default;
  // Queues a message (never blocks). Ignored once the stream is closing.
  virtual void Send(cv1::WatcherMessage msg) = 0;
  // Queues Ack{seq}; Acks waiting to be written coalesce into the highest.
  virtual void SendAck(uint64_t seq) = 0;
  // Ends the stream with `status` after what is queued is written.
  virtual void Close(absl::Status status) = 0;
};

class LinkHandler {
 public:
  virtual ~LinkHandler() = default;
  // The stream's Hello. The handler sends the Welcome (and what follows it)
  // on `link`. A non-OK status ends the stream with it.
  virtual absl::Status Attach(const cv1::Hello& hello, LinkChannel* link) = 0;
  // Every later message. A non-OK status ends the stream with it.
  virtual absl::Status OnMessage(const std::string& adapter_id, LinkChannel* link, const cv1::AdapterMessage& msg) = 0;
  // The stream is over: `link` must not be used after this returns.
  virtual void Detach(const std::string& adapter_id, LinkChannel* link) = 0;
};

// INVALID_ARGUMENT naming the problem unless `hello.adapter_id` is 1..64
// bytes of [A-Za-z0-9._-].
absl::Status ValidateHello(const cv1::Hello& hello);

// One Connect stream. Reads one message at a time and hands it to the
// handler on gRPC's thread (the handler must not block); writes one message
// at a time from a queue. Deletes itself when the stream is done.
class ConnectReactor final : public ::grpc::ServerBidiReactor<cv1::AdapterMessage, cv1::WatcherMessage>,
                             public LinkChannel {
 public:
  explicit ConnectReactor(LinkHandler* handler);

  void Send(cv1::WatcherMessage msg) override ABSL_LOCKS_EXCLUDED(mu_);
  void SendAck(uint64_t seq) override ABSL_LOCKS_EXCLUDED(mu_);
  void Close(absl::Status status) override ABSL_LOCKS_EXCLUDED(mu_);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnDone() override;

 private:
  // Picks the next message to write into current_; false when none.
  bool NextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Finish once closing and nothing is left to write.
  bool ShouldFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Flush() ABSL_LOCKS_EXCLUDED(mu_);

  LinkHandler* const handler_;
  cv1::AdapterMessage in_;          // the read side's
  std::string adapter_id_;          // set by the read side at Hello
  bool attached_ = false;           // read side

  absl::Mutex mu_;
  std::deque<cv1::WatcherMessage> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t ack_wanted_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t ack_sent_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  ::grpc::Status finish_status_ ABSL_GUARDED_BY(mu_);
  cv1::WatcherMessage current_;     // the message being written
};

}  // namespace orch::call_watcher
