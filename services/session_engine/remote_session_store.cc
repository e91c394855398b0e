#include "services/session_engine/remote_session_store.h"

#include "absl/strings/str_cat.h"
#include "common/grpc/status.h"
#include "grpcpp/grpcpp.h"
#include "orch/persistence/v1/persistence.grpc.pb.h"
#include "services/session_engine/append_stream.h"

namespace orch::session_engine {

namespace pv1 = orch::persistence::v1;

class RemoteSessionStore::Impl {
 public:
  Impl(const std::string& target, const grpc_util::ChannelOptions& options, absl::Duration timeout, bool stream)
      : stub_(pv1::Persistence::NewStub(grpc_util::MakeChannel(target, options))), timeout_(timeout) {
    if (stream) stream_ = std::make_unique<AppendStream>(stub_.get(), timeout);
  }

  // Runs one unary call with the deadline; the status carries the proxy's
  // code, or UNAVAILABLE when the proxy was not reached in time.
  template <typename Req, typename Resp, typename Method>
  absl::Status Call(const char* what, Method method, const Req& req, Resp* resp) {
    ::grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
    ::grpc::Status s = (stub_.get()->*method)(&ctx, req, resp);
    if (s.ok()) return absl::OkStatus();
    absl::Status st = grpc_util::FromGrpcStatus(s);
    if (st.code() == absl::StatusCode::kDeadlineExceeded) {
      return absl::UnavailableError(absl::StrCat("persistence-proxy: ", what, " timed out"));
    }
    return absl::Status(st.code(), absl::StrCat("persistence-proxy: ", what, ": ", st.message()));
  }

