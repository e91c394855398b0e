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
