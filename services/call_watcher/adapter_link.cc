#include "services/call_watcher/adapter_link.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/grpc/status.h"

namespace orch::call_watcher {

AdapterSequence::Verdict AdapterSequence::Receive(uint64_t seq) {
  if (highest_ == 0 && seq > 1) {
    // The first event this replica hears from the adapter: the ones before
    // it were acknowledged by another replica, or by this one before it
    // restarted (an adapter forgets only acknowledged events). Start here.
    highest_ = seq;
    in_flight_.insert(seq);
    return Verdict::kNew;
  }
  if (seq <= highest_) return Verdict::kDuplicate;
  if (seq > highest_ + 1) return Verdict::kGap;
  highest_ = seq;
  in_flight_.insert(seq);
  return Verdict::kNew;
}

bool AdapterSequence::Done(uint64_t seq) {
  const uint64_t before = processed();
  in_flight_.erase(seq);
  return processed() != before;
}

absl::Status ValidateHello(const cv1::Hello& hello) {
  const std::string& id = hello.adapter_id();
  if (id.empty() || id.size() > 64) {
    return absl::InvalidArgumentError("Hello.adapter_id must be 1..64 bytes of [A-Za-z0-9._-]");
  }
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return absl::InvalidArgumentError("Hello.adapter_id must be 1..64 bytes of [A-Za-z0-9._-]");
    }
  }
  return absl::OkStatus();
}

ConnectReactor::ConnectReactor(LinkHandler* handler) : handler_(handler) { StartRead(&in_); }

void ConnectReactor::OnReadDone(bool ok) {
  if (!ok) {   // the adapter closed its side, or the stream broke
    Close(absl::OkStatus());
    return;
  }
  absl::Status st;
  if (!attached_) {
    if (in_.msg_case() != cv1::AdapterMessage::kHello) {
      st = absl::FailedPreconditionError("the first message of a link must be a Hello");
    } else if (st = ValidateHello(in_.hello()); st.ok()) {
      adapter_id_ = in_.hello().adapter_id();
      st = handler_->Attach(in_.hello(), this);
      attached_ = st.ok();
    }
  } else if (in_.msg_case() == cv1::AdapterMessage::kHello) {
    st = absl::FailedPreconditionError("a link sends one Hello, first");
  } else {
    st = handler_->OnMessage(adapter_id_, this, in_);
  }
  if (!st.ok()) {
    Close(st);
    return;
  }
  StartRead(&in_);
}

void ConnectReactor::Send(cv1::WatcherMessage msg) {
  {
    absl::MutexLock l(&mu_);
    if (closing_ || broken_) return;
    queue_.push_back(std::move(msg));
  }
  Flush();
}

void ConnectReactor::SendAck(uint64_t seq) {
  {
    absl::MutexLock l(&mu_);
    if (closing_ || broken_ || seq <= ack_wanted_) return;
    ack_wanted_ = seq;
  }
  Flush();
}

void ConnectReactor::Close(absl::Status status) {
  {
    absl::MutexLock l(&mu_);
    if (closing_) return;
    closing_ = true;
    finish_status_ = grpc_util::ToGrpcStatus(status);
  }
  Flush();
}

bool ConnectReactor::NextLocked() {
  if (broken_) return false;
  if (!queue_.empty()) {
    current_ = std::move(queue_.front());
    queue_.pop_front();
    return true;
  }
  if (ack_wanted_ > ack_sent_) {
    current_.Clear();
    current_.mutable_ack()->set_seq(ack_wanted_);
    ack_sent_ = ack_wanted_;
    return true;
  }
  return false;
}

bool ConnectReactor::ShouldFinishLocked() {
  if (closing_ && !writing_ && !finished_ && (broken_ || (queue_.empty() && ack_wanted_ <= ack_sent_))) {
    finished_ = true;
    return true;
  }
  return false;
}

// gRPC calls (StartWrite, Finish) are made outside mu_: a reaction may run
// inline on this thread.
void ConnectReactor::Flush() {
  bool write = false, finish = false;
  ::grpc::Status status;
  {
    absl::MutexLock l(&mu_);
    if (!writing_ && NextLocked()) {
      writing_ = true;
      write = true;
    } else {
      finish = ShouldFinishLocked();
      status = finish_status_;
    }
  }
  if (write) StartWrite(&current_);
  if (finish) Finish(status);
}

void ConnectReactor::OnWriteDone(bool ok) {
  bool write = false, finish = false;
  ::grpc::Status status;
  {
    absl::MutexLock l(&mu_);
    if (!ok) {
      broken_ = true;
      queue_.clear();
      closing_ = true;
    }
    if (NextLocked()) {
      write = true;
    } else {
      writing_ = false;
      finish = ShouldFinishLocked();
      status = finish_status_;
    }
  }
  if (write) StartWrite(&current_);
  if (finish) Finish(status);
}

void ConnectReactor::OnDone() {
  if (attached_) handler_->Detach(adapter_id_, this);
  delete this;
}

}  // namespace orch::call_watcher
