#include "common/redis/redis_client.h"

#include <openssl/evp.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/redis/cluster_client.h"
#include "common/redis/standalone_client.h"

namespace orch::redis {
namespace {

std::string Sha1Hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha1(), nullptr);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(md), len));
}

// Extra time a blocking wrapper waits beyond the request timeout: the
// callback is due at the timeout; this only guards against a bug.
constexpr absl::Duration kSyncGrace = absl::Seconds(5);

template <typename T>
struct SyncState {
  absl::Notification done;
  T result;
};

}  // namespace

RedisScript::RedisScript(std::string body) {
  std::string sha1 = Sha1Hex(body);
  data_ = std::make_shared<const Data>(Data{std::move(body), std::move(sha1)});
}

std::string RedisClient::BeginEvalSha(const RedisScript& script, size_t numkeys, size_t n) {
  std::string out;
  CommandWriter w(&out, n + 3);
  w.Add("EVALSHA");
  w.Add(script.sha1());
  w.Add(static_cast<uint64_t>(numkeys));
  return out;
}

absl::StatusOr<RedisReply> RedisClient::ExecuteSync(std::vector<std::string> args,
                                                    absl::Duration timeout) {
  if (OnIoThread()) {
    return absl::FailedPreconditionError("RedisClient::ExecuteSync called on the I/O thread");
  }
  auto state = std::make_shared<SyncState<absl::StatusOr<RedisReply>>>();
  Execute(std::move(args), timeout, [state](absl::StatusOr<RedisReply> r) {
    state->result = std::move(r);
    state->done.Notify();
  });
  if (!state->done.WaitForNotificationWithTimeout(timeout + kSyncGrace)) {
    return absl::UnavailableError("redis: the client did not answer in time");
  }
  return std::move(state->result);
}

std::vector<absl::StatusOr<RedisReply>> RedisClient::ExecuteBatchSync(
    std::vector<std::vector<std::string>> commands, absl::Duration timeout) {
  const size_t n = commands.size();
  if (OnIoThread()) {
    return std::vector<absl::StatusOr<RedisReply>>(
        n, absl::FailedPreconditionError("RedisClient::ExecuteBatchSync called on the I/O thread"));
  }
  auto state = std::make_shared<SyncState<std::vector<absl::StatusOr<RedisReply>>>>();
  ExecuteBatch(std::move(commands), timeout,
               [state](std::vector<absl::StatusOr<RedisReply>> r) {
                 state->result = std::move(r);
                 state->done.Notify();
               });
  if (!state->done.WaitForNotificationWithTimeout(timeout + kSyncGrace)) {
    return std::vector<absl::StatusOr<RedisReply>>(
        n, absl::UnavailableError("redis: the client did not answer in time"));
  }
  return std::move(state->result);
}

absl::StatusOr<RedisReply> RedisClient::EvalShaSync(const RedisScript& script,
                                                    std::vector<std::string> keys,
                                                    std::vector<std::string> args,
                                                    absl::Duration timeout) {
  if (OnIoThread()) {
    return absl::FailedPreconditionError("RedisClient::EvalShaSync called on the I/O thread");
  }
  auto state = std::make_shared<SyncState<absl::StatusOr<RedisReply>>>();
  EvalSha(script, std::move(keys), std::move(args), timeout,
          [state](absl::StatusOr<RedisReply> r) {
            state->result = std::move(r);
            state->done.Notify();
          });
  if (!state->done.WaitForNotificationWithTimeout(timeout + kSyncGrace)) {
    return absl::UnavailableError("redis: the client did not answer in time");
  }
  return std::move(state->result);
}

absl::StatusOr<std::unique_ptr<RedisClient>> CreateRedisClient(const RedisOptions& options) {
  absl::Status valid = ValidateRedisOptions(options);
  if (!valid.ok()) return valid;
  if (options.mode == RedisMode::kCluster) {
    absl::StatusOr<std::unique_ptr<ClusterClient>> c = ClusterClient::Create(options);
    if (!c.ok()) return c.status();
    return std::unique_ptr<RedisClient>(*std::move(c));
  }
  if (options.mode == RedisMode::kStandalone) {
    absl::StatusOr<std::unique_ptr<StandaloneClient>> c = StandaloneClient::Create(options);
    if (!c.ok()) return c.status();
    return std::unique_ptr<RedisClient>(*std::move(c));
  }
  // kAuto: ask the seeds in turn whether cluster mode is on.
  absl::Status last = absl::UnavailableError("no seed");
  for (const std::string& seed : options.nodes) {
    RedisOptions one = options;
    one.nodes = {seed};
    one.mode = RedisMode::kStandalone;
    absl::StatusOr<std::unique_ptr<StandaloneClient>> probe = StandaloneClient::Create(one);
    if (!probe.ok()) return probe.status();
    absl::StatusOr<RedisReply> info =
        (*probe)->ExecuteSync({"INFO", "cluster"}, options.connect_timeout + absl::Seconds(1));
    if (!info.ok()) {
      if (info.status().code() == absl::StatusCode::kFailedPrecondition) return info.status();
      last = info.status();
      continue;
    }
    if (info->is_error()) {
      if (info->error_code() == "NOAUTH") {
        return absl::FailedPreconditionError(absl::StrCat(
            options.option_prefix, "password: the server at ", seed,
            " requires authentication (", info->str(), ")"));
      }
      return absl::FailedPreconditionError(absl::StrCat(
          "redis ", seed, ": cannot tell standalone from cluster mode (INFO cluster: ",
          info->str(), "); configure the mode explicitly"));
    }
    if (absl::StrContains(info->str(), "cluster_enabled:1")) {
      RedisOptions cluster = options;
      cluster.mode = RedisMode::kCluster;
      absl::StatusOr<std::unique_ptr<ClusterClient>> c = ClusterClient::Create(cluster);
      if (!c.ok()) return c.status();
      return std::unique_ptr<RedisClient>(*std::move(c));
    }
    return std::unique_ptr<RedisClient>(*std::move(probe));
  }
  return absl::UnavailableError(absl::StrCat("redis: no seed in ", options.option_prefix,
                                             "redis-nodes answered: ", last.message()));
}

}  // namespace orch::redis
