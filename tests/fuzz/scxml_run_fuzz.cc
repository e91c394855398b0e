// Fuzz target: bytes -> an SCXML chart and a short event script, run as a
// session with the ECMAScript data model, a fake clock and no real I/O.
//
// Input format (seeds in corpus/scxml_run/):
//
//   <chart>
//   %%
//   one line per step, at most kMaxLines:
//     name [JSON data]   an external event (data: JSON text, or a string)
//     +N                 advance the fake clock N ms (delayed sends fire)
//     @                  the cut point: snapshot, restore into a fresh
//                        interpreter, continue there
//
// Without "%%" the whole input is the chart. Without "@" the cut is right
// after the session started.
//
// Properties checked (abort on violation, so libFuzzer reports them):
//  - no crash, hang or unbounded memory (small limits: work budget, memory
//    cap, microsteps, queue, document size);
//  - two uninterrupted runs give the same transcript (determinism);
//  - Restore(Snapshot()) gives back the same snapshot bytes;
//  - the run that is snapshotted and restored at the cut gives the same
//    transcript (configuration, logs, outgoing sends after every step) and
//    the same final snapshot bytes as the uninterrupted run.
// A snapshot may legitimately fail (e.g. a closure in the data model); then
// the restored run is skipped.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/base/check.h"
#include "common/base/json.h"
#include "common/js/ecmascript_data_model.h"
#include "common/scxml/compiler.h"
#include "common/scxml/interpreter.h"
#include "common/scxml/testing/recording_environment.h"
#include "orch/scxml/v1/snapshot.pb.h"

