// orch-scxml: validate and run SCXML documents from the command line.
//
//   orch-scxml validate CHART.scxml
//   orch-scxml run CHART.scxml [--events SCRIPT.jsonl] [--snapshot-every-macrostep]
//                              [--timeout-ms N]
//
// Output rules: README.md in this folder (and ../shared/docs/orch-scxml.md).

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "common/base/file.h"
#include "common/base/json.h"
#include "common/js/ecmascript_data_model.h"
#include "common/scxml/basic_http.h"
#include "common/scxml/compiler.h"
#include "common/scxml/curl_fetcher.h"
#include "common/scxml/interpreter.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "orch/scxml/v1/snapshot.pb.h"

namespace {

using orch::scxml::CompileDocument;
using orch::scxml::CompileOptions;
using orch::scxml::Document;
using orch::scxml::Event;
using orch::scxml::Interpreter;

int64_t RealNowMs() { return absl::ToUnixMillis(absl::Now()); }

std::string OneLine(std::string s) { return absl::StrReplaceAll(s, {{"\n", "; "}}); }

// Events that arrive over BasicHTTP (on a server thread) wait here until the
// main loop hands them to their session.
class Inbox {
 public:
  void Put(std::string session_id, Event e) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.emplace_back(std::move(session_id), std::move(e));
    cv_.notify_all();
  }
  std::vector<std::pair<std::string, Event>> TakeAll() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(events_, {});
  }
  // Sleeps until `until_ms` (real time) or until something arrives.
  void WaitUntil(int64_t until_ms) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_until(lock, std::chrono::system_clock::time_point(std::chrono::milliseconds(until_ms)),
                   [&] { return !events_.empty(); });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<std::string, Event>> events_;
};

class ToolEnvironment final : public orch::scxml::InterpreterEnvironment {
 public:
  ToolEnvironment(CompileOptions options, Inbox* inbox) : options_(std::move(options)), inbox_(inbox) {}

  // Hands BasicHTTP arrivals to their sessions.
  void Drain() {
    for (auto& [sid, e] : inbox_->TakeAll()) {
      if (root_ == nullptr || *root_ == nullptr) continue;
      if (Interpreter* target = (*root_)->FindSession(sid)) (void)target->Enqueue(std::move(e));
    }
  }
  void SetRoot(std::unique_ptr<Interpreter>* root) { root_ = root; }

  void Log(const Interpreter& session, std::string_view label, std::string_view value) override {
    std::string line = "{\"log\": ";
    orch::AppendJsonString(&line, label);
    line += ", \"value\": ";
    line += value == "undefined" ? std::string("null") : std::string(value);
    line += ", \"session\": ";
    orch::AppendJsonString(&line, session.session_id());
    line += "}\n";
    std::fputs(line.c_str(), stderr);
  }

  absl::Status SendExternal(const Interpreter&, const std::string& target, const std::string& type,
                            const Event& event) override {
    if (type == orch::scxml::kBasicHttpEventProcessor) {
      // Synchronous: when the POST returns, the receiver has the event, so
      // it is queued before anything this session sends next.
      absl::Status s = orch::scxml::BasicHttpSend(target, event);
      Drain();
      return s;
    }
    return absl::UnavailableError(absl::StrCat("no session or I/O processor reachable at '", target, "'",
                                               type.empty() ? "" : " (type " + type + ")"));
  }

  absl::StatusOr<std::shared_ptr<const Document>> LoadDocument(const std::string& src,
                                                               const std::string& base) override {
    const std::string resolved = orch::scxml::CurlFetcher::Resolve(src, base);
    if (auto it = cache_.find(resolved); it != cache_.end()) return it->second;
    auto text = options_.fetcher->Fetch(src, base);
    if (!text.ok()) return text.status();
    auto doc = CompileDocument(*text, resolved, options_);
    if (!doc.ok()) return doc.status();
    cache_[resolved] = *doc;
    return *doc;
  }

  absl::StatusOr<std::shared_ptr<const Document>> CompileSource(const std::string& source,
                                                                const std::string& name) override {
    return CompileDocument(source, name, options_);
  }

 private:
  CompileOptions options_;
  Inbox* inbox_;
  std::unique_ptr<Interpreter>* root_ = nullptr;
  std::map<std::string, std::shared_ptr<const Document>> cache_;
};

struct ScriptLine {
  std::string event;
  std::string data = "undefined";
  int64_t after_ms = 0;
};

