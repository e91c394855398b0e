#!/usr/bin/env bash
# Calls end to end, on real processes over loopback: redis-server,
# persistence-proxy, session-engine, one or two call-watchers, and switch-sim
# (tools/switch_sim) as the switch, running examples/routing/voice-routing.scxml.
# Every answer parsed here (switch-sim's summary and outcome lines, the
# engine's log lines, the metrics pages) goes through a strict parser
# (tests/calls/check.py), and each scenario asserts what must be true:
#
#   routing     a call is greeted (play and collect), queued and routed to the
#               longest-idle ready agent: with two agents and calls that arrive
#               after the previous one ended, the agents alternate; the collected
#               digit reaches the strategy (digit 1 → priority 2, digit 9 → 1)
#   abandon     one agent busy, the next caller hangs up while queued: the call
#               is "abandoned", its session ends with outcome "abandoned", its
#               reservation is released (the agent takes the next call), and no
#               call or session is left
#   reserved    Composer's queueing (queue:submit route="false", then the
#               strategy's own <ixn:redirect>): the caller hangs up while the
#               agent is reserved for it; the reservation is released at once
#               (its TTL is 60 s): the next call gets that agent
#   unknown-dn  route requests on a DN without an application get the default
#               route (never silence) and are counted as rejected
#   replicas    two call-watchers share 20 agents under 200 concurrent calls: no
#               agent is ever routed two calls, every call ends, both replicas route
#   reconnect   the adapter's link is broken every 37 events: every call still
#               ends, and each call's session saw each of its events once
#   reserved-node  nodes 1 and 2, one engine each (no standby), one call-watcher
#               (call-watching-timeout 2 s, lease TTL 2 s): both nodes own calls;
#               node 1's engine is SIGKILLed; calls arriving while its lease is
#               still live (the timeout path) and after it expired (node 1 not
#               up) are all owned by node 2 and routed within the timeout + 1 s;
#               node 1's calls lose their sessions once each and end; node 1 comes
#               back: node 2's calls stay there to their end, new calls use both
#
#   calls_test.sh [--build DIR] [SCENARIO...]   (default: all)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$root/scripts/lib/stack.sh"
build=${ORCH_BUILD_DIR:-$root/build}
scenarios=()
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    routing|abandon|reserved|unknown-dn|replicas|reconnect|reserved-node) scenarios+=("$1"); shift ;;
    *) echo "calls_test: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ ${#scenarios[@]} -gt 0 ] || scenarios=(routing abandon reserved unknown-dn replicas reconnect reserved-node)
check="python3 $root/tests/calls/check.py"

# A clean stop is asserted (exit 0 after SIGTERM): 1 s of drain plus the
# component's stop, which on a loaded machine has taken over 2 s.
stack_init --tmp /tmp/orch-calls.XXXXXX --grace 5 "$build"
stack_require session-engine persistence-proxy call-watcher switch-sim orch-probe
sim=$(stack_bin switch-sim)
stack_start_redis
stack_start_proxy log.level='"warn"'

# The DN file: routing point 5000 runs voice-routing; 5999 has none.
dns=$STACK_WORK/dns.toml
write_dns() {  # write_dns WAIT_S AGENTS...
  local wait=$1
  shift
  local list
  list=$(printf '"%s", ' "$@")
  cat >"$dns" <<TOML
default-route = "8000"
[groups]
support = [${list%, }]
[[dn]]
dn = "5000"
application = "file://$root/examples/routing/voice-routing.scxml"
default-route = "8000"
[dn.parameters]
queue = "support"
wait_s = $wait
greeting = "welcome"
overflow_target = "8000"
[[dn]]
dn = "5001"
application = "file://$root/tests/calls/charts/reserve-then-route.scxml"
default-route = "8000"
[dn.parameters]
queue = "support"
wait_s = $wait
pause_ms = 1500
TOML
}

