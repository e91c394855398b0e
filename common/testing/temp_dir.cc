#include "common/testing/temp_dir.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/base/check.h"

namespace orch::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/orch-test-XXXXXX";
  char* made = ::mkdtemp(tmpl.data());
  ORCH_CHECK(made != nullptr, "mkdtemp failed");
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::WriteFile(const std::string& name, const std::string& content) const {
  std::filesystem::path p = std::filesystem::path(path_) / name;
  std::error_code ec;
  std::filesystem::create_directories(p.parent_path(), ec);
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  ORCH_CHECK(out.good(), "TempDir::WriteFile failed");
  return p.string();
}

}  // namespace orch::testing
