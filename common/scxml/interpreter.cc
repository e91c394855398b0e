#include "common/scxml/interpreter.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/base/json.h"
#include "common/base/utf8.h"
#include "common/scxml/compiler.h"
#include "common/scxml/io_processors.h"
#include "common/scxml/modules.h"
#include "common/scxml/null_data_model.h"

namespace orch::scxml {
namespace {

const char* TypeName(Event::Type t) {
  switch (t) {
    case Event::Type::kPlatform: return "platform";
    case Event::Type::kInternal: return "internal";
    case Event::Type::kExternal: return "external";
  }
  return "external";
}

std::string ErrorData(const std::string& message) {
  return absl::StrCat("{\"message\":", JsonString(message), "}");
}

NullDataModelFactory* NullFactory() {
  static NullDataModelFactory* f = new NullDataModelFactory();
  return f;
}

}  // namespace

Interpreter::Interpreter(std::shared_ptr<const Document> doc, InterpreterEnvironment* env, InterpreterOptions options)
    : doc_(std::move(doc)), env_(env), options_(std::move(options)) {}

Interpreter::~Interpreter() = default;

absl::StatusOr<std::unique_ptr<Interpreter>> Interpreter::Create(std::shared_ptr<const Document> doc,
                                                                 InterpreterEnvironment* env,
                                                                 InterpreterOptions options) {
  if (doc == nullptr || doc->compiled == nullptr) return absl::InvalidArgumentError("document is not compiled");
  if (doc->state_info.size() != doc->states.size() || doc->transition_info.size() != doc->transitions.size()) {
    return absl::InvalidArgumentError("document has no interpreter tables (not made by CompileDocument)");
  }
  DataModelFactory* factory = doc->datamodel == "null" ? NullFactory() : options.ecmascript;
  if (factory == nullptr) return absl::FailedPreconditionError("no ECMAScript data model factory");
  auto session = std::unique_ptr<Interpreter>(new Interpreter(doc, env, std::move(options)));
  auto dm = factory->Create(doc->compiled, session.get(), session->options_.limits);
  if (!dm.ok()) return dm.status();
  session->dm_ = *std::move(dm);
  const size_t n = doc->states.size();
  session->active_.assign(n, 0);
  session->to_invoke_.assign(n, 0);
  session->data_initialized_.assign(n, 0);
  session->marks_.assign(n, 0);
  session->null_data_model_ = factory == NullFactory();
  return session;
}

// ---------------------------------------------------------------- queues

void Interpreter::EventQueue::push_back(Event&& e) {
  if (size_ == slots_.size()) {
    std::vector<Event> grown(slots_.empty() ? 1 : slots_.size() * 2);
    for (size_t i = 0; i < size_; ++i) grown[i] = std::move(slots_[(head_ + i) & (slots_.size() - 1)]);
    slots_.swap(grown);
    head_ = 0;
  }
  slots_[(head_ + size_) & (slots_.size() - 1)] = std::move(e);
  ++size_;
}

void Interpreter::EventQueue::PopFrontInto(Event* out) {
  *out = std::move(slots_[head_]);
  head_ = (head_ + 1) & (slots_.size() - 1);
  --size_;
}

void Interpreter::EventQueue::clear() {
  for (size_t i = 0; i < size_; ++i) slots_[(head_ + i) & (slots_.size() - 1)] = Event();
  head_ = 0;
  size_ = 0;
}

// ---------------------------------------------------------------- start/run

absl::Status Interpreter::Start() {
  if (started_) return absl::FailedPreconditionError("already started");
  started_ = true;
  if (absl::Status s = InitDataModel(); !s.ok()) return s;
  if (doc_->genesys) {
    if (absl::Status s = dm_->DeclareData("_genesys", options_.genesys.empty() ? GenesysJson("", "", "")
                                                                              : options_.genesys);
        !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("_genesys: ", s.message()));
    }
  }
  running_ = true;
  // Data: the root's always now; the others now (early binding) or declared
  // now and assigned on first entry (late binding).
  for (const State& st : doc_->states) InitData(st.index, st.index == 0 || !doc_->late_binding);
  Execute(doc_->root_scripts);
  enabled_.assign(1, static_cast<uint32_t>(doc_->states[0].initial));
  EnterStates(enabled_);
  Macrostep();
  return absl::OkStatus();
}

