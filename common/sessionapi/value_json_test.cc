#include "common/sessionapi/value_json.h"

#include "common/testing/status_matchers.h"
#include "gtest/gtest.h"

namespace orch::sessionapi {
namespace {

TEST(ValueJsonTest, WritesCompactDeterministicJsonThatParsesBack) {
  auto v = JsonToValue(R"({"b":[1,2.5,-3e-7,true,null,"x\"y\n"],"a":{"z":1,"y":"é"},"n":12345678901234})");
  ASSERT_OK(v);
  const std::string json = ValueToJson(*v);
  EXPECT_EQ(json, R"({"a":{"y":"é","z":1},"b":[1,2.5,-3e-07,true,null,"x\"y\n"],"n":12345678901234})");
  auto back = JsonToValue(json);
  ASSERT_OK(back);
  EXPECT_EQ(ValueToJson(*back), json);
}

TEST(ValueJsonTest, UnsetIsUndefinedAndNonFiniteIsNull) {
  EXPECT_EQ(ValueToJson(google::protobuf::Value()), "undefined");
  google::protobuf::Value nan;
  nan.set_number_value(std::nan(""));
  EXPECT_EQ(ValueToJson(nan), "null");
  EXPECT_FALSE(JsonToValue("{not json").ok());
}

}  // namespace
}  // namespace orch::sessionapi
