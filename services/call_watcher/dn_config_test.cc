#include "services/call_watcher/dn_config.h"

#include <sys/stat.h>
#include <sys/time.h>

#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace orch::call_watcher {
namespace {

using ::testing::HasSubstr;

constexpr char kFile[] = R"(
default-route = "7999"

[media.chat]
persistent = true

[groups]
sales = ["7001", "7002"]

[[dn]]
dn = "5000"
application = "http://app/route.scxml?ani=[ANI]&dnis=[DNIS]&seg=[UDATA.segment] file:/srv/fallback.scxml"
"application@east" = "file:/east.scxml"
default-route = "7001"
[dn.parameters]
greeting = "welcome"
retries = 3

[[dn]]
dn = "5000"
switch = "sip2"
application = "file:/sip2.scxml"
persistent = true

[[dn]]
dn = "5100"
"application@west" = "file:/west.scxml"
)";

TEST(DnConfigTest, ParsesEntriesGroupsAndMedia) {
  auto cfg = DnConfig::Parse(kFile, "dn.toml");
  ASSERT_OK(cfg);
  const DnConfig& c = **cfg;
  EXPECT_EQ(c.size(), 3u);
  const DnEntry* any = c.Find("sim", "5000");
  ASSERT_NE(any, nullptr);
  EXPECT_EQ(any->switch_name, "");
  const DnEntry* sip2 = c.Find("sip2", "5000");
  ASSERT_NE(sip2, nullptr);
  EXPECT_EQ(sip2->url, "file:/sip2.scxml");
  EXPECT_EQ(c.Find("sim", "4000"), nullptr);
  ASSERT_NE(c.Group("sales"), nullptr);
  EXPECT_THAT(*c.Group("sales"), ::testing::ElementsAre("7001", "7002"));
  EXPECT_EQ(c.Group("support"), nullptr);
  EXPECT_FALSE(c.Persistent(any, "voice"));
  EXPECT_TRUE(c.Persistent(any, "chat"));
  EXPECT_TRUE(c.Persistent(sip2, "voice"));
  EXPECT_EQ(c.DefaultRoute(any), "7001");
  EXPECT_EQ(c.DefaultRoute(sip2), "7999");
  EXPECT_EQ(c.DefaultRoute(nullptr), "7999");
}

TEST(DnConfigTest, RestartOnSwitchoverPerDnElseTheDefault) {
  auto cfg = DnConfig::Parse(R"(
[[dn]]
dn = "1"
application = "a"
restart-session-on-switchover = true
[[dn]]
dn = "2"
application = "b"
restart-session-on-switchover = false
[[dn]]
dn = "3"
application = "c"
)",
                             "dn.toml");
  ASSERT_OK(cfg);
  const DnConfig& c = **cfg;
  for (bool def : {false, true}) {
    EXPECT_TRUE(c.RestartOnSwitchover(c.Find("sim", "1"), def));
    EXPECT_FALSE(c.RestartOnSwitchover(c.Find("sim", "2"), def));
    EXPECT_EQ(c.RestartOnSwitchover(c.Find("sim", "3"), def), def);
    EXPECT_EQ(c.RestartOnSwitchover(nullptr, def), def);
  }
}

