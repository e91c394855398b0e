#include "common/process/process.h"

#include "common/testing/status_matchers.h"
#include "gtest/gtest.h"

namespace orch::process {
namespace {

using ::orch::testing::IsOk;
using ::orch::testing::StatusIs;
using ::testing::HasSubstr;

ProcessDefinition Def() {
  return ProcessDefinition{
      .name = "test-process",
      .description = "a test",
      .metrics_prefix = "orch_test",
      .default_grpc_listen = "127.0.0.1:7999",
      .default_metrics_listen = "127.0.0.1:9999",
      .add_options =
          [](config::Schema* s) {
            s->Add({.section = "extra", .name = "knob", .type = config::OptionType::kInt,
                    .default_value = int64_t{3}, .help = "a knob", .min = 1, .max = 5});
          },
  };
}

TEST(BuildSchemaTest, CommonOptionsWithProcessDefaultsPlusOwn) {
  config::Schema schema = BuildSchema(Def());
  auto c = config::Config::Parse(schema, "", "", MapEnvironment());
  ASSERT_OK(c);
  EXPECT_EQ(c->GetString("server.grpc-listen"), "127.0.0.1:7999");
  EXPECT_EQ(c->GetString("metrics.listen"), "127.0.0.1:9999");
  EXPECT_EQ(c->GetInt("server.shutdown-grace-ms"), 10000);
  EXPECT_EQ(c->GetString("log.level"), "info");
  EXPECT_EQ(c->GetInt("extra.knob"), 3);
}

TEST(BuildSchemaTest, ClientCaWithoutServerCertIsRefused) {
  config::Schema schema = BuildSchema(Def());
  EXPECT_THAT(config::Config::Parse(schema, "[server]\ntls-client-ca = \"/ca.pem\"\n", "p.toml",
                                    MapEnvironment()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("p.toml:2: server.tls-client-ca needs server.tls-cert")));
  EXPECT_THAT(config::Config::Parse(schema, "[server]\ntls-cert = \"/c\"\ntls-key = \"/k\"\n"
                                    "tls-client-ca = \"/ca.pem\"\n", "p.toml", MapEnvironment()),
              IsOk());
}

}  // namespace
}  // namespace orch::process
