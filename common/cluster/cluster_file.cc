#include "common/cluster/cluster_file.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/base/file.h"
#include "common/base/json.h"
#include "common/base/net.h"
#include "common/base/sha256.h"
#include "common/base/toml.h"

namespace orch::cluster {
namespace {

constexpr size_t kMaxNameLength = 64;
constexpr size_t kMaxFileBytes = 1 << 20;

// A key as written in messages: as is, or JSON-quoted when it has characters
// (control characters, spaces, quotes) that would garble a one-line message.
std::string KeyText(std::string_view k) {
  const bool plain = !k.empty() && std::all_of(k.begin(), k.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && c != 0x7f && c != '"' && c != '\\' && c != '\'';
  });
  return plain ? std::string(k) : JsonString(k);
}

bool IsName(std::string_view s) {
  if (s.empty() || s.size() > kMaxNameLength) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// Collects the parts of one file; every error names the file and a line.
class Parser {
 public:
  explicit Parser(const std::string& source) : source_(source) {}

  std::string At(int line) const { return absl::StrCat(source_, ":", line); }
  int LineOf(const toml::node& n) const { return static_cast<int>(n.source().begin.line); }
  absl::Status Error(int line, absl::string_view what) const {
    return absl::InvalidArgumentError(line > 0 ? absl::StrCat(At(line), ": ", what)
                                               : absl::StrCat(source_, ": ", what));
  }

  absl::StatusOr<std::string> String(const toml::node& n, absl::string_view what) const {
    if (!n.is_string()) return Error(LineOf(n), absl::StrCat(what, " must be a string, not ", TomlTypeName(n.type())));
    return std::string(n.as_string()->get());
  }

  absl::StatusOr<std::vector<std::string>> StringList(const toml::node& n, absl::string_view what) const {
    if (!n.is_array()) {
      return Error(LineOf(n), absl::StrCat(what, " must be an array of strings, not ", TomlTypeName(n.type())));
    }
    std::vector<std::string> out;
    for (const toml::node& el : *n.as_array()) {
      if (!el.is_string()) {
        return Error(LineOf(n), absl::StrCat(what, " must be an array of strings, but has ", TomlTypeName(el.type()),
                                             " in it"));
      }
      out.emplace_back(el.as_string()->get());
    }
    return out;
  }

  absl::Status Name(const toml::node& n, std::string* out) const {
    absl::StatusOr<std::string> s = String(n, "name");
    if (!s.ok()) return s.status();
    if (!IsName(*s)) {
      return Error(LineOf(n), absl::StrCat("name = ", JsonString(*s), " is not a cluster name: 1 to ", kMaxNameLength,
                                           " of A-Z a-z 0-9 _ -"));
    }
    *out = *std::move(s);
    return absl::OkStatus();
  }

  absl::Status DataCenters(const toml::node& n, std::vector<std::string>* out) const {
    absl::StatusOr<std::vector<std::string>> list = StringList(n, "data-centers");
    if (!list.ok()) return list.status();
    for (const std::string& dc : *list) {
      if (dc.empty()) {
        return Error(LineOf(n), "data-centers: \"\" is the nameless data center, which always exists; "
                                "do not declare it");
      }
      if (std::find(out->begin(), out->end(), dc) != out->end()) {
        return Error(LineOf(n), absl::StrCat("data-centers: ", JsonString(dc), " is declared twice"));
      }
      out->push_back(dc);
    }
    return absl::OkStatus();
  }

  // One [[node]] table. Data centers must be parsed already.
  absl::StatusOr<Node> OneNode(const toml::table& t, int table_line,
                               const std::vector<std::string>& data_centers) const {
    Node node;
    node.line = table_line;
    bool has_id = false;
    for (auto&& [key, value] : t) {
      const std::string k(key.str());
      if (k == "id") {
        node.line = LineOf(value);
        if (!value.is_integer()) {
          return Error(LineOf(value), absl::StrCat("node id must be an integer in ", kMinNodeId, "..", kMaxNodeId,
                                                   ", not ", TomlTypeName(value.type())));
        }
        const int64_t id = value.as_integer()->get();
        if (id < kMinNodeId || id > kMaxNodeId) {
          return Error(LineOf(value), absl::StrCat("node id ", id, " is out of range: allowed ", kMinNodeId,
                                                   "..", kMaxNodeId));
        }
        node.id = static_cast<int>(id);
        has_id = true;
      } else if (k == "data-center") {
        absl::StatusOr<std::string> dc = String(value, "node data-center");
        if (!dc.ok()) return dc.status();
        if (!dc->empty() && std::find(data_centers.begin(), data_centers.end(), *dc) == data_centers.end()) {
          return Error(LineOf(value),
                       absl::StrCat("node data-center ", JsonString(*dc), " is not declared in data-centers (",
                                    data_centers.empty() ? std::string("none is")
                                                         : absl::StrCat("declared: ", absl::StrJoin(data_centers, ", ")),
                                    "; \"\" or no data-center is the nameless one)"));
        }
        node.data_center = *std::move(dc);
      } else if (k == "engines") {
        absl::StatusOr<std::vector<std::string>> engines = StringList(value, "node engines");
        if (!engines.ok()) return engines.status();
        for (const std::string& e : *engines) {
          if (absl::Status s = ValidateHostPort(e, 1); !s.ok()) {
            return Error(LineOf(value), absl::StrCat("node engines: ", s.message()));
          }
          if (std::find(node.engines.begin(), node.engines.end(), e) != node.engines.end()) {
            return Error(LineOf(value), absl::StrCat("node engines: ", e, " is listed twice"));
          }
          node.engines.push_back(e);
        }
      } else {
        return Error(LineOf(value),
                     absl::StrCat("unknown key ", KeyText(k), " in [[node]]; keys of a node: id, data-center, engines"));
      }
    }
    if (!has_id) return Error(table_line, "[[node]] without an id");
    return node;
  }

  // Every [options.<section>] table.
  absl::Status Options(const toml::node& n, std::vector<OptionSetting>* out) const {
    if (!n.is_table()) {
      return Error(LineOf(n), absl::StrCat("options must be a table of sections ([options.<section>]), not ",
                                           TomlTypeName(n.type())));
    }
    for (auto&& [section_key, section] : *n.as_table()) {
      const std::string sec(section_key.str());
      const std::string sec_text = KeyText(sec);
      if (!section.is_table()) {
        return Error(static_cast<int>(section_key.source().begin.line),
                     absl::StrCat("options.", sec_text, " must be a table ([options.", sec_text, "]), not ",
                                  TomlTypeName(section.type())));
      }
      if (sec == "cluster") {
        return Error(static_cast<int>(section_key.source().begin.line),
                     "[options.cluster]: the cluster file is named by each process's own file, not by itself");
      }
      for (auto&& [key, value] : *section.as_table()) {
        OptionSetting setting{.section = sec, .name = std::string(key.str()), .line = LineOf(value)};
        const std::string what = absl::StrCat("options.", sec_text, ".", KeyText(setting.name));
        if (value.is_string()) {
          setting.value = std::string(value.as_string()->get());
        } else if (value.is_integer()) {
          setting.value = static_cast<int64_t>(value.as_integer()->get());
        } else if (value.is_boolean()) {
          setting.value = value.as_boolean()->get();
        } else if (value.is_array()) {
          absl::StatusOr<std::vector<std::string>> list = StringList(value, what);
          if (!list.ok()) return list.status();
          setting.value = *std::move(list);
        } else {
          return Error(setting.line, absl::StrCat(what, " is ", TomlTypeName(value.type()),
                                                  "; an option is a string, an integer, a boolean or an "
                                                  "array of strings"));
        }
        out->push_back(std::move(setting));
      }
    }
    return absl::OkStatus();
  }

 private:
  const std::string& source_;
};

void AppendCanonical(std::string* out, const OptionValue& v) {
  struct Visitor {
    std::string* out;
    void operator()(const std::string& s) const { absl::StrAppend(out, "s", JsonString(s)); }
    void operator()(int64_t i) const { absl::StrAppend(out, "i", i); }
    void operator()(bool b) const { absl::StrAppend(out, b ? "true" : "false"); }
    void operator()(const std::vector<std::string>& l) const {
      absl::StrAppend(out, "[");
      for (const auto& s : l) absl::StrAppend(out, JsonString(s), ",");
      absl::StrAppend(out, "]");
    }
  };
  std::visit(Visitor{out}, v);
}

// One line per fact, strings JSON-quoted so that no value can forge a line.
std::string CanonicalForm(const std::string& name, const std::vector<std::string>& data_centers,
                          const std::vector<Node>& nodes, const std::vector<OptionSetting>& options) {
  std::string out = absl::StrCat("orch-cluster-v1\nname ", JsonString(name), "\n");
  for (const std::string& dc : std::set<std::string>(data_centers.begin(), data_centers.end())) {
    absl::StrAppend(&out, "data-center ", JsonString(dc), "\n");
  }
  for (const Node& n : nodes) {  // sorted by id
    absl::StrAppend(&out, "node ", n.id, " ", JsonString(n.data_center));
    for (const std::string& e : std::set<std::string>(n.engines.begin(), n.engines.end())) {
      absl::StrAppend(&out, " ", JsonString(e));
    }
    absl::StrAppend(&out, "\n");
  }
  for (const OptionSetting& o : options) {  // sorted by key
    absl::StrAppend(&out, "option ", JsonString(o.section), " ", JsonString(o.name), " ");
    AppendCanonical(&out, o.value);
    absl::StrAppend(&out, "\n");
  }
  return out;
}

}  // namespace

absl::StatusOr<ClusterFile> ClusterFile::Load(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path, kMaxFileBytes);
  if (!text.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("cluster file: ", text.status().message()));
  }
  return Parse(*text, path);
}

