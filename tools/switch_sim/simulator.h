#pragma once

// The switch simulator: a SwitchModel behind one AdapterLink per watcher
// address, run in real time until the calls are over.
//
//   Simulator sim(options, time::RealClock::Get());
//   RunResult r = sim.Run();            // blocks; bounded by the options
//   std::cout << FormatSummary(r, /*json=*/false) << "\n";
//
// Calls are spread round-robin over the links (the model's `links`); target
// events go on every link, since every replica must know every agent.
//
// Run ends when arrivals are over, every call has ended and every link's
// events are acknowledged, or `drain_ms` after the arrivals ended, whichever
// comes first. Thread-safe; Run is called once.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc/channel.h"
#include "common/time/clock.h"
#include "tools/switch_sim/adapter_link.h"
#include "tools/switch_sim/switch_model.h"

namespace orch::switch_sim {

struct SimOptions {
  SwitchConfig model;                  // model.links is set from `watchers`
  std::vector<std::string> watchers;   // one link per address
  grpc_util::ChannelOptions channel;
  std::string adapter_id = "switch-sim";   // link i (from 1) is "<adapter_id>-<i>"
  std::string switch_name = "sim";
  std::string tenant;
  int64_t drop_link_every_events = 0;
  int64_t drain_ms = 30000;
  int64_t welcome_timeout_ms = 5000;
};

struct RunResult {
  ModelCounts counts;
  std::vector<CallRecord> records;
  int64_t route_p50_ms = -1;   // over calls that were routed; -1 when none were
  int64_t route_p99_ms = -1;
  int64_t events_sent = 0;
  int64_t resent = 0;
  int64_t reconnects = 0;
  int64_t rejected = 0;
  int64_t unacked = 0;         // events no watcher acknowledged by the end
  bool finished = false;       // every call ended and every event was acknowledged
};

class Simulator {
 public:
  // `clock` is not owned and must outlive the simulator.
  Simulator(SimOptions options, time::Clock* clock);
  ~Simulator();

  RunResult Run();

 private:
  void Distribute() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Tells the model which events the watchers acknowledged.
  void CollectAcks() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnRequest(size_t link, const calls::v1::SwitchRequest& request);
  void OnWelcome(size_t link);
  bool LinksDrained() const;

  SimOptions options_;
  time::Clock* const clock_;
  absl::Mutex mu_;
  absl::CondVar cv_;
  std::unique_ptr<SwitchModel> model_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<AdapterLink>> links_;   // fixed after construction
};

// "calls=200 routed=190 ..." (stable keys, one line), or the same as a JSON object.
std::string FormatSummary(const RunResult& r, bool json);

// One JSON object per call and line.
std::string OutcomeLine(const CallRecord& record);
absl::Status WriteOutcomes(const std::string& path, const std::vector<CallRecord>& records);

}  // namespace orch::switch_sim
