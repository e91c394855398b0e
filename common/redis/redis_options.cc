#include "common/redis/redis_options.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "common/base/net.h"
#include "common/tls/tls_files.h"

namespace orch::redis {

absl::Status ValidateRedisOptions(const RedisOptions& o) {
  const std::string& p = o.option_prefix;
  if (o.nodes.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(p, "redis-nodes: at least one host:port is needed"));
  }
  for (const std::string& node : o.nodes) {
    absl::StatusOr<HostPort> hp = SplitHostPort(node);
    if (!hp.ok() || hp->host.empty() || hp->port <= 0 || hp->port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat(p, "redis-nodes: '", node, "' is not host:port"));
    }
  }
  if (!o.username.empty() && o.password.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(p, "username: set, but ", p, "password is empty (an ACL user needs one)"));
  }
  const bool any_tls_file = !o.tls_cert.empty() || !o.tls_key.empty() || !o.tls_cacert.empty() ||
                            !o.tls_cacertdir.empty() || !o.tls_sni.empty();
  if (any_tls_file && !o.tls_enabled) {
    return absl::InvalidArgumentError(absl::StrCat(
        p, "tls-enabled: false, but TLS options (tls-cert, tls-key, tls-cacert, tls-cacertdir, "
           "tls-sni) are set; enable TLS or remove them"));
  }
  if (o.tls_enabled) {
    tls::TlsPaths paths;
    paths.cert = o.tls_cert;
    paths.key = o.tls_key;
    paths.ca = o.tls_cacert;
    paths.cert_option = p + "tls-cert";
    paths.key_option = p + "tls-key";
    paths.ca_option = p + "tls-cacert";
    absl::StatusOr<tls::TlsFiles> files = tls::LoadTlsFiles(paths);
    if (!files.ok()) return files.status();
    if (!o.tls_cacertdir.empty()) {
      struct stat st;
      if (::stat(o.tls_cacertdir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        return absl::InvalidArgumentError(
            absl::StrCat(p, "tls-cacertdir: '", o.tls_cacertdir, "' is not a directory"));
      }
    }
  }
  if (o.connect_timeout <= absl::ZeroDuration() || o.request_timeout <= absl::ZeroDuration() ||
      o.backoff_initial <= absl::ZeroDuration() || o.backoff_max < o.backoff_initial) {
    return absl::InvalidArgumentError(absl::StrCat(
        p, "redis timeouts: connect and request timeouts and the backoff must be positive, "
           "backoff_max >= backoff_initial"));
  }
  if (o.max_redirects < 1) {
    return absl::InvalidArgumentError("redis max_redirects must be at least 1");
  }
  return absl::OkStatus();
}

}  // namespace orch::redis