  std::unique_ptr<pv1::Persistence::Stub> stub_;
  absl::Duration timeout_;
  std::unique_ptr<AppendStream> stream_;  // destroyed before the stub
};

RemoteSessionStore::RemoteSessionStore(const std::string& target, const grpc_util::ChannelOptions& options,
                                       absl::Duration request_timeout, bool append_stream)
    : impl_(std::make_unique<Impl>(target, options, request_timeout, append_stream)) {}

RemoteSessionStore::~RemoteSessionStore() = default;

namespace {
pv1::AppendEventsRequest AppendRequest(const std::string& session_id, uint64_t epoch, int node,
                                       const std::string& document_sha256,
                                       const std::vector<orch::event::v1::LogEntry>& entries) {
  pv1::AppendEventsRequest req;
  req.set_session_id(session_id);
  req.set_epoch(epoch);
  req.set_node(absl::StrCat(node));
  req.set_document_sha256(document_sha256);
  for (const auto& e : entries) *req.add_entries() = e;
  return req;
}
}  // namespace

absl::StatusOr<uint64_t> RemoteSessionStore::Append(const std::string& session_id, uint64_t epoch, int node,
                                                    const std::string& document_sha256,
                                                    const std::vector<orch::event::v1::LogEntry>& entries) {
  pv1::AppendEventsRequest req = AppendRequest(session_id, epoch, node, document_sha256, entries);
  if (impl_->stream_ != nullptr) return impl_->stream_->Append(std::move(req));
  pv1::AppendEventsResponse resp;
  absl::Status s = impl_->Call("append", &pv1::Persistence::Stub::AppendEvents, req, &resp);
  if (!s.ok()) return s;
  return resp.last_seq();
}

void RemoteSessionStore::AppendAsync(const std::string& session_id, uint64_t epoch, int node,
                                     const std::string& document_sha256,
                                     std::vector<orch::event::v1::LogEntry> entries, AppendDone done) {
  if (impl_->stream_ == nullptr) {  // unary appends: this thread waits
    done(Append(session_id, epoch, node, document_sha256, entries));
    return;
  }
  impl_->stream_->AppendAsync(AppendRequest(session_id, epoch, node, document_sha256, entries), std::move(done));
}

absl::Status RemoteSessionStore::PutSnapshot(const std::string& session_id, uint64_t epoch, uint64_t covers_seq,
                                             const std::string& bytes) {
  pv1::PutSnapshotRequest req;
  req.set_session_id(session_id);
  req.set_epoch(epoch);
  req.set_covers_seq(covers_seq);
  req.set_snapshot(bytes);
  pv1::PutSnapshotResponse resp;
  return impl_->Call("snapshot", &pv1::Persistence::Stub::PutSnapshot, req, &resp);
}

absl::StatusOr<LoadedSession> RemoteSessionStore::Load(const std::string& session_id) {
  pv1::LoadSessionRequest req;
  req.set_session_id(session_id);
  pv1::LoadSessionResponse resp;
  absl::Status s = impl_->Call("load", &pv1::Persistence::Stub::LoadSession, req, &resp);
  if (!s.ok()) return s;
  LoadedSession out;
  out.snapshot = std::move(*resp.mutable_snapshot());
  out.snapshot_covers_seq = resp.snapshot_covers_seq();
  out.last_seq = resp.meta().last_seq();
  out.epoch = resp.meta().epoch();
  out.document_sha256 = resp.meta().document_sha256();
  out.state = resp.meta().state();
  out.entries.reserve(resp.entries_size());
  for (auto& e : *resp.mutable_entries()) out.entries.push_back(std::move(e));
  return out;
}

absl::Status RemoteSessionStore::Delete(const std::string& session_id, uint64_t epoch) {
  pv1::DeleteSessionRequest req;
  req.set_session_id(session_id);
  req.set_epoch(epoch);
  pv1::DeleteSessionResponse resp;
  return impl_->Call("delete", &pv1::Persistence::Stub::DeleteSession, req, &resp);
}

absl::Status RemoteSessionStore::SetState(const std::string& session_id, uint64_t epoch, const std::string& state) {
  pv1::SetSessionStateRequest req;
  req.set_session_id(session_id);
  req.set_epoch(epoch);
  req.set_state(state);
  pv1::SetSessionStateResponse resp;
  return impl_->Call("set state", &pv1::Persistence::Stub::SetSessionState, req, &resp);
}

absl::StatusOr<std::vector<std::string>> RemoteSessionStore::ListNodeSessions(int node, std::string* cursor,
                                                                              uint32_t page_size,
                                                                              std::vector<std::string>* states) {
  pv1::ListNodeSessionsRequest req;
  req.set_node(absl::StrCat(node));
  req.set_cursor(*cursor);
  req.set_page_size(page_size);
  req.set_include_state(states != nullptr);
  pv1::ListNodeSessionsResponse resp;
  absl::Status s = impl_->Call("list sessions", &pv1::Persistence::Stub::ListNodeSessions, req, &resp);
  if (!s.ok()) return s;
  *cursor = resp.next_cursor();
  if (states != nullptr) {
    if (resp.states_size() != resp.session_ids_size()) {
      return absl::FailedPreconditionError("persistence-proxy does not return session states (too old?)");
    }
    states->assign(resp.states().begin(), resp.states().end());
  }
  return std::vector<std::string>(resp.session_ids().begin(), resp.session_ids().end());
}

absl::Status RemoteSessionStore::PutDocument(const std::string& sha256, const std::string& source) {
  pv1::PutDocumentRequest req;
  req.set_sha256(sha256);
  req.set_source(source);
  pv1::PutDocumentResponse resp;
  return impl_->Call("put document", &pv1::Persistence::Stub::PutDocument, req, &resp);
}

absl::StatusOr<std::string> RemoteSessionStore::GetDocument(const std::string& sha256) {
  pv1::GetDocumentRequest req;
  req.set_sha256(sha256);
  pv1::GetDocumentResponse resp;
  absl::Status s = impl_->Call("get document", &pv1::Persistence::Stub::GetDocument, req, &resp);
  if (!s.ok()) return s;
  return std::move(*resp.mutable_source());
}

absl::StatusOr<LeaseState> RemoteSessionStore::AcquireLease(const std::string& name, const std::string& holder,
                                                            const std::string& endpoint, uint32_t ttl_ms) {
  pv1::AcquireLeaseRequest req;
  req.set_name(name);
  req.set_holder(holder);
  req.set_endpoint(endpoint);
  req.set_ttl_ms(ttl_ms);
  pv1::AcquireLeaseResponse resp;
  absl::Status s = impl_->Call("acquire lease", &pv1::Persistence::Stub::AcquireLease, req, &resp);
  if (!s.ok()) return s;
  LeaseState out;
  out.acquired = resp.acquired();
  out.epoch = resp.epoch();
  out.holder = resp.holder();
  out.endpoint = resp.endpoint();
  return out;
}

absl::Status RemoteSessionStore::RenewLease(const std::string& name, const std::string& holder, uint64_t epoch,
                                            uint32_t ttl_ms) {
  pv1::RenewLeaseRequest req;
  req.set_name(name);
  req.set_holder(holder);
  req.set_epoch(epoch);
  req.set_ttl_ms(ttl_ms);
  pv1::RenewLeaseResponse resp;
  return impl_->Call("renew lease", &pv1::Persistence::Stub::RenewLease, req, &resp);
}

absl::Status RemoteSessionStore::ReleaseLease(const std::string& name, const std::string& holder, uint64_t epoch) {
  pv1::ReleaseLeaseRequest req;
  req.set_name(name);
  req.set_holder(holder);
  req.set_epoch(epoch);
  pv1::ReleaseLeaseResponse resp;
  return impl_->Call("release lease", &pv1::Persistence::Stub::ReleaseLease, req, &resp);
}

absl::StatusOr<LeaseState> RemoteSessionStore::GetLease(const std::string& name) {
  pv1::GetLeaseRequest req;
  req.set_name(name);
  pv1::GetLeaseResponse resp;
  absl::Status s = impl_->Call("get lease", &pv1::Persistence::Stub::GetLease, req, &resp);
  if (!s.ok()) return s;
  LeaseState out;
  out.holder = resp.holder();
  out.endpoint = resp.endpoint();
  out.epoch = resp.epoch();
  out.remaining_ms = resp.remaining_ms();
  return out;
}

absl::StatusOr<CallBinding> RemoteSessionStore::BindCall(const std::string& call_uuid, int node,
                                                         const std::string& session_id) {
  pv1::BindCallRequest req;
  req.set_call_uuid(call_uuid);
  req.set_node(node);
  req.set_session_id(session_id);
  pv1::BindCallResponse resp;
  absl::Status s = impl_->Call("bind call", &pv1::Persistence::Stub::BindCall, req, &resp);
  if (!s.ok()) return s;
  CallBinding out;
  out.bound = resp.bound();
  out.record = std::move(*resp.mutable_record());
  return out;
}

absl::StatusOr<std::vector<pv1::CallRecord>> RemoteSessionStore::ListNodeCalls(int node, std::string* cursor,
                                                                               uint32_t limit) {
  pv1::ListNodeCallsRequest req;
  req.set_node(node);
  req.set_cursor(*cursor);
  req.set_limit(limit);
  pv1::ListNodeCallsResponse resp;
  absl::Status s = impl_->Call("list calls", &pv1::Persistence::Stub::ListNodeCalls, req, &resp);
  if (!s.ok()) return s;
  *cursor = resp.next_cursor();
  return std::vector<pv1::CallRecord>(std::make_move_iterator(resp.mutable_records()->begin()),
                                      std::make_move_iterator(resp.mutable_records()->end()));
}

absl::StatusOr<std::vector<orch::event::v1::Event>> RemoteSessionStore::ReadCallEvents(const std::string& call_uuid) {
  pv1::ReadCallEventsRequest req;
  req.set_call_uuid(call_uuid);
  pv1::ReadCallEventsResponse resp;
  absl::Status s = impl_->Call("read call events", &pv1::Persistence::Stub::ReadCallEvents, req, &resp);
  if (!s.ok()) return s;
  return std::vector<orch::event::v1::Event>(std::make_move_iterator(resp.mutable_events()->begin()),
                                             std::make_move_iterator(resp.mutable_events()->end()));
}

}  // namespace orch::session_engine
