// Load generator for persistence-proxy (bench/persistence.sh): appends of
// fixed-size entries through the gRPC API from many concurrent sessions, each
// session with one append in flight (seqs must follow each other).
//
//   persistence_load --target 127.0.0.1:7102 --sessions 256 --seconds 10
//       [--rate N]           paced at N appends/s in total, in 1 ms ticks (0: as fast
//                            as possible); overrun = appends due when no session was idle
//       [--payload 150]      bytes of the event name (the entry is ~payload+20 bytes)
//       [--streams K]        send over K AppendEventsStream streams (0: unary AppendEvents)
//       [--batch 1]          with --streams: AppendEventsBatchStream instead, every
//                            append ready while a message is written goes in the next
//                            one (what a session-engine node does)
//   persistence_load --target ... --idle-sessions 10000 [--snapshot 1024]
//       creates sessions (SessionStarted + 9 events), snapshots each to the
//       last seq (log trimmed), and leaves them idle, for memory measurement.
//
// Prints one line: appends_per_s=... p50_ms=... p99_ms=... errors=... and
// load_cpu_us_per_append (this process's own CPU: it shares the machine).

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "orch/persistence/v1/persistence.grpc.pb.h"

namespace pb = ::orch::persistence::v1;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string target = "127.0.0.1:7102";
  int sessions = 256;
  double seconds = 10;
  double rate = 0;
  int payload = 150;
  int idle_sessions = 0;
  int snapshot = 1024;
  int streams = 0;
  bool batch = false;
  std::string prefix = "LOAD";
};

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--target") a.target = v;
    else if (k == "--sessions") a.sessions = std::atoi(v);
    else if (k == "--seconds") a.seconds = std::atof(v);
    else if (k == "--rate") a.rate = std::atof(v);
    else if (k == "--payload") a.payload = std::atoi(v);
    else if (k == "--idle-sessions") a.idle_sessions = std::atoi(v);
    else if (k == "--snapshot") a.snapshot = std::atoi(v);
    else if (k == "--prefix") a.prefix = v;
    else if (k == "--streams") a.streams = std::atoi(v);
    else if (k == "--batch") a.batch = std::atoi(v) != 0;
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      std::exit(2);
    }
  }
  return a;
}

struct Session {
  int index = 0;
  std::string id;
  uint64_t seq = 0;  // last acknowledged
  std::unique_ptr<grpc::ClientContext> ctx;
  pb::AppendEventsRequest req;
  pb::AppendEventsResponse resp;
  Clock::time_point sent;
};

class Load;

// One AppendEventsStream: requests queued and written one at a time; each
// response completes its session (request_id = session index).
class StreamClient final
    : public grpc::ClientBidiReactor<pb::AppendEventsStreamRequest, pb::AppendEventsStreamResponse> {
 public:
  StreamClient(pb::Persistence::Stub* stub, Load* load) : load_(load) {
    stub->async()->AppendEventsStream(&ctx_, this);
    StartRead(&resp_);
    StartCall();
  }
  void Enqueue(pb::AppendEventsStreamRequest req) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (writing_) {
        queue_.push_back(std::move(req));
        return;
      }
      writing_ = true;
      current_ = std::move(req);
    }
    StartWrite(&current_);
  }
  void OnWriteDone(bool ok) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!ok || queue_.empty()) {
        writing_ = false;
        return;
      }
      current_ = std::move(queue_.front());
      queue_.pop_front();
    }
    StartWrite(&current_);
  }
  void OnReadDone(bool ok) override;
  void Close() { StartWritesDone(); }
  void OnDone(const grpc::Status&) override {
    std::lock_guard<std::mutex> l(mu_);
    done_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return done_; });
  }

 private:
  Load* load_;
  grpc::ClientContext ctx_;
  pb::AppendEventsStreamResponse resp_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool writing_ = false, done_ = false;
  std::deque<pb::AppendEventsStreamRequest> queue_;
  pb::AppendEventsStreamRequest current_;
};

// One AppendEventsBatchStream: appends queued while a message is being
// written all go in the next message; each result completes its session.
class BatchStreamClient final
    : public grpc::ClientBidiReactor<pb::AppendEventsBatchRequest, pb::AppendEventsBatchResponse> {
 public:
  BatchStreamClient(pb::Persistence::Stub* stub, Load* load) : load_(load) {
    stub->async()->AppendEventsBatchStream(&ctx_, this);
    StartRead(&resp_);
    StartCall();
  }
  // Fills one more append of the next message.
  template <typename Fill>
  void Enqueue(Fill fill) {
    {
      std::lock_guard<std::mutex> l(mu_);
      fill(next_.add_appends());
      // While this thread handles a response message, its appends wait and
      // go out together when it is done (OnReadDone).
      if (writing_ || corked_ == this) return;
      writing_ = true;
      current_.Clear();
      current_.Swap(&next_);
    }
    StartWrite(&current_);
  }
  void OnWriteDone(bool ok) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!ok || next_.appends_size() == 0) {
        writing_ = false;
        return;
      }
      current_.Clear();
      current_.Swap(&next_);
    }
    StartWrite(&current_);
  }
  void OnReadDone(bool ok) override;
  void Close() { StartWritesDone(); }
  void OnDone(const grpc::Status&) override {
    std::lock_guard<std::mutex> l(mu_);
    done_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return done_; });
  }

 private:
  void Uncork() {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (writing_ || next_.appends_size() == 0) return;
      writing_ = true;
      current_.Clear();
      current_.Swap(&next_);
    }
    StartWrite(&current_);
  }

  static thread_local BatchStreamClient* corked_;
  Load* load_;
  grpc::ClientContext ctx_;
  pb::AppendEventsBatchResponse resp_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool writing_ = false, done_ = false;
  pb::AppendEventsBatchRequest next_, current_;
};