absl::StatusOr<std::vector<ScriptLine>> ReadScript(const std::string& path) {
  auto text = orch::ReadFile(path);
  if (!text.ok()) return text.status();
  std::vector<ScriptLine> out;
  int line_no = 0;
  size_t start = 0;
  while (start <= text->size()) {
    size_t end = text->find('\n', start);
    if (end == std::string::npos) end = text->size();
    std::string line = text->substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      if (end == text->size()) break;
      continue;
    }
    google::protobuf::Struct obj;
    auto st = google::protobuf::util::JsonStringToMessage(line, &obj);
    if (!st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", line_no, ": not a JSON object: ", st.message().as_string()));
    }
    ScriptLine s;
    auto it = obj.fields().find("event");
    if (it == obj.fields().end() || !it->second.has_string_value()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", line_no, ": \"event\" (a string) is required"));
    }
    s.event = it->second.string_value();
    if (auto d = obj.fields().find("data"); d != obj.fields().end()) {
      std::string json;
      (void)google::protobuf::util::MessageToJsonString(d->second, &json);
      s.data = json;
    }
    if (auto a = obj.fields().find("after_ms"); a != obj.fields().end()) {
      if (!a->second.has_number_value() || a->second.number_value() < 0) {
        return absl::InvalidArgumentError(absl::StrCat(path, ":", line_no, ": \"after_ms\" must be a number >= 0"));
      }
      s.after_ms = static_cast<int64_t>(a->second.number_value());
    }
    out.push_back(std::move(s));
    if (end == text->size()) break;
  }
  return out;
}

std::string JsonList(std::vector<std::string> ids) {
  std::sort(ids.begin(), ids.end());
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ", ";
    orch::AppendJsonString(&out, ids[i]);
  }
  return out + "]";
}

int Outcome(const std::string& outcome, const std::string& detail, int code) {
  std::string line = "{\"outcome\": " + orch::JsonString(outcome) + ", \"detail\": " +
                     (detail.empty() ? std::string("null") : orch::JsonString(detail)) + "}\n";
  std::fputs(line.c_str(), stdout);
  std::fflush(stdout);
  return code;
}

int Usage() {
  std::fputs("usage: orch-scxml validate CHART.scxml\n"
             "       orch-scxml run CHART.scxml [--events SCRIPT.jsonl] [--snapshot-every-macrostep] "
             "[--timeout-ms N]\n",
             stderr);
  return 64;
}

int Validate(const std::string& path, const CompileOptions& options) {
  auto text = orch::ReadFile(path);
  if (!text.ok()) {
    std::printf("%s:1:1: %s\n", path.c_str(), std::string(text.status().message()).c_str());
    return 1;
  }
  auto problems = orch::scxml::ValidateDocument(*text, path, options);
  for (const auto& p : problems) std::printf("%s\n", p.c_str());
  return problems.empty() ? 0 : 1;
}