TEST(DnConfigTest, ApplicationSubstitutesAndPicksTheCluster) {
  auto cfg = DnConfig::Parse(kFile, "dn.toml");
  ASSERT_OK(cfg);
  const DnConfig& c = **cfg;
  CallFacts facts{.ani = "+1 555", .dnis = "800", .dn = "5000", .udata = {{"segment", "gold&vip"}}};
  auto app = c.ApplicationFor(*c.Find("", "5000"), "", facts);
  ASSERT_OK(app);
  EXPECT_EQ(app->url, "http://app/route.scxml?ani=%2B1%20555&dnis=800&seg=gold%26vip");
  EXPECT_EQ(app->alternate_url, "file:/srv/fallback.scxml");
  EXPECT_EQ(app->parameters.at("greeting").string_value(), "welcome");
  EXPECT_EQ(app->parameters.at("retries").number_value(), 3);
  auto east = c.ApplicationFor(*c.Find("", "5000"), "east", facts);
  ASSERT_OK(east);
  EXPECT_EQ(east->url, "file:/east.scxml");
  EXPECT_EQ(east->alternate_url, "");
  auto west_only = c.ApplicationFor(*c.Find("", "5100"), "east", facts);
  EXPECT_EQ(west_only.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(west_only.status().message(), HasSubstr("DN 5100 has no application for cluster 'east'"));
}

TEST(DnConfigTest, SubstitutionWords) {
  CallFacts f{.ani = "a", .dnis = "d", .dn = "5", .udata = {{"k", "v 1"}, {"b", "2"}}};
  EXPECT_EQ(SubstituteUrl("x?[UDATA]", f), "x?b=2&k=v%201");
  EXPECT_EQ(SubstituteUrl("x?[UDATA.*]", f), "x?b:2,k:v%201");
  EXPECT_EQ(SubstituteUrl("[DN]/[UDATA.missing]/[OTHER]/[unclosed", f), "5//[OTHER]/[unclosed");
}

TEST(DnConfigTest, ErrorsNameFileLineAndKey) {
  auto bad = [](const char* text) { return std::string(DnConfig::Parse(text, "dn.toml").status().message()); };
  EXPECT_EQ(bad("[[dn]]\ndn = \"1\"\n"), "dn.toml:1: dn.application: DN 1 has no application");
  EXPECT_EQ(bad("[[dn]]\ndn = \"1\"\napplication = \"a b c\"\n"),
            "dn.toml:3: dn.application: must be \"URL [alternate URL]\"");
  EXPECT_THAT(bad("[[dn]]\ndn = \"1\"\napplication = \"a\"\ncolour = 1\n"),
              HasSubstr("dn.toml:4: dn.colour: unknown option"));
  EXPECT_EQ(bad("[groups]\nsales = \"7001\"\n"), "dn.toml:2: groups.sales: must be an array of agent DNs");
  EXPECT_EQ(bad("[media.chat]\npersistent = \"yes\"\n"), "dn.toml:2: media.chat.persistent: must be true or false");
  EXPECT_EQ(bad("[[dn]]\ndn = \"1\"\napplication = \"a\"\nrestart-session-on-switchover = 1\n"),
            "dn.toml:4: dn.restart-session-on-switchover: must be true or false");
  EXPECT_THAT(bad("[[dn]]\ndn = \"1\"\napplication = \"a\"\n[[dn]]\ndn = \"1\"\napplication = \"b\"\n"),
              HasSubstr("DN 1 is defined twice"));
  EXPECT_THAT(bad("x = = 1"), HasSubstr("dn.toml:1: malformed TOML"));
}

void SetMtime(const std::string& path, int64_t seconds) {
  struct timeval tv[2] = {{seconds, 0}, {seconds, 0}};
  ASSERT_EQ(::utimes(path.c_str(), tv), 0);
}

TEST(DnConfigSourceTest, ReloadsAChangedFileAndKeepsTheLastGoodOne) {
  testing::TempDir dir;
  std::string path = dir.WriteFile("dn.toml", "[[dn]]\ndn = \"1\"\napplication = \"file:/a\"\n");
  SetMtime(path, 1000);
  auto src = DnConfigSource::Create(path);
  ASSERT_OK(src);
  EXPECT_EQ((*src)->generation(), 1u);
  EXPECT_OK((*src)->Poll());
  EXPECT_EQ((*src)->generation(), 1u);

  dir.WriteFile("dn.toml", "[[dn]]\ndn = \"2\"\napplication = \"file:/b\"\n");
  SetMtime(path, 2000);
  EXPECT_OK((*src)->Poll());
  EXPECT_EQ((*src)->generation(), 2u);
  EXPECT_EQ((*src)->Current()->Find("", "1"), nullptr);
  EXPECT_NE((*src)->Current()->Find("", "2"), nullptr);

  dir.WriteFile("dn.toml", "[[dn]]\ndn = \"3\"\n");
  SetMtime(path, 3000);
  absl::Status st = (*src)->Poll();
  EXPECT_THAT(st.message(), HasSubstr("DN 3 has no application"));
  EXPECT_NE((*src)->Current()->Find("", "2"), nullptr);   // the last good file stays
  EXPECT_OK((*src)->Poll());                             // reported once
  EXPECT_EQ((*src)->generation(), 2u);
}

TEST(DnConfigSourceTest, CreateFailsOnAMissingOrBadFile) {
  testing::TempDir dir;
  EXPECT_EQ(DnConfigSource::Create(dir.path() + "/none.toml").status().code(), absl::StatusCode::kInvalidArgument);
  std::string path = dir.WriteFile("dn.toml", "nonsense = 1\n");
  EXPECT_THAT(DnConfigSource::Create(path).status().message(), HasSubstr("dn.toml:1: nonsense: unknown key"));
}

}  // namespace
}  // namespace orch::call_watcher