namespace {

using orch::scxml::Document;
using orch::scxml::Event;
using orch::scxml::Interpreter;

constexpr size_t kMaxLines = 24;
constexpr int64_t kStartMs = 1'700'000'000'000;
constexpr int64_t kMaxAdvanceMs = 3'600'000;
constexpr size_t kMaxRoundsPerSettle = 64;
constexpr size_t kMaxStepsPerRound = 64;
constexpr size_t kMaxFiresPerAdvance = 64;
constexpr size_t kMaxTranscript = 1 << 20;

class RefusingFetcher final : public orch::scxml::Fetcher {
 public:
  absl::StatusOr<std::string> Fetch(const std::string& uri, const std::string&) override {
    return absl::PermissionDeniedError("the fuzzer fetches nothing: " + uri);
  }
};

orch::scxml::CompileOptions Options() {
  // Lenient, as `orch-scxml run`: code that does not compile raises
  // error.execution when it runs.
  static auto* factory = new orch::js::EcmascriptDataModelFactory({.defer_compile_errors = true});
  static auto* fetcher = new RefusingFetcher();
  orch::scxml::CompileOptions o;
  o.ecmascript = factory;
  o.fetcher = fetcher;
  o.xml.max_bytes = 64 << 10;
  o.xml.max_depth = 64;
  o.max_states = 500;
  return o;
}

orch::scxml::InterpreterOptions SessionOptions() {
  orch::scxml::InterpreterOptions o;
  o.session_id = "fuzz";
  o.ecmascript = Options().ecmascript;
  o.random_seed = 7;
  o.limits.max_work_per_call = 200'000;
  o.limits.max_memory_bytes = 4 << 20;
  o.limits.max_call_depth = 64;
  o.max_microsteps = 200;
  o.max_external_queue = 64;
  return o;
}

// Records what the session does within kMaxTranscript bytes; refuses every
// external target and every document load (no files, no network).
orch::scxml::RecordingEnvironment Environment() {
  orch::scxml::RecordingEnvironment env(Options());
  env.max_recorded_bytes = kMaxTranscript;
  return env;
}

struct Line {
  enum class Kind { kEvent, kAdvance, kCut } kind;
  std::string name;
  std::string data = "undefined";
  int64_t advance_ms = 0;
};

std::vector<Line> ParseScript(absl::string_view script, size_t* cut) {
  std::vector<Line> out;
  *cut = 0;
  for (absl::string_view raw : absl::StrSplit(script, '\n')) {
    if (out.size() >= kMaxLines) break;
    if (raw.empty()) continue;
    Line l;
    if (raw == "@") {
      *cut = out.size();
      continue;
    }
    if (raw[0] == '+') {
      l.kind = Line::Kind::kAdvance;
      int64_t ms = 0;
      if (!absl::SimpleAtoi(raw.substr(1), &ms) || ms < 0) ms = 1;
      l.advance_ms = ms > kMaxAdvanceMs ? kMaxAdvanceMs : ms;
    } else {
      l.kind = Line::Kind::kEvent;
      const size_t space = raw.find(' ');
      l.name = std::string(raw.substr(0, space));
      if (space != absl::string_view::npos) {
        absl::string_view d = raw.substr(space + 1);
        l.data = orch::scxml::IsJson(std::string_view(d.data(), d.size())) ? std::string(d) : orch::JsonString(std::string(d));
      }
    }
    out.push_back(std::move(l));
  }
  return out;
}

std::string SnapshotBytes(const Interpreter& s, bool* ok) {
  orch::scxml::v1::SessionSnapshot snap;
  absl::Status st = s.Snapshot(&snap);
  *ok = st.ok();
  if (!st.ok()) return absl::StrCat("snapshot failed: ", st.message());
  return snap.SerializeAsString();
}

void Record(const Interpreter& s, size_t step, orch::scxml::RecordingEnvironment* env) {
  env->Append(absl::StrCat("step ", step, " atomic=[", absl::StrJoin(s.ActiveStates(true), ","), "] active=[",
                           absl::StrJoin(s.ActiveStates(false), ","), "] finished=", s.finished(),
                           " final=", s.final_state(), " now=", s.now(), " pending=", s.pending_external(), "\n"));
}

struct RunResult {
  std::string transcript;
  std::string final_snapshot;
  bool final_snapshot_ok = false;
  bool restored = false;  // the cut happened (snapshot succeeded)
};

// Runs the script. With `restore_at_cut`, the session is snapshotted,
// serialized, parsed and restored into a fresh interpreter before line
// `cut` (the restored session also re-snapshots to the same bytes).
RunResult Run(std::shared_ptr<const Document> doc, const std::vector<Line>& lines, size_t cut, bool restore_at_cut) {
  RunResult result;
  orch::scxml::RecordingEnvironment env = Environment();
  auto created = Interpreter::Create(doc, &env, SessionOptions());
  if (!created.ok()) {
    result.transcript = absl::StrCat("create failed: ", created.status().message());
    return result;
  }
  std::unique_ptr<Interpreter> s = *std::move(created);
  s->SetNow(kStartMs);
  if (absl::Status st = s->Start(); !st.ok()) {
    result.transcript = absl::StrCat("start failed: ", st.message());
    return result;
  }
  orch::scxml::Settle(s.get(), kMaxRoundsPerSettle, kMaxStepsPerRound);
  Record(*s, 0, &env);
  for (size_t i = 0; i <= lines.size(); ++i) {
    if (restore_at_cut && i == cut) {
      bool ok = false;
      const std::string bytes = SnapshotBytes(*s, &ok);
      if (!ok) break;  // cannot cut here: the caller ignores this run
      orch::scxml::v1::SessionSnapshot parsed;
      ORCH_CHECK(parsed.ParseFromString(bytes), "a snapshot does not parse back");
      auto restored = Interpreter::Restore(doc, &env, SessionOptions(), parsed);
      if (!restored.ok()) {
        std::fprintf(stderr, "restore failed: %s\n", std::string(restored.status().message()).c_str());
        ORCH_CHECK(false, "a snapshot that was taken does not restore");
      }
      s = *std::move(restored);
      bool again_ok = false;
      const std::string again = SnapshotBytes(*s, &again_ok);
      ORCH_CHECK(again_ok, "a restored session cannot be snapshotted");
      ORCH_CHECK(again == bytes, "Snapshot(Restore(snapshot)) differs from snapshot");
      result.restored = true;
    }
    if (i == lines.size()) break;
    const Line& l = lines[i];
    if (l.kind == Line::Kind::kAdvance) {
      orch::scxml::AdvanceClock(s.get(), l.advance_ms, kMaxFiresPerAdvance, kMaxRoundsPerSettle,
                                kMaxStepsPerRound);
    } else if (!s->finished()) {
      Event e;
      e.name = l.name;
      e.data = l.data;
      absl::Status st = s->Enqueue(std::move(e));
      if (!st.ok()) env.Append(absl::StrCat("enqueue: ", st.ToString(), "\n"));
      orch::scxml::Settle(s.get(), kMaxRoundsPerSettle, kMaxStepsPerRound);
    }
    Record(*s, i + 1, &env);
  }
  result.final_snapshot = SnapshotBytes(*s, &result.final_snapshot_ok);
  result.transcript = std::move(env.transcript);
  return result;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  absl::string_view chart = input;
  absl::string_view script;
  if (size_t sep = input.find("\n%%\n"); sep != absl::string_view::npos) {
    chart = input.substr(0, sep);
    script = input.substr(sep + 4);
  }
  auto doc = orch::scxml::CompileDocument(std::string_view(chart.data(), chart.size()), "fuzz.scxml", Options());
  if (!doc.ok()) return 0;
  size_t cut = 0;
  const std::vector<Line> lines = ParseScript(script, &cut);

  const RunResult plain = Run(*doc, lines, cut, false);
  const RunResult again = Run(*doc, lines, cut, false);
  if (plain.transcript != again.transcript || plain.final_snapshot != again.final_snapshot) {
    std::fprintf(stderr, "--- first run\n%s\n--- second run\n%s\n", plain.transcript.c_str(),
                 again.transcript.c_str());
    ORCH_CHECK(false, "two identical runs differ");
  }
  const RunResult cut_run = Run(*doc, lines, cut, true);
  if (!cut_run.restored) return 0;
  if (plain.transcript != cut_run.transcript) {
    std::fprintf(stderr, "--- uninterrupted\n%s\n--- restored at line %zu\n%s\n", plain.transcript.c_str(), cut,
                 cut_run.transcript.c_str());
    ORCH_CHECK(false, "the restored run's transcript differs");
  }
  ORCH_CHECK(plain.final_snapshot_ok == cut_run.final_snapshot_ok, "final snapshot succeeds in one run only");
  ORCH_CHECK(plain.final_snapshot == cut_run.final_snapshot, "the restored run's final snapshot differs");
  return 0;
}