absl::Status Interpreter::InitDataModel() {
  const std::string location = JsonString("#_scxml_" + options_.session_id);
  std::string io = absl::StrCat("{\"scxml\":{\"location\":", location, "},", JsonString(kScxmlEventProcessor),
                                ":{\"location\":", location, "}");
  if (!options_.extra_ioprocessors.empty()) absl::StrAppend(&io, ",", options_.extra_ioprocessors);
  io += "}";
  return dm_->Init(options_.session_id, doc_->name, io, options_.random_seed);
}

void Interpreter::InitData(uint32_t state, bool assign_values) {
  const State& st = doc_->states[state];
  if (assign_values) data_initialized_[state] = 1;
  for (const DataDecl& d : st.data) {
    absl::Status s;
    auto given = state == 0 ? options_.initial_data.find(d.id) : options_.initial_data.end();
    if (!assign_values) {
      s = dm_->DeclareData(d.id, "undefined");
    } else if (given != options_.initial_data.end()) {
      s = dm_->DeclareData(d.id, given->second);
    } else if (d.expr != kNoCode) {
      s = dm_->DeclareDataExpr(d.id, d.expr);
    } else if (d.has_literal) {
      s = dm_->DeclareData(d.id, d.literal_json);
    } else {
      s = dm_->DeclareData(d.id, "undefined");
    }
    if (!s.ok()) RaiseError("error.execution", absl::StrCat(d.where, ": <data id=\"", d.id, "\">: ", s.message()));
  }
}

absl::Status Interpreter::Enqueue(Event event) {
  if (!running_) return absl::FailedPreconditionError("the session has finished");
  if (external_.size() >= options_.max_external_queue) {
    return absl::ResourceExhaustedError(absl::StrCat("external queue full (", options_.max_external_queue, " events)"));
  }
  const std::string* fields[] = {&event.name,       &event.sendid,   &event.origin, &event.origintype,
                                 &event.invokeid,   &event.data,     &event.raw};
  size_t bytes = 0;
  for (const std::string* f : fields) {
    bytes += f->size();
    if (!IsValidUtf8(*f)) return absl::InvalidArgumentError("event fields must be valid UTF-8");
  }
  if (bytes > options_.max_event_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("event of ", bytes, " bytes; the limit is ", options_.max_event_bytes));
  }
  external_.push_back(std::move(event));
  return absl::OkStatus();
}

StepResult Interpreter::Step() {
  if (!running_) return StepResult::kFinished;
  // Internal events left by a macrostep cut short (microstep limit). If the
  // livelock goes on and cuts this macrostep too, report kIdle: a driver's
  // RunUntilIdle then stops instead of spinning, and each call costs at most
  // one macrostep of max_microsteps.
  if (!internal_.empty()) {
    const bool cut = Macrostep();
    if (!running_) return StepResult::kFinished;
    return cut ? StepResult::kIdle : StepResult::kProgressed;
  }
  if (external_.empty()) return StepResult::kIdle;
  external_.PopFrontInto(&last_event_);
  has_last_event_ = true;
  SetEvent();
  if (doc_->genesys_hook != kNoCode) {
    if (absl::Status s = dm_->Execute(doc_->genesys_hook); !s.ok()) {
      RaiseError("error.execution", absl::StrCat("_genesys.ixn.interactions: ", s.message()));
    }
  }
  const Event& e = last_event_;
  // Finalize and autoforward for the invocations of active states.
  for (size_t i = 0; i < children_.size(); ++i) {
    const Invoke& inv = doc_->invokes[children_[i].invoke_index];
    if (!e.invokeid.empty() && e.invokeid == children_[i].invokeid) Execute(inv.finalize);
    if (inv.autoforward && children_[i].session != nullptr && children_[i].session->running_) {
      Event copy = e;
      (void)children_[i].session->Enqueue(std::move(copy));
    }
  }
  SelectTransitions(&e);
  if (!enabled_.empty()) Microstep(enabled_);
  Macrostep();
  return running_ ? StepResult::kProgressed : StepResult::kFinished;
}

