#include "services/scheduler/timer_runner.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/base/fnv1a.h"
#include "common/log/log.h"
#include "common/sessionapi/session_id.h"
#include "google/protobuf/util/time_util.h"

namespace orch::scheduler {

namespace {

using google::protobuf::util::TimeUtil;

// How a firing's status ends the timer (scheduler.proto, README "Bad input").
Outcome Classify(const sched::Timer& t, absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
    case absl::StatusCode::kAlreadyExists:
      return Outcome::kDone;
    case absl::StatusCode::kNotFound:
      // No such session: nothing to deliver to or to end. For a start, the
      // document was not found: that fails for good.
      return t.has_start_session() ? Outcome::kFailed : Outcome::kDropped;
    case absl::StatusCode::kFailedPrecondition:
      // The session has finished (or is not the node's): nothing to act on.
      return t.has_start_session() ? Outcome::kFailed : Outcome::kDropped;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kUnimplemented:
      return Outcome::kFailed;
    default:
      // UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED,
      // CANCELLED, INTERNAL, UNKNOWN, DATA_LOSS: the engine is down, busy
      // or stopping; try again after the claim.
      return Outcome::kRetry;
  }
}

std::string CodeName(absl::StatusCode code) {
  std::string s = absl::StatusCodeToString(code);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

google::protobuf::Timestamp FromMs(int64_t ms) { return TimeUtil::MillisecondsToTimestamp(ms); }

}  // namespace

TimerRunner::TimerRunner(RunnerOptions options, TimerStore* store, Membership* membership, SessionCalls* calls,
                         time::Clock* clock, SchedulerMetrics* metrics)
    : options_(std::move(options)),
      store_(store),
      membership_(membership),
      calls_(calls),
      clock_(clock),
      metrics_(metrics) {}

TimerRunner::~TimerRunner() { Stop(); }

void TimerRunner::Start() {
  {
    absl::MutexLock l(&mu_);
    if (started_) return;
    started_ = true;
  }
  poller_ = std::thread([this] { PollerLoop(); });
  firer_ = std::thread([this] { FirerLoop(); });
  for (int i = 0; i < options_.ack_threads; ++i) ackers_.emplace_back([this] { AckerLoop(); });
}

void TimerRunner::Stop() {
  {
    absl::MutexLock l(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  fire_cv_.SignalAll();
  poll_cv_.SignalAll();
  ack_cv_.SignalAll();
  if (poller_.joinable()) poller_.join();
  if (firer_.joinable()) firer_.join();
  for (auto& t : ackers_) t.join();
  {
    absl::MutexLock l(&mu_);
    acks_closed_ = true;
  }
  DrainAcks();
}

// ------------------------------------------------------------------ clock

int64_t TimerRunner::ProxyNowMs() const {
  absl::MutexLock l(&mu_);
  if (!have_offset_) return clock_->NowMs();
  return clock_->MonotonicMs() + proxy_minus_mono_;
}

void TimerRunner::NoteProxyNow(int64_t proxy_now_ms) {
  if (proxy_now_ms <= 0) return;
  absl::MutexLock l(&mu_);
  proxy_minus_mono_ = proxy_now_ms - clock_->MonotonicMs();
  have_offset_ = true;
}

void TimerRunner::StoreResult(const char* op, const absl::Status& s) {
  if (s.ok() || s.code() == absl::StatusCode::kNotFound || s.code() == absl::StatusCode::kInvalidArgument) {
    metrics_->StoreUp(true);
    return;
  }
  metrics_->StoreError(op);
  if (s.code() == absl::StatusCode::kUnavailable) metrics_->StoreUp(false);
}

// -------------------------------------------------------------------- API

absl::StatusOr<sched::ScheduleTimerResponse> TimerRunner::Schedule(sched::Timer timer) {
  if (auto s = ValidateTimer(timer, options_.nodes); !s.ok()) return s;
  if (timer.timer_id().empty()) timer.set_timer_id(NewTimerId());
  const int64_t due = *DueMs(timer.due_time(), true);
  if (timer.has_start_session() && timer.start_session().node() == 0) {
    if (options_.nodes.empty()) return absl::FailedPreconditionError("scheduler.nodes: no node to start sessions on");
    // As rest-gateway picks a node for a start with an idempotency key.
    timer.mutable_start_session()->set_node(
        options_.nodes[Fnv1a64(StartKey(timer.timer_id())) % options_.nodes.size()]);
  }
  const std::string bucket = BucketName(BucketOf(timer.timer_id(), options_.buckets));
  pv1::AddScheduleRequest req;
  pv1::ScheduleEntry* e = req.mutable_entry();
  e->set_bucket(bucket);
  e->set_id(timer.timer_id());
  e->set_due_unix_ms(due);
  e->set_payload(timer.SerializeAsString());
  const bool near = due <= ProxyNowMs() + options_.horizon_ms;
  if (near) req.set_claim_timeout_ms(static_cast<uint32_t>(options_.claim_timeout_ms));
  auto r = store_->Add(req);
  StoreResult("AddSchedule", r.status());
  if (!r.ok()) return r.status();
  NoteProxyNow(r->now_unix_ms());
  const int64_t now = r->now_unix_ms();
  if (near) {
    Hold(bucket, timer.timer_id(), due, r->claim_token(), e->payload());
  } else {
    Forget(bucket, timer.timer_id());   // a replaced timer held here must not fire
  }
  sched::ScheduleTimerResponse resp;
  resp.set_timer_id(timer.timer_id());
  resp.set_immediate(due <= now);
  if (PastDue(due, now, options_.past_due_latency_ms)) {
    metrics_->PastDue();
    log::Info("timer scheduled past its due time: fired at once",
              {{"timer", timer.timer_id()}, {"late_ms", now - due}});
  }
  if (timer.has_start_session()) {
    resp.set_session_id(SubjectSession(timer));
    resp.set_node(timer.start_session().node());
  }
  metrics_->Scheduled(ActionName(timer), resp.immediate());
  return resp;
}

absl::StatusOr<bool> TimerRunner::Cancel(const std::string& timer_id) {
  if (auto s = ValidateTimerId(timer_id, "timer_id"); !s.ok()) return s;
  const std::string bucket = BucketName(BucketOf(timer_id, options_.buckets));
  pv1::CancelScheduleRequest req;
  req.set_bucket(bucket);
  req.set_id(timer_id);
  auto r = store_->Cancel(req);
  StoreResult("CancelSchedule", r.status());
  if (!r.ok()) return r.status();
  Forget(bucket, timer_id);
  return *r;
}

absl::StatusOr<sched::RescheduleTimerResponse> TimerRunner::Reschedule(const std::string& timer_id, int64_t due_ms) {
  if (auto s = ValidateTimerId(timer_id, "timer_id"); !s.ok()) return s;
  const std::string bucket = BucketName(BucketOf(timer_id, options_.buckets));
  pv1::RescheduleRequest req;
  req.set_bucket(bucket);
  req.set_id(timer_id);
  req.set_due_unix_ms(due_ms);
  absl::Status s = store_->Reschedule(req);
  StoreResult("Reschedule", s);
  if (!s.ok()) {
    if (s.code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(absl::StrCat("no pending timer ", timer_id));
    }
    return s;
  }
  Forget(bucket, timer_id);   // the owner of its bucket claims it at its new time
  sched::RescheduleTimerResponse resp;
  const int64_t now = ProxyNowMs();
  resp.set_immediate(due_ms <= now);
  if (PastDue(due_ms, now, options_.past_due_latency_ms)) metrics_->PastDue();
  return resp;
}

absl::StatusOr<sched::TimerStatus> TimerRunner::Get(const std::string& timer_id) {
  if (auto s = ValidateTimerId(timer_id, "timer_id"); !s.ok()) return s;
  pv1::GetScheduleRequest req;
  req.set_bucket(BucketName(BucketOf(timer_id, options_.buckets)));
  req.set_id(timer_id);
  auto r = store_->Get(req);
  StoreResult("GetSchedule", r.status());
  if (!r.ok()) {
    if (r.status().code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(absl::StrCat("no pending timer ", timer_id));
    }
    return r.status();
  }
  sched::TimerStatus st;
  if (!st.mutable_timer()->ParseFromString(r->payload())) {
    return absl::DataLossError(absl::StrCat("timer ", timer_id, ": its stored form does not parse"));
  }
  *st.mutable_timer()->mutable_due_time() = FromMs(r->due_unix_ms());
  *st.mutable_next_attempt() = FromMs(r->next_unix_ms());
  st.set_generation(r->claims());
  return st;
}

absl::StatusOr<sched::ListTimersResponse> TimerRunner::List(const sched::ListTimersRequest& req) {
  const uint32_t page = req.page_size() == 0 ? 100 : std::min<uint32_t>(req.page_size(), 1000);
  int64_t from = INT64_MIN / 2;
  int64_t until = 0;
  if (req.has_from()) {
    auto ms = DueMs(req.from(), true, "from");
    if (!ms.ok()) return ms.status();
    from = *ms;
  }
  if (req.has_until()) {
    auto ms = DueMs(req.until(), true, "until");
    if (!ms.ok()) return ms.status();
    until = *ms;
  }
  std::string after;
  if (!req.page_token().empty()) {
    std::pair<std::string, std::string> parts = absl::StrSplit(req.page_token(), absl::MaxSplits('/', 1));
    if (!absl::SimpleAtoi(parts.first, &from) || ValidateTimerId(parts.second).ok() == false) {
      return absl::InvalidArgumentError("page_token: malformed (pass the previous next_page_token unchanged)");
    }
    after = parts.second;
  }
  if (!req.session_id().empty()) {
    if (auto n = sessionapi::NodeOfSessionId(req.session_id()); !n.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("session_id: ", n.status().message()));
    }
  }
  if (until != 0 && until <= from) return absl::InvalidArgumentError("until: must be after from");
  // Merge the buckets' pages by (next time, id). Entries past the last one
  // of a bucket that has more are not known to come before that bucket's
  // next page, so a round stops there. With a session filter, rounds go on
  // (at most kRounds) while the page is not full.
  constexpr int kRounds = 8;
  const uint32_t chunk = req.session_id().empty() ? page : 1000;
  sched::ListTimersResponse resp;
  for (int round = 0; round < kRounds; ++round) {
    struct Item {
      int64_t next;
      std::string id;
      pv1::ScheduleEntry entry;
    };
    std::vector<Item> items;
    bool limited = false;
    int64_t limit_next = 0;
    std::string limit_id;
    for (int b = 0; b < options_.buckets; ++b) {
      pv1::ListSchedulesRequest lr;
      lr.set_bucket(BucketName(b));
      lr.set_from_unix_ms(from);
      lr.set_after_id(after);
      lr.set_until_unix_ms(until);
      lr.set_max_entries(chunk);
      auto r = store_->List(lr);
      StoreResult("ListSchedules", r.status());
      if (!r.ok()) return r.status();
      if (r->more() && r->entries_size() > 0) {
        const auto& last = r->entries(r->entries_size() - 1);
        if (!limited || std::make_pair(last.next_unix_ms(), last.id()) < std::make_pair(limit_next, limit_id)) {
          limited = true;
          limit_next = last.next_unix_ms();
          limit_id = last.id();
        }
      }
      for (auto& e : *r->mutable_entries()) items.push_back({e.next_unix_ms(), e.id(), std::move(e)});
    }
    std::sort(items.begin(), items.end(),
              [](const Item& a, const Item& b) { return std::tie(a.next, a.id) < std::tie(b.next, b.id); });
    bool full = false;
    for (Item& it : items) {
      if (limited && std::tie(it.next, it.id) > std::tie(limit_next, limit_id)) break;
      from = it.next;
      after = it.id;
      sched::TimerStatus st;
      if (!st.mutable_timer()->ParseFromString(it.entry.payload())) continue;
      if (!req.session_id().empty() && SubjectSession(st.timer()) != req.session_id()) continue;
      *st.mutable_timer()->mutable_due_time() = FromMs(it.entry.due_unix_ms());
      *st.mutable_next_attempt() = FromMs(it.next);
      st.set_generation(it.entry.claims());
      *resp.add_timers() = std::move(st);
      if (resp.timers_size() >= static_cast<int>(page)) {
        full = true;
        break;
      }
    }
    if (full) {
      resp.set_next_page_token(absl::StrCat(from, "/", after));
      return resp;
    }
    if (!limited) return resp;   // every bucket is done
  }
  resp.set_next_page_token(absl::StrCat(from, "/", after));
  return resp;
}

// ------------------------------------------------------------ poll, fire

void TimerRunner::Hold(const std::string& bucket, const std::string& id, int64_t due_ms, uint64_t token,
                       std::string payload) {
  absl::MutexLock l(&mu_);
  const int64_t offset = have_offset_ ? proxy_minus_mono_ : clock_->NowMs() - clock_->MonotonicMs();
  Held h{.fire_mono = due_ms - offset, .due_ms = due_ms, .bucket = bucket, .id = id, .token = token};
  const bool earliest = heap_.empty() || h.fire_mono < heap_.top().fire_mono;
  held_[{bucket, id}] = {token, std::move(payload)};
  heap_.push(std::move(h));
  if (earliest) fire_cv_.Signal();
}

void TimerRunner::Forget(const std::string& bucket, const std::string& id) {
  absl::MutexLock l(&mu_);
  held_.erase({bucket, id});
}

void TimerRunner::PollOnce() {
  membership_->Tick();
  const MembershipView view = membership_->Snapshot();
  metrics_->Buckets(static_cast<int64_t>(view.buckets.size()), static_cast<int64_t>(view.live_slots.size()),
                    view.slot);
  int64_t pending = 0;
  for (int b : view.buckets) {
    int64_t room = 0;
    {
      absl::MutexLock l(&mu_);
      room = options_.max_held - static_cast<int64_t>(held_.size());
    }
    if (room <= 0) break;   // what is held must be fired within its claim first
    pv1::ClaimDueRequest req;
    req.set_bucket(BucketName(b));
    req.set_max_entries(static_cast<uint32_t>(std::min<int64_t>(options_.max_claim, room)));
    req.set_claim_timeout_ms(static_cast<uint32_t>(options_.claim_timeout_ms));
    req.set_horizon_ms(static_cast<uint32_t>(options_.horizon_ms));
    auto r = store_->Claim(req);
    StoreResult("ClaimDue", r.status());
    if (!r.ok()) continue;
    NoteProxyNow(r->now_unix_ms());
    pending += static_cast<int64_t>(r->pending());
    for (auto& e : *r->mutable_entries()) {
      Hold(e.bucket(), e.id(), e.due_unix_ms(), e.claim_token(), std::move(*e.mutable_payload()));
    }
    if (r->entries_size() > 0) metrics_->Claimed(r->entries_size());
  }
  metrics_->Pending(pending);
}

void TimerRunner::FireDue() {
  std::vector<std::pair<Held, std::string>> due;
  {
    absl::MutexLock l(&mu_);
    const int64_t now = clock_->MonotonicMs();
    while (!heap_.empty() && heap_.top().fire_mono <= now && in_flight_ < options_.max_in_flight) {
      Held h = heap_.top();
      heap_.pop();
      auto it = held_.find({h.bucket, h.id});
      if (it == held_.end() || it->second.first != h.token) continue;   // replaced, cancelled
      std::string payload = std::move(it->second.second);
      held_.erase(it);
      ++in_flight_;
      due.emplace_back(std::move(h), std::move(payload));
    }
    metrics_->Held(static_cast<int64_t>(held_.size()));
  }
  for (auto& [h, payload] : due) {
    sched::Timer timer;
    if (!timer.ParseFromString(payload)) {
      log::Error("timer's stored form does not parse: dropped", {{"timer", h.id}, {"bucket", h.bucket}});
      metrics_->Failure("none", "data_loss");
      {
        absl::MutexLock l(&mu_);
        --in_flight_;
      }
      QueueAck({h.bucket, h.id, h.token});
      continue;
    }
    metrics_->Lateness(static_cast<double>(ProxyNowMs() - h.due_ms) / 1000.0);
    Fire(h, std::move(timer));
  }
}

void TimerRunner::Fire(const Held& h, sched::Timer timer) {
  // What is stored was checked when scheduled; a stored form that parses
  // but fails the checks (written by something else) fails for good.
  if (absl::Status valid = ValidateTimer(timer, {}); !valid.ok()) {
    return Finish(h, timer, absl::InvalidArgumentError(absl::StrCat("stored timer: ", valid.message())), "");
  }
  auto finish = [this, h, timer](const absl::Status& s, std::string session_id) {
    Finish(h, timer, s, session_id);
  };
  switch (timer.action_case()) {
    case sched::Timer::kDeliverEvent: {
      sv1::SendEventRequest req;
      req.set_session_id(timer.deliver_event().session_id());
      *req.mutable_event() = timer.deliver_event().event();
      req.mutable_event()->set_effect_id(EffectId(h.id, h.due_ms));
      req.mutable_event()->set_source(::orch::event::v1::EVENT_SOURCE_TIMER);
      const int node = *sessionapi::NodeOfSessionId(req.session_id());
      calls_->SendEvent(node, std::move(req), [finish](absl::StatusOr<sv1::SendEventResponse> r) {
        finish(r.status(), "");
      });
      return;
    }
    case sched::Timer::kStartSession: {
      const auto& st = timer.start_session();
      sv1::StartSessionRequest req;
      req.set_url(st.document_url());
      if (!st.alternate_url().empty()) req.set_alternate_url(st.alternate_url());
      *req.mutable_parameters() = st.parameters();
      req.set_idempotency_key(StartKey(h.id));
      const std::string expected = SubjectSession(timer);
      calls_->StartSession(st.node(), std::move(req),
                           [finish, expected](absl::StatusOr<sv1::StartSessionResponse> r) {
                             finish(r.status(), r.ok() ? r->session_id() : expected);
                           });
      return;
    }
    case sched::Timer::kTerminateSession: {
      sv1::TerminateSessionRequest req;
      req.set_session_id(timer.terminate_session().session_id());
      req.set_reason(timer.terminate_session().reason().empty() ? absl::StrCat("timer ", h.id)
                                                                 : timer.terminate_session().reason());
      const int node = *sessionapi::NodeOfSessionId(req.session_id());
      const std::string sid = req.session_id();
      calls_->TerminateSession(node, std::move(req),
                               [finish, sid](absl::StatusOr<sv1::TerminateSessionResponse> r) {
                                 finish(r.status(), sid);
                               });
      return;
    }
    case sched::Timer::kWakeSession: {
      sv1::WakeSessionRequest req;
      req.set_session_id(timer.wake_session().session_id());
      const int node = *sessionapi::NodeOfSessionId(req.session_id());
      calls_->WakeSession(node, std::move(req), [finish](absl::StatusOr<sv1::WakeSessionResponse> r) {
        finish(r.status(), "");
      });
      return;
    }
    case sched::Timer::ACTION_NOT_SET:
      break;
  }
  Finish(h, timer, absl::InvalidArgumentError("the timer has no action"), "");
}

void TimerRunner::Finish(const Held& h, const sched::Timer& timer, const absl::Status& s,
                         const std::string& session_id) {
  {
    // At the limit, the firer is woken once a tenth of the limit has
    // finished rather than for each one.
    absl::MutexLock l(&mu_);
    --in_flight_;
    if (in_flight_ == options_.max_in_flight - std::max<int64_t>(1, options_.max_in_flight / 10)) fire_cv_.Signal();
  }
  const Outcome o = Classify(timer, s.code());
  const char* action = ActionName(timer);
  metrics_->Fired(action, o);
  if (o == Outcome::kRetry) {
    log::Warn("timer not fired: tried again after its claim",
              {{"timer", h.id}, {"action", action}, {"error", std::string(s.message())}});
    return;
  }
  if (o == Outcome::kFailed) {
    metrics_->Failure(action, CodeName(s.code()));
    log::Error("timer failed", {{"timer", h.id}, {"action", action}, {"error", std::string(s.message())}});
  }
  QueueAck({h.bucket, h.id, h.token});
  if (!timer.reply_to().empty()) Reply(h, timer, o == Outcome::kFailed ? s : absl::OkStatus(), session_id);
}

void TimerRunner::Reply(const Held& h, const sched::Timer& timer, const absl::Status& s,
                        const std::string& session_id) {
  const char* what = nullptr;
  if (timer.has_start_session()) what = "start";
  if (timer.has_terminate_session()) what = "terminate";
  if (what == nullptr && s.ok()) return;   // deliveries and wakes are told only of failures
  sv1::SendEventRequest req;
  req.set_session_id(timer.reply_to());
  auto* ev = req.mutable_event();
  auto* data = ev->mutable_data()->mutable_struct_value()->mutable_fields();
  if (what != nullptr) (*data)["sessionid"].set_string_value(session_id);
  (*data)["timerid"].set_string_value(h.id);
  if (s.ok()) {
    ev->set_name(absl::StrCat("session.", what, ".done"));
  } else {
    ev->set_name(what != nullptr ? absl::StrCat("error.session.", what) : std::string("error.scheduler.timer"));
    (*data)["error"].set_string_value(CodeName(s.code()));
    (*data)["description"].set_string_value(std::string(s.message()));
  }
  ev->set_effect_id(EffectId(h.id, h.due_ms, "reply"));
  ev->set_source(::orch::event::v1::EVENT_SOURCE_TIMER);
  const int node = *sessionapi::NodeOfSessionId(timer.reply_to());
  calls_->SendEvent(node, std::move(req), [id = h.id, to = timer.reply_to()](absl::StatusOr<sv1::SendEventResponse> r) {
    if (!r.ok()) {
      log::Warn("timer's result not delivered to reply_to",
                {{"timer", id}, {"reply_to", to}, {"error", std::string(r.status().message())}});
    }
  });
}

// -------------------------------------------------------------------- acks

void TimerRunner::QueueAck(Ack a) {
  {
    absl::MutexLock l(&mu_);
    if (!acks_closed_) {
      acks_.push_back(std::move(a));
      // The first wakes an acknowledger; a full batch ends its lingering.
      if (acks_.size() == 1 || acks_.size() >= kMaxAckBatch) ack_cv_.Signal();
      return;
    }
  }
  AckOne(a);   // after Stop: on the caller's thread
}

void TimerRunner::AckOne(const Ack& a) { AckBatch({a}); }

void TimerRunner::AckBatch(std::vector<Ack> acks) {
  // One call per bucket (the proxy's keys of one bucket share a slot).
  std::sort(acks.begin(), acks.end(), [](const Ack& x, const Ack& y) { return x.bucket < y.bucket; });
  for (size_t i = 0; i < acks.size();) {
    pv1::AckSchedulesRequest req;
    req.set_bucket(acks[i].bucket);
    size_t j = i;
    for (; j < acks.size() && acks[j].bucket == acks[i].bucket && j - i < kMaxAckBatch; ++j) {
      req.add_ids(acks[j].id);
      req.add_claim_tokens(acks[j].token);
    }
    auto r = store_->AckMany(req);
    StoreResult("AckSchedules", r.status());
    if (!r.ok()) {
      log::Warn("timers fired but not acknowledged: they fire again after their claim (the engine drops repeats)",
                {{"bucket", acks[i].bucket}, {"timers", static_cast<int64_t>(j - i)},
                 {"error", std::string(r.status().message())}});
    } else {
      for (uint32_t k = *r; k < j - i; ++k) metrics_->StaleAck();
    }
    i = j;
  }
}

size_t TimerRunner::QueuedAcks() const {
  absl::MutexLock l(&mu_);
  return acks_.size();
}

void TimerRunner::DrainAcks() {
  for (;;) {
    std::vector<Ack> batch;
    {
      absl::MutexLock l(&mu_);
      if (acks_.empty()) return;
      while (!acks_.empty() && batch.size() < kMaxAckBatch) {
        batch.push_back(std::move(acks_.front()));
        acks_.pop_front();
      }
    }
    AckBatch(std::move(batch));
  }
}

// ----------------------------------------------------------------- threads

void TimerRunner::PollerLoop() {
  for (;;) {
    PollOnce();
    absl::MutexLock l(&mu_);
    const int64_t next = clock_->MonotonicMs() + options_.poll_interval_ms;
    while (!stopping_ && !clock_->WaitUntil(&poll_cv_, &mu_, next)) {
    }
    if (stopping_) return;
  }
}

void TimerRunner::FirerLoop() {
  absl::MutexLock l(&mu_);
  while (!stopping_) {
    const int64_t now = clock_->MonotonicMs();
    if (heap_.empty() || heap_.top().fire_mono > now || in_flight_ >= options_.max_in_flight) {
      // At the limit, a finishing firing signals (and 100 ms bounds the wait).
      const int64_t until = heap_.empty() || in_flight_ >= options_.max_in_flight ? now + 100
                                                                                  : heap_.top().fire_mono;
      clock_->WaitUntil(&fire_cv_, &mu_, std::min(until, now + 1000));
      continue;
    }
    mu_.Unlock();
    FireDue();
    mu_.Lock();
  }
}

void TimerRunner::AckerLoop() {
  for (;;) {
    std::vector<Ack> batch;
    {
      absl::MutexLock l(&mu_);
      while (!stopping_ && acks_.empty()) ack_cv_.Wait(&mu_);
      if (acks_.empty()) return;
      // Lingers up to kAckLingerMs for more, so that under load one call
      // acknowledges many timers (a call per timer would cost Redis and the
      // proxy more than the firings themselves).
      const int64_t until = clock_->MonotonicMs() + kAckLingerMs;
      while (!stopping_ && acks_.size() < kMaxAckBatch && !clock_->WaitUntil(&ack_cv_, &mu_, until)) {
      }
      while (!acks_.empty() && batch.size() < kMaxAckBatch) {
        batch.push_back(std::move(acks_.front()));
        acks_.pop_front();
      }
    }
    AckBatch(std::move(batch));
  }
}

}  // namespace orch::scheduler
