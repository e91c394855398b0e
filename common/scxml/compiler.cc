#include "common/scxml/compiler.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/base/json.h"
#include "common/base/sha256.h"
#include "common/scxml/content_runs.h"
#include "common/scxml/delay.h"
#include "common/scxml/modules.h"
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

constexpr char kScxmlNs[] = "http://www.w3.org/2005/07/scxml";
// The Orchestration Server's session module (Composer writes it with
// "http://", its documentation without).
constexpr char kSessionNs[] = "http://www.genesyslab.com/modules/session";
constexpr char kSessionNsBare[] = "www.genesyslab.com/modules/session";

// ---- JSON syntax check (no values built) ----
struct JsonChecker {
  std::string_view s;
  size_t i = 0;
  int depth = 0;
  void Ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  }
  bool Lit(std::string_view w) {
    if (s.substr(i, w.size()) != w) return false;
    i += w.size();
    return true;
  }
  bool String() {
    if (i >= s.size() || s[i] != '"') return false;
    ++i;
    while (i < s.size()) {
      char c = s[i++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c == '\\') {
        if (i >= s.size()) return false;
        char e = s[i++];
        if (e == 'u') {
          for (int k = 0; k < 4; ++k, ++i) {
            if (i >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
          }
        } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
          return false;
        }
      }
    }
    return false;
  }
  bool Number() {
    size_t start = i;
    if (i < s.size() && s[i] == '-') ++i;
    if (i >= s.size()) return false;
    if (s[i] == '0') {
      ++i;
    } else if (std::isdigit(static_cast<unsigned char>(s[i]))) {
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    } else {
      return false;
    }
    if (i < s.size() && s[i] == '.') {
      ++i;
      if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) return false;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    }
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
      ++i;
      if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
      if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) return false;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    }
    return i > start;
  }
  bool Value() {
    if (++depth > 256) return false;
    Ws();
    if (i >= s.size()) return false;
    bool ok;
    switch (s[i]) {
      case '{': {
        ++i;
        Ws();
        if (i < s.size() && s[i] == '}') {
          ++i;
          ok = true;
          break;
        }
        ok = false;
        while (true) {
          Ws();
          if (!String()) break;
          Ws();
          if (i >= s.size() || s[i] != ':') break;
          ++i;
          if (!Value()) break;
          Ws();
          if (i < s.size() && s[i] == ',') {
            ++i;
            continue;
          }
          if (i < s.size() && s[i] == '}') {
            ++i;
            ok = true;
          }
          break;
        }
        break;
      }
      case '[': {
        ++i;
        Ws();
        if (i < s.size() && s[i] == ']') {
          ++i;
          ok = true;
          break;
        }
        ok = false;
        while (true) {
          if (!Value()) break;
          Ws();
          if (i < s.size() && s[i] == ',') {
            ++i;
            continue;
          }
          if (i < s.size() && s[i] == ']') {
            ++i;
            ok = true;
          }
          break;
        }
        break;
      }
      case '"': ok = String(); break;
      case 't': ok = Lit("true"); break;
      case 'f': ok = Lit("false"); break;
      case 'n': ok = Lit("null"); break;
      default: ok = Number();
    }
    --depth;
    return ok;
  }
};

class Compiler {
 public:
  Compiler(const CompileOptions& options, std::string source_name)
      : options_(options), source_name_(std::move(source_name)) {}

