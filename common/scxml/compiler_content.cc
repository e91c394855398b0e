// compiler_internal::Compiler (compiler_internal.h): executable content and
// the elements that carry data: <send> and <session:response>, <invoke>,
// <param>, <content>, <donedata>, namelists, functional-module elements.

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/scxml/compiler_internal.h"
#include "common/scxml/delay.h"
#include "common/scxml/modules.h"

namespace orch::scxml::compiler_internal {

std::vector<const XmlElement*> Compiler::ExecChildren(const XmlElement& e) {
  std::vector<const XmlElement*> out;
  for (const auto& c : e.children) {
    if (c.element && (IsScxml(*c.element) || IsSessionResponse(*c.element) ||
                      !ModuleOfNamespace(c.element->ns).empty())) {
      out.push_back(c.element.get());
    }
  }
  return out;
}

void Compiler::CompileModule(const XmlElement& e, std::string_view module, ExecNode* n) {
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

DoneData Compiler::CompileDoneData(const XmlElement& e) {
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

Param Compiler::CompileParam(const XmlElement& e) {
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

Content Compiler::CompileContent(const XmlElement& e, bool allow_document) {
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

std::vector<std::pair<std::string, uint32_t>> Compiler::Namelist(const XmlElement& e) {
  std::vector<std::pair<std::string, uint32_t>> out;
  if (const std::string* nl = Attr(e, "namelist")) {
    for (absl::string_view n : absl::StrSplit(*nl, absl::ByAnyChar(" \t\r\n"), absl::SkipEmpty())) {
      out.emplace_back(std::string(n), AddCode(CodeKind::kExpression, std::string(n), e));
    }
  }
  return out;
}

void Compiler::CompileInvoke(const XmlElement& e, uint32_t state) {
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

Block Compiler::CompileBlock(const XmlElement& e) {
  Block b;
  for (const XmlElement* c : ExecChildren(e)) {
    if (c->name == "transition" && e.name == "transition") continue;
    CompileExec(*c, &b);
  }
  return b;
}

void Compiler::CompileSendPayload(const XmlElement& e, ExecNode* n) {
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

void Compiler::CompileExec(const XmlElement& e, Block* out) {
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

}  // namespace orch::scxml::compiler_internal
