// The kill test's load client and checker (tests/fault/README.md).
//
//   kill9_client --target HOST:PORT[,HOST:PORT...] --chart /abs/recorder.scxml
//                [--sessions N] [--duration-ms D] [--threads T] [--key-prefix P]
//
// Starts N persistent sessions of the recorder chart (idempotency keys, so
// a start retried across a crash names the same session), then for D ms
// sends each session the events ev{n: 0, 1, 2, ...}, one at a time per
// session, retrying an event until it is acknowledged (the same effect id
// every time, so a retry of an event that was appended before the crash is
// not delivered twice). Meanwhile kill9.sh SIGKILLs and restarts the
// engine. Afterwards it waits for the engine, reads every session's
// `received` list and compares it with the acknowledged events:
//
//   acknowledged=N lost=L duplicated=D reordered=R [unacknowledged=U ...]
//
// exit 0 when L = D = R = 0 and every session answered, 1 otherwise.
// With several targets (a node's primary and standbys) a call refused as
// UNAVAILABLE moves the client to the next target. max_stall_ms is the
// longest time any session waited between two acknowledgements.

#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/str_cat.h"
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

struct SessionState {
  std::string id;
  std::vector<int64_t> acked;      // in acknowledgement order
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

int Run(const Args& a) {
  Targets targets(a.target);
  std::atomic<int64_t> max_stall_ms{0};
  std::vector<SessionState> sessions(a.sessions);
  const absl::Time give_up = absl::Now() + absl::Milliseconds(a.duration_ms) + absl::Seconds(60);
  std::atomic<int64_t> retries{0}, errors{0};

  // Start (retried until acknowledged: the idempotency key makes it safe).
  for (int i = 0; i < a.sessions; ++i) {
    sv1::StartSessionRequest req;
    req.set_url("file://" + a.chart);
    req.set_idempotency_key(absl::StrCat(a.key_prefix, "-", i));
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
        return 1;
      }
      ++retries;
      absl::SleepFor(absl::Milliseconds(50));
    }
  }
  std::fprintf(stderr, "kill9_client: %d sessions started\n", a.sessions);

  const absl::Time end = absl::Now() + absl::Milliseconds(a.duration_ms);
  std::vector<std::thread> threads;
  for (int t = 0; t < a.threads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<int64_t> next(a.sessions, 0);
      std::vector<absl::Time> last_ack(a.sessions, absl::InfinitePast());
      while (absl::Now() < end) {
        for (int i = t; i < a.sessions && absl::Now() < end; i += a.threads) {
          SessionState& st = sessions[i];
          const int64_t n = next[i];
          sv1::SendEventRequest req;
          req.set_session_id(st.id);
          req.mutable_event()->set_name("ev");
          (*req.mutable_event()->mutable_data()->mutable_struct_value()->mutable_fields())["n"].set_number_value(
              static_cast<double>(n));
          req.mutable_event()->set_effect_id(absl::StrCat("kill9-client/", st.id, "/", n));
          for (;;) {
            sv1::SendEventResponse resp;
            int ti = 0;
            grpc::Status s = targets.Get(&ti)->SendEvent(Ctx(5000).get(), req, &resp);
            targets.Failed(ti, s);
            if (s.ok()) {
              const absl::Time now = absl::Now();
              if (last_ack[i] != absl::InfinitePast()) {
                const int64_t gap = absl::ToInt64Milliseconds(now - last_ack[i]);
                int64_t seen = max_stall_ms.load();
                while (gap > seen && !max_stall_ms.compare_exchange_weak(seen, gap)) {
                }
              }
              last_ack[i] = now;
              st.acked.push_back(n);
              st.unacked = -1;
              next[i] = n + 1;
              break;
            }
            if (!Retryable(s)) {
              ++errors;
              std::fprintf(stderr, "kill9_client: %s ev %lld: %s\n", st.id.c_str(), static_cast<long long>(n),
                           s.error_message().c_str());
              st.unacked = n;
              break;
            }
            ++retries;
            st.unacked = n;
            if (absl::Now() > give_up) break;
            absl::SleepFor(absl::Milliseconds(20));
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();

  // Check: every session's record against its acknowledged events.
  int64_t acknowledged = 0, lost = 0, duplicated = 0, reordered = 0, unacked_present = 0, unreachable = 0;
  int64_t recoveries = 0, ticks = 0;
  for (SessionState& st : sessions) {
    acknowledged += static_cast<int64_t>(st.acked.size());
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
    for (int64_t n : st.acked) {
      if (count[n] == 0) ++lost;
    }
    for (auto& [n, c] : count) {
      if (c > 1) duplicated += c - 1;
    }
    for (size_t k = 1; k < got.size(); ++k) {
      if (got[k] < got[k - 1]) ++reordered;
    }
    // Events recorded that were never acknowledged (other than the last).
    std::map<int64_t, int> acked;
    for (int64_t n : st.acked) ++acked[n];
    for (auto& [n, c] : count) {
      if (acked[n] == 0) ++duplicated;   // delivered without being acknowledged: a phantom
    }
  }
  std::printf("acknowledged=%lld lost=%lld duplicated=%lld reordered=%lld unreachable=%lld "
              "unacknowledged_present=%lld retries=%lld errors=%lld recovered_events=%lld ticks=%lld "
              "max_stall_ms=%lld\n",
              static_cast<long long>(acknowledged), static_cast<long long>(lost), static_cast<long long>(duplicated),
              static_cast<long long>(reordered), static_cast<long long>(unreachable),
              static_cast<long long>(unacked_present), static_cast<long long>(retries.load()),
              static_cast<long long>(errors.load()), static_cast<long long>(recoveries),
              static_cast<long long>(ticks), static_cast<long long>(max_stall_ms.load()));
  std::fflush(stdout);
  const bool ok = lost == 0 && duplicated == 0 && reordered == 0 && unreachable == 0 && errors.load() == 0 &&
                  acknowledged > 0;
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
    auto number = [&](int64_t* out) {
      std::string v = value();
      if (!absl::SimpleAtoi(v, out) || *out <= 0) {
        std::fprintf(stderr, "kill9_client: %s: '%s' is not a positive number\n", k.c_str(), v.c_str());
        std::exit(2);
      }
    };
    int64_t n = 0;
    if (k == "--target") {
      a.target = value();
    } else if (k == "--chart") {
      a.chart = value();
    } else if (k == "--sessions") {
      number(&n);
      a.sessions = static_cast<int>(n);
    } else if (k == "--duration-ms") {
      number(&a.duration_ms);
    } else if (k == "--threads") {
      number(&n);
      a.threads = static_cast<int>(n);
    } else if (k == "--key-prefix") {
      a.key_prefix = value();
    } else {
      std::fprintf(stderr, "kill9_client: unknown argument %s\n", k.c_str());
      return 2;
    }
  }
  if (a.target.empty() || a.chart.empty() || a.chart[0] != '/') {
    std::fprintf(stderr, "usage: kill9_client --target HOST:PORT --chart /ABS/PATH.scxml [--sessions N] "
                         "[--duration-ms D] [--threads T] [--key-prefix P]\n");
    return 2;
  }
  return Run(a);
}
