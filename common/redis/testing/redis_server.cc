#include "common/redis/testing/redis_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace orch::testing {
namespace {

constexpr char kRedisServer[] = "/usr/bin/redis-server";
constexpr char kRedisCli[] = "/usr/bin/redis-cli";

// Binds 127.0.0.1:port (0 = any); returns the bound port or 0 on failure.
int TryBind(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  int result = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    result = ntohs(addr.sin_port);
  }
  ::close(fd);
  return result;
}

// A port that is free now (and, for cluster nodes, whose bus port + 10000
// is free too). Redis needs a concrete port, so there is a small race with
// other processes; Start() retries on a collision.
int PickPort(bool cluster) {
  if (!cluster) return TryBind(0);
  static std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> dist(20000, 29999);
  for (int i = 0; i < 200; ++i) {
    int p = dist(rng);
    if (TryBind(p) == p && TryBind(p + 10000) == p + 10000) return p;
  }
  return 0;
}

bool CanConnect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start(RedisServerOptions options) {
  const bool pick = options.port == 0;
  absl::Status last;
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (pick) options.port = PickPort(options.cluster);
    if (options.port == 0) return absl::UnavailableError("no free port for redis-server");
    auto server = std::unique_ptr<RedisServer>(new RedisServer(options));
    last = server->Launch();
    if (last.ok()) return server;
    if (!pick) break;
  }
  return last;
}

RedisServer::~RedisServer() = default;  // Subprocess SIGKILLs and reaps

absl::Status RedisServer::Launch() {
  const std::string port = std::to_string(options_.port);
  std::vector<std::string> argv = {kRedisServer, "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no", "--dir", dir_.path()};
  if (options_.tls) {
    for (const std::string* p : {&options_.tls_cert, &options_.tls_key, &options_.tls_ca}) {
      if (p->empty() || (*p)[0] != '/') {
        return absl::InvalidArgumentError("RedisServer: TLS file paths must be absolute");
      }
    }
    argv.insert(argv.end(), {"--port", "0", "--tls-port", port, "--tls-cert-file",
                             options_.tls_cert, "--tls-key-file", options_.tls_key,
                             "--tls-ca-cert-file", options_.tls_ca, "--tls-auth-clients",
                             options_.tls_auth_clients ? "yes" : "no"});
  } else {
    argv.insert(argv.end(), {"--port", port});
  }
  if (options_.cluster) {
    argv.insert(argv.end(), {"--cluster-enabled", "yes", "--cluster-config-file",
                             "nodes-" + port + ".conf", "--cluster-node-timeout", "2000",
                             // A replica (re)joining is synced at once, not
                             // after the default 5 s wait for more replicas.
                             "--repl-diskless-sync-delay", "0"});
  }
  argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());

  Subprocess::Options so;
  so.argv = argv;
  absl::StatusOr<std::unique_ptr<Subprocess>> p = Subprocess::Start(so);
  if (!p.ok()) return p.status();
  process_ = *std::move(p);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (CanConnect(options_.port)) return absl::OkStatus();
    absl::StatusOr<int> exited = process_->Wait(absl::ZeroDuration());
    if (exited.ok()) {
      std::string out, err;
      (void)process_->ReadUntilEof(absl::Seconds(1), &out, &err);
      return absl::UnavailableError(absl::StrCat("redis-server on port ", port,
                                                 " exited at start: ", out, err));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return absl::UnavailableError(absl::StrCat("redis-server on port ", port,
                                             " did not listen within 10s"));
}

absl::Status RedisServer::Stop(int sig) {
  if (!running()) return absl::OkStatus();
  absl::Status s = process_->Signal(sig);
  if (!s.ok()) return s;
  return process_->Wait(absl::Seconds(10)).status();
}

