#pragma once

// The options of a TLS client connection to another process (a gRPC
// channel), the same four in every process that has one:
//
//   AddClientTlsOptions(&schema, "routing", "proxy", "persistence-proxy");
//
// registers, in [routing]:
//   proxy-tls-ca           CA that verifies the server; setting it turns TLS on
//   proxy-tls-cert         client certificate (mutual TLS); needs -tls-key and -tls-ca
//   proxy-tls-key          its private key
//   proxy-tls-server-name  name to verify in the server's certificate instead
//                          of the endpoint's host
//
// All are strings defaulting to "" (off). Reading and checking them is
// grpc_util::ChannelOptionsFromConfig (common/grpc/channel.h).

#include <string>

#include "common/config/config.h"

namespace orch::config {

// `what` names the server in the help text ("persistence-proxy").
// CHECK-fails like Schema::Add when an option exists already.
void AddClientTlsOptions(Schema* schema, const std::string& section, const std::string& prefix,
                         const std::string& what);

}  // namespace orch::config
