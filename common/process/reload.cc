#include "common/process/reload.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log/log.h"
#include "common/process/process.h"

namespace orch::process {

const char* OutcomeName(ReloadResult::Outcome outcome) {
  switch (outcome) {
    case ReloadResult::Outcome::kApplied:
      return "applied";
    case ReloadResult::Outcome::kUnchanged:
      return "unchanged";
    case ReloadResult::Outcome::kRefused:
      return "refused";
    case ReloadResult::Outcome::kFailed:
      return "failed";
  }
  return "failed";
}

ReloadResult ReloadConfiguration(const config::Schema& schema, const std::string& path, const Environment& env,
                                 config::Config* running, Component* component) {
  ReloadResult result;
  absl::StatusOr<config::Config> next = config::Config::Load(schema, path, env);
  if (!next.ok()) {
    result.outcome = ReloadResult::Outcome::kFailed;
    result.error = next.status();
    log::Error("configuration reload failed; the running configuration is kept",
               {{"error", std::string(next.status().message())}});
    return result;
  }

  std::vector<std::string> reloadable;
  for (const std::string& key : running->Changed(*next)) {
    const config::Option* o = schema.Find(key);
    if (o != nullptr && o->reloadable) {
      reloadable.push_back(key);
      continue;
    }
    result.refused.push_back(key);
    log::Error("option changed, but it takes effect only at a restart; the running value is kept",
               {{"option", key},
                {"from", next->Origin(key)},
                {"new", next->ValueText(key)},
                {"running", running->ValueText(key)}});
  }
  const cluster::ClusterFile* was = running->cluster();
  const cluster::ClusterFile* now = next->cluster();
  const std::string was_digest = was != nullptr ? was->Digest() : "";
  const std::string now_digest = now != nullptr ? now->Digest() : "";
  if (was_digest != now_digest) {
    result.refused.push_back("cluster file");
    log::Error("the cluster file changed, but its nodes and endpoints take effect only at a restart; the running "
               "cluster is kept",
               {{"running_digest", was_digest}, {"new_digest", now_digest}});
  }

  std::vector<std::string> component_keys;
  for (const std::string& key : reloadable) {
    if (key != "log.level") component_keys.push_back(key);
  }
  if (!component_keys.empty()) {
    absl::Status st = component != nullptr
                          ? component->Reload(*next, component_keys)
                          : absl::UnimplementedError("this process applies no option without a restart");
    if (!st.ok()) {
      result.outcome = ReloadResult::Outcome::kFailed;
      result.error = st;
      log::Error("configuration reload failed; the running configuration is kept",
                 {{"options", absl::StrJoin(component_keys, ", ")}, {"error", std::string(st.message())}});
      return result;
    }
  }
  running->Adopt(*next, reloadable);
  result.applied = reloadable;
  if (!result.refused.empty()) {
    result.outcome = ReloadResult::Outcome::kRefused;
  } else if (!result.applied.empty()) {
    result.outcome = ReloadResult::Outcome::kApplied;
  }
  // Logged before a new log.level applies, so that even "error" lets it out once.
  log::Info("configuration reloaded", {{"applied", absl::StrJoin(result.applied, ", ")},
                                       {"refused", absl::StrJoin(result.refused, ", ")},
                                       {"result", OutcomeName(result.outcome)}});
  for (const std::string& key : reloadable) {
    if (key == "log.level") {
      log::SetLevel(*log::ParseLevel(next->GetString("log.level")));  // validated by the schema
    }
  }
  return result;
}

}  // namespace orch::process
