// Interpreter: <invoke> (starting, cancelling and owning child sessions),
// events from a child to its parent, and the end of a session (onexit,
// cancellation, done.invoke with the done data to the parent). See
// interpreter.h and README.md, "Main flow".

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/base/json.h"
#include "common/scxml/interpreter.h"
#include "common/scxml/io_processors.h"

namespace orch::scxml {
namespace {

bool IsScxmlInvokeType(const std::string& t) {
  return t.empty() || t == "scxml" || t == kScxmlInvokeType || t == absl::StripSuffix(kScxmlInvokeType, "/") ||
         t == kScxmlEventProcessor;
}

}  // namespace

void Interpreter::ExitInterpreter() {
  std::vector<uint32_t> active;
  for (uint32_t s = 1; s < active_.size(); ++s) {
    if (active_[s]) active.push_back(s);
  }
  // The configuration stays visible (for "where did it end") but onexit
  // handlers run and invocations are cancelled, in exit order.
  for (auto it = active.rbegin(); it != active.rend(); ++it) {
    for (const Block& b : doc_->states[*it].onexit) Execute(b);
    CancelInvokes(*it);
  }
  pending_.clear();
  if (parent_ != nullptr && !final_state_.empty()) {
    Event done;
    done.name = "done.invoke." + invokeid_;
    done.type = Event::Type::kExternal;
    done.invokeid = invokeid_;
    done.data = done_data_;
    DeliverToParent(std::move(done));
  }
}

void Interpreter::DeliverToParent(Event e) {
  if (parent_ == nullptr || !parent_->running_) return;
  // Only while the invocation is still active in the parent.
  bool active = false;
  for (const auto& c : parent_->children_) active |= (c.session.get() == this);
  if (!active) return;
  (void)parent_->Enqueue(std::move(e));
}

void Interpreter::StartInvokes() {
  if (to_invoke_list_.empty()) return;
  // Every state with to_invoke_ set is in the list: in document order, as a
  // scan of all states would find them.
  std::sort(to_invoke_list_.begin(), to_invoke_list_.end());
  to_invoke_list_.erase(std::unique(to_invoke_list_.begin(), to_invoke_list_.end()), to_invoke_list_.end());
  for (uint32_t s : to_invoke_list_) {
    if (!to_invoke_[s]) continue;
    to_invoke_[s] = 0;
    for (uint32_t inv : doc_->states[s].invokes) StartInvoke(inv);
  }
  to_invoke_list_.clear();
}

void Interpreter::CompactToInvoke() {
  to_invoke_list_.erase(std::remove_if(to_invoke_list_.begin(), to_invoke_list_.end(),
                                       [&](uint32_t s) { return !to_invoke_[s]; }),
                        to_invoke_list_.end());
  std::sort(to_invoke_list_.begin(), to_invoke_list_.end());
  to_invoke_list_.erase(std::unique(to_invoke_list_.begin(), to_invoke_list_.end()), to_invoke_list_.end());
}

void Interpreter::StartInvoke(uint32_t index) {
  const Invoke& inv = doc_->invokes[index];
  auto fail = [&](const std::string& what) {
    RaiseError("error.execution", absl::StrCat(inv.where, ": <invoke>: ", what));
  };
  std::string invokeid = inv.id;
  if (invokeid.empty()) {
    invokeid = absl::StrCat(doc_->states[inv.state].id, ".", options_.session_id, ".inv", ++id_counter_);
    if (inv.idlocation != kNoCode) {
      if (absl::Status s = dm_->AssignValue(inv.idlocation, JsonString(invokeid)); !s.ok()) {
        return fail(absl::StrCat("idlocation: ", s.message()));
      }
    }
  }
  std::string type = inv.type;
  if (inv.typeexpr != kNoCode) {
    auto v = dm_->EvalString(inv.typeexpr);
    if (!v.ok()) return fail(absl::StrCat("typeexpr: ", v.status().message()));
    type = *v;
  }
  if (!IsScxmlInvokeType(type)) return fail(absl::StrCat("unsupported type '", type, "'"));
  std::shared_ptr<const Document> child_doc;
  int32_t inline_index = kNone;
  if (inv.content.present) {
    if (inv.content.child_document != kNone) {
      inline_index = inv.content.child_document;
      child_doc = doc_->children[inv.content.child_document];
    } else {
      std::string source;
      if (inv.content.expr != kNoCode) {
        auto v = dm_->EvalString(inv.content.expr);
        if (!v.ok()) return fail(absl::StrCat("content: ", v.status().message()));
        source = *v;
      } else {
        source = inv.content.markup;
      }
      if (env_ == nullptr) return fail("no environment to compile content");
      auto d = env_->CompileSource(source, doc_->source_name);
      if (!d.ok()) return fail(std::string(d.status().message()));
      child_doc = *d;
    }
  } else {
    std::string src = inv.src;
    if (inv.srcexpr != kNoCode) {
      auto v = dm_->EvalString(inv.srcexpr);
      if (!v.ok()) return fail(absl::StrCat("srcexpr: ", v.status().message()));
      src = *v;
    }
    if (src.empty()) return fail("no src, srcexpr or content");
    if (env_ == nullptr) return fail("no environment to load documents");
    auto d = env_->LoadDocument(src, doc_->source_name);
    if (!d.ok()) return fail(std::string(d.status().message()));
    child_doc = *d;
  }
  if (options_.max_invoke_depth == 0) {
    return fail("invocations nested deeper than the limit (InterpreterOptions.max_invoke_depth)");
  }
  InterpreterOptions child_options;
  child_options.session_id = absl::StrCat(options_.session_id, ".", ++id_counter_);
  child_options.ecmascript = options_.ecmascript;
  child_options.limits = options_.limits;
  child_options.random_seed = options_.random_seed * 6364136223846793005ULL + id_counter_;
  child_options.max_microsteps = options_.max_microsteps;
  child_options.max_external_queue = options_.max_external_queue;
  child_options.max_event_bytes = options_.max_event_bytes;
  child_options.max_invoke_depth = options_.max_invoke_depth - 1;
  child_options.max_internal_queue = options_.max_internal_queue;
  child_options.max_pending_sends = options_.max_pending_sends;
  child_options.extra_ioprocessors = options_.extra_ioprocessors;
  for (const auto& [name, code] : inv.namelist) {
    auto v = dm_->EvalValue(code);
    if (!v.ok()) return fail(absl::StrCat("namelist '", name, "': ", v.status().message()));
    child_options.initial_data[name] = *v;
  }
  for (const Param& p : inv.params) {
    auto v = dm_->EvalValue(p.expr);
    if (!v.ok()) return fail(absl::StrCat("<param name=\"", p.name, "\">: ", v.status().message()));
    child_options.initial_data[p.name] = *v;
  }
  auto child = Interpreter::Create(child_doc, env_, std::move(child_options));
  if (!child.ok()) return fail(std::string(child.status().message()));
  (*child)->parent_ = this;
  (*child)->invokeid_ = invokeid;
  (*child)->parent_invoke_ = index;
  (*child)->now_ms_ = now_ms_;
  Interpreter* raw = child->get();
  children_.push_back(Child{invokeid, index, *std::move(child), inline_index,
                            inline_index == kNone ? child_doc->source_text : std::string(), child_doc->source_name});
  if (absl::Status s = raw->Start(); !s.ok()) {
    children_.pop_back();
    return fail(std::string(s.message()));
  }
}

void Interpreter::CancelInvokes(uint32_t state) {
  if (children_.empty()) return;
  for (auto& c : children_) {
    if (c.session && doc_->invokes[c.invoke_index].state == static_cast<int32_t>(state)) {
      c.session->parent_ = nullptr;  // a cancelled child reports nothing
      c.session->running_ = false;
      c.session.reset();
    }
  }
  children_.erase(std::remove_if(children_.begin(), children_.end(), [](const Child& c) { return c.session == nullptr; }),
                  children_.end());
}

}  // namespace orch::scxml
