#include "common/redis/cluster_client.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/base/net.h"

namespace orch::redis {
namespace {

constexpr absl::Duration kMinRefreshInterval = absl::Milliseconds(100);
constexpr absl::Duration kMaxRetryDelay = absl::Milliseconds(400);

struct Redirection {
  int slot = -1;
  std::string address;
};

// "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381"; an empty host
// (":6381") means the host of the node that answered.
std::optional<Redirection> ParseRedirection(const std::string& error, const std::string& host) {
  std::vector<std::string> parts = absl::StrSplit(error, ' ', absl::SkipEmpty());
  Redirection r;
  if (parts.size() < 3 || !absl::SimpleAtoi(parts[1], &r.slot)) return std::nullopt;
  r.address = parts[2];
  if (!r.address.empty() && r.address[0] == ':') r.address = host + r.address;
  return r;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ClusterClient>> ClusterClient::Create(const RedisOptions& options) {
  auto client = std::unique_ptr<ClusterClient>(new ClusterClient(options));
  absl::Status s = client->Init();
  if (!s.ok()) return s;
  return client;
}

ClusterClient::~ClusterClient() { Shutdown(); }

void ClusterClient::ShutdownInLoop() {
  if (refresh_timer_) loop_->Cancel(*refresh_timer_);
  waiting_.clear();
  connections_.clear();
  replicated_connections_.clear();
}

Connection* ClusterClient::GetConnection(const std::string& address, bool replicated) {
  auto& connections = replicated ? replicated_connections_ : connections_;
  auto it = connections.find(address);
  if (it != connections.end()) return it->second.get();
  absl::StatusOr<HostPort> hp = SplitHostPort(address);
  if (!hp.ok()) return nullptr;
  auto conn = std::make_unique<Connection>(loop_.get(), &settings_, hp->host, hp->port, this);
  Connection* raw = conn.get();
  connections.emplace(address, std::move(conn));
  return raw;
}

void ClusterClient::Route(std::shared_ptr<Request> req) {
  if (req->done) return;
  const std::string* address = nullptr;
  if (!req->target.empty()) {
    address = &req->target;
  } else if (!map_.empty()) {
    if (req->slot >= 0) {
      address = map_.NodeFor(req->slot);
    } else if (!map_.masters().empty()) {
      address = &map_.masters()[any_master_++ % map_.masters().size()];
    }
  }
  if (address == nullptr) {
    // No topology yet, or the slot is not covered: wait for a refresh.
    waiting_.push_back(std::move(req));
    RequestRefresh();
    return;
  }
  Connection* conn = GetConnection(*address, req->wait_replicas > 0);
  if (conn == nullptr) {
    Complete(req, absl::InternalError(absl::StrCat("redis: bad node address '", *address, "'")));
    return;
  }
  conn->Send(std::move(req));
}

void ClusterClient::OnReply(Connection* conn, std::shared_ptr<Request> req, RedisReply reply) {
  if (req->raw || !reply.is_error()) {
    Complete(req, std::move(reply));
    return;
  }
  const std::string_view code = reply.error_code();
  if (code == "MOVED" || code == "ASK") {
    std::optional<Redirection> r = ParseRedirection(reply.str(), conn->host());
    if (!r.has_value() || ++req->redirects > options_.max_redirects) {
      Complete(req, std::move(reply));
      return;
    }
    if (code == "MOVED") {
      counters_.moved.fetch_add(1, std::memory_order_relaxed);
      if (options_.observer != nullptr) options_.observer->OnRedirect(RedisObserver::Redirect::kMoved);
      map_.Set(r->slot, r->address);
      req->target.clear();
      req->asking = false;
      RequestRefresh();
    } else {
      counters_.ask.fetch_add(1, std::memory_order_relaxed);
      if (options_.observer != nullptr) options_.observer->OnRedirect(RedisObserver::Redirect::kAsk);
      req->target = r->address;
      req->asking = true;
    }
    Route(std::move(req));
    return;
  }
  if (code == "TRYAGAIN" || code == "CLUSTERDOWN" || code == "LOADING") {
    if (code == "CLUSTERDOWN") RequestRefresh();
    // If the deadline comes first, the caller sees the error reply.
    if (absl::Now() + options_.backoff_initial >= req->deadline) {
      Complete(req, std::move(reply));
      return;
    }
    RetryLater(std::move(req), absl::UnavailableError(absl::StrCat("redis ", conn->address(),
                                                                   ": ", reply.str())));
    return;
  }
  Complete(req, std::move(reply));
}

void ClusterClient::OnRequestFailed(Connection* conn, std::shared_ptr<Request> req,
                                    absl::Status status, bool maybe_sent) {
  if (req->raw || maybe_sent || status.code() == absl::StatusCode::kFailedPrecondition) {
    Complete(req, std::move(status));
    return;
  }
  RequestRefresh();
  RetryLater(std::move(req), std::move(status));
}

void ClusterClient::OnDisconnected(Connection* conn, const absl::Status& why) {
  RequestRefresh();
}

void ClusterClient::RetryLater(std::shared_ptr<Request> req, absl::Status why) {
  req->last_error = why;
  req->target.clear();
  req->asking = false;
  absl::Duration delay = options_.backoff_initial * (1 << std::min(req->retries, 6));
  delay = std::min(delay, kMaxRetryDelay);
  ++req->retries;
  if (absl::Now() + delay >= req->deadline) {
    Complete(req, absl::UnavailableError(absl::StrCat(why.message(), " (gave up after ",
                                                      req->retries, " attempts)")));
    return;
  }
  counters_.retries.fetch_add(1, std::memory_order_relaxed);
  std::weak_ptr<Request> weak = req;
  loop_->RunAt(absl::Now() + delay, [this, weak]() {
    if (auto r = weak.lock()) Route(std::move(r));
  });
}

void ClusterClient::RequestRefresh() {
  if (refreshing_ || refresh_timer_) return;
  const absl::Time earliest = last_refresh_ + kMinRefreshInterval;
  if (absl::Now() < earliest) {
    refresh_timer_ = loop_->RunAt(earliest, [this]() {
      refresh_timer_.reset();
      StartRefresh();
    });
    return;
  }
  StartRefresh();
}

void ClusterClient::StartRefresh() {
  if (refreshing_) return;
  // Candidates: known masters, then replicas, then the configured seeds.
  std::vector<std::string> candidates = map_.masters();
  for (const auto& r : map_.replicas()) candidates.push_back(r);
  for (const auto& s : options_.nodes) {
    if (std::find(candidates.begin(), candidates.end(), s) == candidates.end()) {
      candidates.push_back(s);
    }
  }
  // Prefer a node whose connection is not known to be down.
  std::string address;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const std::string& c = candidates[(refresh_candidate_ + i) % candidates.size()];
    auto it = connections_.find(c);
    if (it == connections_.end() || it->second->state() != Connection::State::kBackoff) {
      address = c;
      refresh_candidate_ += i + 1;
      break;
    }
  }
  if (address.empty()) {
    // Everything is backing off: try again when the first backoff may be over.
    last_refresh_ = absl::Now();
    refresh_timer_ = loop_->RunAt(absl::Now() + options_.backoff_initial, [this]() {
      refresh_timer_.reset();
      StartRefresh();
    });
    return;
  }
  Connection* conn = GetConnection(address);
  if (conn == nullptr) return;
  refreshing_ = true;
  last_refresh_ = absl::Now();
  const std::string host = conn->host();
  auto req = MakeRequest({"CLUSTER", "SLOTS"},
                         absl::Now() + options_.connect_timeout + absl::Seconds(1),
                         [this, address, host](absl::StatusOr<RedisReply> r) {
                           OnSlots(address, host, std::move(r));
                         });
  req->target = address;
  req->internal = true;
  req->raw = true;
  Start(std::move(req));
}

void ClusterClient::OnSlots(const std::string& address, const std::string& host,
                            absl::StatusOr<RedisReply> reply) {
  refreshing_ = false;
  absl::Status error;
  if (!reply.ok()) {
    error = reply.status();
  } else if (reply->is_error()) {
    error = absl::FailedPreconditionError(
        absl::StrCat("redis ", address, ": CLUSTER SLOTS: ", reply->str()));
  } else {
    absl::StatusOr<std::vector<SlotRange>> ranges = ParseClusterSlots(*reply, host);
    if (!ranges.ok()) {
      error = ranges.status();
    } else if (ranges->empty()) {
      error = absl::UnavailableError(absl::StrCat("redis ", address, ": no slots assigned"));
    } else {
      map_.Assign(*ranges);
    }
  }
  const bool ok = error.ok();
  if (ok) counters_.topology_refreshes.fetch_add(1, std::memory_order_relaxed);
  if (options_.observer != nullptr) options_.observer->OnTopologyRefresh(ok);

  std::vector<std::shared_ptr<Request>> waiting;
  waiting.swap(waiting_);
  if (!ok) {
    // Requests keep waiting until a query succeeds or their deadline passes;
    // remember why, for the timeout message.
    for (auto& r : waiting) {
      if (r->done) continue;
      r->last_error = error;
      if (error.code() == absl::StatusCode::kFailedPrecondition) {
        Complete(r, error);
      } else {
        waiting_.push_back(std::move(r));
      }
    }
    if (!waiting_.empty()) RequestRefresh();
    return;
  }
  for (auto& r : waiting) {
    if (!r->done) Route(std::move(r));
  }
}

}  // namespace orch::redis
