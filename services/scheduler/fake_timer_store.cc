#include "services/scheduler/fake_timer_store.h"

#include <algorithm>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"

namespace orch::scheduler {

void FakeTimerStore::SetDown(absl::Status s) {
  absl::MutexLock l(&mu_);
  down_ = std::move(s);
}

size_t FakeTimerStore::size() const {
  absl::MutexLock l(&mu_);
  return entries_.size();
}

int64_t FakeTimerStore::claims() const {
  absl::MutexLock l(&mu_);
  return claim_calls_;
}

absl::StatusOr<pv1::AddScheduleResponse> FakeTimerStore::Add(const pv1::AddScheduleRequest& req) {
  absl::MutexLock l(&mu_);
  if (!down_.ok()) return down_;
  const int64_t now = clock_->NowMs();
  const auto& e = req.entry();
  Entry& x = entries_[{e.bucket(), e.id()}];
  x.due = e.due_unix_ms();
  x.payload = e.payload();
  x.next = req.claim_timeout_ms() > 0 ? std::max(x.due, now) + req.claim_timeout_ms() : x.due;
  ++x.generation;
  pv1::AddScheduleResponse resp;
  if (req.claim_timeout_ms() > 0) resp.set_claim_token(x.generation);
  resp.set_now_unix_ms(now);
  return resp;
}

absl::StatusOr<bool> FakeTimerStore::Cancel(const pv1::CancelScheduleRequest& req) {
  absl::MutexLock l(&mu_);
  if (!down_.ok()) return down_;
  return entries_.erase({req.bucket(), req.id()}) == 1;
}

absl::Status FakeTimerStore::Reschedule(const pv1::RescheduleRequest& req) {
  absl::MutexLock l(&mu_);
  if (!down_.ok()) return down_;
  auto it = entries_.find({req.bucket(), req.id()});
  if (it == entries_.end()) return absl::NotFoundError(absl::StrCat("no schedule entry ", req.id()));
  it->second.due = it->second.next = req.due_unix_ms();
  ++it->second.generation;
  return absl::OkStatus();
}

absl::StatusOr<pv1::ClaimDueResponse> FakeTimerStore::Claim(const pv1::ClaimDueRequest& req) {
  absl::MutexLock l(&mu_);
  if (!down_.ok()) return down_;
  ++claim_calls_;
  const int64_t now = req.now_unix_ms() == 0 ? clock_->NowMs() : req.now_unix_ms();
  const int64_t upto = now + req.horizon_ms();
  const uint32_t max = req.max_entries() == 0 ? 100 : std::min<uint32_t>(req.max_entries(), 1000);
  std::vector<std::tuple<int64_t, std::string>> order;
  uint64_t pending = 0;
  for (const auto& [k, e] : entries_) {
    if (k.first != req.bucket()) continue;
    ++pending;
    if (e.next <= upto && (e.next <= now || e.next == e.due)) order.emplace_back(e.next, k.second);
  }
  std::sort(order.begin(), order.end());
  pv1::ClaimDueResponse resp;
  resp.set_now_unix_ms(now);
  resp.set_pending(pending);
  for (const auto& [next, id] : order) {
    if (resp.entries_size() >= static_cast<int>(max)) break;
    Entry& e = entries_[{req.bucket(), id}];
    ++e.generation;
    e.next = std::max(e.due, now) + req.claim_timeout_ms();
    pv1::ScheduleEntry* out = resp.add_entries();
    out->set_bucket(req.bucket());
    out->set_id(id);
    out->set_due_unix_ms(e.due);
    out->set_payload(e.payload);
    out->set_claim_token(e.generation);
  }
  return resp;
}

absl::StatusOr<bool> FakeTimerStore::Ack(const pv1::AckScheduleRequest& req) {
  absl::MutexLock l(&mu_);
  if (!down_.ok()) return down_;
  auto it = entries_.find({req.bucket(), req.id()});
  if (it == entries_.end() || it->second.generation != req.claim_token()) return false;
  entries_.erase(it);
  return true;
}

absl::StatusOr<uint32_t> FakeTimerStore::AckMany(const pv1::AckSchedulesRequest& req) {
  absl::MutexLock l(&mu_);
  if (!down_.ok()) return down_;
  if (req.ids_size() != req.claim_tokens_size()) return absl::InvalidArgumentError("claim_tokens: one per id");
  uint32_t removed = 0;
  for (int i = 0; i < req.ids_size(); ++i) {
    auto it = entries_.find({req.bucket(), req.ids(i)});
    if (it == entries_.end() || it->second.generation != req.claim_tokens(i)) continue;
    entries_.erase(it);
    ++removed;
  }
  return removed;
}

absl::StatusOr<pv1::ScheduleEntry> FakeTimerStore::Get(const pv1::GetScheduleRequest& req) {
  absl::MutexLock l(&mu_);
  if (!down_.ok()) return down_;
  auto it = entries_.find({req.bucket(), req.id()});
  if (it == entries_.end()) return absl::NotFoundError(absl::StrCat("no schedule entry ", req.id()));
  pv1::ScheduleEntry out;
  out.set_bucket(req.bucket());
  out.set_id(req.id());
  out.set_due_unix_ms(it->second.due);
  out.set_next_unix_ms(it->second.next);
  out.set_payload(it->second.payload);
  out.set_claims(it->second.generation);
  return out;
}

absl::StatusOr<pv1::ListSchedulesResponse> FakeTimerStore::List(const pv1::ListSchedulesRequest& req) {
  absl::MutexLock l(&mu_);
  if (!down_.ok()) return down_;
  if (req.until_unix_ms() != 0 && req.until_unix_ms() <= req.from_unix_ms()) {
    return absl::InvalidArgumentError("until_unix_ms: must be after from_unix_ms (or 0)");
  }
  const uint32_t max = req.max_entries() == 0 ? 100 : std::min<uint32_t>(req.max_entries(), 1000);
  std::vector<std::tuple<int64_t, std::string>> order;
  for (const auto& [k, e] : entries_) {
    if (k.first != req.bucket()) continue;
    if (e.next < req.from_unix_ms()) continue;
    if (e.next == req.from_unix_ms() && !req.after_id().empty() && k.second <= req.after_id()) continue;
    if (req.until_unix_ms() != 0 && e.next >= req.until_unix_ms()) continue;
    order.emplace_back(e.next, k.second);
  }
  std::sort(order.begin(), order.end());
  pv1::ListSchedulesResponse resp;
  for (const auto& [next, id] : order) {
    if (resp.entries_size() >= static_cast<int>(max)) break;
    const Entry& e = entries_[{req.bucket(), id}];
    pv1::ScheduleEntry* out = resp.add_entries();
    out->set_bucket(req.bucket());
    out->set_id(id);
    out->set_due_unix_ms(e.due);
    out->set_next_unix_ms(e.next);
    out->set_payload(e.payload);
    out->set_claims(e.generation);
  }
  resp.set_more(resp.entries_size() >= static_cast<int>(max));
  return resp;
}

void FakeTimerStore::DropExpiredLeases() {
  const int64_t now = clock_->NowMs();
  for (auto it = leases_.begin(); it != leases_.end();) {
    it = it->second.expires <= now ? leases_.erase(it) : std::next(it);
  }
}

absl::StatusOr<pv1::AcquireLeaseResponse> FakeTimerStore::AcquireLease(const pv1::AcquireLeaseRequest& req) {
  absl::MutexLock l(&mu_);
  if (!down_.ok()) return down_;
  DropExpiredLeases();
  pv1::AcquireLeaseResponse resp;
  auto it = leases_.find(req.name());
  if (it != leases_.end() && it->second.holder != req.holder()) {
    resp.set_acquired(false);
    resp.set_epoch(it->second.epoch);
    resp.set_holder(it->second.holder);
    resp.set_endpoint(it->second.endpoint);
    return resp;
  }
  Lease& lease = leases_[req.name()];
  if (lease.holder != req.holder()) lease.epoch = ++epochs_[req.name()];
  lease.holder = req.holder();
  lease.endpoint = req.endpoint();
  lease.expires = clock_->NowMs() + req.ttl_ms();
  resp.set_acquired(true);
  resp.set_epoch(lease.epoch);
  resp.set_holder(lease.holder);
  resp.set_endpoint(lease.endpoint);
  return resp;
}

absl::Status FakeTimerStore::RenewLease(const pv1::RenewLeaseRequest& req) {
  absl::MutexLock l(&mu_);
  if (!down_.ok()) return down_;
  DropExpiredLeases();
  auto it = leases_.find(req.name());
  if (it == leases_.end() || it->second.holder != req.holder() || it->second.epoch != req.epoch()) {
    return absl::AbortedError("the lease expired or another holder has it");
  }
  it->second.expires = clock_->NowMs() + req.ttl_ms();
  return absl::OkStatus();
}

absl::Status FakeTimerStore::ReleaseLease(const pv1::ReleaseLeaseRequest& req) {
  absl::MutexLock l(&mu_);
  if (!down_.ok()) return down_;
  auto it = leases_.find(req.name());
  if (it != leases_.end() && it->second.holder == req.holder() && it->second.epoch == req.epoch()) {
    leases_.erase(it);
  }
  return absl::OkStatus();
}

absl::StatusOr<pv1::GetLeaseResponse> FakeTimerStore::GetLease(const pv1::GetLeaseRequest& req) {
  absl::MutexLock l(&mu_);
  if (!down_.ok()) return down_;
  DropExpiredLeases();
  auto it = leases_.find(req.name());
  if (it == leases_.end()) return absl::NotFoundError("nobody holds the lease");
  pv1::GetLeaseResponse resp;
  resp.set_holder(it->second.holder);
  resp.set_endpoint(it->second.endpoint);
  resp.set_epoch(it->second.epoch);
  resp.set_remaining_ms(static_cast<uint32_t>(it->second.expires - clock_->NowMs()));
  return resp;
}

}  // namespace orch::scheduler
