#pragma once

// The conformance suite of the engine's persistence interfaces (SessionLog,
// DocumentStore, LeaseStore; together SessionStore): one set of tests of the
// rules their headers state, run against every implementation, so that the
// fake the engine's unit tests use cannot drift from the real store.
//   - session_store_conformance_fake_test.cc (beside this file):
//     FakeSessionStore on a SimulatedClock;
//   - tests/persistence/session_store_conformance_test.cc:
//     RemoteSessionStore -> a persistence-proxy process -> redis-server,
//     standalone and a six-process cluster.
//
// To run it on an implementation, instantiate it with a harness factory:
//
//   INSTANTIATE_TEST_SUITE_P(Fake, SessionStoreConformanceTest,
//                            ::testing::Values(SessionStoreConformanceParam{"Fake", &MakeFakeHarness}),
//                            SessionStoreConformanceTest::ParamName);
//
// The tests (session_store_conformance.cc, an object library so that its
// tests are linked) create a harness each and use names (sessions, nodes,
// leases) unique within the process, so harnesses may share one store.
// Test-only.

#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "services/session_engine/session_store.h"

namespace orch::session_engine {

// One implementation under test.
class SessionStoreHarness {
 public:
  virtual ~SessionStoreHarness() = default;

  // The store under test, owned by the harness.
  virtual SessionStore& store() = 0;

  // Lets `d` pass on the store's clock (lease TTLs): a simulated clock is
  // advanced; for a real store the test sleeps, the one real wait the suite
  // has (Redis expires keys on its own clock). The suite then polls, a
  // bounded number of times, for what the time should have changed.
  virtual void Elapse(absl::Duration d) = 0;
};

struct SessionStoreConformanceParam {
  std::string name;  // the instantiation in test names, e.g. "Fake"
  // Called in each test's SetUp; an error fails the test.
  std::function<absl::StatusOr<std::unique_ptr<SessionStoreHarness>>()> make;
};

// How GoogleTest prints a parameter (its name, not its bytes).
inline void PrintTo(const SessionStoreConformanceParam& param, std::ostream* os) { *os << param.name; }

class SessionStoreConformanceTest : public ::testing::TestWithParam<SessionStoreConformanceParam> {
 public:
  static std::string ParamName(const ::testing::TestParamInfo<SessionStoreConformanceParam>& info) {
    return info.param.name;
  }

 protected:
  // The document of the sessions the tests create.
  static constexpr char kDocument[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

  void SetUp() override;

  SessionStore& store() { return harness_->store(); }
  void Elapse(absl::Duration d) { harness_->Elapse(d); }

  // A session id, lease name or node number no other test of the process uses.
  static std::string UniqueName(const std::string& what);
  static int UniqueNode();

  // Entry `seq`: `started` (of kDocument) for seq 1, else an event `name`.
  static orch::event::v1::LogEntry Entry(uint64_t seq, const std::string& name = "ev");
  static std::vector<orch::event::v1::LogEntry> Entries(uint64_t first, uint64_t last,
                                                        const std::string& name = "ev");
  // Appends entries first..last of `sid` with `epoch` on node_.
  absl::StatusOr<uint64_t> Append(const std::string& sid, uint64_t epoch, uint64_t first, uint64_t last,
                                  const std::string& name = "ev");
  // The seqs of a loaded session's entries.
  static std::vector<uint64_t> Seqs(const LoadedSession& s);
  // Every page of ListNodeSessions(node) (at most 1000 pages): id -> state
  // ("" without `with_states`). A failed page or a page whose states do not
  // match its ids fails the test and ends the listing.
  std::map<std::string, std::string> ListAll(int node, uint32_t page_size, bool with_states);
  // Lets `first` pass, then polls `done`, letting 20 ms pass between tries
  // (at most 100 tries). Returns whether `done` came to hold.
  bool AfterElapsing(absl::Duration first, const std::function<bool()>& done);

  std::unique_ptr<SessionStoreHarness> harness_;
  int node_ = 0;  // the node of the test's sessions (UniqueNode())
};

}  // namespace orch::session_engine
