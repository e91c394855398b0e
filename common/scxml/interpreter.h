#pragma once

// The SCXML interpreter: the algorithm of the W3C SCXML 1.0 Recommendation,
// Appendix D, driven from outside — no threads inside. A driver sets the
// clock, fires due delayed sends and steps the session:
//
//   auto s = Interpreter::Create(doc, &env, options);
//   s->SetNow(now_ms);
//   s->Start();                      // initial configuration, first macrostep
//   s->Enqueue(event);               // external events
//   s->RunUntilIdle();               // children and self, until nothing is due
//   s->NextDueMs();                  // when the next delayed <send> is due
//
// A session owns the sessions it invokes (<invoke> of SCXML documents); they
// run when it runs. Events to targets outside the family (another session
// by id, HTTP) go through InterpreterEnvironment::SendExternal.
//
// Not thread-safe: one thread drives a session at a time.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/scxml/data_model.h"
#include "common/scxml/document.h"

namespace orch::scxml::v1 {
class SessionSnapshot;
}

namespace orch::scxml {

struct Event {
  enum class Type { kPlatform, kInternal, kExternal };
  std::string name;
  Type type = Type::kExternal;
  std::string sendid;
  std::string origin;
  std::string origintype;
  std::string invokeid;
  std::string data = "undefined";  // JSON text or "undefined"
  std::string raw;                 // the raw message, for BasicHTTP events
};

class Interpreter;

class InterpreterEnvironment {
 public:
  virtual ~InterpreterEnvironment() = default;
  // <log>: label and value (JSON text or "undefined").
  virtual void Log(const Interpreter& session, std::string_view label, std::string_view value_json) = 0;
  // A <send> to a target the session family does not hold (another session
  // "#_scxml_<id>", an HTTP URL, ...). An error becomes error.communication
  // in the sender.
  virtual absl::Status SendExternal(const Interpreter& from, const std::string& target,
                                    const std::string& type, const Event& event) = 0;
  // A document for <invoke src/srcexpr> (resolved against `base`), or for
  // <invoke><content expr> (source text). Errors become error.execution.
  virtual absl::StatusOr<std::shared_ptr<const Document>> LoadDocument(const std::string& src,
                                                                       const std::string& base) = 0;
  virtual absl::StatusOr<std::shared_ptr<const Document>> CompileSource(const std::string& source,
                                                                        const std::string& name) = 0;
};

struct InterpreterOptions {
  std::string session_id;
  DataModelFactory* ecmascript = nullptr;   // for datamodel="ecmascript" documents
  DataModelLimits limits;
  uint64_t random_seed = 1;
  // Values for root <data> items with these ids (JSON text), instead of
  // their own expressions: session start parameters, invoke params.
  std::map<std::string, std::string> initial_data;
  // Extra entries of _ioprocessors, as JSON members (e.g. "\"basichttp\":{...}").
  std::string extra_ioprocessors;
  // Eventless/internal microsteps allowed in one macrostep; beyond it the
  // macrostep ends and error.execution is raised (a livelock must not hang).
  size_t max_microsteps = 10000;
  // Events waiting in the external queue; beyond it Enqueue refuses.
  size_t max_external_queue = 10000;
  // Largest event Enqueue accepts (name, data, raw and the other fields
  // together); larger ones are refused with RESOURCE_EXHAUSTED.
  size_t max_event_bytes = 1 << 20;
  // Levels of invoked sessions below this one (children, grandchildren...);
  // an <invoke> beyond it raises error.execution. A chart that invokes
  // itself through <content expr> would otherwise recurse without end.
  uint32_t max_invoke_depth = 16;
  // Events in the internal queue and delayed sends pending: a <raise> or
  // <send> beyond them raises error.execution instead (a <foreach> over a
  // big array must not fill memory). The data of one <send> is limited by
  // max_event_bytes the same way.
  size_t max_internal_queue = 10000;
  size_t max_pending_sends = 10000;
  // The value of `_genesys` (JSON) for documents that use functional-module
  // elements (modules.h); empty = GenesysJson("", "", ""). The driver fills it
  // from the interaction the session was started for.
  std::string genesys;
};

enum class StepResult { kIdle, kProgressed, kFinished };

class Interpreter final : public DataModelHost {
 public:
  static absl::StatusOr<std::unique_ptr<Interpreter>> Create(std::shared_ptr<const Document> doc,
                                                             InterpreterEnvironment* env,
                                                             InterpreterOptions options);
  ~Interpreter() override;

  // Initializes the data model, runs the global scripts and enters the
  // initial configuration (the first macrostep). Errors only for a data
  // model that cannot be set up.
  absl::Status Start();

