// SCXML interpreter benchmarks: routing events/s
// with the ECMAScript data model, null-data-model transitions/s, session
// creation, memory per idle session, snapshot/restore. Charts are in
// bench/charts/ and described in docs/design/benchmarks.md; bench/scxml.sh runs
// everything (and the SCION comparison) and docs/performance.md has the
// results.
//
//   scxml_bench [google benchmark flags]
//   scxml_bench --trace N     prints the routing chart's atomic configuration
//                             after start and after each of N events (JSON
//                             lines), to compare with SCION (bench/scion/run.js)
//   scxml_bench --profile N   N routing events with every data-model call
//                             counted and timed: the data model's share per call
//   scxml_bench --run W N     a fixed number of iterations of one workload, for
//                             instruction counts (valgrind --tool=callgrind):
//                             W = toggle (Enqueue + RunUntilIdle), toggle_step
//                             (Enqueue + Step) or routing (as BM_RoutingEvents);
//                             the difference of two N gives instructions/iteration
//
// Charts are read from ORCH_BENCH_CHARTS (default: bench/charts of the source
// tree this binary was built from). Idle-memory session count:
// ORCH_BENCH_SESSIONS (default 10000).

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "common/base/file.h"
#include "common/js/ecmascript_data_model.h"
#include "common/scxml/compiler.h"
#include "common/scxml/interpreter.h"
#include "common/scxml/testing/recording_environment.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "orch/scxml/v1/snapshot.pb.h"

namespace {

using orch::scxml::CompileDocument;
using orch::scxml::CompileOptions;
using orch::scxml::Document;
using orch::scxml::Event;
using orch::scxml::Interpreter;
using orch::scxml::InterpreterOptions;
using orch::scxml::StepResult;

constexpr int64_t kNow = 1'700'000'000'000;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "scxml_bench: %s\n", what.c_str());
  std::exit(1);
}

std::string ChartsDir() {
  const char* dir = std::getenv("ORCH_BENCH_CHARTS");
  return dir != nullptr && *dir != '\0' ? dir : ORCH_BENCH_CHARTS_DEFAULT;
}

// No external targets, no invoked documents: the charts here need none of
// them, and an attempt shows up as error.* (the routing chart then ends in
// "failed", which the benchmarks check). Nothing is recorded but the <log>
// values of --trace.
class BenchEnvironment final : public orch::scxml::RecordingEnvironment {
 public:
  BenchEnvironment() { max_recorded_bytes = 0; }
  void Log(const Interpreter&, std::string_view, std::string_view value_json) override {
    if (values != nullptr) values->emplace_back(value_json);
  }
  // <log> values (JSON text) are kept here when set (--trace), else dropped.
  std::vector<std::string>* values = nullptr;
};

// One {"event": name, "data": {...}} per line.
std::vector<Event> ReadEvents(const std::string& path) {
  auto text = orch::ReadFile(path);
  if (!text.ok()) Die(std::string(text.status().message()));
  std::vector<Event> out;
  size_t start = 0;
  while (start < text->size()) {
    size_t end = text->find('\n', start);
    if (end == std::string::npos) end = text->size();
    const std::string line = text->substr(start, end - start);
    start = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    google::protobuf::Struct obj;
    if (!google::protobuf::util::JsonStringToMessage(line, &obj).ok()) Die(path + ": bad line: " + line);
    Event e;
    e.name = obj.fields().at("event").string_value();
    e.type = Event::Type::kExternal;
    if (auto d = obj.fields().find("data"); d != obj.fields().end()) {
      e.data.clear();
      (void)google::protobuf::util::MessageToJsonString(d->second, &e.data);
    }
    out.push_back(std::move(e));
  }
  if (out.empty()) Die(path + ": no events");
  return out;
}

// ~10 KB of agents (JSON), replacing the routing chart's <data id="agents">
// for the snapshot benchmarks: a session whose data model holds ~10 KB.
std::string BigAgents() {
  static const char* kSkills[] = {"billing", "support", "sales"};
  static const char* kLanguages[] = {"en", "de", "fr", "es"};
  std::string out = "[";
  for (int i = 0; i < 68; ++i) {
    if (i) out += ",";
    absl::StrAppend(&out, "{\"id\":\"a", i + 1, "\",\"name\":\"Agent number ", i + 1, "\",\"skills\":[\"",
                    kSkills[i % 3], "\",\"", kSkills[(i + 1) % 3], "\"],\"languages\":[\"", kLanguages[i % 4],
                    "\",\"en\"],\"level\":", i % 5 + 1, ",\"available\":", i % 4 != 3 ? "true" : "false",
                    ",\"site\":\"site-", i % 3, "\",\"handled\":", i * 13 % 97, "}");
  }
  return out + "]";
}

