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

say "phase 2a: burst of $burst, one replica"
one=$("$load" --proxy "$STACK_PROXY_ENDPOINT" --schedulers "${STACK_ENDPOINT[a]}" --node 2 --timers "$burst" \
  --spread-ms 0 --lead-ms "$(lead_for "$burst")" --run "one$run")
say "$one"
stack_start_scheduler --name b "${sched_opts[@]}"
# Both replicas see each other before the next phase (member slots read every ttl/4).
sleep 2
say "phase 2b: burst of $burst, two replicas"
two=$("$load" --proxy "$STACK_PROXY_ENDPOINT" --schedulers "${STACK_ENDPOINT[a]},${STACK_ENDPOINT[b]}" --node 2 \
  --timers "$burst" --spread-ms 0 --lead-ms "$(lead_for "$burst")" --run "two$run")
say "$two"
say "phase 1: $timers timers over $spread ms, two replicas"
due=$("$load" --proxy "$STACK_PROXY_ENDPOINT" --schedulers "${STACK_ENDPOINT[a]},${STACK_ENDPOINT[b]}" --node 2 \
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
