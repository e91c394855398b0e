#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/config/config.h"
#include "common/tls/tls_files.h"

namespace grpc {
class Channel;
}

namespace orch::grpc_util {

struct ChannelOptions {
  // TLS when `tls.ca_pem` is set: the server is verified against it. A client
  // certificate (mutual TLS) when `tls.cert_pem` is set too.
  tls::TlsFiles tls;
  // Name to verify in the server's certificate instead of the target's host.
  std::string server_name;
  // >= 0: a channel with its own connection (channels to one target with
  // different indexes do not share their HTTP/2 connection), to spread calls
  // over several connections.
  int connection_index = -1;
};

// Client TLS from files: none when `paths` names no CA and no certificate;
// the CA alone verifies the server; a certificate (mutual TLS) needs its key
// and the CA. INVALID_ARGUMENT naming the option (from `paths`) otherwise,
// also for a file that cannot be read or does not hold what it should.
absl::StatusOr<ChannelOptions> ClientChannelOptions(const tls::TlsPaths& paths, std::string server_name);

// The same from the four options config::AddClientTlsOptions registered:
// `option_prefix` is "<section>.<prefix>", e.g. "routing.proxy" for
// routing.proxy-tls-ca, -tls-cert, -tls-key and -tls-server-name.
absl::StatusOr<ChannelOptions> ChannelOptionsFromConfig(const config::Config& config,
                                                        const std::string& option_prefix);

// A channel to `target` ("host:port"); connects lazily.
std::shared_ptr<::grpc::Channel> MakeChannel(const std::string& target,
                                             const ChannelOptions& options = {});

}  // namespace orch::grpc_util
