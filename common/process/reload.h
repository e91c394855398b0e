#pragma once

// Configuration reload on SIGHUP (process::Run). The process reads its
// configuration again (file, environment, cluster file) and compares it with
// the running one:
//   - options marked Option::reloadable that changed are applied: log.level
//     by the runtime, the others by Component::Reload, all or none;
//   - any other option that changed is refused: one error line per option,
//     naming it, where the new value comes from and the running value (a
//     secret's never), which stays until a restart. The same holds for a
//     changed cluster file (its digest): nodes and endpoints are read at start.
//   - a configuration that does not load (a syntax error, a value out of
//     range) changes nothing; its error is logged as at start.
// Every reload ends in one log line and one count of
// <prefix>_config_reloads_total{result="applied|unchanged|refused|failed"}
// ("refused" when anything was refused, even if other options applied).

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/base/environment.h"
#include "common/config/config.h"

namespace orch::process {

class Component;

struct ReloadResult {
  enum class Outcome { kApplied, kUnchanged, kRefused, kFailed };
  Outcome outcome = Outcome::kUnchanged;
  std::vector<std::string> applied;   // option keys now in effect
  std::vector<std::string> refused;   // option keys (and "cluster file") kept as they run
  absl::Status error;                 // kFailed: why nothing was applied
};

const char* OutcomeName(ReloadResult::Outcome outcome);

// Loads `path` with `schema` and `env`, applies what may change to
// `component` (may be null: nothing but log.level is reloadable then) and
// to `running`, logs what happened. `running` is the runtime's record of
// the values in effect, not the Config the component was created with.
ReloadResult ReloadConfiguration(const config::Schema& schema, const std::string& path, const Environment& env,
                                 config::Config* running, Component* component);

}  // namespace orch::process
