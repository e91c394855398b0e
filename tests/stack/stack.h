#pragma once

// Helpers for tests that run Orchestrion's processes for real (tests/session,
// tests/rest): start a process and wait for its "serving" log line, ask its
// gRPC health, read its metrics, wait for a condition with a bound.

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/testing/subprocess.h"

namespace orch::testing {

// Polls `pred` every 50 ms until it holds or `limit` passes.
bool Eventually(const std::function<bool()>& pred, absl::Duration limit = absl::Seconds(15));

// A process that logged a "serving" line with its addresses.
struct Served {
  std::unique_ptr<Subprocess> process;
  std::string grpc;
  std::string metrics;
  std::string http;     // from an "http serving" line before it (rest-gateway)
  std::string config;

  // grpc.health.v1 says SERVING for `service`.
  bool Healthy(const std::string& service) const;
  std::string Metrics() const;
  // The value of an unlabelled metric, or -1.
  double Metric(const std::string& name) const;
};

// Starts `bin --config config` without ORCH_* variables and waits (20 s at
// most) for its "serving" line.
absl::StatusOr<Served> Launch(const std::string& bin, const std::string& config);

// The lines of `extra` ("section.option = value" per line) that belong to
// `section`, without the prefix: a test's extra options spliced into TOML.
std::string TomlSection(const std::string& extra, const std::string& section);

}  // namespace orch::testing
