#pragma once

// The fixture of the persistence store (RedisStore) conformance suite,
// shared by store_conformance_test.cc (sessions, registry, documents,
// leases, schedules, TTLs) and call_conformance_test.cc (call records,
// owners, events, node call lists, target reservations), both linked into
// one binary: StoreConformanceTest is one typed suite over a standalone
// redis-server and a six-process Redis Cluster (3 masters, 3 replicas),
// started once per backend by SetUpTestSuite on loopback and stopped (by
// PID) by TearDownTestSuite. On the cluster every write waits for its
// master's replica (ack_replicas = 1). Each test gets its own RedisStore
// (store_, keys under ORS:conf:) on the backend's shared client.

#include <future>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/redis/testing/redis_server.h"
#include "common/sessionapi/session_id.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/persistence_proxy/redis_store.h"

namespace orch::persistence_proxy::store_conformance {

// For both test files (this namespace is theirs alone).
using ::orch::testing::IsOk;
using ::orch::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Code = absl::StatusCode;

// A running Redis (standalone or cluster) plus a client on it.
struct Backend {
  std::unique_ptr<testing::RedisServer> server;
  std::unique_ptr<testing::RedisCluster> cluster;
  std::shared_ptr<redis::RedisClient> client;

  std::vector<std::string> addresses() const {
    return cluster ? cluster->addresses() : std::vector<std::string>{server->address()};
  }
  // Every key under ORS:* on every node.
  std::set<std::string> AllKeys() const {
    std::set<std::string> keys;
    for (const auto& a : addresses()) {
      testing::RedisServer* n = cluster ? cluster->node(a) : server.get();
      if (n == nullptr || !n->running()) continue;
      auto out = n->Cli({"--scan", "--pattern", "ORS:*"});
      EXPECT_OK(out);
      if (!out.ok()) continue;
      for (auto line : absl::StrSplit(*out, '\n', absl::SkipEmpty())) keys.emplace(line);
    }
    return keys;
  }
};

inline absl::StatusOr<std::shared_ptr<redis::RedisClient>> Connect(std::vector<std::string> nodes) {
  redis::RedisOptions o;
  o.nodes = std::move(nodes);
  o.connect_timeout = absl::Seconds(2);
  auto c = redis::CreateRedisClient(o);
  if (!c.ok()) return c.status();
  return std::shared_ptr<redis::RedisClient>(std::move(*c));
}

struct StandaloneRedis {
  static const char* Name() { return "standalone"; }
  static int AckReplicas() { return 0; }  // no replica
  static absl::StatusOr<std::unique_ptr<Backend>> Start() {
    auto b = std::make_unique<Backend>();
    auto s = testing::RedisServer::Start({});
    if (!s.ok()) return s.status();
    b->server = std::move(*s);
    auto c = Connect({b->server->address()});
    if (!c.ok()) return c.status();
    b->client = *c;
    return b;
  }
};

struct ClusterRedis {
  static const char* Name() { return "cluster"; }
  // Every write waits for its master's replica (persistence.ack-replicas).
  static int AckReplicas() { return 1; }
  static absl::StatusOr<std::unique_ptr<Backend>> Start() {
    auto b = std::make_unique<Backend>();
    auto s = testing::RedisCluster::Start();
    if (!s.ok()) return s.status();
    b->cluster = std::move(*s);
    auto c = Connect({b->cluster->addresses()[0]});
    if (!c.ok()) return c.status();
    if (!(*c)->is_cluster()) return absl::InternalError("client did not detect the cluster");
    b->client = *c;
    return b;
  }
};

template <typename B>
class StoreConformanceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto b = B::Start();
    ASSERT_OK(b) << B::Name();
    backend_ = std::move(*b).release();
  }
  static void TearDownTestSuite() {
    delete backend_;
    backend_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(backend_, nullptr);
    StoreOptions o;
    o.cluster_name = "conf";
    o.request_timeout = absl::Seconds(3);
    o.load_page_entries = 4;  // so LoadSession pages
    o.ack_replicas = B::AckReplicas();
    store_ = std::make_unique<RedisStore>(backend_->client, o);
  }

  // A well-formed session id unique to this test and `name`, on node 1.
  std::string Sid(const std::string& name) {
    return sessionapi::SessionIdForKey(
        1, absl::StrCat(::testing::UnitTest::GetInstance()->current_test_info()->name(), "-", name));
  }

  static event::v1::LogEntry Entry(uint64_t seq, const std::string& name) {
    event::v1::LogEntry e;
    e.set_seq(seq);
    if (seq == 1) {
      e.mutable_started()->set_document_sha256(std::string(64, 'a'));
    } else {
      e.mutable_event()->set_name(name);
    }
    return e;
  }
  static pb::AppendEventsRequest Batch(const std::string& sid, uint64_t epoch, uint64_t first,
                                       uint64_t last, const std::string& name = "ev") {
    pb::AppendEventsRequest r;
    r.set_session_id(sid);
    r.set_epoch(epoch);
    for (uint64_t s = first; s <= last; ++s) *r.add_entries() = Entry(s, name);
    return r;
  }

  absl::StatusOr<uint64_t> Append(const pb::AppendEventsRequest& r) {
    auto resp = CallSync(*store_, &Store::AppendEvents, r);
    if (!resp.ok()) return resp.status();
    return resp->last_seq();
  }
  absl::StatusOr<std::vector<uint64_t>> ReadSeqs(const std::string& sid, uint64_t after) {
    std::vector<uint64_t> seqs;
    for (int page = 0; page < 100; ++page) {
      pb::ReadLogRequest r;
      r.set_session_id(sid);
      r.set_after_seq(after);
      absl::StatusOr<pb::ReadLogResponse> resp = CallSyncPage(r);
      if (!resp.ok()) return resp.status();
      for (const auto& e : resp->entries()) seqs.push_back(e.seq());
      if (resp->entries_size() < 3) return seqs;
      after = resp->entries(resp->entries_size() - 1).seq();
    }
    return seqs;
  }
  absl::StatusOr<pb::ReadLogResponse> CallSyncPage(const pb::ReadLogRequest& r) {
    std::promise<absl::StatusOr<pb::ReadLogResponse>> p;
    auto f = p.get_future();
    store_->ReadLogPage(r, 3, [&p](absl::StatusOr<pb::ReadLogResponse> x) { p.set_value(std::move(x)); });
    return f.get();
  }
  absl::StatusOr<pb::SessionMeta> Meta(const std::string& sid) {
    pb::GetSessionMetaRequest r;
    r.set_session_id(sid);
    auto resp = CallSync(*store_, &Store::GetSessionMeta, r);
    if (!resp.ok()) return resp.status();
    return resp->meta();
  }
  absl::StatusOr<pb::LoadSessionResponse> Load(const std::string& sid) {
    pb::LoadSessionRequest r;
    r.set_session_id(sid);
    return CallSync(*store_, &Store::LoadSession, r);
  }
  absl::Status Snapshot(const std::string& sid, uint64_t epoch, uint64_t covers, std::string bytes) {
    pb::PutSnapshotRequest r;
    r.set_session_id(sid);
    r.set_epoch(epoch);
    r.set_covers_seq(covers);
    r.set_snapshot(std::move(bytes));
    return CallSync(*store_, &Store::PutSnapshot, r).status();
  }

  static Backend* backend_;
  std::unique_ptr<RedisStore> store_;
};

template <typename B>
Backend* StoreConformanceTest<B>::backend_ = nullptr;

using Backends = ::testing::Types<StandaloneRedis, ClusterRedis>;
class BackendNames {
 public:
  template <typename T>
  static std::string GetName(int) { return T::Name(); }
};
TYPED_TEST_SUITE(StoreConformanceTest, Backends, BackendNames);

}  // namespace orch::persistence_proxy::store_conformance
