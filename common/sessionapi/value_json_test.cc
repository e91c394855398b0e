#include "common/sessionapi/value_json.h"

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
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

TEST(ValueJsonTest, ParsesEveryKindAndEscape) {
  auto v = JsonToValue(" {\"s\":\"a\\u00e9\\ud83d\\ude00\\n\\/\",\"n\":-0.5e2,\"t\":true,\"f\":false,\"z\":null,"
                       "\"l\":[],\"o\":{},\"d\":1,\"d\":2} ");
  ASSERT_OK(v);
  const auto& f = v->struct_value().fields();
  EXPECT_EQ(f.at("s").string_value(), "a\xC3\xA9\xF0\x9F\x98\x80\n/");
  EXPECT_EQ(f.at("n").number_value(), -50);
  EXPECT_TRUE(f.at("t").bool_value());
  EXPECT_FALSE(f.at("f").bool_value());
  EXPECT_EQ(f.at("z").kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(f.at("l").list_value().values_size(), 0);
  EXPECT_EQ(f.at("o").struct_value().fields_size(), 0);
  EXPECT_EQ(f.at("d").number_value(), 2);   // the last duplicate wins
  ASSERT_OK(JsonToValue("\"plain\""));
  ASSERT_OK(JsonToValue("0"));
  EXPECT_EQ(JsonToValue("undefined")->kind_case(), google::protobuf::Value::KIND_NOT_SET);
}

TEST(ValueJsonTest, RefusesWhatIsNotStrictJson) {
  for (const char* bad : {"", " ", "{", "[1,]", "{\"a\":1,}", "{a:1}", "{'a':1}", "01", "1.", ".5", "-", "1e", "+1",
                          "NaN", "Infinity", "1e999", "[1] x", "tru", "nul", "\"\\x\"", "\"\\u12\"",
                          "\"\\ud800\"", "\"\\udc00\"", "\"a\nb\"", "\"\xff\"", "\"\xC0\xAF\"", "/* c */ 1",
                          "{\"a\" 1}", "[1 2]", "\"unterminated"}) {
    EXPECT_FALSE(JsonToValue(bad).ok()) << bad;
  }
  auto st = JsonToValue("{\"a\": [1, 2,]}");
  EXPECT_THAT(st.status().message(), ::testing::HasSubstr("at byte 12: not a value"));
}

TEST(ValueJsonTest, NestingIsBounded) {
  std::string ok(kMaxJsonDepth, '['), deep(kMaxJsonDepth + 1, '[');
  ok += std::string(kMaxJsonDepth, ']');
  deep += std::string(kMaxJsonDepth + 1, ']');
  EXPECT_OK(JsonToValue(ok));
  EXPECT_FALSE(JsonToValue(deep).ok());
  std::string huge(1 << 20, '[');   // linear, not recursive beyond the bound
  EXPECT_FALSE(JsonToValue(huge).ok());
}

}  // namespace
}  // namespace orch::sessionapi
