#include "tools/switch_sim/simulator.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/base/json.h"

namespace orch::switch_sim {

Simulator::Simulator(SimOptions options, time::Clock* clock) : options_(std::move(options)), clock_(clock) {
  options_.model.links = static_cast<int>(options_.watchers.size());
  {
    absl::MutexLock l(&mu_);
    model_ = std::make_unique<SwitchModel>(options_.model, clock_);
  }
  for (size_t i = 0; i < options_.watchers.size(); ++i) {
    LinkOptions lo;
    lo.address = options_.watchers[i];
    lo.channel = options_.channel;
    lo.adapter_id = absl::StrCat(options_.adapter_id, "-", i + 1);
    lo.switch_name = options_.switch_name;
    lo.tenant = options_.tenant;
    lo.drop_every_events = options_.drop_link_every_events;
    lo.welcome_timeout_ms = options_.welcome_timeout_ms;
    links_.push_back(std::make_unique<AdapterLink>(
        std::move(lo), clock_, [this, i](const calls::v1::SwitchRequest& r) { OnRequest(i, r); },
        [this, i] { OnWelcome(i); }));
  }
}

Simulator::~Simulator() {
  for (auto& link : links_) link->Stop();
}

// Called with mu_ held, so every link receives events in the model's order
// and a target snapshot (OnWelcome) never interleaves with a change.
void Simulator::Distribute() {
  for (Emitted& e : model_->TakeEmitted()) {
    if (e.interaction.has_value()) {
      links_[e.link]->EnqueueInteraction(std::move(*e.interaction));
    } else {
      for (auto& link : links_) link->EnqueueTarget(*e.target);
    }
  }
}

void Simulator::CollectAcks() {
  for (auto& link : links_) {
    for (const SettledEvent& s : link->TakeSettled()) model_->Acknowledged(s.event, s.rejected);
  }
}

void Simulator::OnRequest(size_t link, const calls::v1::SwitchRequest& request) {
  absl::MutexLock l(&mu_);
  model_->Advance();
  Distribute();
  // The answer is queued before the events it causes: the link writes
  // answers first, so "ok" precedes the ESTABLISHED of a route.
  links_[link]->Answer(model_->Handle(request));
  Distribute();
  cv_.Signal();
}

void Simulator::OnWelcome(size_t link) {
  absl::MutexLock l(&mu_);
  for (calls::v1::TargetEvent& t : model_->TargetStates()) links_[link]->EnqueueTarget(std::move(t));
}

bool Simulator::LinksDrained() const {
  return std::all_of(links_.begin(), links_.end(), [](const auto& link) { return link->Counts().unacked == 0; });
}

RunResult Simulator::Run() {
  for (auto& link : links_) link->Start();
  // Waits are capped so acknowledgements (which do not signal cv_) are seen.
  constexpr int64_t kPollMs = 20;
  int64_t drain_deadline = -1;
  {
    absl::MutexLock l(&mu_);
    for (;;) {
      model_->Advance();
      Distribute();
      CollectAcks();
      const int64_t now = clock_->MonotonicMs();
      if (model_->Finished() && LinksDrained()) break;
      if (model_->ArrivalsDone() && drain_deadline < 0) drain_deadline = now + options_.drain_ms;
      if (drain_deadline >= 0 && now >= drain_deadline) break;
      int64_t wake = now + kPollMs;
      if (auto due = model_->NextDueMs(); due.has_value()) wake = std::min(wake, *due);
      if (drain_deadline >= 0) wake = std::min(wake, drain_deadline);
      clock_->WaitUntil(&cv_, &mu_, wake);
    }
  }
  for (auto& link : links_) link->Stop();

  RunResult r;
  {
    absl::MutexLock l(&mu_);
    CollectAcks();
    r.counts = model_->Counts();
    r.records = model_->Records();
    r.finished = model_->Finished();
  }
  for (auto& link : links_) {
    LinkCounts c = link->Counts();
    r.events_sent += c.events_sent;
    r.resent += c.resent;
    r.reconnects += c.reconnects;
    r.rejected += c.rejected;
    r.unacked += c.unacked;
  }
  r.finished = r.finished && r.unacked == 0;
  std::vector<int64_t> route;
  for (const CallRecord& c : r.records) {
    if (c.route_ms >= 0) route.push_back(c.route_ms);
  }
  if (!route.empty()) {
    std::sort(route.begin(), route.end());
    auto rank = [&](double p) {   // nearest rank
      size_t k = static_cast<size_t>(p * static_cast<double>(route.size()) + 0.999999);
      return route[std::clamp<size_t>(k, 1, route.size()) - 1];
    };
    r.route_p50_ms = rank(0.50);
    r.route_p99_ms = rank(0.99);
  }
  return r;
}

std::string FormatSummary(const RunResult& r, bool json) {
  const std::vector<std::pair<const char*, int64_t>> fields = {
      {"calls", r.counts.calls},
      {"routed", r.counts.routed},
      {"abandoned", r.counts.abandoned},
      {"default_routed", r.counts.default_routed},
      {"released_by_strategy", r.counts.released_by_strategy},
      {"unfinished", r.counts.unfinished},
      {"double_routes", r.counts.double_routes},
      {"not_ready_routes", r.counts.not_ready_routes},
      {"requests", r.counts.requests},
      {"duplicate_requests", r.counts.duplicate_requests},
      {"route_p50_ms", r.route_p50_ms},
      {"route_p99_ms", r.route_p99_ms},
      {"events_sent", r.events_sent},
      {"resent", r.resent},
      {"reconnects", r.reconnects},
      {"rejected", r.rejected},
      {"unacked", r.unacked},
  };
  std::vector<std::string> parts;
  for (const auto& [k, v] : fields) parts.push_back(json ? absl::StrCat("\"", k, "\":", v) : absl::StrCat(k, "=", v));
  return json ? absl::StrCat("{", absl::StrJoin(parts, ","), "}") : absl::StrJoin(parts, " ");
}

namespace {

// A time, or null when it is -1 (never happened).
void AppendMs(std::string* out, int64_t ms) {
  if (ms >= 0) {
    absl::StrAppend(out, ms);
  } else {
    *out += "null";
  }
}

}  // namespace

std::string OutcomeLine(const CallRecord& c) {
  std::string out = "{\"call_uuid\":";
  AppendJsonString(&out, c.call_uuid);
  absl::StrAppend(&out, ",\"arrived_ms\":", c.arrived_ms, ",\"route_ms\":");
  AppendMs(&out, c.route_ms);
  absl::StrAppend(&out, ",\"treatments\":", c.treatments, ",\"digits\":");
  AppendJsonString(&out, c.digits);
  out += ",\"routed_to\":";
  AppendJsonString(&out, c.routed_to);
  out += ",\"outcome\":";
  AppendJsonString(&out, OutcomeName(c.outcome));
  absl::StrAppend(&out, ",\"hold_ms\":", c.hold_ms, ",\"ended_ms\":");
  AppendMs(&out, c.ended_ms);
  absl::StrAppend(&out, ",\"events_sent\":", c.events_sent, ",\"events_acked\":", c.events_acked,
                  ",\"events_rejected\":", c.events_rejected, ",\"treatment_log\":[");
  for (size_t i = 0; i < c.treatment_log.size(); ++i) {
    const TreatmentRecord& t = c.treatment_log[i];
    out += i == 0 ? "{\"request_id\":" : ",{\"request_id\":";
    AppendJsonString(&out, t.request_id);
    absl::StrAppend(&out, ",\"started_ms\":", t.started_ms, ",\"ended_ms\":");
    AppendMs(&out, t.ended_ms);
    out += ",\"end\":";
    AppendJsonString(&out, t.end);
    absl::StrAppend(&out, ",\"end_acked\":", t.end_acked ? "true" : "false", ",\"followed\":",
                    t.followed ? "true" : "false", "}");
  }
  out += "],\"route_log\":[";
  for (size_t i = 0; i < c.route_log.size(); ++i) {
    const RouteRecord& r = c.route_log[i];
    out += i == 0 ? "{\"request_id\":" : ",{\"request_id\":";
    AppendJsonString(&out, r.request_id);
    absl::StrAppend(&out, ",\"at_ms\":", r.at_ms, ",\"target\":");
    AppendJsonString(&out, r.target);
    out += ",\"result\":";
    AppendJsonString(&out, r.result);
    absl::StrAppend(&out, ",\"already_routed\":", r.already_routed ? "true" : "false", "}");
  }
  out += "],\"attach_log\":[";
  for (size_t i = 0; i < c.attach_log.size(); ++i) {
    const AttachRecord& a = c.attach_log[i];
    out += i == 0 ? "{\"request_id\":" : ",{\"request_id\":";
    AppendJsonString(&out, a.request_id);
    absl::StrAppend(&out, ",\"at_ms\":", a.at_ms, ",\"user_data\":{");
    bool first = true;
    for (const auto& [k, v] : a.user_data) {
      if (!first) out += ",";
      first = false;
      AppendJsonString(&out, k);
      out += ":";
      AppendJsonString(&out, v);
    }
    out += "}}";
  }
  out += "]}";
  return out;
}

absl::Status WriteOutcomes(const std::string& path, const std::vector<CallRecord>& records) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return absl::UnavailableError(absl::StrCat("--outcomes ", path, ": ", std::strerror(errno)));
  bool ok = true;
  for (const CallRecord& c : records) {
    const std::string line = OutcomeLine(c) + "\n";
    ok = ok && std::fwrite(line.data(), 1, line.size(), f) == line.size();
  }
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) return absl::UnavailableError(absl::StrCat("--outcomes ", path, ": write failed"));
  return absl::OkStatus();
}

}  // namespace orch::switch_sim
