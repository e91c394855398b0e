#include "services/session_engine/fake_session_store.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"

namespace orch::session_engine {

namespace ev = orch::event::v1;

namespace {
// Entries compare without append_time, as the proxy's digest does.
std::string Digest(ev::LogEntry e) {
  e.clear_append_time();
  std::string out;
  e.SerializeToString(&out);
  return out;
}
}  // namespace

absl::Status FakeSessionStore::Check() {
  if (unavailable_) return absl::UnavailableError("fake store: unavailable");
  return absl::OkStatus();
}

void FakeSessionStore::SetUnavailable(bool unavailable) {
  std::lock_guard<std::mutex> l(mu_);
  unavailable_ = unavailable;
}

absl::StatusOr<uint64_t> FakeSessionStore::Append(const std::string& id, uint64_t epoch, int node,
                                                  const std::string& doc, const std::vector<ev::LogEntry>& entries) {
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(Check());
  if (entries.empty()) return absl::InvalidArgumentError("no entries");
  auto it = sessions_.find(id);
  if (it == sessions_.end()) {
    if (entries[0].seq() != 1) return absl::NotFoundError("fake store: unknown session");
    it = sessions_.emplace(id, Session{}).first;
    it->second.node = node;
    it->second.doc = doc;
  }
  Session& s = it->second;
  if (epoch < s.epoch) {
    return absl::AbortedError(absl::StrCat("fenced: writer epoch ", epoch, " is older than the session epoch ", s.epoch));
  }
  for (const auto& e : entries) {
    if (e.seq() <= s.last) {
      auto stored = s.log.find(e.seq());
      if (stored == s.log.end() || Digest(stored->second) != Digest(e)) return absl::AbortedError("mismatch");
      continue;
    }
    if (e.seq() != s.last + 1) return absl::AbortedError("seqgap");
    s.log[e.seq()] = e;
    s.last = e.seq();
  }
  s.epoch = std::max(s.epoch, epoch);
  ++appends_;
  return s.last;
}

absl::Status FakeSessionStore::PutSnapshot(const std::string& id, uint64_t epoch, uint64_t covers,
                                           const std::string& bytes) {
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(Check());
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return absl::NotFoundError("unknown session");
  Session& s = it->second;
  if (epoch < s.epoch) return absl::AbortedError("fenced");
  if (covers > s.last) return absl::FailedPreconditionError("beyond");
  if (covers < s.snapshot_covers) return absl::FailedPreconditionError("stale");
  s.snapshot = bytes;
  s.snapshot_covers = covers;
  s.log.erase(s.log.begin(), s.log.upper_bound(covers));
  s.epoch = std::max(s.epoch, epoch);
  return absl::OkStatus();
}

absl::StatusOr<LoadedSession> FakeSessionStore::Load(const std::string& id) {
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(Check());
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return absl::NotFoundError("unknown session");
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
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(Check());
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return absl::NotFoundError("unknown session");
  if (epoch < it->second.epoch) return absl::AbortedError("fenced");
  sessions_.erase(it);
  return absl::OkStatus();
}

absl::Status FakeSessionStore::SetState(const std::string& id, uint64_t epoch, const std::string& state) {
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(Check());
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return absl::NotFoundError("unknown session");
  if (epoch < it->second.epoch) return absl::AbortedError("fenced");
  it->second.state = state;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> FakeSessionStore::ListNodeSessions(int node, std::string* cursor,
                                                                            uint32_t page_size,
                                                                            std::vector<std::string>* states) {
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(Check());
  size_t skip = 0;
  if (!cursor->empty() && *cursor != "0" && !absl::SimpleAtoi(*cursor, &skip)) {
    return absl::InvalidArgumentError("cursor");
  }
  std::vector<std::string> ids;
  if (states != nullptr) states->clear();
  size_t index = 0;
  for (const auto& [id, s] : sessions_) {
    if (s.node != node) continue;
    if (index++ < skip) continue;
    if (ids.size() >= page_size) break;
    ids.push_back(id);
    if (states != nullptr) states->push_back(s.state);
  }
  *cursor = skip + ids.size() < index ? absl::StrCat(skip + ids.size()) : "0";
  return ids;
}

absl::Status FakeSessionStore::PutDocument(const std::string& sha256, const std::string& source) {
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(Check());
  documents_[sha256] = source;
  return absl::OkStatus();
}

absl::StatusOr<std::string> FakeSessionStore::GetDocument(const std::string& sha256) {
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(Check());
  auto it = documents_.find(sha256);
  if (it == documents_.end()) return absl::NotFoundError("unknown document");
  return it->second;
}

absl::StatusOr<LeaseState> FakeSessionStore::AcquireLease(const std::string& name, const std::string& holder,
                                                          const std::string& endpoint, uint32_t ttl_ms) {
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(Check());
  const absl::Time now = absl::Now();
  auto it = leases_.find(name);
  LeaseState out;
  if (it != leases_.end() && it->second.expires > now && it->second.holder != holder) {
    out.holder = it->second.holder;
    out.endpoint = it->second.endpoint;
    out.epoch = it->second.epoch;
    return out;
  }
  if (it != leases_.end() && it->second.expires > now) {
    it->second.expires = now + absl::Milliseconds(ttl_ms);
    out.acquired = true;
    out.epoch = it->second.epoch;
    return out;
  }
  const uint64_t epoch = ++lease_epochs_[name];
  leases_[name] = Lease{holder, endpoint, epoch, now + absl::Milliseconds(ttl_ms)};
  out.acquired = true;
  out.epoch = epoch;
  return out;
}

absl::Status FakeSessionStore::RenewLease(const std::string& name, const std::string& holder, uint64_t epoch,
                                          uint32_t ttl_ms) {
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(Check());
  auto it = leases_.find(name);
  if (it == leases_.end() || it->second.expires <= absl::Now() || it->second.holder != holder ||
      it->second.epoch != epoch) {
    return absl::AbortedError("lost");
  }
  it->second.expires = absl::Now() + absl::Milliseconds(ttl_ms);
  return absl::OkStatus();
}

absl::Status FakeSessionStore::ReleaseLease(const std::string& name, const std::string& holder, uint64_t epoch) {
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(Check());
  auto it = leases_.find(name);
  if (it != leases_.end() && it->second.holder == holder && it->second.epoch == epoch) leases_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<LeaseState> FakeSessionStore::GetLease(const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(Check());
  LeaseState out;
  auto it = leases_.find(name);
  if (it != leases_.end() && it->second.expires > absl::Now()) {
    out.holder = it->second.holder;
    out.endpoint = it->second.endpoint;
    out.epoch = it->second.epoch;
  }
  return out;
}

size_t FakeSessionStore::LogSize(const std::string& id) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = sessions_.find(id);
  return it == sessions_.end() ? 0 : it->second.log.size();
}

size_t FakeSessionStore::Appends() {
  std::lock_guard<std::mutex> l(mu_);
  return appends_;
}

bool FakeSessionStore::HasSession(const std::string& id) {
  std::lock_guard<std::mutex> l(mu_);
  return sessions_.count(id) > 0;
}

void FakeSessionStore::ExpireLease(const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = leases_.find(name);
  if (it != leases_.end()) it->second.expires = absl::Now() - absl::Milliseconds(1);
}

}  // namespace orch::session_engine
