#include "common/config/validators.h"

#include "common/testing/status_matchers.h"
#include "gtest/gtest.h"

namespace orch::config {
namespace {

using ::orch::testing::IsOk;
using ::testing::Not;

TEST(ValidatorsTest, ListenAddress) {
  EXPECT_THAT(ValidateListenAddress(std::string("127.0.0.1:0")), IsOk());
  EXPECT_THAT(ValidateListenAddress(std::string("[::]:7001")), IsOk());
  EXPECT_THAT(ValidateListenAddress(std::string("localhost:65535")), IsOk());
  EXPECT_THAT(ValidateListenAddress(std::string("localhost:65536")), Not(IsOk()));
  EXPECT_THAT(ValidateListenAddress(std::string(":7001")), Not(IsOk()));
  EXPECT_THAT(ValidateListenAddress(std::string("::1:7001")), Not(IsOk()));
  EXPECT_THAT(ValidateListenAddress(std::string("host:x")), Not(IsOk()));
}

TEST(ValidatorsTest, EndpointNeedsARealPort) {
  EXPECT_THAT(ValidateEndpoint(std::string("127.0.0.1:6379")), IsOk());
  EXPECT_THAT(ValidateEndpoint(std::string("127.0.0.1:0")), Not(IsOk()));
  EXPECT_THAT(ValidateEndpointList(std::vector<std::string>{"a:1", "b:0"}), Not(IsOk()));
}

}  // namespace
}  // namespace orch::config
