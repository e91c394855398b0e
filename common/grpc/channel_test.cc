#include "common/grpc/channel.h"

#include "common/config/client_tls.h"
#include "common/testing/certs.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gtest/gtest.h"

namespace orch::grpc_util {
namespace {

using ::orch::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

class ChannelOptionsFromConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto certs = testing::MakeTestCerts(dir_.path());
    ASSERT_OK(certs);
    certs_ = *certs;
    config::AddClientTlsOptions(&schema_, "routing", "proxy", "persistence-proxy");
  }
  // The options from `toml` lines of [routing].
  absl::StatusOr<ChannelOptions> From(const std::string& toml) {
    auto c = config::Config::Parse(schema_, "[routing]\n" + toml, "t.toml", MapEnvironment());
    if (!c.ok()) return c.status();
    return ChannelOptionsFromConfig(*c, "routing.proxy");
  }
  static std::string Line(const std::string& option, const std::string& value) {
    return "proxy-tls-" + option + " = \"" + value + "\"\n";
  }
  testing::TempDir dir_;
  testing::TestCerts certs_;
  config::Schema schema_;
};

TEST_F(ChannelOptionsFromConfigTest, NothingSetIsPlaintext) {
  auto o = From("");
  ASSERT_OK(o);
  EXPECT_TRUE(o->tls.ca_pem.empty());
  EXPECT_FALSE(o->tls.enabled());
}

TEST_F(ChannelOptionsFromConfigTest, CaAloneVerifiesTheServer) {
  auto o = From(Line("ca", certs_.ca_cert) + Line("server-name", "proxy.internal"));
  ASSERT_OK(o);
  EXPECT_THAT(o->tls.ca_pem, HasSubstr("BEGIN CERTIFICATE"));
  EXPECT_FALSE(o->tls.enabled());
  EXPECT_EQ(o->server_name, "proxy.internal");
}

TEST_F(ChannelOptionsFromConfigTest, CertificateKeyAndCaAreMutualTls) {
  auto o = From(Line("ca", certs_.ca_cert) + Line("cert", certs_.client_cert) + Line("key", certs_.client_key));
  ASSERT_OK(o);
  EXPECT_TRUE(o->tls.enabled());
  EXPECT_THAT(o->tls.key_pem, HasSubstr("PRIVATE KEY"));
}

TEST_F(ChannelOptionsFromConfigTest, CertificateNeedsTheCa) {
  EXPECT_THAT(From(Line("cert", certs_.client_cert) + Line("key", certs_.client_key)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("routing.proxy-tls-cert needs routing.proxy-tls-ca")));
}

TEST_F(ChannelOptionsFromConfigTest, CertificateAndKeyComeTogether) {
  EXPECT_THAT(From(Line("ca", certs_.ca_cert) + Line("cert", certs_.client_cert)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("routing.proxy-tls-cert"), HasSubstr("routing.proxy-tls-key"))));
  EXPECT_THAT(From(Line("ca", certs_.ca_cert) + Line("key", certs_.client_key)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("routing.proxy-tls-key")));
}

TEST_F(ChannelOptionsFromConfigTest, BadFilesNameTheirOption) {
  EXPECT_THAT(From(Line("ca", dir_.path() + "/missing.pem")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("routing.proxy-tls-ca")));
  EXPECT_THAT(From(Line("ca", certs_.ca_cert) + Line("cert", certs_.client_cert) + Line("key", certs_.other_key)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("routing.proxy-tls-key"), HasSubstr("does not match"))));
}

}  // namespace
}  // namespace orch::grpc_util