struct Bench {
  Bench() {
    CompileOptions options;
    options.ecmascript = &factory;
    const std::string dir = ChartsDir();
    routing = Compile(dir + "/routing.scxml", options);
    toggle = Compile(dir + "/toggle.scxml", options);
    events = ReadEvents(dir + "/routing_events.jsonl");
  }
  static std::shared_ptr<const Document> Compile(const std::string& path, const CompileOptions& options) {
    auto text = orch::ReadFile(path);
    if (!text.ok()) Die(std::string(text.status().message()));
    auto doc = CompileDocument(*text, path, options);
    if (!doc.ok()) Die(std::string(doc.status().message()));
    return *doc;
  }
  InterpreterOptions Options(const std::string& id) {
    InterpreterOptions o;
    o.session_id = id;
    o.ecmascript = &factory;
    return o;
  }
  // Created, started, settled in its first stable configuration.
  std::unique_ptr<Interpreter> Start(const std::shared_ptr<const Document>& doc, InterpreterOptions o) {
    auto s = Interpreter::Create(doc, &env, std::move(o));
    if (!s.ok()) Die(std::string(s.status().message()));
    (*s)->SetNow(kNow);
    if (absl::Status st = (*s)->Start(); !st.ok()) Die(std::string(st.message()));
    (*s)->RunUntilIdle();
    return *std::move(s);
  }

  orch::js::EcmascriptDataModelFactory factory;
  BenchEnvironment env;
  std::shared_ptr<const Document> routing;
  std::shared_ptr<const Document> toggle;
  std::vector<Event> events;
};

Bench& B() {
  static Bench* b = new Bench();
  return *b;
}

void Send(Interpreter& s, const Event& e) {
  if (!s.Enqueue(e).ok()) Die("Enqueue refused");
  s.RunUntilIdle();
}

// The session must still be running (no error.* sent it to "failed") and,
// at a cycle boundary, be back in "idle".
void CheckRouting(benchmark::State& state, const Interpreter& s, bool at_cycle_boundary) {
  if (s.finished()) {
    state.SkipWithError(("routing session finished in '" + s.final_state() + "'").c_str());
    return;
  }
  if (at_cycle_boundary && s.ActiveStates(true) != std::vector<std::string>{"idle"}) {
    state.SkipWithError("routing session not back in idle after a full cycle");
  }
}

