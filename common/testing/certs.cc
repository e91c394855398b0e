#include "common/testing/certs.h"

#include <sys/wait.h>

#include "absl/strings/str_cat.h"
#include "common/testing/subprocess.h"

namespace orch::testing {

absl::StatusOr<TestCerts> MakeTestCerts(const std::string& dir) {
  const std::string script = absl::StrCat(R"(set -e
cd ')", dir, R"('
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
key ca.key
openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj /CN=orch-test-ca
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
printf 'extendedKeyUsage=clientAuth\n' > client.ext
serial=1
for who in server client; do
  serial=$((serial + 1))
  key $who.key
  openssl req -new -key $who.key -out $who.csr -subj /CN=orch-test-$who
  openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -set_serial $serial \
    -days 2 -extfile $who.ext -out $who.pem 2>&1
done
key other.key
)");
  std::string out, err;
  absl::StatusOr<int> status = RunProgram({"/bin/sh", "-c", script}, "", &out, &err);
  if (!status.ok()) return status.status();
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    return absl::InternalError(absl::StrCat("making test certificates failed: ", err));
  }
  return TestCerts{dir + "/ca.pem",     dir + "/server.pem", dir + "/server.key",
                   dir + "/client.pem", dir + "/client.key", dir + "/other.key"};
}

}  // namespace orch::testing
