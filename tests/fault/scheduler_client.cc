// The client of tests/fault/scheduler.sh: schedules timers through the
// scheduler replicas (while the script SIGKILLs and restarts them) and
// checks that every timer's event was applied once, and when.
//
//   scheduler_client --engine HOST:PORT --schedulers A,B,C --chart /abs/timers.scxml
//                    [--sessions 20] [--timers 3000] [--spread-ms 20000] [--lead-ms 3000]
//                    [--wait-ms 8000]
//
// 1. starts --sessions persistent sessions of the chart (it appends each
//    tick's data.i to `seen` and logs it) and watches each (WatchSession);
// 2. schedules --timers timers "f<i>", due evenly over --spread-ms from now +
//    --lead-ms, each delivering tick{i} to session i % sessions, round-robin
//    over the replicas; a call that fails (a replica being killed) is made
//    again on the next replica, so no timer is left unscheduled;
// 3. --wait-ms after the last due time, reads every session's `seen`.
// Prints one line (the checker's):
//   timers=N fired=<distinct ids applied> lost=<N - fired> applied_twice=<ids applied more
//   than once> max_late_ms=<largest arrival - due> p99_late_ms=<x> unwatched=<applied, not
//   seen on a watch> schedule_retries=<n> errors=<n>
// Exit status 0 unless it could not run (the script judges the line).

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
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "orch/scheduler/v1/scheduler.grpc.pb.h"
#include "orch/session/v1/sessions.grpc.pb.h"

namespace {

namespace sv1 = orch::session::v1;
namespace sched = orch::scheduler::v1;

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

std::unique_ptr<grpc::ClientContext> Ctx(int seconds = 10) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return c;
}

