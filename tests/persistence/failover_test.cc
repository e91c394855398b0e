// Acknowledged means replicated. persistence-proxy processes (real gRPC on
// loopback) in front of a six-process Redis Cluster (3 masters, 1 replica
// each) whose nodes are SIGKILLed and SIGSTOPped while writers append
// continuously to sessions on every master. A checker then reads every
// session's log: every acknowledged append must be there, once, in order.
//
//  - Repeated master kills (ORCH_FAILOVER_ROUNDS, default 3; each round the
//    next slot range's master, then the killed node restarted and resynced
//    as a replica): 0 acknowledged appends lost.
//  - A replica paused (SIGSTOP) while appends go on, its master SIGKILLed,
//    the replica resumed and promoted: with the default ack-replicas (auto:
//    1 on a cluster) appends to that master are not acknowledged while its
//    replica is paused, and nothing acknowledged is lost; with
//    ack-replicas = 0 the appends acknowledged after the master dropped
//    its silent replica are lost (deterministically: the replica never had
//    them).
//  - A retry from another connection that finds an unreplicated append
//    stored is not acknowledged until the replica has it.
//
// The whole binary is one ctest entry sharing one cluster.

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <future>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/grpc/channel.h"
#include "common/redis/cluster_slots.h"
#include "common/redis/testing/redis_server.h"
#include "common/sessionapi/session_id.h"
#include "common/testing/eventually.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "orch/persistence/v1/persistence.grpc.pb.h"
#include "services/persistence_proxy/redis_store.h"
#include "tests/stack/stack.h"

namespace orch::persistence_proxy {
namespace {

using ::orch::testing::IsOk;
using ::orch::testing::StatusIs;
using ::testing::HasSubstr;

// One slot in each of the three ranges redis-cli assigns to the masters.
constexpr int kRangeSlot[3] = {0, 5461, 10923};
constexpr int kSessionsPerRange = 4;

int RangeOf(int slot) { return slot < 5461 ? 0 : slot < 10923 ? 1 : 2; }

pb::AppendEventsRequest One(const std::string& sid, uint64_t seq) {
  pb::AppendEventsRequest r;
  r.set_session_id(sid);
  r.set_epoch(1);
  auto* e = r.add_entries();
  e->set_seq(seq);
  e->mutable_event()->set_name(absl::StrCat("e", seq));
  return r;
}

// A session and what its writer was told.
struct Session {
  std::string id;
  int range = 0;
  std::atomic<uint64_t> acked{0};       // last acknowledged seq
  std::atomic<uint64_t> lost{0};        // acknowledged, then found missing
  std::atomic<uint64_t> unexpected{0};  // answers other than OK / UNAVAILABLE / DEADLINE
  std::atomic<uint64_t> failed{0};      // UNAVAILABLE / DEADLINE_EXCEEDED (outcome unknown)
  // Appends sent and acknowledged while its master's replica was paused,
  // and of those, the ones sent after the master had dropped the replica.
  std::atomic<uint64_t> acked_in_pause{0};
  std::atomic<uint64_t> failed_in_pause{0};
  std::atomic<uint64_t> acked_after_drop{0};
};

// Writers appending continuously through one proxy, one thread per session:
// the next seq after the last acknowledged one, the same content on every
// retry (so a retry of an append that landed is idempotent).
class Load {
 public:
  Load(const std::string& proxy, std::vector<std::unique_ptr<Session>>* sessions)
      : stub_(pb::Persistence::NewStub(grpc_util::MakeChannel(proxy))), sessions_(sessions) {
    for (auto& s : *sessions_) threads_.emplace_back([this, s = s.get()] { Write(*s); });
  }
  ~Load() { Stop(); }

  void Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  // Appends of sessions in `range` count as "in pause" from now (the
  // replica is stopped) until EndPause().
  void BeginPause(int range) { paused_range_ = range; }
  // The master has disconnected the paused replica.
  void MarkDropped() { dropped_ = true; }
  void EndPause() {
    paused_range_ = -1;
    dropped_ = false;
  }

