#include "services/persistence_proxy/persistence_service.h"

#include <deque>
#include <memory>
#include <mutex>

#include "google/protobuf/arena.h"

#include "common/grpc/status.h"

namespace orch::persistence_proxy {
namespace {

const ::grpc::Status& NotConnected() {
  static const ::grpc::Status kStatus(::grpc::StatusCode::UNAVAILABLE,
                                      "Redis has not been reached yet (persistence.redis-nodes)");
  return kStatus;
}

// Streams ReadLog one store page at a time: fetch, write, fetch the next
// page when the write is done, finish after a short page.
class ReadLogReactor final : public ::grpc::ServerWriteReactor<pb::ReadLogResponse> {
 public:
  ReadLogReactor(std::shared_ptr<Store> store, pb::ReadLogRequest req, uint32_t page)
      : store_(std::move(store)), req_(std::move(req)), page_(page) {
    Fetch();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) return Finish(::grpc::Status(::grpc::StatusCode::CANCELLED, "stream broken"));
    if (!more_) return Finish(::grpc::Status::OK);
    Fetch();
  }
  void OnDone() override { delete this; }

 private:
  void Fetch() {
    store_->ReadLogPage(req_, page_, [this](absl::StatusOr<pb::ReadLogResponse> r) {
      if (!r.ok()) return Finish(grpc_util::ToGrpcStatus(r.status()));
      if (r->entries().empty()) return Finish(::grpc::Status::OK);
      more_ = static_cast<uint32_t>(r->entries_size()) >= page_;
      req_.set_after_seq(r->entries(r->entries_size() - 1).seq());
      resp_ = std::move(*r);
      StartWrite(&resp_);
    });
  }

  std::shared_ptr<Store> store_;
  pb::ReadLogRequest req_;
  uint32_t page_;
  bool more_ = false;
  pb::ReadLogResponse resp_;
};

// AppendEventsStream: every request read is handed to the store at once
// (the next read starts right away), so one stream carries many appends in
// flight; completions are queued and written one at a time.
class AppendStreamReactor final
    : public ::grpc::ServerBidiReactor<pb::AppendEventsStreamRequest, pb::AppendEventsStreamResponse> {
 public:
  explicit AppendStreamReactor(std::function<std::shared_ptr<Store>()> store) : store_(std::move(store)) {
    StartRead(&req_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      bool finish;
      {
        std::lock_guard<std::mutex> l(mu_);
        reads_done_ = true;
        finish = ShouldFinishLocked();
      }
      if (finish) Finish(::grpc::Status::OK);
      return;
    }
    const uint64_t id = req_.request_id();
    std::shared_ptr<Store> store = store_();
    {
      std::lock_guard<std::mutex> l(mu_);
      ++pending_;
    }
    if (store == nullptr) {
      Complete(id, NotConnectedStatus(), 0);
    } else {
      // The store copies what it needs before returning: req_ can be reused.
      store->AppendEvents(req_.append(), [this, id](absl::StatusOr<pb::AppendEventsResponse> r) {
        Complete(id, r.status(), r.ok() ? r->last_seq() : 0);
      });
    }
    StartRead(&req_);
  }

  // gRPC calls (StartWrite, Finish) are made outside mu_: a reaction may run
  // inline on this thread.
  void OnWriteDone(bool ok) override {
    bool write = false, finish = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!ok) {
        broken_ = true;
        queue_.clear();
      }
      if (!queue_.empty()) {
        current_ = std::move(queue_.front());
        queue_.pop_front();
        write = true;
      } else {
        writing_ = false;
        finish = ShouldFinishLocked();
      }
    }
    if (write) StartWrite(&current_);
    if (finish) Finish(::grpc::Status::OK);
  }

  void OnDone() override { delete this; }

 private:
  static absl::Status NotConnectedStatus() {
    return absl::UnavailableError("Redis has not been reached yet (persistence.redis-nodes)");
  }

  void Complete(uint64_t id, const absl::Status& status, uint64_t last_seq) {
    pb::AppendEventsStreamResponse resp;
    resp.set_request_id(id);
    resp.set_last_seq(last_seq);
    resp.set_code(static_cast<int32_t>(status.code()));
    resp.set_message(std::string(status.message()));
    bool write = false, finish = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      --pending_;
      if (!broken_) {
        if (writing_) {
          queue_.push_back(std::move(resp));
        } else {
          writing_ = true;
          current_ = std::move(resp);
          write = true;
        }
      }
      finish = !write && ShouldFinishLocked();
    }
    if (write) StartWrite(&current_);
    if (finish) Finish(::grpc::Status::OK);
  }

  bool ShouldFinishLocked() {
    if (reads_done_ && pending_ == 0 && !writing_ && queue_.empty() && !finished_) {
      finished_ = true;
      return true;
    }
    return false;
  }

  std::function<std::shared_ptr<Store>()> store_;
  pb::AppendEventsStreamRequest req_;  // touched by the read side only
  std::mutex mu_;  // guards the fields below it
  int pending_ = 0;
  bool reads_done_ = false;
  bool writing_ = false;
  bool broken_ = false;
  bool finished_ = false;
  std::deque<pb::AppendEventsStreamResponse> queue_;
  pb::AppendEventsStreamResponse current_;
};

