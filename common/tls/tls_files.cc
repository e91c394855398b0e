#include "common/tls/tls_files.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "common/base/file.h"

namespace orch::tls {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

BioPtr MemBio(const std::string& s) {
  return BioPtr(BIO_new_mem_buf(s.data(), static_cast<int>(s.size())));
}

absl::StatusOr<std::string> Read(const std::string& path, const std::string& option) {
  absl::StatusOr<std::string> text = ReadFile(path, 4 << 20);
  if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat(option, ": ", text.status().message()));
  return text;
}

// The first certificate of a PEM bundle, after checking there is one.
absl::StatusOr<X509Ptr> FirstCert(const std::string& pem, const std::string& path,
                                  const std::string& option) {
  BioPtr bio = MemBio(pem);
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(option, ": '", path, "' holds no PEM certificate"));
  }
  return cert;
}

}  // namespace

absl::StatusOr<TlsFiles> LoadTlsFiles(const TlsPaths& paths) {
  TlsFiles files;
  if (paths.cert.empty() != paths.key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(paths.cert_option, " and ", paths.key_option,
                                                   ": set both or neither"));
  }
  if (!paths.cert.empty()) {
    auto cert_pem = Read(paths.cert, paths.cert_option);
    if (!cert_pem.ok()) return cert_pem.status();
    auto cert = FirstCert(*cert_pem, paths.cert, paths.cert_option);
    if (!cert.ok()) return cert.status();

    auto key_pem = Read(paths.key, paths.key_option);
    if (!key_pem.ok()) return key_pem.status();
    BioPtr bio = MemBio(*key_pem);
    PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    ERR_clear_error();
    if (key == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          paths.key_option, ": '", paths.key, "' holds no PEM private key (or it is encrypted)"));
    }
    if (X509_check_private_key(cert->get(), key.get()) != 1) {
      ERR_clear_error();
      return absl::InvalidArgumentError(absl::StrCat(paths.key_option, ": the key in '", paths.key,
                                                     "' does not match the certificate in '",
                                                     paths.cert, "' (", paths.cert_option, ")"));
    }
    files.cert_pem = *std::move(cert_pem);
    files.key_pem = *std::move(key_pem);
  }
  if (!paths.ca.empty()) {
    auto ca_pem = Read(paths.ca, paths.ca_option);
    if (!ca_pem.ok()) return ca_pem.status();
    auto ca = FirstCert(*ca_pem, paths.ca, paths.ca_option);
    if (!ca.ok()) return ca.status();
    files.ca_pem = *std::move(ca_pem);
  }
  return files;
}

}  // namespace orch::tls
