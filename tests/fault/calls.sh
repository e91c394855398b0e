#!/usr/bin/env bash
# The calls fault test: switch-sim sends calls through call-watcher to two
# session-engine nodes, each a primary and a standby, while the primaries are
# SIGKILLed in turn; then calls_check.py reads switch-sim's record of every call
# and the services' metrics and prints
#   calls=N routed=N restarted=N stuck=0 double_owned=0 double_routed=0 lost_events=0
#   treatment_results_lost=0 max_route_gap_ms=X
# and the script exits with its status: 0 only when every zero is zero
# (tests/fault/README.md says what each counts).
#
#   calls.sh [--build DIR] [--duration-s 180] [--rate 50] [--hold-min-s 20] [--hold-max-s 60]
#            [--kill-every-s 15] [--mode persisted|restart] [--seed N] [--lease-ttl-ms 2000]
#            [--agents N] [--out DIR]
#
# Calls arrive at --rate for --duration-s, each held by its agent a time drawn
# in [--hold-min-s, --hold-max-s]; the strategy (charts/calls-<mode>.scxml)
# plays 1-3 s of music, attaches user data and queues the call for an agent.
# --mode persisted runs it in persisted sessions (the new primary recovers them);
# --mode restart in memory-only sessions with call-watcher's
# restart-session-on-switchover = true (the new primary restarts them from the
# call's recorded events). Every --kill-every-s the primary of node 1, then of
# node 2, and so on, is SIGKILLed and started again (it comes back as the
# standby); at the middle kill the new primary is SIGKILLed too, within 5 s of
# its takeover (a double switchover). Kills fall while calls arrive; then
# switch-sim waits for every call to end (--hold-max-s + 60 s at most).
#
# --out DIR keeps everything there (kills.log, the outcomes, metrics/, logs);
# otherwise a temporary directory is removed unless the run fails.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$root/scripts/lib/stack.sh"
build=${ORCH_BUILD_DIR:-$root/build}
duration=180
rate=50
hold_min=20
hold_max=60
kill_every=15
mode=persisted
seed=$RANDOM   # for switch-sim: arrivals and holds
ttl=2000
agents=0
out=
die() { echo "calls.sh: $*" >&2; exit 2; }
# number FLAG VALUE MIN: VALUE when it is a whole number >= MIN, else a clear error.
number() {
  if ! [[ $2 =~ ^[0-9]+$ ]] || (( $2 < $3 )); then die "$1 must be a whole number >= $3, not '$2'"; fi
  echo "$2"
}
while [ $# -gt 0 ]; do
  case $1 in
    --build|--duration-s|--rate|--hold-min-s|--hold-max-s|--kill-every-s|--mode|--seed|--lease-ttl-ms|--agents|--out)
      [ $# -ge 2 ] || die "$1 needs a value" ;;
    *) die "unknown argument $1" ;;
  esac
  case $1 in
    --build) build=$2 ;;
    --duration-s) duration=$(number "$1" "$2" 1) ;;
    --rate) rate=$(number "$1" "$2" 1) ;;
    --hold-min-s) hold_min=$(number "$1" "$2" 1) ;;
    --hold-max-s) hold_max=$(number "$1" "$2" 1) ;;
    --kill-every-s) kill_every=$(number "$1" "$2" 1) ;;
    --mode) [[ $2 == persisted || $2 == restart ]] || die "--mode must be persisted or restart, not '$2'"; mode=$2 ;;
    --seed) seed=$(number "$1" "$2" 0) ;;
    --lease-ttl-ms) ttl=$(number "$1" "$2" 500) ;;
    --agents) agents=$(number "$1" "$2" 1) ;;
    --out) out=$2 ;;
  esac
  shift 2
done
(( hold_min <= hold_max )) || die "--hold-min-s ($hold_min) must not exceed --hold-max-s ($hold_max)"
(( kill_every < duration )) || die "--kill-every-s ($kill_every) must be shorter than --duration-s ($duration): no kill would fall"
# Enough agents for every call at once, with a quarter to spare: rate x mean hold x 1.25.
(( agents > 0 )) || agents=$(( (rate * (hold_min + hold_max) * 5 + 7) / 8 ))

