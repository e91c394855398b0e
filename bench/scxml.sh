#!/usr/bin/env bash
# The SCXML interpreter benchmarks and the comparison with SCION.
#
#   bench/scxml.sh
#
# Builds scxml_bench (in ORCH_BUILD_DIR, default build/), runs it with
# repetitions (medians), installs the pinned SCION (bench/scion/package-lock.json,
# `npm ci`) into <build>/bench-scion, checks that SCION and we go through the
# same configurations and <log> values on the routing chart, measures SCION's
# events/s on the same chart and event sequence, and ends with exactly one line:
#
#   events_per_s=<routing chart> sessions_per_s=<creation> bytes_per_session=<idle> scion_ratio=<ours/SCION>
#
# Environment: ORCH_BUILD_DIR, ORCH_BENCH_REPS (default 5), ORCH_BENCH_SESSIONS
# (idle sessions kept for the memory figure, default 10000), ORCH_BENCH_OUT (a
# directory to keep the raw JSON results in; default: a temporary directory,
# removed at exit). Needs cmake, ninja, python3, node and npm (registry access
# the first time). Every step has a time limit; nothing is left running.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${ORCH_BUILD_DIR:-$ROOT/build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
REPS=${ORCH_BENCH_REPS:-5}
export ORCH_BENCH_SESSIONS=${ORCH_BENCH_SESSIONS:-10000}
export ORCH_BENCH_CHARTS=$ROOT/bench/charts
CHART=$ORCH_BENCH_CHARTS/routing.scxml
EVENTS=$ORCH_BENCH_CHARTS/routing_events.jsonl

if [ -n "${ORCH_BENCH_OUT:-}" ]; then
  OUT=$ORCH_BENCH_OUT
  mkdir -p "$OUT"
else
  OUT=$(mktemp -d "${TMPDIR:-/tmp}/orch-scxml-bench.XXXXXX")
  trap 'rm -rf "$OUT"' EXIT
fi

log() { printf '%s\n' "scxml.sh: $*" >&2; }
die() { log "$*"; exit 1; }
for tool in cmake ninja python3 node npm timeout; do
  command -v "$tool" > /dev/null || die "$tool not found"
done

# ---- build ----
if [ ! -f "$BUILD/build.ninja" ]; then
  log "configuring $BUILD"
  timeout 600 cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
fi
log "building scxml_bench in $BUILD"
timeout 1800 ninja -C "$BUILD" -j2 scxml_bench >&2
BENCH=$BUILD/bench/scxml_bench

# ---- SCION, pinned ----
SCION=$BUILD/bench-scion
if ! cmp -s "$ROOT/bench/scion/package-lock.json" "$SCION/package-lock.json" ||
   [ ! -f "$SCION/node_modules/@scion-scxml/scxml/package.json" ]; then
  log "installing SCION into $SCION (npm ci)"
  rm -rf "$SCION"
  mkdir -p "$SCION"
  cp "$ROOT/bench/scion/package.json" "$ROOT/bench/scion/package-lock.json" "$SCION/"
  (cd "$SCION" && timeout 600 npm ci --no-audit --no-fund --loglevel=error >&2)
fi
export NODE_PATH=$SCION/node_modules
NODE_RUN="timeout 600 node $ROOT/bench/scion/run.js"

# ---- same behaviour? ----
TRACE_EVENTS=240
timeout 120 "$BENCH" --trace "$TRACE_EVENTS" > "$OUT/trace_ours.jsonl"
$NODE_RUN --trace "$TRACE_EVENTS" "$CHART" "$EVENTS" > "$OUT/trace_scion.jsonl"
if ! cmp -s "$OUT/trace_ours.jsonl" "$OUT/trace_scion.jsonl"; then
  diff "$OUT/trace_ours.jsonl" "$OUT/trace_scion.jsonl" | head -20 >&2 || true
  die "SCION and orch disagree on the routing chart (configurations or <log> values differ)"
fi
log "SCION and orch agree on $TRACE_EVENTS events: $(tail -1 "$OUT/trace_ours.jsonl")"

# ---- our benchmarks ----
log "scxml_bench: throughput, creation, snapshot ($REPS repetitions)"
timeout 1800 "$BENCH" \
  --benchmark_filter='^BM_(RoutingEvents|NullToggle|CreateRoutingSession|CreateNullSession|Snapshot|Restore)' \
  --benchmark_repetitions="$REPS" --benchmark_report_aggregates_only=true \
  --benchmark_out="$OUT/bench.json" --benchmark_out_format=json >&2