// One session, driven like the session engine drives it: each event is
// Enqueue'd and the session run until idle. The events cycle through 8
// calls (call.new, agent.found, call.end each), every branch of the chart.
void BM_RoutingEvents(benchmark::State& state) {
  Bench& b = B();
  auto s = b.Start(b.routing, b.Options("routing-1"));
  const size_t n = b.events.size();
  size_t i = 0;
  for (auto _ : state) {
    Send(*s, b.events[i]);
    if (++i == n) i = 0;
  }
  // Finish the cycle (untimed) and check where the session is.
  while (i != 0) {
    Send(*s, b.events[i]);
    if (++i == n) i = 0;
  }
  CheckRouting(state, *s, true);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["events_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_RoutingEvents)->MinTime(2.0);

// Two states toggling on one event, datamodel="null": Enqueue + RunUntilIdle
// (what a driver does) and Enqueue + Step (the smallest call).
void BM_NullToggle(benchmark::State& state) {
  Bench& b = B();
  auto s = b.Start(b.toggle, b.Options("toggle-1"));
  Event e;
  e.name = "toggle";
  const bool step_only = state.range(0) == 1;
  for (auto _ : state) {
    if (!s->Enqueue(e).ok()) Die("Enqueue refused");
    if (step_only) {
      s->Step();
    } else {
      s->RunUntilIdle();
    }
  }
  const auto atomic = s->ActiveStates(true);
  const std::string expected = state.iterations() % 2 == 0 ? "off" : "on";
  if (atomic.size() != 1 || atomic[0] != expected) state.SkipWithError("toggle chart in the wrong state");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["transitions_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_NullToggle)->ArgName("step_only")->Arg(0)->Arg(1)->MinTime(1.0);

// Session creation from the compiled chart: Create (interpreter + data model)
// + Start to the first stable configuration ("idle"). Sessions are kept in
// batches of 64 and destroyed outside the timed region.
void CreateSessions(benchmark::State& state, const std::shared_ptr<const Document>& doc) {
  Bench& b = B();
  std::vector<std::unique_ptr<Interpreter>> batch;
  batch.reserve(64);
  uint64_t n = 0;
  for (auto _ : state) {
    batch.push_back(b.Start(doc, b.Options(absl::StrCat("s", ++n))));
    if (batch.size() == 64) {
      state.PauseTiming();
      batch.clear();
      state.ResumeTiming();
    }
  }
  if (!batch.empty() && batch.back()->finished()) state.SkipWithError("session finished at start");
  batch.clear();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["sessions_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
void BM_CreateRoutingSession(benchmark::State& state) { CreateSessions(state, B().routing); }
BENCHMARK(BM_CreateRoutingSession)->MinTime(2.0);
// The same for the null-data-model chart: the interpreter's own share.
void BM_CreateNullSession(benchmark::State& state) { CreateSessions(state, B().toggle); }
BENCHMARK(BM_CreateNullSession)->MinTime(1.0);

// Memory of the whole process: resident (/proc/self/statm) and what malloc
// has handed out (mallinfo2: arena in use + mmapped blocks).
struct Memory {
  int64_t rss = 0;
  int64_t heap = 0;
};
Memory MeasureMemory() {
  Memory m;
  long pages_total = 0, pages_resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = 0;
    std::fclose(f);
  }
  m.rss = static_cast<int64_t>(pages_resident) * sysconf(_SC_PAGESIZE);
  const struct mallinfo2 mi = mallinfo2();
  m.heap = static_cast<int64_t>(mi.uordblks + mi.hblkhd);
  return m;
}

size_t SessionCount() {
  size_t n = 10000;
  if (const char* v = std::getenv("ORCH_BENCH_SESSIONS")) {
    if (!absl::SimpleAtoi(v, &n) || n == 0) Die("ORCH_BENCH_SESSIONS must be a positive integer");
  }
  return n;
}

// N routing sessions, created and started, kept in memory, idle. Arg 1: each
// has also handled one call (call.new, agent.found, call.end) before going
// idle, so the code it ran is loaded into its data model. Run it in a fresh
// process (--benchmark_filter) for a clean baseline: freed memory of earlier
// benchmarks would be reused and hide part of the growth.
void BM_IdleSessionMemory(benchmark::State& state) {
  Bench& b = B();
  const size_t n = SessionCount();
  const bool after_call = state.range(0) == 1;
  for (auto _ : state) {
    state.PauseTiming();
    malloc_trim(0);
    const Memory before = MeasureMemory();
    std::vector<std::unique_ptr<Interpreter>> sessions;
    sessions.reserve(n);
    state.ResumeTiming();
    for (size_t i = 0; i < n; ++i) {
      sessions.push_back(b.Start(b.routing, b.Options(absl::StrCat("idle-", i))));
      if (after_call) {
        for (size_t k = 0; k < 3; ++k) Send(*sessions.back(), b.events[k]);
      }
    }
    state.PauseTiming();
    const Memory after = MeasureMemory();
    for (const auto& s : sessions) CheckRouting(state, *s, true);
    state.counters["rss_bytes_per_session"] = static_cast<double>(after.rss - before.rss) / n;
    state.counters["heap_bytes_per_session"] = static_cast<double>(after.heap - before.heap) / n;
    state.counters["sessions"] = static_cast<double>(n);
    sessions.clear();
    state.ResumeTiming();
  }
}
BENCHMARK(BM_IdleSessionMemory)->ArgName("after_call")->Arg(0)->Arg(1)->Iterations(1)->Unit(benchmark::kMillisecond);

// A routing session whose data model holds ~10 KB (68 agents as start data),
// in the middle of a call ("connected").
std::unique_ptr<Interpreter> BigSession() {
  Bench& b = B();
  InterpreterOptions o = b.Options("big-1");
  o.initial_data["agents"] = BigAgents();
  auto s = b.Start(b.routing, o);
  Send(*s, b.events[0]);
  Send(*s, b.events[1]);
  if (s->ActiveStates(true) != std::vector<std::string>{"connected"}) Die("big session not connected");
  return s;
}

// Snapshot(): the protobuf message, serialized to bytes (what is stored).
void BM_Snapshot(benchmark::State& state) {
  auto s = BigSession();
  std::string bytes;
  size_t dm_bytes = 0;
  for (auto _ : state) {
    orch::scxml::v1::SessionSnapshot snap;
    if (absl::Status st = s->Snapshot(&snap); !st.ok()) Die(std::string(st.message()));
    bytes = snap.SerializeAsString();
    dm_bytes = snap.data_model().size();
    benchmark::DoNotOptimize(bytes);
  }
  state.counters["snapshot_bytes"] = static_cast<double>(bytes.size());
  state.counters["data_model_bytes"] = static_cast<double>(dm_bytes);
  state.counters["agents_json_bytes"] = static_cast<double>(BigAgents().size());
}
BENCHMARK(BM_Snapshot)->Unit(benchmark::kMicrosecond)->MinTime(1.0);

// Restore(): bytes -> message -> a fresh interpreter continuing the session.
void BM_Restore(benchmark::State& state) {
  Bench& b = B();
  std::string bytes;
  {
    auto s = BigSession();
    orch::scxml::v1::SessionSnapshot snap;
    if (absl::Status st = s->Snapshot(&snap); !st.ok()) Die(std::string(st.message()));
    bytes = snap.SerializeAsString();
  }
  std::unique_ptr<Interpreter> restored;
  for (auto _ : state) {
    orch::scxml::v1::SessionSnapshot snap;
    if (!snap.ParseFromString(bytes)) Die("snapshot does not parse");
    auto r = Interpreter::Restore(b.routing, &b.env, b.Options("ignored"), snap);
    if (!r.ok()) Die(std::string(r.status().message()));
    restored = *std::move(r);
  }
  // The restored session continues: call.end takes it back to idle.
  Send(*restored, b.events[2]);
  CheckRouting(state, *restored, true);
  state.counters["snapshot_bytes"] = static_cast<double>(bytes.size());
}
BENCHMARK(BM_Restore)->Unit(benchmark::kMicrosecond)->MinTime(1.0);

// --trace N: the atomic configuration and <log> values after start and
// after each of the first N events (cycling), one JSON line each, formatted
// as bench/scion/run.js formats them.
int Trace(size_t n) {
  Bench& b = B();
  std::vector<std::string> logs;
  b.env.values = &logs;
  auto s = b.Start(b.routing, b.Options("trace-1"));
  auto print = [&](size_t step, const std::string& event) {
    auto atomic = s->ActiveStates(true);
    std::sort(atomic.begin(), atomic.end());
    std::string line = absl::StrCat("{\"step\":", step, ",\"event\":\"", event, "\",\"atomic\":[");
    for (size_t i = 0; i < atomic.size(); ++i) absl::StrAppend(&line, i ? "," : "", "\"", atomic[i], "\"");
    absl::StrAppend(&line, "],\"done\":", s->finished() ? "true" : "false", ",\"log\":[");
    for (size_t i = 0; i < logs.size(); ++i) absl::StrAppend(&line, i ? "," : "", logs[i]);
    absl::StrAppend(&line, "]}\n");
    logs.clear();
    std::fputs(line.c_str(), stdout);
  };
  print(0, "");
  for (size_t i = 0; i < n; ++i) {
    const Event& e = b.events[i % b.events.size()];
    Send(*s, e);
    print(i + 1, e.name);
  }
  return 0;
}


// --profile N: where the time of a routing event goes. The ECMAScript
// factory is wrapped (public DataModel API only) to count each data-model
// call and the time spent in it; the rest is the interpreter's own.
enum Op { kInit, kDeclareData, kDeclareDataExpr, kEvalCondition, kEvalValue, kEvalString, kAssign,
          kAssignValue, kExecute, kSetEvent, kForeachBegin, kForeachStep, kForeachEnd, kSerialize,
          kRestore, kRunContent, kOpCount };
constexpr const char* kOpNames[kOpCount] = {
    "Init", "DeclareData", "DeclareDataExpr", "EvalCondition", "EvalValue", "EvalString", "Assign",
    "AssignValue", "Execute", "SetEvent", "ForeachBegin", "ForeachStep", "ForeachEnd", "Serialize",
    "Restore", "RunContent"};

struct OpStats {
  uint64_t calls[kOpCount] = {};
  int64_t ns[kOpCount] = {};
};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class Timed {
 public:
  Timed(OpStats* s, Op op) : s_(s), op_(op), start_(NowNs()) {}
  ~Timed() {
    s_->calls[op_]++;
    s_->ns[op_] += NowNs() - start_;
  }

 private:
  OpStats* s_;
  Op op_;
  int64_t start_;
};

class CountingDataModel final : public orch::scxml::DataModel {
 public:
  CountingDataModel(std::unique_ptr<orch::scxml::DataModel> inner, OpStats* stats)
      : inner_(std::move(inner)), stats_(stats) {}
  absl::Status Init(std::string_view a, std::string_view b, std::string_view c, uint64_t d) override {
    Timed t(stats_, kInit);
    return inner_->Init(a, b, c, d);
  }
  absl::Status DeclareData(std::string_view id, std::string_view v) override {
    Timed t(stats_, kDeclareData);
    return inner_->DeclareData(id, v);
  }
  absl::Status DeclareDataExpr(std::string_view id, uint32_t e) override {
    Timed t(stats_, kDeclareDataExpr);
    return inner_->DeclareDataExpr(id, e);
  }
  absl::StatusOr<bool> EvalCondition(uint32_t c) override {
    Timed t(stats_, kEvalCondition);
    return inner_->EvalCondition(c);
  }
  absl::StatusOr<std::string> EvalValue(uint32_t e) override {
    Timed t(stats_, kEvalValue);
    return inner_->EvalValue(e);
  }
  absl::StatusOr<std::string> EvalString(uint32_t e) override {
    Timed t(stats_, kEvalString);
    return inner_->EvalString(e);
  }
  absl::Status Assign(uint32_t l, uint32_t e) override {
    Timed t(stats_, kAssign);
    return inner_->Assign(l, e);
  }
  absl::Status AssignValue(uint32_t l, std::string_view v) override {
    Timed t(stats_, kAssignValue);
    return inner_->AssignValue(l, v);
  }
  absl::Status Execute(uint32_t s) override {
    Timed t(stats_, kExecute);
    return inner_->Execute(s);
  }
  absl::Status SetEvent(const orch::scxml::EventFields& e) override {
    Timed t(stats_, kSetEvent);
    return inner_->SetEvent(e);
  }
  absl::StatusOr<size_t> ForeachBegin(uint32_t a) override {
    Timed t(stats_, kForeachBegin);
    return inner_->ForeachBegin(a);
  }
  absl::Status ForeachStep(size_t i, uint32_t item, uint32_t index) override {
    Timed t(stats_, kForeachStep);
    return inner_->ForeachStep(i, item, index);
  }
  void ForeachEnd() override {
    Timed t(stats_, kForeachEnd);
    inner_->ForeachEnd();
  }
  absl::StatusOr<std::string> Serialize() override {
    Timed t(stats_, kSerialize);
    return inner_->Serialize();
  }
  absl::Status Restore(std::string_view bytes) override {
    Timed t(stats_, kRestore);
    return inner_->Restore(bytes);
  }
  orch::scxml::ContentResult RunContent(uint32_t run,
                                        const std::vector<orch::scxml::ContentNode>& nodes) override {
    Timed t(stats_, kRunContent);
    return inner_->RunContent(run, nodes);
  }
  size_t MemoryBytes() const override { return inner_->MemoryBytes(); }

 private:
  std::unique_ptr<orch::scxml::DataModel> inner_;
  OpStats* stats_;
};

class CountingFactory final : public orch::scxml::DataModelFactory {
 public:
  CountingFactory(orch::scxml::DataModelFactory* inner, OpStats* stats) : inner_(inner), stats_(stats) {}
  absl::StatusOr<std::shared_ptr<const orch::scxml::CompiledCode>> Compile(
      const std::vector<orch::scxml::CodeSpec>& specs) override {
    return inner_->Compile(specs);
  }
  absl::StatusOr<std::unique_ptr<orch::scxml::DataModel>> Create(
      std::shared_ptr<const orch::scxml::CompiledCode> code, orch::scxml::DataModelHost* host,
      const orch::scxml::DataModelLimits& limits) override {
    auto dm = inner_->Create(std::move(code), host, limits);
    if (!dm.ok()) return dm.status();
    return std::unique_ptr<orch::scxml::DataModel>(new CountingDataModel(*std::move(dm), stats_));
  }

 private:
  orch::scxml::DataModelFactory* inner_;
  OpStats* stats_;
};

int Profile(size_t n) {
  Bench& b = B();
  OpStats stats;
  CountingFactory counting(&b.factory, &stats);
  InterpreterOptions o = b.Options("profile-1");
  o.ecmascript = &counting;  // the document was compiled by b.factory, which this wraps
  auto s = b.Start(b.routing, o);
  for (size_t i = 0; i < b.events.size(); ++i) Send(*s, b.events[i]);  // warm-up: one cycle
  stats = OpStats();
  n = (n + b.events.size() - 1) / b.events.size() * b.events.size();  // whole cycles
  const int64_t start = NowNs();
  for (size_t i = 0; i < n; ++i) Send(*s, b.events[i % b.events.size()]);
  const double total_ns = static_cast<double>(NowNs() - start);
  if (s->finished() || s->ActiveStates(true) != std::vector<std::string>{"idle"}) Die("profile: session not idle");
  std::printf("%zu events, %.0f ns/event (%.0f events/s, with timing overhead)\n", n, total_ns / n,
              n / total_ns * 1e9);
  std::printf("%-16s %12s %12s %12s %8s\n", "data model call", "calls/event", "ns/call", "ns/event", "share");
  int64_t dm_ns = 0;
  for (int op = 0; op < kOpCount; ++op) {
    if (stats.calls[op] == 0) continue;
    dm_ns += stats.ns[op];
    std::printf("%-16s %12.2f %12.0f %12.0f %7.1f%%\n", kOpNames[op], double(stats.calls[op]) / n,
                double(stats.ns[op]) / stats.calls[op], double(stats.ns[op]) / n, 100.0 * stats.ns[op] / total_ns);
  }
  std::printf("%-16s %12s %12s %12.0f %7.1f%%\n", "(data model)", "", "", dm_ns / double(n), 100.0 * dm_ns / total_ns);
  std::printf("%-16s %12s %12s %12.0f %7.1f%%\n", "(interpreter)", "", "", (total_ns - dm_ns) / n,
              100.0 * (total_ns - dm_ns) / total_ns);
  return 0;
}

// --run W N: see the file header.
int Run(const std::string& workload, size_t n) {
  Bench& b = B();
  if (workload == "toggle" || workload == "toggle_step") {
    auto s = b.Start(b.toggle, b.Options("toggle-1"));
    Event e;
    e.name = "toggle";
    const bool step_only = workload == "toggle_step";
    for (size_t i = 0; i < n; ++i) {
      if (!s->Enqueue(e).ok()) Die("Enqueue refused");
      if (step_only) {
        s->Step();
      } else {
        s->RunUntilIdle();
      }
    }
    const auto atomic = s->ActiveStates(true);
    if (atomic.size() != 1 || atomic[0] != (n % 2 == 0 ? "off" : "on")) Die("toggle chart in the wrong state");
  } else if (workload == "routing") {
    auto s = b.Start(b.routing, b.Options("routing-1"));
    for (size_t i = 0; i < n; ++i) Send(*s, b.events[i % b.events.size()]);
    if (s->finished()) Die("routing session finished in '" + s->final_state() + "'");
  } else {
    Die("--run toggle|toggle_step|routing N");
  }
  std::printf("%s: %zu iterations\n", workload.c_str(), n);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "--run") == 0) {
    size_t n = 0;
    if (!absl::SimpleAtoi(argv[3], &n)) Die("--run W N");
    return Run(argv[2], n);
  }
  if (argc == 3 && std::strcmp(argv[1], "--trace") == 0) {
    size_t n = 0;
    if (!absl::SimpleAtoi(argv[2], &n)) Die("--trace N");
    return Trace(n);
  }
  if (argc == 3 && std::strcmp(argv[1], "--profile") == 0) {
    size_t n = 0;
    if (!absl::SimpleAtoi(argv[2], &n) || n == 0) Die("--profile N");
    return Profile(n);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
