#pragma once

// A compiled SCXML document: immutable after Compile(), shared by every
// session that runs it (and across threads). States, transitions and
// invokes live in flat vectors indexed by document order; executable
// content is a tree of ExecNodes; every piece of data-model code is a
// CodeSpec whose id the data model compiled once (document.compiled).

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/scxml/data_model.h"

namespace orch::scxml {

inline constexpr uint32_t kNoCode = DataModel::kNoCode;
inline constexpr int32_t kNone = -1;

enum class StateKind { kRoot, kAtomic, kCompound, kParallel, kFinal, kHistory };

struct Document;

// <param name expr|location>
struct Param {
  std::string name;
  uint32_t expr = kNoCode;  // expr, or the location read as an expression
};

// <content expr> or inline <content>...</content>.
struct Content {
  bool present = false;
  uint32_t expr = kNoCode;
  std::string literal_json;   // inline text as JSON (parsed when it is JSON, else a string)
  std::string markup;         // inline markup (e.g. a child <scxml>), serialized
  int32_t child_document = kNone;  // index into Document::children for an inline <scxml>
};

enum class ExecKind { kRaise, kSend, kCancel, kLog, kAssign, kScript, kIf, kForeach, kModule };

// An attribute of a functional-module element (modules.h): an expression
// evaluated at execution, or a literal written unquoted.
struct ModuleField {
  std::string name;
  uint32_t expr = kNoCode;
  std::string literal_json;   // when expr == kNoCode
};

// A functional-module element with its evaluated attributes and its child
// elements of module namespaces (by local name, in document order).
struct ModuleElement {
  std::string name;
  std::vector<ModuleField> fields;
  std::vector<ModuleElement> children;
};

// <ixn:redirect>, <dialog:playsound>, <queue:submit>, ... (modules.h).
struct ModuleAction {
  std::string module;         // "interaction", "dialog", "queue"
  std::string type;           // the module's namespace URI with http:// (the send type)
  ModuleElement element;      // the action (local name), attributes, children
  uint32_t interactionid = kNoCode;      // 'interactionid', evaluated
  uint32_t requestid_location = kNoCode; // 'requestid' as a location: receives the new request id
  uint32_t target_requestid = kNoCode;   // 'requestid' as an expression (queue:cancel, queue:query, dialog:stop)
  std::vector<Param> params;             // W3C <param> children
};

struct ExecNode {
  ExecKind kind;
  std::string where;  // "file:line:col"