class Load {
 public:
  Load(const Args& a, std::shared_ptr<grpc::Channel> ch)
      : args_(a), stub_(pb::Persistence::NewStub(ch)), sessions_(a.sessions) {
    const auto t = std::chrono::system_clock::now().time_since_epoch().count();
    for (int i = 0; i < a.streams; ++i) {
      if (a.batch) {
        batch_streams_.push_back(std::make_unique<BatchStreamClient>(stub_.get(), this));
      } else {
        streams_.push_back(std::make_unique<StreamClient>(stub_.get(), this));
      }
    }
    event_name_ = std::string(a.payload, 'p');
    for (int i = 0; i < a.sessions; ++i) {
      sessions_[i].index = i;
      sessions_[i].id = "~1~" + a.prefix + std::to_string(t % 1000000007) + "X" + std::to_string(i);
    }
  }

  void Run() {
    const auto start = Clock::now();
    end_ = start + std::chrono::microseconds(static_cast<int64_t>(args_.seconds * 1e6));
    if (args_.rate <= 0) {
      for (auto& s : sessions_) Send(&s);
    } else {
      for (auto& s : sessions_) idle_.push_back(&s);
      // Paced in 1 ms ticks: each tick sends the appends that fell due since
      // the last one (a sleep per append would cost the generator more CPU
      // than the appends, and oversleep at high rates). Latency counts from
      // the moment each append is sent.
      const auto tick = std::chrono::microseconds(1000);
      auto next = start;
      uint64_t sent = 0;
      while (Clock::now() < end_) {
        std::this_thread::sleep_until(next);
        next += tick;
        const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
        const uint64_t due = static_cast<uint64_t>(elapsed * args_.rate);
        for (; sent < due; ++sent) {
          Session* s = nullptr;
          {
            std::lock_guard<std::mutex> l(mu_);
            if (!idle_.empty()) {
              s = idle_.front();
              idle_.pop_front();
            } else {
              ++overrun_;
            }
          }
          if (s != nullptr) Send(s);
        }
      }
    }
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return in_flight_ == 0; });
    }
    for (auto& st : streams_) st->Close();
    for (auto& st : streams_) st->Wait();
    for (auto& st : batch_streams_) st->Close();
    for (auto& st : batch_streams_) st->Wait();
    std::unique_lock<std::mutex> l(mu_);
    const double took = std::chrono::duration<double>(Clock::now() - start).count();
    std::sort(lat_us_.begin(), lat_us_.end());
    auto pct = [&](double p) {
      if (lat_us_.empty()) return 0.0;
      return lat_us_[std::min(lat_us_.size() - 1, static_cast<size_t>(p * lat_us_.size()))] / 1000.0;
    };
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    const double cpu_s = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
                         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    std::printf("appends_per_s=%.0f p50_ms=%.3f p99_ms=%.3f errors=%llu overrun=%llu sessions=%d "
                "appends=%llu load_cpu_us_per_append=%.1f\n",
                ok_ / took, pct(0.5), pct(0.99), static_cast<unsigned long long>(errors_),
                static_cast<unsigned long long>(overrun_), args_.sessions,
                static_cast<unsigned long long>(ok_), ok_ > 0 ? cpu_s * 1e6 / ok_ : 0.0);
    if (!first_error_.empty()) std::fprintf(stderr, "first error: %s\n", first_error_.c_str());
  }

 private:
  void Send(Session* s) {
    if (Clock::now() >= end_) return;
    {
      std::lock_guard<std::mutex> l(mu_);
      ++in_flight_;
    }
    if (!batch_streams_.empty()) {
      s->sent = Clock::now();
      batch_streams_[s->index % batch_streams_.size()]->Enqueue([&](pb::AppendEventsStreamRequest* sr) {
        sr->set_request_id(s->index);
        pb::AppendEventsRequest* r = sr->mutable_append();
        r->set_session_id(s->id);
        r->set_epoch(1);
        auto* e = r->add_entries();
        e->set_seq(s->seq + 1);
        if (s->seq == 0) {
          r->set_node("1");
          e->mutable_started()->set_document_sha256(std::string(64, 'a'));
        } else {
          e->mutable_event()->set_name(event_name_);
        }
      });
      return;
    }
    s->req.Clear();
    s->req.set_session_id(s->id);
    s->req.set_epoch(1);
    auto* e = s->req.add_entries();
    e->set_seq(s->seq + 1);
    if (s->seq == 0) {
      s->req.set_node("1");
      e->mutable_started()->set_document_sha256(std::string(64, 'a'));
    } else {
      e->mutable_event()->set_name(std::string(args_.payload, 'p'));
    }
    s->sent = Clock::now();
    if (!streams_.empty()) {
      pb::AppendEventsStreamRequest sr;
      sr.set_request_id(s->index);
      *sr.mutable_append() = s->req;
      streams_[s->index % streams_.size()]->Enqueue(std::move(sr));
      return;
    }
    s->ctx = std::make_unique<grpc::ClientContext>();
    s->ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    stub_->async()->AppendEvents(s->ctx.get(), &s->req, &s->resp, [this, s](grpc::Status st) {
      Done(s->index, st.ok(), s->resp.last_seq(), st.error_message());
    });
  }

 public:
  void Done(int index, bool ok, uint64_t last_seq, const std::string& error) {
    Session* s = &sessions_[index];
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - s->sent).count();
    bool again = false, last = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (ok) {
        s->seq = last_seq;
        ++ok_;
        lat_us_.push_back(static_cast<double>(us));
      } else {
        ++errors_;
        if (first_error_.empty()) first_error_ = error;
      }
      --in_flight_;
      last = in_flight_ == 0;
      if (args_.rate <= 0) {
        again = true;
      } else {
        idle_.push_back(s);
      }
    }
    if (again && Clock::now() < end_) Send(s);
    if (last) cv_.notify_all();
  }

 private:
  std::vector<std::unique_ptr<StreamClient>> streams_;
  std::vector<std::unique_ptr<BatchStreamClient>> batch_streams_;
  std::string event_name_;
  Args args_;
  std::unique_ptr<pb::Persistence::Stub> stub_;
  std::vector<Session> sessions_;
  Clock::time_point end_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Session*> idle_;
  int in_flight_ = 0;
  uint64_t ok_ = 0, errors_ = 0, overrun_ = 0;
  std::vector<double> lat_us_;
  std::string first_error_;
};

