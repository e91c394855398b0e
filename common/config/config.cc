#include "common/config/config.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/base/check.h"
#include "common/base/file.h"
#include "common/base/json.h"
#include "common/base/toml.h"

namespace orch::config {
namespace {

constexpr char kEnvPrefix[] = "ORCH_";

// Value's alternatives are in OptionType's order (see config.h).
static_assert(static_cast<size_t>(OptionType::kString) == 0 && static_cast<size_t>(OptionType::kInt) == 1 &&
              static_cast<size_t>(OptionType::kBool) == 2 && static_cast<size_t>(OptionType::kStringList) == 3);

std::string TypeName(OptionType t) {
  switch (t) {
    case OptionType::kString: return "a string";
    case OptionType::kInt: return "an integer";
    case OptionType::kBool: return "a boolean (true or false)";
    case OptionType::kStringList: return "an array of strings";
  }
  return "?";
}

// The TOML type a value came from, for messages.
std::string ValueTypeName(const Value& v) {
  static constexpr const char* kNames[] = {"a string", "an integer", "a boolean", "an array of strings"};
  return kNames[v.index()];
}

// What an option accepts, for error messages.
std::string Allowed(const Option& o) {
  switch (o.type) {
    case OptionType::kInt:
      if (o.min != INT64_MIN || o.max != INT64_MAX) {
        return absl::StrCat("an integer in ", o.min, "..", o.max);
      }
      return "an integer";
    case OptionType::kString:
      if (!o.allowed.empty()) return absl::StrCat("one of ", absl::StrJoin(o.allowed, ", "));
      return "a string";
    default:
      return TypeName(o.type);
  }
}

std::string Shown(const Option& o, const std::string& s) {
  return o.secret ? std::string("(secret value)") : JsonString(s);
}

// Range, allowed values and the option's own validator.
absl::Status CheckValue(const Option& o, const Value& v) {
  if (o.type == OptionType::kInt) {
    int64_t i = std::get<int64_t>(v);
    if (i < o.min || i > o.max) {
      return absl::InvalidArgumentError(absl::StrCat(o.Key(), " = ", i, " is out of range: allowed ",
                                                     o.min, "..", o.max));
    }
  }
  if (o.type == OptionType::kString && !o.allowed.empty()) {
    const auto& s = std::get<std::string>(v);
    if (std::find(o.allowed.begin(), o.allowed.end(), s) == o.allowed.end()) {
      return absl::InvalidArgumentError(absl::StrCat(o.Key(), " = ", Shown(o, s),
                                                     " is not allowed: ", Allowed(o)));
    }
  }
  if (o.validate) {
    if (absl::Status s = o.validate(v); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(o.Key(), ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Value> FromToml(const Option& o, const toml::node& node) {
  auto type_error = [&]() {
    return absl::InvalidArgumentError(absl::StrCat(o.Key(), " must be ", Allowed(o), ", not ",
                                                   TomlTypeName(node.type())));
  };
  switch (o.type) {
    case OptionType::kString:
      if (!node.is_string()) return type_error();
      return Value(std::string(node.as_string()->get()));
    case OptionType::kInt:
      if (!node.is_integer()) return type_error();
      return Value(static_cast<int64_t>(node.as_integer()->get()));
    case OptionType::kBool:
      if (!node.is_boolean()) return type_error();
      return Value(node.as_boolean()->get());
    case OptionType::kStringList: {
      if (!node.is_array()) return type_error();
      std::vector<std::string> out;
      for (const toml::node& el : *node.as_array()) {
        if (!el.is_string()) {
          return absl::InvalidArgumentError(absl::StrCat(o.Key(), " must be an array of strings, but has ",
                                                         TomlTypeName(el.type()), " in it"));
        }
        out.emplace_back(el.as_string()->get());
      }
      return Value(std::move(out));
    }
  }
  return type_error();
}

absl::StatusOr<Value> FromEnv(const Option& o, const std::string& text) {
  switch (o.type) {
    case OptionType::kString:
      return Value(text);
    case OptionType::kInt: {
      int64_t i;
      if (!absl::SimpleAtoi(text, &i)) {
        return absl::InvalidArgumentError(
            absl::StrCat(o.Key(), " must be ", Allowed(o), ", not ", Shown(o, text)));
      }
      return Value(i);
    }
    case OptionType::kBool: {
      std::string t = absl::AsciiStrToLower(text);
      if (t == "true" || t == "1") return Value(true);
      if (t == "false" || t == "0") return Value(false);
      return absl::InvalidArgumentError(
          absl::StrCat(o.Key(), " must be true or false (or 1 or 0), not ", Shown(o, text)));
    }
    case OptionType::kStringList: {
      std::vector<std::string> out;
      for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
        out.emplace_back(absl::StripAsciiWhitespace(part));
      }
      return Value(std::move(out));
    }
  }
  return absl::InternalError("unreachable");
}

std::string TomlValue(const Value& v) {
  struct Visitor {
    std::string operator()(const std::string& s) const { return JsonString(s); }
    std::string operator()(int64_t i) const { return absl::StrCat(i); }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(const std::vector<std::string>& l) const {
      std::vector<std::string> quoted;
      for (const auto& s : l) quoted.push_back(JsonString(s));
      return absl::StrCat("[", absl::StrJoin(quoted, ", "), "]");
    }
  };
  return std::visit(Visitor{}, v);
}

std::string WithOrigin(const std::string& origin, const absl::Status& s) {
  return absl::StrCat(origin, ": ", s.message());
}

}  // namespace

std::string Option::EnvName() const {
  std::string out = kEnvPrefix;
  for (char c : section + "_" + name) {
    out.push_back(c == '-' || c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return out;
}

void Schema::AddInt(std::string section, std::string name, int64_t def, int64_t min, int64_t max,
                    std::string help) {
  Add({.section = std::move(section), .name = std::move(name), .type = OptionType::kInt, .default_value = def,
       .help = std::move(help), .min = min, .max = max});
}

void Schema::AddBool(std::string section, std::string name, bool def, std::string help) {
  Add({.section = std::move(section), .name = std::move(name), .type = OptionType::kBool, .default_value = def,
       .help = std::move(help)});
}

void Schema::AddString(std::string section, std::string name, std::string help) {
  Add({.section = std::move(section), .name = std::move(name), .type = OptionType::kString,
       .default_value = std::string(), .help = std::move(help)});
}

void Schema::AddStringList(std::string section, std::string name, std::vector<std::string> def, std::string help) {
  Add({.section = std::move(section), .name = std::move(name), .type = OptionType::kStringList,
       .default_value = std::move(def), .help = std::move(help)});
}

void Schema::Add(Option option) {
  for (const auto& o : options_) {
    ORCH_CHECK(o.Key() != option.Key(), "duplicate configuration option");
    ORCH_CHECK(o.EnvName() != option.EnvName(), "two options map to one environment variable");
  }
  options_.push_back(std::move(option));
}

void Schema::AddCheck(std::function<absl::Status(const Config&)> check) {
  checks_.push_back(std::move(check));
}

void Schema::SetReloadable(std::string_view key) {
  for (Option& o : options_) {
    if (o.Key() == key) {
      o.reloadable = true;
      return;
    }
  }
  ORCH_CHECK(false, std::string(key).c_str());
}

const Option* Schema::Find(std::string_view key) const {
  for (const auto& o : options_) {
    if (o.Key() == key) return &o;
  }
  return nullptr;
}

absl::StatusOr<Config> Config::Load(const Schema& schema, const std::string& path,
                                    const Environment& env) {
  if (path.empty()) return Parse(schema, "", "", env);
  absl::StatusOr<std::string> text = ReadFile(path, 1 << 20);
  if (!text.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("configuration file: ", text.status().message()));
  }
  return Parse(schema, *text, path, env);
}

absl::StatusOr<Config> Config::Parse(const Schema& schema, std::string_view toml_text,
                                     const std::string& source_name, const Environment& env) {
  Config config;
  for (const auto& o : schema.options()) {
    config.entries_.emplace(o.Key(), Entry{&o, o.default_value, "default", false});
  }

  if (!source_name.empty()) {
    absl::StatusOr<toml::table> parsed = ParseToml(toml_text, source_name);
    if (!parsed.ok()) return parsed.status();
    std::map<std::string, std::vector<std::string>> known;  // section -> names
    for (const auto& o : schema.options()) known[o.section].push_back(o.name);
    auto known_sections = [&]() {
      std::vector<std::string> names;
      for (const auto& [s, _] : known) names.push_back("[" + s + "]");
      return absl::StrJoin(names, ", ");
    };

    for (auto&& [section_key, section_node] : *parsed) {
      const std::string section(section_key.str());
      const std::string where = absl::StrCat(source_name, ":", section_key.source().begin.line);
      auto it = known.find(section);
      if (!section_node.is_table()) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": '", section, "' is outside any section; options belong in sections (",
            known_sections(), ")"));
      }
      if (it == known.end()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": unknown section [", section,
                                                       "]; known sections: ", known_sections()));
      }
      for (auto&& [key, node] : *section_node.as_table()) {
        const std::string name(key.str());
        const std::string at = absl::StrCat(source_name, ":", key.source().begin.line);
        auto entry = config.entries_.find(section + "." + name);
        if (entry == config.entries_.end()) {
          return absl::InvalidArgumentError(absl::StrCat(at, ": unknown option ", section, ".", name,
                                                         "; options of [", section, "]: ",
                                                         absl::StrJoin(it->second, ", ")));
        }
        const Option& o = *entry->second.option;
        absl::StatusOr<Value> v = FromToml(o, node);
        if (!v.ok()) return absl::InvalidArgumentError(WithOrigin(at, v.status()));
        if (absl::Status s = CheckValue(o, *v); !s.ok()) {
          return absl::InvalidArgumentError(WithOrigin(at, s));
        }
        entry->second.value = *std::move(v);
        entry->second.origin = at;
        entry->second.set = true;
      }
    }
  }

