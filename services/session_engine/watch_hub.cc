#include "services/session_engine/watch_hub.h"

#include "absl/strings/str_cat.h"

namespace orch::session_engine {

namespace ev = orch::event::v1;
namespace sv1 = orch::session::v1;

void Watcher::Push(sv1::WatchSessionResponse update, bool close) {
  absl::MutexLock l(&mu_);
  if (updates_.size() >= kMaxBuffered) {
    ++missed_;
  } else {
    update.set_missed(missed_);
    missed_ = 0;
    updates_.push_back(std::move(update));
  }
  closed_ |= close;
  cv_.SignalAll();
}

void Watcher::CloseStream() {
  absl::MutexLock l(&mu_);
  closed_ = true;
  cv_.SignalAll();
}

bool Watcher::Take(time::Clock* clock, int64_t deadline_ms, std::deque<sv1::WatchSessionResponse>* out) {
  absl::MutexLock l(&mu_);
  while (updates_.empty() && !closed_) {
    if (clock->WaitUntil(&cv_, &mu_, deadline_ms)) break;
  }
  for (auto& u : updates_) out->push_back(std::move(u));
  updates_.clear();
  return closed_;
}

absl::Status WatchHub::Add(LiveSession& session, std::shared_ptr<Watcher> watcher) {
  auto& list = watchers_[session.id()];
  std::erase_if(list, [](const std::shared_ptr<Watcher>& w) { return w->abandoned(); });
  if (list.size() >= kMaxWatchers) {
    return absl::ResourceExhaustedError(absl::StrCat("at most ", kMaxWatchers, " watchers per session"));
  }
  list.push_back(std::move(watcher));
  session.set_collect_logs(true);
  return absl::OkStatus();
}

void WatchHub::Publish(LiveSession& session, const ev::LogEntry& entry) {
  auto it = watchers_.find(session.id());
  if (it == watchers_.end()) return;
  auto& list = it->second;
  std::erase_if(list, [](const std::shared_ptr<Watcher>& w) { return w->abandoned(); });
  if (list.empty()) {
    session.set_collect_logs(false);
    watchers_.erase(it);
    return;
  }
  const bool finished = session.ended();
  sv1::WatchSessionResponse u;
  u.set_seq(session.persistent() ? entry.seq() : 0);
  switch (entry.kind_case()) {
    case ev::LogEntry::kEvent:
      u.set_input(absl::StrCat("event:", entry.event().name()));
      break;
    case ev::LogEntry::kStarted:
      u.set_input("started");
      break;
    case ev::LogEntry::kTerminated:
      u.set_input("terminated");
      break;
    default:
      u.set_input("clock");
  }
  if (session.interpreter() != nullptr) {
    for (auto& s : session.interpreter()->ActiveStates(false)) u.add_active_states(s);
  }
  for (auto& l : session.TakeLogs()) u.add_logs(std::move(l));
  u.set_finished(finished);
  for (auto& w : list) w->Push(u, finished);
  if (finished) watchers_.erase(it);
}

void WatchHub::Close(const std::string& session_id, bool finished) {
  auto it = watchers_.find(session_id);
  if (it == watchers_.end()) return;
  for (auto& w : it->second) {
    if (finished) {
      sv1::WatchSessionResponse u;
      u.set_finished(true);
      w->Push(std::move(u), true);
    } else {
      w->CloseStream();
    }
  }
  watchers_.erase(it);
}

}  // namespace orch::session_engine