// AppendEventsBatchStream: like AppendStreamReactor, but each request
// message carries many appends, and every result that completes while a
// response is being written goes into the next response message together.
class AppendBatchReactor final
    : public ::grpc::ServerBidiReactor<pb::AppendEventsBatchRequest, pb::AppendEventsBatchResponse> {
 public:
  explicit AppendBatchReactor(std::function<std::shared_ptr<Store>()> store)
      : store_(std::move(store)), block_(new char[kArenaBlockBytes]), arena_(ArenaOptions(block_.get())) {
    req_ = google::protobuf::Arena::CreateMessage<pb::AppendEventsBatchRequest>(&arena_);
    StartRead(req_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      bool finish;
      {
        std::lock_guard<std::mutex> l(mu_);
        reads_done_ = true;
        finish = ShouldFinishLocked();
      }
      if (finish) Finish(::grpc::Status::OK);
      return;
    }
    std::shared_ptr<Store> store = store_();
    {
      std::lock_guard<std::mutex> l(mu_);
      pending_ += req_->appends_size();
    }
    if (store == nullptr) {
      for (const pb::AppendEventsStreamRequest& a : req_->appends()) {
        Complete(a.request_id(),
                 absl::UnavailableError("Redis has not been reached yet (persistence.redis-nodes)"), 0);
      }
    } else {
      // All of the message's appends at once, so they can share Redis calls.
      // The store copies what it needs before returning: req_ can go.
      std::vector<Store::AppendItem> items;
      items.reserve(req_->appends_size());
      for (const pb::AppendEventsStreamRequest& a : req_->appends()) {
        const uint64_t id = a.request_id();
        items.emplace_back(&a.append(), [this, id](absl::StatusOr<pb::AppendEventsResponse> r) {
          Complete(id, r.status(), r.ok() ? r->last_seq() : 0);
        });
      }
      store->AppendEventsMany(std::move(items));
    }
    arena_.Reset();
    req_ = google::protobuf::Arena::CreateMessage<pb::AppendEventsBatchRequest>(&arena_);
    StartRead(req_);
  }

  void OnWriteDone(bool ok) override {
    bool write = false, finish = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!ok) {
        broken_ = true;
        next_.Clear();
      }
      if (next_.results_size() > 0) {
        current_.Clear();
        current_.Swap(&next_);
        write = true;
      } else {
        writing_ = false;
        finish = ShouldFinishLocked();
      }
    }
    if (write) StartWrite(&current_);
    if (finish) Finish(::grpc::Status::OK);
  }

  void OnDone() override { delete this; }

 private:
  void Complete(uint64_t id, const absl::Status& status, uint64_t last_seq) {
    bool write = false, finish = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      --pending_;
      if (!broken_) {
        pb::AppendEventsStreamResponse* r = next_.add_results();
        r->set_request_id(id);
        r->set_last_seq(last_seq);
        if (!status.ok()) {
          r->set_code(static_cast<int32_t>(status.code()));
          r->set_message(std::string(status.message()));
        }
        if (!writing_) {
          if (CallbackBurst::Active()) {
            // More results of the same Redis call are coming on this
            // thread: write them all in one message when the burst ends.
            if (!flush_deferred_) {
              flush_deferred_ = true;
              ++pending_;  // keeps the stream open until the flush
              CallbackBurst::Defer([this] { FlushDeferred(); });
            }
          } else {
            writing_ = true;
            current_.Clear();
            current_.Swap(&next_);
            write = true;
          }
        }
      }
      finish = !write && ShouldFinishLocked();
    }
    if (write) StartWrite(&current_);
    if (finish) Finish(::grpc::Status::OK);
  }

  void FlushDeferred() {
    bool write = false, finish = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      flush_deferred_ = false;
      --pending_;
      if (!broken_ && !writing_ && next_.results_size() > 0) {
        writing_ = true;
        current_.Clear();
        current_.Swap(&next_);
        write = true;
      }
      finish = !write && ShouldFinishLocked();
    }
    if (write) StartWrite(&current_);
    if (finish) Finish(::grpc::Status::OK);
  }

  bool ShouldFinishLocked() {
    if (reads_done_ && pending_ == 0 && !writing_ && next_.results_size() == 0 && !finished_) {
      finished_ = true;
      return true;
    }
    return false;
  }

  // Each request message is parsed into an arena that is reset before the
  // next read: a message's appends, entries and strings (several objects per
  // append) cost no malloc and free each. The first block is kept across
  // resets; larger messages take further blocks for themselves.
  static constexpr size_t kArenaBlockBytes = 256 << 10;
  static google::protobuf::ArenaOptions ArenaOptions(char* block) {
    google::protobuf::ArenaOptions o;
    o.initial_block = block;
    o.initial_block_size = kArenaBlockBytes;
    o.max_block_size = 1 << 20;
    return o;
  }

  std::function<std::shared_ptr<Store>()> store_;
  // Touched by the read side only.
  std::unique_ptr<char[]> block_;
  google::protobuf::Arena arena_;
  pb::AppendEventsBatchRequest* req_;  // on arena_
  std::mutex mu_;                      // guards everything below
  int pending_ = 0;
  bool reads_done_ = false;
  bool writing_ = false;
  bool broken_ = false;
  bool finished_ = false;
  bool flush_deferred_ = false;
  pb::AppendEventsBatchResponse next_;     // results waiting for the next write
  pb::AppendEventsBatchResponse current_;  // being written
};

}  // namespace

