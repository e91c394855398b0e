#include "common/base/environment.h"

#include <cstdlib>

#include "gtest/gtest.h"

namespace orch {
namespace {

TEST(RealEnvironmentTest, ReadsProcessEnvironment) {
  ::setenv("ORCHTEST_ENV_A", "1", 1);
  ::setenv("ORCHTEST_ENV_B", "two=2", 1);
  RealEnvironment env;
  EXPECT_EQ(env.Get("ORCHTEST_ENV_B"), "two=2");
  EXPECT_EQ(env.Get("ORCHTEST_ENV_MISSING"), std::nullopt);
  auto all = env.WithPrefix("ORCHTEST_ENV_");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all["ORCHTEST_ENV_A"], "1");
}

TEST(MapEnvironmentTest, PrefixFilters) {
  MapEnvironment env({{"ORCH_A", "1"}, {"ORCHX", "2"}, {"HOME", "/"}});
  EXPECT_EQ(env.WithPrefix("ORCH_").size(), 1u);
  EXPECT_EQ(env.Get("HOME"), "/");
}

}  // namespace
}  // namespace orch
