// Interpreter::ExecuteNode: executable content element by element (the
// interpreter.h contract; Execute, which offers content runs to the data
// model first, is in interpreter.cc beside the algorithm that calls it),
// <send> with its data, event routing between and out of sessions, and the
// delayed sends the session keeps until FireDue.

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/base/json.h"
#include "common/scxml/delay.h"
#include "common/scxml/interpreter.h"
#include "common/scxml/io_processors.h"

namespace orch::scxml {
namespace {

bool IsScxmlSendType(const std::string& t) { return t.empty() || t == kScxmlEventProcessor || t == "scxml"; }

}  // namespace

std::optional<int64_t> Interpreter::NextDueMs() const {
  std::optional<int64_t> best;
  for (const auto& p : pending_) {
    if (!best || p.due_ms < *best) best = p.due_ms;
  }
  for (const auto& c : children_) {
    if (c.session && c.session->running_) {
      auto d = c.session->NextDueMs();
      if (d && (!best || *d < *best)) best = d;
    }
  }
  return best;
}

void Interpreter::FireDue() {
  if (!running_) return;
  for (;;) {
    auto it = std::min_element(pending_.begin(), pending_.end(), [](const PendingSend& a, const PendingSend& b) {
      return a.due_ms != b.due_ms ? a.due_ms < b.due_ms : a.seq < b.seq;
    });
    if (it == pending_.end() || it->due_ms > now_ms_) break;
    PendingSend p = std::move(*it);
    pending_.erase(it);
    Route(p.target, p.type, std::move(p.event));
  }
  for (auto& c : children_) {
    if (c.session) c.session->FireDue();
  }
}

bool Interpreter::ExecuteNode(const ExecNode& n) {
  switch (n.kind) {
    case ExecKind::kRaise: {
      if (internal_.size() >= options_.max_internal_queue) {
        RaiseError("error.execution", absl::StrCat(n.where, ": <raise>: internal queue full (",
                                                   options_.max_internal_queue, " events)"));
        return false;
      }
      Event e;
      e.name = n.event;
      e.type = Event::Type::kInternal;
      internal_.push_back(std::move(e));
      return true;
    }
    case ExecKind::kLog: {
      std::string value = "undefined";
      if (n.expr != kNoCode) {
        auto v = dm_->EvalValue(n.expr);
        if (!v.ok()) {
          RaiseError("error.execution", absl::StrCat(n.where, ": <log>: ", v.status().message()));
          return false;
        }
        value = *std::move(v);
      }
      if (env_ != nullptr) env_->Log(*this, n.label, value);
      return true;
    }
    case ExecKind::kAssign: {
      absl::Status s = n.expr != kNoCode ? dm_->Assign(n.location, n.expr)
                                         : dm_->AssignValue(n.location, n.content.literal_json);
      if (!s.ok()) {
        RaiseError("error.execution", absl::StrCat(n.where, ": <assign>: ", s.message()));
        return false;
      }
      return true;
    }
    case ExecKind::kScript: {
      if (absl::Status s = dm_->Execute(n.code); !s.ok()) {
        RaiseError("error.execution", absl::StrCat(n.where, ": <script>: ", s.message()));
        return false;
      }
      return true;
    }
    case ExecKind::kIf: {
      for (const auto& b : n.branches) {
        bool take = true;
        if (b.cond != kNoCode) {
          auto v = dm_->EvalCondition(b.cond);
          if (!v.ok()) {
            RaiseError("error.execution", absl::StrCat(n.where, ": <if>: ", v.status().message()));
            return false;
          }
          take = *v;
        }
        if (take) return Execute(b.body);
      }
      return true;
    }
    case ExecKind::kForeach: {
      auto len = dm_->ForeachBegin(n.expr);
      if (!len.ok()) {
        RaiseError("error.execution", absl::StrCat(n.where, ": <foreach>: ", len.status().message()));
        return false;
      }
      bool ok = true;
      for (size_t i = 0; i < *len && ok; ++i) {
        if (absl::Status s = dm_->ForeachStep(i, n.item, n.index); !s.ok()) {
          RaiseError("error.execution", absl::StrCat(n.where, ": <foreach>: ", s.message()));
          ok = false;
          break;
        }
        ok = Execute(n.body);
      }
      dm_->ForeachEnd();
      return ok;
    }
    case ExecKind::kCancel: {
      std::string id = n.id;
      if (n.idlocation != kNoCode) {
        auto v = dm_->EvalString(n.idlocation);
        if (!v.ok()) {
          RaiseError("error.execution", absl::StrCat(n.where, ": <cancel>: ", v.status().message()));
          return false;
        }
        id = *v;
      }
      pending_.erase(std::remove_if(pending_.begin(), pending_.end(),
                                    [&](const PendingSend& p) { return p.sendid == id; }),
                     pending_.end());
      return true;
    }
    case ExecKind::kSend:
      return DoSend(n);
    case ExecKind::kModule:
      return DoModuleAction(n);
  }
  return true;
}

absl::StatusOr<std::string> Interpreter::EvalData(const std::vector<std::pair<std::string, uint32_t>>& namelist,
                                                  const std::vector<Param>& params, const Content& content) {
  if (content.present) {
    if (content.expr != kNoCode) return dm_->EvalValue(content.expr);
    return content.literal_json;
  }
  if (namelist.empty() && params.empty()) return std::string("undefined");
  std::string out = "{";
  bool first = true;
  auto add = [&](const std::string& name, const std::string& value) {
    if (!first) out += ",";
    first = false;
    AppendJsonString(&out, name);
    out += ":";
    out += value == "undefined" ? "null" : value;
  };
  for (const auto& [name, code] : namelist) {
    auto v = dm_->EvalValue(code);
    if (!v.ok()) return absl::InvalidArgumentError(absl::StrCat("namelist '", name, "': ", v.status().message()));
    add(name, *v);
  }
  for (const Param& p : params) {
    auto v = dm_->EvalValue(p.expr);
    if (!v.ok()) return absl::InvalidArgumentError(absl::StrCat("<param name=\"", p.name, "\">: ", v.status().message()));
    add(p.name, *v);
  }
  out += "}";
  return out;
}

bool Interpreter::DoSend(const ExecNode& n) {
  auto fail = [&](const std::string& what, const absl::Status& s, const std::string& sendid = "") {
    RaiseError("error.execution", absl::StrCat(n.where, ": <send> ", what, ": ", s.message()), sendid);
    return false;
  };
  Event e;
  e.type = Event::Type::kExternal;
  e.name = n.event;
  if (n.expr != kNoCode) {
    auto v = dm_->EvalString(n.expr);
    if (!v.ok()) return fail("eventexpr", v.status());
    e.name = *v;
  }
  std::string target = n.target;
  if (n.targetexpr != kNoCode) {
    auto v = dm_->EvalString(n.targetexpr);
    if (!v.ok()) return fail("targetexpr", v.status());
    target = *v;
  }
  std::string type = n.type;
  if (n.typeexpr != kNoCode) {
    auto v = dm_->EvalString(n.typeexpr);
    if (!v.ok()) return fail("typeexpr", v.status());
    type = *v;
  }
  std::string sendid = n.id;
  if (n.idlocation != kNoCode) {
    sendid = absl::StrCat(options_.session_id, ".send", ++id_counter_);
    if (absl::Status s = dm_->AssignValue(n.idlocation, JsonString(sendid)); !s.ok()) return fail("idlocation", s);
  }
  int64_t delay = n.delay_ms;
  if (n.delayexpr != kNoCode) {
    auto v = dm_->EvalString(n.delayexpr);
    if (!v.ok()) return fail("delayexpr", v.status(), sendid);
    auto ms = ParseDelay(*v);
    if (!ms.ok()) return fail("delayexpr", ms.status(), sendid);
    delay = *ms;
  }
  auto data = EvalData(n.namelist, n.params, n.content);
  if (!data.ok()) return fail("data", data.status(), sendid);
  if (data->size() > options_.max_event_bytes) {
    return fail("data", absl::ResourceExhaustedError(absl::StrCat(data->size(), " bytes; the limit is ",
                                                                  options_.max_event_bytes)),
                sendid);
  }
  e.data = *data;
  e.sendid = sendid;
  if (!IsScxmlSendType(type) && type != kBasicHttpEventProcessor) {
    return fail("type", absl::InvalidArgumentError(absl::StrCat("unsupported type '", type, "'")), sendid);
  }
  if (IsScxmlSendType(type)) {
    const bool valid_target = target.empty() || target == "#_internal" || target == "#_parent" ||
                              absl::StartsWith(target, "#_scxml_") || absl::StartsWith(target, "#_");
    if (!valid_target) {
      return fail("target", absl::InvalidArgumentError(absl::StrCat("invalid target '", target, "'")), sendid);
    }
    e.origintype = kScxmlEventProcessor;
    e.origin = "#_scxml_" + options_.session_id;
  }
  if (delay > 0) {
    if (pending_.size() >= options_.max_pending_sends) {
      return fail("delay", absl::ResourceExhaustedError(absl::StrCat("more than ", options_.max_pending_sends,
                                                                     " delayed sends pending")),
                  sendid);
    }
    pending_.push_back(PendingSend{sendid, now_ms_ + delay, ++send_seq_, target, type, std::move(e)});
    return true;
  }
  Route(target, type, std::move(e));
  return true;
}

void Interpreter::Route(const std::string& target, const std::string& type, Event e) {
  // Copies: `e` is moved into Enqueue before a refusal is reported.
  const std::string name = e.name;
  const std::string sendid = e.sendid;
  auto unreachable = [&, name, sendid](const std::string& why) {
    RaiseError("error.communication", absl::StrCat("cannot deliver '", name, "' to '", target, "': ", why), sendid);
  };
  if (!IsScxmlSendType(type)) {
    absl::Status s = env_ != nullptr ? env_->SendExternal(*this, target, type, e)
                                     : absl::UnavailableError("no environment");
    if (!s.ok()) unreachable(std::string(s.message()));
    return;
  }
  if (target.empty()) {
    if (absl::Status st = Enqueue(std::move(e)); !st.ok()) unreachable(std::string(st.message()));
    return;
  }
  if (target == "#_internal") {
    if (internal_.size() >= options_.max_internal_queue) return unreachable("internal queue full");
    e.type = Event::Type::kInternal;
    internal_.push_back(std::move(e));
    return;
  }
  if (target == "#_parent") {
    if (parent_ == nullptr) return unreachable("this session was not invoked");
    e.invokeid = invokeid_;
    DeliverToParent(std::move(e));
    return;
  }
  if (absl::StartsWith(target, "#_scxml_")) {
    const std::string sid = target.substr(8);
    if (sid == options_.session_id) {
      if (absl::Status st = Enqueue(std::move(e)); !st.ok()) unreachable(std::string(st.message()));
      return;
    }
    if (parent_ != nullptr && sid == parent_->session_id()) {
      e.invokeid = invokeid_;
      DeliverToParent(std::move(e));
      return;
    }
    for (auto& c : children_) {
      if (c.session && c.session->session_id() == sid) {
        if (absl::Status st = c.session->Enqueue(std::move(e)); !st.ok()) unreachable(std::string(st.message()));
        return;
      }
    }
    absl::Status s = env_ != nullptr ? env_->SendExternal(*this, target, type, e)
                                     : absl::UnavailableError("no environment");
    if (!s.ok()) unreachable(std::string(s.message()));
    return;
  }
  // "#_<invokeid>"
  const std::string invokeid = target.substr(2);
  for (auto& c : children_) {
    if (c.invokeid == invokeid && c.session && c.session->running_) {
      if (absl::Status st = c.session->Enqueue(std::move(e)); !st.ok()) unreachable(std::string(st.message()));
      return;
    }
  }
  unreachable("no active invocation with that id");
}

}  // namespace orch::scxml
