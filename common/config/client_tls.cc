#include "common/config/client_tls.h"

namespace orch::config {

void AddClientTlsOptions(Schema* schema, const std::string& section, const std::string& prefix,
                         const std::string& what) {
  const std::string p = prefix + "-tls-";
  schema->AddString(section, p + "ca", "CA (PEM) that verifies " + what + " (enables TLS)");
  schema->AddString(section, p + "cert",
                    "client certificate (PEM) for " + what + " (mutual TLS); needs " + p + "key and " + p + "ca");
  schema->AddString(section, p + "key", "private key (PEM) of " + p + "cert");
  schema->AddString(section, p + "server-name",
                    "name to verify in the certificate of " + what + " (default: the endpoint's host)");
}

}  // namespace orch::config