absl::StatusOr<ClusterFile> ClusterFile::Parse(std::string_view toml_text, const std::string& source_name) {
  ClusterFile file;
  file.source_ = source_name;
  Parser p(file.source_);

  absl::StatusOr<toml::table> parsed = ParseToml(toml_text, source_name);
  if (!parsed.ok()) return parsed.status();
  const toml::table& top = *parsed;

  // Data centers first: nodes are checked against them wherever they are.
  if (const toml::node* dcs = top.get("data-centers")) {
    if (absl::Status s = p.DataCenters(*dcs, &file.data_centers_); !s.ok()) return s;
  }
  bool has_name = false;
  std::map<int, int> id_lines;  // node id -> line
  for (auto&& [key, value] : top) {
    const std::string k(key.str());
    const int key_line = static_cast<int>(key.source().begin.line);
    if (k == "name") {
      if (absl::Status s = p.Name(value, &file.name_); !s.ok()) return s;
      has_name = true;
    } else if (k == "data-centers") {
      continue;
    } else if (k == "node") {
      if (!value.is_array_of_tables()) {
        return p.Error(key_line, absl::StrCat("node must be an array of tables (write each node as [[node]]), not ",
                                              TomlTypeName(value.type())));
      }
      for (const toml::node& el : *value.as_array()) {
        const int table_line = p.LineOf(el) > 0 ? p.LineOf(el) : key_line;
        absl::StatusOr<Node> node = p.OneNode(*el.as_table(), table_line, file.data_centers_);
        if (!node.ok()) return node.status();
        auto [it, inserted] = id_lines.emplace(node->id, node->line);
        if (!inserted) {
          return p.Error(node->line, absl::StrCat("node id ", node->id, " appears twice: at ", p.At(it->second),
                                                  " and ", p.At(node->line)));
        }
        file.nodes_.push_back(*std::move(node));
      }
    } else if (k == "options") {
      if (absl::Status s = p.Options(value, &file.options_); !s.ok()) return s;
    } else {
      return p.Error(key_line, absl::StrCat("unknown key ", KeyText(k), "; the keys of a cluster file are name, "
                                                              "data-centers, node ([[node]]) and options ([options.<section>])"));
    }
  }
  if (!has_name) return p.Error(0, "name is missing: every cluster file names its cluster (name = \"...\")");
  if (file.nodes_.empty()) {
    return p.Error(0, "no node: a cluster has at least one [[node]], even with a single node");
  }

  // An engine instance belongs to one node.
  std::map<std::string, const Node*> engine_owner;
  for (const Node& n : file.nodes_) {
    for (const std::string& e : n.engines) {
      auto [it, inserted] = engine_owner.emplace(e, &n);
      if (!inserted) {
        return p.Error(n.line, absl::StrCat("engine ", e, " is listed by node ", it->second->id, " (",
                                            p.At(it->second->line), ") and node ", n.id));
      }
    }
  }

  std::sort(file.nodes_.begin(), file.nodes_.end(), [](const Node& a, const Node& b) { return a.id < b.id; });
  std::sort(file.options_.begin(), file.options_.end(), [](const OptionSetting& a, const OptionSetting& b) {
    return std::tie(a.section, a.name) < std::tie(b.section, b.name);
  });
  file.digest_ = Sha256Hex(CanonicalForm(file.name_, file.data_centers_, file.nodes_, file.options_));
  return file;
}

std::vector<int> ClusterFile::NodeIds() const {
  std::vector<int> ids;
  ids.reserve(nodes_.size());
  for (const Node& n : nodes_) ids.push_back(n.id);
  return ids;
}

const Node* ClusterFile::FindNode(int id) const {
  auto it = std::lower_bound(nodes_.begin(), nodes_.end(), id, [](const Node& n, int v) { return n.id < v; });
  return it != nodes_.end() && it->id == id ? &*it : nullptr;
}

absl::StatusOr<std::string> ClusterFile::DataCenterOf(int id) const {
  const Node* n = FindNode(id);
  if (n == nullptr) {
    return absl::NotFoundError(absl::StrCat("node ", id, " is not in cluster ", name_, " (", source_, ")"));
  }
  return n->data_center;
}

const OptionSetting* ClusterFile::FindOption(std::string_view section, std::string_view name) const {
  for (const OptionSetting& o : options_) {
    if (o.section == section && o.name == name) return &o;
  }
  return nullptr;
}

std::string ClusterFile::Origin(const OptionSetting& setting) const { return absl::StrCat(source_, ":", setting.line); }

}  // namespace orch::cluster
