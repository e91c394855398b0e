#pragma once

#include <string>

namespace orch::testing {

// A TCP socket listening on 127.0.0.1 at a port the kernel chose, held for the
// object's lifetime: how tests occupy a port to check "address in use".
class HeldPort {
 public:
  HeldPort();
  ~HeldPort();
  HeldPort(const HeldPort&) = delete;
  HeldPort& operator=(const HeldPort&) = delete;
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace orch::testing
