#include "common/sessionapi/session_id.h"

#include <set>

#include "common/testing/status_matchers.h"
#include "gtest/gtest.h"

namespace orch::sessionapi {
namespace {

using ::orch::testing::IsOkAndHolds;
using ::orch::testing::StatusIs;

TEST(SessionIdTest, NewIdsHaveTheNodeAndThirtyTwoCharacters) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewSessionId(4665);
    ASSERT_EQ(id.size(), 6 + 32) << id;
    EXPECT_EQ(id.substr(0, 6), "~4665~");
    EXPECT_THAT(NodeOfSessionId(id), IsOkAndHolds(4665));
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(SessionIdTest, KeyedIdsAreStablePerNodeAndKey) {
  EXPECT_EQ(SessionIdForKey(1, "call-42"), SessionIdForKey(1, "call-42"));
  EXPECT_NE(SessionIdForKey(1, "call-42"), SessionIdForKey(1, "call-43"));
  EXPECT_NE(SessionIdForKey(1, "call-42"), SessionIdForKey(2, "call-42"));
  EXPECT_THAT(NodeOfSessionId(SessionIdForKey(7, "x")), IsOkAndHolds(7));
}

TEST(SessionIdTest, MalformedIdsAreRefusedWithTheReason) {
  EXPECT_THAT(NodeOfSessionId(""), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("empty")));
  EXPECT_THAT(NodeOfSessionId("abc"), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("'~'")));
  EXPECT_THAT(NodeOfSessionId("~1"), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("node part")));
  EXPECT_THAT(NodeOfSessionId("~x~029I4G7KGCET96MLCCSH5B5AES01M138"),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("node number")));
  EXPECT_THAT(NodeOfSessionId("~0~029I4G7KGCET96MLCCSH5B5AES01M138"),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("node number")));
  EXPECT_THAT(NodeOfSessionId("~1~029i4g7kgcet96mlccsh5b5aes01m138"),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("32 characters")));
  EXPECT_THAT(NodeOfSessionId("~1~../../etc/passwd"),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("32 characters")));
  EXPECT_THAT(NodeOfSessionId("~4665~029I4G7KGCET96MLCCSH5B5AES01M138"), IsOkAndHolds(4665));
  // A long or binary id is not echoed back.
  std::string junk(300, '\x01');
  auto s = NodeOfSessionId(junk);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(std::string(s.status().message()).find('\x01'), std::string::npos);
}

TEST(NodeLeaseNameTest, IsNodeColonNumber) {
  EXPECT_EQ(NodeLeaseName(1), "node:1");
  EXPECT_EQ(NodeLeaseName(4665), "node:4665");
}

}  // namespace
}  // namespace orch::sessionapi