StepResult Interpreter::RunRound() {
  if (!running_) return StepResult::kFinished;
  bool progress = false;
  FireDue();
  for (size_t i = 0; i < children_.size(); ++i) {
    Interpreter* child = children_[i].session.get();
    if (child != nullptr && child->running_) {
      if (child->RunUntilIdle() != StepResult::kIdle) progress = true;
    }
  }
  // Finished children stay until their invoking state exits: <finalize>
  // still applies to the events they sent.
  StepResult r = Step();
  if (r == StepResult::kFinished) return r;
  return progress || r == StepResult::kProgressed ? StepResult::kProgressed : StepResult::kIdle;
}

StepResult Interpreter::RunUntilIdle(size_t max_steps) {
  bool any = false;
  for (size_t n = 0; n < max_steps; ++n) {
    StepResult r = RunRound();
    if (r == StepResult::kFinished) return r;
    if (r == StepResult::kIdle) break;
    any = true;
    // Another round would find nothing to do (and change nothing).
    if (Quiescent()) break;
  }
  return any ? StepResult::kProgressed : StepResult::kIdle;
}

bool Interpreter::Quiescent() const {
  if (!internal_.empty() || !external_.empty()) return false;
  for (const Child& c : children_) {
    if (c.session != nullptr && c.session->running_) return false;
  }
  for (const PendingSend& p : pending_) {
    if (p.due_ms <= now_ms_) return false;
  }
  return true;
}

void Interpreter::SetNow(int64_t now_ms) {
  now_ms_ = now_ms;
  for (auto& c : children_) {
    if (c.session) c.session->SetNow(now_ms);
  }
}

std::vector<std::string> Interpreter::ActiveStates(bool atomic_only) const {
  std::vector<std::string> out;
  for (const State& s : doc_->states) {
    if (s.index == 0 || !active_[s.index]) continue;
    if (atomic_only && (s.kind == StateKind::kCompound || s.kind == StateKind::kParallel)) continue;
    out.push_back(s.id);
  }
  return out;
}

Interpreter* Interpreter::FindSession(const std::string& session_id) {
  if (session_id == options_.session_id) return this;
  for (auto& c : children_) {
    if (c.session == nullptr) continue;
    if (Interpreter* found = c.session->FindSession(session_id)) return found;
  }
  return nullptr;
}

absl::StatusOr<std::string> Interpreter::ReadData(std::string_view name) {
  if (dm_ == nullptr) return absl::FailedPreconditionError("the session has no data model");
  return dm_->ReadVariable(name);
}

bool Interpreter::In(std::string_view state_id) {
  const std::vector<uint32_t>& ids = doc_->states_by_id;
  auto it = std::lower_bound(ids.begin(), ids.end(), state_id, [&](uint32_t s, std::string_view id) {
    return std::string_view(doc_->states[s].id) < id;
  });
  for (; it != ids.end() && doc_->states[*it].id == state_id; ++it) {
    if (active_[*it]) return true;
  }
  return false;
}

// ---------------------------------------------------------------- Appendix D

bool Interpreter::Macrostep() {
  size_t microsteps = 0;
  while (running_) {
    bool done = false;
    while (running_ && !done) {
      if (doc_->has_eventless) {
        SelectTransitions(nullptr);
      } else {
        enabled_.clear();
      }
      if (enabled_.empty()) {
        if (internal_.empty()) {
          done = true;
        } else {
          internal_.PopFrontInto(&last_event_);
          has_last_event_ = true;
          SetEvent();
          SelectTransitions(&last_event_);
        }
      }
      if (!enabled_.empty()) {
        if (++microsteps > options_.max_microsteps) {
          internal_.clear();
          RaiseError("error.execution",
                     absl::StrCat("more than ", options_.max_microsteps,
                                  " microsteps in one macrostep (a livelock of eventless transitions?)"));
          return true;
        }
        Microstep(enabled_);
      }
    }
    if (!running_) break;
    StartInvokes();
    if (internal_.empty()) break;
  }
  if (!running_) ExitInterpreter();
  return false;
}

bool Interpreter::ConditionHolds(uint32_t cond, const std::string& where) {
  if (cond == kNoCode) return true;
  absl::StatusOr<bool> v = dm_->EvalCondition(cond);
  if (!v.ok()) {
    RaiseError("error.execution", absl::StrCat(where, ": cond: ", v.status().message()));
    return false;
  }
  return *v;
}

