// Unit tests of Authenticator: configuration errors, bearer tokens (from the
// option and from the tokens file), client certificates, anonymous access,
// messages that never echo a token, and reloading the tokens file.

#include "services/rest_gateway/auth.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace orch::rest_gateway {
namespace {

using ::orch::testing::IsOk;
using ::orch::testing::IsOkAndHolds;
using ::orch::testing::StatusIs;
using ::orch::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "s3cret-token-0123456789";        // auth.token
constexpr char kAlice[] = "alice-token-abcdefghijklmnop";   // in the file
constexpr char kBob[] = "bob-token-ABCDEFGHIJKLMNOPQR";

HttpRequest WithAuthorization(const std::string& value) {
  HttpRequest r;
  r.method = "POST";
  r.target = "/scxml/session/start";
  r.peer_ip = "10.1.2.3";
  r.headers.emplace_back("authorization", value);
  return r;
}

HttpRequest Bearer(const std::string& token) { return WithAuthorization("Bearer " + token); }

HttpRequest NoCredentials() {
  HttpRequest r;
  r.peer_ip = "10.1.2.3";
  return r;
}

HttpRequest WithCert(const std::string& cn) {
  HttpRequest r = NoCredentials();
  r.tls = true;
  r.client_cert_cn = cn;
  return r;
}

// Sets the file's modification time explicitly, so that a rewrite within the
// same second (or a coarse file system clock) still looks changed.
void SetMtime(const std::string& path, time_t seconds) {
  struct timespec times[2];
  times[0].tv_sec = seconds;
  times[0].tv_nsec = 0;
  times[1] = times[0];
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
}

std::unique_ptr<Authenticator> MustCreate(const AuthOptions& o) {
  auto a = Authenticator::Create(o);
  EXPECT_THAT(a, IsOk());
  return a.ok() ? *std::move(a) : nullptr;
}

// ------------------------------------------------------------------ Create

TEST(AuthenticatorCreateTest, NothingConfiguredIsAnError) {
  EXPECT_THAT(Authenticator::Create(AuthOptions{}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("auth.token")));
}

TEST(AuthenticatorCreateTest, AnonymousAloneIsFine) {
  AuthOptions o;
  o.allow_anonymous = true;
  auto a = Authenticator::Create(o);
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ((*a)->token_count(), 0u);
}

TEST(AuthenticatorCreateTest, ClientCertIdentitiesAloneAreFine) {
  AuthOptions o;
  o.client_cert_identities = {"orch-test-client"};
  EXPECT_THAT(Authenticator::Create(o), IsOk());
}

TEST(AuthenticatorCreateTest, ShortTokenIsAnError) {
  AuthOptions o;
  o.token = "fifteen-chars-x";  // 15
  ASSERT_EQ(o.token.size(), 15u);
  auto a = Authenticator::Create(o);
  EXPECT_THAT(a, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("auth.token")));
  EXPECT_THAT(a, StatusIs(absl::StatusCode::kInvalidArgument, Not(HasSubstr(o.token))));
  o.token = "sixteen-chars-xx";  // 16
  EXPECT_THAT(Authenticator::Create(o), IsOk());
}

