#include "common/base/net.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/base/json.h"

namespace orch {

absl::StatusOr<HostPort> SplitHostPort(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("'", address, "' is not host:port"));
  }
  HostPort hp;
  hp.host = address.substr(0, colon);
  if (hp.host.size() >= 2 && hp.host.front() == '[' && hp.host.back() == ']') {
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  }
  if (!absl::SimpleAtoi(address.substr(colon + 1), &hp.port) || hp.port < 0 || hp.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("'", address, "' has no valid port"));
  }
  return hp;
}

absl::Status ValidateHostPort(const std::string& s, int min_port) {
  // Checked first so that every message below can quote the text as is and
  // stay one line.
  if (std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    return absl::InvalidArgumentError(absl::StrCat(JsonString(s), " is not host:port: it has a control character"));
  }
  const std::string what = absl::StrCat("'", s, "' is not host:port");
  const auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, " (for example 127.0.0.1:7001 or [::1]:7001)"));
  }
  std::string host = s.substr(0, colon);
  if (host.front() == '[') {
    if (host.back() != ']' || host.size() < 3) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": an IPv6 host is written [addr]"));
    }
  } else if (host.find(':') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": write IPv6 hosts as [addr]"));
  }
  if (host.find_first_of(" \t/") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": bad host"));
  }
  int port = 0;
  if (!absl::SimpleAtoi(s.substr(colon + 1), &port) || port < min_port || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": the port must be ", min_port, "..65535"));
  }
  return absl::OkStatus();
}

absl::Status CheckCanListen(const std::string& address) {
  absl::StatusOr<HostPort> hp = SplitHostPort(address);
  if (!hp.ok()) return hp.status();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(hp->port);
  int rc = ::getaddrinfo(hp->host.empty() ? nullptr : hp->host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot listen on ", address, ": ", ::gai_strerror(rc)));
  }
  absl::Status result = absl::OkStatus();
  int fd = ::socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
  if (fd < 0) {
    result = absl::InternalError(absl::StrCat("cannot listen on ", address, ": ", std::strerror(errno)));
  } else {
    // As servers do: SO_REUSEADDR ignores connections in TIME_WAIT, but bind
    // still fails while another socket listens on the port.
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
      int err = errno;
      result = (err == EADDRINUSE ? absl::AlreadyExistsError(absl::StrCat(
                                        "cannot listen on ", address, ": address already in use"))
                                  : absl::InvalidArgumentError(absl::StrCat(
                                        "cannot listen on ", address, ": ", std::strerror(err))));
    }
    ::close(fd);
  }
  ::freeaddrinfo(res);
  return result;
}

}  // namespace orch
