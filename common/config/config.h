#pragma once

// Configuration of an Orchestrion process: one TOML file, every option
// overridable by an environment variable, validated completely at start.
//
//   Schema schema;
//   schema.Add({.section = "log", .name = "level", .type = OptionType::kString,
//               .default_value = "info", .help = "...", .allowed = {"debug", ...}});
//   ASSIGN_OR_RETURN(Config config, Config::Load(schema, "/etc/orch/x.toml", RealEnvironment()));
//   config.GetString("log.level");
//
// Precedence: environment > file > cluster file > default. The variable for
// option `name` of section `section` is ORCH_<SECTION>_<NAME>, upper case, '-'
// and '.' as '_' (log.level -> ORCH_LOG_LEVEL). A list option takes a
// comma-separated value there.
//
// The cluster file (common/cluster, docs/cluster.md) is read when the schema
// has the option AddClusterFileOption adds and the process's file
// (`[cluster] file = ...`) or ORCH_CLUSTER_FILE names one. Its
// `[options.<section>]` values come under the process's file: an option the
// schema does not have is skipped (another process of the cluster may have
// it); one the schema has is checked like a value of the process's file, and
// a bad one is an error at the cluster file's line even when the process's
// file or environment overrides it, so every process sees the same mistake.
//
// Every error is INVALID_ARGUMENT with a one-line message that starts with
// where the value came from ("<file>:<line>:" or "environment ORCH_X:"), names
// the option and says what is allowed. Values of secret options never appear
// in messages or in Dump().

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/base/environment.h"
#include "common/cluster/cluster_file.h"

namespace orch::config {

enum class OptionType { kString, kInt, kBool, kStringList };

// The alternatives are in OptionType's order; the cluster file's option values
// are the same type.
using Value = std::variant<std::string, int64_t, bool, std::vector<std::string>>;
static_assert(std::is_same_v<Value, cluster::OptionValue>);

struct Option {
  std::string section;
  std::string name;
  OptionType type = OptionType::kString;
  Value default_value;
  std::string help;
  int64_t min = INT64_MIN;                        // kInt only
  int64_t max = INT64_MAX;                        // kInt only
  std::vector<std::string> allowed;               // kString: allowed values (empty = any)
  bool secret = false;                            // never printed
  // Takes effect without a restart: on SIGHUP the process reads its
  // configuration again and hands the changed reloadable options to its
  // component (process::Component::Reload); a change to any other option is
  // refused with a message and the running value kept (docs/configuration.md).
  bool reloadable = false;
  // Extra check of one value; the message says what is allowed, without the
  // option's name or origin (the caller adds them).
  std::function<absl::Status(const Value&)> validate;

  std::string Key() const { return section + "." + name; }
  std::string EnvName() const;
};

class Config;

// The options a process accepts. Built once at start-up; Add CHECK-fails on a
// duplicate option or colliding environment variable names (a bug).
class Schema {
 public:
  void Add(Option option);
  // Shorthands for the plain cases of Add (no allowed values, validator or
  // secret): an int in [min, max], a bool, a string defaulting to "", a list.
  void AddInt(std::string section, std::string name, int64_t def, int64_t min, int64_t max, std::string help);
  void AddBool(std::string section, std::string name, bool def, std::string help);
  void AddString(std::string section, std::string name, std::string help);
  void AddStringList(std::string section, std::string name, std::vector<std::string> def, std::string help);
  // Marks an option added before as reloadable (Option::reloadable);
  // CHECK-fails on an unknown key.
  void SetReloadable(std::string_view key);
  // A check across options, run after all values are known.
  void AddCheck(std::function<absl::Status(const Config&)> check);

  const Option* Find(std::string_view key) const;
  const std::vector<Option>& options() const { return options_; }
  const std::vector<std::function<absl::Status(const Config&)>>& checks() const { return checks_; }

 private:
  std::vector<Option> options_;
  std::vector<std::function<absl::Status(const Config&)>> checks_;
};

// The option that names the cluster file: [cluster] file, a string path,
// default "" (none). A relative path given in the process's file is relative
// to that file's folder; one given by ORCH_CLUSTER_FILE, to the working
// directory. CHECK-fails like Schema::Add when the option exists already.
inline constexpr char kClusterFileKey[] = "cluster.file";
void AddClusterFileOption(Schema* schema);

class Config {
 public:
  // Defaults, then the TOML file at `path` (skipped when `path` is empty),
  // then the environment, then the cluster file's options under both (read
  // from disk when the schema has kClusterFileKey and it is not empty).
  static absl::StatusOr<Config> Load(const Schema& schema, const std::string& path,
                                     const Environment& env);
  // The same from TOML text; `source_name` is used in messages and to resolve
  // a relative cluster file path. A cluster file it names is read from disk.
  static absl::StatusOr<Config> Parse(const Schema& schema, std::string_view toml,
                                      const std::string& source_name, const Environment& env);

  // Accessors take "section.name" and CHECK-fail on an unknown key or a type
  // mismatch: those are bugs, not input errors.
  const std::string& GetString(std::string_view key) const;
  int64_t GetInt(std::string_view key) const;
  bool GetBool(std::string_view key) const;
  const std::vector<std::string>& GetStringList(std::string_view key) const;
  // True when the value was set by the file, the environment or the cluster
  // file.
  bool IsSet(std::string_view key) const;
  // "default", "<file>:<line>", "environment ORCH_X" or "<cluster file>:<line>".
  const std::string& Origin(std::string_view key) const;

  // The cluster file that was loaded, or nullptr when none was named. Shared
  // by copies of this Config; immutable.
  const cluster::ClusterFile* cluster() const { return cluster_.get(); }

  // Environment variables with the ORCH_ prefix that match no option. They
  // are not errors (a container's environment is often shared by several
  // processes) but the caller should log them.
  const std::vector<std::string>& unknown_environment() const { return unknown_env_; }

  // The options whose values differ from `other`'s (loaded with the same
  // schema), sorted by key.
  std::vector<std::string> Changed(const Config& other) const;
  // The value of `key` as TOML ("<redacted>" for a secret), for messages.
  std::string ValueText(std::string_view key) const;
  // Takes the value and origin of each of `keys` from `other` (same schema).
  void Adopt(const Config& other, const std::vector<std::string>& keys);

  // The effective configuration as TOML, secrets as "<redacted>"; with a
  // cluster file, a first comment line names it and its digest.
  std::string Dump() const;

 private:
  struct Entry {
    const Option* option;
    Value value;
    std::string origin;
    bool set = false;
  };
  const Entry& Get(std::string_view key) const;
  // Reads the cluster file `entries_[kClusterFileKey]` names and puts its
  // options under the values already set; `source_name` is the process's
  // file (relative paths are resolved against its folder).
  absl::Status LayerClusterFile(const std::string& source_name);

  std::map<std::string, Entry, std::less<>> entries_;
  std::vector<std::string> unknown_env_;
  std::shared_ptr<const cluster::ClusterFile> cluster_;
};

}  // namespace orch::config