TEST(AuthenticatorCreateTest, TokenWithSpacesIsAnError) {
  AuthOptions o;
  o.token = "a token with spaces in it";
  EXPECT_THAT(Authenticator::Create(o), StatusIs(absl::StatusCode::kInvalidArgument));
  o.token = "a-token-with-a-tab\tinside";
  EXPECT_THAT(Authenticator::Create(o), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(AuthenticatorCreateTest, MissingTokensFileIsAnError) {
  TempDir dir;
  AuthOptions o;
  o.tokens_file = dir.path() + "/no-such-file";
  EXPECT_THAT(Authenticator::Create(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                                 HasSubstr("auth.tokens-file: cannot read " + o.tokens_file)));
  // Even when another credential is configured.
  o.token = kToken;
  EXPECT_THAT(Authenticator::Create(o), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(AuthenticatorCreateTest, MalformedLinesAreReportedAsFileAndLine) {
  TempDir dir;
  struct Case {
    std::string content;
    int line;
    std::string secret;  // must not appear in the message
  };
  const Case cases[] = {
      {absl::StrCat("# clients\n\nalice ", kAlice, "\nbob\n"), 4, kAlice},
      {absl::StrCat("alice ", kAlice, " extra\n"), 1, kAlice},
      {"alice short-token\n", 1, "short-token"},
      {absl::StrCat("alice ", kAlice, "\n  \n", std::string(65, 'n'), " ", kBob, "\n"), 3, kBob},
      {absl::StrCat("alice ", kAlice, "\nbob ", kBob, "\xC3\xA9\n"), 2, kBob},  // non-ASCII token
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.content);
    AuthOptions o;
    o.tokens_file = dir.WriteFile("tokens", c.content);
    auto a = Authenticator::Create(o);
    EXPECT_THAT(a, StatusIs(absl::StatusCode::kInvalidArgument,
                            HasSubstr(absl::StrCat(o.tokens_file, ":", c.line, ":"))));
    EXPECT_THAT(a, StatusIs(absl::StatusCode::kInvalidArgument, Not(HasSubstr(c.secret))));
  }
}

TEST(AuthenticatorCreateTest, CommentsBlankLinesTabsAndCrlf) {
  TempDir dir;
  AuthOptions o;
  o.tokens_file = dir.WriteFile(
      "tokens", absl::StrCat("# a comment\n\n   \nalice\t", kAlice, "\r\n  bob   ", kBob, "  \n# ", kToken, "\n"));
  auto a = Authenticator::Create(o);
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ((*a)->token_count(), 2u);
  EXPECT_THAT((*a)->Authenticate(Bearer(kAlice)), IsOkAndHolds("token:alice"));
  EXPECT_THAT((*a)->Authenticate(Bearer(kBob)), IsOkAndHolds("token:bob"));
  // A commented-out token is not a token.
  EXPECT_THAT((*a)->Authenticate(Bearer(kToken)), StatusIs(absl::StatusCode::kUnauthenticated));
}

// ------------------------------------------------------------ Authenticate

class BearerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AuthOptions o;
    o.token = kToken;
    o.tokens_file = dir_.WriteFile("tokens", absl::StrCat("alice ", kAlice, "\nbob ", kBob, "\n"));
    auth_ = MustCreate(o);
    ASSERT_NE(auth_, nullptr);
  }
  TempDir dir_;
  std::unique_ptr<Authenticator> auth_;
};

TEST_F(BearerTest, RightTokens) {
  EXPECT_EQ(auth_->token_count(), 3u);
  EXPECT_THAT(auth_->Authenticate(Bearer(kToken)), IsOkAndHolds("token:default"));
  EXPECT_THAT(auth_->Authenticate(Bearer(kAlice)), IsOkAndHolds("token:alice"));
  EXPECT_THAT(auth_->Authenticate(Bearer(kBob)), IsOkAndHolds("token:bob"));
}

TEST_F(BearerTest, SchemeIsCaseInsensitiveAndSpacesAreTrimmed) {
  EXPECT_THAT(auth_->Authenticate(WithAuthorization(absl::StrCat("bearer ", kAlice))), IsOkAndHolds("token:alice"));
  EXPECT_THAT(auth_->Authenticate(WithAuthorization(absl::StrCat("BEARER   ", kAlice, "  "))),
              IsOkAndHolds("token:alice"));
}

TEST_F(BearerTest, MissingHeaderIs401) {
  auto r = auth_->Authenticate(NoCredentials());
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("Bearer")));
}

TEST_F(BearerTest, OtherSchemesAre401) {
  for (const std::string& v : {absl::StrCat("Basic ", kAlice), absl::StrCat("Token ", kAlice), std::string(kAlice),
                               std::string("Bearer"), std::string("Bearer "), absl::StrCat("Bearer", kAlice),
                               std::string("")}) {
    SCOPED_TRACE(v);
    auto r = auth_->Authenticate(WithAuthorization(v));
    EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnauthenticated));
    EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnauthenticated, Not(HasSubstr(kAlice))));
  }
}

