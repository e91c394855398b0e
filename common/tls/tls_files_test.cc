#include "common/tls/tls_files.h"

#include "common/testing/certs.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gtest/gtest.h"

namespace orch::tls {
namespace {

using ::orch::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

class TlsFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto certs = testing::MakeTestCerts(dir_.path());
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *certs;
  }
  TlsPaths Paths(std::string cert, std::string key, std::string ca = "") {
    return TlsPaths{cert, key, ca, "server.tls-cert", "server.tls-key", "server.tls-client-ca"};
  }
  testing::TempDir dir_;
  testing::TestCerts certs_;
};

TEST_F(TlsFilesTest, LoadsMatchingFiles) {
  auto files = LoadTlsFiles(Paths(certs_.server_cert, certs_.server_key, certs_.ca_cert));
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_TRUE(files->enabled());
  EXPECT_THAT(files->cert_pem, HasSubstr("BEGIN CERTIFICATE"));
  EXPECT_THAT(files->key_pem, HasSubstr("PRIVATE KEY"));
  EXPECT_THAT(files->ca_pem, HasSubstr("BEGIN CERTIFICATE"));
}

TEST_F(TlsFilesTest, NothingSetMeansTlsOff) {
  auto files = LoadTlsFiles(Paths("", ""));
  ASSERT_TRUE(files.ok());
  EXPECT_FALSE(files->enabled());
}

TEST_F(TlsFilesTest, ErrorsNameTheOption) {
  EXPECT_THAT(LoadTlsFiles(Paths(certs_.server_cert, "")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("set both or neither")));
  EXPECT_THAT(LoadTlsFiles(Paths(dir_.path() + "/nope.pem", certs_.server_key)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("server.tls-cert: cannot read"), HasSubstr("No such file"))));
  EXPECT_THAT(LoadTlsFiles(Paths(certs_.server_key, certs_.server_key)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("server.tls-cert: '" + certs_.server_key + "' holds no PEM certificate")));
  EXPECT_THAT(LoadTlsFiles(Paths(certs_.server_cert, certs_.server_cert)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("server.tls-key: '" + certs_.server_cert + "' holds no PEM private key")));
  EXPECT_THAT(LoadTlsFiles(Paths(certs_.server_cert, certs_.other_key)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not match the certificate")));
  EXPECT_THAT(LoadTlsFiles(Paths(certs_.server_cert, certs_.server_key, certs_.server_key)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("server.tls-client-ca"), Not(HasSubstr("PRIVATE")))));
}

}  // namespace
}  // namespace orch::tls
