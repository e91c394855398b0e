#include "common/config/client_tls.h"

#include <map>
#include <string>

#include "common/testing/status_matchers.h"
#include "gtest/gtest.h"

namespace orch::config {
namespace {

using ::orch::testing::IsOk;
using ::testing::HasSubstr;

TEST(ClientTlsOptionsTest, RegistersFourStringsOffByDefault) {
  Schema schema;
  AddClientTlsOptions(&schema, "routing", "engine", "session-engines");
  for (const char* key : {"routing.engine-tls-ca", "routing.engine-tls-cert", "routing.engine-tls-key",
                          "routing.engine-tls-server-name"}) {
    const Option* o = schema.Find(key);
    ASSERT_NE(o, nullptr) << key;
    EXPECT_EQ(o->type, OptionType::kString) << key;
    EXPECT_EQ(std::get<std::string>(o->default_value), "") << key;
  }
  EXPECT_THAT(schema.Find("routing.engine-tls-ca")->help, HasSubstr("session-engines"));
  EXPECT_THAT(schema.Find("routing.engine-tls-cert")->help, HasSubstr("engine-tls-key"));
  EXPECT_EQ(schema.options().size(), 4u);
}

TEST(ClientTlsOptionsTest, ReadFromFileAndEnvironment) {
  Schema schema;
  AddClientTlsOptions(&schema, "persistence", "proxy", "persistence-proxy");
  MapEnvironment env(std::map<std::string, std::string>{{"ORCH_PERSISTENCE_PROXY_TLS_SERVER_NAME", "proxy.internal"}});
  auto c = Config::Parse(schema, "[persistence]\nproxy-tls-ca = \"/etc/ca.pem\"\n", "t.toml", env);
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->GetString("persistence.proxy-tls-ca"), "/etc/ca.pem");
  EXPECT_EQ(c->GetString("persistence.proxy-tls-server-name"), "proxy.internal");
  EXPECT_EQ(c->GetString("persistence.proxy-tls-cert"), "");
}

}  // namespace
}  // namespace orch::config
