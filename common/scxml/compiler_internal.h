#pragma once

// Internal to common/scxml, not part of the public API (that is
// compiler.h): the Compiler that turns one parsed <scxml> element into a
// Document, shared by its two files. compiler.cc: the document passes (root,
// data model, states, transitions, target resolution and the checks that
// need the whole document); compiler_content.cc: executable content and what
// carries data (<send>, <invoke>, <param>, <content>, <donedata>, module
// elements).
//
// A Compiler is used once, for one document, on one thread. Problems are
// collected ("file:line:col: <element>: message"), not returned one by one:
// Compile returns null when problems() is not empty.

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/scxml/compiler.h"
#include "common/scxml/document.h"
#include "common/scxml/xml.h"

namespace orch::scxml::compiler_internal {

inline constexpr char kScxmlNs[] = "http://www.w3.org/2005/07/scxml";
// The Orchestration Server's session module (Composer writes it with
// "http://", its documentation without).
inline constexpr char kSessionNs[] = "http://www.genesyslab.com/modules/session";
inline constexpr char kSessionNsBare[] = "www.genesyslab.com/modules/session";

class Compiler {
 public:
  Compiler(const CompileOptions& options, std::string source_name)
      : options_(options), source_name_(std::move(source_name)) {}

  std::shared_ptr<Document> Compile(const XmlElement& root, std::string_view source);

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
  void CheckAttributes(const XmlElement& e, std::initializer_list<absl::string_view> allowed);
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
  uint32_t CodeAttr(const XmlElement& e, absl::string_view name, CodeKind kind);

  static bool IsSessionResponse(const XmlElement& e) {
    return (e.ns == kSessionNs || e.ns == kSessionNsBare) && e.name == "response";
  }

  // Executable content children: SCXML elements, <session:response> and
  // functional-module actions (modules.h).
  std::vector<const XmlElement*> ExecChildren(const XmlElement& e);
  void CompileModule(const XmlElement& e, std::string_view module, ExecNode* n);

  std::vector<const XmlElement*> Children(const XmlElement& e) {
    std::vector<const XmlElement*> out;
    for (const auto& c : e.children) {
      if (c.element && IsScxml(*c.element)) out.push_back(c.element.get());
    }
    return out;
  }

  void CompileRoot(const XmlElement& root);
  void CompileDatamodel(const XmlElement& e, uint32_t state);
  uint32_t NewState(const XmlElement& e, StateKind kind, int32_t parent);
  void CompileState(const XmlElement& e, int32_t parent);
  void CompileHistory(const XmlElement& e, uint32_t parent);

  void CompileTransition(const XmlElement& e, uint32_t state) { CompileTransitionInto(e, state, true); }

  int32_t CompileTransitionInto(const XmlElement& e, uint32_t state, bool attach);
  DoneData CompileDoneData(const XmlElement& e);
  Param CompileParam(const XmlElement& e);
  Content CompileContent(const XmlElement& e, bool allow_document);
  std::vector<std::pair<std::string, uint32_t>> Namelist(const XmlElement& e);
  void CompileInvoke(const XmlElement& e, uint32_t state);
  Block CompileBlock(const XmlElement& e);

  // 'namelist', <param>s and <content> of a <send> (or <session:response>).
  void CompileSendPayload(const XmlElement& e, ExecNode* n);
  void CompileExec(const XmlElement& e, Block* out);

  // Fills last_descendant, then the root's/compound's default initial transition.
  void Finish(uint32_t state) {
    doc_->states[state].last_descendant = static_cast<uint32_t>(doc_->states.size() - 1);
  }

  void ResolveTargets();

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

}  // namespace orch::scxml::compiler_internal
