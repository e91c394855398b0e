#include "common/grpc/channel.h"

#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace orch::grpc_util {

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