void Interpreter::SelectTransitions(const Event* event) {
  enabled_.clear();
  const std::vector<StateInfo>& info = doc_->state_info;
  const uint32_t n = static_cast<uint32_t>(active_.size());
  for (uint32_t atomic = 1; atomic < n; ++atomic) {
    if (!active_[atomic]) continue;
    const StateInfo& ai = info[atomic];
    // Not atomic, or no transition of the wanted kind on its ancestor chain.
    if (!ai.atomic || !(event == nullptr ? ai.eventless_chain : ai.evented_chain)) continue;
    bool found = false;
    for (int32_t s = static_cast<int32_t>(atomic); s > 0 && !found; s = info[s].parent) {
      for (uint32_t ti : doc_->states[s].transitions) {
        const Transition& t = doc_->transitions[ti];
        if (event == nullptr) {
          if (!t.events.empty()) continue;
        } else {
          if (t.events.empty()) continue;
          bool match = false;
          for (const auto& d : t.events) {
            if (EventMatches(d, event->name)) {
              match = true;
              break;
            }
          }
          if (!match) continue;
        }
        if (ConditionHolds(t.cond, t.where)) {
          if (std::find(enabled_.begin(), enabled_.end(), ti) == enabled_.end()) enabled_.push_back(ti);
          found = true;
          break;
        }
      }
    }
  }
  RemoveConflicting();
}

// Exit sets are the active states in a domain's descendant range; ranges of
// two states are nested or disjoint, so two exit sets intersect exactly when
// one domain is (or is below) the other and the inner range holds an active
// state.
bool Interpreter::ExitSetsIntersect(int32_t d1, int32_t d2) const {
  if (d1 == kNone || d2 == kNone) return false;
  uint32_t inner;
  const uint32_t a = static_cast<uint32_t>(d1);
  const uint32_t b = static_cast<uint32_t>(d2);
  if (a == b || IsDescendant(a, b)) {
    inner = a;
  } else if (IsDescendant(b, a)) {
    inner = b;
  } else {
    return false;
  }
  const uint32_t last = doc_->state_info[inner].last_descendant;
  for (uint32_t s = inner + 1; s <= last; ++s) {
    if (active_[s]) return true;
  }
  return false;
}

void Interpreter::RemoveConflicting() {
  // One transition conflicts with nothing.
  if (enabled_.size() <= 1) return;
  filtered_.clear();
  filtered_domains_.clear();
  for (uint32_t t1 : enabled_) {
    const int32_t d1 = TransitionDomain(t1);
    const uint32_t src1 = static_cast<uint32_t>(doc_->transitions[t1].source);
    // t1 is preempted by an earlier transition whose exit set intersects
    // its own unless t1's source is a descendant of that one's source...
    bool preempted = false;
    for (size_t k = 0; k < filtered_.size(); ++k) {
      if (!ExitSetsIntersect(d1, filtered_domains_[k])) continue;
      if (!IsDescendant(src1, static_cast<uint32_t>(doc_->transitions[filtered_[k]].source))) {
        preempted = true;
        break;
      }
    }
    if (preempted) continue;
    // ... in which case t1 replaces every such transition.
    size_t kept = 0;
    for (size_t k = 0; k < filtered_.size(); ++k) {
      if (ExitSetsIntersect(d1, filtered_domains_[k])) continue;
      filtered_[kept] = filtered_[k];
      filtered_domains_[kept] = filtered_domains_[k];
      ++kept;
    }
    filtered_.resize(kept);
    filtered_domains_.resize(kept);
    filtered_.push_back(t1);
    filtered_domains_.push_back(d1);
  }
  enabled_.swap(filtered_);
}

void Interpreter::Microstep(const std::vector<uint32_t>& transitions) {
  ExitStates(transitions);
  for (uint32_t t : transitions) Execute(doc_->transitions[t].actions);
  EnterStates(transitions);
}

