#include "common/metrics/metrics_server.h"

#include "common/testing/http_client.h"
#include "common/testing/net.h"
#include "common/testing/status_matchers.h"
#include "gtest/gtest.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace orch::metrics {
namespace {

using ::orch::testing::StatusIs;
using ::testing::HasSubstr;

TEST(MetricsServerTest, ServesStandardAndCustomMetrics) {
  auto server = MetricsServer::Start("127.0.0.1:0", "orch_test", "1.2.3");
  ASSERT_OK(server);
  EXPECT_GT((*server)->port(), 0);
  EXPECT_EQ((*server)->address(), "127.0.0.1:" + std::to_string((*server)->port()));
  prometheus::BuildCounter()
      .Name((*server)->Name("widgets_total"))
      .Help("Widgets.")
      .Register((*server)->registry())
      .Add({})
      .Increment(3);
  auto response = testing::HttpGet("http://" + (*server)->address() + "/metrics");
  ASSERT_OK(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_THAT(response->body, HasSubstr("orch_test_build_info{version=\"1.2.3\"} 1"));
  EXPECT_THAT(response->body, HasSubstr("orch_test_start_time_seconds "));
  EXPECT_THAT(response->body, HasSubstr("orch_test_widgets_total 3"));
}

TEST(MetricsServerTest, PortInUseIsAClearError) {
  testing::HeldPort held;
  EXPECT_THAT(MetricsServer::Start(held.address(), "orch_test", "1"),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("address already in use")));
}

}  // namespace
}  // namespace orch::metrics