int Run(const std::string& path, const std::string& events_path, bool snapshot_every, int64_t timeout_ms,
        const CompileOptions& options, orch::scxml::DataModelFactory* factory) {
  std::vector<ScriptLine> script;
  if (!events_path.empty()) {
    auto s = ReadScript(events_path);
    if (!s.ok()) return Outcome("error", std::string(s.status().message()), 1);
    script = *std::move(s);
  }
  auto text = orch::ReadFile(path);
  if (!text.ok()) return Outcome("error", std::string(text.status().message()), 1);
  auto doc = CompileDocument(*text, path, options);
  if (!doc.ok()) return Outcome("error", OneLine(std::string(doc.status().message())), 1);
  Inbox inbox;
  ToolEnvironment env(options, &inbox);
  auto http = orch::scxml::BasicHttpServer::Start(
      "127.0.0.1:0", [&](const std::string& sid, Event e) { inbox.Put(sid, std::move(e)); });
  if (!http.ok()) return Outcome("error", absl::StrCat("BasicHTTP: ", http.status().message()), 1);
  orch::scxml::InterpreterOptions io;
  io.session_id = "session1";
  io.extra_ioprocessors = (*http)->IoProcessorsMembers(io.session_id);
  io.ecmascript = factory;
  io.random_seed = 42;
  auto session = Interpreter::Create(*doc, &env, io);
  if (!session.ok()) return Outcome("error", std::string(session.status().message()), 1);
  std::unique_ptr<Interpreter> current = *std::move(session);
  env.SetRoot(&current);
  std::string fatal;
  // With --snapshot-every-macrostep the session is snapshotted, serialized
  // and restored into a fresh interpreter after every macrostep.
  auto roundtrip = [&]() {
    if (!snapshot_every || !fatal.empty()) return;
    orch::scxml::v1::SessionSnapshot snap;
    if (absl::Status st = current->Snapshot(&snap); !st.ok()) {
      fatal = absl::StrCat("snapshot: ", st.message());
      return;
    }
    orch::scxml::v1::SessionSnapshot parsed;
    if (!parsed.ParseFromString(snap.SerializeAsString())) {
      fatal = "snapshot: does not parse back";
      return;
    }
    auto restored = Interpreter::Restore(*doc, &env, io, parsed);
    if (!restored.ok()) {
      fatal = absl::StrCat("restore: ", restored.status().message());
      return;
    }
    current = *std::move(restored);
  };
  auto settle = [&]() {
    current->SetNow(RealNowMs());
    env.Drain();
    for (int i = 0; i < 100000 && fatal.empty(); ++i) {
      env.Drain();
      auto r = current->RunRound();
      roundtrip();
      if (r != orch::scxml::StepResult::kProgressed) break;
    }
  };
  // Runs until `until` (real time): delayed sends fire when due, BasicHTTP
  // arrivals are handled when they come.
  auto wait_until = [&](int64_t until) {
    while (!current->finished() && fatal.empty()) {
      const int64_t now = RealNowMs();
      if (now >= until) break;
      auto next = current->NextDueMs();
      inbox.WaitUntil(next ? std::min(*next, until) : until);
      settle();
    }
  };
  auto print_step = [&](int step, const std::string* event) {
    std::string line = absl::StrCat("{\"step\": ", step, ", \"event\": ",
                                    event == nullptr ? std::string("null") : orch::JsonString(*event),
                                    ", \"atomic\": ", JsonList(current->ActiveStates(true)), ", \"active\": ",
                                    JsonList(current->ActiveStates(false)), ", \"done\": ", current->finished() ? "true" : "false",
                                    "}\n");
    std::fputs(line.c_str(), stdout);
    std::fflush(stdout);
  };

  current->SetNow(RealNowMs());
  if (absl::Status st = current->Start(); !st.ok()) return Outcome("error", std::string(st.message()), 1);
  roundtrip();
  settle();
  print_step(0, nullptr);
  int step = 0;
  for (const ScriptLine& line : script) {
    if (line.after_ms > 0) wait_until(RealNowMs() + line.after_ms);
    if (!current->finished()) {
      Event e;
      e.name = line.event;
      e.type = Event::Type::kExternal;
      e.data = line.data;
      (void)current->Enqueue(std::move(e));
      settle();
    }
    print_step(++step, &line.event);
  }
  wait_until(RealNowMs() + timeout_ms);
  if (!fatal.empty()) return Outcome("error", fatal, 1);
  if (!current->finished()) {
    return Outcome("timeout", absl::StrCat("no top-level final state within ", timeout_ms, " ms"), 2);
  }
  if (current->final_state().empty()) return Outcome("error", "the session ended without reaching a final state", 1);
  return Outcome(current->final_state(), "", 0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return Usage();
  const std::string command = argv[1];
  const std::string path = argv[2];
  std::string events;
  bool snapshot_every = false;
  int64_t timeout_ms = 10000;
  for (int i = 3; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--events" && i + 1 < argc) {
      events = argv[++i];
    } else if (a == "--snapshot-every-macrostep") {
      snapshot_every = true;
    } else if (a == "--timeout-ms" && i + 1 < argc && absl::SimpleAtoi(argv[i + 1], &timeout_ms) && timeout_ms >= 0) {
      ++i;
    } else {
      std::fprintf(stderr, "orch-scxml: bad argument '%s'\n", a.c_str());
      return Usage();
    }
  }
  orch::scxml::CurlFetcher fetcher;
  // validate reports code that does not compile; run defers such errors to
  // the moment the code runs (error.execution), as the W3C tests expect of
  // a running session (e.g. expr="return").
  orch::js::EcmascriptDataModelFactory strict;
  orch::js::EcmascriptDataModelFactory lenient({.defer_compile_errors = true});
  CompileOptions options;
  options.fetcher = &fetcher;
  options.ecmascript = command == "validate" ? &strict : &lenient;
  if (command == "validate") return Validate(path, options);
  if (command == "run") {
    const int code = Run(path, events, snapshot_every, timeout_ms, options, &lenient);
    // Everything is printed; skip destructors, because stopping the embedded
    // HTTP server (civetweb) waits up to two seconds for its poll loop.
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(code);
  }
  return Usage();
}