  std::map<std::string, const Option*> by_env;
  for (const auto& o : schema.options()) by_env[o.EnvName()] = &o;
  for (const auto& [name, text] : env.WithPrefix(kEnvPrefix)) {
    auto it = by_env.find(name);
    if (it == by_env.end()) {
      config.unknown_env_.push_back(name);
      continue;
    }
    const Option& o = *it->second;
    const std::string at = "environment " + name;
    absl::StatusOr<Value> v = FromEnv(o, text);
    if (!v.ok()) return absl::InvalidArgumentError(WithOrigin(at, v.status()));
    if (absl::Status s = CheckValue(o, *v); !s.ok()) {
      return absl::InvalidArgumentError(WithOrigin(at, s));
    }
    Entry& e = config.entries_.find(o.Key())->second;
    e.value = *std::move(v);
    e.origin = at;
    e.set = true;
  }

  if (absl::Status s = config.LayerClusterFile(source_name); !s.ok()) return s;

  for (const auto& check : schema.checks()) {
    if (absl::Status s = check(config); !s.ok()) return s;
  }
  return config;
}

void AddClusterFileOption(Schema* schema) {
  schema->AddString("cluster", "file",
                    "the cluster file: nodes, data centers and options for every process (docs/cluster.md)");
}

absl::Status Config::LayerClusterFile(const std::string& source_name) {
  auto named = entries_.find(kClusterFileKey);
  if (named == entries_.end()) return absl::OkStatus();
  const Entry& file_entry = named->second;
  std::string path = std::get<std::string>(file_entry.value);
  if (path.empty()) return absl::OkStatus();
  const bool from_environment = absl::StartsWith(file_entry.origin, "environment ");
  if (!from_environment && path.front() != '/') {
    if (const size_t slash = source_name.rfind('/'); slash != std::string::npos) {
      path = absl::StrCat(source_name.substr(0, slash + 1), path);
    }
  }
  absl::StatusOr<std::string> text = ReadFile(path, 1 << 20);
  if (!text.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(file_entry.origin, ": ", kClusterFileKey, ": ",
                                                   text.status().message()));
  }
  absl::StatusOr<cluster::ClusterFile> file = cluster::ClusterFile::Parse(*text, path);
  if (!file.ok()) return file.status();
  cluster_ = std::make_shared<const cluster::ClusterFile>(*std::move(file));

  for (const cluster::OptionSetting& setting : cluster_->options()) {
    auto it = entries_.find(setting.Key());
    if (it == entries_.end()) continue;  // an option of other processes
    Entry& e = it->second;
    const Option& o = *e.option;
    const std::string at = cluster_->Origin(setting);
    if (setting.value.index() != static_cast<size_t>(o.type)) {
      return absl::InvalidArgumentError(absl::StrCat(at, ": ", o.Key(), " must be ", Allowed(o), ", not ",
                                                     ValueTypeName(setting.value)));
    }
    if (absl::Status s = CheckValue(o, setting.value); !s.ok()) {
      return absl::InvalidArgumentError(WithOrigin(at, s));
    }
    if (e.set) continue;  // the process's file or environment wins
    e.value = setting.value;
    e.origin = at;
    e.set = true;
  }
  return absl::OkStatus();
}

