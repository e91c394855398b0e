#pragma once

// One adapter link to one call-watcher (CallWatcher.Connect), kept up until
// Stop: Hello, Welcome, then events up and acks, requests and rejections
// down (docs: proto/orch/calls/v1/calls.proto, calls-contract §1).
//
//   - Every event gets the link's next seq (1, 2, 3 ... over interaction and
//     target events, never reset) and is held until an Ack covers it.
//   - After each Welcome{resume_after_seq} the held events after it are sent
//     again, in order, then the rest; then `on_welcome` runs, for the owner
//     to enqueue the state of every target.
//   - Requests go to `on_request` on the link's reader thread; the owner
//     answers with Answer(). Answers not written when the stream breaks are
//     dropped: call-watcher resends unanswered requests after reconnection.
//   - Interaction events that an Ack (or a Welcome) covered are kept for
//     TakeSettled, marked when the watcher answered Rejected for them first.
//   - A broken stream (or a Welcome that does not come within
//     welcome_timeout_ms) is cancelled and reconnected after a backoff;
//     `drop_every_events` > 0 breaks it on purpose every N events written.
//
// Thread-safe. The callbacks are called without the link's lock held, so
// they may call Enqueue*/Answer. Owns one connection thread and, while
// connected, one reader thread.

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"

#include "absl/synchronization/mutex.h"
#include "common/grpc/channel.h"
#include "common/time/clock.h"
#include "orch/calls/v1/calls.grpc.pb.h"

namespace orch::switch_sim {

struct LinkOptions {
  std::string address;               // "host:port" of the call-watcher
  grpc_util::ChannelOptions channel;
  std::string adapter_id;
  std::string switch_name;
  std::string tenant;
  int64_t drop_every_events = 0;     // 0 = never break the stream on purpose
  int64_t welcome_timeout_ms = 5000;
  int64_t backoff_ms = 100;          // first reconnect delay, doubled up to 2 s
};

struct LinkCounts {
  int64_t events_sent = 0;    // event writes, resends included
  int64_t resent = 0;         // writes of a seq already written once
  int64_t reconnects = 0;     // Welcomes after the first
  int64_t acked = 0;          // highest seq acknowledged
  int64_t rejected = 0;
  int64_t requests = 0;       // SwitchRequests received (repeats included)
  int64_t unacked = 0;        // events held now
  uint64_t last_seq = 0;      // highest seq given out
};

// An interaction event a watcher acknowledged.
struct SettledEvent {
  calls::v1::InteractionEvent event;
  bool rejected = false;      // the watcher answered Rejected for it before the Ack
};

class AdapterLink {
 public:
  using RequestHandler = std::function<void(const calls::v1::SwitchRequest&)>;
  using WelcomeHandler = std::function<void()>;

  // `clock` is not owned and must outlive the link.
  AdapterLink(LinkOptions options, time::Clock* clock, RequestHandler on_request, WelcomeHandler on_welcome);
  ~AdapterLink();   // Stop()s
  AdapterLink(const AdapterLink&) = delete;
  AdapterLink& operator=(const AdapterLink&) = delete;

  // Starts connecting (once).
  void Start();
  // Cancels the stream and joins the threads; held events are forgotten.
  void Stop();

  // Number the event with the next seq and queue it (sent when connected).
  void EnqueueInteraction(calls::v1::InteractionEvent event);
  void EnqueueTarget(calls::v1::TargetEvent event);
  // The answer to a request received on this link.
  void Answer(calls::v1::RequestResult result);

  LinkCounts Counts() const;
  // The interaction events acknowledged since the last call, in seq order.
  std::vector<SettledEvent> TakeSettled();
  const std::string& adapter_id() const { return options_.adapter_id; }

 private:
  struct Connection;
  enum class ServeEnd { kFailed, kBroken, kDropped };   // no Welcome; broken after one; on purpose

  void Run();
  // One connection, from Connect to its end.
  ServeEnd Serve(calls::v1::CallWatcher::Stub* stub);
  void ReadLoop(Connection* conn);
  void WriteLoop(Connection* conn);
  void Enqueue(calls::v1::AdapterMessage msg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnWelcome(uint64_t resume_after_seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnAck(uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static uint64_t SeqOf(const calls::v1::AdapterMessage& msg);

  const LinkOptions options_;
  time::Clock* const clock_;
  const RequestHandler on_request_;
  const WelcomeHandler on_welcome_;

  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  Connection* conn_ ABSL_GUARDED_BY(mu_) = nullptr;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  std::deque<calls::v1::AdapterMessage> held_ ABSL_GUARDED_BY(mu_);   // unacked events, by seq
  uint64_t next_send_ ABSL_GUARDED_BY(mu_) = 1;       // seq to write next on this connection
  uint64_t highest_written_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<calls::v1::RequestResult> answers_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<uint64_t> rejected_seqs_ ABSL_GUARDED_BY(mu_);   // held events answered Rejected
  std::vector<SettledEvent> settled_ ABSL_GUARDED_BY(mu_);
  int64_t written_ ABSL_GUARDED_BY(mu_) = 0;          // events written over the link's life
  int64_t welcomes_ ABSL_GUARDED_BY(mu_) = 0;
  LinkCounts counts_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<std::thread> thread_;
};

}  // namespace orch::switch_sim
