// The kill test's load client and checker (tests/fault/README.md).
//
//   kill9_client --target HOST:PORT[,HOST:PORT...] --chart /abs/recorder.scxml
//                [--sessions N] [--duration-ms D] [--threads T] [--key-prefix P]
//                [--tick-ms 300] [--kills FILE]
//
// Starts N persistent sessions of the recorder chart (idempotency keys, so
// a start retried across a crash names the same session; its timer fires
// every --tick-ms), then for D ms
// sends each session the events ev{n: 0, 1, 2, ...}, one at a time per
// session and every session at once (T threads, each driving its share of
// the sessions through one completion queue), the next event as soon as the
// previous one is acknowledged, retrying an event until it is acknowledged
// (the same effect id every time, so a retry of an event that was appended
// before the crash is not delivered twice). Meanwhile kill9.sh SIGKILLs and
// restarts the engine. Afterwards it waits for the engine, reads every session's `received` list
// and compares it with the acknowledged events:
//
//   acknowledged=N lost=L duplicated=D reordered=R [unacknowledged=U ...]
//
// exit 0 when L = D = R = 0 and every session answered, 1 otherwise.
// With several targets (a node's primary and standbys) a call refused as
// UNAVAILABLE moves the client to the next target. max_stall_ms is the
// longest time any session waited between two acknowledgements.
//
// Retries are paced so that all sessions together make at most about 5,000
// attempts per second (each retries every max(20 ms, N x 0.2 ms)): a crowd of
// clients hammering a standby would slow the takeover it is waiting for.
//
// --kills FILE: the takeover measurement. kill9.sh appends a line
// "kill <before_us> <after_us>" per SIGKILL (Unix µs just before the kill and
// after the process was reaped) and "end" after its last one; the client
// waits for "end" after its checks. For every kill during the load and every
// session, the takeover time is from <before_us> to the acknowledgement of
// the session's first attempt sent after <after_us> (so answered by the new
// primary, never by the dying one). Prints one line per kill and then
//
//   takeover: kills=K measured=M samples=S missing=X p50_ms=.. p99_ms=.. max_ms=..
//
// before the checker's line; a session with no such acknowledgement
// (missing) fails the run. A measured time can exceed the moment the session
// became servable by up to one retry interval.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "orch/session/v1/sessions.grpc.pb.h"

namespace {

namespace sv1 = orch::session::v1;

struct Args {
  std::string target;
  std::string chart;
  int sessions = 50;
  int64_t duration_ms = 20000;
  int threads = 8;
  std::string key_prefix = "kill9";
  int64_t tick_ms = 300;
  std::string kills_file;
};

bool Retryable(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE || s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED || s.error_code() == grpc::StatusCode::CANCELLED ||
         s.error_code() == grpc::StatusCode::ABORTED;
}

std::unique_ptr<grpc::ClientContext> Ctx(int ms) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(ms));
  return c;
}

// One acknowledged event: its n, when the attempt that was acknowledged left,
// and when the acknowledgement came (Unix µs).
struct Ack {
  int64_t n;
  int64_t sent_us;
  int64_t acked_us;
};

struct SessionState {
  std::string id;
  std::vector<Ack> acks;           // in acknowledgement order
  int64_t unacked = -1;            // an event sent but not acknowledged at the end
};

// The targets, and which one calls go to now.
class Targets {
 public:
  explicit Targets(const std::string& list) {
    for (absl::string_view t : absl::StrSplit(list, ',', absl::SkipEmpty())) {
      stubs_.push_back(sv1::Sessions::NewStub(grpc::CreateChannel(std::string(t), grpc::InsecureChannelCredentials())));
    }
  }
  // The stub to use and its index (to pass to Failed).
  sv1::Sessions::Stub* Get(int* index) {
    *index = current_.load();
    return stubs_[*index].get();
  }
  void Failed(int index, const grpc::Status& s) {
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE || stubs_.size() < 2) return;
    int expected = index;
    current_.compare_exchange_strong(expected, (index + 1) % static_cast<int>(stubs_.size()));
  }

 private:
  std::vector<std::unique_ptr<sv1::Sessions::Stub>> stubs_;
  std::atomic<int> current_{0};
};

