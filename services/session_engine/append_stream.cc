#include "services/session_engine/append_stream.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"

namespace orch::session_engine {

namespace pv1 = orch::persistence::v1;

AppendStream::AppendStream(pv1::Persistence::Stub* stub, absl::Duration timeout)
    : stub_(stub), timeout_(timeout), watchdog_([this] { WatchdogLoop(); }) {}

AppendStream::~AppendStream() {
  std::unique_ptr<Stream> last;
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
    watchdog_cv_.Signal();
    // A caller still writing stops at its next round; a write in progress
    // returns once its stream is cancelled.
    if (stream_ != nullptr) stream_->context->TryCancel();
    mu_.Await(absl::Condition(+[](bool* writing) { return !*writing; }, &writing_));
    last = std::move(stream_);  // maybe opened by that caller meanwhile
  }
  watchdog_.join();
  if (last != nullptr) {
    last->context->TryCancel();
    if (last->reader.joinable()) last->reader.join();
  }
}

absl::StatusOr<uint64_t> AppendStream::Append(pv1::AppendEventsRequest request) {
  absl::Notification answered;
  absl::StatusOr<uint64_t> result;
  AppendAsync(std::move(request), [&](absl::StatusOr<uint64_t> r) {
    result = std::move(r);
    answered.Notify();
  });
  answered.WaitForNotification();  // bounded: the watchdog fails it at its deadline
  return result;
}

void AppendStream::AppendAsync(pv1::AppendEventsRequest request, Done done) {
  {
    absl::MutexLock l(&mu_);
    if (!stop_) {
      const uint64_t id = next_id_++;
      pv1::AppendEventsStreamRequest r;
      r.set_request_id(id);
      *r.mutable_append() = std::move(request);
      queue_.push_back(std::move(r));
      pending_[id] = std::make_shared<Pending>(Pending{std::move(done), absl::Now() + timeout_});
      // Otherwise the writer in progress sends it with what else is queued.
      if (!writing_) WriteQueued();
      return;
    }
  }
  done(absl::UnavailableError("persistence-proxy: the append stream is closed"));
}

void AppendStream::WriteQueued() {
  writing_ = true;
  while (!queue_.empty() && !stop_) {
    if (broken_) Reopen();
    pv1::AppendEventsBatchRequest batch;
    while (!queue_.empty() && batch.appends_size() < 512) {
      auto it = pending_.find(queue_.front().request_id());
      if (it != pending_.end()) {  // not given up on yet
        it->second->stream = stream_->number;
        *batch.add_appends() = std::move(queue_.front());
      }
      queue_.pop_front();
    }
    if (batch.appends_size() == 0) continue;
    Stream* s = stream_.get();  // stays alive: only the writer replaces it
    write_started_ = absl::Now();
    mu_.Unlock();
    const bool ok = s->rw->Write(batch);
    mu_.Lock();
    if (!ok) {
      // Its reader ends too and fails what was written to it (callbacks
      // never run on a writer, which may hold a session's lock).
      s->context->TryCancel();
      broken_ = true;
    }
  }
  writing_ = false;
}

void AppendStream::Reopen() {
  // The old stream is cancelled; its reader then ends (and fails what was
  // still waiting on it).
  if (std::unique_ptr<Stream> old = std::move(stream_)) {
    old->context->TryCancel();
    mu_.Unlock();
    if (old->reader.joinable()) old->reader.join();
    mu_.Lock();
  }
  auto s = std::make_unique<Stream>();
  s->number = ++streams_;
  s->context = std::make_unique<::grpc::ClientContext>();
  mu_.Unlock();
  s->rw = stub_->AppendEventsBatchStream(s->context.get());
  Stream* raw = s.get();
  s->reader = std::thread([this, raw] { ReaderLoop(raw); });
  mu_.Lock();
  stream_ = std::move(s);
  broken_ = false;
}

void AppendStream::FailStream(uint64_t number, const std::string& why) {
  std::vector<std::shared_ptr<Pending>> failed;
  {
    absl::MutexLock l(&mu_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second->stream == number) {
        failed.push_back(it->second);
        pending_.erase(it++);
      } else {
        ++it;
      }
    }
    if (stream_ != nullptr && stream_->number == number) broken_ = true;
  }
  for (auto& p : failed) p->done(absl::UnavailableError(absl::StrCat("persistence-proxy: ", why)));
}

void AppendStream::ReaderLoop(Stream* s) {
  pv1::AppendEventsBatchResponse resp;
  while (s->rw->Read(&resp)) {
    for (const auto& r : resp.results()) {
      std::shared_ptr<Pending> p;
      {
        absl::MutexLock l(&mu_);
        auto it = pending_.find(r.request_id());
        if (it == pending_.end()) continue;  // its caller gave up
        p = it->second;
        pending_.erase(it);
      }
      if (r.code() == 0) {
        p->done(r.last_seq());
      } else {
        p->done(absl::Status(static_cast<absl::StatusCode>(r.code()),
                             absl::StrCat("persistence-proxy: append: ", r.message())));
      }
    }
  }
  ::grpc::Status st = s->rw->Finish();
  FailStream(s->number, absl::StrCat("append stream ended: ", st.error_message()));
}

void AppendStream::WatchdogLoop() {
  const absl::Duration period = std::clamp(timeout_ / 4, absl::Milliseconds(10), absl::Milliseconds(250));
  mu_.Lock();
  while (!stop_) {
    watchdog_cv_.WaitWithTimeout(&mu_, period);
    const absl::Time now = absl::Now();
    if (writing_ && stream_ != nullptr && now - write_started_ > timeout_) {
      // The write is stuck (the proxy reads nothing): cancelling the stream
      // makes it return.
      stream_->context->TryCancel();
      broken_ = true;
    }
    std::vector<std::shared_ptr<Pending>> expired;
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (!stop_ && it->second->deadline > now) {
        ++it;
        continue;
      }
      // Unanswered: the stream is stuck, start a new one. A late answer
      // finds nobody; the append may still have been written.
      if (stream_ != nullptr && it->second->stream == stream_->number) {
        stream_->context->TryCancel();
        broken_ = true;
      }
      expired.push_back(std::move(it->second));
      pending_.erase(it++);
    }
    if (expired.empty()) continue;
    mu_.Unlock();
    for (auto& p : expired) {
      p->done(absl::UnavailableError("persistence-proxy: append timed out"));
    }
    mu_.Lock();
  }
  mu_.Unlock();
}

}  // namespace orch::session_engine
