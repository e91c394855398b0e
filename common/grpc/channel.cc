#include "common/grpc/channel.h"

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace orch::grpc_util {

absl::StatusOr<ChannelOptions> ClientChannelOptions(const tls::TlsPaths& paths, std::string server_name) {
  auto files = tls::LoadTlsFiles(paths);
  if (!files.ok()) return files.status();
  if (files->enabled() && files->ca_pem.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(paths.cert_option, " needs ", paths.ca_option));
  }
  ChannelOptions o;
  o.tls = *std::move(files);
  o.server_name = std::move(server_name);
  return o;
}

absl::StatusOr<ChannelOptions> ChannelOptionsFromConfig(const config::Config& config,
                                                        const std::string& option_prefix) {
  const std::string p = option_prefix + "-tls-";
  return ClientChannelOptions({.cert = config.GetString(p + "cert"),
                               .key = config.GetString(p + "key"),
                               .ca = config.GetString(p + "ca"),
                               .cert_option = p + "cert",
                               .key_option = p + "key",
                               .ca_option = p + "ca"},
                              config.GetString(p + "server-name"));
}

std::shared_ptr<::grpc::Channel> MakeChannel(const std::string& target,
                                             const ChannelOptions& options) {
  ::grpc::ChannelArguments args;
  if (options.connection_index >= 0) {
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("orch.connection_index", options.connection_index);
  }
  if (options.tls.ca_pem.empty()) {
    return ::grpc::CreateCustomChannel(target, ::grpc::InsecureChannelCredentials(), args);
  }
  ::grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = options.tls.ca_pem;
  ssl.pem_private_key = options.tls.key_pem;
  ssl.pem_cert_chain = options.tls.cert_pem;
  if (!options.server_name.empty()) args.SetSslTargetNameOverride(options.server_name);
  return ::grpc::CreateCustomChannel(target, ::grpc::SslCredentials(ssl), args);
}

}  // namespace orch::grpc_util
