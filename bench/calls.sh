#!/usr/bin/env bash
# Calls benchmark. Starts its own redis-server, persistence-proxy,
# session-engine and call-watcher on loopback, and in one run measures:
#  1. the baseline: events sent straight to in-memory sessions over gRPC
#     (bench/session_load --mode events, paced at the rate the call phase
#     delivers) — the engine's CPU per event;
#  2. calls: switch-sim (tools/switch_sim) offers ORCH_BENCH_RATE calls/s
#     (Poisson arrivals) for ORCH_BENCH_SECONDS to call-watcher, which runs
#     bench/charts/calls.scxml for each (three actions: attach, play and
#     collect, queue:submit route="true"; about eight events in), sessions
#     not persisted as ORS's voice default; 600 agents hold each call 1 s.
#     The CPU of session-engine, call-watcher, persistence-proxy and Redis
#     over the phase, divided by the events call-watcher delivered to sessions.
# Ends with one line:
#   calls_per_s=<calls completed per second of arrivals> route_p99_ms=<route request → route>
#   cpu_ratio=<CPU per call event through call-watcher / CPU per event sent straight>
#   and: offered_per_s, route_p50_ms, events_per_call, cpu_us_per_call_event,
#   cpu_us_per_direct_event, cpu_share_engine/_watcher/_proxy/_redis (of the call phase),
#   unfinished, double_routes
#
# Usage: bench/calls.sh   (ORCH_BUILD_DIR, ORCH_BENCH_RATE=400, ORCH_BENCH_SECONDS=30,
#                          ORCH_BENCH_BUILD=1 builds first, QUICK=1: 100 calls/s for 3 s)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib/stack.sh"
build=${ORCH_BUILD_DIR:-build}
[[ "$build" = /* ]] || build="$root/$build"
rate=${ORCH_BENCH_RATE:-400}
seconds=${ORCH_BENCH_SECONDS:-30}
if [ "${QUICK:-0}" = 1 ]; then rate=100; seconds=3; fi
agents=600

stack_init --tmp /tmp/orch-cbench.XXXXXX "$build"
if [ "${ORCH_BENCH_BUILD:-1}" = 1 ]; then
  stack_build persistence-proxy session-engine call-watcher switch-sim session_load orch-probe
fi
stack_require persistence-proxy session-engine call-watcher switch-sim session_load orch-probe
work=$STACK_WORK
tck=$STACK_CLK_TCK

stack_start_redis
stack_start_proxy log.level='"warn"'
stack_start_engine session-engine log.level='"warn"' \
  scxml.document-url-prefixes="[\"file://$root/bench/charts/\"]"
members=$(seq -s '", "' 7001 $(( 7000 + agents )))
cat >"$work/dns.toml" <<TOML
default-route = "8000"
[groups]
agents = ["$members"]
[[dn]]
dn = "5000"
application = "file://$root/bench/charts/calls.scxml"
[dn.parameters]
queue = "agents"
TOML
stack_start_call_watcher calls.dn-file="\"$work/dns.toml\"" log.level='"warn"' \
  calls.default-route-timeout-ms=60000
engine_pid=${STACK_PID[session-engine]}
watcher_pid=${STACK_PID[call-watcher]}
proxy_pid=${STACK_PID[persistence-proxy]}
redis_pid=${STACK_PID[redis-server]}
cpu_now() {
  echo "$(stack_cpu_ticks "$engine_pid") $(stack_cpu_ticks "$watcher_pid") $(stack_cpu_ticks "$proxy_pid")" \
       "$(stack_cpu_ticks "$redis_pid")"
}
applied() { stack_metric session-engine orch_session_engine_inputs_applied_total; }

# 2. Calls (first, so the baseline can be paced at the same event rate).
read -r e0 w0 p0 r0 <<<"$(cpu_now)"
a0=$(applied)
# Exit 3 (calls unfinished after the drain: more offered than served) is a
# result to report; anything else is a failure of the run.
sim_rc=0
sim_out=$("$(stack_bin switch-sim)" --watcher "${STACK_ENDPOINT[call-watcher]}" --routing-point 5000 \
  --agent-dns "$(seq -s, 7001 $(( 7000 + agents )))" --rate "$rate" --arrival poisson --seed 7 \
  --duration-s "$seconds" --hold-ms 1000 --treatment-ms 20 --drain-s 20 --json 2>"$work/sim.err") || sim_rc=$?
if [ $sim_rc -ne 0 ] && [ $sim_rc -ne 3 ]; then
  echo "calls: switch-sim failed ($sim_rc): $sim_out" >&2
  tail -n 5 "$work/sim.err" >&2
  exit 1
fi
read -r e1 w1 p1 r1 <<<"$(cpu_now)"
a1=$(applied)
echo "calls phase: $sim_out"

# 1. The baseline at the call phase's event rate.
events=$(( ${a1%.*} - ${a0%.*} ))
event_rate=$(( events / seconds ))
(( event_rate > 0 )) || { echo "calls: no events were applied" >&2; exit 1; }
read -r be0 _ _ _ <<<"$(cpu_now)"
ba0=$(applied)
base_out=$("$(stack_bin session_load)" --target "${STACK_ENDPOINT[session-engine]}" \
  --chart "$root/bench/charts/session_counter_false.scxml" --mode events --sessions 1000 --threads 64 \
  --rate "$event_rate" --seconds "$seconds")
read -r be1 _ _ _ <<<"$(cpu_now)"
ba1=$(applied)
echo "baseline (events straight over gRPC at $event_rate/s): $base_out"

python3 - "$sim_out" "$tck" "$seconds" "$rate" "$events" "$e0" "$e1" "$w0" "$w1" "$p0" "$p1" "$r0" "$r1" \
  "$be0" "$be1" "$ba0" "$ba1" <<'EOF'
import json, sys
sim = json.loads(sys.argv[1])
tck, seconds, rate, events = (float(x) for x in sys.argv[2:6])
e0, e1, w0, w1, p0, p1, r0, r1, be0, be1, ba0, ba1 = (float(x) for x in sys.argv[6:18])
us = 1e6 / tck
parts = {"engine": e1 - e0, "watcher": w1 - w0, "proxy": p1 - p0, "redis": r1 - r0}
total = sum(parts.values())
per_call_event = total * us / events
direct_events = ba1 - ba0
per_direct = (be1 - be0) * us / direct_events
done = sim["routed"] + sim["default_routed"] + sim["abandoned"]
print(f"calls_per_s={done / seconds:.0f} route_p99_ms={sim['route_p99_ms']} "
      f"cpu_ratio={per_call_event / per_direct:.2f} offered_per_s={rate:.0f} route_p50_ms={sim['route_p50_ms']} "
      f"events_per_call={events / max(sim['calls'], 1):.1f} cpu_us_per_call_event={per_call_event:.0f} "
      f"cpu_us_per_direct_event={per_direct:.0f} "
      + " ".join(f"cpu_share_{k}={v / total:.2f}" for k, v in parts.items())
      + f" unfinished={sim['unfinished']} double_routes={sim['double_routes']}")
EOF
