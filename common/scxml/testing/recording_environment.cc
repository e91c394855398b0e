#include "common/scxml/testing/recording_environment.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace orch::scxml {
namespace {

absl::string_view View(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

void RecordingEnvironment::Log(const Interpreter& session, std::string_view label, std::string_view value_json) {
  const std::string& id = session.session_id();
  std::string line = absl::StrCat(id == root_session ? "" : id + ": ", View(label), "=", View(value_json));
  if (Room(line.size())) logs.push_back(std::move(line));
  Append(absl::StrCat("log ", id, " ", View(label), "=", View(value_json), "\n"));
}

absl::Status RecordingEnvironment::SendExternal(const Interpreter& from, const std::string& target,
                                                const std::string& type, const Event& event) {
  std::string line = absl::StrCat(target, " ", event.name);
  if (Room(line.size())) external.push_back(std::move(line));
  Append(absl::StrCat("external ", from.session_id(), " -> ", target, " (", type, ") ", event.name, " ",
                      event.data, "\n"));
  return absl::UnavailableError(absl::StrCat("no route to ", target, " (a test environment reaches nothing)"));
}

absl::StatusOr<std::shared_ptr<const Document>> RecordingEnvironment::LoadDocument(const std::string& src,
                                                                                   const std::string&) {
  auto it = documents.find(src);
  if (it == documents.end()) return absl::NotFoundError(absl::StrCat("no test document '", src, "'"));
  return it->second;
}

absl::StatusOr<std::shared_ptr<const Document>> RecordingEnvironment::CompileSource(const std::string& source,
                                                                                    const std::string& name) {
  return CompileDocument(source, name, compile_);
}

void RecordingEnvironment::Append(absl::string_view text) {
  if (Room(text.size())) transcript.append(text.data(), text.size());
}

bool RecordingEnvironment::Room(size_t bytes) {
  if (recorded_bytes_ >= max_recorded_bytes || bytes > max_recorded_bytes - recorded_bytes_) {
    recorded_bytes_ = max_recorded_bytes;  // once full, stays full: records are never cut in the middle
    return false;
  }
  recorded_bytes_ += bytes;
  return true;
}

js::EcmascriptDataModelFactory* EcmascriptFactory() {
  static auto* factory = new js::EcmascriptDataModelFactory();
  return factory;
}

CompileOptions EcmascriptCompileOptions() {
  CompileOptions o;
  o.ecmascript = EcmascriptFactory();
  return o;
}

InterpreterOptions EcmascriptSessionOptions(std::string id) {
  InterpreterOptions o;
  o.session_id = std::move(id);
  o.ecmascript = EcmascriptFactory();
  return o;
}

void Settle(Interpreter* session, size_t max_rounds, size_t max_steps) {
  for (size_t i = 0; i < max_rounds; ++i) {
    if (session->RunUntilIdle(max_steps) != StepResult::kProgressed) break;
  }
}

void AdvanceClock(Interpreter* session, int64_t ms, size_t max_fires, size_t max_rounds, size_t max_steps) {
  const int64_t until = session->now() + ms;
  for (size_t i = 0; i < max_fires && !session->finished(); ++i) {
    const std::optional<int64_t> next = session->NextDueMs();
    if (!next || *next > until) break;
    session->SetNow(std::max(*next, session->now()));
    Settle(session, max_rounds, max_steps);
  }
  session->SetNow(until);
  Settle(session, max_rounds, max_steps);
}

}  // namespace orch::scxml