TEST_F(BearerTest, WrongTokensAre401AndNeverEchoed) {
  const std::string wrong = "wrong-token-zyxwvutsrqponm";
  for (const std::string& t : {wrong, std::string(kAlice) + "x", std::string(kAlice).substr(1),
                               std::string(kAlice).substr(0, 16), std::string("alice")}) {
    SCOPED_TRACE(t);
    auto r = auth_->Authenticate(Bearer(t));
    EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnauthenticated));
    EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnauthenticated, Not(HasSubstr(t))));
  }
  // A client name is not a token.
  EXPECT_THAT(auth_->Authenticate(Bearer("token:alice")), StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(AuthenticateTest, AWrongTokenIsNotRescuedByAnonymousOrCert) {
  AuthOptions o;
  o.token = kToken;
  o.allow_anonymous = true;
  o.client_cert_identities = {"client-a"};
  auto a = MustCreate(o);
  HttpRequest r = Bearer("wrong-token-zyxwvutsrqponm");
  r.client_cert_cn = "client-a";
  EXPECT_THAT(a->Authenticate(r), StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(AuthenticateTest, ClientCertificates) {
  AuthOptions o;
  o.client_cert_identities = {"client-a", "client-b"};
  auto a = MustCreate(o);
  ASSERT_NE(a, nullptr);
  EXPECT_THAT(a->Authenticate(WithCert("client-a")), IsOkAndHolds("cert:client-a"));
  EXPECT_THAT(a->Authenticate(WithCert("client-b")), IsOkAndHolds("cert:client-b"));
  // Not allowed: 403, not 401.
  EXPECT_THAT(a->Authenticate(WithCert("client-c")), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(a->Authenticate(WithCert("Client-A")), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(a->Authenticate(WithCert("client-")), StatusIs(absl::StatusCode::kPermissionDenied));
  // No certificate and no token: 401.
  EXPECT_THAT(a->Authenticate(NoCredentials()), StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(AuthenticateTest, TokenWinsOverCertificate) {
  AuthOptions o;
  o.token = kToken;
  o.client_cert_identities = {"client-a"};
  auto a = MustCreate(o);
  HttpRequest r = Bearer(kToken);
  r.client_cert_cn = "client-a";
  EXPECT_THAT(a->Authenticate(r), IsOkAndHolds("token:default"));
  HttpRequest c = WithCert("client-a");
  EXPECT_THAT(a->Authenticate(c), IsOkAndHolds("cert:client-a"));
}

TEST(AuthenticateTest, Anonymous) {
  AuthOptions o;
  o.allow_anonymous = true;
  o.token = kToken;
  o.client_cert_identities = {"client-a"};
  auto a = MustCreate(o);
  EXPECT_THAT(a->Authenticate(NoCredentials()), IsOkAndHolds("anonymous:10.1.2.3"));
  // A certificate that is not listed falls back to anonymous.
  EXPECT_THAT(a->Authenticate(WithCert("client-x")), IsOkAndHolds("anonymous:10.1.2.3"));
  EXPECT_THAT(a->Authenticate(WithCert("client-a")), IsOkAndHolds("cert:client-a"));
  EXPECT_THAT(a->Authenticate(Bearer(kToken)), IsOkAndHolds("token:default"));
}

TEST(AuthenticateTest, NotAnonymousWithoutTheOption) {
  AuthOptions o;
  o.token = kToken;
  auto a = MustCreate(o);
  EXPECT_THAT(a->Authenticate(NoCredentials()), StatusIs(absl::StatusCode::kUnauthenticated));
  // A certificate with no identities configured is not allowed.
  EXPECT_THAT(a->Authenticate(WithCert("anyone")), StatusIs(absl::StatusCode::kPermissionDenied));
}

// ------------------------------------------------------------------ Reload

TEST(AuthenticatorReloadTest, PicksUpAChangedFile) {
  TempDir dir;
  AuthOptions o;
  o.tokens_file = dir.WriteFile("tokens", absl::StrCat("alice ", kAlice, "\n"));
  SetMtime(o.tokens_file, 1000000000);
  auto a = MustCreate(o);
  ASSERT_NE(a, nullptr);
  EXPECT_THAT(a->Authenticate(Bearer(kAlice)), IsOkAndHolds("token:alice"));
  EXPECT_THAT(a->Authenticate(Bearer(kBob)), StatusIs(absl::StatusCode::kUnauthenticated));

  // Unchanged: nothing happens.
  EXPECT_THAT(a->Reload(), IsOk());
  EXPECT_EQ(a->token_count(), 1u);

  dir.WriteFile("tokens", absl::StrCat("bob ", kBob, "\ncarol ", kToken, "\n"));
  SetMtime(o.tokens_file, 1000000001);
  EXPECT_THAT(a->Reload(), IsOk());
  EXPECT_EQ(a->token_count(), 2u);
  EXPECT_THAT(a->Authenticate(Bearer(kBob)), IsOkAndHolds("token:bob"));
  EXPECT_THAT(a->Authenticate(Bearer(kToken)), IsOkAndHolds("token:carol"));
  // Rotated out.
  EXPECT_THAT(a->Authenticate(Bearer(kAlice)), StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(AuthenticatorReloadTest, SameMtimeIsNotReRead) {
  TempDir dir;
  AuthOptions o;
  o.tokens_file = dir.WriteFile("tokens", absl::StrCat("alice ", kAlice, "\n"));
  SetMtime(o.tokens_file, 1000000000);
  auto a = MustCreate(o);
  dir.WriteFile("tokens", absl::StrCat("bob ", kBob, "\n"));
  SetMtime(o.tokens_file, 1000000000);
  EXPECT_THAT(a->Reload(), IsOk());
  EXPECT_THAT(a->Authenticate(Bearer(kAlice)), IsOkAndHolds("token:alice"));
}

TEST(AuthenticatorReloadTest, MalformedNewFileKeepsTheOldTokens) {
  TempDir dir;
  AuthOptions o;
  o.token = kToken;
  o.tokens_file = dir.WriteFile("tokens", absl::StrCat("alice ", kAlice, "\n"));
  SetMtime(o.tokens_file, 1000000000);
  auto a = MustCreate(o);
  ASSERT_NE(a, nullptr);

  dir.WriteFile("tokens", absl::StrCat("bob ", kBob, "\nbroken-line-without-token\n"));
  SetMtime(o.tokens_file, 1000000002);
  auto st = a->Reload();
  EXPECT_THAT(st, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(absl::StrCat(o.tokens_file, ":2"))));
  EXPECT_THAT(st, StatusIs(absl::StatusCode::kInvalidArgument, Not(HasSubstr(kBob))));
  EXPECT_EQ(a->token_count(), 2u);
  EXPECT_THAT(a->Authenticate(Bearer(kAlice)), IsOkAndHolds("token:alice"));
  EXPECT_THAT(a->Authenticate(Bearer(kToken)), IsOkAndHolds("token:default"));
  EXPECT_THAT(a->Authenticate(Bearer(kBob)), StatusIs(absl::StatusCode::kUnauthenticated));

  // Fixed later: picked up, and auth.token is still there.
  dir.WriteFile("tokens", absl::StrCat("bob ", kBob, "\n"));
  SetMtime(o.tokens_file, 1000000003);
  EXPECT_THAT(a->Reload(), IsOk());
  EXPECT_THAT(a->Authenticate(Bearer(kBob)), IsOkAndHolds("token:bob"));
  EXPECT_THAT(a->Authenticate(Bearer(kToken)), IsOkAndHolds("token:default"));
  EXPECT_THAT(a->Authenticate(Bearer(kAlice)), StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(AuthenticatorReloadTest, DeletedFileKeepsTheOldTokens) {
  TempDir dir;
  AuthOptions o;
  o.tokens_file = dir.WriteFile("tokens", absl::StrCat("alice ", kAlice, "\n"));
  auto a = MustCreate(o);
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(unlink(o.tokens_file.c_str()), 0);
  EXPECT_THAT(a->Reload(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cannot read")));
  EXPECT_THAT(a->Authenticate(Bearer(kAlice)), IsOkAndHolds("token:alice"));
}

TEST(AuthenticatorReloadTest, WithoutAFileReloadIsANoOp) {
  AuthOptions o;
  o.token = kToken;
  auto a = MustCreate(o);
  EXPECT_THAT(a->Reload(), IsOk());
  EXPECT_EQ(a->token_count(), 1u);
}

}  // namespace
}  // namespace orch::rest_gateway
