#include "common/redis/redis_options.h"

#include "common/redis/redis_client.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace orch::redis {
namespace {

using ::orch::testing::IsOk;
using ::orch::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

RedisOptions Base() {
  RedisOptions o;
  o.nodes = {"127.0.0.1:6379"};
  return o;
}

TEST(RedisOptionsTest, AcceptsMinimal) { EXPECT_THAT(ValidateRedisOptions(Base()), IsOk()); }

TEST(RedisOptionsTest, NodesMustParse) {
  RedisOptions o = Base();
  o.nodes = {};
  EXPECT_THAT(ValidateRedisOptions(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                                HasSubstr("persistence.redis-nodes")));
  o.nodes = {"127.0.0.1:6379", "nohost"};
  EXPECT_THAT(ValidateRedisOptions(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                                HasSubstr("persistence.redis-nodes: 'nohost'")));
  o.nodes = {"[::1]:6379"};
  EXPECT_THAT(ValidateRedisOptions(o), IsOk());
}

TEST(RedisOptionsTest, UsernameNeedsPasswordAndPasswordIsNeverPrinted) {
  RedisOptions o = Base();
  o.username = "alice";
  EXPECT_THAT(ValidateRedisOptions(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                                HasSubstr("persistence.username")));
  o.password = "s3cret-value";
  o.tls_cert = "/nonexistent.pem";  // TLS option without tls-enabled
  absl::Status s = ValidateRedisOptions(o);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("persistence.tls-enabled")));
  EXPECT_THAT(std::string(s.message()), Not(HasSubstr("s3cret-value")));
}

TEST(RedisOptionsTest, TlsFilesAreChecked) {
  orch::testing::TempDir dir;
  RedisOptions o = Base();
  o.tls_enabled = true;
  o.tls_cert = dir.WriteFile("c.pem", "not a cert");
  EXPECT_THAT(ValidateRedisOptions(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                                HasSubstr("persistence.tls-cert and persistence.tls-key")));
  o.tls_key = dir.WriteFile("k.pem", "not a key");
  EXPECT_THAT(ValidateRedisOptions(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                                HasSubstr("persistence.tls-cert")));
  o.tls_cert.clear();
  o.tls_key.clear();
  o.tls_cacert = dir.path() + "/missing.pem";
  EXPECT_THAT(ValidateRedisOptions(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                                HasSubstr("persistence.tls-cacert")));
  o.tls_cacert.clear();
  o.tls_cacertdir = dir.path() + "/c.pem";
  EXPECT_THAT(ValidateRedisOptions(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                                HasSubstr("persistence.tls-cacertdir")));
  o.tls_cacertdir = dir.path();
  EXPECT_THAT(ValidateRedisOptions(o), IsOk());
}

TEST(RedisOptionsTest, FactoryValidates) {
  RedisOptions o = Base();
  o.nodes = {"x"};
  EXPECT_THAT(CreateRedisClient(o), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(RedisScriptTest, Sha1) {
  // sha1("return 1"), as SCRIPT LOAD would answer.
  EXPECT_EQ(RedisScript("return 1").sha1(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

}  // namespace
}  // namespace orch::redis