if [ -n "$out" ]; then
  stack_init --work "$out" "$build"
else
  stack_init --tmp "${TMPDIR:-/tmp}/orch-calls-fault.XXXXXX" "$build"
fi
stack_require session-engine persistence-proxy call-watcher switch-sim orch-probe
work=$STACK_WORK
mkdir -p "$work/metrics"
kills_log=$work/kills.log
: >"$kills_log"
log() { echo "calls.sh: $*" >&2; }

stack_start_redis -- --appendonly yes
stack_start_proxy log.level='"warn"'
engine_opts=(orchestration.lease-ttl-ms="$ttl" orchestration.lease-renew-ms=$((ttl / 5))
             scxml.session-processing-threads=8
             scxml.document-url-prefixes="[\"file://$root/tests/fault/charts/\"]")
# node i's instances are n<i>a and n<i>b; the a's start first and become the primaries.
for node in 1 2; do
  stack_start_engine "n${node}a" --node "$node" "${engine_opts[@]}"
  stack_start_engine "n${node}b" --node "$node" --standby "${engine_opts[@]}"
done

# The DN file: routing point 5000 runs the mode's strategy on the agent group;
# 8000 is the default route (switch-sim's overflow DN: it takes any call).
agent_dns=$(seq -s, 10001 $((10000 + agents)))
persistent=$([ "$mode" = persisted ] && echo true || echo false)
cat >"$work/dns.toml" <<TOML
default-route = "8000"
[groups]
agents = ["${agent_dns//,/\", \"}"]
[[dn]]
dn = "5000"
application = "file://$root/tests/fault/charts/calls-$mode.scxml"
default-route = "8000"
persistent = $persistent
[dn.parameters]
queue = "agents"
wait_s = $(( hold_max * 5 ))
TOML
# A call waits for an agent as long as it takes (the longest wait is measured,
# not cut short by a default route), and the admission limit is out of the way:
# this test is about what switchovers lose, not about turning calls away.
watcher_opts=(calls.dn-file="\"$work/dns.toml\"" calls.default-route-timeout-ms=$(( hold_max * 5000 ))
              calls.max-queued-events=100000)
if [ "$mode" = restart ]; then watcher_opts+=(orchestration.restart-session-on-switchover=true); fi
stack_start_call_watcher --nodes 1,2 "${watcher_opts[@]}"

"$(stack_bin switch-sim)" --watcher "${STACK_ENDPOINT[call-watcher]}" --routing-point 5000 \
  --agent-dns "$agent_dns" --overflow-dn 8000 --rate "$rate" --duration-s "$duration" \
  --hold-min-ms $((hold_min * 1000)) --hold-max-ms $((hold_max * 1000)) --seed "$seed" \
  --drain-s $((hold_max + 60)) --expect-no-double-routes=false --json \
  --outcomes "$work/outcomes.jsonl" >"$work/summary.json" 2>"$work/switch-sim.err" &
stack_track switch-sim $!
start_ms=$(( $(stack_now_us) / 1000 ))
log "mode $mode, seed $seed, $rate calls/s for $duration s, holds $hold_min-$hold_max s, $agents agents," \
    "a kill every $kill_every s; record in $work"

