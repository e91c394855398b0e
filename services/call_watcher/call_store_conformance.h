#pragma once

// The conformance suite of CallStore (call_store.h): one set of tests of the
// rules that header states, run against every implementation, so that the
// fake call-watcher's unit tests use cannot drift from the real store.
//   - fake_call_store_test.cc (beside this file): FakeCallStore on a
//     SimulatedClock;
//   - tests/persistence/call_store_conformance_test.cc: GrpcCallStore -> a
//     persistence-proxy process -> redis-server, standalone and a
//     six-process cluster.
//
// To run it on an implementation, instantiate it with a harness factory:
//
//   INSTANTIATE_TEST_SUITE_P(Fake, CallStoreConformanceTest,
//                            ::testing::Values(CallStoreConformanceParam{"Fake", &MakeFakeHarness}),
//                            CallStoreConformanceTest::ParamName);
//
// The tests (call_store_conformance.cc, an object library so that its tests
// are linked) create a harness each and use call uuids and targets unique
// within the process, so harnesses may share one store. Test-only.

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "services/call_watcher/call_store.h"

namespace orch::call_watcher {

// One implementation under test.
class CallStoreHarness {
 public:
  virtual ~CallStoreHarness() = default;

  // The store under test, owned by the harness.
  virtual CallStore& store() = 0;

  // Lets `d` pass on the store's clock (the TTLs): a simulated clock is
  // advanced; for a real store the test sleeps (Redis expires keys on its
  // own clock). The suite then polls, a bounded number of times, for what
  // the time should have changed.
  virtual void Elapse(absl::Duration d) = 0;
};

struct CallStoreConformanceParam {
  std::string name;  // the instantiation in test names, e.g. "Fake"
  // Called in each test's SetUp; an error fails the test.
  std::function<absl::StatusOr<std::unique_ptr<CallStoreHarness>>()> make;
};

// How GoogleTest prints a parameter (its name, not its bytes).
inline void PrintTo(const CallStoreConformanceParam& param, std::ostream* os) { *os << param.name; }

class CallStoreConformanceTest : public ::testing::TestWithParam<CallStoreConformanceParam> {
 public:
  static std::string ParamName(const ::testing::TestParamInfo<CallStoreConformanceParam>& info) {
    return info.param.name;
  }

 protected:
  void SetUp() override;

  CallStore& store() { return harness_->store(); }
  void Elapse(absl::Duration d) { harness_->Elapse(d); }

  // A call uuid or target no other test of the process uses.
  static std::string UniqueName(const std::string& what);
  // A record of call `uuid` handled by `session_id`.
  static CallRecord Record(const std::string& uuid, const std::string& session_id);
  // Lets `first` pass, then polls `done`, letting 20 ms pass between tries
  // (at most 100 tries). Returns whether `done` came to hold.
  bool AfterElapsing(absl::Duration first, const std::function<bool()>& done);

  std::unique_ptr<CallStoreHarness> harness_;
};

}  // namespace orch::call_watcher