 private:
  void Write(Session& s) {
    for (int n = 0; n < 1000000 && !stop_.load(); ++n) {
      const uint64_t seq = s.acked.load() + 1;
      const bool in_pause = paused_range_.load() == s.range;
      const bool after_drop = in_pause && dropped_.load();
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      pb::AppendEventsResponse resp;
      const grpc::Status st = stub_->AppendEvents(&ctx, One(s.id, seq), &resp);
      const bool still_in_pause = in_pause && paused_range_.load() == s.range;
      if (st.ok()) {
        EXPECT_EQ(resp.last_seq(), seq) << s.id;
        s.acked = seq;
        if (still_in_pause) ++s.acked_in_pause;
        if (still_in_pause && after_drop) ++s.acked_after_drop;
        continue;
      }
      if (st.error_code() == grpc::StatusCode::UNAVAILABLE ||
          st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
        ++s.failed;
        if (still_in_pause) ++s.failed_in_pause;
        absl::SleepFor(absl::Milliseconds(20));
        continue;  // outcome unknown: the same append again
      }
      ++s.unexpected;
      if (st.error_code() == grpc::StatusCode::ABORTED ||
          st.error_code() == grpc::StatusCode::NOT_FOUND) {
        // The store has less than this writer was told (SEQGAP): count the
        // acknowledged appends lost and go on after what is stored.
        grpc::ClientContext mctx;
        mctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        pb::GetSessionMetaRequest m;
        m.set_session_id(s.id);
        pb::GetSessionMetaResponse meta;
        const uint64_t stored =
            stub_->GetSessionMeta(&mctx, m, &meta).ok() ? meta.meta().last_seq() : 0;
        if (stored < s.acked.load()) {
          s.lost += s.acked.load() - stored;
          s.acked = stored;
        }
      } else {
        ADD_FAILURE() << s.id << ": " << st.error_message();
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  }

  std::unique_ptr<pb::Persistence::Stub> stub_;
  std::vector<std::unique_ptr<Session>>* sessions_;
  std::atomic<bool> stop_{false};
  std::atomic<int> paused_range_{-1};
  std::atomic<bool> dropped_{false};
  std::vector<std::thread> threads_;
};

class FailoverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto cluster = testing::RedisCluster::Start();
    ASSERT_OK(cluster);
    cluster_ = std::move(*cluster).release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(cluster_, nullptr); }

  // A persistence-proxy on the cluster with `extra` lines in [persistence].
  absl::StatusOr<testing::Served> StartProxy(const std::string& extra) {
    const std::string config = dir_.WriteFile(
        absl::StrCat("proxy", ++configs_, ".toml"),
        absl::StrCat(testing::TestClusterToml(dir_.path(), "fo"),
                     "[server]\ngrpc-listen = \"127.0.0.1:0\"\nshutdown-grace-ms = 500\n"
                     "[metrics]\nlisten = \"127.0.0.1:0\"\n[persistence]\nredis-nodes = [\"",
                     absl::StrJoin(cluster_->addresses(), "\", \""), "\"]\n",
                     "cluster-name = \"fo\"\nhealth-check-interval-ms = 200\n", extra));
    return testing::Launch(ORCH_PERSISTENCE_PROXY_BIN, config);
  }

  // kSessionsPerRange sessions in each master's slot range.
  static std::vector<std::unique_ptr<Session>> MakeSessions(const std::string& prefix) {
    std::vector<std::unique_ptr<Session>> out;
    int per_range[3] = {0, 0, 0};
    for (int i = 0; out.size() < 3 * kSessionsPerRange && i < 10000; ++i) {
      const std::string id = sessionapi::SessionIdForKey(1, absl::StrCat(prefix, i));
      const int range = RangeOf(redis::KeySlot(absl::StrCat("{", id, "}")));
      if (per_range[range] == kSessionsPerRange) continue;
      ++per_range[range];
      auto s = std::make_unique<Session>();
      s->id = id;
      s->range = range;
      out.push_back(std::move(s));
    }
    return out;
  }

  // A store on the cluster, for the checker and for direct calls.
  static std::unique_ptr<RedisStore> DirectStore(const std::string& cluster_name,
                                                 int ack_replicas) {
    redis::RedisOptions o;
    o.nodes = cluster_->addresses();
    o.connect_timeout = absl::Seconds(1);
    auto client = redis::CreateRedisClient(o);
    EXPECT_OK(client);
    if (!client.ok()) return nullptr;
    StoreOptions so;
    so.cluster_name = cluster_name;
    so.request_timeout = absl::Seconds(1);
    so.ack_replicas = ack_replicas;
    so.ack_timeout = absl::Milliseconds(300);
    return std::make_unique<RedisStore>(std::shared_ptr<redis::RedisClient>(std::move(*client)), so);
  }

