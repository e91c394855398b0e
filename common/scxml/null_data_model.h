#pragma once

// The null data model (W3C SCXML 1.0 B.1): no data; conditions may only be
// In('state'); an expression may only be a quoted string literal (used by
// <log expr>). Everything else is an error at compile time.

#include "common/scxml/data_model.h"

namespace orch::scxml {

class NullDataModelFactory final : public DataModelFactory {
 public:
  absl::StatusOr<std::shared_ptr<const CompiledCode>> Compile(const std::vector<CodeSpec>& specs) override;
  absl::StatusOr<std::unique_ptr<DataModel>> Create(std::shared_ptr<const CompiledCode> code,
                                                    DataModelHost* host,
                                                    const DataModelLimits& limits) override;
};

}  // namespace orch::scxml