absl::Status RedisServer::Pause() {
  if (!running()) return absl::FailedPreconditionError("redis-server is not running");
  absl::Status s = process_->Signal(SIGSTOP);
  if (!s.ok()) return s;
  // /proc/<pid>/stat: "pid (comm) S ...", the state after the ')'.
  const std::string stat_path = absl::StrCat("/proc/", pid(), "/stat");
  for (int i = 0; i < 500; ++i) {
    std::ifstream in(stat_path);
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t paren = stat.rfind(')');
    if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'T') {
      return absl::OkStatus();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return absl::DeadlineExceededError(absl::StrCat("redis-server ", pid(), " not stopped after SIGSTOP"));
}

absl::Status RedisServer::Resume() {
  if (!running()) return absl::FailedPreconditionError("redis-server is not running");
  return process_->Signal(SIGCONT);
}

namespace {

// From INFO replication: master_repl_offset, and each replica's state and
// acknowledged offset ("slave0:ip=...,port=...,state=online,offset=123,lag=0").
struct ReplicationInfo {
  int64_t offset = -1;
  std::vector<std::pair<std::string, int64_t>> replicas;
};

ReplicationInfo ParseReplicationInfo(const std::string& info) {
  ReplicationInfo out;
  for (absl::string_view line : absl::StrSplit(info, '\n', absl::SkipEmpty())) {
    line = absl::StripTrailingAsciiWhitespace(line);
    if (absl::ConsumePrefix(&line, "master_repl_offset:")) {
      (void)absl::SimpleAtoi(line, &out.offset);
    } else if (absl::StartsWith(line, "slave") && absl::StrContains(line, ":ip=")) {
      std::string state;
      int64_t offset = -1;
      for (absl::string_view kv : absl::StrSplit(line.substr(line.find(':') + 1), ',')) {
        if (absl::ConsumePrefix(&kv, "state=")) state = std::string(kv);
        if (absl::ConsumePrefix(&kv, "offset=")) (void)absl::SimpleAtoi(kv, &offset);
      }
      out.replicas.emplace_back(state, offset);
    }
  }
  return out;
}

}  // namespace

absl::Status RedisServer::WaitForReplicasInSync(absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  int64_t target = -1;
  std::string last;
  while (absl::Now() < deadline) {
    absl::StatusOr<std::string> repl = Cli({"info", "replication"});
    if (repl.ok()) {
      last = *repl;
      ReplicationInfo r = ParseReplicationInfo(*repl);
      if (target < 0) target = r.offset;
      // Offset 0: nothing written yet, so no acknowledgement can show that
      // the command stream flows.
      bool synced = !r.replicas.empty() && target > 0;
      for (const auto& [state, offset] : r.replicas) {
        synced = synced && state == "online" && offset >= target;
      }
      if (synced) return absl::OkStatus();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return absl::DeadlineExceededError(absl::StrCat("replicas of ", address(), " not in sync within ",
                                                  absl::FormatDuration(timeout), ": ", last));
}

absl::Status RedisServer::Restart() {
  absl::Status s = Stop();
  if (!s.ok()) return s;
  process_.reset();
  return Launch();
}

absl::StatusOr<std::string> RedisServer::Cli(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {kRedisCli, "-h", "127.0.0.1", "-p",
                                   std::to_string(options_.port)};
  if (options_.tls) {
    argv.insert(argv.end(), {"--tls", "--cacert", options_.tls_ca, "--cert", options_.tls_cert,
                             "--key", options_.tls_key});
  }
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out, err;
  absl::StatusOr<int> st = RunProgram(argv, "", &out, &err, absl::Seconds(30));
  if (!st.ok()) return st.status();
  if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0) {
    return absl::InternalError(absl::StrCat("redis-cli ", absl::StrJoin(args, " "),
                                            " failed: ", out, err));
  }
  return out;
}

// ---------------------------------------------------------------- cluster

absl::StatusOr<std::unique_ptr<RedisCluster>> RedisCluster::Start() {
  auto cluster = std::unique_ptr<RedisCluster>(new RedisCluster());
  std::vector<std::string> create = {kRedisCli, "--cluster", "create"};
  for (int i = 0; i < 6; ++i) {
    RedisServerOptions o;
    o.cluster = true;
    absl::StatusOr<std::unique_ptr<RedisServer>> s = RedisServer::Start(o);
    if (!s.ok()) return s.status();
    create.push_back((*s)->address());
    cluster->nodes_.push_back(*std::move(s));
  }
  create.insert(create.end(), {"--cluster-replicas", "1", "--cluster-yes"});
  std::string out, err;
  absl::StatusOr<int> st = RunProgram(create, "", &out, &err, absl::Seconds(60));
  if (!st.ok()) return st.status();
  if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0 || !absl::StrContains(out, "All 16384 slots covered")) {
    return absl::InternalError(absl::StrCat("redis-cli --cluster create failed: ", out, err));
  }
  absl::Status ok = cluster->WaitForClusterOk(absl::Seconds(30));
  if (!ok.ok()) return ok;
  ok = cluster->WaitForAllReplicasInSync(absl::Seconds(30));
  if (!ok.ok()) return ok;
  return cluster;
}

std::vector<std::string> RedisCluster::addresses() const {
  std::vector<std::string> out;
  for (const auto& n : nodes_) out.push_back(n->address());
  return out;
}

RedisServer* RedisCluster::node(const std::string& address) const {
  for (const auto& n : nodes_) {
    if (n->address() == address) return n.get();
  }
  return nullptr;
}

absl::Status RedisCluster::WaitForClusterOk(absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  std::string last;
  while (absl::Now() < deadline) {
    bool all_ok = true;
    for (const auto& n : nodes_) {
      if (!n->running()) continue;
      absl::StatusOr<std::string> info = n->Cli({"cluster", "info"});
      if (!info.ok() || !absl::StrContains(*info, "cluster_state:ok")) {
        all_ok = false;
        last = info.ok() ? *info : std::string(info.status().message());
        break;
      }
    }
    if (all_ok) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrCat("cluster not ok within ",
                                                  absl::FormatDuration(timeout), ": ", last));
}

absl::StatusOr<std::string> RedisCluster::MasterOf(int slot) const {
  for (const auto& n : nodes_) {
    if (!n->running()) continue;
    absl::StatusOr<std::string> nodes = n->Cli({"cluster", "nodes"});
    if (!nodes.ok()) continue;
    for (absl::string_view line : absl::StrSplit(*nodes, '\n', absl::SkipEmpty())) {
      std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (f.size() < 9) continue;
      if (!absl::StrContains(f[2], "master") || absl::StrContains(f[2], "fail")) continue;
      std::string address = f[1].substr(0, f[1].find('@'));
      for (size_t i = 8; i < f.size(); ++i) {
        if (f[i].empty() || f[i][0] == '[') continue;
        std::vector<std::string> range = absl::StrSplit(f[i], '-');
        int lo = 0, hi = 0;
        if (!absl::SimpleAtoi(range[0], &lo)) continue;
        hi = lo;
        if (range.size() > 1 && !absl::SimpleAtoi(range[1], &hi)) continue;
        if (slot >= lo && slot <= hi) return address;
      }
    }
    return absl::NotFoundError(absl::StrCat("no live master serves slot ", slot));
  }
  return absl::UnavailableError("no running cluster node");
}

absl::Status RedisCluster::WaitForAllReplicasInSync(absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  std::vector<std::string> masters;
  for (const auto& n : nodes_) {
    if (!n->running()) continue;
    absl::StatusOr<std::string> role = n->Cli({"role"});
    if (role.ok() && role->rfind("master", 0) == 0) masters.push_back(n->address());
  }
  if (masters.empty()) return absl::UnavailableError("no running master");
  // A key in the slots of each master: candidates until each has one.
  std::vector<std::string> warmed;
  for (int i = 0; i < 1000 && warmed.size() < masters.size(); ++i) {
    const std::string key = absl::StrCat("orch-testing-warm-", i);
    absl::StatusOr<std::string> slot_text = node(masters[0])->Cli({"cluster", "keyslot", key});
    int slot = 0;
    if (!slot_text.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*slot_text), &slot)) {
      return absl::InternalError(absl::StrCat("CLUSTER KEYSLOT ", key, " failed"));
    }
    absl::StatusOr<std::string> master = MasterOf(slot);
    if (!master.ok()) return master.status();
    if (std::find(warmed.begin(), warmed.end(), *master) != warmed.end()) continue;
    RedisServer* m = node(*master);
    if (m == nullptr) return absl::InternalError("unknown master " + *master);
    for (const std::vector<std::string>& cmd : {std::vector<std::string>{"set", key, "1"},
                                                std::vector<std::string>{"del", key}}) {
      absl::StatusOr<std::string> out = m->Cli(cmd);
      if (!out.ok()) return out.status();
    }
    warmed.push_back(*master);
  }
  if (warmed.size() < masters.size()) return absl::InternalError("could not reach every master");
  // The replicas acknowledge within a second (their periodic ACK), all at once.
  for (const std::string& master : warmed) {
    absl::Status s = node(master)->WaitForReplicasInSync(deadline - absl::Now());
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> RedisCluster::ReplicasOf(const std::string& master) const {
  for (const auto& n : nodes_) {
    if (!n->running()) continue;
    absl::StatusOr<std::string> nodes = n->Cli({"cluster", "nodes"});
    if (!nodes.ok()) continue;
    // <id> <ip:port@bus> <flags> <master-id> ...
    std::string master_id;
    std::vector<std::vector<std::string>> lines;
    for (absl::string_view line : absl::StrSplit(*nodes, '\n', absl::SkipEmpty())) {
      std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (f.size() < 8) continue;
      if (f[1].substr(0, f[1].find('@')) == master) master_id = f[0];
      lines.push_back(std::move(f));
    }
    if (master_id.empty()) return absl::NotFoundError("unknown node " + master);
    std::vector<std::string> out;
    for (const auto& f : lines) {
      const std::vector<std::string> flags = absl::StrSplit(f[2], ',');
      // "fail" is a verdict; "fail?" only one node's suspicion.
      if (f[3] != master_id || std::find(flags.begin(), flags.end(), "fail") != flags.end()) continue;
      const std::string address = f[1].substr(0, f[1].find('@'));
      if (RedisServer* s = node(address); s != nullptr && s->running()) out.push_back(address);
    }
    return out;
  }
  return absl::UnavailableError("no running cluster node");
}

absl::StatusOr<std::string> RedisCluster::KillMasterAndWaitForFailover(int slot,
                                                                     absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::StatusOr<std::string> old_master = MasterOf(slot);
  if (!old_master.ok()) return old_master.status();
  RedisServer* victim = node(*old_master);
  if (victim == nullptr) return absl::InternalError("unknown master " + *old_master);
  // Its replica must be in sync, or no failover can happen (and what was
  // written before the call would be lost).
  absl::Status s = victim->WaitForReplicasInSync(deadline - absl::Now());
  if (!s.ok()) return s;
  s = victim->Stop(SIGKILL);
  if (!s.ok()) return s;
  while (absl::Now() < deadline) {
    absl::StatusOr<std::string> master = MasterOf(slot);
    if (master.ok() && *master != *old_master) {
      s = WaitForClusterOk(deadline - absl::Now());
      if (!s.ok()) return s;
      return master;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrCat("no failover of slot ", slot, " within ",
                                                  absl::FormatDuration(timeout)));
}

}  // namespace orch::testing