  // Adds an external event. RESOURCE_EXHAUSTED when the queue is full or
  // the event is larger than max_event_bytes, INVALID_ARGUMENT when a field
  // is not valid UTF-8 (a snapshot could not hold it), FAILED_PRECONDITION
  // when the session has finished.
  absl::Status Enqueue(Event event);

  // Processes one external event (and the macrostep it causes), after
  // letting children run. kIdle when there was nothing to do.
  StepResult Step();
  // Fires due delayed sends and steps children and self until nothing is
  // left that is already due (bounded by `max_steps`).
  StepResult RunUntilIdle(size_t max_steps = 100000);
  // One round of RunUntilIdle: fire due sends, let children run, one Step.
  StepResult RunRound();

  // The session and its children, at a macrostep boundary (between calls).
  absl::Status Snapshot(v1::SessionSnapshot* out) const;
  // A session continuing exactly from `snapshot`. `doc` must be the
  // document it names (same sha256); options supply the data model factory
  // and limits (session id and seed come from the snapshot).
  static absl::StatusOr<std::unique_ptr<Interpreter>> Restore(std::shared_ptr<const Document> doc,
                                                              InterpreterEnvironment* env,
                                                              InterpreterOptions options,
                                                              const v1::SessionSnapshot& snapshot);

  // The session clock (ms since the Unix epoch); children share it.
  void SetNow(int64_t now_ms);
  int64_t now() const { return now_ms_; }
  // Earliest due time of a pending delayed send in this session or its children.
  std::optional<int64_t> NextDueMs() const;
  // Delivers every delayed send due at now(), here and in children.
  void FireDue();

  bool finished() const { return !running_; }
  // The id of the top-level final state reached, or "" (also "" when the
  // session was cancelled).
  const std::string& final_state() const { return final_state_; }
  const std::string& session_id() const { return options_.session_id; }
  const Document& document() const { return *doc_; }
  // Active states in document order: all, or atomic only.
  std::vector<std::string> ActiveStates(bool atomic_only) const;
  size_t pending_external() const { return external_.size(); }
  // This session or a running descendant with that id, or null.
  Interpreter* FindSession(const std::string& session_id);
  // The value of data model variable `name` as JSON text ("undefined" when
  // absent); UNIMPLEMENTED for the null data model.
  absl::StatusOr<std::string> ReadData(std::string_view name);

  // DataModelHost
  bool In(std::string_view state_id) override;
  int64_t NowMs() override { return now_ms_; }

 private:
  struct PendingSend {
    std::string sendid;
    int64_t due_ms;
    uint64_t seq;
    std::string target;
    std::string type;
    Event event;
  };
  struct Child {
    std::string invokeid;
    uint32_t invoke_index;
    std::unique_ptr<Interpreter> session;
    int32_t inline_index = kNone;   // document from the parent's inline <content>
    std::string source_text;        // otherwise its source (src or content expr)
    std::string source_name;
  };

  Interpreter(std::shared_ptr<const Document> doc, InterpreterEnvironment* env, InterpreterOptions options);

  // Appendix D. Macrostep returns true when it was cut short by
  // max_microsteps (error.execution raised, the livelock may go on).
  //
  // The sets of the algorithm live in scratch members reused by every
  // microstep (cleared, never freed), so a microstep allocates nothing in
  // the steady state. Nothing the algorithm calls re-enters these functions
  // on the same session (callbacks only enqueue events).
  bool Macrostep();
  // Fills enabled_ (optimal enabled transition set, document order).
  void SelectTransitions(const Event* event);
  void RemoveConflicting();
  void Microstep(const std::vector<uint32_t>& transitions);
  void ExitStates(const std::vector<uint32_t>& transitions);
  void EnterStates(const std::vector<uint32_t>& transitions);
  // Fills exit_set_ (document order).
  void ComputeExitSet(const std::vector<uint32_t>& transitions);
  // Marks kEnter / kDefaultEntry in marks_, lists the states in entry_set_
  // (unsorted) and fills default_history_.
  void ComputeEntrySet(const std::vector<uint32_t>& transitions);
  void AddDescendants(uint32_t state);
  void AddUncoveredRegions(uint32_t parallel);
  void AddAncestors(uint32_t state, int32_t ancestor);
  void MarkEntry(uint32_t state) {
    if (!(marks_[state] & kEnter)) {
      marks_[state] |= kEnter;
      entry_set_.push_back(state);
    }
  }
  // The transition domain; for a transition to a <history> computed from
  // the recorded history (its effective targets are left in dyn_targets_).
  int32_t TransitionDomain(uint32_t t);
  // The effective targets: the precomputed list, or (history targets)
  // computed into dyn_targets_.
  const std::vector<uint32_t>& EffectiveTargets(uint32_t t);
  void AddEffectiveTargets(uint32_t t, std::vector<uint32_t>* out);
  // Do the exit sets of two transitions with these domains intersect?
  bool ExitSetsIntersect(int32_t d1, int32_t d2) const;
  // Nothing would happen in another RunRound: queues empty, no running
  // child, no delayed send due.
  bool Quiescent() const;
  bool IsInFinalState(uint32_t s) const;
  bool IsDescendant(uint32_t s, uint32_t ancestor) const;
  bool IsCompound(uint32_t s) const;
  bool ConditionHolds(uint32_t cond, const std::string& where);
  // Defines the system variables (_sessionid, _name, _ioprocessors) and seeds the PRNG.
  absl::Status InitDataModel();
  void InitData(uint32_t state, bool assign_values);
  void ExitInterpreter();

