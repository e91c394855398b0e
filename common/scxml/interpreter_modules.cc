// Interpreter::DoModuleAction: executing a functional-module element
// (modules.h) — a request id, the evaluated attributes and children, and a
// send of the module's type to the environment.

#include "absl/strings/str_cat.h"
#include "common/base/json.h"
#include "common/scxml/interpreter.h"
#include "common/scxml/modules.h"

namespace orch::scxml {

absl::StatusOr<std::string> Interpreter::EvalModuleElement(const ModuleElement& element) {
  std::string out = "{";
  bool first = true;
  auto key = [&](std::string_view name) {
    if (!first) out += ",";
    first = false;
    AppendJsonString(&out, name);
    out += ":";
  };
  for (const ModuleField& f : element.fields) {
    std::string value = f.literal_json;
    if (f.expr != kNoCode) {
      auto v = dm_->EvalValue(f.expr);
      if (!v.ok()) return absl::InvalidArgumentError(absl::StrCat("'", f.name, "': ", v.status().message()));
      value = *std::move(v);
    }
    key(f.name);
    out += value == "undefined" ? "null" : value;
  }
  // Children by local name, each name an array of its elements in order.
  std::vector<bool> done(element.children.size(), false);
  for (size_t i = 0; i < element.children.size(); ++i) {
    if (done[i]) continue;
    const std::string& name = element.children[i].name;
    key(name);
    out += "[";
    bool first_child = true;
    for (size_t j = i; j < element.children.size(); ++j) {
      if (done[j] || element.children[j].name != name) continue;
      done[j] = true;
      auto child = EvalModuleElement(element.children[j]);
      if (!child.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("<", name, ">: ", child.status().message()));
      }
      if (!first_child) out += ",";
      first_child = false;
      out += *child;
    }
    out += "]";
  }
  out += "}";
  return out;
}

bool Interpreter::DoModuleAction(const ExecNode& n) {
  const ModuleAction& a = *n.module;
  const std::string& action = a.element.name;
  const std::string error_event = absl::StrCat("error.", a.module, ".", action);
  // Deterministic (the counter is in the snapshot): replay regenerates it.
  const std::string requestid = absl::StrCat(options_.session_id, ".req", ++id_counter_);
  auto fail = [&](const std::string& what, const absl::Status& s) {
    RaiseError("error.execution", absl::StrCat(n.where, ": <", a.module, ":", action, "> ", what, ": ", s.message()),
               requestid);
    return false;
  };
  if (a.requestid_location != kNoCode) {
    if (absl::Status s = dm_->AssignValue(a.requestid_location, JsonString(requestid)); !s.ok()) {
      return fail("requestid", s);
    }
  }
  std::string interactionid = "null";
  if (a.interactionid != kNoCode) {
    auto v = dm_->EvalValue(a.interactionid);
    if (!v.ok()) return fail("interactionid", v.status());
    if (*v != "undefined") interactionid = *std::move(v);
  }
  std::string target_requestid = "null";
  if (a.target_requestid != kNoCode) {
    auto v = dm_->EvalValue(a.target_requestid);
    if (!v.ok()) return fail("requestid", v.status());
    if (*v != "undefined") target_requestid = *std::move(v);
  }
  auto params = EvalModuleElement(a.element);
  if (!params.ok()) return fail("", params.status());
  if (!a.params.empty()) {
    auto given = EvalData({}, a.params, Content{});
    if (!given.ok()) return fail("<param>", given.status());
    params->pop_back();  // '}'
    if (params->size() > 1) *params += ",";
    absl::StrAppend(&*params, "\"parameters\":", *given, "}");
  }
  Event e;
  e.type = Event::Type::kExternal;
  e.name = action;
  e.sendid = requestid;
  e.data = absl::StrCat("{\"module\":", JsonString(a.module), ",\"action\":", JsonString(action),
                        ",\"requestid\":", JsonString(requestid), ",\"interactionid\":", interactionid,
                        ",\"target_requestid\":", target_requestid, ",\"params\":", *params, "}");
  if (e.data.size() > options_.max_event_bytes) {
    return fail("data", absl::ResourceExhaustedError(absl::StrCat(e.data.size(), " bytes; the limit is ",
                                                                  options_.max_event_bytes)));
  }
  absl::Status s = env_ != nullptr ? env_->SendExternal(*this, "", a.type, e) : absl::UnavailableError("no environment");
  if (!s.ok()) {
    // Refused before it left: the strategy hears it as the module's error.
    if (internal_.size() > options_.max_internal_queue) return true;
    Event err;
    err.name = error_event;
    err.type = Event::Type::kPlatform;
    err.sendid = requestid;
    err.data = absl::StrCat("{\"requestid\":", JsonString(requestid), ",\"interactionid\":", interactionid,
                            ",\"error\":\"unavailable\",\"description\":", JsonString(std::string(s.message())), "}");
    internal_.push_back(std::move(err));
  }
  return true;
}

}  // namespace orch::scxml