  // Waits (bounded) until every session of `range` (-1: all) has had an
  // append acknowledged after this call.
  static bool WaitForProgress(const std::vector<std::unique_ptr<Session>>& sessions, int range,
                              absl::Duration limit) {
    std::vector<uint64_t> start;
    for (const auto& s : sessions) start.push_back(s->acked.load());
    return testing::Eventually(
        [&] {
          for (size_t i = 0; i < sessions.size(); ++i) {
            if ((range < 0 || sessions[i]->range == range) && sessions[i]->acked.load() <= start[i]) {
              return false;
            }
          }
          return true;
        },
        limit);
  }

  // The checker: each log holds exactly the entries 1..n in order, with the
  // content written, and n is the acknowledged seq (or one more: the last
  // append's outcome was unknown and it landed).
  static void CheckLogs(const std::vector<std::unique_ptr<Session>>& sessions) {
    auto store = DirectStore("fo", 0);
    ASSERT_NE(store, nullptr);
    for (const auto& s : sessions) {
      uint64_t next = 1;
      for (int page = 0; page < 10000; ++page) {
        pb::ReadLogRequest req;
        req.set_session_id(s->id);
        req.set_after_seq(next - 1);
        absl::StatusOr<pb::ReadLogResponse> r;
        for (int attempt = 0; attempt < 20; ++attempt) {
          std::promise<absl::StatusOr<pb::ReadLogResponse>> done;
          store->ReadLogPage(req, 1000, [&done](absl::StatusOr<pb::ReadLogResponse> page) {
            done.set_value(std::move(page));
          });
          r = done.get_future().get();
          if (r.ok() || r.status().code() != absl::StatusCode::kUnavailable) break;
          absl::SleepFor(absl::Milliseconds(100));
        }
        ASSERT_OK(r) << s->id;
        for (const auto& e : r->entries()) {
          ASSERT_EQ(e.seq(), next) << s->id << ": missing, duplicated or out of order";
          ASSERT_EQ(e.event().name(), absl::StrCat("e", next)) << s->id;
          ++next;
        }
        if (r->entries_size() < 1000) break;
      }
      const uint64_t stored = next - 1;
      EXPECT_GE(stored, s->acked.load()) << s->id << ": acknowledged appends lost";
      EXPECT_LE(stored, s->acked.load() + 1) << s->id;
    }
  }

  static uint64_t Sum(const std::vector<std::unique_ptr<Session>>& sessions,
                      std::atomic<uint64_t> Session::*field, int range = -1) {
    uint64_t n = 0;
    for (const auto& s : sessions) {
      if (range < 0 || s->range == range) n += (s.get()->*field).load();
    }
    return n;
  }

  // The SIGSTOP case. Pauses the replica of the master of `range` while the
  // load runs, waits until the master drops it, SIGKILLs that master,
  // resumes the replica, gets it promoted and the old master back as its
  // replica.
  void PauseReplicaKillMaster(Load& load, const std::vector<std::unique_ptr<Session>>& sessions,
                              int range) {
    const int slot = kRangeSlot[range];
    auto master = cluster_->MasterOf(slot);
    ASSERT_OK(master);
    auto replicas = cluster_->ReplicasOf(*master);
    ASSERT_OK(replicas);
    ASSERT_EQ(replicas->size(), 1u);
    testing::RedisServer* replica = cluster_->node((*replicas)[0]);
    testing::RedisServer* old_master = cluster_->node(*master);
    ASSERT_OK(old_master->WaitForReplicasInSync(absl::Seconds(30)));
    // A stopped replica still receives the replication stream into its
    // socket buffers (tens of MB on loopback) and applies it once resumed.
    // Its master drops it after repl-timeout without acknowledgements (60 s
    // by default, 1 s here): from then on what the master accepts reaches
    // no replica.
    ASSERT_OK(old_master->Cli({"config", "set", "repl-timeout", "1"}));

    ASSERT_OK(replica->Pause());
    load.BeginPause(range);
    const bool dropped = testing::Eventually(
        [&] {
          auto info = old_master->Cli({"info", "replication"});
          return info.ok() && absl::StrContains(*info, "connected_slaves:0");
        },
        absl::Seconds(20));
    ASSERT_TRUE(dropped) << "the master kept its paused replica";
    load.MarkDropped();
    // Appends go on; each session of the range meets its lost replica.
    const bool met = testing::Eventually(
        [&] {
          for (const auto& s : sessions) {
            if (s->range == range && s->failed_in_pause.load() + s->acked_after_drop.load() < 2) {
              return false;
            }
          }
          return true;
        },
        absl::Seconds(20));
    EXPECT_TRUE(met) << "the sessions of the paused replica's master were not appended to";
    ASSERT_OK(old_master->Stop(SIGKILL));
    load.EndPause();
    ASSERT_OK(replica->Resume());

    // Promotion: the resumed replica's own failover (its master is marked
    // failed by the other masters meanwhile); TAKEOVER if that does not
    // happen within 15 s.
    std::string how = "automatic failover";
    if (!testing::Eventually(
            [&] {
              auto m = cluster_->MasterOf(slot);
              return m.ok() && *m == replica->address();
            },
            absl::Seconds(15))) {
      how = "CLUSTER FAILOVER TAKEOVER";
      ASSERT_OK(replica->Cli({"cluster", "failover", "takeover"}));
      ASSERT_TRUE(testing::Eventually(
          [&] {
            auto m = cluster_->MasterOf(slot);
            return m.ok() && *m == replica->address();
          },
          absl::Seconds(15)));
    }
    std::printf("paused replica %s promoted by %s\n", replica->address().c_str(), how.c_str());
    ASSERT_OK(cluster_->WaitForClusterOk(absl::Seconds(30)));
    ASSERT_OK(old_master->Restart());
    ASSERT_OK(replica->WaitForReplicasInSync(absl::Seconds(30)));
    EXPECT_TRUE(WaitForProgress(sessions, range, absl::Seconds(20)))
        << "appends to the failed-over range did not resume";
  }

