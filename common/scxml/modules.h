#pragma once

// The Orchestration Server's functional modules as executable content:
// elements of the interaction, dialog and queue namespaces
// (`http://www.genesyslab.com/modules/<module>`, also written without
// `http://`) such as <ixn:redirect>, <dialog:playsound> and <queue:submit>.
//
// An action element compiles into a ModuleAction (document.h). Executing it
// (Interpreter) generates a request id, writes it to the 'requestid'
// location, evaluates the attributes and child elements and hands the
// action to the environment as a send of type `ModuleAction::type`; the
// action's results come back later as external events
// (`<prefix>.<action>.done`, `error.<prefix>.<action>`).
//
// Attribute kinds (docs/strategies.md has the whole list): most are
// ECMAScript expressions; a few are literals written unquoted (`route`,
// `detach`, `duration`, `max_digits`, ...: booleans and numbers parsed,
// otherwise the word with one pair of single quotes stripped); 'requestid'
// is a location, except on queue:cancel, queue:query and dialog:stop, where
// it is an expression naming the request to act on.

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/scxml/document.h"
#include "common/scxml/xml.h"

namespace orch::scxml {

// The module of a namespace URI: "interaction", "dialog" or "queue"; empty
// when `ns` is none of these.
std::string_view ModuleOfNamespace(std::string_view ns);

// The send type of a module's actions (its namespace with http://), or empty.
std::string_view ModuleSendType(std::string_view module);

// The module whose actions use send type `type`, or empty.
std::string_view ModuleOfSendType(std::string_view type);

// What the compiler lends to CompileModuleAction.
struct ModuleCompileContext {
  std::function<uint32_t(CodeKind, const std::string&, const XmlElement&)> add_code;
  std::function<void(const XmlElement&, const std::string&)> problem;
  std::function<Param(const XmlElement&)> compile_param;
};

// Compiles module element `e` (ModuleOfNamespace(e.ns) == module). An
// unknown action of a known module is a problem naming the module's actions.
std::shared_ptr<const ModuleAction> CompileModuleAction(const XmlElement& e, std::string_view module,
                                                        const ModuleCompileContext& ctx);

// The ECMAScript of Document::genesys_hook.
extern const char kGenesysHookScript[];

// The value of `_genesys` (JSON) for a session of `tenant` run by server
// `server_name` of `cluster`; all empty for a session started without one.
std::string GenesysJson(std::string_view tenant, std::string_view server_name, std::string_view cluster);

}  // namespace orch::scxml
