#include "common/scxml/modules.h"

#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/base/json.h"

namespace orch::scxml {

namespace {

absl::string_view A(std::string_view s) { return absl::string_view(s.data(), s.size()); }

struct Module {
  std::string_view name;
  std::string_view uri;
  std::array<std::string_view, 8> actions;   // empty entries at the end
};

constexpr std::string_view kScxmlNs = "http://www.w3.org/2005/07/scxml";

constexpr Module kModules[] = {
    {"interaction", "http://www.genesyslab.com/modules/interaction",
     {"accept", "attach", "detach", "redirect", "route", "terminate"}},
    {"dialog", "http://www.genesyslab.com/modules/dialog", {"play", "playandcollect", "playsound", "start", "stop"}},
    {"queue", "http://www.genesyslab.com/modules/queue", {"cancel", "query", "submit"}},
};

const Module* FindModule(std::string_view name) {
  for (const Module& m : kModules) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

// (element, attribute) pairs written as literals.
constexpr std::pair<std::string_view, std::string_view> kLiterals[] = {
    {"redirect", "detach"},      {"route", "detach"},          {"submit", "route"},
    {"submit", "clearontimeout"}, {"target", "type"},          {"playsound", "duration"},
    {"pause", "duration"},        {"prompts", "type"},         {"prompt", "interrupt"},
    {"input", "clear"},           {"input", "total_timeout"},  {"input", "digit_timeout"},
    {"input", "start_timeout"},   {"input", "max_digits"},
};

bool IsLiteral(std::string_view element, std::string_view attribute) {
  for (const auto& [e, a] : kLiterals) {
    if (e == element && a == attribute) return true;
  }
  return false;
}

// Actions whose 'requestid' names another request (an input).
bool RequestIdIsInput(std::string_view module, std::string_view action) {
  return (module == "queue" && (action == "cancel" || action == "query")) ||
         (module == "dialog" && action == "stop");
}

// A JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
bool IsJsonNumber(std::string_view t) {
  size_t i = 0;
  auto digits = [&] {
    const size_t start = i;
    while (i < t.size() && absl::ascii_isdigit(static_cast<unsigned char>(t[i]))) ++i;
    return i > start;
  };
  if (i < t.size() && t[i] == '-') ++i;
  if (i < t.size() && t[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < t.size() && t[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == t.size();
}

std::string LiteralJson(std::string_view text) {
  const absl::string_view stripped = absl::StripAsciiWhitespace(A(text));
  std::string_view t(stripped.data(), stripped.size());
  if (t == "true" || t == "false" || IsJsonNumber(t)) return std::string(t);
  if (t.size() >= 2 && t.front() == '\'' && t.back() == '\'') t = t.substr(1, t.size() - 2);
  return JsonString(t);
}

void CompileElement(const XmlElement& e, std::string_view module, bool top, const ModuleCompileContext& ctx,
                    ModuleAction* action, ModuleElement* out) {
  out->name = e.name;
  for (const XmlAttribute& a : e.attributes) {
    if (!a.ns.empty()) continue;  // attributes of other namespaces: extensions, ignored
    if (top && a.name == "interactionid") {
      if (!absl::StripAsciiWhitespace(a.value).empty()) action->interactionid = ctx.add_code(CodeKind::kExpression, a.value, e);
      continue;
    }
    if (top && a.name == "requestid") {
      if (absl::StripAsciiWhitespace(a.value).empty()) {
        ctx.problem(e, "'requestid' is empty");
      } else if (RequestIdIsInput(module, e.name)) {
        action->target_requestid = ctx.add_code(CodeKind::kExpression, a.value, e);
      } else {
        action->requestid_location = ctx.add_code(CodeKind::kLocation, a.value, e);
      }
      continue;
    }
    ModuleField f;
    f.name = a.name;
    if (IsLiteral(e.name, a.name)) {
      f.literal_json = LiteralJson(a.value);
    } else if (absl::StripAsciiWhitespace(a.value).empty()) {
      ctx.problem(e, absl::StrCat("'", a.name, "' is empty"));
      continue;
    } else {
      f.expr = ctx.add_code(CodeKind::kExpression, a.value, e);
    }
    out->fields.push_back(std::move(f));
  }
  for (const auto& c : e.children) {
    if (!c.element) continue;
    const XmlElement& k = *c.element;
    if (!ModuleOfNamespace(k.ns).empty()) {
      ModuleElement child;
      CompileElement(k, module, false, ctx, action, &child);
      out->children.push_back(std::move(child));
    } else if (k.ns == kScxmlNs && k.name == "param") {
      action->params.push_back(ctx.compile_param(k));
    } else if (k.ns == kScxmlNs) {
      ctx.problem(k, absl::StrCat("not allowed in <", e.qname, ">"));
    }
  }
}

}  // namespace

std::string_view ModuleOfNamespace(std::string_view ns) {
  constexpr std::string_view kHttp = "http://";
  if (ns.substr(0, kHttp.size()) == kHttp) ns.remove_prefix(kHttp.size());
  for (const Module& m : kModules) {
    if (m.uri.substr(kHttp.size()) == ns) return m.name;
  }
  return {};
}

std::string_view ModuleSendType(std::string_view module) {
  const Module* m = FindModule(module);
  return m != nullptr ? m->uri : std::string_view();
}

std::string_view ModuleOfSendType(std::string_view type) {
  for (const Module& m : kModules) {
    if (m.uri == type) return m.name;
  }
  return {};
}

std::shared_ptr<const ModuleAction> CompileModuleAction(const XmlElement& e, std::string_view module,
                                                        const ModuleCompileContext& ctx) {
  const Module* m = FindModule(module);
  if (m == nullptr) return nullptr;
  bool known = false;
  std::vector<std::string_view> names;
  for (std::string_view a : m->actions) {
    if (a.empty()) continue;
    names.push_back(a);
    known |= (a == e.name);
  }
  if (!known) {
    std::string list;
    for (std::string_view n : names) absl::StrAppend(&list, list.empty() ? "" : ", ", A(n));
    ctx.problem(e, absl::StrCat("the ", A(module), " module has no action '", e.name, "' (it has ", list, ")"));
    return nullptr;
  }
  auto action = std::make_shared<ModuleAction>();
  action->module = std::string(module);
  action->type = std::string(m->uri);
  CompileElement(e, module, true, ctx, action.get(), &action->element);
  return action;
}

const char kGenesysHookScript[] =
    "if (typeof _genesys === 'object' && _genesys !== null && _event.data !== null &&"
    " typeof _event.data === 'object' && typeof _event.data.interactionid === 'string' &&"
    " _event.data.interaction !== null && typeof _event.data.interaction === 'object') {"
    " _genesys.ixn.interactions[_event.data.interactionid] = _event.data.interaction; }";

std::string GenesysJson(std::string_view tenant, std::string_view server_name, std::string_view cluster) {
  return absl::StrCat("{\"session\":{\"tenant\":", JsonString(tenant), ",\"server\":{\"name\":",
                      JsonString(server_name), ",\"cluster\":", JsonString(cluster), "}},",
                      "\"ixn\":{\"interactions\":{}},",
                      "\"queue\":{\"rType\":{\"RouteTypeUnknown\":0,\"RouteTypeDefault\":1}}}");
}

}  // namespace orch::scxml