  static testing::RedisCluster* cluster_;
  testing::TempDir dir_;
  int configs_ = 0;
};

testing::RedisCluster* FailoverTest::cluster_ = nullptr;

// An identical retry through another connection (another proxy, or after a
// reconnect) finds the append stored; its WAIT must still cover that append
// before the retry is acknowledged. (Redis 7.0 sets a connection's WAIT
// offset to the master's after any command, reads included; the Append
// script also writes on such a retry, so this does not rest on that.)
TEST_F(FailoverTest, ARetryFindingAnUnreplicatedAppendIsNotAcknowledged) {
  auto a = DirectStore("retry", 1);
  auto b = DirectStore("retry", 1);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const std::string sid = sessionapi::SessionIdForKey(1, "retry");
  auto master = cluster_->MasterOf(redis::KeySlot(absl::StrCat("{", sid, "}")));
  ASSERT_OK(master);
  auto replicas = cluster_->ReplicasOf(*master);
  ASSERT_OK(replicas);
  ASSERT_EQ(replicas->size(), 1u);
  testing::RedisServer* replica = cluster_->node((*replicas)[0]);

  ASSERT_OK(CallSync(*a, &Store::AppendEvents, One(sid, 1)));
  ASSERT_OK(replica->Pause());
  EXPECT_THAT(CallSync(*a, &Store::AppendEvents, One(sid, 2)),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("only 0 of 1 replicas acknowledged it")));
  // The same append through another connection finds it stored.
  auto retry = CallSync(*b, &Store::AppendEvents, One(sid, 2));
  pb::GetSessionMetaRequest m;
  m.set_session_id(sid);
  auto meta = CallSync(*b, &Store::GetSessionMeta, m);
  ASSERT_OK(replica->Resume());
  EXPECT_THAT(retry, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("persistence.ack-replicas")));
  ASSERT_OK(meta);
  EXPECT_EQ(meta->meta().last_seq(), 2u) << "applied on the master";
  // Once the replica is back, the retry is acknowledged.
  absl::StatusOr<pb::AppendEventsResponse> again;
  for (int i = 0; i < 50; ++i) {
    again = CallSync(*b, &Store::AppendEvents, One(sid, 2));
    if (again.ok()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_OK(again);
  EXPECT_EQ(again->last_seq(), 2u);
}

TEST_F(FailoverTest, RepeatedMasterKillsLoseNoAcknowledgedAppend) {
  int rounds = 3;
  if (const char* env = std::getenv("ORCH_FAILOVER_ROUNDS"); env != nullptr) {
    ASSERT_TRUE(absl::SimpleAtoi(env, &rounds) && rounds > 0) << "ORCH_FAILOVER_ROUNDS=" << env;
  }
  auto proxy = StartProxy("");  // ack-replicas: the default (auto: 1 here)
  ASSERT_OK(proxy);
  auto sessions = MakeSessions("KILLS");
  Load load(proxy->grpc, &sessions);
  ASSERT_TRUE(WaitForProgress(sessions, -1, absl::Seconds(20)));

  for (int round = 0; round < rounds; ++round) {
    const int range = round % 3;
    auto old_master = cluster_->MasterOf(kRangeSlot[range]);
    ASSERT_OK(old_master);
    auto new_master = cluster_->KillMasterAndWaitForFailover(kRangeSlot[range], absl::Seconds(30));
    ASSERT_OK(new_master);
    // Back as the new master's replica: writes to its slots are
    // acknowledged again once it is in sync.
    ASSERT_OK(cluster_->node(*old_master)->Restart());
    ASSERT_OK(cluster_->node(*new_master)->WaitForReplicasInSync(absl::Seconds(30)));
    EXPECT_TRUE(WaitForProgress(sessions, range, absl::Seconds(20)))
        << "round " << round << ": appends to the failed-over range did not resume";
  }
  ASSERT_TRUE(WaitForProgress(sessions, -1, absl::Seconds(20)));
  load.Stop();

  std::printf("%d master kills: %llu appends acknowledged, %llu attempts failed (outcome unknown, "
              "retried), %llu acknowledged appends lost\n",
              rounds, static_cast<unsigned long long>(Sum(sessions, &Session::acked)),
              static_cast<unsigned long long>(Sum(sessions, &Session::failed)),
              static_cast<unsigned long long>(Sum(sessions, &Session::lost)));
  EXPECT_EQ(Sum(sessions, &Session::lost), 0u);
  EXPECT_EQ(Sum(sessions, &Session::unexpected), 0u);
  CheckLogs(sessions);
}

TEST_F(FailoverTest, PausedReplicaThenMasterKilledLosesNothing) {
  auto proxy = StartProxy("");  // ack-replicas: the default
  ASSERT_OK(proxy);
  auto sessions = MakeSessions("PAUSE");
  Load load(proxy->grpc, &sessions);
  ASSERT_TRUE(WaitForProgress(sessions, -1, absl::Seconds(20)));
  const int range = 1;
  PauseReplicaKillMaster(load, sessions, range);
  if (HasFatalFailure()) return;
  ASSERT_TRUE(WaitForProgress(sessions, -1, absl::Seconds(20)));
  load.Stop();

  std::printf("paused replica, master killed: %llu appends acknowledged; while paused %llu "
              "failed and %llu were acknowledged; %llu acknowledged appends lost\n",
              static_cast<unsigned long long>(Sum(sessions, &Session::acked)),
              static_cast<unsigned long long>(Sum(sessions, &Session::failed_in_pause, range)),
              static_cast<unsigned long long>(Sum(sessions, &Session::acked_in_pause, range)),
              static_cast<unsigned long long>(Sum(sessions, &Session::lost)));
  // Not acknowledged while the replica could not have them ...
  EXPECT_EQ(Sum(sessions, &Session::acked_in_pause, range), 0u);
  EXPECT_GT(Sum(sessions, &Session::failed_in_pause, range), 0u);
  // ... and nothing acknowledged is lost.
  EXPECT_EQ(Sum(sessions, &Session::lost), 0u);
  EXPECT_EQ(Sum(sessions, &Session::unexpected), 0u);
  CheckLogs(sessions);
}

// The same with ack-replicas = 0 (Redis's asynchronous replication alone):
// appends to the master are acknowledged while its replica is stopped, and
// all of them are lost with the master. This is what the option prevents.
TEST_F(FailoverTest, WithoutAcksThePausedReplicaCaseLosesAcknowledgedAppends) {
  auto proxy = StartProxy("ack-replicas = 0\n");
  ASSERT_OK(proxy);
  auto sessions = MakeSessions("NOACK");
  Load load(proxy->grpc, &sessions);
  ASSERT_TRUE(WaitForProgress(sessions, -1, absl::Seconds(20)));
  const int range = 2;
  PauseReplicaKillMaster(load, sessions, range);
  if (HasFatalFailure()) return;
  ASSERT_TRUE(WaitForProgress(sessions, -1, absl::Seconds(20)));
  load.Stop();

  const uint64_t acked_in_pause = Sum(sessions, &Session::acked_in_pause, range);
  const uint64_t acked_after_drop = Sum(sessions, &Session::acked_after_drop, range);
  const uint64_t lost = Sum(sessions, &Session::lost);
  std::printf("ack-replicas = 0: %llu appends acknowledged while the replica was paused (%llu after "
              "the master dropped it), %llu acknowledged appends lost\n",
              static_cast<unsigned long long>(acked_in_pause),
              static_cast<unsigned long long>(acked_after_drop),
              static_cast<unsigned long long>(lost));
  EXPECT_GT(acked_after_drop, 0u);
  EXPECT_GE(lost, acked_after_drop);
  // What is stored now is consistent with what the writers were told after
  // they found the loss.
  CheckLogs(sessions);
}

}  // namespace
}  // namespace orch::persistence_proxy
