// RedisStore's call operations: call records (claim, read, delete), owners
// (BindCall), recorded events, node call lists and target reservations. The
// session side is in redis_store.cc; README.md has the keys and scripts.

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/persistence_proxy/redis_store.h"
#include "services/persistence_proxy/redis_store_internal.h"
#include "services/persistence_proxy/scripts.h"

namespace orch::persistence_proxy {
namespace {

using redis::RedisReply;
using redis_store_internal::Complete;
using redis_store_internal::FromErrorReply;
using redis_store_internal::Serialize;
using redis_store_internal::ToU64;
using redis_store_internal::ValidateKeyPart;
using redis_store_internal::WithContext;

// Call uuids, targets and holders (services/call_watcher/call_store.h).
constexpr size_t kMaxCallIdBytes = 256;
// The longest TTL of a call record or reservation (7 days), and a claim's
// default (the proto's ttl_ms = 0).
constexpr uint32_t kMaxCallTtlMs = 7 * 24 * 3600 * 1000;
constexpr uint32_t kDefaultCallTtlMs = 24 * 3600 * 1000;
// Nodes (sessionapi's session ids) and ListNodeCalls pages.
constexpr int kMaxNode = 9999;
constexpr uint32_t kDefaultCallPage = 1000;
constexpr uint32_t kMaxCallPage = 10000;

absl::Status ValidateCallId(const char* field, const std::string& v) {
  return ValidateKeyPart(field, v, /*allow_colon=*/true, kMaxCallIdBytes);
}

absl::Status ValidateCallTtl(uint32_t ttl_ms) {
  if (ttl_ms == 0 || ttl_ms > kMaxCallTtlMs) {
    return absl::InvalidArgumentError(absl::StrCat("ttl_ms: must be 1..", kMaxCallTtlMs, " ms (7 days)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<pb::CallRecord> ParseCallRecord(const RedisReply& r) {
  pb::CallRecord record;
  if (!record.ParseFromString(r.str())) {
    return absl::DataLossError("a stored call record does not parse as orch.persistence.v1.CallRecord");
  }
  return record;
}

absl::Status ValidateNode(int node) {
  if (node < 1 || node > kMaxNode) {
    return absl::InvalidArgumentError(absl::StrCat("node: ", node, " is not a node (1..", kMaxNode, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

// ---------------------------------------------------------------- calls

std::string RedisStore::CallKey(const std::string& call_uuid) const {
  return absl::StrCat(prefix_, "call:{", call_uuid, "}");
}
std::string RedisStore::CallEventsKey(const std::string& call_uuid) const {
  return absl::StrCat(prefix_, "call:{", call_uuid, "}:events");
}
std::string RedisStore::NodeCallsKey(int node) const {
  return absl::StrCat(prefix_, "node:{", node, "}:calls");
}
std::string RedisStore::TargetKey(const std::string& target) const {
  return absl::StrCat(prefix_, "target:{", target, "}");
}

void RedisStore::ClaimCall(const pb::ClaimCallRequest& req, Done<pb::ClaimCallResponse> done) {
  const std::string& uuid = req.record().call_uuid();
  if (auto s = ValidateCallId("record.call_uuid", uuid); !s.ok()) return std::move(done)(s);
  const uint32_t ttl_ms = req.ttl_ms() == 0 ? kDefaultCallTtlMs : req.ttl_ms();
  if (auto s = ValidateCallTtl(ttl_ms); !s.ok()) return std::move(done)(s);
  // SET NX GET (Redis >= 7.0): stores the record only if none is there and
  // answers the one that was, in one atomic command.
  client_->Execute({"SET", CallKey(uuid), Serialize(req.record()), "NX", "PX", absl::StrCat(ttl_ms), "GET"},
                   options_.request_timeout, Replicated(),
                   Complete<pb::ClaimCallResponse>(
                       absl::StrCat("ClaimCall ", uuid), std::move(done),
                       [record = req.record()](const RedisReply& r) -> absl::StatusOr<pb::ClaimCallResponse> {
                         pb::ClaimCallResponse resp;
                         if (r.is_nil()) {
                           resp.set_created(true);
                           *resp.mutable_record() = record;
                           return resp;
                         }
                         auto stored = ParseCallRecord(r);
                         if (!stored.ok()) return stored.status();
                         *resp.mutable_record() = *std::move(stored);
                         return resp;
                       }));
}

void RedisStore::GetCall(const pb::GetCallRequest& req, Done<pb::GetCallResponse> done) {
  if (auto s = ValidateCallId("call_uuid", req.call_uuid()); !s.ok()) return std::move(done)(s);
  client_->Execute({"GET", CallKey(req.call_uuid())}, options_.request_timeout,
                   Complete<pb::GetCallResponse>(
                       absl::StrCat("GetCall ", req.call_uuid()), std::move(done),
                       [](const RedisReply& r) -> absl::StatusOr<pb::GetCallResponse> {
                         if (r.is_nil()) return absl::NotFoundError("no such call");
                         auto stored = ParseCallRecord(r);
                         if (!stored.ok()) return stored.status();
                         pb::GetCallResponse resp;
                         *resp.mutable_record() = *std::move(stored);
                         return resp;
                       }));
}

void RedisStore::DeleteCall(const pb::DeleteCallRequest& req, Done<pb::DeleteCallResponse> done) {
  const std::string& uuid = req.call_uuid();
  if (auto s = ValidateCallId("call_uuid", uuid); !s.ok()) return std::move(done)(s);
  const std::string context = absl::StrCat("DeleteCall ", uuid);
  // The record and its events first, then the owner's list entry (another
  // slot): a failure in between leaves a listed uuid without a record, which
  // ListNodeCalls skips and removes.
  client_->EvalSha(
      scripts::DeleteCall(), {CallKey(uuid), CallEventsKey(uuid)}, {}, options_.request_timeout, Replicated(),
      [this, uuid, context, done = std::move(done)](absl::StatusOr<RedisReply> r) mutable {
        if (!r.ok()) return std::move(done)(WithContext(r.status(), context));
        if (r->is_error()) return std::move(done)(FromErrorReply(*r, context));
        pb::DeleteCallResponse resp;
        resp.set_deleted(!r->is_nil());
        if (r->is_nil()) return std::move(done)(resp);
        // A record that does not parse is deleted all the same; its list
        // entry, if any, goes at the next ListNodeCalls.
        absl::StatusOr<pb::CallRecord> record = ParseCallRecord(*r);
        if (!record.ok() || record->owner_node() <= 0) return std::move(done)(resp);
        client_->Execute({"SREM", NodeCallsKey(record->owner_node()), uuid}, options_.request_timeout,
                         Replicated(),
                         Complete<pb::DeleteCallResponse>(context + " (node list)", std::move(done),
                                                          [resp](const RedisReply&) {
                                                            return absl::StatusOr<pb::DeleteCallResponse>(resp);
                                                          }));
      });
}

void RedisStore::ReserveTarget(const pb::ReserveTargetRequest& req, Done<pb::ReserveTargetResponse> done) {
  if (auto s = ValidateCallId("target", req.target()); !s.ok()) return std::move(done)(s);
  if (auto s = ValidateCallId("holder", req.holder()); !s.ok()) return std::move(done)(s);
  if (auto s = ValidateCallTtl(req.ttl_ms()); !s.ok()) return std::move(done)(s);
  client_->EvalSha(scripts::ReserveTarget(), {TargetKey(req.target())},
                   {req.holder(), absl::StrCat(req.ttl_ms())}, options_.request_timeout, Replicated(),
                   Complete<pb::ReserveTargetResponse>(
                       absl::StrCat("ReserveTarget ", req.target()), std::move(done),
                       [holder = req.holder()](const RedisReply& r) {
                         pb::ReserveTargetResponse resp;
                         resp.set_reserved(r.str() == holder);
                         resp.set_holder(r.str());
                         return absl::StatusOr<pb::ReserveTargetResponse>(resp);
                       }));
}

void RedisStore::ReleaseTarget(const pb::ReleaseTargetRequest& req, Done<pb::ReleaseTargetResponse> done) {
  if (auto s = ValidateCallId("target", req.target()); !s.ok()) return std::move(done)(s);
  if (auto s = ValidateCallId("holder", req.holder()); !s.ok()) return std::move(done)(s);
  client_->EvalSha(scripts::ReleaseTarget(), {TargetKey(req.target())}, {req.holder()},
                   options_.request_timeout, Replicated(),
                   Complete<pb::ReleaseTargetResponse>(absl::StrCat("ReleaseTarget ", req.target()),
                                                       std::move(done), [](const RedisReply& r) {
                                                         pb::ReleaseTargetResponse resp;
                                                         resp.set_released(r.integer() == 1);
                                                         return absl::StatusOr<pb::ReleaseTargetResponse>(resp);
                                                       }));
}

// ---------------------------------------------------------------- call owners and events

void RedisStore::BindCall(const pb::BindCallRequest& req, Done<pb::BindCallResponse> done) {
  const std::string& uuid = req.call_uuid();
  if (auto s = ValidateCallId("call_uuid", uuid); !s.ok()) return std::move(done)(s);
  if (auto s = ValidateNode(req.node()); !s.ok()) return std::move(done)(s);
  if (auto s = ValidateKeyPart("session_id", req.session_id()); !s.ok()) return std::move(done)(s);
  // The two fields the script writes, in the record's wire format.
  pb::CallRecord session_field, owner_field;
  session_field.set_session_id(req.session_id());
  owner_field.set_owner_node(req.node());
  const std::string context = absl::StrCat("BindCall ", uuid);
  client_->EvalSha(
      scripts::BindCall(), {CallKey(uuid)},
      {absl::StrCat(req.node()), Serialize(session_field), Serialize(owner_field)}, options_.request_timeout,
      Replicated(),
      [this, uuid, node = req.node(), context, done = std::move(done)](absl::StatusOr<RedisReply> r) mutable {
        if (!r.ok()) return std::move(done)(WithContext(r.status(), context));
        if (r->is_error()) return std::move(done)(FromErrorReply(*r, context));
        const auto& e = r->elements();
        if (e.size() != 2) {
          return std::move(done)(absl::InternalError(absl::StrCat(context, ": unexpected reply ", r->DebugString())));
        }
        absl::StatusOr<pb::CallRecord> record = ParseCallRecord(e[1]);
        if (!record.ok()) return std::move(done)(WithContext(record.status(), context));
        pb::BindCallResponse resp;
        resp.set_bound(e[0].integer() == 1);
        *resp.mutable_record() = *std::move(record);
        if (!resp.bound()) return std::move(done)(std::move(resp));
        // Listed under the node on every bind that answers bound (the owner's
        // retry lists a call whose first listing failed). The list outlives
        // every call in it: its TTL is the longest a call's can be.
        const std::string list = NodeCallsKey(node);
        client_->ExecuteBatch(
            {{"SADD", list, uuid}, {"PEXPIRE", list, absl::StrCat(kMaxCallTtlMs)}}, options_.request_timeout,
            Replicated(),
            [context, resp = std::move(resp), done = std::move(done)](
                std::vector<absl::StatusOr<RedisReply>> rs) mutable {
              for (const auto& x : rs) {
                if (!x.ok()) return std::move(done)(WithContext(x.status(), context + " (node list)"));
                if (x->is_error()) return std::move(done)(FromErrorReply(*x, context + " (node list)"));
              }
              std::move(done)(std::move(resp));
            });
      });
}

void RedisStore::RecordCallEvent(const pb::RecordCallEventRequest& req, Done<pb::RecordCallEventResponse> done) {
  const std::string& uuid = req.call_uuid();
  if (auto s = ValidateCallId("call_uuid", uuid); !s.ok()) return std::move(done)(s);
  if (req.event().name().empty()) return std::move(done)(absl::InvalidArgumentError("event.name: must not be empty"));
  std::string event = Serialize(req.event());
  if (event.size() > options_.max_entry_bytes) {
    return std::move(done)(absl::InvalidArgumentError(
        absl::StrCat("event: ", event.size(), " bytes, over the limit of ", options_.max_entry_bytes,
                     " (persistence.max-entry-bytes)")));
  }
  client_->EvalSha(scripts::RecordCallEvent(), {CallKey(uuid), CallEventsKey(uuid)},
                   {std::move(event), absl::StrCat(options_.max_call_events)}, options_.request_timeout,
                   Replicated(),
                   Complete<pb::RecordCallEventResponse>(absl::StrCat("RecordCallEvent ", uuid), std::move(done),
                                                         [](const RedisReply& r) {
                                                           pb::RecordCallEventResponse resp;
                                                           resp.set_recorded(ToU64(r));
                                                           return absl::StatusOr<pb::RecordCallEventResponse>(resp);
                                                         }));
}

void RedisStore::ReadCallEvents(const pb::ReadCallEventsRequest& req, Done<pb::ReadCallEventsResponse> done) {
  const std::string& uuid = req.call_uuid();
  if (auto s = ValidateCallId("call_uuid", uuid); !s.ok()) return std::move(done)(s);
  client_->EvalSha(scripts::ReadCallEvents(), {CallKey(uuid), CallEventsKey(uuid)}, {}, options_.request_timeout,
                   Complete<pb::ReadCallEventsResponse>(
                       absl::StrCat("ReadCallEvents ", uuid), std::move(done),
                       [](const RedisReply& r) -> absl::StatusOr<pb::ReadCallEventsResponse> {
                         pb::ReadCallEventsResponse resp;
                         for (const auto& e : r.elements()) {
                           if (!resp.add_events()->ParseFromString(e.str())) {
                             return absl::DataLossError("a recorded event does not parse as orch.event.v1.Event");
                           }
                         }
                         return resp;
                       }));
}

void RedisStore::ListNodeCalls(const pb::ListNodeCallsRequest& req, Done<pb::ListNodeCallsResponse> done) {
  if (auto s = ValidateNode(req.node()); !s.ok()) return std::move(done)(s);
  const std::string cursor = req.cursor().empty() ? "0" : req.cursor();
  if (cursor.size() > 20 || !std::all_of(cursor.begin(), cursor.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::move(done)(absl::InvalidArgumentError("cursor: must be \"\" or a next_cursor of a previous call"));
  }
  if (req.limit() > kMaxCallPage) {
    return std::move(done)(
        absl::InvalidArgumentError(absl::StrCat("limit: ", req.limit(), " is over the most, ", kMaxCallPage)));
  }
  const uint32_t limit = req.limit() == 0 ? kDefaultCallPage : req.limit();
  const int node = req.node();
  const std::string list = NodeCallsKey(node);
  const std::string context = absl::StrCat("ListNodeCalls ", node);
  // The page of uuids, then their records (each in its own slot: one GET
  // each, pipelined), then the removal of the uuids without a record.
  client_->Execute(
      {"SSCAN", list, cursor, "COUNT", absl::StrCat(limit)}, options_.request_timeout,
      [this, node, list, context, done = std::move(done)](absl::StatusOr<RedisReply> r) mutable {
        if (!r.ok()) return std::move(done)(WithContext(r.status(), context));
        if (r->is_error()) return std::move(done)(FromErrorReply(*r, context));
        const auto& e = r->elements();
        if (e.size() != 2) return std::move(done)(absl::InternalError(absl::StrCat(context, ": unexpected SSCAN reply")));
        pb::ListNodeCallsResponse resp;
        if (e[0].str() != "0") resp.set_next_cursor(e[0].str());
        std::vector<std::string> uuids;
        std::vector<std::vector<std::string>> gets;
        for (const auto& id : e[1].elements()) {
          uuids.push_back(id.str());
          gets.push_back({"GET", CallKey(id.str())});
        }
        if (gets.empty()) return std::move(done)(std::move(resp));
        client_->ExecuteBatch(
            std::move(gets), options_.request_timeout,
            [this, node, list, context, uuids = std::move(uuids), resp = std::move(resp),
             done = std::move(done)](std::vector<absl::StatusOr<RedisReply>> replies) mutable {
              std::vector<std::string> srem = {"SREM", list};
              for (size_t i = 0; i < replies.size(); ++i) {
                auto& x = replies[i];
                if (!x.ok()) return std::move(done)(WithContext(x.status(), context));
                if (x->is_error()) return std::move(done)(FromErrorReply(*x, context));
                if (x->is_nil()) {
                  srem.push_back(uuids[i]);  // deleted or expired
                  continue;
                }
                absl::StatusOr<pb::CallRecord> record = ParseCallRecord(*x);
                if (!record.ok()) {
                  return std::move(done)(WithContext(record.status(), absl::StrCat(context, ": call ", uuids[i])));
                }
                // Listed but owned by another node: a uuid claimed again
                // after a delete whose removal from this list failed.
                if (record->owner_node() != node) {
                  srem.push_back(uuids[i]);
                  continue;
                }
                *resp.add_records() = *std::move(record);
              }
              if (srem.size() == 2) return std::move(done)(std::move(resp));
              // Best effort: what is not removed now is skipped and removed
              // by a later listing.
              client_->Execute(std::move(srem), options_.request_timeout,
                               [resp = std::move(resp), done = std::move(done)](absl::StatusOr<RedisReply>) mutable {
                                 std::move(done)(std::move(resp));
                               });
            });
      });
}

}  // namespace orch::persistence_proxy
