// RedisStore's schedule operations: entries in buckets (add, cancel,
// reschedule, read, list) and their claims (claim due, acknowledge, many at
// once), for the scheduler. The session side is in redis_store.cc;
// README.md has the keys and scripts.

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/persistence_proxy/redis_store.h"
#include "services/persistence_proxy/redis_store_internal.h"
#include "services/persistence_proxy/scripts.h"

namespace orch::persistence_proxy {

using redis::RedisReply;
using redis_store_internal::Complete;
using redis_store_internal::kMaxIdBytes;
using redis_store_internal::NowMs;
using redis_store_internal::ScoreMs;
using redis_store_internal::ToU64;
using redis_store_internal::ValidateKeyPart;

namespace {

absl::Status ValidateScheduleId(const std::string& id) {
  if (id.empty()) return absl::InvalidArgumentError("id: must not be empty");
  if (id.size() > kMaxIdBytes) return absl::InvalidArgumentError(absl::StrCat("id: longer than ", kMaxIdBytes));
  return absl::OkStatus();
}

}  // namespace

void RedisStore::AddSchedule(const pb::AddScheduleRequest& req, Done<pb::AddScheduleResponse> done) {
  const pb::ScheduleEntry& e = req.entry();
  if (auto s = ValidateKeyPart("entry.bucket", e.bucket()); !s.ok()) return std::move(done)(s);
  if (auto s = ValidateScheduleId(e.id()); !s.ok()) return std::move(done)(s);
  if (e.payload().size() > options_.max_payload_bytes) {
    return std::move(done)(absl::InvalidArgumentError(
        absl::StrCat("entry.payload: ", e.payload().size(), " bytes, over the limit of ",
                     options_.max_payload_bytes)));
  }
  const int64_t now = NowMs();
  const uint32_t claim = req.claim_timeout_ms();
  client_->EvalSha(scripts::AddSchedule(), {ScheduleKey(e.bucket()), ScheduleDataKey(e.bucket())},
                   {e.id(), absl::StrCat(e.due_unix_ms()), e.payload(), absl::StrCat(now), absl::StrCat(TtlMs()),
                    absl::StrCat(claim)},
                   options_.request_timeout, Replicated(),
                   Complete<pb::AddScheduleResponse>(absl::StrCat("AddSchedule ", e.bucket(), "/", e.id()),
                                                     std::move(done), [now, claim](const RedisReply& r) {
                                                       pb::AddScheduleResponse resp;
                                                       if (claim > 0) resp.set_claim_token(ToU64(r));
                                                       resp.set_now_unix_ms(now);
                                                       return absl::StatusOr<pb::AddScheduleResponse>(resp);
                                                     }));
}

void RedisStore::CancelSchedule(const pb::CancelScheduleRequest& req,
                                Done<pb::CancelScheduleResponse> done) {
  if (auto s = ValidateKeyPart("bucket", req.bucket()); !s.ok()) return std::move(done)(s);
  if (auto s = ValidateScheduleId(req.id()); !s.ok()) return std::move(done)(s);
  client_->EvalSha(scripts::CancelSchedule(), {ScheduleKey(req.bucket()), ScheduleDataKey(req.bucket())},
                   {req.id(), absl::StrCat(NowMs()), absl::StrCat(TtlMs())}, options_.request_timeout,
                   Replicated(),
                   Complete<pb::CancelScheduleResponse>(
                       absl::StrCat("CancelSchedule ", req.bucket(), "/", req.id()), std::move(done),
                       [](const RedisReply& r) {
                         pb::CancelScheduleResponse resp;
                         resp.set_removed(r.integer() == 1);
                         return absl::StatusOr<pb::CancelScheduleResponse>(resp);
                       }));
}

void RedisStore::Reschedule(const pb::RescheduleRequest& req, Done<pb::RescheduleResponse> done) {
  if (auto s = ValidateKeyPart("bucket", req.bucket()); !s.ok()) return std::move(done)(s);
  if (auto s = ValidateScheduleId(req.id()); !s.ok()) return std::move(done)(s);
  client_->EvalSha(scripts::Reschedule(), {ScheduleKey(req.bucket()), ScheduleDataKey(req.bucket())},
                   {req.id(), absl::StrCat(req.due_unix_ms()), absl::StrCat(NowMs()), absl::StrCat(TtlMs())},
                   options_.request_timeout, Replicated(),
                   Complete<pb::RescheduleResponse>(absl::StrCat("Reschedule ", req.bucket(), "/", req.id()),
                                                    std::move(done), [](const RedisReply&) {
                                                      return absl::StatusOr<pb::RescheduleResponse>(
                                                          pb::RescheduleResponse());
                                                    }));
}

void RedisStore::ClaimDue(const pb::ClaimDueRequest& req, Done<pb::ClaimDueResponse> done) {
  if (auto s = ValidateKeyPart("bucket", req.bucket()); !s.ok()) return std::move(done)(s);
  if (req.claim_timeout_ms() == 0) {
    return std::move(done)(absl::InvalidArgumentError("claim_timeout_ms: must be > 0"));
  }
  const uint32_t max = req.max_entries() == 0 ? 100 : std::min<uint32_t>(req.max_entries(), 1000);
  const int64_t now = req.now_unix_ms() == 0 ? NowMs() : req.now_unix_ms();
  std::string bucket = req.bucket();
  client_->EvalSha(scripts::ClaimDue(), {ScheduleKey(bucket), ScheduleDataKey(bucket)},
                   {absl::StrCat(now), absl::StrCat(max), absl::StrCat(req.claim_timeout_ms()),
                    absl::StrCat(TtlMs()), absl::StrCat(req.horizon_ms())},
                   options_.request_timeout, Replicated(),
                   Complete<pb::ClaimDueResponse>(
                       absl::StrCat("ClaimDue ", bucket), std::move(done),
                       [bucket, now](const RedisReply& r) -> absl::StatusOr<pb::ClaimDueResponse> {
                         const auto& e = r.elements();
                         pb::ClaimDueResponse resp;
                         resp.set_now_unix_ms(now);
                         for (size_t i = 0; i + 3 < e.size(); i += 4) {
                           pb::ScheduleEntry* out = resp.add_entries();
                           out->set_bucket(bucket);
                           out->set_id(e[i].str());
                           out->set_due_unix_ms(ScoreMs(e[i + 1].str()));
                           out->set_payload(e[i + 2].str());
                           out->set_claim_token(ToU64(e[i + 3]));
                         }
                         if (e.size() % 4 == 1) resp.set_pending(ToU64(e.back()));
                         return resp;
                       }));
}

void RedisStore::AckSchedule(const pb::AckScheduleRequest& req, Done<pb::AckScheduleResponse> done) {
  if (auto s = ValidateKeyPart("bucket", req.bucket()); !s.ok()) return std::move(done)(s);
  if (auto s = ValidateScheduleId(req.id()); !s.ok()) return std::move(done)(s);
  client_->EvalSha(scripts::AckSchedule(), {ScheduleKey(req.bucket()), ScheduleDataKey(req.bucket())},
                   {req.id(), absl::StrCat(req.claim_token())}, options_.request_timeout,
                   Replicated(),
                   Complete<pb::AckScheduleResponse>(
                       absl::StrCat("AckSchedule ", req.bucket(), "/", req.id()), std::move(done),
                       [](const RedisReply& r) {
                         pb::AckScheduleResponse resp;
                         resp.set_removed(r.integer() == 1);
                         return absl::StatusOr<pb::AckScheduleResponse>(resp);
                       }));
}

void RedisStore::AckSchedules(const pb::AckSchedulesRequest& req, Done<pb::AckSchedulesResponse> done) {
  if (auto s = ValidateKeyPart("bucket", req.bucket()); !s.ok()) return std::move(done)(s);
  if (req.ids_size() != req.claim_tokens_size()) {
    return std::move(done)(absl::InvalidArgumentError("claim_tokens: one per id"));
  }
  if (req.ids_size() == 0 || req.ids_size() > 1000) {
    return std::move(done)(absl::InvalidArgumentError("ids: 1..1000 per call"));
  }
  std::vector<std::string> args;
  args.reserve(2 * req.ids_size());
  for (int i = 0; i < req.ids_size(); ++i) {
    if (auto s = ValidateScheduleId(req.ids(i)); !s.ok()) return std::move(done)(s);
    args.push_back(req.ids(i));
    args.push_back(absl::StrCat(req.claim_tokens(i)));
  }
  client_->EvalSha(scripts::AckSchedules(), {ScheduleKey(req.bucket()), ScheduleDataKey(req.bucket())},
                   std::move(args), options_.request_timeout, Replicated(),
                   Complete<pb::AckSchedulesResponse>(absl::StrCat("AckSchedules ", req.bucket()), std::move(done),
                                                      [](const RedisReply& r) {
                                                        pb::AckSchedulesResponse resp;
                                                        resp.set_removed(static_cast<uint32_t>(ToU64(r)));
                                                        return absl::StatusOr<pb::AckSchedulesResponse>(resp);
                                                      }));
}

void RedisStore::GetSchedule(const pb::GetScheduleRequest& req, Done<pb::GetScheduleResponse> done) {
  if (auto s = ValidateKeyPart("bucket", req.bucket()); !s.ok()) return std::move(done)(s);
  if (auto s = ValidateScheduleId(req.id()); !s.ok()) return std::move(done)(s);
  std::string bucket = req.bucket();
  std::string id = req.id();
  client_->EvalSha(scripts::GetSchedule(), {ScheduleKey(bucket), ScheduleDataKey(bucket)}, {id},
                   options_.request_timeout,
                   Complete<pb::GetScheduleResponse>(
                       absl::StrCat("GetSchedule ", bucket, "/", id), std::move(done),
                       [bucket, id](const RedisReply& r) -> absl::StatusOr<pb::GetScheduleResponse> {
                         const auto& e = r.elements();
                         if (e.size() != 4) return absl::InternalError("GetSchedule: a malformed reply");
                         pb::GetScheduleResponse resp;
                         pb::ScheduleEntry* out = resp.mutable_entry();
                         out->set_bucket(bucket);
                         out->set_id(id);
                         out->set_next_unix_ms(ScoreMs(e[0].str()));
                         out->set_due_unix_ms(ScoreMs(e[1].str()));
                         out->set_payload(e[2].str());
                         out->set_claims(ToU64(e[3]));
                         return resp;
                       }));
}

void RedisStore::ListSchedules(const pb::ListSchedulesRequest& req, Done<pb::ListSchedulesResponse> done) {
  if (auto s = ValidateKeyPart("bucket", req.bucket()); !s.ok()) return std::move(done)(s);
  if (!req.after_id().empty()) {
    if (auto s = ValidateScheduleId(req.after_id()); !s.ok()) {
      return std::move(done)(absl::InvalidArgumentError(absl::StrCat("after_", s.message())));
    }
  }
  if (req.until_unix_ms() != 0 && req.until_unix_ms() <= req.from_unix_ms()) {
    return std::move(done)(absl::InvalidArgumentError("until_unix_ms: must be after from_unix_ms (or 0)"));
  }
  const uint32_t max = req.max_entries() == 0 ? 100 : std::min<uint32_t>(req.max_entries(), 1000);
  std::string bucket = req.bucket();
  client_->EvalSha(scripts::ListSchedules(), {ScheduleKey(bucket), ScheduleDataKey(bucket)},
                   {absl::StrCat(req.from_unix_ms()), req.after_id(),
                    req.until_unix_ms() == 0 ? std::string("+inf") : absl::StrCat("(", req.until_unix_ms()),
                    absl::StrCat(max)},
                   options_.request_timeout,
                   Complete<pb::ListSchedulesResponse>(
                       absl::StrCat("ListSchedules ", bucket), std::move(done),
                       [bucket](const RedisReply& r) -> absl::StatusOr<pb::ListSchedulesResponse> {
                         const auto& e = r.elements();
                         if (e.empty()) return absl::InternalError("ListSchedules: a malformed reply");
                         pb::ListSchedulesResponse resp;
                         resp.set_more(e[0].integer() == 1);
                         for (size_t i = 1; i + 4 < e.size(); i += 5) {
                           pb::ScheduleEntry* out = resp.add_entries();
                           out->set_bucket(bucket);
                           out->set_id(e[i].str());
                           out->set_next_unix_ms(ScoreMs(e[i + 1].str()));
                           out->set_due_unix_ms(ScoreMs(e[i + 2].str()));
                           out->set_payload(e[i + 3].str());
                           out->set_claims(ToU64(e[i + 4]));
                         }
                         return resp;
                       }));
}

}  // namespace orch::persistence_proxy