engine_opts=(scxml.document-url-prefixes="[\"file://$root/examples/\", \"file://$root/tests/calls/charts/\"]")
stack_start_engine session-engine "${engine_opts[@]}"
engine_log=${STACK_LOG[session-engine]}
run=0
# simulate NAME ARGS...: one switch-sim run; its summary (JSON) in $STACK_WORK/NAME.json,
# its outcomes in $STACK_WORK/NAME.jsonl; fails the test on a non-zero exit.
simulate() {
  local name=$1
  shift
  run=$(( run + 1 ))
  local rc=0
  "$sim" --run-id "t$run" --json --outcomes "$STACK_WORK/$name.jsonl" --overflow-dn 8000 --treatment-ms 20 \
    "$@" >"$STACK_WORK/$name.json" 2>"$STACK_WORK/$name.err" || rc=$?
  if [ $rc -ne 0 ]; then
    echo "calls_test: $name: switch-sim exited with $rc: $(cat "$STACK_WORK/$name.json")" >&2
    tail -n 5 "$STACK_WORK/$name.err" >&2
    return 1
  fi
}

# sim_start NAME ARGS...: one switch-sim run in the background (run and adapter id
# NAME: runs at once have links of their own, and its call uuids NAME-<n> do not
# depend on the scenarios run before); its files as simulate's. sim_at_ms[NAME]:
# the wall clock (Unix ms) just before it was started, at or before its time 0.
declare -A sim_at_ms=()
sim_start() {
  local name=$1
  shift
  sim_at_ms[$name]=$(( $(stack_now_us) / 1000 ))
  "$sim" --run-id "$name" --adapter-id "$name" --json --outcomes "$STACK_WORK/$name.jsonl" --overflow-dn 8000 \
    "$@" >"$STACK_WORK/$name.json" 2>"$STACK_WORK/$name.err" &
  stack_track "$name" $!
}
sim_wait() {  # NAME...: each run's exit status must be 0
  local name
  for name in "$@"; do
    stack_wait "$name" ||
      { echo "calls_test: $name: switch-sim exited with $?: $(cat "$STACK_WORK/$name.json")" >&2; return 1; }
  done
}
# labelled NAME 'METRIC{LABELS}': the sample's value, as an integer (empty when absent).
labelled() {
  curl -sf --max-time 2 "${STACK_METRICS_URL[$1]}" | awk -v k="$2" '$1 == k { printf "%d\n", $2 }'
}
# wait_for WHAT SECONDS CMD...: runs CMD every 100 ms until it succeeds, at most SECONDS.
wait_for() {
  local what=$1 tries=$(( $2 * 10 ))
  shift 2
  for _ in $(seq "$tries"); do "$@" && return 0; sleep 0.1; done
  echo "calls_test: $what did not happen within ${tries}00 ms" >&2
  return 1
}
now_ms() { echo $(( $(stack_now_us) / 1000 )); }