void Interpreter::ComputeExitSet(const std::vector<uint32_t>& transitions) {
  exit_set_.clear();
  const std::vector<StateInfo>& info = doc_->state_info;
  if (transitions.size() == 1) {
    const int32_t domain = TransitionDomain(transitions[0]);
    if (domain == kNone) return;
    // Descendants of the domain are the contiguous range after it (document order).
    const uint32_t last = info[domain].last_descendant;
    for (uint32_t s = static_cast<uint32_t>(domain) + 1; s <= last; ++s) {
      if (active_[s]) exit_set_.push_back(s);
    }
    return;
  }
  for (uint32_t t : transitions) {
    const int32_t domain = TransitionDomain(t);
    if (domain == kNone) continue;
    const uint32_t last = info[domain].last_descendant;
    for (uint32_t s = static_cast<uint32_t>(domain) + 1; s <= last; ++s) {
      if (active_[s] && !(marks_[s] & kExit)) {
        marks_[s] |= kExit;
        exit_set_.push_back(s);
      }
    }
  }
  std::sort(exit_set_.begin(), exit_set_.end());
  for (uint32_t s : exit_set_) marks_[s] &= ~kExit;
}

void Interpreter::ExitStates(const std::vector<uint32_t>& transitions) {
  ComputeExitSet(transitions);
  if (exit_set_.empty()) return;
  for (uint32_t s : exit_set_) to_invoke_[s] = 0;
  const std::vector<StateInfo>& info = doc_->state_info;
  // History first, from the configuration before anything is exited; exit
  // order is reverse document order.
  if (doc_->has_history) {
    for (auto it = exit_set_.rbegin(); it != exit_set_.rend(); ++it) {
      const uint32_t s = *it;
      if (!info[s].has_history_child) continue;
      for (uint32_t h : doc_->states[s].children) {
        const State& hs = doc_->states[h];
        if (hs.kind != StateKind::kHistory) continue;
        std::vector<uint32_t>& recorded = history_[h];
        recorded.clear();
        if (hs.deep) {  // active atomic descendants, document order
          for (uint32_t c = s + 1; c <= info[s].last_descendant; ++c) {
            if (active_[c] && info[c].atomic) recorded.push_back(c);
          }
        } else {  // active children, document order
          for (uint32_t c : doc_->states[s].children) {
            if (active_[c]) recorded.push_back(c);
          }
        }
      }
    }
  }
  for (auto it = exit_set_.rbegin(); it != exit_set_.rend(); ++it) {
    const uint32_t s = *it;
    for (const Block& b : doc_->states[s].onexit) Execute(b);
    CancelInvokes(s);
    active_[s] = 0;
  }
}

void Interpreter::EnterStates(const std::vector<uint32_t>& transitions) {
  entry_set_.clear();
  default_history_.clear();
  ComputeEntrySet(transitions);
  if (entry_set_.size() > 1) std::sort(entry_set_.begin(), entry_set_.end());  // document order
  for (uint32_t s : entry_set_) {
    if (s == 0) continue;
    const State& st = doc_->states[s];
    active_[s] = 1;
    if (!to_invoke_[s]) {
      to_invoke_[s] = 1;
      to_invoke_list_.push_back(s);
      if (to_invoke_list_.size() > 2 * to_invoke_.size() + 16) CompactToInvoke();
    }
    if (doc_->late_binding && !data_initialized_[s]) InitData(s, true);
    for (const Block& b : st.onentry) Execute(b);
    if ((marks_[s] & kDefaultEntry) && st.initial != kNone) Execute(doc_->transitions[st.initial].actions);
    for (const auto& [parent, block] : default_history_) {
      if (parent == s) {
        Execute(*block);
        break;
      }
    }
    if (st.kind == StateKind::kFinal) {
      if (st.parent == 0) {
        running_ = false;
        final_state_ = st.id;
        if (st.donedata.present) {
          auto data = EvalData({}, st.donedata.params, st.donedata.content);
          done_data_ = data.ok() ? *data : "undefined";
          if (!data.ok()) RaiseError("error.execution", std::string(data.status().message()));
        }
      } else {
        const State& parent = doc_->states[st.parent];
        Event done;
        done.name = "done.state." + parent.id;
        done.type = Event::Type::kPlatform;
        if (st.donedata.present) {
          auto data = EvalData({}, st.donedata.params, st.donedata.content);
          if (data.ok()) {
            done.data = *data;
          } else {
            RaiseError("error.execution", std::string(data.status().message()));
          }
        }
        internal_.push_back(std::move(done));
        if (parent.parent != kNone) {
          const State& grand = doc_->states[parent.parent];
          if (grand.kind == StateKind::kParallel) {
            bool all = true;
            for (uint32_t c : grand.children) {
              if (doc_->states[c].kind == StateKind::kHistory) continue;
              if (!IsInFinalState(c)) {
                all = false;
                break;
              }
            }
            if (all) {
              Event pd;
              pd.name = "done.state." + grand.id;
              pd.type = Event::Type::kPlatform;
              internal_.push_back(std::move(pd));
            }
          }
        }
      }
    }
  }
  for (uint32_t s : entry_set_) marks_[s] = 0;
}

