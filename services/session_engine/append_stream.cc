#include "services/session_engine/append_stream.h"

#include "absl/strings/str_cat.h"

namespace orch::session_engine {

namespace pv1 = orch::persistence::v1;

AppendStream::AppendStream(pv1::Persistence::Stub* stub, absl::Duration timeout)
    : stub_(stub), timeout_(timeout), writer_([this] { WriterLoop(); }) {}

AppendStream::~AppendStream() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  writer_.join();
}

absl::StatusOr<uint64_t> AppendStream::Append(pv1::AppendEventsRequest request) {
  auto p = std::make_shared<Pending>();
  auto future = p->promise.get_future();
  uint64_t id;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stop_) return absl::UnavailableError("persistence-proxy: the append stream is closed");
    id = next_id_++;
    pv1::AppendEventsStreamRequest r;
    r.set_request_id(id);
    *r.mutable_append() = std::move(request);
    queue_.push_back(std::move(r));
    pending_[id] = p;
  }
  cv_.notify_all();
  if (future.wait_for(absl::ToChronoNanoseconds(timeout_)) == std::future_status::ready) return future.get();
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = pending_.find(id);
    if (it != pending_.end()) {
      // An unanswered append means the stream is stuck (a stalled proxy
      // stops reading, so a write could block for ever): start a new one.
      if (stream_ != nullptr && it->second->stream == stream_->number) {
        stream_->context->TryCancel();
        broken_ = true;
      }
      pending_.erase(it);  // a late answer finds nobody; it may still have been written
    }
  }
  cv_.notify_all();
  return absl::UnavailableError("persistence-proxy: append timed out");
}

void AppendStream::FailStream(uint64_t number, const std::string& why) {
  std::vector<std::shared_ptr<Pending>> failed;
  {
    std::lock_guard<std::mutex> l(mu_);
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
  for (auto& p : failed) p->promise.set_value(absl::UnavailableError(absl::StrCat("persistence-proxy: ", why)));
}

void AppendStream::ReaderLoop(Stream* s) {
  pv1::AppendEventsBatchResponse resp;
  while (s->rw->Read(&resp)) {
    for (const auto& r : resp.results()) {
      std::shared_ptr<Pending> p;
      {
        std::lock_guard<std::mutex> l(mu_);
        auto it = pending_.find(r.request_id());
        if (it == pending_.end()) continue;  // its caller gave up
        p = it->second;
        pending_.erase(it);
      }
      if (r.code() == 0) {
        p->promise.set_value(r.last_seq());
      } else {
        p->promise.set_value(absl::Status(static_cast<absl::StatusCode>(r.code()),
                                          absl::StrCat("persistence-proxy: append: ", r.message())));
      }
    }
  }
  ::grpc::Status st = s->rw->Finish();
  FailStream(s->number, absl::StrCat("append stream ended: ", st.error_message()));
}

void AppendStream::WriterLoop() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    cv_.wait(l, [&] { return stop_ || !queue_.empty(); });
    if (stop_) break;
    if (broken_) {
      // A new stream. The old one is cancelled; its reader then ends (and
      // fails what was still waiting on it).
      if (std::unique_ptr<Stream> old = std::move(stream_)) {
        old->context->TryCancel();
        l.unlock();
        if (old->reader.joinable()) old->reader.join();
        l.lock();
      }
      auto s = std::make_unique<Stream>();
      s->number = ++streams_;
      s->context = std::make_unique<::grpc::ClientContext>();
      l.unlock();
      s->rw = stub_->AppendEventsBatchStream(s->context.get());
      Stream* raw = s.get();
      s->reader = std::thread([this, raw] { ReaderLoop(raw); });
      l.lock();
      stream_ = std::move(s);
      broken_ = false;
    }
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
    Stream* s = stream_.get();
    l.unlock();
    const bool ok = s->rw->Write(batch);
    l.lock();
    if (!ok) {
      l.unlock();
      FailStream(s->number, "append stream broke");
      l.lock();
    }
  }
  // Stop: cancel the stream, let its reader finish.
  std::unique_ptr<Stream> last = std::move(stream_);
  l.unlock();
  if (last != nullptr) {
    last->context->TryCancel();
    if (last->reader.joinable()) last->reader.join();
  }
}

}  // namespace orch::session_engine
