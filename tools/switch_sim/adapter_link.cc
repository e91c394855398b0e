#include "tools/switch_sim/adapter_link.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "common/log/log.h"
#include "grpcpp/grpcpp.h"

namespace orch::switch_sim {

using calls::v1::AdapterMessage;
using calls::v1::WatcherMessage;

struct AdapterLink::Connection {
  ::grpc::ClientContext ctx;
  std::unique_ptr<::grpc::ClientReaderWriter<AdapterMessage, WatcherMessage>> stream;
  // Guarded by the link's mu_.
  bool welcomed = false;
  bool broken = false;
  bool dropped = false;   // broken on purpose (drop_every_events)
};

AdapterLink::AdapterLink(LinkOptions options, time::Clock* clock, RequestHandler on_request,
                         WelcomeHandler on_welcome)
    : options_(std::move(options)),
      clock_(clock),
      on_request_(std::move(on_request)),
      on_welcome_(std::move(on_welcome)) {}

AdapterLink::~AdapterLink() { Stop(); }

void AdapterLink::Start() {
  absl::MutexLock l(&mu_);
  if (started_) return;
  started_ = true;
  thread_ = std::make_unique<std::thread>([this] { Run(); });
}

void AdapterLink::Stop() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
    if (conn_ != nullptr) conn_->ctx.TryCancel();
    cv_.SignalAll();
  }
  if (thread_ != nullptr && thread_->joinable()) thread_->join();
}

uint64_t AdapterLink::SeqOf(const AdapterMessage& msg) {
  return msg.has_interaction() ? msg.interaction().seq() : msg.target().seq();
}

void AdapterLink::Enqueue(AdapterMessage msg) {
  held_.push_back(std::move(msg));
  counts_.last_seq = next_seq_;
  ++next_seq_;
  cv_.SignalAll();
}

void AdapterLink::EnqueueInteraction(calls::v1::InteractionEvent event) {
  absl::MutexLock l(&mu_);
  event.set_seq(next_seq_);
  AdapterMessage msg;
  *msg.mutable_interaction() = std::move(event);
  Enqueue(std::move(msg));
}

void AdapterLink::EnqueueTarget(calls::v1::TargetEvent event) {
  absl::MutexLock l(&mu_);
  event.set_seq(next_seq_);
  AdapterMessage msg;
  *msg.mutable_target() = std::move(event);
  Enqueue(std::move(msg));
}

void AdapterLink::Answer(calls::v1::RequestResult result) {
  absl::MutexLock l(&mu_);
  answers_.push_back(std::move(result));
  cv_.SignalAll();
}

LinkCounts AdapterLink::Counts() const {
  absl::MutexLock l(&mu_);
  LinkCounts c = counts_;
  c.unacked = static_cast<int64_t>(held_.size());
  return c;
}

std::vector<SettledEvent> AdapterLink::TakeSettled() {
  absl::MutexLock l(&mu_);
  return std::exchange(settled_, {});
}

void AdapterLink::OnAck(uint64_t seq) {
  while (!held_.empty() && SeqOf(held_.front()) <= seq) {
    AdapterMessage& front = held_.front();
    const bool rejected = rejected_seqs_.erase(SeqOf(front)) > 0;
    if (front.has_interaction()) settled_.push_back({std::move(*front.mutable_interaction()), rejected});
    held_.pop_front();
  }
  counts_.acked = std::max<int64_t>(counts_.acked, static_cast<int64_t>(std::min(seq, next_seq_ - 1)));
  cv_.SignalAll();
}

void AdapterLink::OnWelcome(uint64_t resume_after_seq) {
  if (resume_after_seq >= next_seq_) {
    // The watcher remembers more of this adapter id than this run sent (an id
    // reused across runs): continue after what it knows, or every new event
    // would be dropped as a duplicate. The events held (not yet acknowledged)
    // are renumbered after it, in order, so none is lost.
    log::Warn("watcher knows seqs beyond this link's; continuing after them",
              {{"adapter", options_.adapter_id}, {"resume_after_seq", resume_after_seq},
               {"last_seq", next_seq_ - 1}});
    next_seq_ = resume_after_seq + 1;
    rejected_seqs_.clear();
    for (AdapterMessage& m : held_) {
      if (m.has_interaction()) m.mutable_interaction()->set_seq(next_seq_++);
      if (m.has_target()) m.mutable_target()->set_seq(next_seq_++);
    }
  }
  OnAck(resume_after_seq);
  next_send_ = held_.empty() ? next_seq_ : SeqOf(held_.front());
  if (next_send_ > resume_after_seq + 1) {
    // Events up to next_send_ - 1 were acknowledged (by a replica that has
    // since forgotten them) and are gone: this watcher will see a gap.
    log::Warn("watcher resumes before events already acknowledged; they cannot be resent",
              {{"adapter", options_.adapter_id}, {"resume_after_seq", resume_after_seq},
               {"first_held_seq", next_send_}});
  }
  if (welcomes_++ > 0) ++counts_.reconnects;
  answers_.clear();   // call-watcher resends every request it has no answer for
}

