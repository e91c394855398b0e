#pragma once

// The seam between the SCXML interpreter and a data model (ECMAScript on
// duktape in common/js; the null data model in this folder).
//
// Code is compiled once per document: the interpreter lists every piece of
// code of a document (conditions, expressions, locations, scripts) as
// CodeSpecs with dense ids, a DataModelFactory compiles them into a shared,
// immutable CompiledCode, and each session's DataModel refers to code by id.
//
// Values that cross the seam (event data, <param> and namelist values,
// <donedata>, <content>, idlocation values) are JSON text, with the bare word
// `undefined` standing for the undefined value (JSON has no spelling for it),
// or XML markup: text whose first non-space character is '<' (JSON text
// never starts with '<'). The compiler passes markup for <data>, <content>
// and <assign> bodies made of exactly one element, and for a <data src> file
// that holds markup (compiler.h: MarkupValue, DataTextToValue). A data model
// turns XML values into its XML representation (ECMAScript: a DOM Document;
// markup that is not well-formed becomes the text as a string); the null
// data model ignores values. EvalValue returns JSON only (a DOM node's JSON
// is its markup as a JSON string).
//
// Errors: every evaluation returns a status. Any non-OK status makes the
// interpreter place error.execution on the internal queue (the message goes
// into the event's data for debugging); the data model stays usable.
//   INVALID_ARGUMENT    a syntax or type error, a thrown exception, an
//                       invalid location, an attempt to write a read-only
//                       system variable (_event, _sessionid, _name,
//                       _ioprocessors);
//   DEADLINE_EXCEEDED   the execution budget was used up (while(true){});
//   RESOURCE_EXHAUSTED  the session's memory cap was reached.
//
// Threading: a DataModel is used only on the thread that created it (a
// session is pinned to a worker thread; the ECMAScript data model shares one
// Duktape heap among the sessions of a thread and refuses calls from other
// threads with FAILED_PRECONDITION). CompiledCode is immutable and shared
// across threads.
//
// Determinism (replay must be exact): the data model reads time only from
// DataModelHost::NowMs() and random numbers only from its own seeded PRNG,
// whose state is part of Serialize(). Budgets count work, not wall time.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace orch::scxml {

enum class CodeKind {
  kCondition,   // cond="..."          -> EvalCondition
  kExpression,  // expr, eventexpr, ... -> EvalValue / EvalString
  kLocation,    // location, item, index, idlocation, namelist entries
  kScript,      // <script> body        -> Execute
};

struct CodeSpec {
  uint32_t id;        // dense: 0 .. n-1 within a document
  CodeKind kind;
  std::string text;   // source text as written in the document
  std::string where;  // "file:line:col" of the attribute or element, for messages
};

// Compiled code of one document, shared by all its sessions.
class CompiledCode {
 public:
  virtual ~CompiledCode() = default;
};

// What a data model may ask of the session that owns it.
class DataModelHost {
 public:
  virtual ~DataModelHost() = default;
  // SCXML's In(state_id): is the state in the active configuration?
  virtual bool In(std::string_view state_id) = 0;
  // The session's clock, in ms since the Unix epoch: the time recorded for
  // the event being processed. `Date` and `Date.now()` must use only this.
  virtual int64_t NowMs() = 0;
};

struct DataModelLimits {
  // Work one call (a condition, an expression, a script) may do before it is
  // stopped with DEADLINE_EXCEEDED. A count of interpreter work units (for
  // duktape: interrupt-counter checks), not time, so replay is exact.
  uint64_t max_work_per_call = 20'000'000;
  // Memory of one session's data model; RESOURCE_EXHAUSTED beyond it.
  size_t max_memory_bytes = 32 << 20;
  // Deepest recursion of script calls.
  uint32_t max_call_depth = 200;
};

// The fields of _event.
struct EventFields {
  std::string name;
  std::string type;        // "platform", "internal" or "external"
  std::string sendid;      // empty = undefined
  std::string origin;      // empty = undefined
  std::string origintype;  // empty = undefined
  std::string invokeid;    // empty = undefined
  std::string data = "undefined";  // JSON text, "undefined" or XML markup
  std::string raw;         // the raw message (BasicHTTP); empty = undefined
};

// A run of consecutive <assign location expr>, <if> and <foreach> elements
// (nested ones included) that a data model may run in one call
// (DataModel::RunContent). Each data-model operation in it has an `op`
// number, unique within the run, by which a failure is reported. Code ids
// are CodeSpec ids; UINT32_MAX stands for "absent".
struct ContentNode {
  enum class Kind { kAssign, kIf, kForeach };
  struct Branch {
    uint32_t cond = UINT32_MAX;  // absent: <else>
    uint32_t op = 0;             // evaluating cond
    std::vector<ContentNode> body;
  };
  Kind kind = Kind::kAssign;
  uint32_t op = 0;       // assign: the assignment; foreach: evaluating `array`
  uint32_t step_op = 0;  // foreach: setting item (and index) for one element
  uint32_t location = UINT32_MAX;  // assign
  uint32_t expr = UINT32_MAX;      // assign: expr; foreach: array
  uint32_t item = UINT32_MAX;      // foreach
  uint32_t index = UINT32_MAX;     // foreach (optional)
  std::vector<Branch> branches;    // if, in order
  std::vector<ContentNode> body;   // foreach
};

