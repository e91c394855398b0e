#!/usr/bin/env bash
# Restart throttling benchmark (issue 14): a node's primary dies with N
# unfinished memory-only calls (restart-session-on-switchover = true); the
# standby takes over and restarts them in cycles of session-processing-threads
# (8) every session-restart-timeout (50 ms), while new calls keep arriving.
# Starts its own redis-server, persistence-proxy, two session-engine instances
# of node 1 (a primary, a standby), call-watcher and three switch-sim runs on
# loopback:
#  1. held: N calls (bench/charts/calls.scxml: attach, play and collect,
#     queue:submit route="true") routed to N agents that hold them for an hour;
#  2. baseline: new calls at ORCH_BENCH_NEW_RATE/s for ORCH_BENCH_SECONDS on
#     another routing point and agent group, the N held calls alive, no restart
#     under way: their route latency (route request → route);
#  3. SIGKILL of the primary; as soon as the standby holds the lease, the same
#     new-call load again, while the standby restarts the N calls. A poller
#     reads the standby's metrics every 20 ms (backlog, restarts, cycles).
# Ends with one line:
#   restart_calls=N restarted=… failed=… restart_s=<backlog listed → empty> restarts_per_s=…
#   cycles=… per_cycle_mean=… period_mean_ms=… period_p50_le_ms=… work_mean_ms=…
#   new_calls=… new_in_backlog=… new_route_p50_ms=… new_route_p99_ms=… new_route_p99_in_backlog_ms=…
#   base_route_p50_ms=… base_route_p99_ms=… p99_ratio=<new/base>
#
# Usage: bench/calls_restart.sh  (ORCH_BUILD_DIR, ORCH_BENCH_BUILD=1 builds first,
#   ORCH_BENCH_CALLS=2000, ORCH_BENCH_NEW_RATE=20, ORCH_BENCH_SECONDS=15,
#   ORCH_BENCH_OUT=DIR keeps the record; QUICK=1: 200 calls, 5 s phases)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib/stack.sh"
build=${ORCH_BUILD_DIR:-build}
[[ "$build" = /* ]] || build="$root/$build"
calls=${ORCH_BENCH_CALLS:-2000}
new_rate=${ORCH_BENCH_NEW_RATE:-20}
seconds=${ORCH_BENCH_SECONDS:-15}
if [ "${QUICK:-0}" = 1 ]; then calls=200; seconds=5; fi
per_cycle=8   # session-processing-threads: the restarts of one cycle (the seeds' default)
new_agents=$(( new_rate * 4 + 20 ))   # each new call holds its agent 1 s

if [ -n "${ORCH_BENCH_OUT:-}" ]; then
  stack_init --work "$ORCH_BENCH_OUT" "$build"
else
  stack_init --tmp /tmp/orch-rbench.XXXXXX "$build"
fi
if [ "${ORCH_BENCH_BUILD:-1}" = 1 ]; then
  stack_build persistence-proxy session-engine call-watcher switch-sim orch-probe
fi
stack_require persistence-proxy session-engine call-watcher switch-sim orch-probe
work=$STACK_WORK
say() { echo "calls_restart: $*" >&2; }

stack_start_redis
stack_start_proxy log.level='"warn"'
engine_opts=(log.level='"warn"' orchestration.lease-ttl-ms=2000 orchestration.lease-renew-ms=400
             scxml.session-processing-threads=$per_cycle orchestration.session-restart-timeout=50
             scxml.document-url-prefixes="[\"file://$root/bench/charts/\"]")
stack_start_engine a --node 1 "${engine_opts[@]}"
stack_start_engine b --node 1 --standby "${engine_opts[@]}"

held_dns=$(seq -s, 10001 $(( 10000 + calls )))
new_dns=$(seq -s, 20001 $(( 20000 + new_agents )))
cat >"$work/dns.toml" <<TOML
default-route = "8000"
[groups]
held = ["${held_dns//,/\", \"}"]
fresh = ["${new_dns//,/\", \"}"]
[[dn]]
dn = "5000"
application = "file://$root/bench/charts/calls.scxml"
[dn.parameters]
queue = "held"
[[dn]]
dn = "5001"
application = "file://$root/bench/charts/calls.scxml"
[dn.parameters]
queue = "fresh"
TOML
stack_start_call_watcher --nodes 1 calls.dn-file="\"$work/dns.toml\"" log.level='"warn"' \
  calls.default-route-timeout-ms=60000 calls.max-queued-events=100000 \
  orchestration.restart-session-on-switchover=true

sim() {  # NAME ARGS...: switch-sim in the background, tracked as NAME
  local name=$1
  shift
  "$(stack_bin switch-sim)" --watcher "${STACK_ENDPOINT[call-watcher]}" --adapter-id "$name" \
    --treatment-ms 20 --json --outcomes "$work/$name.jsonl" "$@" >"$work/$name.json" 2>"$work/$name.err" &
  stack_track "$name" $!
}
routed() { stack_metric call-watcher orch_call_watcher_route_latency_seconds_count; }

# 1. The held calls.
say "holding $calls calls"
sim held --routing-point 5000 --agent-dns "$held_dns" --calls "$calls" --rate 200 --arrival poisson --seed 3 \
  --hold-ms 3600000 --drain-s 3600
for _ in $(seq 1200); do
  r=$(routed)
  [ "${r%.*}" -ge "$calls" ] 2>/dev/null && break
  stack_alive held || { say "switch-sim (held) ended early: $(cat "$work/held.json")"; exit 1; }
  sleep 0.1
done
r=$(routed)
[ "${r%.*}" -ge "$calls" ] || { say "only ${r:-0} of $calls held calls were routed within 120 s"; exit 1; }
sleep 1   # the last calls' party events reach their sessions (and the record)

new_calls() {  # NAME: the new-call load on 5001, waits for it; its summary on stdout
  local rc=0
  sim "$1" --routing-point 5001 --agent-dns "$new_dns" --rate "$new_rate" --arrival poisson --seed 5 \
    --duration-s "$seconds" --calls 0 --hold-ms 1000 --drain-s 30
  stack_wait "$1" || rc=$?
  [ $rc = 0 ] || { say "switch-sim ($1) failed ($rc): $(cat "$work/$1.json")"; tail -n 5 "$work/$1.err" >&2; return 1; }
  cat "$work/$1.json"
}

# 2. The baseline: the same new-call load with the held calls alive, no restart.
say "baseline: $new_rate new calls/s for $seconds s"
base=$(new_calls base)

# 3. The takeover.
python3 - "${STACK_METRICS_URL[b]}" "$work/poll.jsonl" <<'PY' &
import json, sys, time, urllib.request
url, out = sys.argv[1], sys.argv[2]
names = {"orch_session_engine_restart_backlog": "backlog", "orch_session_engine_sessions_restarted_total": "restarted",
         "orch_session_engine_restart_cycles_total": "cycles", "orch_session_engine_lease_primary": "primary",
         "orch_session_engine_session_restart_failures_total": "failed"}
deadline = time.monotonic() + 600
seen_backlog = False
with open(out, "w") as f:
    while time.monotonic() < deadline:
        try:
            page = urllib.request.urlopen(url, timeout=2).read().decode()
        except OSError:
            time.sleep(0.02)
            continue
        s = {"t_us": time.time_ns() // 1000}
        for line in page.splitlines():
            k, _, v = line.partition(" ")
            if k in names:
                s[names[k]] = float(v)
        f.write(json.dumps(s) + "\n")
        f.flush()
        if s.get("backlog", 0) > 0:
            seen_backlog = True
        elif seen_backlog and s.get("primary") == 1:
            break
        time.sleep(0.02)
PY
stack_track poller $!
sleep 0.5
kill_us=$(stack_now_us)
stack_kill a
for _ in $(seq 400); do
  [ "$(stack_metric b orch_session_engine_lease_primary)" = 1 ] && break
  sleep 0.025
done
[ "$(stack_metric b orch_session_engine_lease_primary)" = 1 ] || { say "b did not take over within 10 s"; exit 1; }
primary_us=$(stack_now_us)
say "b took over $(( (primary_us - kill_us) / 1000 )) ms after the kill; $new_rate new calls/s meanwhile"
during_start_us=$(stack_now_us)
during=$(new_calls during)
stack_wait poller || { say "the metrics poller failed"; exit 1; }
stack_scrape b "$work/b.prom"

python3 - "$calls" "$per_cycle" "$base" "$during" "$during_start_us" "$work/poll.jsonl" "$work/during.jsonl" "$work/b.prom" <<'PY'
import json, math, sys
calls, per = int(sys.argv[1]), int(sys.argv[2])
base, during = json.loads(sys.argv[3]), json.loads(sys.argv[4])
start_us = int(sys.argv[5])
polls = [json.loads(l) for l in open(sys.argv[6])]
outcomes = [json.loads(l) for l in open(sys.argv[7])]
prom = {}
buckets = {}
for line in open(sys.argv[8]):
    if line.startswith("#") or not line.strip():
        continue
    k, _, v = line.rpartition(" ")
    if k.startswith("orch_session_engine_restart_cycle_period_seconds_bucket"):
        buckets[float(k.split('le="')[1].split('"')[0].replace("+Inf", "inf"))] = float(v)
    prom[k] = float(v)

def nearest_rank(values, q):
    values = sorted(values)
    return values[max(0, math.ceil(q * len(values)) - 1)] if values else -1

# The restart window: the first poll with a backlog to the first empty one after it.
busy = [p for p in polls if p.get("backlog", 0) > 0]
if not busy:
    sys.exit("calls_restart: the standby never had a restart backlog")
first = busy[0]["t_us"]
after = [p for p in polls if p["t_us"] > busy[-1]["t_us"]]
last = after[0]["t_us"] if after else busy[-1]["t_us"]
restarted = prom["orch_session_engine_sessions_restarted_total"]
failed = prom["orch_session_engine_session_restart_failures_total"]
cycles = prom["orch_session_engine_restart_cycles_total"]
per_cycle = prom["orch_session_engine_restart_cycle_sessions_sum"] / max(1, prom["orch_session_engine_restart_cycle_sessions_count"])
period_n = prom["orch_session_engine_restart_cycle_period_seconds_count"]
period_mean = prom["orch_session_engine_restart_cycle_period_seconds_sum"] / max(1, period_n) * 1000
work_mean = prom["orch_session_engine_restart_cycle_work_seconds_sum"] / max(1, prom["orch_session_engine_restart_cycle_work_seconds_count"]) * 1000
p50_le = next((le for le, c in sorted(buckets.items()) if c >= period_n / 2), math.inf) * 1000
restart_s = (last - first) / 1e6
# New calls that arrived while the backlog was not empty (arrived_ms is from the sim's start).
in_backlog = [o["route_ms"] for o in outcomes if o["route_ms"] is not None
              and first <= start_us + o["arrived_ms"] * 1000 <= busy[-1]["t_us"]]
unrouted = sum(1 for o in outcomes if o["route_ms"] is None)
print(f"restart_calls={calls} restarted={restarted:.0f} failed={failed:.0f} restart_s={restart_s:.2f} "
      f"restarts_per_s={restarted / max(restart_s, 1e-3):.0f} cycles={cycles:.0f} per_cycle_mean={per_cycle:.2f} "
      f"period_mean_ms={period_mean:.1f} period_p50_le_ms={p50_le:g} work_mean_ms={work_mean:.1f} "
      f"new_calls={during['calls']} new_unrouted={unrouted} new_in_backlog={len(in_backlog)} "
      f"new_route_p50_ms={during['route_p50_ms']} new_route_p99_ms={during['route_p99_ms']} "
      f"new_route_p99_in_backlog_ms={nearest_rank(in_backlog, 0.99)} "
      f"base_route_p50_ms={base['route_p50_ms']} base_route_p99_ms={base['route_p99_ms']} "
      f"p99_ratio={during['route_p99_ms'] / max(base['route_p99_ms'], 1):.2f}")
# What must hold whatever the speed (ctest runs QUICK=1): every call restarted,
# none failed, cycles of $per_cycle (the last may be smaller), every new call routed.
problems = []
if restarted != calls or failed != 0:
    problems.append(f"{restarted:.0f} of {calls} calls restarted, {failed:.0f} failed")
if cycles != math.ceil(calls / per) or prom["orch_session_engine_restart_cycle_sessions_sum"] != calls:
    problems.append(f"{cycles:.0f} cycles for {calls} calls (expected {math.ceil(calls / per)} of {per})")
if unrouted or during["routed"] != during["calls"] or base["routed"] != base["calls"]:
    problems.append("new calls were not all routed")
if problems:
    sys.exit("calls_restart: FAILED: " + "; ".join(problems))
PY
