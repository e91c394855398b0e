// session-engine's options (Definition().add_options) as a TOML file sets
// them: the compatibility options of restart without persistence and what
// each refuses, naming the option.

#include "services/session_engine/session_engine.h"

#include "common/base/environment.h"
#include "common/config/config.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace orch::session_engine {
namespace {

using ::orch::testing::StatusIs;
using ::testing::HasSubstr;

absl::StatusOr<config::Config> Parse(const std::string& toml) {
  static const config::Schema* schema = [] {
    auto* s = new config::Schema();
    Definition().add_options(s);
    return s;
  }();
  return config::Config::Parse(*schema, toml, "test.toml", MapEnvironment());
}

TEST(SessionEngineOptionsTest, Defaults) {
  auto c = Parse("");
  ASSERT_OK(c);
  EXPECT_EQ(c->GetInt("orchestration.session-restart-timeout"), 50);
  EXPECT_EQ(c->GetInt("scxml.session-processing-threads"), 8);
  EXPECT_TRUE(c->GetBool("orchestration.sessionid-with-nodeid"));
  EXPECT_EQ(c->GetInt("orchestration.backup-synch-max-buffer"), 100);
  EXPECT_EQ(c->GetInt("orchestration.backup-synch-max-age"), 600);
  EXPECT_EQ(c->GetString("persistence.cassandra-nodes"), "");
}

TEST(SessionEngineOptionsTest, ACopiedRecoveryWithoutPersistenceConfigLoads) {
  auto c = Parse(
      "[orchestration]\nsession-restart-timeout = 10\nsessionid-with-nodeid = false\n"
      "backup-synch-max-buffer = 200\nbackup-synch-max-age = 10\n"
      "[persistence]\ncassandra-nodes = \"unknown\"\n");
  ASSERT_OK(c);
  EXPECT_EQ(c->GetInt("orchestration.session-restart-timeout"), 10);
  EXPECT_FALSE(c->GetBool("orchestration.sessionid-with-nodeid"));
}

TEST(SessionEngineOptionsTest, OutOfRangeValuesAreRefusedNamingTheOption) {
  EXPECT_THAT(Parse("[orchestration]\nsession-restart-timeout = 9\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("session-restart-timeout")));
  EXPECT_THAT(Parse("[orchestration]\nbackup-synch-max-buffer = 99\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("backup-synch-max-buffer")));
  EXPECT_THAT(Parse("[orchestration]\nbackup-synch-max-age = 9\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("backup-synch-max-age")));
}

TEST(SessionEngineOptionsTest, CassandraNodesOtherThanUnknownAreRefused) {
  auto c = Parse("[persistence]\ncassandra-nodes = \"10.0.0.1;10.0.0.2\"\n");
  EXPECT_THAT(c, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cassandra-nodes")));
  EXPECT_THAT(c, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Cassandra is not supported")));
}

}  // namespace
}  // namespace orch::session_engine