void AdapterLink::Run() {
  auto stub = calls::v1::CallWatcher::NewStub(grpc_util::MakeChannel(options_.address, options_.channel));
  int64_t backoff = options_.backoff_ms;
  for (;;) {
    const ServeEnd end = Serve(stub.get());
    absl::MutexLock l(&mu_);
    if (stopping_) return;
    if (end == ServeEnd::kDropped) continue;   // the test asked for a break, not for a pause
    backoff = end == ServeEnd::kBroken ? options_.backoff_ms : std::min<int64_t>(backoff * 2, 2000);
    const int64_t until = clock_->MonotonicMs() + backoff;
    while (!stopping_ && !clock_->WaitUntil(&cv_, &mu_, until)) {
    }
    if (stopping_) return;
  }
}

AdapterLink::ServeEnd AdapterLink::Serve(calls::v1::CallWatcher::Stub* stub) {
  Connection conn;
  {
    absl::MutexLock l(&mu_);
    if (stopping_) return ServeEnd::kFailed;
    conn_ = &conn;
  }
  conn.stream = stub->Connect(&conn.ctx);
  AdapterMessage hello;
  hello.mutable_hello()->set_adapter_id(options_.adapter_id);
  hello.mutable_hello()->set_switch_name(options_.switch_name);
  hello.mutable_hello()->set_tenant(options_.tenant);
  std::thread reader;
  bool welcomed = false;
  if (conn.stream->Write(hello)) {
    reader = std::thread([this, &conn] { ReadLoop(&conn); });
    {
      absl::MutexLock l(&mu_);
      const int64_t deadline = clock_->MonotonicMs() + options_.welcome_timeout_ms;
      while (!conn.welcomed && !conn.broken && !stopping_ && !clock_->WaitUntil(&cv_, &mu_, deadline)) {
      }
      welcomed = conn.welcomed && !conn.broken && !stopping_;
      if (!conn.welcomed && !conn.broken && !stopping_) {
        log::Warn("no Welcome from the watcher in time", {{"adapter", options_.adapter_id},
                                                          {"watcher", options_.address}});
      }
    }
    if (welcomed) {
      on_welcome_();
      WriteLoop(&conn);
    }
  }
  {
    absl::MutexLock l(&mu_);
    conn_ = nullptr;
  }
  conn.ctx.TryCancel();
  if (reader.joinable()) reader.join();
  ::grpc::Status status = conn.stream->Finish();
  if (!status.ok() && status.error_code() != ::grpc::StatusCode::CANCELLED) {
    log::Info("link ended", {{"adapter", options_.adapter_id}, {"watcher", options_.address},
                             {"code", static_cast<int>(status.error_code())}, {"error", status.error_message()}});
  }
  if (conn.dropped) return ServeEnd::kDropped;
  return welcomed ? ServeEnd::kBroken : ServeEnd::kFailed;
}

void AdapterLink::ReadLoop(Connection* conn) {
  WatcherMessage msg;
  while (conn->stream->Read(&msg)) {
    if (msg.has_welcome()) {
      absl::MutexLock l(&mu_);
      if (conn->welcomed) continue;   // only the first counts
      OnWelcome(msg.welcome().resume_after_seq());
      conn->welcomed = true;
      cv_.SignalAll();
      continue;
    }
    {
      absl::MutexLock l(&mu_);
      if (!conn->welcomed) break;   // the contract's first message down is a Welcome
      if (msg.has_ack()) {
        OnAck(msg.ack().seq());
        continue;
      }
      if (msg.has_rejected()) {
        ++counts_.rejected;
        if (!held_.empty() && msg.rejected().seq() >= SeqOf(held_.front())) {
          rejected_seqs_.insert(msg.rejected().seq());
        }
        log::Debug("event rejected", {{"adapter", options_.adapter_id}, {"seq", msg.rejected().seq()},
                                      {"reason", msg.rejected().reason()}});
        continue;
      }
      if (msg.has_request()) ++counts_.requests;
    }
    if (msg.has_request()) on_request_(msg.request());
  }
  absl::MutexLock l(&mu_);
  conn->broken = true;
  cv_.SignalAll();
}

void AdapterLink::WriteLoop(Connection* conn) {
  for (;;) {
    AdapterMessage msg;
    bool is_event = false;
    bool resend = false;
    bool more = false;
    {
      absl::MutexLock l(&mu_);
      while (!stopping_ && !conn->broken && answers_.empty() && (held_.empty() || next_send_ >= next_seq_)) {
        cv_.Wait(&mu_);
      }
      if (stopping_ || conn->broken) return;
      if (!answers_.empty()) {
        *msg.mutable_result() = std::move(answers_.front());
        answers_.pop_front();
      } else {
        const uint64_t front = SeqOf(held_.front());
        if (next_send_ < front) next_send_ = front;   // acked meanwhile
        msg = held_[next_send_ - front];
        is_event = true;
        resend = next_send_ <= highest_written_;
        ++next_send_;
      }
      more = !answers_.empty() || next_send_ < next_seq_;
    }
    ::grpc::WriteOptions wo;
    if (more) wo.set_buffer_hint();
    if (!conn->stream->Write(msg, wo)) {
      absl::MutexLock l(&mu_);
      conn->broken = true;
      return;
    }
    if (!is_event) continue;
    absl::MutexLock l(&mu_);
    ++counts_.events_sent;
    if (resend) ++counts_.resent;
    highest_written_ = std::max(highest_written_, SeqOf(msg));
    ++written_;
    if (options_.drop_every_events > 0 && written_ % options_.drop_every_events == 0) {
      log::Info("breaking the link on purpose", {{"adapter", options_.adapter_id}, {"events_written", written_}});
      conn->broken = true;
      conn->dropped = true;
      return;
    }
  }
}

}  // namespace orch::switch_sim