now_ms() { echo $(( $(stack_now_us) / 1000 - start_ms )); }
sleep_until() {  # MS since the start
  local wait=$(( $1 - $(now_ms) ))
  if (( wait > 0 )); then sleep "$(printf '%d.%03d' $((wait / 1000)) $((wait % 1000)))"; fi
}
# The instance of node N whose metrics say it holds the lease (empty: none).
primary_of() {
  local i
  for i in "n$1a" "n$1b"; do
    if stack_alive "$i" && [ "$(stack_metric "$i" orch_session_engine_lease_primary)" = 1 ]; then
      echo "$i"
      return
    fi
  done
}
other() { if [ "${1: -1}" = a ]; then echo "${1%?}b"; else echo "${1%?}a"; fi; }
scrapes=0
kills=0
takeover_ms=
# kill_primary INSTANCE NODE WHAT WAIT_S: its metrics (the restarts it did die
# with it), SIGKILL, then waits up to WAIT_S s until the other instance holds
# the lease (takeover_ms: when that was seen; empty if not). Logged to kills.log.
kill_primary() {
  local name=$1 node=$2 what=$3 wait_s=$4 pid=${STACK_PID[$1]} heir at
  heir=$(other "$name")
  scrapes=$((scrapes + 1))
  stack_scrape "$name" "$work/metrics/engine-$scrapes-$name.prom" || rm -f "$work/metrics/engine-$scrapes-$name.prom"
  at=$(now_ms)
  stack_kill "$name"
  kills=$((kills + 1))
  takeover_ms=
  for _ in $(seq $(( wait_s * 20 ))); do
    if [ "$(stack_metric "$heir" orch_session_engine_lease_primary)" = 1 ]; then takeover_ms=$(now_ms); break; fi
    sleep 0.05
  done
  echo "kill $kills at_ms=$at node=$node instance=$name pid=$pid $what takeover_ms=${takeover_ms:-none}" |
    tee -a "$kills_log" >&2
  [ -n "$takeover_ms" ] || log "$heir did not take node $node over within $wait_s s"
}

planned=$(( (duration - 1) / kill_every ))
double_at=$(( (planned + 1) / 2 ))
double_done=0
wait_s=$(( ttl / 1000 + 10 ))
for k in $(seq "$planned"); do
  sleep_until $(( k * kill_every * 1000 ))
  stack_alive switch-sim || { log "switch-sim ended before kill $k"; break; }
  node=$(( 2 - k % 2 ))
  victim=$(primary_of "$node")
  if [ -z "$victim" ]; then
    log "no instance of node $node holds its lease at $(now_ms) ms: kill $k skipped"
    continue
  fi
  heir=$(other "$victim")
  kill_primary "$victim" "$node" single "$wait_s"
  if (( k != double_at )) || [ -z "$takeover_ms" ]; then
    stack_start_engine "$victim" --node "$node" --standby "${engine_opts[@]}"
    continue
  fi
  # The double switchover: the new primary dies in its first second (its
  # recovery or restarts under way); the first one, started again meanwhile,
  # takes over once it is up.
  first_takeover=$takeover_ms
  stack_start_engine "$victim" --node "$node" --no-wait "${engine_opts[@]}"
  sleep_until $(( first_takeover + 1000 ))
  since=$(( $(now_ms) - first_takeover ))
  kill_primary "$heir" "$node" "double: ${since} ms after its takeover" $(( wait_s + 30 ))
  if (( since < 5000 )) && [ -n "$takeover_ms" ]; then double_done=1; fi
  stack_start_engine "$heir" --node "$node" --standby "${engine_opts[@]}"
done

status=0
stack_wait switch-sim || status=$?
log "switch-sim exited with $status: $(cat "$work/summary.json")"
# The final scrape of every process alive: the restarts and failures they counted.
engine_pages=("$work"/metrics/engine-*.prom)
[ -e "${engine_pages[0]}" ] || engine_pages=()
for i in n1a n1b n2a n2b call-watcher; do
  stack_scrape "$i" "$work/metrics/final-$i.prom" || { log "cannot judge the run without $i's metrics"; exit 2; }
  [ "$i" = call-watcher ] || engine_pages+=("$work/metrics/final-$i.prom")
done
check=0
python3 "$root/tests/fault/calls_check.py" --summary "$work/summary.json" --outcomes "$work/outcomes.jsonl" \
  --watcher-metrics "$work/metrics/final-call-watcher.prom" --engine-metrics "${engine_pages[@]}" \
  --mode "$mode" || check=$?
expected=$(( planned + 1 ))
if (( kills < expected || double_done == 0 )); then
  log "FAILED: $kills kills of $expected planned, double switchover $([ $double_done = 1 ] && echo 'done' || echo missed)"
  (( check != 0 )) || check=1
fi
exit $check
