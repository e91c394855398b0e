#include "services/session_engine/pending_requests.h"

#include "absl/strings/str_cat.h"

namespace orch::session_engine {

PendingRequests::Ticket::~Ticket() {
  if (owner_ != nullptr && !id_.empty()) owner_->Forget(id_);
}

absl::StatusOr<PendingRequests::Reply> PendingRequests::Ticket::Wait(int64_t deadline_ms) {
  State& s = *state_;
  absl::MutexLock l(&s.mu);
  while (!s.answered) {
    if (owner_->clock_->WaitUntil(&s.cv, &s.mu, deadline_ms) && !s.answered) {
      return absl::DeadlineExceededError("no answer in time");
    }
  }
  return s.reply;
}

absl::StatusOr<PendingRequests::Ticket> PendingRequests::Register() {
  auto state = std::make_shared<State>();
  std::string id = absl::StrCat(prefix_, "-", ++counter_);
  {
    absl::MutexLock l(&mu_);
    if (waiting_.size() >= kMaxWaiting) return absl::ResourceExhaustedError("too many requests waiting");
    waiting_[id] = state;
  }
  return Ticket(this, std::move(id), std::move(state));
}

void PendingRequests::Answer(const std::string& id, const scxml::Event& reply) {
  std::shared_ptr<State> state;
  {
    absl::MutexLock l(&mu_);
    auto it = waiting_.find(id);
    if (it == waiting_.end()) return;
    state = it->second;
  }
  absl::MutexLock l(&state->mu);
  if (state->answered) return;  // the first answer counts
  state->answered = true;
  state->reply = Reply{reply.name, reply.data};
  state->cv.SignalAll();
}

void PendingRequests::Forget(const std::string& id) {
  absl::MutexLock l(&mu_);
  waiting_.erase(id);
}

}  // namespace orch::session_engine
