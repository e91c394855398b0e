#include "common/scxml/basic_http.h"

#include <condition_variable>
#include <mutex>

#include "common/testing/status_matchers.h"
#include "gtest/gtest.h"

namespace orch::scxml {
namespace {

using ::testing::HasSubstr;

class Inbox {
 public:
  void Put(const std::string& sid, Event e) {
    std::lock_guard<std::mutex> l(mu_);
    got_.emplace_back(sid, std::move(e));
    cv_.notify_all();
  }
  std::pair<std::string, Event> Take() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, std::chrono::seconds(10), [&] { return !got_.empty(); });
    if (got_.empty()) return {};
    auto e = got_.front();
    got_.erase(got_.begin());
    return e;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<std::string, Event>> got_;
};

TEST(BasicHttpTest, SendAndReceiveAnEventWithParams) {
  Inbox inbox;
  auto server = BasicHttpServer::Start("127.0.0.1:0", [&](const std::string& sid, Event e) { inbox.Put(sid, e); });
  ASSERT_OK(server);
  Event e;
  e.name = "order.placed";
  e.data = R"({"amount": 12.5, "who": "Ann & Bob"})";
  ASSERT_OK(BasicHttpSend((*server)->LocationFor("sess-1"), e));
  auto [sid, got] = inbox.Take();
  EXPECT_EQ(sid, "sess-1");
  EXPECT_EQ(got.name, "order.placed");
  EXPECT_THAT(got.data, HasSubstr(R"("who":"Ann & Bob")"));
  EXPECT_THAT(got.data, HasSubstr(R"("amount":"12.5")"));
  EXPECT_THAT(got.raw, HasSubstr("POST /scxml/sess-1 HTTP/1.1"));
  EXPECT_THAT(got.raw, HasSubstr("_scxmleventname=order.placed"));
  EXPECT_EQ(got.origintype, kBasicHttpEventProcessor);
}

TEST(BasicHttpTest, NoEventNameMeansHttpMethodAndContentIsTheBody) {
  Inbox inbox;
  auto server = BasicHttpServer::Start("127.0.0.1:0", [&](const std::string& sid, Event e) { inbox.Put(sid, e); });
  ASSERT_OK(server);
  Event e;
  e.data = "\"this is some content\"";
  ASSERT_OK(BasicHttpSend((*server)->LocationFor("s"), e));
  auto [sid, got] = inbox.Take();
  EXPECT_EQ(got.name, "HTTP.POST");
  EXPECT_THAT(got.raw, HasSubstr("this%20is%20some%20content"));
}

TEST(BasicHttpTest, UnreachableAndBadTargetsFail) {
  EXPECT_THAT(BasicHttpSend("", Event{}), ::orch::testing::StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(BasicHttpSend("#_parent", Event{}), ::orch::testing::StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(BasicHttpSend("http://127.0.0.1:1/scxml/x", Event{}), ::orch::testing::StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace orch::scxml