struct ContentResult {
  enum class Outcome {
    kNotRun,  // this data model does not run the run as a whole: nothing
              // was evaluated; run its elements one by one
    kDone,    // every element ran
    kFailed,  // `failed_op` failed with `status`; nothing after it ran
  };
  Outcome outcome = Outcome::kNotRun;
  uint32_t failed_op = 0;
  absl::Status status;  // what the failed operation's own call returns
};

class DataModel {
 public:
  virtual ~DataModel() = default;

  // Defines _sessionid, _name and _ioprocessors (JSON text of an object such
  // as {"scxml":{"location":"#_scxml_<id>"}}) read-only, In(), a seeded
  // Math.random, and an empty _event. Called once, before anything else.
  virtual absl::Status Init(std::string_view session_id, std::string_view name,
                            std::string_view ioprocessors_json, uint64_t random_seed) = 0;

  // <data id=...>: creates the variable if it does not exist and sets it.
  // DeclareData sets a JSON value ("undefined" for late binding);
  // DeclareDataExpr evaluates code `expr`. On error the variable still
  // exists (undefined) and the error is returned.
  virtual absl::Status DeclareData(std::string_view id, std::string_view value_json) = 0;
  virtual absl::Status DeclareDataExpr(std::string_view id, uint32_t expr) = 0;

  virtual absl::StatusOr<bool> EvalCondition(uint32_t cond) = 0;
  // The value of an expression (or of a location read as an expression, for
  // namelist and <param location>) as JSON text or "undefined".
  virtual absl::StatusOr<std::string> EvalValue(uint32_t expr) = 0;
  // The value converted to a string as the language does (String(v)), for
  // eventexpr, targetexpr, typeexpr, delayexpr, srcexpr and <log expr>.
  virtual absl::StatusOr<std::string> EvalString(uint32_t expr) = 0;

  // <assign location expr>: INVALID_ARGUMENT when the location is not a valid
  // left-hand side or names an undeclared variable (no implicit globals).
  virtual absl::Status Assign(uint32_t location, uint32_t expr) = 0;
  // <assign> with content, idlocation, and <invoke> data passed to a child.
  virtual absl::Status AssignValue(uint32_t location, std::string_view value_json) = 0;

  virtual absl::Status Execute(uint32_t script) = 0;

  // Replaces _event for the event about to be processed.
  virtual absl::Status SetEvent(const EventFields& event) = 0;

  // <foreach array item index>: ForeachBegin evaluates `array`, takes a
  // shallow copy and returns its length (INVALID_ARGUMENT if it is not an
  // array); ForeachStep(i) assigns item (and index, when not kNoCode),
  // declaring them if needed (INVALID_ARGUMENT if item/index is not a valid
  // variable name). Foreach loops nest: Begin/End pair like a stack.
  static constexpr uint32_t kNoCode = UINT32_MAX;
  virtual absl::StatusOr<size_t> ForeachBegin(uint32_t array) = 0;
  virtual absl::Status ForeachStep(size_t i, uint32_t item, uint32_t index) = 0;
  virtual void ForeachEnd() = 0;

  // Runs content `run` (`nodes`; `run` is a dense id of it within the
  // document, so a data model may cache what it builds for it) with the
  // effects of the calls its elements would make one by one (Assign,
  // EvalCondition, ForeachBegin/Step/End) in the same order, stopping at the
  // first error, which is reported as that call would report it. The whole
  // run shares one max_work_per_call budget; when the budget or the memory
  // cap stops the run, the failure is reported at the run's first operation
  // (op 0). kNotRun (the default) leaves the elements to the caller.
  virtual ContentResult RunContent(uint32_t run, const std::vector<ContentNode>& nodes) {
    return ContentResult();
  }

  // Everything the data model holds, functions defined by <script>
  // included, plus the PRNG state, as bytes; Restore into a data model
  // created from the same CompiledCode (after Init) continues exactly.
  // Serialize is deterministic: the same state gives the same bytes.
  virtual absl::StatusOr<std::string> Serialize() = 0;
  virtual absl::Status Restore(std::string_view bytes) = 0;

  // Approximate bytes used by this data model, for metrics.
  virtual size_t MemoryBytes() const = 0;

  // The value of the global variable `name` as JSON text ("undefined" when
  // it does not exist), for queries from outside the session. Reads only.
  virtual absl::StatusOr<std::string> ReadVariable(std::string_view name) {
    return absl::UnimplementedError("this data model has no variables to read");
  }
};

class DataModelFactory {
 public:
  virtual ~DataModelFactory() = default;
  // Compiles every CodeSpec of a document. INVALID_ARGUMENT naming the
  // `where` of the first spec that does not compile, and why.
  virtual absl::StatusOr<std::shared_ptr<const CompiledCode>> Compile(
      const std::vector<CodeSpec>& specs) = 0;
  // A data model for one session. `host` must outlive it.
  virtual absl::StatusOr<std::unique_ptr<DataModel>> Create(
      std::shared_ptr<const CompiledCode> code, DataModelHost* host,
      const DataModelLimits& limits) = 0;
};

}  // namespace orch::scxml
