#include "services/session_engine/metered_session_store.h"

namespace orch::session_engine {

namespace {
double Seconds(int64_t ms) { return static_cast<double>(ms) / 1000.0; }
}  // namespace

const absl::Status& MeteredSessionStore::Saw(const absl::Status& s) {
  metrics_->SetPersistenceUp(s.code() != absl::StatusCode::kUnavailable);
  return s;
}

absl::StatusOr<uint64_t> MeteredSessionStore::Append(const std::string& session_id, uint64_t epoch, int node,
                                                     const std::string& document_sha256,
                                                     const std::vector<event::v1::LogEntry>& entries) {
  const int64_t t0 = clock_->MonotonicMs();
  auto r = store_->Append(session_id, epoch, node, document_sha256, entries);
  metrics_->ObserveAppend(Seconds(clock_->MonotonicMs() - t0), r.ok());
  Saw(r.status());
  return r;
}

void MeteredSessionStore::AppendAsync(const std::string& session_id, uint64_t epoch, int node,
                                      const std::string& document_sha256, std::vector<event::v1::LogEntry> entries,
                                      AppendDone done) {
  const int64_t t0 = clock_->MonotonicMs();
  store_->AppendAsync(session_id, epoch, node, document_sha256, std::move(entries),
                      [this, t0, done = std::move(done)](absl::StatusOr<uint64_t> r) {
                        metrics_->ObserveAppend(Seconds(clock_->MonotonicMs() - t0), r.ok());
                        Saw(r.status());
                        done(std::move(r));
                      });
}

absl::Status MeteredSessionStore::PutSnapshot(const std::string& session_id, uint64_t epoch, uint64_t covers_seq,
                                              const std::string& bytes) {
  const int64_t t0 = clock_->MonotonicMs();
  absl::Status s = store_->PutSnapshot(session_id, epoch, covers_seq, bytes);
  metrics_->ObserveSnapshot(Seconds(clock_->MonotonicMs() - t0), bytes.size(), s.ok());
  return Saw(s);
}

absl::StatusOr<LoadedSession> MeteredSessionStore::Load(const std::string& session_id) {
  auto r = store_->Load(session_id);
  Saw(r.status());
  return r;
}

absl::Status MeteredSessionStore::Delete(const std::string& session_id, uint64_t epoch) {
  return Saw(store_->Delete(session_id, epoch));
}

absl::Status MeteredSessionStore::SetState(const std::string& session_id, uint64_t epoch, const std::string& state) {
  return Saw(store_->SetState(session_id, epoch, state));
}

absl::StatusOr<std::vector<std::string>> MeteredSessionStore::ListNodeSessions(int node, std::string* cursor,
                                                                               uint32_t page_size,
                                                                               std::vector<std::string>* states) {
  auto r = store_->ListNodeSessions(node, cursor, page_size, states);
  Saw(r.status());
  return r;
}

absl::Status MeteredSessionStore::PutDocument(const std::string& sha256, const std::string& source) {
  return Saw(store_->PutDocument(sha256, source));
}

absl::StatusOr<std::string> MeteredSessionStore::GetDocument(const std::string& sha256) {
  auto r = store_->GetDocument(sha256);
  Saw(r.status());
  return r;
}

absl::StatusOr<LeaseState> MeteredSessionStore::AcquireLease(const std::string& name, const std::string& holder,
                                                             const std::string& endpoint, uint32_t ttl_ms) {
  auto r = store_->AcquireLease(name, holder, endpoint, ttl_ms);
  Saw(r.status());
  return r;
}

absl::Status MeteredSessionStore::RenewLease(const std::string& name, const std::string& holder, uint64_t epoch,
                                             uint32_t ttl_ms) {
  return Saw(store_->RenewLease(name, holder, epoch, ttl_ms));
}

absl::Status MeteredSessionStore::ReleaseLease(const std::string& name, const std::string& holder, uint64_t epoch) {
  return Saw(store_->ReleaseLease(name, holder, epoch));
}

absl::StatusOr<LeaseState> MeteredSessionStore::GetLease(const std::string& name) {
  auto r = store_->GetLease(name);
  Saw(r.status());
  return r;
}

absl::StatusOr<CallBinding> MeteredSessionStore::BindCall(const std::string& call_uuid, int node,
                                                          const std::string& session_id) {
  auto r = store_->BindCall(call_uuid, node, session_id);
  Saw(r.status());
  return r;
}

absl::StatusOr<std::vector<persistence::v1::CallRecord>> MeteredSessionStore::ListNodeCalls(int node,
                                                                                            std::string* cursor,
                                                                                            uint32_t limit) {
  auto r = store_->ListNodeCalls(node, cursor, limit);
  Saw(r.status());
  return r;
}

absl::StatusOr<std::vector<event::v1::Event>> MeteredSessionStore::ReadCallEvents(const std::string& call_uuid) {
  auto r = store_->ReadCallEvents(call_uuid);
  Saw(r.status());
  return r;
}

}  // namespace orch::session_engine