::grpc::ServerBidiReactor<pb::AppendEventsBatchRequest, pb::AppendEventsBatchResponse>*
PersistenceService::AppendEventsBatchStream(::grpc::CallbackServerContext* ctx) {
  return new AppendBatchReactor(store_);
}

::grpc::ServerBidiReactor<pb::AppendEventsStreamRequest, pb::AppendEventsStreamResponse>*
PersistenceService::AppendEventsStream(::grpc::CallbackServerContext* ctx) {
  return new AppendStreamReactor(store_);
}

#define ORCH_UNARY(Op)                                                                       \
  ::grpc::ServerUnaryReactor* PersistenceService::Op(                                        \
      ::grpc::CallbackServerContext* ctx, const pb::Op##Request* req, pb::Op##Response* resp) { \
    ::grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();                             \
    std::shared_ptr<Store> store = store_();                                                 \
    if (store == nullptr) {                                                                  \
      reactor->Finish(NotConnected());                                                       \
      return reactor;                                                                        \
    }                                                                                        \
    store->Op(*req, [reactor, resp](absl::StatusOr<pb::Op##Response> r) {                   \
      if (r.ok()) *resp = std::move(*r);                                                     \
      reactor->Finish(grpc_util::ToGrpcStatus(r.status()));                                  \
    });                                                                                      \
    return reactor;                                                                          \
  }
ORCH_PERSISTENCE_UNARY_OPS(ORCH_UNARY)
#undef ORCH_UNARY

::grpc::ServerWriteReactor<pb::ReadLogResponse>* PersistenceService::ReadLog(
    ::grpc::CallbackServerContext* ctx, const pb::ReadLogRequest* req) {
  std::shared_ptr<Store> store = store_();
  if (store == nullptr) {
    class Failed final : public ::grpc::ServerWriteReactor<pb::ReadLogResponse> {
     public:
      Failed() { Finish(NotConnected()); }
      void OnDone() override { delete this; }
    };
    return new Failed();
  }
  return new ReadLogReactor(std::move(store), *req, read_page_entries_);
}

}  // namespace orch::persistence_proxy
