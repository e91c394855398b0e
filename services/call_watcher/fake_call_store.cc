#include "services/call_watcher/fake_call_store.h"

#include "absl/strings/str_cat.h"

namespace orch::call_watcher {

absl::Status ValidateCallStoreKey(absl::string_view what, absl::string_view key) {
  if (key.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  if (key.size() > 256) return absl::InvalidArgumentError(absl::StrCat(what, " is longer than 256 bytes"));
  for (char c : key) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '{' || c == '}') {
      return absl::InvalidArgumentError(absl::StrCat(what, " has a space, a control byte, '{' or '}'"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateCallStoreTtl(absl::Duration ttl) {
  if (ttl < absl::Milliseconds(1) || ttl > absl::Hours(24 * 7)) {
    return absl::InvalidArgumentError("ttl must be 1 ms .. 7 days");
  }
  return absl::OkStatus();
}

absl::Status FakeCallStore::Check() {
  if (unavailable_) return absl::UnavailableError("fake call store: unavailable");
  return absl::OkStatus();
}

void FakeCallStore::SetUnavailable(bool unavailable) {
  absl::MutexLock lock(&mu_);
  unavailable_ = unavailable;
}

absl::StatusOr<ClaimResult> FakeCallStore::ClaimCall(const CallRecord& record, absl::Duration ttl) {
  if (auto s = ValidateCallStoreKey("call_uuid", record.call_uuid()); !s.ok()) return s;
  if (auto s = ValidateCallStoreTtl(ttl); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  if (auto s = Check(); !s.ok()) return s;
  const int64_t now = clock_->NowMs();
  auto [it, inserted] = calls_.try_emplace(record.call_uuid());
  ClaimResult result;
  if (inserted || it->second.expires_ms <= now) {
    events_.erase(record.call_uuid());
    it->second = {record, now + absl::ToInt64Milliseconds(ttl)};
    result.created = true;
  }
  result.record = it->second.value;
  return result;
}

absl::StatusOr<CallRecord> FakeCallStore::GetCall(absl::string_view call_uuid) {
  if (auto s = ValidateCallStoreKey("call_uuid", call_uuid); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  if (auto s = Check(); !s.ok()) return s;
  auto it = calls_.find(call_uuid);
  if (it == calls_.end() || it->second.expires_ms <= clock_->NowMs()) {
    return absl::NotFoundError(absl::StrCat("no record of call ", call_uuid));
  }
  return it->second.value;
}

absl::StatusOr<bool> FakeCallStore::DeleteCall(absl::string_view call_uuid) {
  if (auto s = ValidateCallStoreKey("call_uuid", call_uuid); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  if (auto s = Check(); !s.ok()) return s;
  auto it = calls_.find(call_uuid);
  events_.erase(call_uuid);
  if (it == calls_.end()) return false;
  const bool live = it->second.expires_ms > clock_->NowMs();
  calls_.erase(it);
  return live;
}

absl::StatusOr<uint64_t> FakeCallStore::RecordCallEvent(absl::string_view call_uuid,
                                                        const ::orch::event::v1::Event& event) {
  if (auto s = ValidateCallStoreKey("call_uuid", call_uuid); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  if (auto s = Check(); !s.ok()) return s;
  auto it = calls_.find(call_uuid);
  if (it == calls_.end() || it->second.expires_ms <= clock_->NowMs()) {
    events_.erase(call_uuid);
    return absl::NotFoundError(absl::StrCat("no record of call ", call_uuid));
  }
  std::vector<::orch::event::v1::Event>& events = events_[call_uuid];
  events.push_back(event);
  return events.size();
}

std::vector<::orch::event::v1::Event> FakeCallStore::RecordedEvents(absl::string_view call_uuid) {
  absl::MutexLock lock(&mu_);
  auto it = events_.find(call_uuid);
  return it == events_.end() ? std::vector<::orch::event::v1::Event>{} : it->second;
}

absl::StatusOr<std::string> FakeCallStore::ReserveTarget(absl::string_view target, absl::string_view holder,
                                                         absl::Duration ttl) {
  if (auto s = ValidateCallStoreKey("target", target); !s.ok()) return s;
  if (auto s = ValidateCallStoreKey("holder", holder); !s.ok()) return s;
  if (auto s = ValidateCallStoreTtl(ttl); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  if (auto s = Check(); !s.ok()) return s;
  const int64_t now = clock_->NowMs();
  auto [it, inserted] = targets_.try_emplace(target);
  if (inserted || it->second.expires_ms <= now || it->second.value == holder) {
    it->second = {std::string(holder), now + absl::ToInt64Milliseconds(ttl)};
  }
  return it->second.value;
}

absl::StatusOr<bool> FakeCallStore::ReleaseTarget(absl::string_view target, absl::string_view holder) {
  if (auto s = ValidateCallStoreKey("target", target); !s.ok()) return s;
  if (auto s = ValidateCallStoreKey("holder", holder); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  if (auto s = Check(); !s.ok()) return s;
  auto it = targets_.find(target);
  if (it == targets_.end() || it->second.value != holder) return false;
  const bool live = it->second.expires_ms > clock_->NowMs();
  targets_.erase(it);
  return live;
}

}  // namespace orch::call_watcher