void StreamClient::OnReadDone(bool ok) {
  if (!ok) return;
  load_->Done(static_cast<int>(resp_.request_id()), resp_.code() == 0, resp_.last_seq(), resp_.message());
  StartRead(&resp_);
}

thread_local BatchStreamClient* BatchStreamClient::corked_ = nullptr;

void BatchStreamClient::OnReadDone(bool ok) {
  if (!ok) return;
  corked_ = this;
  for (const auto& r : resp_.results()) {
    load_->Done(static_cast<int>(r.request_id()), r.code() == 0, r.last_seq(), r.message());
  }
  corked_ = nullptr;
  Uncork();
  StartRead(&resp_);
}

// Sessions for the memory measurement, created with bounded concurrency.
int IdleSessions(const Args& a, std::shared_ptr<grpc::Channel> ch) {
  auto stub = pb::Persistence::NewStub(ch);
  std::atomic<int> next{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < a.idle_sessions; i = next++) {
        const std::string sid = "~1~" + a.prefix + "IDLE" + std::to_string(i);
        pb::AppendEventsRequest req;
        req.set_session_id(sid);
        req.set_epoch(1);
        req.set_node("1");
        for (int s = 1; s <= 10; ++s) {
          auto* e = req.add_entries();
          e->set_seq(s);
          if (s == 1) {
            e->mutable_started()->set_document_sha256(std::string(64, 'a'));
          } else {
            e->mutable_event()->set_name(std::string(a.payload, 'p'));
          }
        }
        pb::AppendEventsResponse resp;
        grpc::ClientContext c1;
        if (!stub->AppendEvents(&c1, req, &resp).ok()) {
          ++failed;
          continue;
        }
        pb::PutSnapshotRequest snap;
        snap.set_session_id(sid);
        snap.set_epoch(1);
        snap.set_covers_seq(10);
        snap.set_snapshot(std::string(a.snapshot, 's'));
        pb::PutSnapshotResponse sr;
        grpc::ClientContext c2;
        if (!stub->PutSnapshot(&c2, snap, &sr).ok()) ++failed;
      }
    });
  }
  for (auto& t : threads) t.join();
  std::printf("idle_sessions=%d failed=%d\n", a.idle_sessions, failed.load());
  return failed.load() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = Parse(argc, argv);
  // gRPC's locks are absl::Mutex, whose deadlock detection (on in this build
  // of absl) would cost the generator a graph update per lock.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  grpc::ChannelArguments ca;
  // Several channels' worth of streams on one connection is fine for
  // loopback; the proxy's callback server handles them concurrently.
  auto ch = grpc::CreateCustomChannel(a.target, grpc::InsecureChannelCredentials(), ca);
  if (!ch->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
    std::fprintf(stderr, "cannot connect to %s\n", a.target.c_str());
    return 1;
  }
  if (a.idle_sessions > 0) return IdleSessions(a, ch);
  Load load(a, ch);
  load.Run();
  return 0;
}
