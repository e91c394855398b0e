#include "common/process/reload.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log/log.h"
#include "common/process/process.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gtest/gtest.h"

namespace orch::process {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Outcome = ReloadResult::Outcome;

class RecordingComponent final : public Component {
 public:
  std::vector<::grpc::Service*> Services() override { return {}; }
  absl::Status Reload(const config::Config& next, const std::vector<std::string>& changed) override {
    calls.push_back(changed);
    if (!refuse.ok()) return refuse;
    pace = next.GetInt("work.pace-ms");
    return absl::OkStatus();
  }
  std::vector<std::vector<std::string>> calls;
  absl::Status refuse;
  int64_t pace = -1;
};

class ReloadTest : public ::testing::Test {
 protected:
  ReloadTest() {
    schema_.AddInt("work", "pace-ms", 50, 10, 1000, "reloadable");
    schema_.SetReloadable("work.pace-ms");
    schema_.AddInt("work", "threads", 8, 1, 64, "not reloadable");
    schema_.Add({.section = "work", .name = "password", .type = config::OptionType::kString,
                 .default_value = std::string(), .help = "a secret", .secret = true});
    schema_.Add({.section = "log", .name = "level", .type = config::OptionType::kString,
                 .default_value = std::string("info"), .help = "", .allowed = {"debug", "info", "warn", "error"},
                 .reloadable = true});
    log::SetSinkForTesting([this](std::string_view line) { lines_.emplace_back(line); });
  }
  ~ReloadTest() override {
    log::SetSinkForTesting(nullptr);
    log::SetLevel(log::Level::kInfo);
  }

  config::Config Load(const std::string& toml) {
    path_ = dir_.WriteFile("p.toml", toml);
    auto c = config::Config::Load(schema_, path_, env_);
    EXPECT_OK(c);
    return *c;
  }
  ReloadResult Reload(const std::string& toml, config::Config* running, Component* component) {
    dir_.WriteFile("p.toml", toml);
    return ReloadConfiguration(schema_, path_, env_, running, component);
  }
  bool Logged(const std::string& needle) const {
    for (const std::string& l : lines_) {
      if (absl::StrContains(l, needle)) return true;
    }
    return false;
  }

