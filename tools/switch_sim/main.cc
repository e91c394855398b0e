// switch-sim: a simulated switch behind a switch adapter (CallWatcher.Connect
// client), for process tests, the demo and benchmarks. README.md has the
// options, the output and the exit codes.

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/grpc/channel.h"
#include "common/log/log.h"
#include "common/time/clock.h"
#include "tools/switch_sim/options.h"
#include "tools/switch_sim/simulator.h"

int main(int argc, char** argv) {
  using namespace orch::switch_sim;
  orch::log::Configure("switch-sim", "", orch::log::Level::kInfo);
  orch::time::Clock* clock = orch::time::RealClock::Get();
  auto options = ParseOptions(std::vector<std::string>(argv + 1, argv + argc), clock->NowMs());
  if (!options.ok()) {
    std::fprintf(stderr, "switch-sim: %s\n%s", std::string(options.status().message()).c_str(), kUsage);
    return 2;
  }
  auto channel = orch::grpc_util::ClientChannelOptions(options->tls, options->server_name);
  if (!channel.ok()) {
    std::fprintf(stderr, "switch-sim: %s\n%s", std::string(channel.status().message()).c_str(), kUsage);
    return 2;
  }
  options->sim.channel = *channel;
  if (!options->outcomes.empty()) {
    // Refused now rather than after a run of many minutes.
    std::FILE* f = std::fopen(options->outcomes.c_str(), "w");
    if (f == nullptr) {
      std::fprintf(stderr, "switch-sim: --outcomes %s: %s\n", options->outcomes.c_str(), std::strerror(errno));
      return 2;
    }
    std::fclose(f);
  }

  Simulator sim(options->sim, clock);
  RunResult result = sim.Run();
  std::printf("%s\n", FormatSummary(result, options->json).c_str());
  std::fflush(stdout);
  if (!options->outcomes.empty()) {
    if (absl::Status s = WriteOutcomes(options->outcomes, result.records); !s.ok()) {
      std::fprintf(stderr, "switch-sim: %s\n", std::string(s.message()).c_str());
      return 3;
    }
  }
  if (options->expect_no_double_routes && result.counts.double_routes > 0) {
    std::fprintf(stderr, "switch-sim: %lld double routes (two calls given to one agent)\n",
                 static_cast<long long>(result.counts.double_routes));
    return 1;
  }
  if (!result.finished) {
    std::fprintf(stderr, "switch-sim: not finished after the drain: %lld calls open, %lld events unacknowledged\n",
                 static_cast<long long>(result.counts.unfinished), static_cast<long long>(result.unacked));
    return 3;
  }
  return 0;
}
