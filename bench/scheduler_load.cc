// Load generator and timer sink for the scheduler (bench/scheduler.sh).
//
//   scheduler_load --proxy HOST:PORT --schedulers HOST:PORT[,HOST:PORT...] --timers N
//                  [--spread-ms 10000] [--lead-ms 3000] [--node 9] [--threads 16]
//                  [--run NAME] [--wait-s 60] [--pending]
//
// It stands in for node --node's session-engine: a gRPC Sessions server on a
// free loopback port that holds the node's lease in persistence-proxy (so the
// scheduler sends it the firings) and answers each SendEvent at once. It
// schedules N timers (deliver an event to a session of that node) through the
// schedulers (round-robin, --threads blocking calls), due from now + lead over
// spread (evenly; spread 0: all at once), and records every firing it
// receives: its lateness (arrival - due time, both on this host's clock, the
// proxy's too) and whether its effect id came before (a repeat: the engine
// would drop it).
// --pending: schedules N timers due in a year and exits once they are stored
// (memory per timer is read by the script from Redis).
//
// Prints one line:
//   timers=N fired=<distinct> lost=<N - distinct> repeats=<n> schedule_per_s=<x>
//   fire_per_s=<distinct / (last - first arrival)> lateness_p50_ms=<x> lateness_p99_ms=<x>
//   max_late_ms=<x> errors=<n>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "orch/persistence/v1/persistence.grpc.pb.h"
#include "orch/scheduler/v1/scheduler.grpc.pb.h"
#include "orch/session/v1/sessions.grpc.pb.h"

namespace {

namespace sv1 = orch::session::v1;
namespace pv1 = orch::persistence::v1;
namespace sched = orch::scheduler::v1;

struct Args {
  std::string proxy, run = "b";
  std::vector<std::string> schedulers;
  int64_t timers = 10000, spread_ms = 10000, lead_ms = 3000, wait_s = 60;
  int node = 9, threads = 16;
  bool pending = false;
};

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

std::unique_ptr<grpc::ClientContext> Ctx(int seconds = 10) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return c;
}

class Sink final : public sv1::Sessions::Service {
 public:
  grpc::Status SendEvent(grpc::ServerContext*, const sv1::SendEventRequest* req,
                         sv1::SendEventResponse* resp) override {
    const int64_t now = NowMs();
    // effect id: timer/<id>/<due ms>
    std::vector<std::string> parts = absl::StrSplit(req->event().effect_id(), '/');
    int64_t due = 0;
    if (parts.size() != 3 || !absl::SimpleAtoi(parts[2], &due)) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "unexpected effect id");
    }
    std::lock_guard<std::mutex> l(mu_);
    if (!seen_.emplace(parts[1], now).second) {
      ++repeats_;
      resp->set_duplicate(true);
      return grpc::Status::OK;
    }
    lateness_.push_back(now - due);
    first_ = first_ == 0 ? now : std::min(first_, now);
    last_ = std::max(last_, now);
    return grpc::Status::OK;
  }

  size_t distinct() {
    std::lock_guard<std::mutex> l(mu_);
    return seen_.size();
  }

  std::mutex mu_;
  std::map<std::string, int64_t> seen_;
  std::vector<int64_t> lateness_;
  int64_t repeats_ = 0, first_ = 0, last_ = 0;
};

