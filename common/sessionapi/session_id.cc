#include "common/sessionapi/session_id.h"

#include <sys/random.h>

#include <cerrno>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/base/check.h"
#include "common/base/sha256.h"

namespace orch::sessionapi {
namespace {

constexpr char kDigits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

// 32 base-36 characters from bytes: each character takes one byte modulo
// 36 after rejecting values >= 252 (7 * 36), so every character is uniform.
std::string Encode(const unsigned char* bytes, size_t n, size_t* used) {
  std::string out;
  size_t i = 0;
  while (out.size() < kSessionIdRandomChars && i < n) {
    const unsigned char b = bytes[i++];
    if (b >= 252) continue;
    out.push_back(kDigits[b % 36]);
  }
  *used = i;
  return out;
}

}  // namespace

std::string NewSessionId(int node) {
  std::string chars;
  while (chars.size() < kSessionIdRandomChars) {
    unsigned char buf[64];
    ssize_t got = getrandom(buf, sizeof buf, 0);
    if (got < 0 && errno == EINTR) continue;
    ORCH_CHECK(got > 0, "getrandom failed");
    size_t used = 0;
    chars += Encode(buf, static_cast<size_t>(got), &used);
  }
  chars.resize(kSessionIdRandomChars);
  return absl::StrCat("~", node, "~", chars);
}

std::string SessionIdForKey(int node, absl::string_view key) {
  std::string chars;
  std::string input = absl::StrCat("orch-session-key\n", node, "\n", key);
  for (int round = 0; chars.size() < kSessionIdRandomChars; ++round) {
    const Sha256Digest digest = Sha256(absl::StrCat(round, "\n", input));
    size_t used = 0;
    chars += Encode(digest.data(), digest.size(), &used);
  }
  chars.resize(kSessionIdRandomChars);
  return absl::StrCat("~", node, "~", chars);
}

absl::StatusOr<int> NodeOfSessionId(absl::string_view id) {
  auto bad = [&](absl::string_view why) {
    const bool echo = id.size() <= 64 && id.find_first_not_of(
        "~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_.") == absl::string_view::npos;
    return absl::InvalidArgumentError(
        absl::StrCat("session id ", echo ? absl::StrCat("'", id, "' ") : "", why,
                     " (expected ~<node>~<32 characters 0-9A-Z>)"));
  };
  if (id.empty()) return bad("is empty");
  if (id[0] != '~') return bad("does not start with '~'");
  const size_t second = id.find('~', 1);
  if (second == absl::string_view::npos) return bad("has no node part");
  int node = 0;
  absl::string_view node_text = id.substr(1, second - 1);
  if (node_text.empty() || node_text.size() > 4 ||
      node_text.find_first_not_of("0123456789") != absl::string_view::npos ||
      !absl::SimpleAtoi(node_text, &node) || node < 1) {
    return bad("has no valid node number");
  }
  absl::string_view rest = id.substr(second + 1);
  if (rest.size() != kSessionIdRandomChars ||
      rest.find_first_not_of(kDigits) != absl::string_view::npos) {
    return bad("does not end in 32 characters 0-9A-Z");
  }
  return node;
}

std::string NodeLeaseName(int node) { return absl::StrCat("node:", node); }

}  // namespace orch::sessionapi
