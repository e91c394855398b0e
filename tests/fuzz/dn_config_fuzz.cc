// Fuzz target: arbitrary bytes as call-watcher's DN file must give a DN
// configuration or one INVALID_ARGUMENT naming the file — never a crash, a
// hang or an exception escaping toml++.

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/base/check.h"
#include "services/call_watcher/dn_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto cfg = orch::call_watcher::DnConfig::Parse(text, "dns.toml");
  if (!cfg.ok()) {
    ORCH_CHECK(cfg.status().code() == absl::StatusCode::kInvalidArgument, "unexpected code");
    ORCH_CHECK(cfg.status().message().find("dns.toml") != absl::string_view::npos, "error without the file name");
  }
  return 0;
}