void Interpreter::ComputeEntrySet(const std::vector<uint32_t>& transitions) {
  for (uint32_t t : transitions) {
    for (uint32_t s : doc_->transitions[t].targets) AddDescendants(s);
    const TransitionInfo& info = doc_->transition_info[t];
    if (!info.dynamic) {
      for (uint32_t s : info.effective_targets) AddAncestors(s, info.domain);
      continue;
    }
    const std::vector<uint32_t>& targets = EffectiveTargets(t);  // dyn_targets_
    const int32_t ancestor = ComputeTransitionDomain(*doc_, doc_->transitions[t], targets.data(), targets.size());
    for (uint32_t s : targets) AddAncestors(s, ancestor);
  }
}

void Interpreter::AddDescendants(uint32_t state) {
  const State& st = doc_->states[state];
  if (st.kind == StateKind::kHistory) {
    auto it = history_.find(state);
    if (it != history_.end()) {
      for (uint32_t s : it->second) AddDescendants(s);
      for (uint32_t s : it->second) AddAncestors(s, st.parent);
    } else if (!st.transitions.empty()) {
      const Transition& t = doc_->transitions[st.transitions[0]];
      const uint32_t parent = static_cast<uint32_t>(st.parent);
      bool set = false;
      for (auto& [p, block] : default_history_) {
        if (p == parent) {
          block = &t.actions;
          set = true;
          break;
        }
      }
      if (!set) default_history_.emplace_back(parent, &t.actions);
      for (uint32_t s : t.targets) AddDescendants(s);
      for (uint32_t s : t.targets) AddAncestors(s, st.parent);
    }
    return;
  }
  MarkEntry(state);
  if (st.kind == StateKind::kCompound) {
    marks_[state] |= kDefaultEntry;
    const Transition& init = doc_->transitions[st.initial];
    for (uint32_t s : init.targets) AddDescendants(s);
    for (uint32_t s : init.targets) AddAncestors(s, static_cast<int32_t>(state));
  } else if (st.kind == StateKind::kParallel) {
    AddUncoveredRegions(state);
  }
}

// A parallel state's regions not yet entered by some descendant get their
// default entry.
void Interpreter::AddUncoveredRegions(uint32_t parallel) {
  const std::vector<StateInfo>& info = doc_->state_info;
  for (uint32_t c : doc_->states[parallel].children) {
    if (info[c].kind == StateKind::kHistory) continue;
    bool covered = false;
    for (uint32_t s = c; s <= info[c].last_descendant && !covered; ++s) covered = marks_[s] & kEnter;
    if (!covered) AddDescendants(c);
  }
}

void Interpreter::AddAncestors(uint32_t state, int32_t ancestor) {
  const std::vector<StateInfo>& info = doc_->state_info;
  for (int32_t a = info[state].parent; a != kNone && a != ancestor; a = info[a].parent) {
    MarkEntry(static_cast<uint32_t>(a));
    if (info[a].kind == StateKind::kParallel) AddUncoveredRegions(static_cast<uint32_t>(a));
  }
}

bool Interpreter::IsInFinalState(uint32_t s) const {
  const State& st = doc_->states[s];
  if (st.kind == StateKind::kCompound) {
    for (uint32_t c : st.children) {
      if (doc_->states[c].kind == StateKind::kFinal && active_[c]) return true;
    }
    return false;
  }
  if (st.kind == StateKind::kParallel) {
    for (uint32_t c : st.children) {
      if (doc_->states[c].kind == StateKind::kHistory) continue;
      if (!IsInFinalState(c)) return false;
    }
    return true;
  }
  return false;
}

