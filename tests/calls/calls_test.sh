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
    routing|abandon|reserved|unknown-dn|replicas|reconnect) scenarios+=("$1"); shift ;;
    *) echo "calls_test: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ ${#scenarios[@]} -gt 0 ] || scenarios=(routing abandon reserved unknown-dn replicas reconnect)
check="python3 $root/tests/calls/check.py"

stack_init --tmp /tmp/orch-calls.XXXXXX --grace 2 "$build"
stack_require session-engine persistence-proxy call-watcher switch-sim orch-probe
sim=$(stack_bin switch-sim)
stack_start_redis
stack_start_proxy log.level='"warn"'
stack_start_engine session-engine \
  scxml.document-url-prefixes="[\"file://$root/examples/\", \"file://$root/tests/calls/charts/\"]"

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
  esac
done
echo "calls_test: all scenarios passed (${scenarios[*]})"
