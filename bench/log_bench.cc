// Cost of one structured log line (formatting only; the sink discards it),
// since every process logs on its request paths.

#include "benchmark/benchmark.h"
#include "common/log/log.h"

namespace {

void BM_FormatLine(benchmark::State& state) {
  orch::log::Configure("session-engine", "1", orch::log::Level::kInfo);
  for (auto _ : state) {
    std::string line = orch::log::Format(orch::log::Level::kInfo, "event queued",
                                         {{"session", "~1~0123456789ABCDEFGHIJKLMNOPQRSTUV"},
                                          {"event", "agent.ready"},
                                          {"seq", 42},
                                          {"durable", true}});
    benchmark::DoNotOptimize(line);
  }
}
BENCHMARK(BM_FormatLine);

void BM_FilteredDebugLine(benchmark::State& state) {
  orch::log::Configure("session-engine", "1", orch::log::Level::kInfo);
  for (auto _ : state) {
    orch::log::Debug("not logged", {{"seq", 42}});
  }
}
BENCHMARK(BM_FilteredDebugLine);

}  // namespace