# Memory in fresh processes: an earlier benchmark's freed memory would be
# reused by the sessions and hide part of their cost.
for arg in 0 1; do
  log "scxml_bench: $ORCH_BENCH_SESSIONS idle sessions (after_call=$arg)"
  timeout 1200 "$BENCH" --benchmark_filter="^BM_IdleSessionMemory/after_call:$arg/" \
    --benchmark_out="$OUT/memory$arg.json" --benchmark_out_format=json >&2
done

# ---- SCION ----
log "SCION: routing chart, 2 s warm-up, $REPS runs of 2 s"
$NODE_RUN --bench "$CHART" "$EVENTS" --warmup 2 --seconds 2 --reps "$REPS" > "$OUT/scion.json"
log "SCION: the same, data parsed from JSON per event"
$NODE_RUN --bench "$CHART" "$EVENTS" --warmup 2 --seconds 2 --reps "$REPS" --parse > "$OUT/scion_parse.json"

# ---- summary ----
# Rates are per second of CPU time on both sides (Google Benchmark's
# counters; process.cpuUsage() in run.js), so load from other processes on
# the machine does not skew the ratio.
python3 - "$OUT" <<'EOF'
import json, sys, os
out = sys.argv[1]
bench = json.load(open(os.path.join(out, "bench.json")))
def median(name_prefix, counter):
    for b in bench["benchmarks"]:
        if b.get("aggregate_name") == "median" and b["run_name"].startswith(name_prefix):
            return b[counter]
    sys.exit("scxml.sh: no median for %s" % name_prefix)
def cv(name_prefix, counter):
    for b in bench["benchmarks"]:
        if b.get("aggregate_name") == "cv" and b["run_name"].startswith(name_prefix):
            return b.get(counter, 0.0)
    return 0.0
def memory(arg):
    data = json.load(open(os.path.join(out, "memory%d.json" % arg)))
    b = data["benchmarks"][0]
    if b.get("error_occurred"):
        sys.exit("scxml.sh: memory benchmark failed: %s" % b.get("error_message"))
    return b
for b in bench["benchmarks"]:
    if b.get("error_occurred"):
        sys.exit("scxml.sh: %s failed: %s" % (b["name"], b.get("error_message")))
events = median("BM_RoutingEvents", "events_per_s")
toggle = median("BM_NullToggle/step_only:0", "transitions_per_s")
toggle_step = median("BM_NullToggle/step_only:1", "transitions_per_s")
create = median("BM_CreateRoutingSession", "sessions_per_s")
create_null = median("BM_CreateNullSession", "sessions_per_s")
snap_us = median("BM_Snapshot", "cpu_time")
snap_bytes = median("BM_Snapshot", "snapshot_bytes")
restore_us = median("BM_Restore", "cpu_time")
m0, m1 = memory(0), memory(1)
scion = json.load(open(os.path.join(out, "scion.json")))
scion_parse = json.load(open(os.path.join(out, "scion_parse.json")))
ratio = events / scion["median"]
rows = [
    ("routing chart, events/s (target >= 300,000)", "%.0f (cv %.1f %%)" % (events, 100 * cv("BM_RoutingEvents", "events_per_s"))),
    ("null toggle, transitions/s, Enqueue+RunUntilIdle (target >= 2,000,000)", "%.0f" % toggle),
    ("null toggle, transitions/s, Enqueue+Step", "%.0f" % toggle_step),
    ("routing session creation, sessions/s (target >= 20,000)", "%.0f" % create),
    ("null-datamodel session creation, sessions/s", "%.0f" % create_null),
    ("idle routing session, RSS bytes (target <= 16,384)", "%.0f" % m0["rss_bytes_per_session"]),
    ("idle routing session, malloc bytes", "%.0f" % m0["heap_bytes_per_session"]),
    ("idle after one call, RSS / malloc bytes", "%.0f / %.0f" % (m1["rss_bytes_per_session"], m1["heap_bytes_per_session"])),
    ("snapshot (~10 KB data): bytes, us", "%.0f B, %.1f us" % (snap_bytes, snap_us)),
    ("restore into a fresh interpreter, us", "%.1f" % restore_us),
    ("SCION %s on node %s, events/s (runs %s)" % (scion["scion"], scion["node"], scion["events_per_s"]), "%d" % scion["median"]),
    ("SCION, events per wall-clock s (machine load shows here)", "%d" % scion["wall_median"]),
    ("SCION, data JSON.parse'd per event, events/s", "%d" % scion_parse["median"]),
    ("ours / SCION (target >= 3)", "%.2f" % ratio),
]
width = max(len(r[0]) for r in rows)
for k, v in rows:
    print("%-*s  %s" % (width, k, v))
print("events_per_s=%.0f sessions_per_s=%.0f bytes_per_session=%.0f scion_ratio=%.2f" %
      (events, create, m0["rss_bytes_per_session"], ratio))
EOF