  // raise: event. send: event or eventexpr. log: label.
  std::string event;
  std::string label;
  uint32_t expr = kNoCode;        // send eventexpr, log expr, assign expr, foreach array
  // send
  std::string target;
  uint32_t targetexpr = kNoCode;
  std::string type;
  uint32_t typeexpr = kNoCode;
  std::string id;                 // send id, cancel sendid
  uint32_t idlocation = kNoCode;  // send idlocation, cancel sendidexpr
  int64_t delay_ms = 0;
  uint32_t delayexpr = kNoCode;
  std::vector<std::pair<std::string, uint32_t>> namelist;  // (name, location as expression)
  std::vector<Param> params;
  Content content;
  // assign: location (+ expr or content); script: code
  uint32_t location = kNoCode;
  uint32_t code = kNoCode;
  // if: branches (cond kNoCode = else); foreach: item, index, body
  struct Branch {
    uint32_t cond = kNoCode;
    std::vector<ExecNode> body;
  };
  std::vector<Branch> branches;
  uint32_t item = kNoCode;
  uint32_t index = kNoCode;
  std::vector<ExecNode> body;
  // First element of a content run (Document::content_runs): the run's id,
  // and how many elements of this block, this one included, it covers.
  uint32_t run = kNoCode;
  uint32_t run_length = 0;
  // module: the action (shared: ExecNode is copied while blocks are built).
  std::shared_ptr<const ModuleAction> module;
};

using Block = std::vector<ExecNode>;

// Consecutive <assign expr>/<if>/<foreach> elements that the data model
// may run in one call (DataModel::RunContent), built by BuildContentRuns
// (content_runs.h).
struct ContentRun {
  std::vector<ContentNode> nodes;
  // By op number: the element that reports a failure of that operation
  // (its `where`) and its tag ("<assign>", "<if>", "<foreach>").
  struct Op {
    std::string where;
    const char* tag;
  };
  std::vector<Op> ops;
};

struct DataDecl {
  std::string id;
  uint32_t expr = kNoCode;
  bool has_literal = false;
  std::string literal_json;  // from src or inline content
  std::string where;
  // <data _type="parameter"> (an Orchestration Server extension): filled
  // from the session's start parameters when one has its id.
  bool parameter = false;
};

struct Transition {
  uint32_t index = 0;
  int32_t source = kNone;
  std::vector<std::string> events;  // descriptors as written ("error", "a.b", "*")
  uint32_t cond = kNoCode;
  std::vector<uint32_t> targets;
  bool internal = false;
  Block actions;
  std::string where;
};

struct Invoke {
  uint32_t index = 0;
  int32_t state = kNone;
  std::string type;
  uint32_t typeexpr = kNoCode;
  std::string src;
  uint32_t srcexpr = kNoCode;
  std::string id;
  uint32_t idlocation = kNoCode;
  std::vector<std::pair<std::string, uint32_t>> namelist;
  std::vector<Param> params;
  Content content;
  bool autoforward = false;
  Block finalize;
  std::string where;
};

struct DoneData {
  bool present = false;
  std::vector<Param> params;
  Content content;
};

struct State {
  uint32_t index = 0;
  std::string id;              // as written, or generated "$<n>" when absent
  StateKind kind = StateKind::kAtomic;
  bool deep = false;           // history: deep or shallow
  int32_t parent = kNone;
  uint32_t depth = 0;
  std::vector<uint32_t> children;     // child states (incl. history, final), document order
  int32_t initial = kNone;            // compound/root: index of the initial transition
  std::vector<uint32_t> transitions;  // document order (for history: its default transition)
  std::vector<Block> onentry;
  std::vector<Block> onexit;
  std::vector<uint32_t> invokes;
  std::vector<DataDecl> data;
  DoneData donedata;                  // final states
  // Last descendant in document order (states index..last_descendant are
  // this state's subtree), for O(1) descendant tests.
  uint32_t last_descendant = 0;
  std::string where;
};

// Per-state facts the interpreter needs on every microstep, precomputed by
// the compiler (compact: no walk over the big State records).
struct StateInfo {
  int32_t parent = kNone;
  uint32_t last_descendant = 0;
  StateKind kind = StateKind::kAtomic;
  // Not the root, not compound, not parallel: where SelectTransitions starts.
  bool atomic = false;
  // This state or a proper ancestor has a transition without / with events:
  // SelectTransitions skips active atomic states that have none.
  bool eventless_chain = false;
  bool evented_chain = false;
  // Has a <history> child (ExitStates records history only for these).
  bool has_history_child = false;
};

// Per-transition facts, precomputed by the compiler.
struct TransitionInfo {
  // A target is a <history>: the effective targets and the domain depend
  // on the recorded history and are computed at run time.
  bool dynamic = false;
  // When !dynamic: the transition domain (Appendix D getTransitionDomain),
  // kNone for a targetless transition, and the effective targets (the
  // targets without duplicates, in order).
  int32_t domain = kNone;
  std::vector<uint32_t> effective_targets;
};

// Appendix D getTransitionDomain for transition `t` whose effective targets
// are `targets` (kNone when there are none).
int32_t ComputeTransitionDomain(const Document& doc, const Transition& t, const uint32_t* targets, size_t n);

struct Document {
  std::string name;           // <scxml name>
  std::string datamodel;      // "ecmascript" or "null"
  bool late_binding = false;
  std::string source_name;    // file path or URL, for messages and relative URIs
  std::string sha256;         // of the source text
  std::string source_text;    // the source itself (invoked children are snapshotted with it)
  std::vector<State> states;  // [0] is the <scxml> root
  std::vector<Transition> transitions;
  std::vector<Invoke> invokes;
  Block root_scripts;         // top-level <script>s, in order
  std::vector<CodeSpec> code;
  // Inline child documents (<invoke><content><scxml>...), compiled with the parent.
  std::vector<std::shared_ptr<const Document>> children;
  // Attributes of <scxml> outside the SCXML vocabulary (e.g. _persist).
  std::map<std::string, std::string> extensions;
  std::shared_ptr<const CompiledCode> compiled;

  // Precomputed by the compiler once the targets are resolved
  // (BuildDocumentTables); immutable like everything above.
  std::vector<StateInfo> state_info;            // by state index
  std::vector<TransitionInfo> transition_info;  // by transition index
  std::vector<uint32_t> states_by_id;           // non-root states, sorted by id (In())
  std::vector<ContentRun> content_runs;         // by id (ExecNode::run)
  bool has_eventless = false;                   // some transition has no event
  bool has_history = false;                     // some state is a <history>
  // The document uses functional-module elements: sessions get `_genesys`
  // and, before each external event, `genesys_hook` runs (it copies
  // _event.data.interaction into _genesys.ixn.interactions).
  bool genesys = false;
  uint32_t genesys_hook = kNoCode;

  int32_t FindState(const std::string& id) const;
};

}  // namespace orch::scxml