  config::Schema schema_;
  testing::TempDir dir_;
  MapEnvironment env_;
  std::string path_;
  std::vector<std::string> lines_;
};

TEST_F(ReloadTest, AppliesReloadableOptionsAndRefusesTheRest) {
  config::Config running = Load("[work]\npace-ms = 50\nthreads = 8\npassword = \"old-secret\"\n");
  RecordingComponent component;
  const ReloadResult r =
      Reload("[work]\npace-ms = 200\nthreads = 16\npassword = \"new-secret\"\n", &running, &component);
  EXPECT_EQ(r.outcome, Outcome::kRefused);
  EXPECT_THAT(r.applied, ElementsAre("work.pace-ms"));
  EXPECT_THAT(r.refused, ElementsAre("work.password", "work.threads"));
  ASSERT_EQ(component.calls.size(), 1u);
  EXPECT_THAT(component.calls[0], ElementsAre("work.pace-ms"));
  EXPECT_EQ(component.pace, 200);
  // What runs: the applied value, the refused ones as they were.
  EXPECT_EQ(running.GetInt("work.pace-ms"), 200);
  EXPECT_EQ(running.GetInt("work.threads"), 8);
  EXPECT_TRUE(Logged("\"option\":\"work.threads\""));
  EXPECT_TRUE(Logged("takes effect only at a restart"));
  EXPECT_TRUE(Logged("\"new\":\"16\",\"running\":\"8\""));
  for (const std::string& l : lines_) {
    EXPECT_FALSE(absl::StrContains(l, "secret\"")) << "a secret in the log: " << l;
  }

  // The same file again: the refused options are refused again (the file
  // still differs from what runs), nothing is applied twice.
  const ReloadResult again =
      Reload("[work]\npace-ms = 200\nthreads = 16\npassword = \"new-secret\"\n", &running, &component);
  EXPECT_EQ(again.outcome, Outcome::kRefused);
  EXPECT_TRUE(again.applied.empty());
  EXPECT_EQ(component.calls.size(), 1u);
}

TEST_F(ReloadTest, NothingChangedIsUnchanged) {
  config::Config running = Load("[work]\npace-ms = 50\n");
  RecordingComponent component;
  const ReloadResult r = Reload("# a comment only\n[work]\npace-ms = 50\n", &running, &component);
  EXPECT_EQ(r.outcome, Outcome::kUnchanged);
  EXPECT_TRUE(component.calls.empty());
  EXPECT_TRUE(Logged("\"result\":\"unchanged\""));
}

TEST_F(ReloadTest, AFileThatDoesNotLoadChangesNothing) {
  config::Config running = Load("[work]\npace-ms = 50\n");
  RecordingComponent component;
  ReloadResult r = Reload("[work]\npace-ms = 5\n", &running, &component);
  EXPECT_EQ(r.outcome, Outcome::kFailed);
  EXPECT_THAT(std::string(r.error.message()), HasSubstr("p.toml:2"));
  EXPECT_THAT(std::string(r.error.message()), HasSubstr("work.pace-ms"));
  r = Reload("[work\npace-ms = 100\n", &running, &component);
  EXPECT_EQ(r.outcome, Outcome::kFailed);
  EXPECT_TRUE(component.calls.empty());
  EXPECT_EQ(running.GetInt("work.pace-ms"), 50);
  EXPECT_TRUE(Logged("configuration reload failed; the running configuration is kept"));
}

TEST_F(ReloadTest, AComponentThatRefusesKeepsEverything) {
  config::Config running = Load("[work]\npace-ms = 50\n[log]\nlevel = \"info\"\n");
  RecordingComponent component;
  component.refuse = absl::FailedPreconditionError("not now");
  const ReloadResult r = Reload("[work]\npace-ms = 100\n[log]\nlevel = \"error\"\n", &running, &component);
  EXPECT_EQ(r.outcome, Outcome::kFailed);
  EXPECT_EQ(running.GetInt("work.pace-ms"), 50);
  EXPECT_EQ(running.GetString("log.level"), "info");
  EXPECT_TRUE(log::Enabled(log::Level::kInfo));  // log.level went with the rest
}

TEST_F(ReloadTest, LogLevelIsTheRuntimesOwn) {
  config::Config running = Load("[log]\nlevel = \"info\"\n");
  // No component: only log.level can change.
  const ReloadResult r = Reload("[log]\nlevel = \"warn\"\n", &running, nullptr);
  EXPECT_EQ(r.outcome, Outcome::kApplied);
  EXPECT_FALSE(log::Enabled(log::Level::kInfo));
  EXPECT_TRUE(log::Enabled(log::Level::kWarn));
  EXPECT_TRUE(Logged("\"applied\":\"log.level\""));  // said before the new level applied

  const ReloadResult other = Reload("[log]\nlevel = \"warn\"\n[work]\npace-ms = 70\n", &running, nullptr);
  EXPECT_EQ(other.outcome, Outcome::kFailed);
  EXPECT_THAT(std::string(other.error.message()), HasSubstr("without a restart"));
}

TEST_F(ReloadTest, DefaultComponentRefusesReloadableOptions) {
  config::Config running = Load("[work]\npace-ms = 50\n");
  struct Plain final : Component {
    std::vector<::grpc::Service*> Services() override { return {}; }
  } plain;
  const ReloadResult r = Reload("[work]\npace-ms = 60\n", &running, &plain);
  EXPECT_EQ(r.outcome, Outcome::kFailed);
  EXPECT_THAT(std::string(r.error.message()), HasSubstr("work.pace-ms"));
  EXPECT_EQ(running.GetInt("work.pace-ms"), 50);
}

}  // namespace
}  // namespace orch::process
