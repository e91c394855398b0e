#pragma once

// Test support for the ECMAScript data model's unit tests: a fake host, a
// builder of a document's code list, and a fixture that compiles it and
// makes data models from it. Tests only.

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/js/ecmascript_data_model.h"
#include "common/scxml/data_model.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace orch::js {

class FakeHost : public scxml::DataModelHost {
 public:
  bool In(std::string_view state_id) override { return active.count(std::string(state_id)) > 0; }
  int64_t NowMs() override { return now_ms; }
  std::set<std::string> active;
  int64_t now_ms = 1'700'000'000'123;
};

// Builds a document's code list: each Add returns the id.
class Code {
 public:
  uint32_t Cond(std::string text) { return Add(scxml::CodeKind::kCondition, std::move(text)); }
  uint32_t Expr(std::string text) { return Add(scxml::CodeKind::kExpression, std::move(text)); }
  uint32_t Loc(std::string text) { return Add(scxml::CodeKind::kLocation, std::move(text)); }
  uint32_t Script(std::string text) { return Add(scxml::CodeKind::kScript, std::move(text)); }
  uint32_t Add(scxml::CodeKind kind, std::string text) {
    uint32_t id = static_cast<uint32_t>(specs.size());
    specs.push_back({id, kind, std::move(text), "doc.scxml:" + std::to_string(id + 1) + ":1"});
    return id;
  }
  std::vector<scxml::CodeSpec> specs;
};

class EcmascriptDataModelTest : public ::testing::Test {
 protected:
  // Compiles `code` and creates + inits a data model.
  std::unique_ptr<scxml::DataModel> Make(const Code& code, scxml::DataModelLimits limits = {},
                                         uint64_t seed = 42) {
    auto compiled = factory_.Compile(code.specs);
    EXPECT_THAT(compiled, ::orch::testing::IsOk());
    compiled_ = *compiled;
    auto dm = factory_.Create(compiled_, &host_, limits);
    EXPECT_THAT(dm, ::orch::testing::IsOk());
    EXPECT_THAT((*dm)->Init("sess-1", "machine", R"({"scxml":{"location":"#_scxml_sess-1"}})", seed),
                ::orch::testing::IsOk());
    return std::move(*dm);
  }

  std::unique_ptr<scxml::DataModel> Fresh(scxml::DataModelLimits limits = {}, uint64_t seed = 42) {
    auto dm = factory_.Create(compiled_, &host_, limits);
    EXPECT_THAT(dm, ::orch::testing::IsOk());
    EXPECT_THAT((*dm)->Init("sess-1", "machine", R"({"scxml":{"location":"#_scxml_sess-1"}})", seed),
                ::orch::testing::IsOk());
    return std::move(*dm);
  }

  EcmascriptDataModelFactory factory_;
  std::shared_ptr<const scxml::CompiledCode> compiled_;
  FakeHost host_;
};

}  // namespace orch::js