int Fail(const std::string& what) {
  std::fprintf(stderr, "scheduler_load: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (k == "--proxy") a.proxy = next();
    else if (k == "--schedulers") a.schedulers = absl::StrSplit(next(), ',', absl::SkipEmpty());
    else if (k == "--timers") (void)absl::SimpleAtoi(next(), &a.timers);
    else if (k == "--spread-ms") (void)absl::SimpleAtoi(next(), &a.spread_ms);
    else if (k == "--lead-ms") (void)absl::SimpleAtoi(next(), &a.lead_ms);
    else if (k == "--wait-s") (void)absl::SimpleAtoi(next(), &a.wait_s);
    else if (k == "--node") (void)absl::SimpleAtoi(next(), &a.node);
    else if (k == "--threads") (void)absl::SimpleAtoi(next(), &a.threads);
    else if (k == "--run") a.run = next();
    else if (k == "--pending") a.pending = true;
    else return Fail("unknown argument " + k);
  }
  if (a.proxy.empty() || a.schedulers.empty() || a.timers <= 0) return Fail("--proxy, --schedulers, --timers are required");

  // The sink, and the node's lease naming it.
  Sink sink;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&sink);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) return Fail("cannot serve");
  auto proxy = pv1::Persistence::NewStub(grpc::CreateChannel(a.proxy, grpc::InsecureChannelCredentials()));
  const std::string holder = absl::StrCat("scheduler_load-", getpid());
  pv1::AcquireLeaseRequest acq;
  acq.set_name(absl::StrCat("node:", a.node));
  acq.set_holder(holder);
  acq.set_endpoint(absl::StrCat("127.0.0.1:", port));
  acq.set_ttl_ms(5000);
  pv1::AcquireLeaseResponse lease;
  grpc::Status ls = proxy->AcquireLease(Ctx().get(), acq, &lease);
  if (!ls.ok() || !lease.acquired()) return Fail("node lease not acquired: " + ls.error_message());
  std::atomic<bool> done{false};
  // Gives the lease up at the end, so that the next run can take it at once.
  auto release = [&] {
    pv1::ReleaseLeaseRequest r;
    r.set_name(acq.name());
    r.set_holder(holder);
    r.set_epoch(lease.epoch());
    pv1::ReleaseLeaseResponse rr;
    (void)proxy->ReleaseLease(Ctx().get(), r, &rr);
  };
  std::thread renew([&] {
    while (!done.load()) {
      for (int i = 0; i < 10 && !done.load(); ++i) absl::SleepFor(absl::Milliseconds(100));
      pv1::RenewLeaseRequest r;
      r.set_name(acq.name());
      r.set_holder(holder);
      r.set_epoch(lease.epoch());
      r.set_ttl_ms(5000);
      pv1::RenewLeaseResponse rr;
      (void)proxy->RenewLease(Ctx().get(), r, &rr);
    }
  });

  // A session id of the node (the sink accepts any).
  const std::string session = absl::StrCat("~", a.node, "~BENCHSCHEDULERSINK00000000000000");
  std::vector<std::unique_ptr<sched::Scheduler::Stub>> stubs;
  for (const auto& s : a.schedulers) {
    stubs.push_back(sched::Scheduler::NewStub(grpc::CreateChannel(s, grpc::InsecureChannelCredentials())));
  }
  const int64_t t0 = (a.pending ? NowMs() + 365LL * 86400000 : NowMs() + a.lead_ms);
  std::atomic<int64_t> next{0}, errors{0};
  std::string first_error;
  std::mutex err_mu;
  const int64_t load_start = NowMs();
  std::vector<std::thread> threads;
  for (int t = 0; t < a.threads; ++t) {
    threads.emplace_back([&, t] {
      for (int64_t i = next++; i < a.timers; i = next++) {
        sched::ScheduleTimerRequest req;
        sched::Timer* timer = req.mutable_timer();
        timer->set_timer_id(absl::StrCat(a.run, "-", i));
        const int64_t due = t0 + (a.spread_ms * i) / a.timers;
        *timer->mutable_due_time() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(due);
        timer->mutable_deliver_event()->set_session_id(session);
        timer->mutable_deliver_event()->mutable_event()->set_name("t");
        sched::ScheduleTimerResponse resp;
        grpc::Status s = stubs[(i + t) % stubs.size()]->ScheduleTimer(Ctx().get(), req, &resp);
        if (!s.ok()) {
          ++errors;
          std::lock_guard<std::mutex> l(err_mu);
          if (first_error.empty()) first_error = s.error_message();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const int64_t loaded = NowMs();
  const double schedule_per_s = a.timers * 1000.0 / std::max<int64_t>(1, loaded - load_start);
  if (!first_error.empty()) std::fprintf(stderr, "scheduler_load: first error: %s\n", first_error.c_str());
  if (a.pending) {
    std::printf("timers=%lld stored=%lld schedule_per_s=%.0f errors=%lld\n", static_cast<long long>(a.timers),
                static_cast<long long>(a.timers - errors.load()), schedule_per_s,
                static_cast<long long>(errors.load()));
    done = true;
    renew.join();
    release();
    server->Shutdown();
    return errors.load() == 0 ? 0 : 1;
  }
  if (loaded > t0) std::fprintf(stderr, "scheduler_load: loading took past the first due time (raise --lead-ms)\n");
  // The script samples the processes' CPU from the first due time on.
  std::fprintf(stderr, "scheduler_load: loaded; first due in %lld ms\n", static_cast<long long>(t0 - NowMs()));
  std::fflush(stderr);
  const int64_t deadline = t0 + a.spread_ms + a.wait_s * 1000;
  while (NowMs() < deadline && static_cast<int64_t>(sink.distinct()) < a.timers - errors.load()) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  absl::SleepFor(absl::Milliseconds(500));   // late repeats
  done = true;
  renew.join();
  release();
  server->Shutdown();
  std::lock_guard<std::mutex> l(sink.mu_);
  std::vector<int64_t> late = sink.lateness_;
  std::sort(late.begin(), late.end());
  auto pct = [&](double p) -> int64_t {
    return late.empty() ? -1 : late[std::min(late.size() - 1, static_cast<size_t>(p * late.size()))];
  };
  const int64_t fired = static_cast<int64_t>(sink.seen_.size());
  const double window_s = std::max<int64_t>(1, sink.last_ - sink.first_) / 1000.0;
  std::printf(
      "timers=%lld fired=%lld lost=%lld repeats=%lld schedule_per_s=%.0f fire_per_s=%.0f lateness_p50_ms=%lld "
      "lateness_p99_ms=%lld max_late_ms=%lld errors=%lld\n",
      static_cast<long long>(a.timers), static_cast<long long>(fired), static_cast<long long>(a.timers - fired),
      static_cast<long long>(sink.repeats_), schedule_per_s, fired / window_s, static_cast<long long>(pct(0.5)),
      static_cast<long long>(pct(0.99)), static_cast<long long>(late.empty() ? -1 : late.back()),
      static_cast<long long>(errors.load()));
  return errors.load() == 0 ? 0 : 1;
}
