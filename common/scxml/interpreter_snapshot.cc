// Interpreter::Snapshot and Interpreter::Restore: a session to and from
// v1::SessionSnapshot (interpreter.h; the format is described in README.md,
// "Snapshot format").

#include "common/scxml/interpreter.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "orch/scxml/v1/snapshot.pb.h"

namespace orch::scxml {
namespace {

void ToProto(const Event& e, v1::Event* out) {
  out->set_name(e.name);
  out->set_type(e.type == Event::Type::kInternal   ? v1::Event::TYPE_INTERNAL
                : e.type == Event::Type::kPlatform ? v1::Event::TYPE_PLATFORM
                                                   : v1::Event::TYPE_EXTERNAL);
  out->set_sendid(e.sendid);
  out->set_origin(e.origin);
  out->set_origintype(e.origintype);
  out->set_invokeid(e.invokeid);
  out->set_data(e.data);
  out->set_raw(e.raw);
}

Event FromProto(const v1::Event& p) {
  Event e;
  e.name = p.name();
  e.type = p.type() == v1::Event::TYPE_INTERNAL   ? Event::Type::kInternal
           : p.type() == v1::Event::TYPE_PLATFORM ? Event::Type::kPlatform
                                                  : Event::Type::kExternal;
  e.sendid = p.sendid();
  e.origin = p.origin();
  e.origintype = p.origintype();
  e.invokeid = p.invokeid();
  e.data = p.data();
  e.raw = p.raw();
  return e;
}

}  // namespace

absl::Status Interpreter::Snapshot(v1::SessionSnapshot* out) const {
  out->Clear();
  out->set_format_version(1);
  out->set_document_sha256(doc_->sha256);
  out->set_session_id(options_.session_id);
  out->set_random_seed(options_.random_seed);
  out->set_running(running_);
  out->set_final_state(final_state_);
  out->set_done_data(done_data_);
  for (uint32_t i = 0; i < active_.size(); ++i) {
    if (active_[i]) out->add_active(i);
    if (to_invoke_[i]) out->add_to_invoke(i);
    if (data_initialized_[i]) out->add_data_initialized(i);
  }
  for (const auto& [state, states] : history_) {
    auto* h = out->add_history();
    h->set_state(state);
    for (uint32_t s : states) h->add_states(s);
  }
  for (size_t i = 0; i < internal_.size(); ++i) ToProto(internal_[i], out->add_internal_queue());
  for (size_t i = 0; i < external_.size(); ++i) ToProto(external_[i], out->add_external_queue());
  for (const PendingSend& p : pending_) {
    auto* ps = out->add_pending();
    ps->set_sendid(p.sendid);
    ps->set_due_ms(p.due_ms);
    ps->set_remaining_ms(p.due_ms - now_ms_);
    ps->set_seq(p.seq);
    ps->set_target(p.target);
    ps->set_type(p.type);
    ToProto(p.event, ps->mutable_event());
  }
  for (const Child& c : children_) {
    if (c.session == nullptr) continue;
    auto* pc = out->add_children();
    pc->set_invokeid(c.invokeid);
    pc->set_invoke_index(c.invoke_index);
    auto* d = pc->mutable_document();
    if (c.inline_index != kNone) {
      d->set_inline_index(static_cast<uint32_t>(c.inline_index));
    } else {
      d->set_source_text(c.source_text);
    }
    d->set_name(c.source_name);
    d->set_sha256(c.session->doc_->sha256);
    if (absl::Status s = c.session->Snapshot(pc->mutable_session()); !s.ok()) return s;
  }
  auto dm = dm_->Serialize();
  if (!dm.ok()) return dm.status();
  out->set_data_model(*dm);
  out->set_now_ms(now_ms_);
  out->set_id_counter(id_counter_);
  out->set_send_seq(send_seq_);
  out->set_invokeid(invokeid_);
  if (has_last_event_) {
    ToProto(last_event_, out->mutable_last_event());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Interpreter>> Interpreter::Restore(std::shared_ptr<const Document> doc,
                                                                  InterpreterEnvironment* env,
                                                                  InterpreterOptions options,
                                                                  const v1::SessionSnapshot& snap) {
  if (snap.format_version() != 1) {
    return absl::InvalidArgumentError(absl::StrCat("snapshot format ", snap.format_version(), " is not supported"));
  }
  if (doc == nullptr || doc->sha256 != snap.document_sha256()) {
    return absl::InvalidArgumentError("the snapshot was taken with another document");
  }
  options.session_id = snap.session_id();
  options.random_seed = snap.random_seed();
  auto created = Create(doc, env, options);
  if (!created.ok()) return created.status();
  Interpreter& s = **created;
  const size_t n = doc->states.size();
  for (uint32_t i : snap.active()) {
    if (i >= n) return absl::InvalidArgumentError("snapshot names a state the document does not have");
    s.active_[i] = 1;
  }
  for (uint32_t i : snap.to_invoke()) {
    if (i < n && !s.to_invoke_[i]) {
      s.to_invoke_[i] = 1;
      s.to_invoke_list_.push_back(i);
    }
  }
  for (uint32_t i : snap.data_initialized()) {
    if (i < n) s.data_initialized_[i] = 1;
  }
  for (const auto& h : snap.history()) {
    s.history_[h.state()] = std::vector<uint32_t>(h.states().begin(), h.states().end());
  }
  for (const auto& e : snap.internal_queue()) s.internal_.push_back(FromProto(e));
  for (const auto& e : snap.external_queue()) s.external_.push_back(FromProto(e));
  for (const auto& p : snap.pending()) {
    s.pending_.push_back(PendingSend{p.sendid(), p.due_ms(), p.seq(), p.target(), p.type(), FromProto(p.event())});
  }
  s.running_ = snap.running();
  s.started_ = true;
  s.final_state_ = snap.final_state();
  s.done_data_ = snap.done_data();
  s.now_ms_ = snap.now_ms();
  s.id_counter_ = snap.id_counter();
  s.send_seq_ = snap.send_seq();
  s.invokeid_ = snap.invokeid();
  if (absl::Status st = s.InitDataModel(); !st.ok()) return st;
  if (absl::Status st = s.dm_->Restore(snap.data_model()); !st.ok()) return st;
  // _event itself is part of the data model's bytes (with its identity:
  // variables that hold _event or _event.data stay the same object), so it
  // is not set again here.
  if (snap.has_last_event()) {
    s.last_event_ = FromProto(snap.last_event());
    s.has_last_event_ = true;
  }
  for (const auto& pc : snap.children()) {
    std::shared_ptr<const Document> child_doc;
    if (pc.document().has_inline_index()) {
      if (pc.document().inline_index() >= doc->children.size()) {
        return absl::InvalidArgumentError("snapshot names an inline child document the document does not have");
      }
      child_doc = doc->children[pc.document().inline_index()];
    } else {
      if (env == nullptr) return absl::FailedPreconditionError("no environment to compile a child document");
      auto d = env->CompileSource(pc.document().source_text(), pc.document().name());
      if (!d.ok()) return d.status();
      child_doc = *d;
    }
    InterpreterOptions child_options = options;
    child_options.initial_data.clear();
    if (child_options.max_invoke_depth > 0) --child_options.max_invoke_depth;
    auto child = Restore(child_doc, env, child_options, pc.session());
    if (!child.ok()) return child.status();
    (*child)->parent_ = &s;
    (*child)->parent_invoke_ = pc.invoke_index();
    s.children_.push_back(Child{pc.invokeid(), pc.invoke_index(), *std::move(child),
                                pc.document().has_inline_index() ? static_cast<int32_t>(pc.document().inline_index()) : kNone,
                                pc.document().source_text(), pc.document().name()});
  }
  return created;
}

}  // namespace orch::scxml