int Fail(const std::string& what) {
  std::fprintf(stderr, "scheduler_client: %s\n", what.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string engine, chart;
  std::vector<std::string> schedulers;
  int64_t sessions = 20, timers = 3000, spread_ms = 20000, lead_ms = 3000, wait_ms = 8000;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (k == "--engine") engine = next();
    else if (k == "--chart") chart = next();
    else if (k == "--schedulers") schedulers = absl::StrSplit(next(), ',', absl::SkipEmpty());
    else if (k == "--sessions") (void)absl::SimpleAtoi(next(), &sessions);
    else if (k == "--timers") (void)absl::SimpleAtoi(next(), &timers);
    else if (k == "--spread-ms") (void)absl::SimpleAtoi(next(), &spread_ms);
    else if (k == "--lead-ms") (void)absl::SimpleAtoi(next(), &lead_ms);
    else if (k == "--wait-ms") (void)absl::SimpleAtoi(next(), &wait_ms);
    else return Fail("unknown argument " + k);
  }
  if (engine.empty() || chart.empty() || schedulers.empty() || sessions <= 0 || timers <= 0) {
    return Fail("--engine, --chart and --schedulers are required");
  }
  auto stub = sv1::Sessions::NewStub(grpc::CreateChannel(engine, grpc::InsecureChannelCredentials()));
  std::vector<std::string> ids;
  for (int64_t s = 0; s < sessions; ++s) {
    sv1::StartSessionRequest req;
    req.set_url("file://" + chart);
    req.set_idempotency_key(absl::StrCat("scheduler-fault-", NowMs(), "-", s));
    sv1::StartSessionResponse resp;
    grpc::Status st = stub->StartSession(Ctx().get(), req, &resp);
    if (!st.ok()) return Fail("StartSession: " + st.error_message());
    ids.push_back(resp.session_id());
  }

  // Arrival of each timer's event, from the sessions' watches.
  std::mutex mu;
  std::map<std::string, int64_t> arrived;
  std::vector<std::unique_ptr<grpc::ClientContext>> watch_ctx;
  std::vector<std::thread> watchers;
  for (const auto& sid : ids) {
    watch_ctx.push_back(std::make_unique<grpc::ClientContext>());
    grpc::ClientContext* ctx = watch_ctx.back().get();
    watchers.emplace_back([&, ctx, sid] {
      sv1::WatchSessionRequest req;
      req.set_session_id(sid);
      auto reader = stub->WatchSession(ctx, req);
      sv1::WatchSessionResponse update;
      while (reader->Read(&update)) {
        const int64_t now = NowMs();
        for (const auto& line : update.logs()) {
          absl::string_view v = line;
          if (!absl::ConsumePrefix(&v, "i: ")) continue;
          v = absl::StripPrefix(absl::StripSuffix(v, "\""), "\"");
          std::lock_guard<std::mutex> l(mu);
          arrived.emplace(std::string(v), now);
        }
      }
      (void)reader->Finish();
    });
  }

  std::vector<std::unique_ptr<sched::Scheduler::Stub>> sstubs;
  for (const auto& s : schedulers) {
    sstubs.push_back(sched::Scheduler::NewStub(grpc::CreateChannel(s, grpc::InsecureChannelCredentials())));
  }
  const int64_t t0 = NowMs() + lead_ms;
  std::map<std::string, int64_t> due_of;
  std::atomic<int64_t> next{0}, retries{0}, errors{0};
  std::mutex due_mu;
  std::vector<std::thread> loaders;
  for (int t = 0; t < 8; ++t) {
    loaders.emplace_back([&, t] {
      for (int64_t i = next++; i < timers; i = next++) {
        sched::ScheduleTimerRequest req;
        sched::Timer* timer = req.mutable_timer();
        const std::string id = absl::StrCat("f", i);
        timer->set_timer_id(id);
        const int64_t due = t0 + spread_ms * i / timers;
        *timer->mutable_due_time() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(due);
        timer->mutable_deliver_event()->set_session_id(ids[i % sessions]);
        auto* ev = timer->mutable_deliver_event()->mutable_event();
        ev->set_name("tick");
        (*ev->mutable_data()->mutable_struct_value()->mutable_fields())["i"].set_string_value(id);
        bool ok = false;
        for (int attempt = 0; attempt < 100 && !ok; ++attempt) {
          sched::ScheduleTimerResponse resp;
          grpc::Status s = sstubs[(i + t + attempt) % sstubs.size()]->ScheduleTimer(Ctx(2).get(), req, &resp);
          ok = s.ok();
          if (!ok) {
            ++retries;
            absl::SleepFor(absl::Milliseconds(50));
          }
        }
        if (!ok) ++errors;
        std::lock_guard<std::mutex> l(due_mu);
        due_of[id] = due;
      }
    });
  }
  for (auto& t : loaders) t.join();
  std::fprintf(stderr, "scheduler_client: %lld timers scheduled, first due at +%lld ms\n",
               static_cast<long long>(timers), static_cast<long long>(t0 - NowMs()));
  while (NowMs() < t0 + spread_ms + wait_ms) absl::SleepFor(absl::Milliseconds(100));

  std::map<std::string, int> applied;
  for (const auto& sid : ids) {
    sv1::QuerySessionRequest req;
    req.set_session_id(sid);
    req.add_data_names("seen");
    sv1::QuerySessionResponse resp;
    grpc::Status s = stub->QuerySession(Ctx().get(), req, &resp);
    if (!s.ok()) return Fail("QuerySession: " + s.error_message());
    for (const auto& v : resp.data().at("seen").list_value().values()) ++applied[v.string_value()];
  }
  for (auto& c : watch_ctx) c->TryCancel();
  for (auto& t : watchers) t.join();

  int64_t twice = 0, unwatched = 0;
  std::vector<int64_t> late;
  for (const auto& [id, n] : applied) {
    if (n > 1) ++twice;
    auto a = arrived.find(id);
    if (a == arrived.end()) {
      ++unwatched;
    } else if (auto d = due_of.find(id); d != due_of.end()) {
      late.push_back(a->second - d->second);
    }
  }
  std::sort(late.begin(), late.end());
  const int64_t fired = static_cast<int64_t>(applied.size());
  std::printf(
      "timers=%lld fired=%lld lost=%lld applied_twice=%lld max_late_ms=%lld p99_late_ms=%lld unwatched=%lld "
      "schedule_retries=%lld errors=%lld\n",
      static_cast<long long>(timers), static_cast<long long>(fired), static_cast<long long>(timers - fired),
      static_cast<long long>(twice), static_cast<long long>(late.empty() ? -1 : late.back()),
      static_cast<long long>(late.empty() ? -1 : late[std::min(late.size() - 1, late.size() * 99 / 100)]),
      static_cast<long long>(unwatched), static_cast<long long>(retries.load()),
      static_cast<long long>(errors.load()));
  return 0;
}
