#!/usr/bin/env bash
# The scheduler's fault test: timers keep firing, once each, while scheduler
# replicas are SIGKILLed and restarted.
#
#   tests/fault/scheduler.sh [--build DIR] [--timers 3000] [--sessions 20] [--spread-s 20]
#                            [--replicas 3] [--kill-every-s 4] [--seed 1]
#
# Starts redis-server (appendfsync always), persistence-proxy, a session-engine
# (node 1) and --replicas scheduler replicas (claim timeout 2 s, member TTL 1 s) on
# loopback. scheduler_client schedules --timers timers over --spread-s through the
# replicas, each delivering an event to one of --sessions persistent sessions; every
# --kill-every-s one replica (chosen by the seed) is SIGKILLed and started again
# 0-1 s later. At the end the client reads the sessions' records and prints the
# checker's line:
#   timers=N fired=N lost=0 applied_twice=0 max_late_ms=X ...
# The run fails unless lost=0, applied_twice=0, errors=0 and max_late_ms stays within
# the claim timeout + 1.25 member TTLs + 1 s (how long a killed replica's timers may
# wait for another one).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/scripts/lib/stack.sh"
build=$root/build timers=3000 sessions=20 spread=20 replicas=3 every=4 seed=1
number() { [[ "$2" =~ ^[0-9]+$ ]] && (( $2 >= $3 )) || { echo "scheduler.sh: $1 needs a number >= $3" >&2; exit 2; }; echo "$2"; }
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2 ;;
    --timers) timers=$(number "$1" "$2" 1) ;;
    --sessions) sessions=$(number "$1" "$2" 1) ;;
    --spread-s) spread=$(number "$1" "$2" 1) ;;
    --replicas) replicas=$(number "$1" "$2" 2) ;;
    --kill-every-s) every=$(number "$1" "$2" 1) ;;
    --seed) seed=$(number "$1" "$2" 0) ;;
    *) echo "scheduler.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
RANDOM=$seed
claim_ms=2000 ttl_ms=1000
bound=$(( claim_ms + ttl_ms * 5 / 4 + 1000 ))

stack_init --tmp "${TMPDIR:-/tmp}/orch-schedfault.XXXXXX" "$build"
stack_require session-engine persistence-proxy scheduler orch-probe scheduler_client
work=$STACK_WORK

stack_start_redis -- --appendonly yes --appendfsync always
stack_start_proxy log.level='"warn"'
stack_start_engine engine log.level='"warn"' scxml.session-processing-threads=2
sched_opts=(log.level='"warn"' scheduler.claim-timeout-ms=$claim_ms scheduler.member-ttl-ms=$ttl_ms
            scheduler.poll-interval-ms=50 scheduler.horizon-ms=200 scheduler.lease-refresh-ms=100
            'scheduler.nodes=["1"]')
endpoints=
for r in $(seq 0 $((replicas - 1))); do
  stack_start_scheduler --name "s$r" "${sched_opts[@]}"
  endpoints+="${endpoints:+,}${STACK_ENDPOINT[s$r]}"
done

"$(stack_bin scheduler_client)" --engine "${STACK_ENDPOINT[engine]}" --schedulers "$endpoints" \
  --chart "$root/tests/fault/charts/timers.scxml" --sessions "$sessions" --timers "$timers" \
  --spread-ms $((spread * 1000)) --lead-ms 3000 --wait-ms $((bound + 2000)) \
  >"$work/client.out" 2>"$work/client.err" &
stack_track scheduler_client $!

kills=0
end=$(( $(stack_now_us) / 1000000 + spread + 3 ))
while stack_alive scheduler_client && (( $(stack_now_us) / 1000000 < end )); do
  sleep "$every"
  stack_alive scheduler_client || break
  victim=s$(( RANDOM % replicas ))
  stack_kill "$victim"
  kills=$((kills + 1))
  echo "scheduler.sh: SIGKILL $kills ($victim)" >&2
  sleep "0.$(( RANDOM % 10 ))"
  stack_start_scheduler --name "$victim" "${sched_opts[@]}"
done

status=0
stack_wait scheduler_client || status=$?
cat "$work/client.err" >&2
line=$(tail -n 1 "$work/client.out")
echo "$line kills=$kills bound_ms=$bound"
[ "$status" -eq 0 ] || { echo "scheduler.sh: the client failed ($status)" >&2; exit 1; }
field() { sed -n "s/.*\b$1=\([-0-9]*\).*/\1/p" <<<"$line"; }
fail=0
[ "$(field lost)" = 0 ] || { echo "scheduler.sh: timers lost" >&2; fail=1; }
[ "$(field applied_twice)" = 0 ] || { echo "scheduler.sh: effects applied twice" >&2; fail=1; }
[ "$(field errors)" = 0 ] || { echo "scheduler.sh: timers that could not be scheduled" >&2; fail=1; }
[ "$(field fired)" = "$timers" ] || { echo "scheduler.sh: fired != timers" >&2; fail=1; }
(( $(field max_late_ms) <= bound )) || { echo "scheduler.sh: a timer fired later than $bound ms" >&2; fail=1; }
(( kills > 0 )) || { echo "scheduler.sh: no replica was killed" >&2; fail=1; }
exit $fail