bool Interpreter::IsDescendant(uint32_t s, uint32_t ancestor) const {
  return s > ancestor && s <= doc_->state_info[ancestor].last_descendant;
}

bool Interpreter::IsCompound(uint32_t s) const { return doc_->state_info[s].kind == StateKind::kCompound; }

int32_t Interpreter::TransitionDomain(uint32_t t) {
  const TransitionInfo& info = doc_->transition_info[t];
  if (!info.dynamic) return info.domain;
  const std::vector<uint32_t>& targets = EffectiveTargets(t);
  return ComputeTransitionDomain(*doc_, doc_->transitions[t], targets.data(), targets.size());
}

const std::vector<uint32_t>& Interpreter::EffectiveTargets(uint32_t t) {
  const TransitionInfo& info = doc_->transition_info[t];
  if (!info.dynamic) return info.effective_targets;
  dyn_targets_.clear();
  AddEffectiveTargets(t, &dyn_targets_);
  return dyn_targets_;
}

// Appends the effective targets of `ti` not yet in *out: a <history> stands
// for its recorded states, or for its default transition's targets.
void Interpreter::AddEffectiveTargets(uint32_t ti, std::vector<uint32_t>* out) {
  auto add = [out](uint32_t s) {
    if (std::find(out->begin(), out->end(), s) == out->end()) out->push_back(s);
  };
  for (uint32_t s : doc_->transitions[ti].targets) {
    const State& st = doc_->states[s];
    if (st.kind == StateKind::kHistory) {
      auto it = history_.find(s);
      if (it != history_.end()) {
        for (uint32_t h : it->second) add(h);
      } else if (!st.transitions.empty()) {
        AddEffectiveTargets(st.transitions[0], out);
      }
    } else {
      add(s);
    }
  }
}

// ---------------------------------------------------------------- content

void Interpreter::SetEvent() {
  // The null data model has no _event (its SetEvent does nothing).
  if (null_data_model_) return;
  // The fields are lent to the data model (moved there and back), not copied.
  Event& e = last_event_;
  EventFields f;
  f.name = std::move(e.name);
  f.type = TypeName(e.type);
  f.sendid = std::move(e.sendid);
  f.origin = std::move(e.origin);
  f.origintype = std::move(e.origintype);
  f.invokeid = std::move(e.invokeid);
  f.data = std::move(e.data);
  f.raw = std::move(e.raw);
  absl::Status s = dm_->SetEvent(f);
  e.name = std::move(f.name);
  e.sendid = std::move(f.sendid);
  e.origin = std::move(f.origin);
  e.origintype = std::move(f.origintype);
  e.invokeid = std::move(f.invokeid);
  e.data = std::move(f.data);
  e.raw = std::move(f.raw);
  if (!s.ok()) RaiseError("error.execution", absl::StrCat("cannot set _event: ", s.message()));
}

void Interpreter::RaiseError(std::string_view name, const std::string& message, const std::string& sendid) {
  // A full internal queue keeps one error beyond the limit (the one saying
  // so); further errors are dropped rather than growing it without bound.
  if (internal_.size() > options_.max_internal_queue) return;
  Event e;
  e.name = std::string(name);
  e.type = Event::Type::kPlatform;
  e.sendid = sendid;
  e.data = ErrorData(message);
  internal_.push_back(std::move(e));
}

bool Interpreter::Execute(const Block& block) {
  for (size_t i = 0; i < block.size();) {
    const ExecNode& n = block[i];
    if (n.run != kNoCode) {
      const ContentRun& run = doc_->content_runs[n.run];
      ContentResult r = dm_->RunContent(n.run, run.nodes);
      if (r.outcome == ContentResult::Outcome::kFailed) {
        const ContentRun::Op& op = run.ops[r.failed_op < run.ops.size() ? r.failed_op : 0];
        RaiseError("error.execution", absl::StrCat(op.where, ": ", op.tag, ": ", r.status.message()));
        return false;
      }
      if (r.outcome == ContentResult::Outcome::kDone) {
        i += n.run_length;
        continue;
      }
    }
    if (!ExecuteNode(n)) return false;
    ++i;
  }
  return true;
}

}  // namespace orch::scxml
