#include "common/base/net.h"

#include "common/testing/net.h"
#include "common/testing/status_matchers.h"
#include "gtest/gtest.h"

namespace orch {
namespace {

using ::orch::testing::IsOk;
using ::orch::testing::StatusIs;
using ::testing::HasSubstr;

TEST(SplitHostPortTest, Forms) {
  auto a = SplitHostPort("127.0.0.1:80");
  ASSERT_OK(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 80);
  auto b = SplitHostPort("[::1]:0");
  ASSERT_OK(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_FALSE(SplitHostPort("nohost").ok());
  EXPECT_FALSE(SplitHostPort("h:99999").ok());
}

TEST(ValidateHostPortTest, FormsAndPortRange) {
  EXPECT_THAT(ValidateHostPort("127.0.0.1:0", 0), IsOk());
  EXPECT_THAT(ValidateHostPort("[::1]:7001", 1), IsOk());
  EXPECT_THAT(ValidateHostPort("127.0.0.1:0", 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("the port must be 1..65535")));
  EXPECT_THAT(ValidateHostPort("::1:7001", 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("write IPv6 hosts as [addr]")));
  EXPECT_THAT(ValidateHostPort("[::1:7001", 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("an IPv6 host is written [addr]")));
  EXPECT_THAT(ValidateHostPort("a b:1", 1), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad host")));
  EXPECT_THAT(ValidateHostPort("a\nb:1", 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("\"a\\nb:1\" is not host:port: it has a control character")));
  EXPECT_THAT(ValidateHostPort(":1", 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("':1' is not host:port")));
}

TEST(CheckCanListenTest, FreeBusyAndBogus) {
  EXPECT_THAT(CheckCanListen("127.0.0.1:0"), IsOk());
  testing::HeldPort held;
  EXPECT_THAT(CheckCanListen(held.address()),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("address already in use")));
  EXPECT_THAT(CheckCanListen("192.0.2.1:0"),  // TEST-NET-1: not an address of this host
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Cannot assign requested address")));
  EXPECT_THAT(CheckCanListen("no-such-host.invalid:1"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cannot listen on no-such-host")));
}

}  // namespace
}  // namespace orch
