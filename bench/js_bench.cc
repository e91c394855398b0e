// Costs of the ECMAScript data model (common/js): session creation, memory
// per idle session, event routing conditions, assignments, Serialize/Restore.
// Results go to docs/performance.md ("ECMAScript data model").

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "common/js/ecmascript_data_model.h"

namespace {

using orch::scxml::CodeKind;
using orch::scxml::CodeSpec;

class BenchHost : public orch::scxml::DataModelHost {
 public:
  bool In(std::string_view state_id) override { return state_id == "s1"; }
  int64_t NowMs() override { return 1'700'000'000'000; }
};

struct Fixture {
  Fixture() {
    specs = {
        {0, CodeKind::kCondition, "_event.data.amount > 100 && In('s1')", "b:1"},
        {1, CodeKind::kLocation, "count", "b:2"},
        {2, CodeKind::kExpression, "count + 1", "b:3"},
        {3, CodeKind::kScript,
         "var items = []; for (var i = 0; i < 100; i++) items.push({id: i, sku: 'SKU-' + i,"
         " qty: i % 7, price: i * 1.25, tags: ['a', 'b']});",
         "b:4"},
    };
    code = *factory.Compile(specs);
  }
  std::unique_ptr<orch::scxml::DataModel> New() {
    auto dm = std::move(*factory.Create(code, &host, {}));
    (void)dm->Init("session-0001", "bench", R"({"scxml":{"location":"#_scxml_session-0001"}})", 1);
    return dm;
  }
  orch::js::EcmascriptDataModelFactory factory;
  std::vector<CodeSpec> specs;
  std::shared_ptr<const orch::scxml::CompiledCode> code;
  BenchHost host;
};

Fixture& F() {
  static Fixture* f = new Fixture();
  return *f;
}

void BM_CreateSession(benchmark::State& state) {
  size_t bytes = 0;
  for (auto _ : state) {
    auto dm = F().New();
    bytes = dm->MemoryBytes();
    benchmark::DoNotOptimize(dm);
  }
  state.counters["bytes_per_session"] = static_cast<double>(bytes);
  state.counters["sessions_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CreateSession);

// Resident set size of the process, from /proc/self/statm.
size_t RssBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  if (std::fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
  std::fclose(f);
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// 10,000 idle sessions alive at once (fresh: Create + Init): process RSS and
// worker-heap bytes per session, and the cost of one full mark-and-sweep of
// a worker heap holding them.
void BM_LiveSessions10k(benchmark::State& state) {
  constexpr int kSessions = 10'000;
  for (auto _ : state) {
    F().New().reset();  // the worker heap exists before we measure
    orch::js::CollectCurrentThreadGarbage();
    size_t rss_before = RssBytes();
    size_t heap_before = orch::js::CurrentThreadHeapStats().total_bytes;
    std::vector<std::unique_ptr<orch::scxml::DataModel>> sessions;
    sessions.reserve(kSessions);
    size_t memory_bytes = 0;
    for (int i = 0; i < kSessions; ++i) {
      sessions.push_back(F().New());
      memory_bytes += sessions.back()->MemoryBytes();
    }
    size_t rss_after = RssBytes();
    size_t heap_after = orch::js::CurrentThreadHeapStats().total_bytes;
    auto t0 = std::chrono::steady_clock::now();
    orch::js::CollectCurrentThreadGarbage();
    auto t1 = std::chrono::steady_clock::now();
    sessions.clear();
    auto t2 = std::chrono::steady_clock::now();
    state.counters["rss_bytes_per_session"] =
        static_cast<double>(rss_after - rss_before) / kSessions;
    state.counters["heap_bytes_per_session"] =
        static_cast<double>(heap_after - heap_before) / kSessions;
    state.counters["memory_bytes_per_session"] = static_cast<double>(memory_bytes) / kSessions;
    state.counters["full_gc_ms"] = std::chrono::duration<double, std::milli>(t1 - t0).count();
    state.counters["destroy_us_per_session"] =
        std::chrono::duration<double, std::micro>(t2 - t1).count() / kSessions;
  }
}
BENCHMARK(BM_LiveSessions10k)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_SetEventAndCondition(benchmark::State& state) {
  auto dm = F().New();
  orch::scxml::EventFields ev{.name = "order", .type = "external",
                              .data = R"({"amount": 150, "currency": "EUR"})"};
  for (auto _ : state) {
    (void)dm->SetEvent(ev);
    auto r = dm->EvalCondition(0);
    benchmark::DoNotOptimize(r);
  }
  state.counters["events_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SetEventAndCondition);

void BM_EvalConditionOnly(benchmark::State& state) {
  auto dm = F().New();
  (void)dm->SetEvent({.name = "order", .type = "external", .data = R"({"amount": 150})"});
  for (auto _ : state) {
    auto r = dm->EvalCondition(0);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_EvalConditionOnly);

void BM_AssignSmall(benchmark::State& state) {
  auto dm = F().New();
  (void)dm->DeclareData("count", "0");
  for (auto _ : state) {
    auto s = dm->Assign(1, 2);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_AssignSmall);

void BM_Serialize10KB(benchmark::State& state) {
  auto dm = F().New();
  (void)dm->Execute(3);
  size_t size = 0;
  for (auto _ : state) {
    auto bytes = dm->Serialize();
    size = bytes->size();
    benchmark::DoNotOptimize(bytes);
  }
  state.counters["snapshot_bytes"] = static_cast<double>(size);
  state.counters["heap_bytes"] = static_cast<double>(dm->MemoryBytes());
}
BENCHMARK(BM_Serialize10KB);

void BM_Restore10KB(benchmark::State& state) {
  auto source = F().New();
  (void)source->Execute(3);
  std::string bytes = *source->Serialize();
  for (auto _ : state) {
    state.PauseTiming();
    auto dm = F().New();
    state.ResumeTiming();
    auto s = dm->Restore(bytes);
    benchmark::DoNotOptimize(s);
    state.PauseTiming();
    dm.reset();
    state.ResumeTiming();
  }
  state.counters["snapshot_bytes"] = static_cast<double>(bytes.size());
}
BENCHMARK(BM_Restore10KB);

}  // namespace
