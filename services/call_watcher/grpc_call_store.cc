#include "services/call_watcher/grpc_call_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc/unary_call.h"
#include "grpcpp/grpcpp.h"
#include "orch/persistence/v1/persistence.grpc.pb.h"
#include "services/call_watcher/fake_call_store.h"

namespace orch::call_watcher {

namespace pv1 = ::orch::persistence::v1;

class GrpcCallStore::Impl {
 public:
  Impl(const std::string& target, const grpc_util::ChannelOptions& options, absl::Duration timeout)
      : stub_(pv1::Persistence::NewStub(grpc_util::MakeChannel(target, options))), timeout_(timeout) {}

  // One unary call with the deadline: the proxy's status, or UNAVAILABLE
  // when it was not reached or did not answer in time.
  template <typename Req, typename Resp, typename Method>
  absl::Status Call(const char* what, Method method, const Req& req, Resp* resp) {
    return grpc_util::UnaryCall(stub_.get(), method, req, resp, timeout_, absl::StrCat("persistence-proxy: ", what));
  }

 private:
  std::unique_ptr<pv1::Persistence::Stub> stub_;
  absl::Duration timeout_;
};

GrpcCallStore::GrpcCallStore(const std::string& target, const grpc_util::ChannelOptions& options,
                             absl::Duration request_timeout)
    : impl_(std::make_unique<Impl>(target, options, request_timeout)) {}

GrpcCallStore::~GrpcCallStore() = default;

namespace {

// A TTL on the wire (call_store.h's range: 1 ms .. 7 days, in ms).
absl::StatusOr<uint32_t> TtlMs(absl::Duration ttl) {
  if (auto s = ValidateCallStoreTtl(ttl); !s.ok()) return s;
  return static_cast<uint32_t>(absl::ToInt64Milliseconds(ttl));
}

}  // namespace

absl::StatusOr<ClaimResult> GrpcCallStore::ClaimCall(const CallRecord& record, absl::Duration ttl) {
  auto ttl_ms = TtlMs(ttl);
  if (!ttl_ms.ok()) return ttl_ms.status();
  pv1::ClaimCallRequest req;
  *req.mutable_record() = record;
  req.set_ttl_ms(*ttl_ms);
  pv1::ClaimCallResponse resp;
  if (auto s = impl_->Call("ClaimCall", &pv1::Persistence::Stub::ClaimCall, req, &resp); !s.ok()) return s;
  ClaimResult result;
  result.created = resp.created();
  result.record = std::move(*resp.mutable_record());
  return result;
}

absl::StatusOr<CallRecord> GrpcCallStore::GetCall(absl::string_view call_uuid) {
  pv1::GetCallRequest req;
  req.set_call_uuid(std::string(call_uuid));
  pv1::GetCallResponse resp;
  if (auto s = impl_->Call("GetCall", &pv1::Persistence::Stub::GetCall, req, &resp); !s.ok()) return s;
  return std::move(*resp.mutable_record());
}

absl::StatusOr<bool> GrpcCallStore::DeleteCall(absl::string_view call_uuid) {
  pv1::DeleteCallRequest req;
  req.set_call_uuid(std::string(call_uuid));
  pv1::DeleteCallResponse resp;
  if (auto s = impl_->Call("DeleteCall", &pv1::Persistence::Stub::DeleteCall, req, &resp); !s.ok()) return s;
  return resp.deleted();
}

absl::StatusOr<uint64_t> GrpcCallStore::RecordCallEvent(absl::string_view call_uuid,
                                                        const ::orch::event::v1::Event& event) {
  pv1::RecordCallEventRequest req;
  req.set_call_uuid(std::string(call_uuid));
  *req.mutable_event() = event;
  pv1::RecordCallEventResponse resp;
  if (auto s = impl_->Call("RecordCallEvent", &pv1::Persistence::Stub::RecordCallEvent, req, &resp); !s.ok()) {
    return s;
  }
  return resp.recorded();
}

absl::StatusOr<std::string> GrpcCallStore::ReserveTarget(absl::string_view target, absl::string_view holder,
                                                         absl::Duration ttl) {
  auto ttl_ms = TtlMs(ttl);
  if (!ttl_ms.ok()) return ttl_ms.status();
  pv1::ReserveTargetRequest req;
  req.set_target(std::string(target));
  req.set_holder(std::string(holder));
  req.set_ttl_ms(*ttl_ms);
  pv1::ReserveTargetResponse resp;
  if (auto s = impl_->Call("ReserveTarget", &pv1::Persistence::Stub::ReserveTarget, req, &resp); !s.ok()) {
    return s;
  }
  if (resp.reserved()) return std::string(holder);
  return std::move(*resp.mutable_holder());
}

absl::StatusOr<bool> GrpcCallStore::ReleaseTarget(absl::string_view target, absl::string_view holder) {
  pv1::ReleaseTargetRequest req;
  req.set_target(std::string(target));
  req.set_holder(std::string(holder));
  pv1::ReleaseTargetResponse resp;
  if (auto s = impl_->Call("ReleaseTarget", &pv1::Persistence::Stub::ReleaseTarget, req, &resp); !s.ok()) {
    return s;
  }
  return resp.released();
}

}  // namespace orch::call_watcher