struct Counters {
  std::atomic<int64_t> retries{0};
  std::atomic<int64_t> errors{0};
  std::atomic<int64_t> max_stall_ms{0};
};

// One session's current event: waiting for its time, in flight, or waiting
// for a retry. Owned by one load thread.
struct Call {
  int session = 0;
  int64_t n = 0;
  bool pending = false;     // event n was sent at least once and is not acknowledged
  bool in_flight = false;
  bool done = false;        // gave up on this session
  absl::Time next_at = absl::InfinitePast();  // when to send (first attempt or retry)
  absl::Time sent;          // the attempt in flight
  int target = 0;
  std::unique_ptr<grpc::ClientContext> ctx;
  sv1::SendEventRequest req;
  sv1::SendEventResponse resp;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<sv1::SendEventResponse>> reader;
};

// Drives sessions t, t + threads, ... until `end`, then until each one's
// last event is acknowledged (or `give_up`).
void LoadThread(const Args& a, int t, absl::Time end, absl::Time give_up, absl::Duration retry_every,
                Targets* targets, std::vector<SessionState>* sessions, Counters* counters) {
  grpc::CompletionQueue cq;
  std::vector<Call> calls((a.sessions - t + a.threads - 1) / a.threads);
  for (size_t k = 0; k < calls.size(); ++k) calls[k].session = t + static_cast<int>(k) * a.threads;
  int in_flight = 0;

  auto issue = [&](Call& c, absl::Time now) {
    SessionState& st = (*sessions)[c.session];
    if (!c.pending) {
      c.req.Clear();
      c.req.set_session_id(st.id);
      c.req.mutable_event()->set_name("ev");
      (*c.req.mutable_event()->mutable_data()->mutable_struct_value()->mutable_fields())["n"].set_number_value(
          static_cast<double>(c.n));
      c.req.mutable_event()->set_effect_id(absl::StrCat("kill9-client/", st.id, "/", c.n));
      c.pending = true;
      st.unacked = c.n;
    }
    c.ctx = Ctx(5000);
    c.sent = now;
    c.reader = targets->Get(&c.target)->PrepareAsyncSendEvent(c.ctx.get(), c.req, &cq);
    c.reader->StartCall();
    c.reader->Finish(&c.resp, &c.status, &c);
    c.in_flight = true;
    ++in_flight;
  };

  auto finished = [&](Call& c) {
    c.in_flight = false;
    --in_flight;
    const absl::Time now = absl::Now();
    targets->Failed(c.target, c.status);
    SessionState& st = (*sessions)[c.session];
    if (c.status.ok()) {
      const int64_t acked_us = absl::ToUnixMicros(now);
      if (!st.acks.empty()) {
        const int64_t gap = (acked_us - st.acks.back().acked_us) / 1000;
        int64_t seen = counters->max_stall_ms.load();
        while (gap > seen && !counters->max_stall_ms.compare_exchange_weak(seen, gap)) {
        }
      }
      st.acks.push_back(Ack{c.n, absl::ToUnixMicros(c.sent), acked_us});
      st.unacked = -1;
      c.pending = false;
      ++c.n;
      c.next_at = now;
    } else if (!Retryable(c.status)) {
      ++counters->errors;
      std::fprintf(stderr, "kill9_client: %s ev %lld: %s\n", st.id.c_str(), static_cast<long long>(c.n),
                   c.status.error_message().c_str());
      c.done = true;
    } else if (now > give_up) {
      ++counters->errors;
      std::fprintf(stderr, "kill9_client: %s ev %lld: still not acknowledged at the give-up time: %s\n",
                   st.id.c_str(), static_cast<long long>(c.n), c.status.error_message().c_str());
      c.done = true;
    } else {
      ++counters->retries;
      c.next_at = now + retry_every;
    }
  };

  for (;;) {
    const absl::Time now = absl::Now();
    absl::Time wake = now + absl::Milliseconds(100);
    bool waiting = false;
    for (Call& c : calls) {
      if (c.in_flight || c.done || (!c.pending && now >= end)) continue;
      if (c.next_at <= now) {
        issue(c, now);
      } else {
        waiting = true;
        wake = std::min(wake, c.next_at);
      }
    }
    if (in_flight == 0 && !waiting) break;
    void* tag = nullptr;
    bool ok = false;
    if (cq.AsyncNext(&tag, &ok, absl::ToChronoTime(wake)) == grpc::CompletionQueue::GOT_EVENT) {
      finished(*static_cast<Call*>(tag));
    }
  }
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
}

