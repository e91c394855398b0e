#!/usr/bin/env bash
# Scheduler benchmark (issue 15). Starts its own redis-server, persistence-proxy
# and scheduler replicas on loopback; bench/scheduler_load stands in for node 2's
# session-engine (it holds the node's lease and receives the firings) and
# schedules the timers. Phases, each with fresh timer ids:
#  1. due:   ORCH_BENCH_TIMERS (100,000) timers due evenly over ORCH_BENCH_SPREAD_MS
#            (10 s), two replicas: lateness of each firing (arrival - due time);
#  2. burst: ORCH_BENCH_BURST (50,000) timers all due at one instant, with one replica,
#            then with two (a second replica started for it): firings per second from
#            the first arrival to the last (two / one = scale-out ratio);
#  3. pending (ORCH_BENCH_PENDING=N, default 0 = skipped): N timers due in a year, and
#            Redis's used_memory before and after, per timer.
# Ends with one line:
#   timers_per_s=<phase 1 firings/s> lateness_p50_ms=… lateness_p99_ms=… max_late_ms=…
#   lost=… repeats=… burst_one_per_s=… burst_two_per_s=… scale_ratio=… bytes_per_timer=… replicas=2
#
# Usage: bench/scheduler.sh  (ORCH_BUILD_DIR, ORCH_BENCH_BUILD=1 builds first;
#   QUICK=1: 5,000 timers over 2 s, bursts of 2,000, no pending phase)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib/stack.sh"
build=${ORCH_BUILD_DIR:-build}
[[ "$build" = /* ]] || build="$root/$build"
timers=${ORCH_BENCH_TIMERS:-100000}
spread=${ORCH_BENCH_SPREAD_MS:-10000}
burst=${ORCH_BENCH_BURST:-50000}
pending=${ORCH_BENCH_PENDING:-0}
if [ "${QUICK:-0}" = 1 ]; then timers=5000; spread=2000; burst=2000; pending=0; fi

stack_init --tmp /tmp/orch-sbench.XXXXXX "$build"
if [ "${ORCH_BENCH_BUILD:-1}" = 1 ]; then stack_build persistence-proxy scheduler scheduler_load orch-probe; fi
stack_require persistence-proxy scheduler scheduler_load orch-probe
say() { echo "scheduler_bench: $*" >&2; }

stack_start_redis
stack_start_proxy log.level='"warn"'
sched_opts=(log.level='"warn"')
stack_start_scheduler --name a "${sched_opts[@]}"
load=$(stack_bin scheduler_load)
run=$(date +%s)

# Timers load at 1,200/s or more here (one blocking ScheduleTimer per timer from 16 threads):
# the first is due once they are all stored.
lead_for() { echo $(( $1 * 10 / 12 + 3000 )); }

field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }

# run_phase NAME LOADER-ARGS...: runs scheduler_load in the background; from its first due time
# to its end, the CPU of redis-server, persistence-proxy and the replicas (a, and b when running)
# is sampled; prints the loader's line plus cpu_us_per_timer_<process>=... for the firings.
run_phase() {
  local name=$1; shift
  local out=$STACK_WORK/$name.out err=$STACK_WORK/$name.err
  "$load" --proxy "$STACK_PROXY_ENDPOINT" --node 2 "$@" >"$out" 2>"$err" &
  stack_track "load-$name" $!
  local wait_ms=''
  for _ in $(seq 6000); do
    wait_ms=$(sed -n 's/.*loaded; first due in \(-\{0,1\}[0-9]*\) ms.*/\1/p' "$err")
    [ -n "$wait_ms" ] && break
    stack_alive "load-$name" || break
    sleep 0.1
  done
  if [ -n "$wait_ms" ] && (( wait_ms > 0 )); then sleep "$(printf '%d.%03d' $((wait_ms / 1000)) $((wait_ms % 1000)))"; fi
  local procs=(redis-server persistence-proxy a) p
  stack_alive b && procs+=(b)
  declare -A t0=()
  for p in "${procs[@]}"; do t0[$p]=$(stack_cpu_ticks "${STACK_PID[$p]}"); done
  stack_wait "load-$name" || { cat "$err" >&2; return 1; }
  local line cpu='' fired
  line=$(tail -n 1 "$out")
  fired=$(field fired "$line")
  for p in "${procs[@]}"; do
    cpu+=" cpu_us_per_timer_${p//-/_}=$(( ($(stack_cpu_ticks "${STACK_PID[$p]}") - t0[$p]) * 1000000 / STACK_CLK_TCK / (fired > 0 ? fired : 1) ))"
  done
  echo "$line$cpu"
}

say "phase 2a: burst of $burst, one replica"
one=$(run_phase one --schedulers "${STACK_ENDPOINT[a]}" --timers "$burst" \
  --spread-ms 0 --lead-ms "$(lead_for "$burst")" --run "one$run")
say "$one"
stack_start_scheduler --name b "${sched_opts[@]}"
# Both replicas see each other before the next phase (member slots read every ttl/4).
sleep 2
say "phase 2b: burst of $burst, two replicas"
two=$(run_phase two --schedulers "${STACK_ENDPOINT[a]},${STACK_ENDPOINT[b]}" \
  --timers "$burst" --spread-ms 0 --lead-ms "$(lead_for "$burst")" --run "two$run")
say "$two"
say "phase 1: $timers timers over $spread ms, two replicas"
due=$(run_phase due --schedulers "${STACK_ENDPOINT[a]},${STACK_ENDPOINT[b]}" \
  --timers "$timers" --spread-ms "$spread" --lead-ms "$(lead_for "$timers")" --run "due$run")
say "$due"

bytes=n/a
if [ "$pending" -gt 0 ]; then
  mem() { redis-cli -p "$STACK_REDIS_PORT" info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p'; }
  before=$(mem)
  say "phase 3: $pending pending timers"
  stored=$("$load" --proxy "$STACK_PROXY_ENDPOINT" --schedulers "${STACK_ENDPOINT[a]},${STACK_ENDPOINT[b]}" --node 2 \
    --timers "$pending" --pending --threads 32 --run "pend$run")
  say "$stored"
  after=$(mem)
  bytes=$(( (after - before) / pending ))
fi

one_rate=$(field fire_per_s "$one")
two_rate=$(field fire_per_s "$two")
ratio=$(awk -v a="$one_rate" -v b="$two_rate" 'BEGIN { printf "%.2f", (a > 0 ? b / a : 0) }')
lost=$(( $(field lost "$due") + $(field lost "$one") + $(field lost "$two") ))
echo "timers_per_s=$(field fire_per_s "$due") lateness_p50_ms=$(field lateness_p50_ms "$due")" \
  "lateness_p99_ms=$(field lateness_p99_ms "$due") max_late_ms=$(field max_late_ms "$due") lost=$lost" \
  "repeats=$(field repeats "$due") burst_one_per_s=$one_rate burst_two_per_s=$two_rate scale_ratio=$ratio" \
  "bytes_per_timer=$bytes replicas=2"
[ "$lost" = 0 ] || { say "timers were lost"; exit 1; }
