// gRPC load generator for session-engine (bench/session.sh).
//
//   session_load --target HOST:PORT --chart /abs/chart.scxml --mode starts|events|create|touch
//                [--seconds 10] [--threads 32] [--sessions 1000] [--rate 0]
//                [--count N] [--ids FILE] [--channels 4] [--latency-from send|due]
//
//   starts   StartSession as fast as possible (or --rate per second in total)
//   events   starts --sessions sessions, then SendEvent round-robin, one call in
//            flight per session, as fast as possible or paced by --rate;
//            with --ids FILE it starts none and uses the sessions listed there
//            (bench/rest.sh: the same sessions as the REST run; --chart unused).
//            Latency runs from the send by default; with --rate and
//            --latency-from due, from min(slot due, send): a call that left
//            late because every thread was busy counts its wait (no
//            coordinated omission), as bench/rest_events.lua does
//   create   starts --count sessions, writes their ids to --ids
//   touch    one event to every session in --ids (reactivation throughput)
//
// Prints one line: <mode>_per_s=<n> ok=<n> errors=<n> p50_ms=<x> p99_ms=<x> [seconds=<x>]
// Rates are per second of wall time (the machine's other load counts against it).

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "orch/session/v1/sessions.grpc.pb.h"

namespace {

namespace sv1 = orch::session::v1;

struct Args {
  std::string target, chart, mode, ids;
  double seconds = 10;
  int threads = 32;
  int sessions = 1000;
  double rate = 0;
  int count = 10000;
  int channels = 4;
  bool from_due = false;  // --latency-from due
};

struct Stats {
  std::mutex mu;
  std::vector<double> latencies_ms;
  std::atomic<int64_t> ok{0}, errors{0};
  std::string first_error;
  void Record(double ms, const grpc::Status& s) {
    if (s.ok()) {
      ++ok;
      std::lock_guard<std::mutex> l(mu);
      latencies_ms.push_back(ms);
    } else {
      ++errors;
      std::lock_guard<std::mutex> l(mu);
      if (first_error.empty()) first_error = s.error_message();
    }
  }
  double Percentile(double p) {
    std::lock_guard<std::mutex> l(mu);
    if (latencies_ms.empty()) return 0;
    std::sort(latencies_ms.begin(), latencies_ms.end());
    return latencies_ms[std::min(latencies_ms.size() - 1, static_cast<size_t>(p * latencies_ms.size()))];
  }
};

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return c;
}

// Paces calls to `rate` per second in total across threads (0: no pacing).
class Pacer {
 public:
  explicit Pacer(double rate) : rate_(rate), start_(absl::Now()) {}
  // Measurement starts now (after any setup).
  void Reset() { start_ = absl::Now(); }
  // Waits for the next slot; returns when it was due (now when not pacing).
  absl::Time Wait() {
    const absl::Time now = absl::Now();
    if (rate_ <= 0) return now;
    const int64_t n = next_++;
    const absl::Time due = start_ + absl::Seconds(static_cast<double>(n) / rate_);
    if (due > now) absl::SleepFor(due - now);
    return due;
  }

 private:
  double rate_;
  absl::Time start_;
  std::atomic<int64_t> next_{0};
};

grpc::Status StartOne(sv1::Sessions::Stub* stub, const std::string& chart, std::string* id) {
  sv1::StartSessionRequest req;
  req.set_url("file://" + chart);
  sv1::StartSessionResponse resp;
  grpc::Status s = stub->StartSession(Ctx().get(), req, &resp);
  if (s.ok() && id != nullptr) *id = resp.session_id();
  return s;
}

grpc::Status SendOne(sv1::Sessions::Stub* stub, const std::string& id, int64_t n) {
  sv1::SendEventRequest req;
  req.set_session_id(id);
  req.mutable_event()->set_name("ev");
  auto& fields = *req.mutable_event()->mutable_data()->mutable_struct_value()->mutable_fields();
  fields["n"].set_number_value(static_cast<double>(n));
  fields["skill"].set_string_value("billing");
  sv1::SendEventResponse resp;
  return stub->SendEvent(Ctx().get(), req, &resp);
}

// Runs body(thread, stop_time) on every thread; returns wall seconds.
double RunThreads(int threads, double seconds, const std::function<void(int, absl::Time)>& body) {
  const absl::Time t0 = absl::Now();
  const absl::Time end = seconds > 0 ? t0 + absl::Seconds(seconds) : absl::InfiniteFuture();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) ts.emplace_back([&, t] { body(t, end); });
  for (auto& t : ts) t.join();
  return absl::ToDoubleSeconds(absl::Now() - t0);
}

// One session id per line (what --mode create writes).
std::vector<std::string> ReadIds(const std::string& path) {
  std::vector<std::string> ids;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) ids.push_back(line);
  }
  return ids;
}

double Ms(absl::Time since) { return absl::ToDoubleMilliseconds(absl::Now() - since); }

