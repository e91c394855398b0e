#include "tools/switch_sim/options.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace orch::switch_sim {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string ErrorOf(const std::vector<std::string>& args) {
  auto o = ParseOptions(args, 1000);
  return o.ok() ? "" : std::string(o.status().message());
}

TEST(OptionsTest, DefaultsAndLists) {
  auto o = ParseOptions({"--watcher", "127.0.0.1:1,127.0.0.1:2", "--routing-point=5000,5001", "--agents", "3"}, 255);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_THAT(o->sim.watchers, ElementsAre("127.0.0.1:1", "127.0.0.1:2"));
  EXPECT_THAT(o->sim.model.routing_points, ElementsAre("5000", "5001"));
  EXPECT_THAT(o->sim.model.agent_dns, ElementsAre("7001", "7002", "7003"));
  EXPECT_EQ(o->sim.model.run_id, "simff");
  EXPECT_EQ(o->sim.model.calls, 100);
  EXPECT_EQ(o->sim.drain_ms, 30000);
  EXPECT_TRUE(o->expect_no_double_routes);
  EXPECT_FALSE(o->json);
}

TEST(OptionsTest, EveryValueIsTaken) {
  auto o = ParseOptions({"--watcher", "h:1", "--watcher", "h:2", "--agent-dns", "8001,8002", "--overflow-dn", "9999",
                         "--rate", "400", "--arrival", "poisson", "--seed", "9", "--calls", "0", "--duration-s", "5",
                         "--treatment-ms", "50", "--digits", "42#", "--hold-ms", "300", "--wrapup-ms", "20",
                         "--patience-ms", "900", "--patience", "exp", "--drop-link-every-events", "50",
                         "--drain-s", "3", "--run-id", "r1", "--adapter-id", "a", "--json",
                         "--expect-no-double-routes=false", "--outcomes", "/tmp/x"},
                        0);
  ASSERT_TRUE(o.ok()) << o.status();
  const SwitchConfig& m = o->sim.model;
  EXPECT_THAT(o->sim.watchers, ElementsAre("h:1", "h:2"));
  EXPECT_THAT(m.agent_dns, ElementsAre("8001", "8002"));
  EXPECT_THAT(m.overflow_dns, ElementsAre("9999"));
  EXPECT_EQ(m.rate, 400);
  EXPECT_EQ(m.arrival, Arrival::kPoisson);
  EXPECT_EQ(m.seed, 9u);
  EXPECT_EQ(m.calls, 0);
  EXPECT_EQ(m.duration_ms, 5000);
  EXPECT_EQ(m.treatment_ms, 50);
  EXPECT_EQ(m.digits, "42#");
  EXPECT_EQ(m.hold_ms, 300);
  EXPECT_EQ(m.wrapup_ms, 20);
  EXPECT_EQ(m.patience_ms, 900);
  EXPECT_EQ(m.patience, Patience::kExponential);
  EXPECT_EQ(o->sim.drop_link_every_events, 50);
  EXPECT_EQ(o->sim.drain_ms, 3000);
  EXPECT_EQ(m.run_id, "r1");
  EXPECT_EQ(o->sim.adapter_id, "a");
  EXPECT_TRUE(o->json);
  EXPECT_FALSE(o->expect_no_double_routes);
  EXPECT_EQ(o->outcomes, "/tmp/x");
}

TEST(OptionsTest, ADurationAloneLiftsTheCallCount) {
  auto o = ParseOptions({"--watcher", "h:1", "--duration-s", "60"}, 0);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->sim.model.calls, 0);
  EXPECT_EQ(o->sim.model.duration_ms, 60000);
  o = ParseOptions({"--watcher", "h:1", "--duration-s", "60", "--calls", "500"}, 0);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->sim.model.calls, 500);
}

TEST(OptionsTest, HoldRange) {
  auto o = ParseOptions({"--watcher", "h:1", "--hold-min-ms", "20000", "--hold-max-ms=60000"}, 0);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->sim.model.hold_min_ms, 20000);
  EXPECT_EQ(o->sim.model.hold_max_ms, 60000);
  EXPECT_THAT(ErrorOf({"--watcher", "h:1", "--hold-min-ms", "5"}), HasSubstr("--hold-max-ms: required"));
  EXPECT_THAT(ErrorOf({"--watcher", "h:1", "--hold-max-ms", "5"}), HasSubstr("--hold-min-ms: required"));
  EXPECT_THAT(ErrorOf({"--watcher", "h:1", "--hold-min-ms", "6", "--hold-max-ms", "5"}), HasSubstr("--hold-max-ms"));
  EXPECT_THAT(ErrorOf({"--watcher", "h:1", "--hold-min-ms", "0", "--hold-max-ms", "0"}), HasSubstr("--hold-max-ms"));
  EXPECT_THAT(ErrorOf({"--watcher", "h:1", "--hold-ms", "5", "--hold-min-ms", "1", "--hold-max-ms", "9"}),
              HasSubstr("--hold-ms: give --hold-ms or"));
}

TEST(OptionsTest, BadInputNamesTheOption) {
  EXPECT_THAT(ErrorOf({}), HasSubstr("--watcher"));
  EXPECT_THAT(ErrorOf({"--watcher", "h:1", "--rate", "0"}), HasSubstr("--rate"));
  EXPECT_THAT(ErrorOf({"--watcher", "h:1", "--rate", "fast"}), HasSubstr("--rate"));
  EXPECT_THAT(ErrorOf({"--watcher", "h:1", "--arrival", "burst"}), HasSubstr("--arrival"));
  EXPECT_THAT(ErrorOf({"--watcher", "h:1", "--calls", "-1"}), HasSubstr("--calls"));
  EXPECT_THAT(ErrorOf({"--watcher", "h:1", "--calls", "0"}), HasSubstr("--duration-s"));
  EXPECT_THAT(ErrorOf({"--watcher", "h:1", "--hold-ms"}), HasSubstr("--hold-ms: needs a value"));
  EXPECT_THAT(ErrorOf({"--watcher", "h:1", "--agents", "2", "--agent-dns", "1"}), HasSubstr("--agents"));
  EXPECT_THAT(ErrorOf({"--watcher", "h:1", "--agent-dns", "5000"}), HasSubstr("5000 given twice"));
  EXPECT_THAT(ErrorOf({"--watcher", "h:1,"}), HasSubstr("--watcher"));
  EXPECT_THAT(ErrorOf({"--watcher", "h:1", "--digits", "1a"}), HasSubstr("--digits"));
  EXPECT_THAT(ErrorOf({"--watcher", "h:1", "--adapter-id", "a b"}), HasSubstr("--adapter-id"));
  EXPECT_THAT(ErrorOf({"--watcher", "h:1", "--seed", "1", "--seed", "2"}), HasSubstr("--seed: given twice"));
  EXPECT_THAT(ErrorOf({"--watcher", "h:1", "--frobnicate"}), HasSubstr("unknown option '--frobnicate'"));
}

}  // namespace
}  // namespace orch::switch_sim
