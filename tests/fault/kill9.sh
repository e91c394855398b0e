#!/usr/bin/env bash
# The kill test of session-engine: many persistent sessions record every
# event they receive; session-engine is SIGKILLed at random moments and
# restarted while a client keeps sending; at the end every session's record
# must equal exactly the acknowledged events, in order. Redis runs with
# appendfsync always. Prints the takeover lines and then the checker's line
#   acknowledged=N lost=0 duplicated=0 reordered=0 ...
# and exits 0 only when nothing was lost, duplicated or reordered.
#
#   kill9.sh [--build DIR] [--duration-s S] [--sessions N] [--kills K] [--seed X]
#            [--standby] [--lease-ttl-ms T] [--max-stall-ms M] [--tick-ms 300]
#
# --sessions N sessions have events flowing all the time, each its next event
# as soon as the last one is acknowledged, and a timer every --tick-ms (each
# tick is a log entry too: 1,000 sessions at 300 ms are 3,333 appends/s). The
# kills fall in the middle 80 % of the load. --standby runs the node as a
# primary and a standby (the takeover test): each kill hits whichever instance
# is primary, the standby takes over, and the killed one comes back as the new
# standby. For every kill and every session the client measures the time from
# the kill to that session's first acknowledged event on the new primary and
# prints its distribution (tests/fault/README.md); --max-stall-ms fails the run
# when the longest of them exceeds M ms (the takeover bound: lease TTL + 1 s).
#
# Everything runs on loopback; processes are started here and stopped by PID
# (scripts/lib/stack.sh).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$root/scripts/lib/stack.sh"
build=${ORCH_BUILD_DIR:-$root/build}
duration=20
sessions=50
kills=4
seed=$RANDOM
standby=0
ttl=1000
max_stall=0
tick=300
# number FLAG VALUE MIN: VALUE when it is a whole number >= MIN, else a clear error.
number() {
  if ! [[ $2 =~ ^[0-9]+$ ]] || (( $2 < $3 )); then
    echo "kill9.sh: $1 must be a whole number >= $3, not '$2'" >&2
    exit 2
  fi
  echo "$2"
}
while [ $# -gt 0 ]; do
  case $1 in
    --standby) standby=1; shift; continue ;;
    --build|--duration-s|--sessions|--kills|--seed|--lease-ttl-ms|--max-stall-ms|--tick-ms)
      [ $# -ge 2 ] || { echo "kill9.sh: $1 needs a value" >&2; exit 2; } ;;
    *) echo "kill9.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  case $1 in
    --build) build=$2 ;;
    --duration-s) duration=$(number "$1" "$2" 1) ;;
    --sessions) sessions=$(number "$1" "$2" 1) ;;
    --kills) kills=$(number "$1" "$2" 0) ;;
    --seed) seed=$(number "$1" "$2" 0) ;;
    --lease-ttl-ms) ttl=$(number "$1" "$2" 100) ;;
    --max-stall-ms) max_stall=$(number "$1" "$2" 0) ;;
    --tick-ms) tick=$(number "$1" "$2" 10) ;;
  esac
  shift 2
done
if (( max_stall > 0 && kills == 0 )); then
  echo "kill9.sh: --max-stall-ms needs at least one kill (--kills)" >&2
  exit 2
fi
RANDOM=$seed

stack_init --tmp "${TMPDIR:-/tmp}/orch-kill9.XXXXXX" "$build"
stack_require session-engine persistence-proxy orch-probe kill9_client
work=$STACK_WORK
instances=$((1 + standby))

stack_start_redis -- --appendonly yes --appendfsync always
stack_start_proxy
engine_opts=(orchestration.lease-ttl-ms="$ttl" orchestration.lease-renew-ms=$((ttl / 5))
             scxml.session-processing-threads=2 scxml.snapshot-every-entries=20 scxml.snapshot-every-ms=500)
# The first one becomes primary before the standby starts.
stack_start_engine engine0 "${engine_opts[@]}"
targets=${STACK_ENDPOINT[engine0]}
if (( standby )); then
  stack_start_engine engine1 --standby "${engine_opts[@]}"
  targets+=",${STACK_ENDPOINT[engine1]}"
fi

# The instance that answers as primary right now (-1: none).
primary() {
  local i
  for i in $(seq 0 $((instances - 1))); do
    if "$(stack_bin orch-probe)" --timeout-ms 500 --service orch.session.v1.Sessions \
         "${STACK_ENDPOINT[engine$i]}" >/dev/null 2>&1; then echo "$i"; return; fi
  done
  echo -1
}

kills_file=$work/kills
: >"$kills_file"
"$(stack_bin kill9_client)" --target "$targets" --chart "$root/tests/fault/charts/recorder.scxml" \
  --sessions "$sessions" --duration-ms $((duration * 1000)) --tick-ms "$tick" --kills "$kills_file" \
  >"$work/client.out" 2>"$work/client.err" &
stack_track kill9_client $!

# The load starts once every session is started.
for _ in $(seq 1200); do
  grep -q 'sessions started' "$work/client.err" && break
  stack_alive kill9_client || break
  sleep 0.1
done
load_start_ms=$(( $(stack_now_us) / 1000 ))

# Kill k of K: a random moment in the k-th of K equal parts of the middle 80 % of the load.
for k in $(seq "$kills"); do
  part=$(( duration * 800 / kills ))
  at=$(( load_start_ms + duration * 100 + (k - 1) * part + part / 4 + (RANDOM << 15 | RANDOM) % (part / 2 + 1) ))
  wait_ms=$(( at - $(stack_now_us) / 1000 ))
  if (( wait_ms > 0 )); then sleep "$(printf '%d.%03d' $((wait_ms / 1000)) $((wait_ms % 1000)))"; fi
  stack_alive kill9_client || break
  victim=$(primary)
  [ "$victim" -ge 0 ] || victim=0   # none answers yet: kill the first again
  pid=${STACK_PID[engine$victim]}
  before=$(stack_now_us)
  stack_kill "engine$victim"
  echo "kill $before $(stack_now_us)" >>"$kills_file"
  echo "kill9.sh: SIGKILL $k of $kills (instance $victim, pid $pid)" >&2
  sleep "0.$(( RANDOM % 5 ))"
  stack_start_engine "engine$victim" --no-wait "${engine_opts[@]}"
done
echo end >>"$kills_file"

status=0
stack_wait kill9_client || status=$?
cat "$work/client.err" >&2
grep '^takeover:' "$work/client.out" || true
line=$(tail -n 1 "$work/client.out")
echo "$line"
if [ $status -eq 0 ] && (( max_stall > 0 )); then
  summary=$(grep '^takeover: kills=' "$work/client.out" || true)
  measured=$(sed -n 's/.* measured=\([0-9]*\).*/\1/p' <<<"$summary")
  worst=$(sed -n 's/.* max_ms=\([0-9]*\).*/\1/p' <<<"$summary")
  if [ "${measured:-0}" = 0 ]; then
    echo "kill9.sh: FAILED: no kill fell during the load, so no takeover was measured" >&2
    status=1
  elif (( worst > max_stall )); then
    echo "kill9.sh: FAILED: a session waited ${worst} ms after a SIGKILL for its first acknowledgement" \
         "(bound ${max_stall} ms)" >&2
    status=1
  fi
fi
[ $status -eq 0 ] || echo "kill9.sh: FAILED (client status $status)" >&2
exit $status
