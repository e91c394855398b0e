#!/usr/bin/env bash
# session-engine benchmark. Starts its own redis-server,
# persistence-proxy and session-engine on loopback and measures, in one run:
#  1. the proxy's ceilings: unary AppendEvents and one AppendEventsBatchStream
#     (what the engine uses by default) of 150-byte entries from 256 sessions
#     (bench/persistence_load);
#  2. StartSession/s with persistence off and on (bench/session_load);
#  3. SendEvent/s with persistence off and on, p50/p99 acknowledgement
#     latency, and p99 at half the persistent peak; the CPU time of the
#     engine, the proxy and Redis per event applied in each peak run;
#  4. resident memory per active (in-memory) session: engine RSS growth over
#     ORCH_BENCH_ACTIVE (10000) sessions;
#  5. recovery: ORCH_BENCH_RECOVERY (100000) persistent sessions are created and
#     deactivated, session-engine is SIGKILLed and restarted; the time from the
#     restart to the end of its recovery pass, and reactivation of 10000 of them.
# Ends with one line:
#   starts_off=.. starts_on=.. events_off=.. events_on=.. proxy_ceiling=.. on_vs_ceiling=..
#   p99_ms=.. p99_half_ms=.. bytes_per_active_session=.. recovery_s=.. recovery_pass_s=..
#   cpu_us_per_event=<engine, persistence off> cpu_us_per_event_on=<engine, on>
#   cpu_us_per_event_proxy=.. cpu_us_per_event_redis=.. (persistence on)
#   and with ORCH_BENCH_BASELINE_BUILD=<another build dir>: baseline_events_off=..
#   baseline_events_on=.. speedup_off=.. speedup_on=.. baseline_cpu_us_per_event=..
#   baseline_cpu_us_per_event_on=.. (the same event phases with that build's engine,
#   right after ours, on the same Redis and proxy)
#
# Usage: bench/session.sh    (ORCH_BUILD_DIR, ORCH_BENCH_SECONDS=10, ORCH_BENCH_THREADS=32)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib/stack.sh"
build=${ORCH_BUILD_DIR:-build}
[[ "$build" = /* ]] || build="$root/$build"
seconds=${ORCH_BENCH_SECONDS:-10}
threads=${ORCH_BENCH_THREADS:-32}
active=${ORCH_BENCH_ACTIVE:-10000}
recovery=${ORCH_BENCH_RECOVERY:-100000}

stack_init --tmp /tmp/orch-sbench.XXXXXX "$build"
stack_build persistence-proxy session-engine persistence_load session_load orch-probe
work=$STACK_WORK
load=$(stack_bin session_load)
off_chart=$root/bench/charts/session_counter_false.scxml
on_chart=$root/bench/charts/session_counter_true.scxml

stack_start_redis
port=$STACK_REDIS_PORT
stack_start_proxy log.level='"warn"'
pport=$STACK_PROXY_ENDPOINT

ceiling_line=$("$(stack_bin persistence_load)" --target "$pport" --sessions 256 --seconds "$seconds" --prefix CEIL)
echo "proxy ceiling, unary AppendEvents, 256 sessions: $ceiling_line"
ceiling=$(sed -n 's/.*appends_per_s=\([0-9]*\).*/\1/p' <<<"$ceiling_line")
# What session-engine uses by default (persistence.append-stream): one batch stream.
batch_line=$("$(stack_bin persistence_load)" --target "$pport" --sessions 256 --seconds "$seconds" \
             --streams 1 --batch 1 --prefix CEILB)
echo "proxy ceiling, AppendEventsBatchStream x1, 256 sessions: $batch_line"
batch_ceiling=$(sed -n 's/.*appends_per_s=\([0-9]*\).*/\1/p' <<<"$batch_line")
redis-cli -p "$port" flushall >/dev/null

engine_pid=
start_engine() {  # extra SECTION.KEY=VALUE settings
  stack_start_engine engine orchestration.lease-ttl-ms=2000 orchestration.lease-renew-ms=500 \
    orchestration.session-restart-timeout=10 scxml.session-processing-threads=4 scxml.max-sessions=1000000 "$@"
  engine_pid=${STACK_PID[engine]}
}
metric() { stack_metric engine "$1"; }
rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$engine_pid/status"; }
stop_engine() { stack_stop --grace 60 engine || true; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
run() { "$load" --target "${STACK_ENDPOINT[engine]}" --threads "$threads" "$@"; }
tck=$STACK_CLK_TCK
redis_pid=${STACK_PID[redis-server]}
proxy_pid=${STACK_PID[persistence-proxy]}
# The events the engine applied so far (orch_session_engine_inputs_applied_total).
applied() {
  local v
  v=$(metric orch_session_engine_inputs_applied_total)
  [ -n "$v" ] || { echo "session.sh: session-engine reports no orch_session_engine_inputs_applied_total" >&2; return 1; }
  awk -v v="$v" 'BEGIN { printf "%.0f", v }'
}
cpu_now() { echo "$(stack_cpu_ticks "$engine_pid") $(stack_cpu_ticks "$proxy_pid") $(stack_cpu_ticks "$redis_pid")"; }
# cpu_split <label> <count> <engine0> <proxy0> <redis0>: CPU µs per operation of each process,
# also left in cpu_engine, cpu_proxy and cpu_redis.
cpu_split() {
  local c1
  read -r -a c1 <<<"$(cpu_now)"
  cpu_engine=$(( (c1[0] - $3) * 1000000 / tck / $2 ))
  cpu_proxy=$(( (c1[1] - $4) * 1000000 / tck / $2 ))
  cpu_redis=$(( (c1[2] - $5) * 1000000 / tck / $2 ))
  echo "  CPU per $1: session-engine ${cpu_engine} µs, persistence-proxy ${cpu_proxy} µs, redis-server ${cpu_redis} µs"
}
# events_phase <chart> <label> [session_load options]: 1000 sessions created first (not
# measured), then SendEvent for ORCH_BENCH_SECONDS; prints the load line and the CPU per event
# applied in the phase (the engine's own count), sets phase_line.
events_phase() {
  local chart=$1 label=$2 c0 a0
  shift 2
  run --mode create --chart "$chart" --count 1000 --ids "$work/events.ids" >/dev/null
  read -r -a c0 <<<"$(cpu_now)"
  a0=$(applied)
  phase_line=$(run --mode events --ids "$work/events.ids" --seconds "$seconds" "$@")
  printf 'events, persistence %-4s %s\n' "$label:" "$phase_line"
  cpu_split "event ($label)" "$(( $(applied) - a0 ))" "${c0[@]}"
}

start_engine scxml.deactivate-idle-ms=0
s_off=$(run --mode starts --chart "$off_chart" --seconds "$seconds"); echo "starts, persistence off: $s_off"
s_on=$(run --mode starts --chart "$on_chart" --seconds "$seconds"); echo "starts, persistence on:  $s_on"
stop_engine; redis-cli -p "$port" flushall >/dev/null

start_engine scxml.deactivate-idle-ms=0
events_phase "$off_chart" off; e_off=$phase_line
cpu_off=$cpu_engine
events_phase "$on_chart" on; e_on=$phase_line
cpu_us_per_event="cpu_us_per_event=$cpu_off cpu_us_per_event_on=$cpu_engine cpu_us_per_event_proxy=$cpu_proxy cpu_us_per_event_redis=$cpu_redis"
on=$(field events_per_s "$e_on")
half=$(( ${on%.*} / 2 ))
e_half=$(run --mode events --chart "$on_chart" --sessions 1000 --seconds "$seconds" --rate "$half")
echo "events, persistence on, at half load ($half/s): $e_half"
stop_engine; redis-cli -p "$port" flushall >/dev/null

# The baseline: the same two event phases with another build's session-engine
# (ORCH_BENCH_BASELINE_BUILD, e.g. a build of the previous main) on the same
# Redis and proxy, right after ours, so that both see the same machine.
baseline=
if [ -n "${ORCH_BENCH_BASELINE_BUILD:-}" ]; then
  ours_build=$STACK_BUILD
  STACK_BUILD=$ORCH_BENCH_BASELINE_BUILD
  stack_require session-engine
  start_engine scxml.deactivate-idle-ms=0
  STACK_BUILD=$ours_build
  events_phase "$off_chart" "off (baseline)"; b_off=$phase_line; b_cpu_off=$cpu_engine
  events_phase "$on_chart" "on (baseline)"; b_on=$phase_line; b_cpu_on=$cpu_engine
  baseline=$(awk -v on="$on" -v bon="$(field events_per_s "$b_on")" -v off="$(field events_per_s "$e_off")" \
                 -v boff="$(field events_per_s "$b_off")" -v c="$cpu_off" -v bc="$b_cpu_off" -v bcon="$b_cpu_on" 'BEGIN {
    printf "baseline_events_off=%.0f baseline_events_on=%.0f speedup_off=%.2f speedup_on=%.2f baseline_cpu_us_per_event=%d baseline_cpu_us_per_event_on=%d",
           boff, bon, off / boff, on / bon, bc, bcon }')
  echo "baseline ($ORCH_BENCH_BASELINE_BUILD): $baseline"
  stop_engine; redis-cli -p "$port" flushall >/dev/null
fi

# The same with one unary AppendEvents per event (persistence.append-stream = false).
start_engine scxml.deactivate-idle-ms=0 persistence.append-stream=false
e_unary=$(run --mode events --chart "$on_chart" --sessions 1000 --seconds "$seconds"); echo "events, persistence on, unary appends: $e_unary"
stop_engine; redis-cli -p "$port" flushall >/dev/null

start_engine scxml.deactivate-idle-ms=0
before=$(rss_kb)
c=$(run --mode create --chart "$off_chart" --count "$active" --ids "$work/active.ids"); echo "created $active in-memory sessions: $c"
sleep 1
after=$(rss_kb)
per_active=$(( (after - before) * 1024 / active ))
echo "engine RSS $before kB -> $after kB with $active active sessions: $per_active bytes per session"
stop_engine; redis-cli -p "$port" flushall >/dev/null

start_engine scxml.deactivate-idle-ms=1000
c=$(run --mode create --chart "$on_chart" --count "$recovery" --ids "$work/recovery.ids"); echo "created $recovery persistent sessions: $c"
for _ in $(seq 1200); do
  [ "$(metric orch_session_engine_sessions_in_memory)" = 0 ] && break
  sleep 0.25
done
echo "deactivated: in memory $(metric orch_session_engine_sessions_in_memory), deactivations $(metric orch_session_engine_session_deactivations_total)"
stack_kill engine
t0=$(date +%s.%N)
start_engine scxml.deactivate-idle-ms=0
recovery_s=
for _ in $(seq 2400); do
  r=$(metric orch_session_engine_recovery_pass_seconds)
  if [ -n "$r" ] && [ "$r" != 0 ]; then recovery_s=$r; break; fi
  sleep 0.05
done
total=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
# From the new instance's log: when it served, became primary, finished recovery.
ts() { date -d "$(grep "\"msg\":\"$1" "$work/engine.log" | tail -n 1 | sed -n 's/.*"ts":"\([^"]*\)".*/\1/p')" +%s.%N; }
served=$(ts serving); primary=$(ts "primary: acquired"); done_at=$(ts "recovery: done")
total=$(awk -v a="$done_at" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')  # the log's clock, not the polling's
echo "recovery after SIGKILL: pass ${recovery_s:-?} s; restart to end of pass ${total} s, of which" \
     "start to serving $(awk -v a="$served" -v b="$t0" 'BEGIN { printf "%.2f", a - b }') s," \
     "serving to primary (the dead primary's lease running out) $(awk -v a="$primary" -v b="$served" 'BEGIN { printf "%.2f", a - b }') s," \
     "primary to recovered $(awk -v a="$done_at" -v b="$primary" 'BEGIN { printf "%.2f", a - b }') s"
head -n 10000 "$work/recovery.ids" >"$work/touch.ids"
t=$(run --mode touch --ids "$work/touch.ids"); echo "reactivation of $(wc -l <"$work/touch.ids") deactivated sessions by an event: $t"

ratio=$(awk -v a="$on" -v b="$ceiling" 'BEGIN { printf "%.2f", a / b }')
batch_ratio=$(awk -v a="$on" -v b="$batch_ceiling" 'BEGIN { printf "%.2f", a / b }')
echo "starts_off=$(field starts_per_s "$s_off") starts_on=$(field starts_per_s "$s_on") events_off=$(field events_per_s "$e_off") events_on=$on proxy_ceiling=$ceiling on_vs_ceiling=$ratio proxy_batch_ceiling=$batch_ceiling on_vs_batch_ceiling=$batch_ratio p99_ms=$(field p99_ms "$e_on") p99_half_ms=$(field p99_ms "$e_half") bytes_per_active_session=$per_active recovery_s=$total recovery_pass_s=${recovery_s:-?} $cpu_us_per_event${baseline:+ $baseline}"
