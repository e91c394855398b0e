#include "common/scxml/compiler.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/base/sha256.h"
#include "common/scxml/compiler_internal.h"
#include "common/scxml/delay.h"
#include "common/scxml/content_runs.h"
#include "common/scxml/null_data_model.h"

namespace orch::scxml {

int32_t Document::FindState(const std::string& id) const {
  for (const auto& s : states) {
    if (s.id == id && s.kind != StateKind::kRoot) return static_cast<int32_t>(s.index);
  }
  return kNone;
}

int32_t ComputeTransitionDomain(const Document& doc, const Transition& t, const uint32_t* targets, size_t n) {
  if (n == 0) return kNone;
  auto is_descendant = [&](uint32_t s, uint32_t ancestor) {
    return s > ancestor && s <= doc.states[ancestor].last_descendant;
  };
  auto all_descendants = [&](uint32_t ancestor) {
    for (size_t i = 0; i < n; ++i) {
      if (!is_descendant(targets[i], ancestor)) return false;
    }
    return true;
  };
  const uint32_t source = static_cast<uint32_t>(t.source);
  if (t.internal && doc.states[source].kind == StateKind::kCompound && all_descendants(source)) return t.source;
  // The least common compound ancestor of the source and the targets.
  for (int32_t a = doc.states[source].parent; a != kNone; a = doc.states[a].parent) {
    const StateKind k = doc.states[a].kind;
    if (k != StateKind::kCompound && k != StateKind::kRoot) continue;
    if (all_descendants(static_cast<uint32_t>(a))) return a;
  }
  return 0;
}

namespace {

// The interpreter's precomputed tables (document.h: StateInfo,
// TransitionInfo, states_by_id), once the targets are resolved.
void BuildDocumentTables(Document* doc) {
  const size_t n = doc->states.size();
  doc->state_info.assign(n, StateInfo());
  doc->has_eventless = false;
  doc->has_history = false;
  for (size_t i = 0; i < n; ++i) {
    const State& st = doc->states[i];
    StateInfo& info = doc->state_info[i];
    info.parent = st.parent;
    info.last_descendant = st.last_descendant;
    info.kind = st.kind;
    info.atomic = i != 0 && st.kind != StateKind::kCompound && st.kind != StateKind::kParallel;
    if (st.kind == StateKind::kHistory) {
      doc->has_history = true;
      if (st.parent != kNone) doc->state_info[st.parent].has_history_child = true;
      continue;  // its default transition is not selected by events
    }
    bool eventless = false;
    bool evented = false;
    for (uint32_t ti : st.transitions) {
      (doc->transitions[ti].events.empty() ? eventless : evented) = true;
    }
    doc->has_eventless |= eventless;
    if (st.parent != kNone) {  // parents come first in document order
      eventless |= doc->state_info[st.parent].eventless_chain;
      evented |= doc->state_info[st.parent].evented_chain;
    }
    info.eventless_chain = eventless;
    info.evented_chain = evented;
  }
  doc->transition_info.assign(doc->transitions.size(), TransitionInfo());
  for (size_t i = 0; i < doc->transitions.size(); ++i) {
    const Transition& t = doc->transitions[i];
    TransitionInfo& info = doc->transition_info[i];
    for (uint32_t s : t.targets) info.dynamic |= doc->states[s].kind == StateKind::kHistory;
    if (info.dynamic) continue;
    for (uint32_t s : t.targets) {
      if (std::find(info.effective_targets.begin(), info.effective_targets.end(), s) == info.effective_targets.end()) {
        info.effective_targets.push_back(s);
      }
    }
    info.domain = ComputeTransitionDomain(*doc, t, info.effective_targets.data(), info.effective_targets.size());
  }
  doc->states_by_id.clear();
  for (uint32_t i = 1; i < n; ++i) doc->states_by_id.push_back(i);
  std::stable_sort(doc->states_by_id.begin(), doc->states_by_id.end(),
                   [&](uint32_t a, uint32_t b) { return doc->states[a].id < doc->states[b].id; });
}

}  // namespace

namespace compiler_internal {

std::shared_ptr<Document> Compiler::Compile(const XmlElement& root, std::string_view source) {
  doc_ = std::make_shared<Document>();
  doc_->source_name = source_name_;
  doc_->sha256 = Sha256Hex(source);
  doc_->source_text = std::string(source);
  if (root.ns != kScxmlNs || root.name != "scxml") {
    Problem(root, absl::StrCat("the root element must be <scxml> in namespace ", kScxmlNs, ", not <",
                               root.qname, ">", root.ns.empty() ? " without a namespace" : " in " + root.ns));
    return nullptr;
  }
  CompileRoot(root);
  ResolveTargets();
  if (!problems_.empty()) return nullptr;
  BuildDocumentTables(doc_.get());
  BuildContentRuns(doc_.get());
  return doc_;
}

void Compiler::CheckAttributes(const XmlElement& e, std::initializer_list<absl::string_view> allowed) {
  for (const auto& a : e.attributes) {
    if (!a.ns.empty()) continue;  // other namespaces: extensions, ignored
    bool known = false;
    for (auto n : allowed) known |= (a.name == n);
    if (!known && !(e.name == "scxml" && !a.name.empty() && a.name[0] == '_')) {
      Problem(e, absl::StrCat("unknown attribute '", a.name, "'"));
    }
  }
}

uint32_t Compiler::CodeAttr(const XmlElement& e, absl::string_view name, CodeKind kind) {
  const std::string* v = Attr(e, name);
  if (v == nullptr) return kNoCode;
  if (absl::StripAsciiWhitespace(*v).empty()) {
    Problem(e, absl::StrCat("'", name, "' is empty"));
    return kNoCode;
  }
  return AddCode(kind, *v, e);
}

void Compiler::CompileRoot(const XmlElement& root) {
  CheckAttributes(root, {"initial", "name", "datamodel", "binding", "version", "exmode"});
  for (const auto& a : root.attributes) {
    if (a.ns.empty() && !a.name.empty() && a.name[0] == '_') doc_->extensions[a.name] = a.value;
  }
  // A session's maximum age (session-engine schedules its end).
  if (auto it = doc_->extensions.find("_maxSessionAge"); it != doc_->extensions.end()) {
    if (auto age = ParseDelay(it->second); !age.ok()) {
      Problem(root, absl::StrCat("_maxSessionAge: ", age.status().message()));
    }
  }
  if (const auto* n = Attr(root, "name")) doc_->name = *n;
  doc_->datamodel = "ecmascript";
  if (const auto* dm = Attr(root, "datamodel")) doc_->datamodel = *dm;
  if (doc_->datamodel != "ecmascript" && doc_->datamodel != "null") {
    Problem(root, absl::StrCat("datamodel '", doc_->datamodel, "' is not supported (ecmascript, null)"));
  }
  if (const auto* b = Attr(root, "binding")) {
    if (*b == "late") {
      doc_->late_binding = true;
    } else if (*b != "early") {
      Problem(root, "binding must be 'early' or 'late'");
    }
  }
  State s;
  s.index = 0;
  s.kind = StateKind::kRoot;
  s.id = doc_->name.empty() ? "$root" : doc_->name;
  s.where = Where(root);
  doc_->states.push_back(std::move(s));
  pending_initial_.push_back({0, Attr(root, "initial") ? *Attr(root, "initial") : std::string(), &root});
  for (const XmlElement* c : Children(root)) {
    if (c->name == "state" || c->name == "parallel" || c->name == "final") {
      CompileState(*c, 0);
    } else if (c->name == "datamodel") {
      CompileDatamodel(*c, 0);
    } else if (c->name == "script") {
      CompileExec(*c, &doc_->root_scripts);
    } else {
      Problem(*c, "not allowed as a child of <scxml>");
    }
  }
  bool has_state = false;
  for (uint32_t c : doc_->states[0].children) has_state |= doc_->states[c].kind != StateKind::kHistory;
  if (!has_state) Problem(root, "a document needs at least one <state>, <parallel> or <final>");
  Finish(0);
}

void Compiler::CompileDatamodel(const XmlElement& e, uint32_t state) {
  CheckAttributes(e, {});
  for (const XmlElement* d : Children(e)) {
    if (d->name != "data") {
      Problem(*d, "only <data> is allowed in <datamodel>");
      continue;
    }
    CheckAttributes(*d, {"id", "src", "expr", "_type"});
    DataDecl decl;
    if (const std::string* type = Attr(*d, "_type")) decl.parameter = *type == "parameter";
    decl.where = Where(*d);
    const std::string* id = Attr(*d, "id");
    if (id == nullptr || id->empty()) {
      Problem(*d, "'id' is required");
      continue;
    }
    decl.id = *id;
    const int sources = (Attr(*d, "src") != nullptr) + (Attr(*d, "expr") != nullptr) +
                        (d->HasElementChildren() || !absl::StripAsciiWhitespace(d->Text()).empty());
    if (sources > 1) Problem(*d, "give at most one of 'src', 'expr' and content");
    decl.expr = CodeAttr(*d, "expr", CodeKind::kExpression);
    if (const std::string* src = Attr(*d, "src")) {
      if (options_.fetcher == nullptr) {
        Problem(*d, absl::StrCat("cannot fetch '", *src, "': no fetcher"));
      } else {
        auto text = options_.fetcher->Fetch(*src, source_name_);
        if (!text.ok()) {
          Problem(*d, absl::StrCat("cannot fetch '", *src, "': ", text.status().message()));
        } else {
          decl.has_literal = true;
          decl.literal_json = DataTextToValue(*text);
        }
      }
    } else if (d->HasElementChildren()) {
      decl.has_literal = true;
      decl.literal_json = MarkupValue(*d);
    } else if (decl.expr == kNoCode) {
      std::string text = d->Text();
      if (!absl::StripAsciiWhitespace(text).empty()) {
        decl.has_literal = true;
        decl.literal_json = ContentTextToJson(text);
      }
    }
    doc_->states[state].data.push_back(std::move(decl));
  }
}

uint32_t Compiler::NewState(const XmlElement& e, StateKind kind, int32_t parent) {
  if (doc_->states.size() >= options_.max_states) {
    if (!too_many_) Problem(e, absl::StrCat("more than ", options_.max_states, " states"));
    too_many_ = true;
  }
  State s;
  s.index = static_cast<uint32_t>(doc_->states.size());
  s.kind = kind;
  s.parent = parent;
  s.depth = doc_->states[parent].depth + 1;
  s.where = Where(e);
  if (const std::string* id = Attr(e, "id")) {
    s.id = *id;
    if (id->empty()) Problem(e, "'id' is empty");
    if (!ids_.insert(*id).second) Problem(e, absl::StrCat("duplicate id '", *id, "'"));
  } else {
    s.id = absl::StrCat("$", e.name, s.index);
  }
  doc_->states[parent].children.push_back(s.index);
  doc_->states.push_back(std::move(s));
  return doc_->states.back().index;
}

void Compiler::CompileState(const XmlElement& e, int32_t parent) {
  if (e.name == "final") {
    CheckAttributes(e, {"id"});
    uint32_t me = NewState(e, StateKind::kFinal, parent);
    for (const XmlElement* c : Children(e)) {
      if (c->name == "onentry") {
        doc_->states[me].onentry.push_back(CompileBlock(*c));
      } else if (c->name == "onexit") {
        doc_->states[me].onexit.push_back(CompileBlock(*c));
      } else if (c->name == "donedata") {
        if (doc_->states[me].donedata.present) Problem(*c, "a <final> has at most one <donedata>");
        doc_->states[me].donedata = CompileDoneData(*c);
      } else {
        Problem(*c, "not allowed in <final>");
      }
    }
    Finish(me);
    return;
  }
  const bool parallel = e.name == "parallel";
  CheckAttributes(e, parallel ? std::initializer_list<absl::string_view>{"id"}
                              : std::initializer_list<absl::string_view>{"id", "initial"});
  uint32_t me = NewState(e, parallel ? StateKind::kParallel : StateKind::kAtomic, parent);
  const XmlElement* initial_element = nullptr;
  for (const XmlElement* c : Children(e)) {
    const std::string& n = c->name;
    if (n == "state" || n == "parallel" || n == "final") {
      if (n == "final" && parallel) {
        Problem(*c, "<final> is not allowed in <parallel>");
        continue;
      }
      CompileState(*c, me);
    } else if (n == "history") {
      CompileHistory(*c, me);
    } else if (n == "onentry") {
      doc_->states[me].onentry.push_back(CompileBlock(*c));
    } else if (n == "onexit") {
      doc_->states[me].onexit.push_back(CompileBlock(*c));
    } else if (n == "transition") {
      CompileTransition(*c, me);
    } else if (n == "datamodel") {
      CompileDatamodel(*c, me);
    } else if (n == "invoke") {
      CompileInvoke(*c, me);
    } else if (n == "initial" && !parallel) {
      if (initial_element != nullptr) Problem(*c, "at most one <initial>");
      initial_element = c;
    } else {
      Problem(*c, absl::StrCat("not allowed in <", e.qname, ">"));
    }
  }
  State& s = doc_->states[me];
  bool has_child_state = false;
  for (uint32_t c : s.children) has_child_state |= doc_->states[c].kind != StateKind::kHistory;
  if (!parallel) s.kind = has_child_state ? StateKind::kCompound : StateKind::kAtomic;
  const std::string* initial_attr = Attr(e, "initial");
  if (initial_attr != nullptr && initial_element != nullptr) {
    Problem(e, "'initial' and an <initial> child cannot both be given");
  }
  if ((initial_attr != nullptr || initial_element != nullptr) && !has_child_state) {
    Problem(e, "an atomic state cannot have an initial state");
  }
  if (initial_element != nullptr) {
    CheckAttributes(*initial_element, {});
    auto kids = Children(*initial_element);
    if (kids.size() != 1 || kids[0]->name != "transition") {
      Problem(*initial_element, "<initial> must hold exactly one <transition>");
    } else {
      const XmlElement& t = *kids[0];
      if (t.Attribute("event") || t.Attribute("cond")) Problem(t, "the <initial> transition has no event or cond");
      if (!t.Attribute("target")) Problem(t, "the <initial> transition needs a target");
      int32_t ti = CompileTransitionInto(t, me, /*attach=*/false);
      doc_->states[me].initial = ti;
      pending_descendant_check_.push_back({static_cast<uint32_t>(ti), me, &t});
    }
  } else if (has_child_state) {
    pending_initial_.push_back({me, initial_attr ? *initial_attr : std::string(), &e});
  }
  Finish(me);
}

void Compiler::CompileHistory(const XmlElement& e, uint32_t parent) {
  CheckAttributes(e, {"id", "type"});
  uint32_t me = NewState(e, StateKind::kHistory, parent);
  if (const std::string* t = Attr(e, "type")) {
    if (*t == "deep") {
      doc_->states[me].deep = true;
    } else if (*t != "shallow") {
      Problem(e, "type must be 'shallow' or 'deep'");
    }
  }
  auto kids = Children(e);
  if (kids.size() > 1 || (kids.size() == 1 && kids[0]->name != "transition")) {
    Problem(e, "a <history> holds at most one <transition>");
  } else if (kids.size() == 1) {
    const XmlElement& t = *kids[0];
    if (t.Attribute("event") || t.Attribute("cond")) Problem(t, "a history transition has no event or cond");
    if (!t.Attribute("target")) Problem(t, "a history transition needs a target");
    int32_t ti = CompileTransitionInto(t, me, /*attach=*/true);
    pending_descendant_check_.push_back({static_cast<uint32_t>(ti), parent, &t});
  } else {
    Problem(e, "a <history> needs a default <transition>");
  }
  Finish(me);
}

int32_t Compiler::CompileTransitionInto(const XmlElement& e, uint32_t state, bool attach) {
  CheckAttributes(e, {"event", "cond", "target", "type"});
  Transition t;
  t.index = static_cast<uint32_t>(doc_->transitions.size());
  t.source = static_cast<int32_t>(state);
  t.where = Where(e);
  if (const std::string* ev = Attr(e, "event")) {
    for (absl::string_view d : absl::StrSplit(*ev, absl::ByAnyChar(" \t\r\n"), absl::SkipEmpty())) {
      std::string desc(d);
      if (desc.size() >= 2 && desc.substr(desc.size() - 2) == ".*") desc.resize(desc.size() - 2);
      if (desc.empty()) desc = "*";  // ".*" matches every event, like "*"
      if (desc.empty() || (desc.back() == '.' && desc != ".")) {
        while (!desc.empty() && desc.back() == '.') desc.pop_back();
      }
      if (!desc.empty()) t.events.push_back(desc);
    }
    if (t.events.empty()) Problem(e, "'event' holds no event descriptor");
  }
  t.cond = CodeAttr(e, "cond", CodeKind::kCondition);
  if (const std::string* ty = Attr(e, "type")) {
    if (*ty == "internal") {
      t.internal = true;
    } else if (*ty != "external") {
      Problem(e, "type must be 'internal' or 'external'");
    }
  }
  t.actions = CompileBlock(e);
  doc_->transitions.push_back(std::move(t));
  pending_targets_.push_back({doc_->transitions.back().index, Attr(e, "target") ? *Attr(e, "target") : "", &e});
  if (attach) doc_->states[state].transitions.push_back(doc_->transitions.back().index);
  return static_cast<int32_t>(doc_->transitions.back().index);
}

void Compiler::ResolveTargets() {
  for (const auto& [ti, text, e] : pending_targets_) {
    for (absl::string_view id : absl::StrSplit(text, absl::ByAnyChar(" \t\r\n"), absl::SkipEmpty())) {
      int32_t s = doc_->FindState(std::string(id));
      if (s == kNone) {
        Problem(*e, absl::StrCat("unknown target '", id, "'"));
      } else {
        doc_->transitions[ti].targets.push_back(static_cast<uint32_t>(s));
      }
    }
  }
  for (const auto& [state, text, e] : pending_initial_) {
    Transition t;
    t.index = static_cast<uint32_t>(doc_->transitions.size());
    t.source = static_cast<int32_t>(state);
    t.where = Where(*e);
    if (text.empty()) {
      for (uint32_t c : doc_->states[state].children) {
        if (doc_->states[c].kind != StateKind::kHistory) {
          t.targets.push_back(c);
          break;
        }
      }
    } else {
      for (absl::string_view id : absl::StrSplit(text, absl::ByAnyChar(" \t\r\n"), absl::SkipEmpty())) {
        int32_t s = doc_->FindState(std::string(id));
        if (s == kNone) {
          Problem(*e, absl::StrCat("unknown initial state '", id, "'"));
        } else if (!IsDescendant(static_cast<uint32_t>(s), state)) {
          Problem(*e, absl::StrCat("initial state '", id, "' is not a descendant"));
        } else {
          t.targets.push_back(static_cast<uint32_t>(s));
        }
      }
    }
    doc_->states[state].initial = static_cast<int32_t>(t.index);
    doc_->transitions.push_back(std::move(t));
  }
  for (const auto& [ti, state, e] : pending_descendant_check_) {
    for (uint32_t target : doc_->transitions[ti].targets) {
      if (!IsDescendant(target, state)) {
        Problem(*e, absl::StrCat("target '", doc_->states[target].id, "' is not a descendant of '",
                                 doc_->states[state].id, "'"));
      }
    }
  }
  // A <history> whose default transition leads back to itself through
  // history targets would have no default configuration (and the
  // interpreter would recurse without end entering it).
  for (const auto& [ti, state, e] : pending_descendant_check_) {
    const uint32_t history = static_cast<uint32_t>(doc_->transitions[ti].source);
    std::vector<uint32_t> todo(doc_->transitions[ti].targets);
    std::set<uint32_t> seen;
    bool cycle = false;
    while (!todo.empty() && !cycle) {
      const uint32_t s = todo.back();
      todo.pop_back();
      const State& st = doc_->states[s];
      if (st.kind != StateKind::kHistory || !seen.insert(s).second) continue;
      if (s == history) {
        cycle = true;
      } else if (!st.transitions.empty()) {
        const auto& more = doc_->transitions[st.transitions[0]].targets;
        todo.insert(todo.end(), more.begin(), more.end());
      }
    }
    if (cycle) {
      Problem(*e, absl::StrCat("the default transition of history '", doc_->states[history].id,
                               "' leads back to it"));
    }
  }
}

}  // namespace compiler_internal

namespace {

absl::Status CompileCode(Document* doc, const CompileOptions& options) {
  for (auto& child : doc->children) {
    auto* c = const_cast<Document*>(child.get());
    if (absl::Status s = CompileCode(c, options); !s.ok()) return s;
  }
  DataModelFactory* factory = nullptr;
  static NullDataModelFactory* null_factory = new NullDataModelFactory();
  if (doc->datamodel == "null") {
    factory = null_factory;
  } else {
    factory = options.ecmascript;
    if (factory == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(doc->source_name, ": no ECMAScript data model available"));
    }
  }
  auto compiled = factory->Compile(doc->code);
  if (!compiled.ok()) return compiled.status();
  doc->compiled = *std::move(compiled);
  return absl::OkStatus();
}

std::vector<std::string> CompileAll(std::string_view source, const std::string& source_name,
                                    const CompileOptions& options, std::shared_ptr<const Document>* out) {
  auto root = ParseXml(source, source_name, options.xml);
  if (!root.ok()) return {std::string(root.status().message())};
  compiler_internal::Compiler compiler(options, source_name);
  std::shared_ptr<Document> doc = compiler.Compile(**root, source);
  if (!compiler.problems().empty() || doc == nullptr) return compiler.problems();
  if (absl::Status s = CompileCode(doc.get(), options); !s.ok()) {
    std::vector<std::string> lines = absl::StrSplit(s.message(), '\n');
    return lines;
  }
  *out = doc;
  return {};
}

}  // namespace

bool EventMatches(std::string_view descriptor, std::string_view name) {
  if (descriptor == "*") return true;
  if (name.size() < descriptor.size()) return false;
  if (name.substr(0, descriptor.size()) != descriptor) return false;
  return name.size() == descriptor.size() || name[descriptor.size()] == '.';
}

absl::StatusOr<std::shared_ptr<const Document>> CompileDocument(std::string_view source,
                                                                const std::string& source_name,
                                                                const CompileOptions& options) {
  std::shared_ptr<const Document> doc;
  std::vector<std::string> problems = CompileAll(source, source_name, options, &doc);
  if (!problems.empty()) return absl::InvalidArgumentError(absl::StrJoin(problems, "\n"));
  return doc;
}

std::vector<std::string> ValidateDocument(std::string_view source, const std::string& source_name,
                                          const CompileOptions& options) {
  std::shared_ptr<const Document> doc;
  return CompileAll(source, source_name, options, &doc);
}

}  // namespace orch::scxml
