// TLS and authentication against real redis-server processes.

#include "common/redis/redis_client.h"
#include "common/redis/testing/redis_server.h"
#include "common/testing/certs.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace orch::redis {
namespace {

using ::orch::testing::IsOk;
using ::orch::testing::MakeTestCerts;
using ::orch::testing::RedisServer;
using ::orch::testing::RedisServerOptions;
using ::orch::testing::StatusIs;
using ::orch::testing::TempDir;
using ::orch::testing::TestCerts;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto certs = MakeTestCerts(dir_.path());
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *certs;
  }
  std::unique_ptr<RedisServer> StartServer(bool auth_clients) {
    RedisServerOptions o;
    o.tls = true;
    o.tls_cert = certs_.server_cert;
    o.tls_key = certs_.server_key;
    o.tls_ca = certs_.ca_cert;
    o.tls_auth_clients = auth_clients;
    auto s = RedisServer::Start(o);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }
  RedisOptions Options(const RedisServer& server, bool client_cert) {
    RedisOptions o;
    o.nodes = {server.address()};
    o.tls_enabled = true;
    o.tls_cacert = certs_.ca_cert;
    if (client_cert) {
      o.tls_cert = certs_.client_cert;
      o.tls_key = certs_.client_key;
    }
    return o;
  }

  TempDir dir_;
  TestCerts certs_;
};

TEST_F(TlsTest, ClientCertificateRequired) {
  auto server = StartServer(/*auth_clients=*/true);
  ASSERT_NE(server, nullptr);
  auto client = CreateRedisClient(Options(*server, /*client_cert=*/true));
  ASSERT_THAT(client, IsOk());
  ASSERT_THAT((*client)->ExecuteSync({"SET", "k", "v"}), IsOk());
  EXPECT_EQ(*(*client)->ExecuteSync({"GET", "k"}), RedisReply::String("v"));

  // Without a client certificate the server refuses us.
  EXPECT_THAT(CreateRedisClient(Options(*server, /*client_cert=*/false)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("persistence.tls-cert")));
}

TEST_F(TlsTest, NoClientCertificateNeeded) {
  auto server = StartServer(/*auth_clients=*/false);
  ASSERT_NE(server, nullptr);
  for (bool client_cert : {false, true}) {
    auto client = CreateRedisClient(Options(*server, client_cert));
    ASSERT_THAT(client, IsOk());
    auto r = (*client)->ExecuteSync({"PING"});
    ASSERT_THAT(r, IsOk());
    EXPECT_EQ(*r, RedisReply::Status("PONG"));
  }
  // Server name verification against "localhost" (SNI) works too.
  RedisOptions o = Options(*server, false);
  o.tls_sni = "localhost";
  auto client = CreateRedisClient(o);
  ASSERT_THAT(client, IsOk());
  // A name the certificate does not carry is refused.
  o.tls_sni = "redis.example.com";
  EXPECT_THAT(CreateRedisClient(o),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("persistence.tls-sni")));
}

TEST_F(TlsTest, WrongCaIsRefused) {
  auto server = StartServer(/*auth_clients=*/false);
  ASSERT_NE(server, nullptr);
  TempDir other_dir;
  auto other = MakeTestCerts(other_dir.path());
  ASSERT_TRUE(other.ok()) << other.status();
  RedisOptions o = Options(*server, false);
  o.tls_cacert = other->ca_cert;
  EXPECT_THAT(CreateRedisClient(o),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("persistence.tls-cacert"), HasSubstr("certificate"))));
  // Explicit mode: the same error comes back from requests, quickly.
  o.mode = RedisMode::kStandalone;
  auto client = CreateRedisClient(o);
  ASSERT_THAT(client, IsOk());
  EXPECT_THAT((*client)->ExecuteSync({"PING"}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("persistence.tls-cacert")));
}

TEST_F(TlsTest, PlaintextClientAgainstTlsPortFails) {
  auto server = StartServer(/*auth_clients=*/false);
  ASSERT_NE(server, nullptr);
  RedisOptions o;
  o.nodes = {server->address()};
  o.connect_timeout = absl::Milliseconds(500);
  EXPECT_THAT(CreateRedisClient(o), Not(IsOk()));
}

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RedisServerOptions o;
    o.extra_args = {"--requirepass", "defaultpw"};
    auto s = RedisServer::Start(o);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    auto r = server_->Cli({"--no-auth-warning", "-a", "defaultpw", "ACL", "SETUSER", "alice", "on",
                           ">alicepw", "~*", "&*", "+@all"});
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_THAT(*r, HasSubstr("OK"));
  }
  RedisOptions Options() {
    RedisOptions o;
    o.nodes = {server_->address()};
    return o;
  }
  std::unique_ptr<RedisServer> server_;
};

TEST_F(AuthTest, AclUserWithPassword) {
  RedisOptions o = Options();
  o.username = "alice";
  o.password = "alicepw";
  auto client = CreateRedisClient(o);
  ASSERT_THAT(client, IsOk());
  auto who = (*client)->ExecuteSync({"ACL", "WHOAMI"});
  ASSERT_THAT(who, IsOk());
  EXPECT_EQ(who->str(), "alice");
}

TEST_F(AuthTest, LegacyPassword) {
  RedisOptions o = Options();
  o.password = "defaultpw";
  auto client = CreateRedisClient(o);
  ASSERT_THAT(client, IsOk());
  EXPECT_EQ(*(*client)->ExecuteSync({"PING"}), RedisReply::Status("PONG"));
}

TEST_F(AuthTest, WrongPasswordIsRefusedWithoutPrintingIt) {
  RedisOptions o = Options();
  o.username = "alice";
  o.password = "not-the-password";
  auto client = CreateRedisClient(o);
  EXPECT_THAT(client, StatusIs(absl::StatusCode::kFailedPrecondition,
                               AllOf(HasSubstr("persistence.password: authentication failed"),
                                     HasSubstr("WRONGPASS"), HasSubstr("alice"),
                                     Not(HasSubstr("not-the-password")))));
  // Explicit mode: requests get the same error.
  o.mode = RedisMode::kStandalone;
  auto explicit_client = CreateRedisClient(o);
  ASSERT_THAT(explicit_client, IsOk());
  EXPECT_THAT((*explicit_client)->ExecuteSync({"PING"}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("WRONGPASS")));
}

TEST_F(AuthTest, MissingPasswordIsReported) {
  EXPECT_THAT(CreateRedisClient(Options()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("persistence.password"), HasSubstr("NOAUTH"))));
}

}  // namespace
}  // namespace orch::redis
