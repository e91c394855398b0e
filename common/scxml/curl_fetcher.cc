#include "common/scxml/curl_fetcher.h"

#include <curl/curl.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/base/file.h"

namespace orch::scxml {
namespace {

struct Sink {
  std::string* out;
  size_t max;
  bool overflow = false;
};

size_t Write(char* data, size_t size, size_t n, void* arg) {
  auto* sink = static_cast<Sink*>(arg);
  if (sink->out->size() + size * n > sink->max) {
    sink->overflow = true;
    return 0;
  }
  sink->out->append(data, size * n);
  return size * n;
}

bool IsHttp(const std::string& s) {
  return absl::StartsWith(s, "http://") || absl::StartsWith(s, "https://");
}

}  // namespace

std::string CurlFetcher::Resolve(const std::string& uri, const std::string& base) {
  if (IsHttp(uri)) return uri;
  std::string path = uri;
  if (absl::StartsWith(path, "file://")) {
    path = path.substr(7);
  } else if (absl::StartsWith(path, "file:")) {
    path = path.substr(5);
  }
  if (!path.empty() && path[0] == '/') return path;
  if (IsHttp(base)) {
    auto slash = base.rfind('/');
    return base.substr(0, slash + 1) + path;
  }
  std::string base_path = base;
  if (absl::StartsWith(base_path, "file:")) base_path = base_path.substr(5);
  auto slash = base_path.rfind('/');
  if (slash == std::string::npos) return path;
  return base_path.substr(0, slash + 1) + path;
}

absl::StatusOr<std::string> CurlFetcher::Fetch(const std::string& uri, const std::string& base) {
  const std::string resolved = Resolve(uri, base);
  if (!IsHttp(resolved)) {
    auto text = ReadFile(resolved, max_bytes_);
    if (!text.ok()) return absl::NotFoundError(std::string(text.status().message()));
    return text;
  }
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  std::string body;
  Sink sink{&body, max_bytes_};
  curl_easy_setopt(curl, CURLOPT_URL, resolved.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  if (sink.overflow) return absl::ResourceExhaustedError(absl::StrCat(resolved, ": larger than ", max_bytes_, " bytes"));
  if (rc != CURLE_OK) return absl::UnavailableError(absl::StrCat(resolved, ": ", curl_easy_strerror(rc)));
  if (status < 200 || status >= 300) return absl::NotFoundError(absl::StrCat(resolved, ": HTTP ", status));
  return body;
}

}  // namespace orch::scxml
