// persistence-proxy as a real process on loopback, against redis-server
// processes started here: the gRPC API (a representative subset), bad input,
// metrics and health following Redis reachability (SIGSTOP, SIGKILL,
// restart), TLS and ACL, and misconfiguration exiting with status 2.

#include <sys/stat.h>

#include <csignal>
#include <map>
#include <regex>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/grpc/channel.h"
#include "common/redis/testing/redis_server.h"
#include "common/sessionapi/session_id.h"
#include "common/testing/certs.h"
#include "common/testing/eventually.h"
#include "common/testing/status_matchers.h"
#include "common/testing/subprocess.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "orch/persistence/v1/persistence.grpc.pb.h"
#include "tests/stack/stack.h"

namespace orch::persistence_proxy {
namespace {

namespace pb = ::orch::persistence::v1;
using ::grpc::health::v1::HealthCheckResponse;
using ::orch::testing::Eventually;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kService[] = "orch.persistence.v1.Persistence";

// A running persistence-proxy and a stub for its API.
struct Proxy {
  testing::Served served;
  std::unique_ptr<pb::Persistence::Stub> stub;

  std::string Metrics() const { return served.Metrics(); }
  HealthCheckResponse::ServingStatus Health() const { return served.Health(kService); }
};

std::unique_ptr<grpc::ClientContext> Ctx(int seconds = 5) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return ctx;
}

// A well-formed session id of `node` (the proxy takes a new session's node
// from it), named by `name`.
std::string Sid(int node, const std::string& name) { return sessionapi::SessionIdForKey(node, name); }

pb::AppendEventsRequest Batch(const std::string& sid, uint64_t epoch, uint64_t first, uint64_t last,
                              size_t payload = 10) {
  pb::AppendEventsRequest r;
  r.set_session_id(sid);
  r.set_epoch(epoch);
  for (uint64_t s = first; s <= last; ++s) {
    auto* e = r.add_entries();
    e->set_seq(s);
    e->mutable_event()->set_name(std::string(payload, 'x'));
  }
  return r;
}

grpc::Status Append(Proxy& p, const pb::AppendEventsRequest& r, int seconds = 5) {
  pb::AppendEventsResponse resp;
  return p.stub->AppendEvents(Ctx(seconds).get(), r, &resp);
}

class ProxyProcessTest : public ::testing::Test {
 protected:
  // Starts the proxy with `persistence` lines added to [persistence].
  absl::StatusOr<Proxy> StartProxy(const std::string& persistence) {
    const std::string config = dir_.WriteFile(
        absl::StrCat("proxy", ++configs_, ".toml"),
        absl::StrCat("[server]\ngrpc-listen = \"127.0.0.1:0\"\nshutdown-grace-ms = 1000\n\n"
                     "[metrics]\nlisten = \"127.0.0.1:0\"\n\n[persistence]\n",
                     "health-check-interval-ms = 100\n", persistence));
    auto served = testing::Launch(ORCH_PERSISTENCE_PROXY_BIN, config);
    if (!served.ok()) return served.status();
    Proxy proxy;
    proxy.served = *std::move(served);
    proxy.stub = pb::Persistence::NewStub(grpc_util::MakeChannel(proxy.served.grpc));
    return proxy;
  }

  // Runs the proxy expecting it to exit; returns {exit code, stderr}.
  std::pair<int, std::string> RunToExit(const std::string& persistence) {
    const std::string config = dir_.WriteFile(
        absl::StrCat("bad", ++configs_, ".toml"),
        absl::StrCat(testing::TestClusterToml(dir_.path()),
                     "[server]\ngrpc-listen = \"127.0.0.1:0\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n"
                     "[persistence]\n", persistence));
    std::string out, err;
    auto status = testing::RunProgram({ORCH_PERSISTENCE_PROXY_BIN, "--config", config}, "", &out, &err,
                                      absl::Seconds(30));
    EXPECT_OK(status);
    if (!status.ok() || !WIFEXITED(*status)) return {-1, err};
    return {WEXITSTATUS(*status), err};
  }

  static std::string Nodes(const std::string& address) {
    return absl::StrCat("redis-nodes = [\"", address, "\"]\n");
  }