  std::shared_ptr<Document> Compile(const XmlElement& root, std::string_view source) {
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

  std::vector<std::string>& problems() { return problems_; }
  std::shared_ptr<Document>& doc() { return doc_; }

 private:
  std::string Where(const XmlElement& e) const {
    return absl::StrCat(source_name_, ":", e.line, ":", e.column);
  }
  void Problem(const XmlElement& e, const std::string& msg) {
    problems_.push_back(absl::StrCat(Where(e), ": <", e.qname, ">: ", msg));
  }

  bool IsScxml(const XmlElement& e) const { return e.ns == kScxmlNs; }

  const std::string* Attr(const XmlElement& e, absl::string_view name) {
    const XmlAttribute* a = e.Attribute(std::string_view(name.data(), name.size()));
    return a != nullptr ? &a->value : nullptr;
  }

  // Checks the attributes against the allowed set and exclusive pairs.
  void CheckAttributes(const XmlElement& e, std::initializer_list<absl::string_view> allowed) {
    for (const auto& a : e.attributes) {
      if (!a.ns.empty()) continue;  // other namespaces: extensions, ignored
      bool known = false;
      for (auto n : allowed) known |= (a.name == n);
      if (!known && !(e.name == "scxml" && !a.name.empty() && a.name[0] == '_')) {
        Problem(e, absl::StrCat("unknown attribute '", a.name, "'"));
      }
    }
  }
  void Exclusive(const XmlElement& e, absl::string_view a, absl::string_view b) {
    if (e.Attribute(std::string_view(a.data(), a.size())) != nullptr && e.Attribute(std::string_view(b.data(), b.size())) != nullptr) {
      Problem(e, absl::StrCat("'", a, "' and '", b, "' cannot both be given"));
    }
  }

  uint32_t AddCode(CodeKind kind, const std::string& text, const XmlElement& e) {
    uint32_t id = static_cast<uint32_t>(doc_->code.size());
    doc_->code.push_back(CodeSpec{id, kind, text, Where(e)});
    return id;
  }
  uint32_t CodeAttr(const XmlElement& e, absl::string_view name, CodeKind kind) {
    const std::string* v = Attr(e, name);
    if (v == nullptr) return kNoCode;
    if (absl::StripAsciiWhitespace(*v).empty()) {
      Problem(e, absl::StrCat("'", name, "' is empty"));
      return kNoCode;
    }
    return AddCode(kind, *v, e);
  }

  static bool IsSessionResponse(const XmlElement& e) {
    return (e.ns == kSessionNs || e.ns == kSessionNsBare) && e.name == "response";
  }

  // Executable content children: SCXML elements, <session:response> and
  // functional-module actions (modules.h).
  std::vector<const XmlElement*> ExecChildren(const XmlElement& e) {
    std::vector<const XmlElement*> out;
    for (const auto& c : e.children) {
      if (c.element && (IsScxml(*c.element) || IsSessionResponse(*c.element) ||
                        !ModuleOfNamespace(c.element->ns).empty())) {
        out.push_back(c.element.get());
      }
    }
    return out;
  }

  void CompileModule(const XmlElement& e, std::string_view module, ExecNode* n) {
    ModuleCompileContext ctx{
        .add_code = [this](CodeKind kind, const std::string& text, const XmlElement& at) {
          return AddCode(kind, text, at);
        },
        .problem = [this](const XmlElement& at, const std::string& msg) { Problem(at, msg); },
        .compile_param = [this](const XmlElement& p) { return CompileParam(p); },
    };
    n->kind = ExecKind::kModule;
    n->module = CompileModuleAction(e, module, ctx);
    if (!doc_->genesys && doc_->datamodel == "ecmascript") {
      doc_->genesys = true;
      doc_->genesys_hook = AddCode(CodeKind::kScript, kGenesysHookScript, e);
    }
  }

  std::vector<const XmlElement*> Children(const XmlElement& e) {
    std::vector<const XmlElement*> out;
    for (const auto& c : e.children) {
      if (c.element && IsScxml(*c.element)) out.push_back(c.element.get());
    }
    return out;
  }

  void CompileRoot(const XmlElement& root) {
    CheckAttributes(root, {"initial", "name", "datamodel", "binding", "version", "exmode"});
    for (const auto& a : root.attributes) {
      if (a.ns.empty() && !a.name.empty() && a.name[0] == '_') doc_->extensions[a.name] = a.value;
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

  void CompileDatamodel(const XmlElement& e, uint32_t state) {
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

  uint32_t NewState(const XmlElement& e, StateKind kind, int32_t parent) {
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

  void CompileState(const XmlElement& e, int32_t parent) {
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

  void CompileHistory(const XmlElement& e, uint32_t parent) {
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

  void CompileTransition(const XmlElement& e, uint32_t state) { CompileTransitionInto(e, state, true); }

  int32_t CompileTransitionInto(const XmlElement& e, uint32_t state, bool attach) {
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

  DoneData CompileDoneData(const XmlElement& e) {
    CheckAttributes(e, {});
    DoneData d;
    d.present = true;
    for (const XmlElement* c : Children(e)) {
      if (c->name == "param") {
        d.params.push_back(CompileParam(*c));
      } else if (c->name == "content") {
        d.content = CompileContent(*c, false);
      } else {
        Problem(*c, "only <content> or <param> are allowed in <donedata>");
      }
    }
    if (d.content.present && !d.params.empty()) Problem(e, "<content> and <param> cannot both be given");
    return d;
  }

  Param CompileParam(const XmlElement& e) {
    CheckAttributes(e, {"name", "expr", "location"});
    Param p;
    if (const std::string* n = Attr(e, "name")) {
      p.name = *n;
    } else {
      Problem(e, "'name' is required");
    }
    Exclusive(e, "expr", "location");
    if (!e.Attribute("expr") && !e.Attribute("location")) Problem(e, "'expr' or 'location' is required");
    p.expr = e.Attribute("expr") ? CodeAttr(e, "expr", CodeKind::kExpression)
                                 : CodeAttr(e, "location", CodeKind::kExpression);
    return p;
  }

  Content CompileContent(const XmlElement& e, bool allow_document) {
    CheckAttributes(e, {"expr"});
    Content c;
    c.present = true;
    c.expr = CodeAttr(e, "expr", CodeKind::kExpression);
    const bool has_body = e.HasElementChildren() || !absl::StripAsciiWhitespace(e.Text()).empty();
    if (c.expr != kNoCode && has_body) Problem(e, "'expr' and a body cannot both be given");
    if (e.HasElementChildren()) {
      const XmlElement* first = nullptr;
      for (const auto& k : e.children) {
        if (k.element) {
          first = k.element.get();
          break;
        }
      }
      c.markup = first->Serialize();
      c.literal_json = MarkupValue(e);
      if (allow_document && first->ns == kScxmlNs && first->name == "scxml") {
        Compiler child(options_, source_name_);
        auto compiled = child.Compile(*first, c.markup);
        for (auto& p : child.problems()) problems_.push_back(p);
        if (compiled) {
          c.child_document = static_cast<int32_t>(doc_->children.size());
          doc_->children.push_back(std::move(compiled));
        }
      }
    } else if (has_body) {
      c.literal_json = ContentTextToJson(e.Text());
    } else if (c.expr == kNoCode) {
      c.literal_json = "\"\"";
    }
    return c;
  }

  std::vector<std::pair<std::string, uint32_t>> Namelist(const XmlElement& e) {
    std::vector<std::pair<std::string, uint32_t>> out;
    if (const std::string* nl = Attr(e, "namelist")) {
      for (absl::string_view n : absl::StrSplit(*nl, absl::ByAnyChar(" \t\r\n"), absl::SkipEmpty())) {
        out.emplace_back(std::string(n), AddCode(CodeKind::kExpression, std::string(n), e));
      }
    }
    return out;
  }

  void CompileInvoke(const XmlElement& e, uint32_t state) {
    CheckAttributes(e, {"type", "typeexpr", "src", "srcexpr", "id", "idlocation", "namelist", "autoforward"});
    Exclusive(e, "type", "typeexpr");
    Exclusive(e, "src", "srcexpr");
    Exclusive(e, "id", "idlocation");
    Invoke inv;
    inv.index = static_cast<uint32_t>(doc_->invokes.size());
    inv.state = static_cast<int32_t>(state);
    inv.where = Where(e);
    if (const auto* t = Attr(e, "type")) inv.type = *t;
    inv.typeexpr = CodeAttr(e, "typeexpr", CodeKind::kExpression);
    if (const auto* s = Attr(e, "src")) inv.src = *s;
    inv.srcexpr = CodeAttr(e, "srcexpr", CodeKind::kExpression);
    if (const auto* i = Attr(e, "id")) inv.id = *i;
    inv.idlocation = CodeAttr(e, "idlocation", CodeKind::kLocation);
    inv.namelist = Namelist(e);
    if (const auto* a = Attr(e, "autoforward")) {
      if (*a == "true") {
        inv.autoforward = true;
      } else if (*a != "false") {
        Problem(e, "autoforward must be 'true' or 'false'");
      }
    }
    for (const XmlElement* c : Children(e)) {
      if (c->name == "param") {
        inv.params.push_back(CompileParam(*c));
      } else if (c->name == "content") {
        if (inv.content.present) Problem(*c, "at most one <content>");
        inv.content = CompileContent(*c, true);
      } else if (c->name == "finalize") {
        inv.finalize = CompileBlock(*c);
      } else {
        Problem(*c, "not allowed in <invoke>");
      }
    }
    if (inv.content.present && (e.Attribute("src") || e.Attribute("srcexpr"))) {
      Problem(e, "<content> and 'src'/'srcexpr' cannot both be given");
    }
    if (!inv.namelist.empty() && !inv.params.empty()) Problem(e, "'namelist' and <param> cannot both be given");
    doc_->states[state].invokes.push_back(inv.index);
    doc_->invokes.push_back(std::move(inv));
  }

  Block CompileBlock(const XmlElement& e) {
    Block b;
    for (const XmlElement* c : ExecChildren(e)) {
      if (c->name == "transition" && e.name == "transition") continue;
      CompileExec(*c, &b);
    }
    return b;
  }

  // 'namelist', <param>s and <content> of a <send> (or <session:response>).
  void CompileSendPayload(const XmlElement& e, ExecNode* n) {
    n->namelist = Namelist(e);
    for (const XmlElement* c : Children(e)) {
      if (c->name == "param") {
        n->params.push_back(CompileParam(*c));
      } else if (c->name == "content") {
        if (n->content.present) Problem(*c, "at most one <content>");
        n->content = CompileContent(*c, false);
      } else {
        Problem(*c, absl::StrCat("not allowed in <", e.name, ">"));
      }
    }
    if (n->content.present && (!n->params.empty() || !n->namelist.empty())) {
      Problem(e, "<content> excludes 'namelist' and <param>");
    }
  }

  void CompileExec(const XmlElement& e, Block* out) {
    ExecNode n;
    n.where = Where(e);
    const std::string& name = e.name;
    if (std::string_view module = ModuleOfNamespace(e.ns); !module.empty()) {
      CompileModule(e, module, &n);
      if (n.module == nullptr) return;
    } else if (IsSessionResponse(e)) {
      // <session:response>: the answer to the HTTP request being processed
      // (POST .../request/<name>), i.e. a <send> to the request's origin.
      // 'event'/'eventexpr' name the reply ("response" by default),
      // 'originexpr' picks another request than the current event's.
      CheckAttributes(e, {"event", "eventexpr", "namelist", "originexpr"});
      n.kind = ExecKind::kSend;
      Exclusive(e, "event", "eventexpr");
      if (const auto* ev = Attr(e, "event")) n.event = *ev;
      n.expr = CodeAttr(e, "eventexpr", CodeKind::kExpression);
      if (n.event.empty() && n.expr == kNoCode) n.event = "response";
      n.targetexpr = CodeAttr(e, "originexpr", CodeKind::kExpression);
      if (n.targetexpr == kNoCode) n.targetexpr = AddCode(CodeKind::kExpression, "_event.origin", e);
      CompileSendPayload(e, &n);
    } else if (name == "raise") {
      CheckAttributes(e, {"event"});
      n.kind = ExecKind::kRaise;
      if (const auto* ev = Attr(e, "event")) {
        n.event = *ev;
      } else {
        Problem(e, "'event' is required");
      }
    } else if (name == "log") {
      CheckAttributes(e, {"label", "expr"});
      n.kind = ExecKind::kLog;
      if (const auto* l = Attr(e, "label")) n.label = *l;
      // An empty expr logs nothing but the label (W3C test 307 writes one).
      if (const auto* x = Attr(e, "expr"); x != nullptr && !absl::StripAsciiWhitespace(*x).empty()) {
        n.expr = AddCode(CodeKind::kExpression, *x, e);
      }
    } else if (name == "assign") {
      CheckAttributes(e, {"location", "expr"});
      n.kind = ExecKind::kAssign;
      n.location = CodeAttr(e, "location", CodeKind::kLocation);
      if (n.location == kNoCode) Problem(e, "'location' is required");
      n.expr = CodeAttr(e, "expr", CodeKind::kExpression);
      const bool has_body = e.HasElementChildren() || !absl::StripAsciiWhitespace(e.Text()).empty();
      if (n.expr != kNoCode && has_body) Problem(e, "'expr' and content cannot both be given");
      if (n.expr == kNoCode) {
        n.content.present = true;
        if (e.HasElementChildren()) {
          n.content.literal_json = MarkupValue(e);
        } else {
          n.content.literal_json = has_body ? ContentTextToJson(e.Text()) : "undefined";
        }
      }
    } else if (name == "script") {
      CheckAttributes(e, {"src"});
      n.kind = ExecKind::kScript;
      std::string body = e.Text();
      if (const auto* src = Attr(e, "src")) {
        if (!absl::StripAsciiWhitespace(body).empty()) Problem(e, "'src' and a body cannot both be given");
        if (options_.fetcher == nullptr) {
          Problem(e, absl::StrCat("cannot fetch '", *src, "': no fetcher"));
        } else {
          auto text = options_.fetcher->Fetch(*src, source_name_);
          if (!text.ok()) {
            Problem(e, absl::StrCat("cannot fetch '", *src, "': ", text.status().message()));
          } else {
            body = *text;
          }
        }
      }
      n.code = AddCode(CodeKind::kScript, body, e);
    } else if (name == "send") {
      CheckAttributes(e, {"event", "eventexpr", "target", "targetexpr", "type", "typeexpr", "id", "idlocation",
                          "delay", "delayexpr", "namelist"});
      n.kind = ExecKind::kSend;
      Exclusive(e, "event", "eventexpr");
      Exclusive(e, "target", "targetexpr");
      Exclusive(e, "type", "typeexpr");
      Exclusive(e, "id", "idlocation");
      Exclusive(e, "delay", "delayexpr");
      if (const auto* ev = Attr(e, "event")) n.event = *ev;
      n.expr = CodeAttr(e, "eventexpr", CodeKind::kExpression);
      if (const auto* t = Attr(e, "target")) n.target = *t;
      n.targetexpr = CodeAttr(e, "targetexpr", CodeKind::kExpression);
      if (const auto* t = Attr(e, "type")) n.type = *t;
      n.typeexpr = CodeAttr(e, "typeexpr", CodeKind::kExpression);
      if (const auto* i = Attr(e, "id")) n.id = *i;
      n.idlocation = CodeAttr(e, "idlocation", CodeKind::kLocation);
      if (const auto* d = Attr(e, "delay")) {
        auto ms = ParseDelay(*d);
        if (ms.ok()) {
          n.delay_ms = *ms;
        } else {
          Problem(e, absl::StrCat("delay ", ms.status().message()));
        }
      }
      n.delayexpr = CodeAttr(e, "delayexpr", CodeKind::kExpression);
      if ((e.Attribute("delay") || e.Attribute("delayexpr")) && n.target == "#_internal") {
        Problem(e, "a delayed <send> cannot target #_internal");
      }
      CompileSendPayload(e, &n);
    } else if (name == "cancel") {
      CheckAttributes(e, {"sendid", "sendidexpr"});
      n.kind = ExecKind::kCancel;
      Exclusive(e, "sendid", "sendidexpr");
      if (const auto* s = Attr(e, "sendid")) n.id = *s;
      n.idlocation = CodeAttr(e, "sendidexpr", CodeKind::kExpression);
      if (!e.Attribute("sendid") && !e.Attribute("sendidexpr")) Problem(e, "'sendid' or 'sendidexpr' is required");
    } else if (name == "if") {
      CheckAttributes(e, {"cond"});
      n.kind = ExecKind::kIf;
      n.branches.push_back({CodeAttr(e, "cond", CodeKind::kCondition), {}});
      if (n.branches[0].cond == kNoCode) Problem(e, "'cond' is required");
      bool seen_else = false;
      for (const XmlElement* c : ExecChildren(e)) {
        if (c->name == "elseif" && IsScxml(*c)) {
          CheckAttributes(*c, {"cond"});
          if (seen_else) Problem(*c, "<elseif> after <else>");
          n.branches.push_back({CodeAttr(*c, "cond", CodeKind::kCondition), {}});
          if (n.branches.back().cond == kNoCode) Problem(*c, "'cond' is required");
        } else if (c->name == "else" && IsScxml(*c)) {
          CheckAttributes(*c, {});
          if (seen_else) Problem(*c, "a second <else>");
          seen_else = true;
          n.branches.push_back({kNoCode, {}});
        } else {
          CompileExec(*c, &n.branches.back().body);
        }
      }
    } else if (name == "foreach") {
      CheckAttributes(e, {"array", "item", "index"});
      n.kind = ExecKind::kForeach;
      n.expr = CodeAttr(e, "array", CodeKind::kExpression);
      n.item = CodeAttr(e, "item", CodeKind::kLocation);
      n.index = CodeAttr(e, "index", CodeKind::kLocation);
      if (n.expr == kNoCode) Problem(e, "'array' is required");
      if (n.item == kNoCode) Problem(e, "'item' is required");
      for (const XmlElement* c : ExecChildren(e)) CompileExec(*c, &n.body);
    } else {
      Problem(e, "not executable content here");
      return;
    }
    out->push_back(std::move(n));
  }

  // Fills last_descendant, then the root's/compound's default initial transition.
  void Finish(uint32_t state) {
    doc_->states[state].last_descendant = static_cast<uint32_t>(doc_->states.size() - 1);
  }

  void ResolveTargets() {
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

  bool IsDescendant(uint32_t s, uint32_t ancestor) const {
    return s > ancestor && s <= doc_->states[ancestor].last_descendant;
  }

  struct PendingTargets {
    uint32_t transition;
    std::string text;
    const XmlElement* element;
  };
  struct PendingInitial {
    uint32_t state;
    std::string text;
    const XmlElement* element;
  };
  struct PendingDescendant {
    uint32_t transition;
    uint32_t state;
    const XmlElement* element;
  };

  const CompileOptions& options_;
  std::string source_name_;
  std::shared_ptr<Document> doc_;
  std::vector<std::string> problems_;
  std::set<std::string> ids_;
  std::vector<PendingTargets> pending_targets_;
  std::vector<PendingInitial> pending_initial_;
  std::vector<PendingDescendant> pending_descendant_check_;
  bool too_many_ = false;
};

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
  Compiler compiler(options, source_name);
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

std::string MarkupValue(const XmlElement& parent) {
  std::string markup;
  int elements = 0;
  for (const auto& c : parent.children) {
    if (c.element) {
      markup += c.element->Serialize();
      ++elements;
    }
  }
  // One element: an XML value (a DOM in the ECMAScript data model). Several
  // have no single root: a string of their markup, as before.
  return elements == 1 ? markup : JsonString(markup);
}

std::string DataTextToValue(std::string_view text) {
  absl::string_view t = absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size()));
  if (!t.empty() && t.front() == '<') return std::string(t);
  return ContentTextToJson(text);
}

bool IsJson(std::string_view text) {
  JsonChecker c{text};
  if (!c.Value()) return false;
  c.Ws();
  return c.i == text.size();
}

std::string ContentTextToJson(std::string_view text) {
  absl::string_view t = absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size()));
  if (!t.empty() && IsJson(std::string_view(t.data(), t.size()))) return std::string(t);
  std::string normalized;
  bool space = false;
  for (char c : t) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = true;
    } else {
      if (space && !normalized.empty()) normalized.push_back(' ');
      space = false;
      normalized.push_back(c);
    }
  }
  return JsonString(normalized);
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
