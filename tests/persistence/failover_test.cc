// Failover on a six-process Redis Cluster: writers append continuously to
// sessions spread over all masters while the master of one session's slot
// is SIGKILLed. Appends must resume after its replica is promoted (the
// client follows the new topology). Acknowledged appends lost in Redis's
// asynchronous-replication window are counted and printed, not asserted
// to be zero (Redis Cluster does not promise that).

#include <atomic>
#include <csignal>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/redis/cluster_slots.h"
#include "common/redis/testing/redis_server.h"
#include "common/sessionapi/session_id.h"
#include "common/testing/status_matchers.h"
#include "gtest/gtest.h"
#include "services/persistence_proxy/redis_store.h"

namespace orch::persistence_proxy {
namespace {

pb::AppendEventsRequest One(const std::string& sid, uint64_t seq) {
  pb::AppendEventsRequest r;
  r.set_session_id(sid);
  r.set_epoch(1);
  auto* e = r.add_entries();
  e->set_seq(seq);
  e->mutable_event()->set_name(absl::StrCat("e", seq));
  return r;
}

TEST(FailoverTest, AppendsResumeAfterAMasterIsKilled) {
  auto cluster = testing::RedisCluster::Start();
  ASSERT_OK(cluster);
  redis::RedisOptions o;
  o.nodes = (*cluster)->addresses();
  o.connect_timeout = absl::Milliseconds(500);
  auto client = redis::CreateRedisClient(o);
  ASSERT_OK(client);
  StoreOptions so;
  so.request_timeout = absl::Seconds(1);
  RedisStore store(std::shared_ptr<redis::RedisClient>(std::move(*client)), so);

  constexpr int kSessions = 12;
  std::vector<std::string> sids;
  for (int i = 0; i < kSessions; ++i) {
    sids.push_back(sessionapi::SessionIdForKey(1, absl::StrCat("failover", i)));
  }
  const int victim_slot = redis::KeySlot(store.SessionKey(sids[0], "meta"));

  struct Writer {
    uint64_t acked = 0;     // last acknowledged seq
    uint64_t lost = 0;      // acknowledged entries found missing after the failover
    uint64_t after_kill = 0;  // appends acknowledged after the failover completed
    uint64_t errors = 0;
  };
  std::vector<Writer> writers(kSessions);
  std::atomic<bool> stop{false};
  std::atomic<bool> failed_over{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kSessions; ++i) {
    threads.emplace_back([&, i] {
      Writer& w = writers[i];
      for (int n = 0; n < 200000 && !stop.load(); ++n) {
        auto r = CallSync(store, &Store::AppendEvents, One(sids[i], w.acked + 1));
        if (r.ok()) {
          w.acked = r->last_seq();
          if (failed_over.load()) ++w.after_kill;
          continue;
        }
        ++w.errors;
        if (r.status().code() == absl::StatusCode::kAborted ||
            r.status().code() == absl::StatusCode::kNotFound) {
          // The store has less than we were told it had: entries lost with
          // the old master. Count them and continue after what is stored.
          pb::GetSessionMetaRequest m;
          m.set_session_id(sids[i]);
          auto meta = CallSync(store, &Store::GetSessionMeta, m);
          const uint64_t stored = meta.ok() ? meta->meta().last_seq() : 0;
          if (stored < w.acked) {
            w.lost += w.acked - stored;
            w.acked = stored;
          }
        } else {
          absl::SleepFor(absl::Milliseconds(20));
        }
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(500));
  auto new_master = (*cluster)->KillMasterAndWaitForFailover(victim_slot, absl::Seconds(30));
  EXPECT_OK(new_master);
  failed_over = true;
  // Bounded wait until the victim's session has been appended to again.
  for (int i = 0; i < 200 && writers[0].after_kill < 20; ++i) absl::SleepFor(absl::Milliseconds(50));
  absl::SleepFor(absl::Milliseconds(300));
  stop = true;
  for (auto& t : threads) t.join();

  uint64_t acked = 0, lost = 0, errors = 0, resumed = 0;
  for (int i = 0; i < kSessions; ++i) {
    acked += writers[i].acked;
    lost += writers[i].lost;
    errors += writers[i].errors;
    resumed += writers[i].after_kill;
    // What the store has now is what the writer believes.
    pb::GetSessionMetaRequest m;
    m.set_session_id(sids[i]);
    auto meta = CallSync(store, &Store::GetSessionMeta, m);
    ASSERT_OK(meta);
    EXPECT_EQ(meta->meta().last_seq(), writers[i].acked) << sids[i];
  }
  std::printf("failover: %llu appends acknowledged in total, %llu acknowledged appends lost, "
              "%llu failed attempts during the failover, %llu appends after it (victim session: %llu)\n",
              static_cast<unsigned long long>(acked), static_cast<unsigned long long>(lost),
              static_cast<unsigned long long>(errors), static_cast<unsigned long long>(resumed),
              static_cast<unsigned long long>(writers[0].after_kill));
  EXPECT_GE(writers[0].after_kill, 20u) << "appends to the failed-over slot did not resume";
  for (int i = 0; i < kSessions; ++i) EXPECT_GT(writers[i].after_kill, 0u) << sids[i];
}

}  // namespace
}  // namespace orch::persistence_proxy