  testing::TempDir dir_;
  int configs_ = 0;
};

TEST_F(ProxyProcessTest, ServesTheStoreOverGrpcWithClearStatusCodes) {
  auto redis = testing::RedisServer::Start({});
  ASSERT_OK(redis);
  auto proxy = StartProxy(Nodes((*redis)->address()) + "max-entry-bytes = 1024\n");
  ASSERT_OK(proxy);
  EXPECT_TRUE(Eventually([&] { return proxy->Health() == HealthCheckResponse::SERVING; }));

  const std::string sid = Sid(3, "GRPCSESSION");
  ASSERT_TRUE(Append(*proxy, Batch(sid, 2, 1, 1)).ok());
  for (uint64_t first = 2; first < 600; first += 100) {
    auto s = Append(*proxy, Batch(sid, 2, first, first + 99));
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  // ReadLog streams the 600 entries after seq 1 in pages.
  {
    auto ctx = Ctx();
    pb::ReadLogRequest req;
    req.set_session_id(sid);
    req.set_after_seq(1);
    auto reader = proxy->stub->ReadLog(ctx.get(), req);
    pb::ReadLogResponse page;
    uint64_t expect = 2;
    int pages = 0;
    while (reader->Read(&page)) {
      ++pages;
      for (const auto& e : page.entries()) EXPECT_EQ(e.seq(), expect++);
    }
    EXPECT_TRUE(reader->Finish().ok());
    EXPECT_EQ(expect, 602u);
    EXPECT_GE(pages, 3);
  }
  {
    pb::PutSnapshotRequest snap;
    snap.set_session_id(sid);
    snap.set_epoch(2);
    snap.set_covers_seq(590);
    snap.set_snapshot("SNAP");
    pb::PutSnapshotResponse r;
    ASSERT_TRUE(proxy->stub->PutSnapshot(Ctx().get(), snap, &r).ok());
    pb::LoadSessionRequest load;
    load.set_session_id(sid);
    pb::LoadSessionResponse lr;
    ASSERT_TRUE(proxy->stub->LoadSession(Ctx().get(), load, &lr).ok());
    EXPECT_EQ(lr.snapshot(), "SNAP");
    EXPECT_EQ(lr.entries_size(), 11);
    EXPECT_EQ(lr.meta().node(), "3");
  }

  // Bad input: the code and the field, nothing written.
  auto expect = [&](const grpc::Status& s, grpc::StatusCode code, const std::string& text) {
    EXPECT_EQ(s.error_code(), code) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(text));
  };
  expect(Append(*proxy, Batch("", 2, 600, 600)), grpc::StatusCode::INVALID_ARGUMENT, "session_id");
  expect(Append(*proxy, Batch("~3~{x}", 2, 1, 1)), grpc::StatusCode::INVALID_ARGUMENT, "session_id");
  expect(Append(*proxy, Batch(sid, 2, 600, 600, 2000)), grpc::StatusCode::INVALID_ARGUMENT,
         "entries[0]: 20");
  expect(Append(*proxy, Batch(Sid(3, "NOBODY"), 2, 5, 5)), grpc::StatusCode::NOT_FOUND, "unknown session");
  expect(Append(*proxy, Batch(sid, 2, 604, 604)), grpc::StatusCode::ABORTED, "does not follow");
  expect(Append(*proxy, Batch(sid, 1, 602, 602)), grpc::StatusCode::ABORTED, "fenced");
  {
    pb::GetSessionMetaRequest m;
    m.set_session_id(sid);
    pb::GetSessionMetaResponse mr;
    ASSERT_TRUE(proxy->stub->GetSessionMeta(Ctx().get(), m, &mr).ok());
    EXPECT_EQ(mr.meta().last_seq(), 601u);
  }
  // AppendEventsStream: many sessions' appends in flight on one stream, each
  // answered with its request id and status.
  {
    auto ctx = Ctx();
    auto stream = proxy->stub->AppendEventsStream(ctx.get());
    for (int i = 0; i < 20; ++i) {
      pb::AppendEventsStreamRequest r;
      r.set_request_id(i);
      *r.mutable_append() = Batch(Sid(3, absl::StrCat("STREAM", i)), 1, 1, 2);
      ASSERT_TRUE(stream->Write(r));
    }
    pb::AppendEventsStreamRequest bad;
    bad.set_request_id(99);
    *bad.mutable_append() = Batch(sid, 2, 605, 605);  // requests run concurrently: use a session that exists
    ASSERT_TRUE(stream->Write(bad));
    stream->WritesDone();
    pb::AppendEventsStreamResponse resp;
    std::set<uint64_t> ok;
    int aborted = 0;
    while (stream->Read(&resp)) {
      if (resp.request_id() == 99) {
        EXPECT_EQ(resp.code(), static_cast<int>(grpc::StatusCode::ABORTED));
        EXPECT_THAT(resp.message(), HasSubstr("does not follow"));
        ++aborted;
      } else {
        EXPECT_EQ(resp.code(), 0) << resp.message();
        EXPECT_EQ(resp.last_seq(), 2u);
        ok.insert(resp.request_id());
      }
    }
    EXPECT_TRUE(stream->Finish().ok());
    EXPECT_EQ(ok.size(), 20u);
    EXPECT_EQ(aborted, 1);
  }
  // AppendEventsBatchStream: several appends per message each way; each
  // append is answered once, by its request id, with its own status — a
  // fenced and a gapped append in a message do not affect the others, and
  // two messages' appends of one session (sent after the first's answer)
  // follow each other.
  {
    auto ctx = Ctx();
    auto stream = proxy->stub->AppendEventsBatchStream(ctx.get());
    pb::AppendEventsBatchRequest first;
    for (int i = 0; i < 30; ++i) {
      pb::AppendEventsStreamRequest* r = first.add_appends();
      r->set_request_id(i);
      *r->mutable_append() = Batch(Sid(3, absl::StrCat("BATCH", i)), 1, 1, 2);
    }
    pb::AppendEventsStreamRequest* gap = first.add_appends();
    gap->set_request_id(100);
    *gap->mutable_append() = Batch(sid, 2, 605, 605);
    pb::AppendEventsStreamRequest* fenced = first.add_appends();
    fenced->set_request_id(101);
    *fenced->mutable_append() = Batch(sid, 1, 602, 602);
    pb::AppendEventsStreamRequest* invalid = first.add_appends();
    invalid->set_request_id(102);
    *invalid->mutable_append() = Batch("has space", 1, 1, 1);
    ASSERT_TRUE(stream->Write(first));
    std::map<uint64_t, pb::AppendEventsStreamResponse> results;
    pb::AppendEventsBatchResponse resp;
    while (results.size() < 33 && stream->Read(&resp)) {
      for (const auto& r : resp.results()) {
        EXPECT_TRUE(results.emplace(r.request_id(), r).second) << "answered twice: " << r.request_id();
      }
    }
    ASSERT_EQ(results.size(), 33u);
    for (int i = 0; i < 30; ++i) {
      EXPECT_EQ(results[i].code(), 0) << results[i].message();
      EXPECT_EQ(results[i].last_seq(), 2u);
    }
    EXPECT_EQ(results[100].code(), static_cast<int>(grpc::StatusCode::ABORTED));
    EXPECT_THAT(results[100].message(), HasSubstr("does not follow"));
    EXPECT_EQ(results[101].code(), static_cast<int>(grpc::StatusCode::ABORTED));
    EXPECT_THAT(results[101].message(), HasSubstr("fenced"));
    EXPECT_EQ(results[102].code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
    // The next appends of the same sessions, plus an identical retry.
    pb::AppendEventsBatchRequest second;
    for (int i = 0; i < 30; ++i) {
      pb::AppendEventsStreamRequest* r = second.add_appends();
      r->set_request_id(200 + i);
      *r->mutable_append() = Batch(Sid(3, absl::StrCat("BATCH", i)), 1, 3, 3);
    }
    pb::AppendEventsStreamRequest* again = second.add_appends();
    again->set_request_id(300);
    *again->mutable_append() = Batch(Sid(3, "BATCH0"), 1, 1, 2);
    ASSERT_TRUE(stream->Write(second));
    stream->WritesDone();
    std::map<uint64_t, pb::AppendEventsStreamResponse> more;
    while (stream->Read(&resp)) {
      for (const auto& r : resp.results()) EXPECT_TRUE(more.emplace(r.request_id(), r).second);
    }
    EXPECT_TRUE(stream->Finish().ok());
    ASSERT_EQ(more.size(), 31u);
    for (int i = 0; i < 30; ++i) {
      EXPECT_EQ(more[200 + i].code(), 0) << more[200 + i].message();
      EXPECT_EQ(more[200 + i].last_seq(), 3u);
    }
    EXPECT_EQ(more[300].code(), 0) << more[300].message();
    EXPECT_GE(more[300].last_seq(), 2u);
    pb::GetSessionMetaRequest m;
    m.set_session_id(Sid(3, "BATCH7"));
    pb::GetSessionMetaResponse mr;
    ASSERT_TRUE(proxy->stub->GetSessionMeta(Ctx().get(), m, &mr).ok());
    EXPECT_EQ(mr.meta().last_seq(), 3u);
  }
  pb::AcquireLeaseRequest lease;
  lease.set_name("node:3");
  lease.set_holder("me");
  lease.set_ttl_ms(5000);
  pb::AcquireLeaseResponse lr;
  ASSERT_TRUE(proxy->stub->AcquireLease(Ctx().get(), lease, &lr).ok());
  EXPECT_TRUE(lr.acquired());
  EXPECT_EQ(lr.epoch(), 1u);

  // Calls and target reservations, counted like every operation.
  pb::ClaimCallRequest claim;
  claim.mutable_record()->set_call_uuid("call-1");
  claim.mutable_record()->set_session_id(Sid(3, "CALL1"));
  pb::ClaimCallResponse cr;
  ASSERT_TRUE(proxy->stub->ClaimCall(Ctx().get(), claim, &cr).ok());
  EXPECT_TRUE(cr.created());
  claim.mutable_record()->set_session_id(Sid(3, "CALL2"));
  ASSERT_TRUE(proxy->stub->ClaimCall(Ctx().get(), claim, &cr).ok());
  EXPECT_FALSE(cr.created());
  EXPECT_EQ(cr.record().session_id(), Sid(3, "CALL1"));
  pb::ReserveTargetRequest reserve;
  reserve.set_target("agent-1");
  reserve.set_holder("call-1");
  pb::ReserveTargetResponse rr;
  const ::grpc::Status no_ttl = proxy->stub->ReserveTarget(Ctx().get(), reserve, &rr);
  EXPECT_EQ(no_ttl.error_code(), ::grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(no_ttl.error_message(), HasSubstr("ttl_ms"));

  // A call's owner and recorded events.
  pb::BindCallRequest bind;
  bind.set_call_uuid("call-1");
  bind.set_node(3);
  bind.set_session_id(Sid(3, "CALL1"));
  pb::BindCallResponse br;
  ASSERT_TRUE(proxy->stub->BindCall(Ctx().get(), bind, &br).ok());
  EXPECT_TRUE(br.bound());
  EXPECT_EQ(br.record().owner_node(), 3);
  bind.set_node(4);
  bind.set_session_id(Sid(4, "CALL1"));
  ASSERT_TRUE(proxy->stub->BindCall(Ctx().get(), bind, &br).ok());
  EXPECT_FALSE(br.bound());
  EXPECT_EQ(br.record().owner_node(), 3);
  EXPECT_EQ(br.record().session_id(), Sid(3, "CALL1"));
  bind.set_call_uuid("never-claimed");
  EXPECT_EQ(proxy->stub->BindCall(Ctx().get(), bind, &br).error_code(), ::grpc::StatusCode::NOT_FOUND);
  bind.set_node(0);
  const ::grpc::Status no_node = proxy->stub->BindCall(Ctx().get(), bind, &br);
  EXPECT_EQ(no_node.error_code(), ::grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(no_node.error_message(), HasSubstr("node"));
  for (int i = 1; i <= 2; ++i) {
    pb::RecordCallEventRequest record;
    record.set_call_uuid("call-1");
    record.mutable_event()->set_name(absl::StrCat("dialog.e", i));
    record.mutable_event()->set_effect_id(absl::StrCat("call/sw/", i));
    pb::RecordCallEventResponse rer;
    ASSERT_TRUE(proxy->stub->RecordCallEvent(Ctx().get(), record, &rer).ok());
    EXPECT_EQ(rer.recorded(), static_cast<uint64_t>(i));
  }
  pb::ReadCallEventsRequest read_events;
  read_events.set_call_uuid("call-1");
  pb::ReadCallEventsResponse events;
  ASSERT_TRUE(proxy->stub->ReadCallEvents(Ctx().get(), read_events, &events).ok());
  ASSERT_EQ(events.events_size(), 2);
  EXPECT_EQ(events.events(0).name(), "dialog.e1");
  EXPECT_EQ(events.events(1).effect_id(), "call/sw/2");
  pb::ListNodeCallsRequest list;
  list.set_node(3);
  pb::ListNodeCallsResponse calls;
  ASSERT_TRUE(proxy->stub->ListNodeCalls(Ctx().get(), list, &calls).ok());
  ASSERT_EQ(calls.records_size(), 1);
  EXPECT_EQ(calls.records(0).call_uuid(), "call-1");
  EXPECT_EQ(calls.next_cursor(), "");
  pb::DeleteCallRequest del;
  del.set_call_uuid("call-1");
  pb::DeleteCallResponse dr;
  ASSERT_TRUE(proxy->stub->DeleteCall(Ctx().get(), del, &dr).ok());
  EXPECT_TRUE(dr.deleted());
  EXPECT_EQ(proxy->stub->ReadCallEvents(Ctx().get(), read_events, &events).error_code(),
            ::grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(proxy->stub->ListNodeCalls(Ctx().get(), list, &calls).ok());
  EXPECT_EQ(calls.records_size(), 0);

  const std::string m = proxy->Metrics();
  EXPECT_THAT(m, HasSubstr("orch_persistence_operations_total{code=\"OK\",op=\"ClaimCall\"} 2"));
  EXPECT_THAT(m, HasSubstr("orch_persistence_operations_total{code=\"OK\",op=\"BindCall\"} 2"));
  EXPECT_THAT(m, HasSubstr("orch_persistence_operations_total{code=\"NOT_FOUND\",op=\"BindCall\"} 1"));
  EXPECT_THAT(m, HasSubstr("orch_persistence_operations_total{code=\"INVALID_ARGUMENT\",op=\"BindCall\"} 1"));
  EXPECT_THAT(m, HasSubstr("orch_persistence_operations_total{code=\"OK\",op=\"RecordCallEvent\"} 2"));
  EXPECT_THAT(m, HasSubstr("orch_persistence_operations_total{code=\"NOT_FOUND\",op=\"ReadCallEvents\"} 1"));
  EXPECT_THAT(m, HasSubstr("orch_persistence_operations_total{code=\"OK\",op=\"ListNodeCalls\"} 2"));
  EXPECT_THAT(m, HasSubstr("orch_persistence_operation_seconds_count{op=\"BindCall\"} 4"));
  EXPECT_THAT(m, HasSubstr("orch_persistence_operations_total{code=\"INVALID_ARGUMENT\",op=\"ReserveTarget\"} 1"));
  EXPECT_THAT(m, HasSubstr("orch_persistence_redis_up 1"));
  EXPECT_THAT(m, HasSubstr("orch_persistence_fencing_rejections_total 2"));
  EXPECT_THAT(m, HasSubstr("orch_persistence_operation_seconds_count{op=\"AppendEvents\"}"));
  EXPECT_THAT(m, HasSubstr("orch_persistence_redis_reconnects_total"));
}

TEST_F(ProxyProcessTest, ServesFromARedisClusterFoundFromOneSeed) {
  auto cluster = testing::RedisCluster::Start();
  ASSERT_OK(cluster);
  auto proxy = StartProxy(Nodes((*cluster)->addresses()[0]));
  ASSERT_OK(proxy);
  EXPECT_TRUE(Eventually([&] { return proxy->Health() == HealthCheckResponse::SERVING; }));
  // Sessions spread over all three masters.
  for (int i = 0; i < 30; ++i) {
    const std::string sid = Sid(2, absl::StrCat("CLUSTER", i));
    auto s = Append(*proxy, Batch(sid, 1, 1, 3));
    ASSERT_TRUE(s.ok()) << s.error_message();
    pb::LoadSessionRequest load;
    load.set_session_id(sid);
    pb::LoadSessionResponse lr;
    ASSERT_TRUE(proxy->stub->LoadSession(Ctx().get(), load, &lr).ok());
    EXPECT_EQ(lr.entries_size(), 3);
  }
  pb::ListNodeSessionsRequest list;
  list.set_node("2");
  list.set_page_size(1000);
  std::set<std::string> ids;
  std::string cursor;
  for (int page = 0; page < 100; ++page) {
    list.set_cursor(cursor);
    pb::ListNodeSessionsResponse resp;
    ASSERT_TRUE(proxy->stub->ListNodeSessions(Ctx().get(), list, &resp).ok());
    ids.insert(resp.session_ids().begin(), resp.session_ids().end());
    cursor = resp.next_cursor();
    if (cursor == "0") break;
  }
  EXPECT_EQ(ids.size(), 30u);
  EXPECT_THAT(proxy->Metrics(), HasSubstr("orch_persistence_redis_up 1"));
}

TEST_F(ProxyProcessTest, RedisDownFailsFastAndBothRecover) {
  auto redis = testing::RedisServer::Start({});
  ASSERT_OK(redis);
  auto proxy = StartProxy(Nodes((*redis)->address()) + "request-timeout-ms = 300\n");
  ASSERT_OK(proxy);
  ASSERT_TRUE(Eventually([&] { return proxy->Health() == HealthCheckResponse::SERVING; }));
  const std::string sid = Sid(1, "DOWN");
  ASSERT_TRUE(Append(*proxy, Batch(sid, 1, 1, 1)).ok());
  uint64_t next = 2;

  // A stopped (hung) server: requests time out as UNAVAILABLE, not hang.
  ASSERT_EQ(::kill((*redis)->pid(), SIGSTOP), 0);
  auto s = Append(*proxy, Batch(sid, 1, next, next), /*seconds=*/10);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_TRUE(Eventually([&] {
    return absl::StrContains(proxy->Metrics(), "orch_persistence_redis_up 0") &&
           proxy->Health() == HealthCheckResponse::NOT_SERVING;
  }));
  ASSERT_EQ(::kill((*redis)->pid(), SIGCONT), 0);
  EXPECT_TRUE(Eventually([&] {
    return absl::StrContains(proxy->Metrics(), "orch_persistence_redis_up 1") &&
           proxy->Health() == HealthCheckResponse::SERVING;
  }));
  // The timed-out append may have executed: the identical retry settles it.
  EXPECT_TRUE(Eventually([&] { return Append(*proxy, Batch(sid, 1, next, next)).ok(); }));
  ++next;

  // A dead server: fast UNAVAILABLE, then recovery on restart.
  ASSERT_OK((*redis)->Stop(SIGKILL));
  s = Append(*proxy, Batch(Sid(1, "OTHER"), 1, 1, 1), 10);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_TRUE(Eventually([&] {
    return absl::StrContains(proxy->Metrics(), "orch_persistence_redis_up 0") &&
           proxy->Health() == HealthCheckResponse::NOT_SERVING;
  }));
  ASSERT_OK((*redis)->Restart());
  EXPECT_TRUE(Eventually([&] {
    return absl::StrContains(proxy->Metrics(), "orch_persistence_redis_up 1") &&
           proxy->Health() == HealthCheckResponse::SERVING;
  }));
  // The restarted server has no persistence here: a new session works.
  EXPECT_TRUE(Eventually([&] { return Append(*proxy, Batch(Sid(1, "AFTER"), 1, 1, 1)).ok(); }));
  ASSERT_OK(proxy->served.process->Signal(SIGTERM));
  auto exit = proxy->served.process->Wait(absl::Seconds(10));
  ASSERT_OK(exit);
  EXPECT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0);
}

TEST_F(ProxyProcessTest, StartsWithoutRedisAndServesOnceItIsUp) {
  auto redis = testing::RedisServer::Start({});
  ASSERT_OK(redis);
  const std::string address = (*redis)->address();
  ASSERT_OK((*redis)->Stop(SIGKILL));
  auto proxy = StartProxy(Nodes(address));
  ASSERT_OK(proxy);
  EXPECT_EQ(proxy->Health(), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(Append(*proxy, Batch(Sid(1, "A"), 1, 1, 1)).error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_OK((*redis)->Restart());
  EXPECT_TRUE(Eventually([&] { return proxy->Health() == HealthCheckResponse::SERVING; }));
  EXPECT_TRUE(Append(*proxy, Batch(Sid(1, "A"), 1, 1, 1)).ok());
}

TEST_F(ProxyProcessTest, AclUserAndWrongPassword) {
  auto redis = testing::RedisServer::Start(
      {.extra_args = {"--user", "orch", "on", ">s3cret", "~*", "&*", "+@all", "--user", "default", "off"}});
  ASSERT_OK(redis);
  {
    auto proxy = StartProxy(Nodes((*redis)->address()) + "username = \"orch\"\npassword = \"s3cret\"\n");
    ASSERT_OK(proxy);
    EXPECT_TRUE(Eventually([&] { return proxy->Health() == HealthCheckResponse::SERVING; }));
    EXPECT_TRUE(Append(*proxy, Batch(Sid(1, "ACL"), 1, 1, 1)).ok());
  }
  auto [code, err] = RunToExit(Nodes((*redis)->address()) + "username = \"orch\"\npassword = \"wrong\"\n");
  EXPECT_EQ(code, 2) << err;
  EXPECT_THAT(err, HasSubstr("persistence.password"));
  EXPECT_THAT(err, Not(HasSubstr("wrong\"")));
}

TEST_F(ProxyProcessTest, TlsRedisWithAndWithoutClientCertificatesAndBadFiles) {
  ASSERT_EQ(::mkdir((dir_.path() + "/pki").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((dir_.path() + "/other").c_str(), 0700), 0);
  auto certs = testing::MakeTestCerts(dir_.path() + "/pki");
  ASSERT_OK(certs);
  auto other = testing::MakeTestCerts(dir_.path() + "/other");
  ASSERT_OK(other);
  auto mtls = testing::RedisServer::Start({.tls = true, .tls_cert = certs->server_cert,
                                           .tls_key = certs->server_key, .tls_ca = certs->ca_cert});
  ASSERT_OK(mtls);
  const std::string ca = absl::StrCat("tls-enabled = true\ntls-cacert = \"", certs->ca_cert, "\"\n");
  {
    auto proxy = StartProxy(Nodes((*mtls)->address()) + ca + "tls-cert = \"" + certs->client_cert +
                            "\"\ntls-key = \"" + certs->client_key + "\"\n");
    ASSERT_OK(proxy);
    EXPECT_TRUE(Eventually([&] { return proxy->Health() == HealthCheckResponse::SERVING; }));
    EXPECT_TRUE(Append(*proxy, Batch(Sid(1, "TLS"), 1, 1, 1)).ok());
  }
  auto tls = testing::RedisServer::Start({.tls = true, .tls_cert = certs->server_cert,
                                          .tls_key = certs->server_key, .tls_ca = certs->ca_cert,
                                          .tls_auth_clients = false});
  ASSERT_OK(tls);
  {
    auto proxy = StartProxy(Nodes((*tls)->address()) + ca);
    ASSERT_OK(proxy);
    EXPECT_TRUE(Eventually([&] { return proxy->Health() == HealthCheckResponse::SERVING; }));
    EXPECT_TRUE(Append(*proxy, Batch(Sid(1, "TLS"), 1, 1, 1)).ok());
  }
  // A CA that did not sign the server's certificate: refused, names the option.
  auto [code, err] = RunToExit(Nodes((*tls)->address()) + "tls-enabled = true\ntls-cacert = \"" +
                               other->ca_cert + "\"\n");
  EXPECT_EQ(code, 2) << err;
  EXPECT_THAT(err, HasSubstr("persistence.tls-cacert"));
  // A missing file: a configuration error before any connection.
  std::tie(code, err) = RunToExit(Nodes((*tls)->address()) +
                                  "tls-enabled = true\ntls-cacert = \"/nonexistent/ca.pem\"\n");
  EXPECT_EQ(code, 2) << err;
  EXPECT_THAT(err, HasSubstr("persistence.tls-cacert"));
  // mTLS server without a client certificate.
  std::tie(code, err) = RunToExit(Nodes((*mtls)->address()) + ca);
  EXPECT_EQ(code, 2) << err;
  EXPECT_THAT(err, HasSubstr("persistence.tls-cert"));
}

}  // namespace
}  // namespace orch::persistence_proxy
