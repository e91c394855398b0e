#include "services/persistence_proxy/redis_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/timestamp.pb.h"
#include "common/base/sha256.h"
#include "common/redis/cluster_slots.h"
#include "common/sessionapi/session_id.h"
#include "services/persistence_proxy/redis_store_internal.h"
#include "services/persistence_proxy/scripts.h"

namespace orch::persistence_proxy {
namespace {

using redis::RedisReply;
using LogEntry = ::orch::event::v1::LogEntry;

using redis_store_internal::Complete;
using redis_store_internal::FromErrorReply;
using redis_store_internal::kMaxIdBytes;
using redis_store_internal::NowMs;
using redis_store_internal::Serialize;
using redis_store_internal::ScoreMs;
using redis_store_internal::ToU64;
using redis_store_internal::ValidateKeyPart;
using redis_store_internal::WithContext;

// A session's keys, in the order the session scripts take them (KEYS).
constexpr const char* kSessionKeySuffixes[] = {"meta", "log", "snap", "head"};

absl::Status ValidateSha256(const char* field, const std::string& v) {
  if (v.size() != 64 || !std::all_of(v.begin(), v.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      })) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": must be 64 lowercase hex digits"));
  }
  return absl::OkStatus();
}


absl::Status ParseEntries(const std::vector<RedisReply>& e, size_t from,
                          google::protobuf::RepeatedPtrField<LogEntry>* out) {
  for (size_t i = from; i < e.size(); ++i) {
    if (!out->Add()->ParseFromString(e[i].str())) {
      return absl::DataLossError("a stored log entry does not parse as orch.event.v1.LogEntry");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateTtl(const char* field, uint32_t ttl_ms) {
  if (ttl_ms == 0 || ttl_ms > 3600 * 1000) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": must be 1..3600000 ms"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string EntryDigest(const LogEntry& entry) {
  LogEntry copy = entry;
  copy.clear_append_time();
  const Sha256Digest digest = Sha256(Serialize(copy));
  return std::string(reinterpret_cast<const char*>(digest.data()), 8);
}

namespace {

void AppendVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// Appends `m` as field `field` (length-delimited), deterministically.
void AppendMessageField(std::string* out, int field, const google::protobuf::MessageLite& m) {
  AppendVarint(out, (static_cast<uint64_t>(field) << 3) | 2);
  AppendVarint(out, m.ByteSizeLong());
  google::protobuf::io::StringOutputStream sos(out);  // appends
  google::protobuf::io::CodedOutputStream cos(&sos);
  cos.SetSerializationDeterministic(true);
  m.SerializeWithCachedSizes(&cos);
}

// The deterministic serialization of `entry` with `epoch` and without
// append_time, written field by field (no copy of the entry): seq (1),
// epoch (3), the kind (4, 5, 6 or 7). Entries with unknown fields take the
// library's way.
std::string SerializeWithoutTime(const LogEntry& entry, uint64_t epoch) {
  if (!entry.GetReflection()->GetUnknownFields(entry).empty()) {
    LogEntry plain = entry;
    plain.set_epoch(epoch);
    plain.clear_append_time();
    return Serialize(plain);
  }
  std::string out;
  out.reserve(entry.ByteSizeLong() + 16);
  if (entry.seq() != 0) {
    out.push_back(static_cast<char>((1 << 3) | 0));
    AppendVarint(&out, entry.seq());
  }
  if (epoch != 0) {
    out.push_back(static_cast<char>((3 << 3) | 0));
    AppendVarint(&out, epoch);
  }
  switch (entry.kind_case()) {
    case LogEntry::kEvent:
      AppendMessageField(&out, LogEntry::kEventFieldNumber, entry.event());
      break;
    case LogEntry::kStarted:
      AppendMessageField(&out, LogEntry::kStartedFieldNumber, entry.started());
      break;
    case LogEntry::kTerminated:
      AppendMessageField(&out, LogEntry::kTerminatedFieldNumber, entry.terminated());
      break;
    case LogEntry::kClock:
      AppendMessageField(&out, LogEntry::kClockFieldNumber, entry.clock());
      break;
    case LogEntry::KIND_NOT_SET:
      break;
  }
  return out;
}

}  // namespace

EncodedEntry EncodeEntry(const LogEntry& entry, uint64_t epoch, absl::Time now) {
  google::protobuf::Timestamp at;
  if (entry.has_append_time()) {
    at = entry.append_time();
  } else {
    const int64_t us = absl::ToUnixMicros(now);
    at.set_seconds(us / 1000000);
    at.set_nanos(static_cast<int32_t>(us % 1000000) * 1000);
  }
  EncodedEntry out;
  const std::string bytes = SerializeWithoutTime(entry, epoch);
  const Sha256Digest digest = Sha256(bytes);
  out.digest.assign(reinterpret_cast<const char*>(digest.data()), 8);
  // Fields are serialized in field-number order: seq (1), then append_time
  // (2), then the rest. So the entry with its append_time is the entry
  // without it with the timestamp's field spliced in after seq (the same
  // bytes as serializing it; redis_store_test checks this).
  const std::string ts = Serialize(at);
  const size_t seq_len =
      entry.seq() == 0 ? 0 : 1 + google::protobuf::io::CodedOutputStream::VarintSize64(entry.seq());
  out.bytes.reserve(bytes.size() + ts.size() + 6);
  out.bytes.append(bytes, 0, seq_len);
  out.bytes.push_back(static_cast<char>((2 << 3) | 2));  // field 2, length-delimited
  AppendVarint(&out.bytes, ts.size());
  out.bytes += ts;
  out.bytes.append(bytes, seq_len, std::string::npos);
  return out;
}

RedisStore::RedisStore(std::shared_ptr<redis::RedisClient> client, StoreOptions options)
    : client_(std::move(client)),
      options_(std::move(options)),
      prefix_(absl::StrCat("ORS:", options_.cluster_name, ":")),
      ack_replicas_(options_.ack_replicas) {}

int64_t HeadX(int64_t now_ms, int64_t ttl_ms) {
  const int64_t bucket = std::clamp<int64_t>(ttl_ms / 100, 1, 3600 * 1000);
  return now_ms - now_ms % bucket + ttl_ms;
}

int64_t RedisStore::TtlMs() const { return absl::ToInt64Milliseconds(options_.max_lifetime); }

redis::ReplicaWait RedisStore::Replicated() const {
  return {.replicas = ack_replicas(), .timeout = options_.ack_timeout};
}

std::string RedisStore::SessionKey(const std::string& sid, const char* suffix) const {
  return absl::StrCat(prefix_, "{", sid, "}:", suffix);
}
std::vector<std::string> RedisStore::SessionKeys(const std::string& sid) const {
  std::vector<std::string> keys;
  for (const char* suffix : kSessionKeySuffixes) keys.push_back(SessionKey(sid, suffix));
  return keys;
}
std::string RedisStore::NodeSessionsKey(const std::string& node) const {
  return absl::StrCat(prefix_, "node:", node, ":sessions");
}
std::string RedisStore::DocumentKey(const std::string& sha256) const {
  return absl::StrCat(prefix_, "doc:", sha256);
}
std::string RedisStore::LeaseKey(const std::string& name) const {
  return absl::StrCat(prefix_, "lease:{", name, "}");
}
std::string RedisStore::LeaseEpochKey(const std::string& name) const {
  return absl::StrCat(prefix_, "lease:{", name, "}:epoch");
}
std::string RedisStore::ScheduleKey(const std::string& bucket) const {
  return absl::StrCat(prefix_, "sched:{", bucket, "}");
}
std::string RedisStore::ScheduleDataKey(const std::string& bucket) const {
  return absl::StrCat(prefix_, "sched:{", bucket, "}:data");
}

// ---------------------------------------------------------------- sessions

bool RedisStore::PrepareAppend(const pb::AppendEventsRequest& req, Done<pb::AppendEventsResponse>& done,
                               PendingAppend* p, int* slot, std::string* create_node) {
  auto fail = [&done](absl::Status s) {
    std::move(done)(std::move(s));
    return false;
  };
  const std::string& sid = req.session_id();
  if (auto s = ValidateKeyPart("session_id", sid); !s.ok()) return fail(s);
  if (req.entries().empty()) return fail(absl::InvalidArgumentError("entries: must not be empty"));
  if (static_cast<size_t>(req.entries_size()) > options_.max_batch_entries) {
    return fail(absl::InvalidArgumentError(
        absl::StrCat("entries: ", req.entries_size(), " entries, over the limit of ",
                     options_.max_batch_entries, " (persistence.max-batch-entries)")));
  }
  const uint64_t first = req.entries(0).seq();
  if (first == 0) return fail(absl::InvalidArgumentError("entries[0].seq: must be >= 1"));
  std::string node;
  std::string doc = req.document_sha256();
  if (first == 1) {
    if (!req.node().empty()) {
      node = req.node();
    } else if (absl::StatusOr<int> n = sessionapi::NodeOfSessionId(sid); n.ok()) {
      node = absl::StrCat(*n);
    } else {
      return fail(absl::InvalidArgumentError(absl::StrCat(
          "node: required to create a session whose id does not name one (", n.status().message(), ")")));
    }
    if (auto s = ValidateKeyPart("node", node, /*allow_colon=*/false); !s.ok()) return fail(s);
    if (doc.empty() && req.entries(0).has_started()) doc = req.entries(0).started().document_sha256();
  }
  // The script's arguments, encoded once here (on the caller's thread): the
  // call that carries this append only joins the pieces.
  size_t size = 64 + node.size() + doc.size();
  for (const auto& e : req.entries()) size += e.ByteSizeLong() + 48;
  p->args.reserve(size);
  redis::CommandWriter w(&p->args);
  w.Add(req.epoch());
  w.Add(first);
  w.Add(static_cast<uint64_t>(req.entries_size()));
  w.Add(first - 1);  // lets the script check the common case on strings
  p->nargs = 4 + 2 * static_cast<size_t>(req.entries_size());
  if (first == 1) {  // only a creation needs them (the script's contract)
    w.Add(node);
    w.Add(doc);
    p->nargs += 2;
  }
  p->entries = static_cast<size_t>(req.entries_size());
  const absl::Time now = absl::Now();
  for (int i = 0; i < req.entries_size(); ++i) {
    const LogEntry& in = req.entries(i);
    if (in.seq() != first + static_cast<uint64_t>(i)) {
      return fail(absl::InvalidArgumentError(absl::StrCat(
          "entries[", i, "].seq: ", in.seq(), " does not follow ", first + i - 1, " (seqs must be consecutive)")));
    }
    if (in.epoch() != 0 && in.epoch() != req.epoch()) {
      return fail(absl::InvalidArgumentError(absl::StrCat(
          "entries[", i, "].epoch: ", in.epoch(), " differs from the request's epoch ", req.epoch())));
    }
    if (in.kind_case() == LogEntry::KIND_NOT_SET) {
      return fail(absl::InvalidArgumentError(
          absl::StrCat("entries[", i, "]: has no event, started or terminated")));
    }
    EncodedEntry e = EncodeEntry(in, req.epoch(), now);
    if (e.bytes.size() > options_.max_entry_bytes) {
      return fail(absl::InvalidArgumentError(
          absl::StrCat("entries[", i, "]: ", e.bytes.size(), " bytes, over the limit of ",
                       options_.max_entry_bytes, " (persistence.max-entry-bytes)")));
    }
    w.Add(e.bytes);
    w.Add(e.digest);
  }
  p->deadline = now + options_.request_timeout;
  // The four keys (SessionKeys) through one buffer: no string per key.
  std::string key = SessionKey(sid, "");
  const size_t base = key.size();
  *slot = client_->is_cluster() ? redis::KeySlot(key) : -1;  // the hash tag decides
  p->keys.reserve(4 * (base + 16));
  redis::CommandWriter kw(&p->keys);
  for (const char* suffix : kSessionKeySuffixes) {
    key.resize(base);
    key += suffix;
    kw.Add(key);
  }
  p->session_id = sid;
  p->done = std::move(done);
  if (first == 1) *create_node = std::move(node);
  return true;
}

void RedisStore::AppendEvents(const pb::AppendEventsRequest& req, Done<pb::AppendEventsResponse> done) {
  PendingAppend p;
  int slot = -1;
  std::string node;
  if (!PrepareAppend(req, done, &p, &slot, &node)) return;
  if (!node.empty()) return RegisterAndEnqueue(slot, std::move(node), std::move(p));
  std::vector<PendingAppend> ps;
  ps.push_back(std::move(p));
  EnqueueAppends(slot, std::move(ps));
}

void RedisStore::AppendEventsMany(std::vector<AppendItem> items) {
  // Grouped by slot (standalone: one group), each group enqueued at once so
  // they share calls.
  std::unordered_map<int, std::vector<PendingAppend>> groups;
  for (auto& [req, done] : items) {
    PendingAppend p;
    int slot = -1;
    std::string node;
    if (!PrepareAppend(*req, done, &p, &slot, &node)) continue;
    if (!node.empty()) {
      RegisterAndEnqueue(slot, std::move(node), std::move(p));
    } else {
      groups[slot].push_back(std::move(p));
    }
  }
  for (auto& [slot, ps] : groups) EnqueueAppends(slot, std::move(ps));
}

void RedisStore::RegisterAndEnqueue(int slot, std::string node, PendingAppend p) {
  // Creation: register the session with its node first, so a stored session
  // is always listed (a failed append may leave a listed id without keys).
  const std::string reg = NodeSessionsKey(node);
  std::vector<std::vector<std::string>> cmds = {{"SADD", reg, p.session_id},
                                                {"PEXPIRE", reg, absl::StrCat(TtlMs())}};
  client_->ExecuteBatch(
      std::move(cmds), options_.request_timeout, Replicated(),
      [this, slot, p = std::move(p)](std::vector<absl::StatusOr<RedisReply>> rs) mutable {
        const std::string context = absl::StrCat("AppendEvents ", p.session_id, " (registry)");
        for (const auto& r : rs) {
          if (!r.ok()) return std::move(p.done)(WithContext(r.status(), context));
          if (r->is_error()) return std::move(p.done)(FromErrorReply(*r, context));
        }
        std::vector<PendingAppend> ps;
        ps.push_back(std::move(p));
        EnqueueAppends(slot, std::move(ps));
      });
}

void RedisStore::EnqueueAppends(int slot, std::vector<PendingAppend> ps) {
  std::vector<AppendBatch> batches;
  AppendBatch expired;
  {
    std::lock_guard<std::mutex> l(append_mu_);
    AppendGroup& g = append_groups_[slot];
    for (auto& p : ps) g.pending.push_back(std::move(p));
    for (;;) {
      AppendBatch b = TakeAppendsLocked(g, &expired);
      if (b.empty()) break;
      batches.push_back(std::move(b));
    }
    if (g.in_flight == 0 && g.pending.empty()) append_groups_.erase(slot);
  }
  for (auto& e : expired) {
    std::move(e.done)(absl::UnavailableError(absl::StrCat(
        "AppendEvents ", e.session_id, ": not sent to Redis within ",
        absl::FormatDuration(options_.request_timeout), " (earlier appends of its slot still pending)")));
  }
  for (auto& b : batches) SendAppends(slot, std::move(b));
}

RedisStore::AppendBatch RedisStore::TakeAppendsLocked(AppendGroup& g, AppendBatch* expired) {
  AppendBatch batch;
  if (g.in_flight >= std::max(1, options_.append_calls_in_flight)) return batch;
  const absl::Time now = absl::Now();
  size_t entries = 0, bytes = 0;
  while (!g.pending.empty()) {
    PendingAppend& p = g.pending.front();
    if (p.deadline <= now) {
      expired->push_back(std::move(p));
      g.pending.pop_front();
      continue;
    }
    const size_t size = p.keys.size() + p.args.size();
    if (!batch.empty() && (entries + p.entries > options_.append_call_entries ||
                           bytes + size > options_.append_call_bytes)) {
      break;
    }
    entries += p.entries;
    bytes += size;
    batch.push_back(std::move(p));
    g.pending.pop_front();
  }
  if (!batch.empty()) ++g.in_flight;
  return batch;
}

void RedisStore::SendAppends(int slot, AppendBatch batch) {
  size_t nargs = 0, size = 64;
  absl::Time deadline = absl::InfiniteFuture();
  for (const auto& p : batch) {
    nargs += 4 + p.nargs;
    size += p.keys.size() + p.args.size();
    deadline = std::min(deadline, p.deadline);
  }
  std::string wire = redis::RedisClient::BeginEvalSha(scripts::Append(), 4 * batch.size(), nargs + 2);
  wire.reserve(wire.size() + size);
  for (const auto& p : batch) wire += p.keys;
  {
    redis::CommandWriter w(&wire);
    w.Add(static_cast<uint64_t>(TtlMs()));
    w.Add(static_cast<uint64_t>(HeadX(NowMs(), TtlMs())));
  }
  for (const auto& p : batch) wire += p.args;
  const absl::Duration timeout = std::max(absl::Milliseconds(1), deadline - absl::Now());
  client_->EvalShaWire(scripts::Append(), std::move(wire), slot, timeout, Replicated(),
                       [this, slot, batch = std::move(batch)](absl::StatusOr<RedisReply> r) mutable {
                         OnAppendsDone(slot, std::move(batch), std::move(r));
                       });
}

void RedisStore::OnAppendsDone(int slot, AppendBatch batch, absl::StatusOr<RedisReply> r) {
  // Start the next call before finishing these (Redis works meanwhile).
  AppendBatch next, expired;
  {
    std::lock_guard<std::mutex> l(append_mu_);
    auto it = append_groups_.find(slot);
    AppendGroup& g = it->second;
    --g.in_flight;
    next = TakeAppendsLocked(g, &expired);
    if (g.in_flight == 0 && g.pending.empty()) append_groups_.erase(it);
  }
  if (!next.empty()) SendAppends(slot, std::move(next));
  for (auto& e : expired) {
    std::move(e.done)(absl::UnavailableError(absl::StrCat(
        "AppendEvents ", e.session_id, ": not sent to Redis within ",
        absl::FormatDuration(options_.request_timeout), " (earlier appends of its slot still pending)")));
  }
  // One burst: a consumer (AppendEventsBatchStream) writes one message for
  // all of this call's results instead of one per result.
  CallbackBurst burst;
  const bool per_append = r.ok() && r->is_array() && r->elements().size() == batch.size();
  for (size_t i = 0; i < batch.size(); ++i) {
    PendingAppend& p = batch[i];
    auto context = [&] { return absl::StrCat("AppendEvents ", p.session_id); };
    if (!r.ok()) {
      std::move(p.done)(WithContext(r.status(), context()));
    } else if (!per_append) {
      std::move(p.done)(r->is_error() ? FromErrorReply(*r, context())
                                      : absl::InternalError(absl::StrCat(
                                            context(), ": unexpected reply ", r->DebugString())));
    } else if (const RedisReply& e = r->elements()[i]; e.is_error()) {
      std::move(p.done)(FromErrorReply(e, context()));
    } else {
      pb::AppendEventsResponse resp;
      resp.set_last_seq(ToU64(e));
      std::move(p.done)(std::move(resp));
    }
  }
}

void RedisStore::ReadLogPage(const pb::ReadLogRequest& req, uint32_t max_entries,
                             Done<pb::ReadLogResponse> done) {
  const std::string& sid = req.session_id();
  if (auto s = ValidateKeyPart("session_id", sid); !s.ok()) return std::move(done)(s);
  client_->EvalSha(
      scripts::ReadLog(), {SessionKey(sid, "meta"), SessionKey(sid, "log"), SessionKey(sid, "head")},
      {absl::StrCat(req.after_seq()), absl::StrCat(std::max<uint32_t>(1, max_entries))},
      options_.request_timeout,
      Complete<pb::ReadLogResponse>(absl::StrCat("ReadLog ", sid), std::move(done),
                                    [](const RedisReply& r) -> absl::StatusOr<pb::ReadLogResponse> {
                                      pb::ReadLogResponse resp;
                                      if (auto s = ParseEntries(r.elements(), 2, resp.mutable_entries());
                                          !s.ok()) {
                                        return s;
                                      }
                                      return resp;
                                    }));
}

namespace {

// LoadSession when the log after the snapshot is longer than one script's
// page: the rest is read page by page (entries are immutable; a concurrent
// trim shows as ABORTED, and the caller loads again).
struct LoadContinuation : std::enable_shared_from_this<LoadContinuation> {
  Store* store;
  uint32_t page;
  pb::LoadSessionResponse resp;
  Done<pb::LoadSessionResponse> done;

  void Next() {
    pb::ReadLogRequest req;
    req.set_session_id(session_id);
    req.set_after_seq(resp.entries(resp.entries_size() - 1).seq());
    store->ReadLogPage(req, page, [self = shared_from_this()](absl::StatusOr<pb::ReadLogResponse> r) {
      if (!r.ok()) {
        if (r.status().code() == absl::StatusCode::kOutOfRange) {
          return std::move(self->done)(absl::AbortedError(
              absl::StrCat("LoadSession ", self->session_id, ": the log was trimmed while loading; load again")));
        }
        return std::move(self->done)(r.status());
      }
      const bool more = static_cast<uint32_t>(r->entries_size()) >= self->page;
      for (auto& e : *r->mutable_entries()) *self->resp.add_entries() = std::move(e);
      if (more) return self->Next();
      std::move(self->done)(std::move(self->resp));
    });
  }
  std::string session_id;
};

}  // namespace

void RedisStore::LoadSession(const pb::LoadSessionRequest& req, Done<pb::LoadSessionResponse> done) {
  const std::string& sid = req.session_id();
  if (auto s = ValidateKeyPart("session_id", sid); !s.ok()) return std::move(done)(s);
  const uint32_t page = std::max<uint32_t>(1, options_.load_page_entries);
  client_->EvalSha(
      scripts::Load(), SessionKeys(sid),
      {absl::StrCat(page), absl::StrCat(TtlMs())}, options_.request_timeout,
      Complete<pb::LoadSessionResponse>(
          absl::StrCat("LoadSession ", sid),
          [this, sid, page, done = std::move(done)](absl::StatusOr<pb::LoadSessionResponse> r) mutable {
            if (!r.ok() || static_cast<uint32_t>(r->entries_size()) < page) {
              return std::move(done)(std::move(r));
            }
            auto c = std::make_shared<LoadContinuation>();
            c->store = this;
            c->page = page;
            c->resp = std::move(*r);
            c->done = std::move(done);
            c->session_id = sid;
            c->Next();
          },
          [](const RedisReply& r) -> absl::StatusOr<pb::LoadSessionResponse> {
            const auto& e = r.elements();
            if (e.size() < 7) return absl::InternalError("LoadSession: short reply from the script");
            pb::LoadSessionResponse resp;
            pb::SessionMeta* meta = resp.mutable_meta();
            meta->set_node(e[0].str());
            meta->set_epoch(ToU64(e[1]));
            meta->set_last_seq(ToU64(e[2]));
            meta->set_document_sha256(e[3].str());
            meta->set_state(e[4].str());
            meta->set_snapshot_covers_seq(ToU64(e[5]));
            resp.set_snapshot_covers_seq(meta->snapshot_covers_seq());
            resp.set_snapshot(e[6].str());
            if (auto s = ParseEntries(e, 7, resp.mutable_entries()); !s.ok()) return s;
            return resp;
          }));
}

void RedisStore::PutSnapshot(const pb::PutSnapshotRequest& req, Done<pb::PutSnapshotResponse> done) {
  const std::string& sid = req.session_id();
  if (auto s = ValidateKeyPart("session_id", sid); !s.ok()) return std::move(done)(s);
  if (req.snapshot().size() > options_.max_snapshot_bytes) {
    return std::move(done)(absl::InvalidArgumentError(
        absl::StrCat("snapshot: ", req.snapshot().size(), " bytes, over the limit of ",
                     options_.max_snapshot_bytes, " (persistence.max-snapshot-bytes)")));
  }
  const std::string context = absl::StrCat("PutSnapshot ", sid);
  client_->EvalSha(
      scripts::PutSnapshot(), SessionKeys(sid),
      {absl::StrCat(req.epoch()), absl::StrCat(req.covers_seq()), req.snapshot(), absl::StrCat(TtlMs())},
      options_.request_timeout, Replicated(),
      [this, context, done = std::move(done)](absl::StatusOr<RedisReply> r) mutable {
        if (!r.ok()) return std::move(done)(WithContext(r.status(), context));
        if (r->is_error()) return std::move(done)(FromErrorReply(*r, context));
        // Snapshots are the periodic sign of life of an active session: keep
        // its node's registry set and its document alive as long as it (they
        // live in other slots, so not in the script; best effort).
        const auto& e = r->elements();
        std::vector<std::vector<std::string>> refresh;
        if (e.size() == 3 && !e[1].str().empty()) {
          refresh.push_back({"PEXPIRE", NodeSessionsKey(e[1].str()), absl::StrCat(TtlMs())});
        }
        if (e.size() == 3 && !e[2].str().empty()) {
          refresh.push_back({"PEXPIRE", DocumentKey(e[2].str()), absl::StrCat(TtlMs())});
        }
        if (!refresh.empty()) {
          client_->ExecuteBatch(std::move(refresh), options_.request_timeout,
                                [](std::vector<absl::StatusOr<RedisReply>>) {});
        }
        std::move(done)(pb::PutSnapshotResponse());
      });
}

void RedisStore::DeleteSession(const pb::DeleteSessionRequest& req, Done<pb::DeleteSessionResponse> done) {
  const std::string sid = req.session_id();
  if (auto s = ValidateKeyPart("session_id", sid); !s.ok()) return std::move(done)(s);
  const std::string context = absl::StrCat("DeleteSession ", sid);
  // The keys first, then the registry entry: a failure in between leaves a
  // listed id without keys (harmless: GetSessionMeta says NOT_FOUND), never a
  // session nobody lists.
  client_->EvalSha(
      scripts::Delete(), SessionKeys(sid),
      {absl::StrCat(req.epoch())}, options_.request_timeout, Replicated(),
      [this, sid, context, done = std::move(done)](absl::StatusOr<RedisReply> r) mutable {
        if (!r.ok()) return std::move(done)(WithContext(r.status(), context));
        if (r->is_error()) return std::move(done)(FromErrorReply(*r, context));
        if (r->str().empty()) return std::move(done)(pb::DeleteSessionResponse());
        client_->Execute({"SREM", NodeSessionsKey(r->str()), sid}, options_.request_timeout,
                         Replicated(),
                         Complete<pb::DeleteSessionResponse>(
                             context + " (registry)", std::move(done), [](const RedisReply&) {
                               return absl::StatusOr<pb::DeleteSessionResponse>(pb::DeleteSessionResponse());
                             }));
      });
}

// ---------------------------------------------------------------- registry

void RedisStore::GetSessionMeta(const pb::GetSessionMetaRequest& req,
                                Done<pb::GetSessionMetaResponse> done) {
  const std::string& sid = req.session_id();
  if (auto s = ValidateKeyPart("session_id", sid); !s.ok()) return std::move(done)(s);
  client_->EvalSha(
      scripts::Meta(), {SessionKey(sid, "meta"), SessionKey(sid, "head")}, {},
      options_.request_timeout,
      Complete<pb::GetSessionMetaResponse>(
          absl::StrCat("GetSessionMeta ", sid), std::move(done),
          [](const RedisReply& r) -> absl::StatusOr<pb::GetSessionMetaResponse> {
            const auto& e = r.elements();
            if (e.size() != 6) return absl::InternalError("GetSessionMeta: short reply from the script");
            pb::GetSessionMetaResponse resp;
            pb::SessionMeta* m = resp.mutable_meta();
            m->set_node(e[0].str());
            m->set_epoch(ToU64(e[1]));
            m->set_last_seq(ToU64(e[2]));
            m->set_document_sha256(e[3].str());
            m->set_state(e[4].str());
            m->set_snapshot_covers_seq(ToU64(e[5]));
            return resp;
          }));
}

void RedisStore::SetSessionState(const pb::SetSessionStateRequest& req,
                                 Done<pb::SetSessionStateResponse> done) {
  const std::string& sid = req.session_id();
  if (auto s = ValidateKeyPart("session_id", sid); !s.ok()) return std::move(done)(s);
  if (req.state().size() > kMaxIdBytes) {
    return std::move(done)(absl::InvalidArgumentError(absl::StrCat("state: longer than ", kMaxIdBytes)));
  }
  client_->EvalSha(scripts::SetState(),
                   SessionKeys(sid),
                   {absl::StrCat(req.epoch()), req.state(), absl::StrCat(TtlMs())},
                   options_.request_timeout, Replicated(),
                   Complete<pb::SetSessionStateResponse>(absl::StrCat("SetSessionState ", sid),
                                                         std::move(done), [](const RedisReply&) {
                                                           return absl::StatusOr<pb::SetSessionStateResponse>(
                                                               pb::SetSessionStateResponse());
                                                         }));
}

void RedisStore::ListNodeSessions(const pb::ListNodeSessionsRequest& req,
                                  Done<pb::ListNodeSessionsResponse> done) {
  if (auto s = ValidateKeyPart("node", req.node(), false); !s.ok()) return std::move(done)(s);
  const std::string cursor = req.cursor().empty() ? "0" : req.cursor();
  if (!std::all_of(cursor.begin(), cursor.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      cursor.size() > 20) {
    return std::move(done)(absl::InvalidArgumentError("cursor: must be a next_cursor of a previous call"));
  }
  const uint32_t count = req.page_size() == 0 ? 100 : std::min<uint32_t>(req.page_size(), 10000);
  const std::string context = absl::StrCat("ListNodeSessions ", req.node());
  auto parse = [](const RedisReply& r) -> absl::StatusOr<pb::ListNodeSessionsResponse> {
    const auto& e = r.elements();
    if (e.size() != 2) return absl::InternalError("unexpected SSCAN reply");
    pb::ListNodeSessionsResponse resp;
    resp.set_next_cursor(e[0].str());
    for (const auto& id : e[1].elements()) resp.add_session_ids(id.str());
    return resp;
  };
  std::vector<std::string> scan = {"SSCAN", NodeSessionsKey(req.node()), cursor, "COUNT", absl::StrCat(count)};
  if (!req.include_state()) {
    client_->Execute(std::move(scan), options_.request_timeout,
                     Complete<pb::ListNodeSessionsResponse>(context, std::move(done), parse));
    return;
  }
  // The page, then every session's meta state in one pipelined batch.
  client_->Execute(
      std::move(scan), options_.request_timeout,
      Complete<pb::ListNodeSessionsResponse>(
          context,
          [this, context, done = std::move(done)](absl::StatusOr<pb::ListNodeSessionsResponse> page) mutable {
            if (!page.ok() || page->session_ids().empty()) return std::move(done)(std::move(page));
            std::vector<std::vector<std::string>> gets;
            gets.reserve(page->session_ids_size());
            for (const auto& id : page->session_ids()) gets.push_back({"HMGET", SessionKey(id, "meta"), "state", "epoch"});
            auto resp = std::make_shared<pb::ListNodeSessionsResponse>(*std::move(page));
            client_->ExecuteBatch(
                std::move(gets), options_.request_timeout,
                [resp, context, done = std::move(done)](std::vector<absl::StatusOr<RedisReply>> replies) mutable {
                  for (auto& r : replies) {
                    if (!r.ok()) return std::move(done)(WithContext(r.status(), context));
                    if (r->is_error()) return std::move(done)(FromErrorReply(*r, context));
                    const auto& f = r->elements();
                    // No meta (no `epoch`, in either layout): deleted since it was registered.
                    const bool exists = f.size() == 2 && !f[1].is_nil();
                    resp->add_states(!exists ? "<gone>" : f[0].is_nil() ? "" : f[0].str());
                  }
                  std::move(done)(std::move(*resp));
                });
          },
          parse));
}

// ---------------------------------------------------------------- documents

void RedisStore::PutDocument(const pb::PutDocumentRequest& req, Done<pb::PutDocumentResponse> done) {
  if (auto s = ValidateSha256("sha256", req.sha256()); !s.ok()) return std::move(done)(s);
  if (req.source().size() > options_.max_document_bytes) {
    return std::move(done)(absl::InvalidArgumentError(
        absl::StrCat("source: ", req.source().size(), " bytes, over the limit of ",
                     options_.max_document_bytes, " (persistence.max-document-bytes)")));
  }
  if (const std::string actual = Sha256Hex(req.source()); actual != req.sha256()) {
    return std::move(done)(absl::InvalidArgumentError(
        absl::StrCat("sha256: does not match the source (its sha256 is ", actual, ")")));
  }
  client_->Execute({"SET", DocumentKey(req.sha256()), req.source(), "PX", absl::StrCat(TtlMs())},
                   options_.request_timeout, Replicated(),
                   Complete<pb::PutDocumentResponse>(absl::StrCat("PutDocument ", req.sha256()),
                                                     std::move(done), [](const RedisReply&) {
                                                       return absl::StatusOr<pb::PutDocumentResponse>(
                                                           pb::PutDocumentResponse());
                                                     }));
}

void RedisStore::GetDocument(const pb::GetDocumentRequest& req, Done<pb::GetDocumentResponse> done) {
  if (auto s = ValidateSha256("sha256", req.sha256()); !s.ok()) return std::move(done)(s);
  client_->Execute({"GETEX", DocumentKey(req.sha256()), "PX", absl::StrCat(TtlMs())},
                   options_.request_timeout,
                   Complete<pb::GetDocumentResponse>(
                       absl::StrCat("GetDocument ", req.sha256()), std::move(done),
                       [](const RedisReply& r) -> absl::StatusOr<pb::GetDocumentResponse> {
                         if (r.is_nil()) return absl::NotFoundError("no such document");
                         pb::GetDocumentResponse resp;
                         resp.set_source(r.str());
                         return resp;
                       }));
}

// ---------------------------------------------------------------- leases

void RedisStore::AcquireLease(const pb::AcquireLeaseRequest& req, Done<pb::AcquireLeaseResponse> done) {
  if (auto s = ValidateKeyPart("name", req.name()); !s.ok()) return std::move(done)(s);
  if (req.holder().empty()) return std::move(done)(absl::InvalidArgumentError("holder: must not be empty"));
  if (auto s = ValidateTtl("ttl_ms", req.ttl_ms()); !s.ok()) return std::move(done)(s);
  client_->EvalSha(scripts::AcquireLease(), {LeaseKey(req.name()), LeaseEpochKey(req.name())},
                   {req.holder(), req.endpoint(), absl::StrCat(req.ttl_ms()), absl::StrCat(2 * TtlMs())},
                   options_.request_timeout, Replicated(),
                   Complete<pb::AcquireLeaseResponse>(
                       absl::StrCat("AcquireLease ", req.name()), std::move(done),
                       [](const RedisReply& r) -> absl::StatusOr<pb::AcquireLeaseResponse> {
                         const auto& e = r.elements();
                         if (e.size() != 4) return absl::InternalError("unexpected reply");
                         pb::AcquireLeaseResponse resp;
                         resp.set_acquired(e[0].integer() == 1);
                         resp.set_epoch(ToU64(e[1]));
                         resp.set_holder(e[2].str());
                         resp.set_endpoint(e[3].str());
                         return resp;
                       }));
}

void RedisStore::RenewLease(const pb::RenewLeaseRequest& req, Done<pb::RenewLeaseResponse> done) {
  if (auto s = ValidateKeyPart("name", req.name()); !s.ok()) return std::move(done)(s);
  if (auto s = ValidateTtl("ttl_ms", req.ttl_ms()); !s.ok()) return std::move(done)(s);
  client_->EvalSha(scripts::RenewLease(), {LeaseKey(req.name()), LeaseEpochKey(req.name())},
                   {req.holder(), absl::StrCat(req.epoch()), absl::StrCat(req.ttl_ms()),
                    absl::StrCat(2 * TtlMs())},
                   options_.request_timeout, Replicated(),
                   Complete<pb::RenewLeaseResponse>(absl::StrCat("RenewLease ", req.name()), std::move(done),
                                                    [](const RedisReply&) {
                                                      return absl::StatusOr<pb::RenewLeaseResponse>(
                                                          pb::RenewLeaseResponse());
                                                    }));
}

void RedisStore::ReleaseLease(const pb::ReleaseLeaseRequest& req, Done<pb::ReleaseLeaseResponse> done) {
  if (auto s = ValidateKeyPart("name", req.name()); !s.ok()) return std::move(done)(s);
  client_->EvalSha(scripts::ReleaseLease(), {LeaseKey(req.name()), LeaseEpochKey(req.name())},
                   {req.holder(), absl::StrCat(req.epoch())}, options_.request_timeout,
                   Replicated(),
                   Complete<pb::ReleaseLeaseResponse>(absl::StrCat("ReleaseLease ", req.name()),
                                                      std::move(done), [](const RedisReply&) {
                                                        return absl::StatusOr<pb::ReleaseLeaseResponse>(
                                                            pb::ReleaseLeaseResponse());
                                                      }));
}

void RedisStore::GetLease(const pb::GetLeaseRequest& req, Done<pb::GetLeaseResponse> done) {
  if (auto s = ValidateKeyPart("name", req.name()); !s.ok()) return std::move(done)(s);
  client_->EvalSha(scripts::GetLease(), {LeaseKey(req.name())}, {}, options_.request_timeout,
                   Complete<pb::GetLeaseResponse>(
                       absl::StrCat("GetLease ", req.name()), std::move(done),
                       [](const RedisReply& r) -> absl::StatusOr<pb::GetLeaseResponse> {
                         const auto& e = r.elements();
                         if (e.size() != 4) return absl::InternalError("unexpected reply");
                         pb::GetLeaseResponse resp;
                         resp.set_holder(e[0].str());
                         resp.set_endpoint(e[1].str());
                         resp.set_epoch(ToU64(e[2]));
                         resp.set_remaining_ms(static_cast<uint32_t>(std::max<int64_t>(0, e[3].integer())));
                         return resp;
                       }));
}

}  // namespace orch::persistence_proxy