# The reserved-node scenario (issue 14: the assigned node has no primary at all).
# Memory-only sessions (charts/owner.scxml) and no restart-session-on-switchover:
# node 1's calls then have one known fate when their node comes back without
# them (NOT_FOUND after routing: session ended, each once), which the test counts exactly, and
# nothing node 2 owns can be confused with a session recovered on node 1.
# Each phase's calls come from their own switch-sim run, on their own routing
# point and agent group, so a phase's outcomes are exactly that phase's calls.
reserved_node() {
  local timeout=2000 ttl=2000 ha_dns=$STACK_WORK/dns-ha.toml cw=cw-ha
  stack_stop session-engine
  local -a ha_opts=("${engine_opts[@]}" orchestration.lease-ttl-ms=$ttl orchestration.lease-renew-ms=400)
  stack_start_engine n1 --node 1 "${ha_opts[@]}"
  stack_start_engine n2 --node 2 "${ha_opts[@]}"
  {
    echo 'default-route = "8000"'
    echo '[groups]'
    local g
    for g in 1 2 3 4; do echo "p$g = [$(seq -s, -f "\"7${g}%02g\"" 1 25)]"; done
    for g in 1 2 3 4; do
      printf '[[dn]]\ndn = "510%s"\napplication = "file://%s/tests/calls/charts/owner.scxml"\n' "$g" "$root"
      printf 'default-route = "8000"\n[dn.parameters]\nqueue = "p%s"\nwait_s = 60\n' "$g"
    done
  } >"$ha_dns"
  stack_start_call_watcher --name $cw --nodes 1,2 calls.dn-file="\"$ha_dns\"" calls.default-route-timeout-ms=60000 \
    orchestration.call-watching-timeout=$timeout
  local w=${STACK_ENDPOINT[$cw]}
  owned() { labelled $cw "orch_calls_owned{node=\"$1\"}"; }
  owned_are() {  # owned_are N1 N2 (N1 '*': any number >= 1)
    local a b
    a=$(owned 1) b=$(owned 2)
    [ -n "$a" ] && [ -n "$b" ] && { [ "$1" = '*' ] && (( a >= 1 )) || [ "$a" = "$1" ]; } && [ "$b" = "$2" ]
  }
  # phase ROUTING-POINT(510P) AGENTS(7P01..7P25)
  agents_of() { seq -s, -f "7$1%02g" 1 25; }

  # Phase 1: 10 calls, each held about 30 s (past node 1's return), on both nodes.
  sim_start ha1 --watcher "$w" --routing-point 5101 --agent-dns "$(agents_of 1)" --rate 5 --calls 10 \
    --hold-ms 30000 --drain-s 60
  # owned{1} + owned{2} = 10: every call's session started.
  both_own() { local a b; a=$(owned 1) b=$(owned 2); [ -n "$a" ] && [ -n "$b" ] && (( a >= 1 && b >= 1 && a + b == 10 )); }
  wait_for "phase 1: 10 calls owned by nodes 1 and 2" 30 both_own
  local o1 o2
  o1=$(owned 1) o2=$(owned 2)
  echo "phase 1: node 1 owns $o1 calls, node 2 owns $o2"
  $check metrics "${STACK_METRICS_URL[n1]}" "orch_session_engine_sessions_in_memory=$o1"
  $check metrics "${STACK_METRICS_URL[n2]}" "orch_session_engine_sessions_in_memory=$o2"

  # Phase 2: node 1's only engine dies. Its lease lives on for up to its TTL:
  # calls arriving then are assigned to node 1 by call-watcher (still up) and
  # move to node 2 on the timeout path. Phase 2's calls are held 20-30 s, so
  # they end after node 1's return (about 10 s after the kill; the test checks
  # that they did) even on a loaded machine.
  local kill_ms lease_gone_ms
  kill_ms=$(now_ms)
  stack_kill n1
  sim_start ha2 --watcher "$w" --routing-point 5102 --agent-dns "$(agents_of 2)" --rate 8 --calls 10 \
    --hold-ms 25000 --drain-s 60
  wait_for "phase 2a: 10 more calls owned by node 2" 20 owned_are "$o1" $(( o2 + 10 ))
  local takeovers
  takeovers=$(labelled $cw orch_calls_reserved_takeovers_total)
  echo "phase 2a: $takeovers calls taken over by the reserved node"
  $check metrics "${STACK_METRICS_URL[$cw]}" 'orch_calls_reserved_takeovers_total>=1'
  # Then node 1's lease expires; once call-watcher has read that (every 500 ms),
  # new calls are assigned to node 2 at once.
  lease_gone() { [ "$(redis-cli -p "$STACK_REDIS_PORT" exists 'ORS:orch:lease:{node:1}')" = 0 ]; }
  wait_for "node 1's lease to expire" 10 lease_gone
  lease_gone_ms=$(now_ms)
  echo "phase 2b: node 1's lease gone $(( lease_gone_ms - kill_ms )) ms after the kill"
  sleep 1
  sim_start ha3 --watcher "$w" --routing-point 5103 --agent-dns "$(agents_of 3)" --rate 4 --calls 6 \
    --hold-ms 25000 --drain-s 60
  wait_for "phase 2b: 6 more calls owned by node 2" 20 owned_are "$o1" $(( o2 + 16 ))
  $check metrics "${STACK_METRICS_URL[$cw]}" "orch_calls_reserved_takeovers_total=$takeovers"

  # Phase 3: node 1 comes back (empty: its sessions were memory-only).
  stack_start_engine n1 --node 1 "${ha_opts[@]}"
  local back_ms
  back_ms=$(now_ms)
  echo "phase 3: node 1 primary again $(( back_ms - kill_ms )) ms after the kill"
  sleep 1
  sim_start ha4 --watcher "$w" --routing-point 5104 --agent-dns "$(agents_of 4)" --rate 4 --calls 20 \
    --hold-ms 500 --drain-s 60
  sim_wait ha1 ha2 ha3 ha4

  # Phase 1's calls all ended; node 1's lost their sessions (their next event
  # after the kill found no session when node 1 came back), each once: routed
  # already, so not orphans (no default route) but sessions gone.
  $check summary "$STACK_WORK/ha1.json" calls=10 unfinished=0 unacked=0 double_routes=0
  $check owners "$STACK_WORK/ha1.jsonl" "1=$o1" "2=$o2"
  $check metrics "${STACK_METRICS_URL[$cw]}" "orch_calls_session_ended_total=$o1" "orch_calls_orphaned_total=0"
  # Phase 2's calls: all owned by node 2 (every attach came from a node-2
  # session), routed within the timeout + 1 s of arrival, and every event up to
  # their end (after node 1's return) reached node 2's session: node 1 never
  # heard of them.
  local p n
  for p in ha2:10 ha3:6; do
    n=${p#*:} p=${p%:*}
    $check summary "$STACK_WORK/$p.json" calls="$n" routed="$n" unfinished=0 unacked=0 double_routes=0
    $check route-within "$STACK_WORK/$p.jsonl" $(( timeout + 1000 ))
    $check owners "$STACK_WORK/$p.jsonl" "2=$n"
    $check ended-after "$STACK_WORK/$p.jsonl" $(( back_ms - ${sim_at_ms[$p]} ))
    $check strategy "${STACK_LOG[n2]}" "$STACK_WORK/$p.jsonl" --priority 1
    $check absent "${STACK_LOG[n1]}" "$STACK_WORK/$p.jsonl"
  done
  # New calls use both nodes again.
  $check summary "$STACK_WORK/ha4.json" calls=20 routed=20 unfinished=0 unacked=0 double_routes=0
  $check owners "$STACK_WORK/ha4.jsonl" '1>=1' '2>=1'
  $check metrics "${STACK_METRICS_URL[n1]}" 'orch_session_engine_sessions_in_memory=0'
  $check metrics "${STACK_METRICS_URL[n2]}" 'orch_session_engine_sessions_in_memory=0'
  stack_stop $cw n1 n2
  stack_start_engine session-engine "${engine_opts[@]}"
}