  // Executable content; false when an error stopped the block.
  bool Execute(const Block& block);
  bool ExecuteNode(const ExecNode& node);
  bool DoSend(const ExecNode& node);
  // interpreter_modules.cc
  bool DoModuleAction(const ExecNode& node);
  absl::StatusOr<std::string> EvalModuleElement(const ModuleElement& element);
  absl::StatusOr<std::string> EvalData(const std::vector<std::pair<std::string, uint32_t>>& namelist,
                                       const std::vector<Param>& params, const Content& content);
  void Route(const std::string& target, const std::string& type, Event event);
  void RaiseError(std::string_view name, const std::string& message, const std::string& sendid = "");
  // Hands last_event_ to the data model as _event.
  void SetEvent();

  void StartInvokes();
  // Drops exited states and duplicates from to_invoke_list_.
  void CompactToInvoke();
  void StartInvoke(uint32_t invoke);
  void CancelInvokes(uint32_t state);
  void DeliverToParent(Event e);

  std::shared_ptr<const Document> doc_;
  InterpreterEnvironment* env_;
  InterpreterOptions options_;
  std::unique_ptr<DataModel> dm_;
  Interpreter* parent_ = nullptr;
  std::string invokeid_;  // this session's id in its parent's <invoke>
  uint32_t parent_invoke_ = 0;

  // A FIFO of events in a ring of reused slots (std::deque allocates a
  // node per Event, as an Event is larger than its 512-byte node / 2).
  class EventQueue {
   public:
    bool empty() const { return size_ == 0; }
    size_t size() const { return size_; }
    const Event& operator[](size_t i) const { return slots_[(head_ + i) & (slots_.size() - 1)]; }
    void push_back(Event&& e);
    // Moves the first event into *out and removes it.
    void PopFrontInto(Event* out);
    void clear();

   private:
    std::vector<Event> slots_;  // size 0 or a power of two
    size_t head_ = 0;
    size_t size_ = 0;
  };

  std::vector<char> active_;            // by state index
  std::vector<char> to_invoke_;         // by state index
  std::vector<char> data_initialized_;  // late binding, by state index
  std::map<uint32_t, std::vector<uint32_t>> history_;  // history state -> states
  EventQueue internal_;
  EventQueue external_;
  std::vector<PendingSend> pending_;
  std::vector<Child> children_;
  bool running_ = false;
  bool started_ = false;
  std::string final_state_;
  std::string done_data_ = "undefined";
  int64_t now_ms_ = 0;
  uint64_t id_counter_ = 0;
  uint64_t send_seq_ = 0;
  Event last_event_;
  bool has_last_event_ = false;
  bool null_data_model_ = false;  // datamodel="null": no _event to set

  // Scratch of the algorithm (see Macrostep), reused.
  enum Mark : char { kEnter = 1, kDefaultEntry = 2, kExit = 4 };
  std::vector<char> marks_;           // by state index; all 0 between microsteps
  std::vector<uint32_t> enabled_;     // SelectTransitions
  std::vector<uint32_t> filtered_;    // RemoveConflicting
  std::vector<int32_t> filtered_domains_;
  std::vector<uint32_t> exit_set_;    // ComputeExitSet
  std::vector<uint32_t> entry_set_;   // ComputeEntrySet
  std::vector<std::pair<uint32_t, const Block*>> default_history_;  // parent -> history default content
  std::vector<uint32_t> dyn_targets_;  // effective targets of a transition to a <history>
  // States whose to_invoke_ was set since the last StartInvokes (may hold
  // states exited since, and duplicates; compacted when it grows).
  std::vector<uint32_t> to_invoke_list_;
};

}  // namespace orch::scxml