const Config::Entry& Config::Get(std::string_view key) const {
  auto it = entries_.find(key);
  ORCH_CHECK(it != entries_.end(), std::string(key).c_str());
  return it->second;
}

const std::string& Config::GetString(std::string_view key) const {
  const Entry& e = Get(key);
  ORCH_CHECK(e.option->type == OptionType::kString, std::string(key).c_str());
  return std::get<std::string>(e.value);
}

int64_t Config::GetInt(std::string_view key) const {
  const Entry& e = Get(key);
  ORCH_CHECK(e.option->type == OptionType::kInt, std::string(key).c_str());
  return std::get<int64_t>(e.value);
}

bool Config::GetBool(std::string_view key) const {
  const Entry& e = Get(key);
  ORCH_CHECK(e.option->type == OptionType::kBool, std::string(key).c_str());
  return std::get<bool>(e.value);
}

const std::vector<std::string>& Config::GetStringList(std::string_view key) const {
  const Entry& e = Get(key);
  ORCH_CHECK(e.option->type == OptionType::kStringList, std::string(key).c_str());
  return std::get<std::vector<std::string>>(e.value);
}

bool Config::IsSet(std::string_view key) const { return Get(key).set; }

const std::string& Config::Origin(std::string_view key) const { return Get(key).origin; }

