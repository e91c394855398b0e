// Fuzz target: arbitrary bytes as a cluster file must give a ClusterFile or
// one INVALID_ARGUMENT naming the file — never a crash, a hang or an
// exception escaping toml++. A file that parses keeps its invariants, and
// written back as TOML from its accessors it parses to the same digest (so
// the digest covers exactly what the accessors expose).

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/base/check.h"
#include "common/base/json.h"
#include "common/cluster/cluster_file.h"

namespace {

using orch::JsonString;
using orch::cluster::ClusterFile;

std::string TomlValue(const orch::cluster::OptionValue& v) {
  struct Visitor {
    std::string operator()(const std::string& s) const { return JsonString(s); }
    std::string operator()(int64_t i) const { return absl::StrCat(i); }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(const std::vector<std::string>& l) const {
      std::string out = "[";
      for (const auto& s : l) absl::StrAppend(&out, JsonString(s), ", ");
      return out + "]";
    }
  };
  return std::visit(Visitor{}, v);
}

// JSON string escapes are TOML basic-string escapes, so JsonString quotes
// values and keys alike.
std::string WriteBack(const ClusterFile& f) {
  std::string out = absl::StrCat("name = ", JsonString(f.name()), "\ndata-centers = [");
  for (const auto& dc : f.data_centers()) absl::StrAppend(&out, JsonString(dc), ", ");
  absl::StrAppend(&out, "]\n");
  for (const auto& n : f.nodes()) {
    absl::StrAppend(&out, "[[node]]\nid = ", n.id, "\ndata-center = ", JsonString(n.data_center), "\nengines = [");
    for (const auto& e : n.engines) absl::StrAppend(&out, JsonString(e), ", ");
    absl::StrAppend(&out, "]\n");
  }
  const std::string* section = nullptr;
  for (const auto& o : f.options()) {  // sorted: a section's options are together
    if (section == nullptr || *section != o.section) {
      section = &o.section;
      absl::StrAppend(&out, "[options.", JsonString(o.section), "]\n");
    }
    absl::StrAppend(&out, JsonString(o.name), " = ", TomlValue(o.value), "\n");
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto f = ClusterFile::Parse(text, "cluster.toml");
  if (!f.ok()) {
    ORCH_CHECK(f.status().code() == absl::StatusCode::kInvalidArgument, "unexpected code");
    ORCH_CHECK(f.status().message().rfind("cluster.toml", 0) == 0, "error does not start with the file name");
    ORCH_CHECK(f.status().message().find('\n') == absl::string_view::npos || text.find('\n') != std::string::npos,
               "multi-line error from single-line input");
    return 0;
  }

  ORCH_CHECK(!f->name().empty() && !f->nodes().empty(), "a cluster without a name or a node");
  ORCH_CHECK(f->Digest().size() == 64, "digest is not 64 hex digits");
  const std::set<std::string> dcs(f->data_centers().begin(), f->data_centers().end());
  ORCH_CHECK(dcs.size() == f->data_centers().size() && dcs.count("") == 0, "bad declared data centers");
  int previous = 0;
  std::set<std::string> engines;
  for (const auto& n : f->nodes()) {
    ORCH_CHECK(n.id > previous && n.id <= orch::cluster::kMaxNodeId, "node ids not ascending, unique, in range");
    previous = n.id;
    ORCH_CHECK(n.data_center.empty() || dcs.count(n.data_center) == 1, "node in an undeclared data center");
    ORCH_CHECK(f->FindNode(n.id) == &n, "FindNode does not find a node");
    for (const auto& e : n.engines) ORCH_CHECK(engines.insert(e).second, "an engine on two nodes");
  }
  for (size_t i = 0; i < f->options().size(); ++i) {
    const auto& o = f->options()[i];
    ORCH_CHECK(f->FindOption(o.section, o.name) == &o, "FindOption does not find an option");
    if (i > 0) {
      const auto& p = f->options()[i - 1];
      ORCH_CHECK(std::tie(p.section, p.name) < std::tie(o.section, o.name), "options not sorted by key");
    }
  }

  auto same_text = ClusterFile::Parse(text, "other-name.toml");
  ORCH_CHECK(same_text.ok() && same_text->Digest() == f->Digest(), "the digest depends on the file name");
  const std::string written = WriteBack(*f);
  auto again = ClusterFile::Parse(written, "written.toml");
  ORCH_CHECK(again.ok(), "a valid cluster file written back does not parse");
  ORCH_CHECK(again->Digest() == f->Digest(), "written back, a cluster file has another digest");
  return 0;
}
