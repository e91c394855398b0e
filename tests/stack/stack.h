#pragma once

// Helpers for tests that run Orchestrion's processes for real (tests/session,
// tests/rest, tests/persistence): start a process and wait for its "serving"
// log line, ask its gRPC health, read its metrics. Waiting for a condition:
// common/testing/eventually.h.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/testing/subprocess.h"
#include "grpc/health/v1/health.pb.h"

namespace orch::testing {

// A process that logged a "serving" line with its addresses.
struct Served {
  std::unique_ptr<Subprocess> process;
  std::string grpc;
  std::string metrics;
  std::string http;     // from an "http serving" line before it (rest-gateway)
  std::string config;

  // What grpc.health.v1 says for `service`; UNKNOWN when the call fails.
  ::grpc::health::v1::HealthCheckResponse::ServingStatus Health(const std::string& service) const;
  // Health(service) is SERVING.
  bool Healthy(const std::string& service) const;
  std::string Metrics() const;
  // The value of an unlabelled metric, or -1.
  double Metric(const std::string& name) const;
};

// Starts `bin --config config` without ORCH_* variables and waits (20 s at
// most) for its "serving" line. Every process needs a cluster file: a config
// without a [cluster] section gets TestClusterToml(its folder)'s through
// ORCH_CLUSTER_FILE.
absl::StatusOr<Served> Launch(const std::string& bin, const std::string& config);

// Writes `<dir>/cluster-<name>.toml`, a cluster file for tests: cluster
// `name` ("orch" is persistence-proxy's default cluster-name), nodes 1 to 4
// in the nameless data center, no options. Returns its path.
std::string TestClusterFile(const std::string& dir, const std::string& name = "orch");
// The TOML section that names it: "\n[cluster]\nfile = \"<path>\"\n".
std::string TestClusterToml(const std::string& dir, const std::string& name = "orch");

// The lines of `extra` ("section.option = value" per line) that belong to
// `section`, without the prefix: a test's extra options spliced into TOML.
std::string TomlSection(const std::string& extra, const std::string& section);

}  // namespace orch::testing
