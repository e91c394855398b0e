#include "services/persistence_proxy/redis_store_internal.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace orch::persistence_proxy::redis_store_internal {

using redis::RedisReply;

std::string Serialize(const google::protobuf::MessageLite& m) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream sos(&out);
    google::protobuf::io::CodedOutputStream cos(&sos);
    cos.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&cos);
  }
  return out;
}

absl::Status ValidateKeyPart(const char* field, const std::string& v, bool allow_colon, size_t max_bytes) {
  if (v.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": must not be empty"));
  if (v.size() > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", v.size(), " bytes, longer than ", max_bytes));
  }
  for (unsigned char c : v) {
    if (c == '{' || c == '}' || c <= 0x20 || c == 0x7f || (!allow_colon && c == ':')) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": must not contain '{', '}', spaces or control characters",
          allow_colon ? "" : " or ':'"));
    }
  }
  return absl::OkStatus();
}

absl::Status FromErrorReply(const RedisReply& reply, const std::string& context) {
  const std::string_view code = reply.error_code();
  std::string text = reply.str();
  if (code.size() < text.size()) text = text.substr(code.size() + 1);
  const std::string msg = absl::StrCat(context, ": ", text);
  if (code == "NOTFOUND") return absl::NotFoundError(msg);
  if (code == "FENCED") return absl::AbortedError(absl::StrCat(context, ": fenced: ", text));
  if (code == "SEQGAP" || code == "MISMATCH" || code == "LOST") return absl::AbortedError(msg);
  if (code == "TRIMMED") return absl::OutOfRangeError(msg);
  if (code == "BEYOND" || code == "STALE") return absl::FailedPreconditionError(msg);
  if (code == "FULL") return absl::ResourceExhaustedError(msg);
  if (code == "CORRUPT") return absl::DataLossError(msg);
  if (code == "OOM") return absl::ResourceExhaustedError(absl::StrCat(context, ": Redis: ", reply.str()));
  if (code == "READONLY" || code == "MASTERDOWN" || code == "LOADING" || code == "BUSY" ||
      code == "CLUSTERDOWN" || code == "TRYAGAIN") {
    return absl::UnavailableError(absl::StrCat(context, ": Redis: ", reply.str()));
  }
  return absl::InternalError(absl::StrCat(context, ": Redis error: ", reply.str()));
}

absl::Status WithContext(const absl::Status& s, const std::string& context) {
  // A write that ran but was not replicated in time (the client's message
  // ends its reason with "(WAIT)"): name the options behind it.
  const bool unreplicated =
      s.code() == absl::StatusCode::kUnavailable && absl::StrContains(s.message(), "(WAIT)");
  return absl::Status(s.code(), absl::StrCat(context, ": ", s.message(),
                                             unreplicated ? " (persistence.ack-replicas, "
                                                            "persistence.ack-timeout-ms)"
                                                          : ""));
}

uint64_t ToU64(const RedisReply& r) {
  if (r.is_integer()) return static_cast<uint64_t>(r.integer());
  uint64_t v = 0;
  (void)absl::SimpleAtoi(r.str(), &v);
  return v;
}

int64_t ScoreMs(const std::string& v) {
  int64_t i = 0;
  if (absl::SimpleAtoi(v, &i)) return i;
  double d = 0;
  if (absl::SimpleAtod(v, &d) && d > -9.3e18 && d < 9.3e18) return static_cast<int64_t>(d);
  return 0;
}

}  // namespace orch::persistence_proxy::redis_store_internal
