#include "services/session_engine/fake_session_store.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/base/sha256.h"
#include "google/protobuf/util/message_differencer.h"

namespace orch::session_engine {

namespace ev = orch::event::v1;
namespace pv1 = orch::persistence::v1;

namespace {

constexpr size_t kMaxIdBytes = 200;
constexpr uint32_t kMaxLeaseTtlMs = 3600 * 1000;

// The proxy's rule for ids that become part of a Redis key.
absl::Status ValidateId(const char* field, const std::string& v) {
  if (v.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": must not be empty"));
  if (v.size() > kMaxIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", v.size(), " bytes, longer than ", kMaxIdBytes));
  }
  for (unsigned char c : v) {
    if (c == '{' || c == '}' || c <= 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": must not contain '{', '}', spaces or control characters"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateSha256(const std::string& v) {
  if (v.size() != 64 || !std::all_of(v.begin(), v.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      })) {
    return absl::InvalidArgumentError("sha256: must be 64 lowercase hex digits");
  }
  return absl::OkStatus();
}

absl::Status ValidateTtl(uint32_t ttl_ms) {
  if (ttl_ms == 0 || ttl_ms > kMaxLeaseTtlMs) return absl::InvalidArgumentError("ttl_ms: must be 1..3600000 ms");
  return absl::OkStatus();
}

absl::Status ValidateEntries(uint64_t epoch, const std::vector<ev::LogEntry>& entries) {
  if (entries.empty()) return absl::InvalidArgumentError("entries: must not be empty");
  const uint64_t first = entries[0].seq();
  if (first == 0) return absl::InvalidArgumentError("entries[0].seq: must be >= 1");
  for (size_t i = 0; i < entries.size(); ++i) {
    const ev::LogEntry& e = entries[i];
    if (e.seq() != first + i) {
      return absl::InvalidArgumentError(
          absl::StrCat("entries[", i, "].seq: ", e.seq(), " does not follow ", first + i - 1,
                       " (seqs must be consecutive)"));
    }
    if (e.epoch() != 0 && e.epoch() != epoch) {
      return absl::InvalidArgumentError(
          absl::StrCat("entries[", i, "].epoch: ", e.epoch(), " differs from the request's epoch ", epoch));
    }
    if (e.kind_case() == ev::LogEntry::KIND_NOT_SET) {
      return absl::InvalidArgumentError(absl::StrCat("entries[", i, "]: has no event, started or terminated"));
    }
  }
  return absl::OkStatus();
}

// Whether `stored` is `incoming` as appended with `epoch`: the proxy
// compares digests of the entry with the request's epoch and without
// append_time, so a retry stamped later matches and one of another writer
// does not.
bool SameEntry(ev::LogEntry stored, ev::LogEntry incoming, uint64_t epoch) {
  stored.clear_append_time();
  incoming.clear_append_time();
  incoming.set_epoch(epoch);
  return google::protobuf::util::MessageDifferencer::Equals(stored, incoming);
}

absl::Status Fenced(uint64_t epoch, uint64_t session_epoch) {
  return absl::AbortedError(
      absl::StrCat("fenced: writer epoch ", epoch, " is older than the session epoch ", session_epoch));
}

}  // namespace

absl::Status FakeSessionStore::Check() {
  if (unavailable_) return absl::UnavailableError("fake store: unavailable");
  return absl::OkStatus();
}

void FakeSessionStore::SetUnavailable(bool unavailable) {
  absl::MutexLock l(&mu_);
  unavailable_ = unavailable;
}

absl::Status FakeSessionStore::CheckCalls() {
  RETURN_IF_ERROR(Check());
  if (calls_unavailable_) return absl::UnavailableError("fake store: calls unavailable");
  return absl::OkStatus();
}

void FakeSessionStore::SetCallsUnavailable(bool unavailable) {
  absl::MutexLock l(&mu_);
  calls_unavailable_ = unavailable;
}

void FakeSessionStore::AppendAsync(const std::string& session_id, uint64_t epoch, int node,
                                   const std::string& document_sha256, std::vector<ev::LogEntry> entries,
                                   AppendDone done) {
  {
    absl::MutexLock l(&mu_);
    if (hold_async_) {
      held_.push_back({session_id, epoch, node, document_sha256, std::move(entries), std::move(done)});
      return;
    }
  }
  done(Append(session_id, epoch, node, document_sha256, entries));
}

void FakeSessionStore::HoldAsyncAppends(bool hold) {
  std::vector<HeldAppend> release;
  {
    absl::MutexLock l(&mu_);
    hold_async_ = hold;
    if (!hold) release.swap(held_);
  }
  for (HeldAppend& h : release) h.done(Append(h.session_id, h.epoch, h.node, h.document_sha256, h.entries));
}

size_t FakeSessionStore::HeldAsyncAppends() {
  absl::MutexLock l(&mu_);
  return held_.size();
}

absl::StatusOr<uint64_t> FakeSessionStore::Append(const std::string& id, uint64_t epoch, int node,
                                                  const std::string& doc, const std::vector<ev::LogEntry>& entries) {
  RETURN_IF_ERROR(ValidateId("session_id", id));
  RETURN_IF_ERROR(ValidateEntries(epoch, entries));
  const uint64_t first = entries[0].seq();
  const uint64_t n = entries.size();
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(Check());
  // The proxy registers a creating append's id before the append is checked.
  if (first == 1) registry_[node].insert(id);
  auto it = sessions_.find(id);
  Session created;
  Session* s = &created;
  if (it != sessions_.end()) {
    s = &it->second;
  } else {
    if (first != 1) {
      return absl::NotFoundError(absl::StrCat(
          "unknown session ", id, " (an append to a new session starts at seq 1, not ", first, ")"));
    }
    created.node = node;
    created.epoch = epoch;
    created.doc = doc.empty() && entries[0].has_started() ? entries[0].started().document_sha256() : doc;
  }
  if (epoch < s->epoch) return Fenced(epoch, s->epoch);
  uint64_t from = first;  // the first seq not stored yet
  if (first <= s->last) {
    if (first <= s->snapshot_covers) {
      return absl::AbortedError(absl::StrCat("mismatch: seq ", first, " is already covered by a snapshot (up to ",
                                             s->snapshot_covers, ")"));
    }
    const uint64_t upto = std::min(s->last, first + n - 1);
    for (uint64_t seq = first; seq <= upto; ++seq) {
      auto stored = s->log.find(seq);
      if (stored == s->log.end() || !SameEntry(stored->second, entries[seq - first], epoch)) {
        return absl::AbortedError(
            absl::StrCat("mismatch: seq ", seq, " is already stored with different content"));
      }
    }
    from = upto + 1;
  } else if (first != s->last + 1) {
    return absl::AbortedError(
        absl::StrCat("seqgap: first seq ", first, " does not follow the last stored seq ", s->last));
  }
  const int64_t now_ms = clock_->NowMs();
  for (uint64_t seq = from; seq < first + n; ++seq) {
    ev::LogEntry e = entries[seq - first];
    e.set_epoch(epoch);
    if (!e.has_append_time()) {
      e.mutable_append_time()->set_seconds(now_ms / 1000);
      e.mutable_append_time()->set_nanos(static_cast<int32_t>(now_ms % 1000) * 1000000);
    }
    s->log[seq] = std::move(e);
  }
  s->last = std::max(s->last, first + n - 1);
  s->epoch = std::max(s->epoch, epoch);
  const uint64_t last = s->last;
  if (s == &created) sessions_.emplace(id, std::move(created));
  ++appends_;
  return last;
}

absl::Status FakeSessionStore::PutSnapshot(const std::string& id, uint64_t epoch, uint64_t covers,
                                           const std::string& bytes) {
  RETURN_IF_ERROR(ValidateId("session_id", id));
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(Check());
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return absl::NotFoundError(absl::StrCat("unknown session ", id));
  Session& s = it->second;
  if (epoch < s.epoch) return Fenced(epoch, s.epoch);
  if (covers > s.last) {
    return absl::FailedPreconditionError(
        absl::StrCat("covers_seq ", covers, " is beyond the last stored seq ", s.last));
  }
  if (covers < s.snapshot_covers) {
    return absl::FailedPreconditionError(absl::StrCat(
        "covers_seq ", covers, " is older than the stored snapshot (covers ", s.snapshot_covers, ")"));
  }
  s.snapshot = bytes;
  s.snapshot_covers = covers;
  s.log.erase(s.log.begin(), s.log.upper_bound(covers));
  s.epoch = std::max(s.epoch, epoch);
  return absl::OkStatus();
}

absl::StatusOr<LoadedSession> FakeSessionStore::Load(const std::string& id) {
  RETURN_IF_ERROR(ValidateId("session_id", id));
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(Check());
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return absl::NotFoundError(absl::StrCat("unknown session ", id));
  const Session& s = it->second;
  LoadedSession out;
  out.snapshot = s.snapshot;
  out.snapshot_covers_seq = s.snapshot_covers;
  out.last_seq = s.last;
  out.epoch = s.epoch;
  out.document_sha256 = s.doc;
  out.state = s.state;
  for (const auto& [seq, e] : s.log) out.entries.push_back(e);
  return out;
}

absl::Status FakeSessionStore::Delete(const std::string& id, uint64_t epoch) {
  RETURN_IF_ERROR(ValidateId("session_id", id));
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(Check());
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return absl::NotFoundError(absl::StrCat("unknown session ", id));
  if (epoch < it->second.epoch) return Fenced(epoch, it->second.epoch);
  registry_[it->second.node].erase(id);
  sessions_.erase(it);
  return absl::OkStatus();
}

absl::Status FakeSessionStore::SetState(const std::string& id, uint64_t epoch, const std::string& state) {
  RETURN_IF_ERROR(ValidateId("session_id", id));
  if (state.size() > kMaxIdBytes) return absl::InvalidArgumentError(absl::StrCat("state: longer than ", kMaxIdBytes));
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(Check());
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return absl::NotFoundError(absl::StrCat("unknown session ", id));
  Session& s = it->second;
  if (epoch < s.epoch) return Fenced(epoch, s.epoch);
  s.state = state;
  s.epoch = std::max(s.epoch, epoch);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> FakeSessionStore::ListNodeSessions(int node, std::string* cursor,
                                                                            uint32_t page_size,
                                                                            std::vector<std::string>* states) {
  // The cursor is an offset into the node's ids in order.
  size_t skip = 0;
  if (!cursor->empty() && *cursor != "0" && !absl::SimpleAtoi(*cursor, &skip)) {
    return absl::InvalidArgumentError("cursor: must be a next_cursor of a previous call");
  }
  const size_t page = page_size == 0 ? 100 : std::min<uint32_t>(page_size, 10000);
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(Check());
  std::vector<std::string> ids;
  if (states != nullptr) states->clear();
  const std::set<std::string>& registered = registry_[node];
  auto it = registered.begin();
  std::advance(it, std::min(skip, registered.size()));
  for (; it != registered.end() && ids.size() < page; ++it) {
    ids.push_back(*it);
    if (states == nullptr) continue;
    auto s = sessions_.find(*it);
    states->push_back(s == sessions_.end() ? kGone : s->second.state);
  }
  *cursor = it == registered.end() ? "0" : absl::StrCat(skip + ids.size());
  return ids;
}

absl::Status FakeSessionStore::PutDocument(const std::string& sha256, const std::string& source) {
  RETURN_IF_ERROR(ValidateSha256(sha256));
  if (const std::string actual = Sha256Hex(source); actual != sha256) {
    return absl::InvalidArgumentError(absl::StrCat("sha256: does not match the source (its sha256 is ", actual, ")"));
  }
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(Check());
  documents_[sha256] = source;
  return absl::OkStatus();
}

absl::StatusOr<std::string> FakeSessionStore::GetDocument(const std::string& sha256) {
  RETURN_IF_ERROR(ValidateSha256(sha256));
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(Check());
  auto it = documents_.find(sha256);
  if (it == documents_.end()) return absl::NotFoundError("no such document");
  return it->second;
}

FakeSessionStore::Lease* FakeSessionStore::HeldLease(const std::string& name) {
  auto it = leases_.find(name);
  if (it == leases_.end()) return nullptr;
  if (it->second.expires_ms <= clock_->MonotonicMs()) {
    leases_.erase(it);
    return nullptr;
  }
  return &it->second;
}

absl::StatusOr<LeaseState> FakeSessionStore::AcquireLease(const std::string& name, const std::string& holder,
                                                          const std::string& endpoint, uint32_t ttl_ms) {
  RETURN_IF_ERROR(ValidateId("name", name));
  if (holder.empty()) return absl::InvalidArgumentError("holder: must not be empty");
  RETURN_IF_ERROR(ValidateTtl(ttl_ms));
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(Check());
  Lease* lease = HeldLease(name);
  LeaseState out;
  if (lease == nullptr) {
    lease = &leases_[name];
    *lease = Lease{holder, endpoint, ++lease_epochs_[name], 0};
  }
  if (lease->holder == holder) {
    lease->endpoint = endpoint;
    lease->expires_ms = clock_->MonotonicMs() + ttl_ms;
    out.acquired = true;
  }
  out.epoch = lease->epoch;
  out.holder = lease->holder;
  out.endpoint = lease->endpoint;
  return out;
}

absl::Status FakeSessionStore::RenewLease(const std::string& name, const std::string& holder, uint64_t epoch,
                                          uint32_t ttl_ms) {
  RETURN_IF_ERROR(ValidateId("name", name));
  RETURN_IF_ERROR(ValidateTtl(ttl_ms));
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(Check());
  Lease* lease = HeldLease(name);
  if (lease == nullptr) return absl::AbortedError("lost: the lease expired or was released");
  if (lease->holder != holder || lease->epoch != epoch) {
    return absl::AbortedError(absl::StrCat("lost: the lease is held by ", lease->holder, " (epoch ", lease->epoch, ")"));
  }
  lease->expires_ms = clock_->MonotonicMs() + ttl_ms;
  return absl::OkStatus();
}

absl::Status FakeSessionStore::ReleaseLease(const std::string& name, const std::string& holder, uint64_t epoch) {
  RETURN_IF_ERROR(ValidateId("name", name));
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(Check());
  Lease* lease = HeldLease(name);
  if (lease == nullptr) return absl::OkStatus();
  if (lease->holder != holder || lease->epoch != epoch) {
    return absl::AbortedError(absl::StrCat("lost: the lease is held by ", lease->holder, " (epoch ", lease->epoch, ")"));
  }
  leases_.erase(name);
  return absl::OkStatus();
}

absl::StatusOr<LeaseState> FakeSessionStore::GetLease(const std::string& name) {
  RETURN_IF_ERROR(ValidateId("name", name));
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(Check());
  const Lease* lease = HeldLease(name);
  if (lease == nullptr) return absl::NotFoundError("nobody holds the lease");
  LeaseState out;
  out.holder = lease->holder;
  out.endpoint = lease->endpoint;
  out.epoch = lease->epoch;
  out.remaining_ms = static_cast<uint32_t>(lease->expires_ms - clock_->MonotonicMs());
  return out;
}

size_t FakeSessionStore::LogSize(const std::string& id) {
  absl::MutexLock l(&mu_);
  auto it = sessions_.find(id);
  return it == sessions_.end() ? 0 : it->second.log.size();
}

size_t FakeSessionStore::Appends() {
  absl::MutexLock l(&mu_);
  return appends_;
}

bool FakeSessionStore::HasSession(const std::string& id) {
  absl::MutexLock l(&mu_);
  return sessions_.count(id) > 0;
}

void FakeSessionStore::ExpireLease(const std::string& name) {
  absl::MutexLock l(&mu_);
  auto it = leases_.find(name);
  if (it != leases_.end()) it->second.expires_ms = clock_->MonotonicMs();
}

void FakeSessionStore::CorruptDocument(const std::string& sha256, const std::string& source) {
  absl::MutexLock l(&mu_);
  documents_[sha256] = source;
}

// ---- calls ----

bool FakeSessionStore::ClaimCall(const pv1::CallRecord& record) {
  absl::MutexLock l(&mu_);
  return calls_.emplace(record.call_uuid(), Call{record, {}}).second;
}

absl::Status FakeSessionStore::RecordCallEvent(const std::string& call_uuid, const ev::Event& event) {
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(CheckCalls());
  auto it = calls_.find(call_uuid);
  if (it == calls_.end()) return absl::NotFoundError(absl::StrCat("no call ", call_uuid));
  it->second.events.push_back(event);
  return absl::OkStatus();
}

void FakeSessionStore::DeleteCall(const std::string& call_uuid) {
  absl::MutexLock l(&mu_);
  auto it = calls_.find(call_uuid);
  if (it == calls_.end()) return;
  node_calls_[it->second.record.owner_node()].erase(call_uuid);
  calls_.erase(it);
}

absl::StatusOr<pv1::CallRecord> FakeSessionStore::GetCall(const std::string& call_uuid) {
  absl::MutexLock l(&mu_);
  auto it = calls_.find(call_uuid);
  if (it == calls_.end()) return absl::NotFoundError(absl::StrCat("no call ", call_uuid));
  return it->second.record;
}

absl::StatusOr<CallBinding> FakeSessionStore::BindCall(const std::string& call_uuid, int node,
                                                       const std::string& session_id) {
  RETURN_IF_ERROR(ValidateId("call_uuid", call_uuid));
  RETURN_IF_ERROR(ValidateId("session_id", session_id));
  if (node < 1 || node > 9999) return absl::InvalidArgumentError("node: must be 1..9999");
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(CheckCalls());
  auto it = calls_.find(call_uuid);
  if (it == calls_.end()) return absl::NotFoundError(absl::StrCat("no call ", call_uuid));
  pv1::CallRecord& r = it->second.record;
  if (r.owner_node() == 0) {
    r.set_owner_node(node);
    r.set_session_id(session_id);
    node_calls_[node].insert(call_uuid);
  }
  return CallBinding{.bound = r.owner_node() == node, .record = r};
}

absl::StatusOr<std::vector<pv1::CallRecord>> FakeSessionStore::ListNodeCalls(int node, std::string* cursor,
                                                                             uint32_t limit) {
  // The cursor is an offset into the node's call_uuids in order.
  size_t skip = 0;
  if (!cursor->empty() && !absl::SimpleAtoi(*cursor, &skip)) {
    return absl::InvalidArgumentError("cursor: must be a next_cursor of a previous call");
  }
  if (node < 1 || node > 9999) return absl::InvalidArgumentError("node: must be 1..9999");
  const size_t page = limit == 0 ? 1000 : limit;
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(CheckCalls());
  std::vector<pv1::CallRecord> records;
  const std::set<std::string>& owned = node_calls_[node];
  auto it = owned.begin();
  std::advance(it, std::min(skip, owned.size()));
  size_t walked = 0;
  for (; it != owned.end() && records.size() < page; ++it, ++walked) {
    records.push_back(calls_.at(*it).record);  // DeleteCall removes a call from its node's set
  }
  *cursor = it == owned.end() ? "" : absl::StrCat(skip + walked);
  return records;
}

absl::StatusOr<std::vector<ev::Event>> FakeSessionStore::ReadCallEvents(const std::string& call_uuid) {
  RETURN_IF_ERROR(ValidateId("call_uuid", call_uuid));
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(CheckCalls());
  auto it = calls_.find(call_uuid);
  if (it == calls_.end()) return absl::NotFoundError(absl::StrCat("no call ", call_uuid));
  return it->second.events;
}

}  // namespace orch::session_engine