std::vector<std::string> Config::Changed(const Config& other) const {
  std::vector<std::string> keys;
  for (const auto& [key, e] : entries_) {
    auto it = other.entries_.find(key);
    if (it == other.entries_.end() || it->second.value != e.value) keys.push_back(key);
  }
  return keys;
}

std::string Config::ValueText(std::string_view key) const {
  const Entry& e = Get(key);
  return e.option->secret && e.set ? "\"<redacted>\"" : TomlValue(e.value);
}

void Config::Adopt(const Config& other, const std::vector<std::string>& keys) {
  for (const std::string& key : keys) {
    auto it = entries_.find(key);
    ORCH_CHECK(it != entries_.end(), key.c_str());
    const Entry& theirs = other.Get(key);
    it->second.value = theirs.value;
    it->second.origin = theirs.origin;
    it->second.set = theirs.set;
  }
}

std::string Config::Dump() const {
  std::string out;
  if (cluster_ != nullptr) {
    absl::StrAppend(&out, "# cluster ", cluster_->name(), " from ", JsonString(cluster_->source_name()), ", digest ",
                    cluster_->Digest(), "\n");
  }
  std::string section;
  for (const auto& [key, e] : entries_) {  // sorted: sections are contiguous
    if (e.option->section != section) {
      section = e.option->section;
      absl::StrAppend(&out, out.empty() ? "" : "\n", "[", section, "]\n");
    }
    absl::StrAppend(&out, e.option->name, " = ",
                    e.option->secret && e.set ? "\"<redacted>\"" : TomlValue(e.value), "  # ",
                    e.origin, "\n");
  }
  return out;
}

}  // namespace orch::config