for scenario in "${scenarios[@]}"; do
  echo "== $scenario"
  case $scenario in
    routing)
      write_dns 10 7001 7002
      stack_start_call_watcher --name cw-routing calls.dn-file="\"$dns\"" calls.default-route-timeout-ms=20000
      w=${STACK_ENDPOINT[cw-routing]}
      # A call every 600 ms held 250 ms: each arrives with both agents ready,
      # the one idle longer is the other one than the last call's.
      simulate routing1 --watcher "$w" --agent-dns 7001,7002 --rate 1.6667 --calls 6 --hold-ms 250 --digits 1
      $check summary "$STACK_WORK/routing1.json" calls=6 routed=6 double_routes=0 unfinished=0 unacked=0
      $check alternate "$STACK_WORK/routing1.jsonl" 7001,7002
      $check strategy "$engine_log" "$STACK_WORK/routing1.jsonl" --priority 2
      simulate routing2 --watcher "$w" --agent-dns 7001,7002 --rate 2 --calls 2 --hold-ms 100 --digits 9
      $check strategy "$engine_log" "$STACK_WORK/routing2.jsonl" --priority 1
      stack_stop cw-routing
      ;;
    abandon)
      write_dns 30 7001
      stack_start_call_watcher --name cw-abandon calls.dn-file="\"$dns\"" calls.reservation-ttl-ms=60000
      w=${STACK_ENDPOINT[cw-abandon]}
      # Call 1 takes the agent for 2.5 s; call 2 waits and hangs up after 1 s;
      # call 3 arrives at 3 s and must get the agent: call 2's wait left no
      # reservation behind (the TTL of 60 s would hold it past the run).
      simulate abandon --watcher "$w" --agent-dns 7001 --rate 1 --calls 3 --hold-ms 2500 \
        --patience-ms 1000 --patience fixed
      $check summary "$STACK_WORK/abandon.json" calls=3 routed=2 abandoned=1 double_routes=0 unfinished=0
      $check outcome "$STACK_WORK/abandon.jsonl" t$run-2 abandoned
      $check outcome "$STACK_WORK/abandon.jsonl" t$run-3 routed
      $check ended "$engine_log" t$run-2 abandoned
      $check metrics "${STACK_METRICS_URL[cw-abandon]}" 'orch_call_watcher_reservations_total{outcome="won"}=2'
      $check metrics "${STACK_METRICS_URL[session-engine]}" 'orch_session_engine_sessions_in_memory=0'
      stack_stop cw-abandon
      ;;
    reserved)
      write_dns 10 7001
      stack_start_call_watcher --name cw-reserved calls.dn-file="\"$dns\"" calls.reservation-ttl-ms=60000
      w=${STACK_ENDPOINT[cw-reserved]}
      # The caller hangs up 1 s in, during the strategy's 1.5 s pause with
      # 7001 reserved for it.
      simulate reserved1 --watcher "$w" --agent-dns 7001 --routing-point 5001 --calls 1 --patience-ms 1000 \
        --patience fixed
      $check summary "$STACK_WORK/reserved1.json" calls=1 abandoned=1 routed=0 unfinished=0
      $check ended "$engine_log" t$run-1 abandoned
      # Without the release, this call would find 7001 reserved for 60 s,
      # give up after wait_s (10 s) and be default-routed.
      simulate reserved2 --watcher "$w" --agent-dns 7001 --routing-point 5001 --calls 1 --hold-ms 200
      $check summary "$STACK_WORK/reserved2.json" calls=1 routed=1 unfinished=0
      $check outcome "$STACK_WORK/reserved2.jsonl" t$run-1 routed
      $check metrics "${STACK_METRICS_URL[cw-reserved]}" 'orch_call_watcher_reservations_total{outcome="won"}=2'
      stack_stop cw-reserved
      ;;
    unknown-dn)
      write_dns 10 7001 7002
      stack_start_call_watcher --name cw-unknown calls.dn-file="\"$dns\""
      w=${STACK_ENDPOINT[cw-unknown]}
      simulate unknown --watcher "$w" --agent-dns 7001,7002 --routing-point 5999 --rate 10 --calls 4 --hold-ms 100
      $check summary "$STACK_WORK/unknown.json" calls=4 default_routed=4 routed=0 unfinished=0
      $check metrics "${STACK_METRICS_URL[cw-unknown]}" 'orch_call_watcher_default_routes_total{reason=*}>=4'
      stack_stop cw-unknown
      ;;
    replicas)
      agents=$(seq -s, 7001 7020)
      # shellcheck disable=SC2046
      write_dns 60 $(seq 7001 7020)
      stack_start_call_watcher --name cw-a calls.dn-file="\"$dns\"" calls.default-route-timeout-ms=120000
      stack_start_call_watcher --name cw-b calls.dn-file="\"$dns\"" calls.default-route-timeout-ms=120000
      # 200 calls in 2 s, 20 agents holding each call 1 s: about 200 calls
      # at once at the peak, the two replicas competing for every agent.
      simulate replicas --watcher "${STACK_ENDPOINT[cw-a]},${STACK_ENDPOINT[cw-b]}" --agent-dns "$agents" \
        --rate 100 --calls 200 --hold-ms 1000 --drain-s 90
      $check summary "$STACK_WORK/replicas.json" calls=200 routed=200 double_routes=0 unfinished=0 unacked=0
      $check metrics "${STACK_METRICS_URL[cw-a]}" 'orch_call_watcher_reservations_total{outcome="won"}>=1'
      $check metrics "${STACK_METRICS_URL[cw-b]}" 'orch_call_watcher_reservations_total{outcome="won"}>=1'
      $check strategy "$engine_log" "$STACK_WORK/replicas.jsonl" --priority 2
      stack_stop cw-a cw-b
      ;;
    reconnect)
      write_dns 30 7001 7002 7003 7004
      stack_start_call_watcher --name cw-reconnect calls.dn-file="\"$dns\""
      w=${STACK_ENDPOINT[cw-reconnect]}
      simulate reconnect --watcher "$w" --agent-dns 7001,7002,7003,7004 --rate 20 --calls 40 --hold-ms 300 \
        --drop-link-every-events 37
      $check summary "$STACK_WORK/reconnect.json" calls=40 routed=40 double_routes=0 unfinished=0 unacked=0 \
        'reconnects>=5'
      # Each session heard of its call once and ended once: nothing lost, nothing twice.
      $check strategy "$engine_log" "$STACK_WORK/reconnect.jsonl" --priority 2
      stack_stop cw-reconnect
      ;;
    reserved-node)
      reserved_node
      ;;
  esac
done
echo "calls_test: all scenarios passed (${scenarios[*]})"