int Run(const Args& a) {
  grpc::ChannelArguments ch;
  ch.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // A few channels, so one HTTP/2 connection is not the limit.
  std::vector<std::unique_ptr<sv1::Sessions::Stub>> stubs;
  for (int i = 0; i < a.channels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("orch.bench.channel", i);  // distinct channels
    stubs.push_back(sv1::Sessions::NewStub(
        grpc::CreateCustomChannel(a.target, grpc::InsecureChannelCredentials(), args)));
  }
  auto stub_for = [&](int t) { return stubs[t % stubs.size()].get(); };
  Stats stats;
  Pacer pacer(a.rate);
  double wall = 0;
  std::string label = a.mode;

  if (a.mode == "starts") {
    wall = RunThreads(a.threads, a.seconds, [&](int t, absl::Time end) {
      while (absl::Now() < end) {
        pacer.Wait();
        const absl::Time t0 = absl::Now();
        grpc::Status s = StartOne(stub_for(t), a.chart, nullptr);
        stats.Record(Ms(t0), s);
      }
    });
  } else if (a.mode == "events") {
    std::vector<std::string> ids;
    if (!a.ids.empty()) {
      ids = ReadIds(a.ids);
      if (ids.empty()) {
        std::fprintf(stderr, "session_load: no session ids in %s\n", a.ids.c_str());
        return 2;
      }
    } else {
      ids.resize(a.sessions);
      RunThreads(a.threads, 0, [&](int t, absl::Time) {
        for (int i = t; i < a.sessions; i += a.threads) {
          grpc::Status s = StartOne(stub_for(t), a.chart, &ids[i]);
          if (!s.ok()) {
            std::fprintf(stderr, "session_load: start failed: %s\n", s.error_message().c_str());
            std::exit(1);
          }
        }
      });
    }
    const int sessions = static_cast<int>(ids.size());
    pacer.Reset();
    wall = RunThreads(a.threads, a.seconds, [&](int t, absl::Time end) {
      int64_t n = 0;
      while (absl::Now() < end) {
        for (int i = t; i < sessions && absl::Now() < end; i += a.threads) {
          const absl::Time due = pacer.Wait();
          const absl::Time t0 = a.from_due ? std::min(due, absl::Now()) : absl::Now();
          grpc::Status s = SendOne(stub_for(t), ids[i], n++);
          stats.Record(Ms(t0), s);
        }
      }
    });
  } else if (a.mode == "create") {
    std::vector<std::string> ids(a.count);
    wall = RunThreads(a.threads, 0, [&](int t, absl::Time) {
      for (int i = t; i < a.count; i += a.threads) {
        const absl::Time t0 = absl::Now();
        grpc::Status s;
        for (int attempt = 0; attempt < 20; ++attempt) {
          s = StartOne(stub_for(t), a.chart, &ids[i]);
          if (s.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) break;
          absl::SleepFor(absl::Milliseconds(50));
        }
        stats.Record(Ms(t0), s);
      }
    });
    std::ofstream out(a.ids);
    for (auto& id : ids) {
      if (!id.empty()) out << id << "\n";
    }
  } else if (a.mode == "touch") {
    std::vector<std::string> ids = ReadIds(a.ids);
    wall = RunThreads(a.threads, 0, [&](int t, absl::Time) {
      for (size_t i = t; i < ids.size(); i += a.threads) {
        const absl::Time t0 = absl::Now();
        stats.Record(Ms(t0), SendOne(stub_for(t), ids[i], 1));
      }
    });
  } else {
    std::fprintf(stderr, "session_load: unknown --mode %s\n", a.mode.c_str());
    return 2;
  }
  std::printf("%s_per_s=%.0f ok=%lld errors=%lld p50_ms=%.3f p99_ms=%.3f seconds=%.2f\n", label.c_str(),
              wall > 0 ? static_cast<double>(stats.ok.load()) / wall : 0.0, static_cast<long long>(stats.ok.load()),
              static_cast<long long>(stats.errors.load()), stats.Percentile(0.50), stats.Percentile(0.99), wall);
  if (!stats.first_error.empty()) std::fprintf(stderr, "session_load: first error: %s\n", stats.first_error.c_str());
  return stats.errors.load() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    bool ok = true;
    if (k == "--target") a.target = v;
    else if (k == "--chart") a.chart = v;
    else if (k == "--mode") a.mode = v;
    else if (k == "--ids") a.ids = v;
    else if (k == "--seconds") ok = absl::SimpleAtod(v, &a.seconds);
    else if (k == "--threads") ok = absl::SimpleAtoi(v, &a.threads);
    else if (k == "--sessions") ok = absl::SimpleAtoi(v, &a.sessions);
    else if (k == "--rate") ok = absl::SimpleAtod(v, &a.rate);
    else if (k == "--count") ok = absl::SimpleAtoi(v, &a.count);
    else if (k == "--channels") ok = absl::SimpleAtoi(v, &a.channels) && a.channels >= 1;
    else if (k == "--latency-from") {
      ok = v == "due" || v == "send";
      a.from_due = v == "due";
    }
    else ok = false;
    if (!ok) {
      std::fprintf(stderr, "session_load: bad argument %s %s\n", k.c_str(), v.c_str());
      return 2;
    }
  }
  const bool needs_chart = a.mode != "touch" && !(a.mode == "events" && !a.ids.empty());
  if (a.target.empty() || a.mode.empty() || (needs_chart && a.chart.empty())) {
    std::fprintf(stderr, "usage: session_load --target HOST:PORT --chart /abs.scxml --mode starts|events|create|touch ...\n");
    return 2;
  }
  return Run(a);
}
