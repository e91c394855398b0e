#pragma once

#include <map>
#include <optional>
#include <string>

namespace orch {

// Read access to process environment variables, behind an interface so that
// configuration can be tested without touching the real environment.
class Environment {
 public:
  virtual ~Environment() = default;
  virtual std::optional<std::string> Get(const std::string& name) const = 0;
  // Every variable whose name starts with `prefix`, sorted by name.
  virtual std::map<std::string, std::string> WithPrefix(const std::string& prefix) const = 0;
};

// The process environment (environ). Thread-compatible: nothing in
// Orchestrion calls setenv after start-up.
class RealEnvironment final : public Environment {
 public:
  std::optional<std::string> Get(const std::string& name) const override;
  std::map<std::string, std::string> WithPrefix(const std::string& prefix) const override;
};

// An environment held in a map, for tests.
class MapEnvironment final : public Environment {
 public:
  MapEnvironment() = default;
  explicit MapEnvironment(std::map<std::string, std::string> vars) : vars_(std::move(vars)) {}
  void Set(const std::string& name, const std::string& value) { vars_[name] = value; }
  std::optional<std::string> Get(const std::string& name) const override;
  std::map<std::string, std::string> WithPrefix(const std::string& prefix) const override;

 private:
  std::map<std::string, std::string> vars_;
};

}  // namespace orch