// The value at quantile q of sorted values (nearest rank).
int64_t Quantile(const std::vector<int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

std::string Distribution(std::vector<int64_t> ms) {
  std::sort(ms.begin(), ms.end());
  return absl::StrCat("p50_ms=", Quantile(ms, 0.5), " p99_ms=", Quantile(ms, 0.99), " max_ms=", Quantile(ms, 1.0));
}

struct Kill {
  int64_t before_us;
  int64_t after_us;
};

// Reads kill9.sh's kill lines; false until the file ends with "end".
bool ReadKills(const std::string& path, std::vector<Kill>* kills, std::string* problem) {
  kills->clear();
  std::ifstream in(path);
  bool complete = false;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    if (line == "end") {
      complete = true;
      continue;
    }
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    Kill k;
    if (f.size() != 3 || f[0] != "kill" || !absl::SimpleAtoi(f[1], &k.before_us) ||
        !absl::SimpleAtoi(f[2], &k.after_us)) {
      *problem = absl::StrCat(path, ": not a kill line: '", line, "'");
      return false;
    }
    kills->push_back(k);
  }
  return complete;
}

// The takeover times (above); false when a session had no acknowledgement
// after a kill during the load, or the kill list is unusable.
bool ReportTakeover(const std::string& path, const std::vector<SessionState>& sessions, absl::Time load_start,
                    absl::Time load_end, absl::Time give_up) {
  std::vector<Kill> kills;
  std::string problem;
  while (!ReadKills(path, &kills, &problem) && problem.empty() && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  if (!problem.empty() || !ReadKills(path, &kills, &problem)) {
    std::fprintf(stderr, "kill9_client: takeover not measured: %s\n",
                 problem.empty() ? absl::StrCat(path, " has no \"end\" line").c_str() : problem.c_str());
    return false;
  }
  std::vector<int64_t> all;
  int measured = 0;
  int64_t missing = 0;
  for (size_t k = 0; k < kills.size(); ++k) {
    const Kill& kill = kills[k];
    const int64_t at_ms = (kill.before_us - absl::ToUnixMicros(load_start)) / 1000;
    if (kill.after_us >= absl::ToUnixMicros(load_end)) {
      std::printf("takeover: kill=%zu at_ms=%lld after the load ended: not measured\n", k + 1,
                  static_cast<long long>(at_ms));
      continue;
    }
    ++measured;
    std::vector<int64_t> ms;
    int64_t worst = -1;
    const SessionState* slowest = nullptr;
    for (const SessionState& st : sessions) {
      auto it = std::find_if(st.acks.begin(), st.acks.end(), [&](const Ack& a) { return a.sent_us >= kill.after_us; });
      if (it == st.acks.end()) {
        ++missing;
        std::fprintf(stderr, "kill9_client: %s: no acknowledgement after kill %zu\n", st.id.c_str(), k + 1);
        continue;
      }
      const int64_t t = (it->acked_us - kill.before_us) / 1000;
      ms.push_back(t);
      if (t > worst) {
        worst = t;
        slowest = &st;
      }
    }
    all.insert(all.end(), ms.begin(), ms.end());
    std::printf("takeover: kill=%zu at_ms=%lld sessions=%zu %s slowest=%s\n", k + 1, static_cast<long long>(at_ms),
                ms.size(), Distribution(ms).c_str(), slowest != nullptr ? slowest->id.c_str() : "-");
  }
  std::printf("takeover: kills=%zu measured=%d samples=%zu missing=%lld %s\n", kills.size(), measured, all.size(),
              static_cast<long long>(missing), Distribution(all).c_str());
  return missing == 0;
}

int Run(const Args& a) {
  Targets targets(a.target);
  Counters counters;
  std::vector<SessionState> sessions(a.sessions);
  const absl::Time give_up = absl::Now() + absl::Milliseconds(a.duration_ms) + absl::Seconds(60);

  // Start (retried until acknowledged: the idempotency key makes it safe).
  std::atomic<bool> start_failed{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < a.threads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < a.sessions && !start_failed; i += a.threads) {
        sv1::StartSessionRequest req;
        req.set_url("file://" + a.chart);
        req.set_idempotency_key(absl::StrCat(a.key_prefix, "-", i));
        (*req.mutable_parameters())["tick_ms"].set_number_value(static_cast<double>(a.tick_ms));
        for (;;) {
          sv1::StartSessionResponse resp;
          int ti = 0;
          grpc::Status s = targets.Get(&ti)->StartSession(Ctx(5000).get(), req, &resp);
          targets.Failed(ti, s);
          if (s.ok()) {
            sessions[i].id = resp.session_id();
            break;
          }
          if (!Retryable(s) || absl::Now() > give_up) {
            std::fprintf(stderr, "kill9_client: start %d failed: %s\n", i, s.error_message().c_str());
            start_failed = true;
            return;
          }
          ++counters.retries;
          absl::SleepFor(absl::Milliseconds(50));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  threads.clear();
  if (start_failed) return 1;
  std::fprintf(stderr, "kill9_client: %d sessions started\n", a.sessions);

  const absl::Duration retry_every = std::max(absl::Milliseconds(20), absl::Microseconds(200) * a.sessions);
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Milliseconds(a.duration_ms);
  for (int t = 0; t < a.threads && t < a.sessions; ++t) {
    threads.emplace_back(LoadThread, std::cref(a), t, end, give_up, retry_every, &targets, &sessions, &counters);
  }
  for (auto& th : threads) th.join();

  // Check: every session's record against its acknowledged events.
  int64_t acknowledged = 0, lost = 0, duplicated = 0, reordered = 0, unacked_present = 0, unreachable = 0;
  int64_t recoveries = 0, ticks = 0;
  int notes = 0;  // the first anomalies, named, for whoever investigates a failure
  auto note = [&](const SessionState& st, const char* what, int64_t n) {
    if (++notes <= 20) std::fprintf(stderr, "kill9_client: %s: ev %lld %s\n", st.id.c_str(), static_cast<long long>(n), what);
  };
  for (SessionState& st : sessions) {
    acknowledged += static_cast<int64_t>(st.acks.size());
    sv1::QuerySessionRequest req;
    req.set_session_id(st.id);
    req.add_data_names("received");
    req.add_data_names("recoveries");
    req.add_data_names("ticks");
    sv1::QuerySessionResponse resp;
    grpc::Status s;
    for (;;) {
      int ti = 0;
      s = targets.Get(&ti)->QuerySession(Ctx(5000).get(), req, &resp);
      targets.Failed(ti, s);
      if (s.ok() || !Retryable(s) || absl::Now() > give_up) break;
      absl::SleepFor(absl::Milliseconds(50));
    }
    if (!s.ok()) {
      ++unreachable;
      std::fprintf(stderr, "kill9_client: query %s: %s\n", st.id.c_str(), s.error_message().c_str());
      continue;
    }
    std::vector<int64_t> got;
    for (const auto& v : resp.data().at("received").list_value().values()) got.push_back(static_cast<int64_t>(v.number_value()));
    recoveries += static_cast<int64_t>(resp.data().at("recoveries").number_value());
    ticks += static_cast<int64_t>(resp.data().at("ticks").number_value());
    // An event sent but never acknowledged may or may not have been logged.
    if (st.unacked >= 0 && !got.empty() && got.back() == st.unacked) {
      got.pop_back();
      ++unacked_present;
    }
    std::map<int64_t, int> count;
    for (int64_t n : got) ++count[n];
    for (const Ack& ack : st.acks) {
      if (count[ack.n] == 0) {
        ++lost;
        note(st, "acknowledged but not recorded", ack.n);
      }
    }
    for (auto& [n, c] : count) {
      if (c > 1) {
        duplicated += c - 1;
        note(st, "recorded more than once", n);
      }
    }
    for (size_t k = 1; k < got.size(); ++k) {
      if (got[k] < got[k - 1]) {
        ++reordered;
        note(st, "recorded after a later one", got[k]);
      }
    }
    // Events recorded that were never acknowledged (other than the last).
    std::map<int64_t, int> acked;
    for (const Ack& ack : st.acks) ++acked[ack.n];
    for (auto& [n, c] : count) {
      if (acked[n] == 0) {  // delivered without being acknowledged: a phantom
        ++duplicated;
        note(st, "recorded but never acknowledged", n);
      }
    }
  }
  const bool takeover_ok = a.kills_file.empty() || ReportTakeover(a.kills_file, sessions, start, end, give_up);
  std::printf("acknowledged=%lld lost=%lld duplicated=%lld reordered=%lld unreachable=%lld "
              "unacknowledged_present=%lld retries=%lld errors=%lld recovered_events=%lld ticks=%lld "
              "max_stall_ms=%lld\n",
              static_cast<long long>(acknowledged), static_cast<long long>(lost), static_cast<long long>(duplicated),
              static_cast<long long>(reordered), static_cast<long long>(unreachable),
              static_cast<long long>(unacked_present), static_cast<long long>(counters.retries.load()),
              static_cast<long long>(counters.errors.load()), static_cast<long long>(recoveries),
              static_cast<long long>(ticks), static_cast<long long>(counters.max_stall_ms.load()));
  std::fflush(stdout);
  const bool ok = lost == 0 && duplicated == 0 && reordered == 0 && unreachable == 0 &&
                  counters.errors.load() == 0 && acknowledged > 0 && takeover_ok;
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "kill9_client: %s needs a value\n", k.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    auto number = [&](int64_t* out, int64_t min) {
      std::string v = value();
      if (!absl::SimpleAtoi(v, out) || *out < min) {
        std::fprintf(stderr, "kill9_client: %s: '%s' is not a number >= %lld\n", k.c_str(), v.c_str(),
                     static_cast<long long>(min));
        std::exit(2);
      }
    };
    int64_t n = 0;
    if (k == "--target") {
      a.target = value();
    } else if (k == "--chart") {
      a.chart = value();
    } else if (k == "--sessions") {
      number(&n, 1);
      a.sessions = static_cast<int>(n);
    } else if (k == "--duration-ms") {
      number(&a.duration_ms, 1);
    } else if (k == "--threads") {
      number(&n, 1);
      a.threads = static_cast<int>(n);
    } else if (k == "--tick-ms") {
      number(&a.tick_ms, 10);
    } else if (k == "--key-prefix") {
      a.key_prefix = value();
    } else if (k == "--kills") {
      a.kills_file = value();
    } else {
      std::fprintf(stderr, "kill9_client: unknown argument %s\n", k.c_str());
      return 2;
    }
  }
  if (a.target.empty() || a.chart.empty() || a.chart[0] != '/') {
    std::fprintf(stderr, "usage: kill9_client --target HOST:PORT --chart /ABS/PATH.scxml [--sessions N] "
                         "[--duration-ms D] [--threads T] [--key-prefix P] [--tick-ms T] [--kills FILE]\n");
    return 2;
  }
  return Run(a);
}
