#!/usr/bin/env bash
# The kill test (issue: session-engine): many persistent sessions record every
# event they receive; session-engine is SIGKILLed at random moments and
# restarted while a client keeps sending; at the end every session's record
# must equal exactly the acknowledged events, in order. Redis runs with
# appendfsync always. Prints the checker's line
#   acknowledged=N lost=0 duplicated=0 reordered=0 ...
# and exits 0 only when nothing was lost, duplicated or reordered.
#
#   kill9.sh [--build DIR] [--duration-s S] [--sessions N] [--kills K] [--seed X]
#            [--standby] [--lease-ttl-ms T] [--max-stall-ms M]
#
# --standby runs the node as a primary and a standby (the takeover test):
# each kill hits whichever instance is primary, the standby takes over, and
# the killed one comes back as the new standby. --max-stall-ms fails the run
# when a session waited longer than M ms between two acknowledgements (the
# takeover bound: lease TTL + 1 s).
#
# Everything runs on loopback; processes are started here and stopped by PID.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${ORCH_BUILD_DIR:-$root/build}
duration=20
sessions=50
kills=4
seed=$RANDOM
standby=0
ttl=1000
max_stall=0
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --duration-s) duration=$2; shift 2 ;;
    --sessions) sessions=$2; shift 2 ;;
    --kills) kills=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --standby) standby=1; shift ;;
    --lease-ttl-ms) ttl=$2; shift 2 ;;
    --max-stall-ms) max_stall=$2; shift 2 ;;
    *) echo "kill9.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
RANDOM=$seed
for bin in services/session_engine/session-engine services/persistence_proxy/persistence-proxy \
           tools/orch_probe/orch-probe tests/fault/kill9_client; do
  [ -x "$build/$bin" ] || { echo "kill9.sh: $build/$bin is missing (build first)" >&2; exit 2; }
done

work=$(mktemp -d)
keep=${ORCH_KEEP_LOGS:-0}   # 1: keep the logs (printed at exit)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "${keep:-0}" = 1 ]; then echo "kill9.sh: logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

base=$(( 21000 + RANDOM % 20000 ))
redis_port=$base proxy_port=$((base + 1)) proxy_metrics=$((base + 2))
engine_ports=($((base + 3)) $((base + 5)))
engine_metrics=($((base + 4)) $((base + 6)))
instances=$((1 + standby))

redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync always \
  --dir "$work" --logfile "$work/redis.log" &
pids+=($!)

cat >"$work/proxy.toml" <<TOML
[server]
grpc-listen = "127.0.0.1:$proxy_port"
[metrics]
listen = "127.0.0.1:$proxy_metrics"
[persistence]
redis-nodes = ["127.0.0.1:$redis_port"]
redis-mode = "standalone"
TOML
for i in $(seq 0 $((instances - 1))); do
cat >"$work/engine$i.toml" <<TOML
[server]
grpc-listen = "127.0.0.1:${engine_ports[$i]}"
shutdown-grace-ms = 1000
[metrics]
listen = "127.0.0.1:${engine_metrics[$i]}"
[orchestration]
node-id = 1
lease-ttl-ms = $ttl
lease-renew-ms = $((ttl / 5))
[scxml]
session-processing-threads = 2
snapshot-every-entries = 20
snapshot-every-ms = 500
[persistence]
proxy-endpoint = "127.0.0.1:$proxy_port"
TOML
done

"$build/services/persistence_proxy/persistence-proxy" --config "$work/proxy.toml" 2>"$work/proxy.log" &
pids+=($!)
"$build/tools/orch_probe/orch-probe" --wait-ms 20000 --service orch.persistence.v1.Persistence \
  "127.0.0.1:$proxy_port" || { keep=1; echo "kill9.sh: persistence-proxy did not become healthy" >&2; exit 1; }

engine_pids=()
start_engine() {  # instance index
  "$build/services/session_engine/session-engine" --config "$work/engine$1.toml" 2>>"$work/engine$1.log" &
  engine_pids[$1]=$!
  pids+=($!)
}
# The instance that answers as primary right now (-1: none).
primary() {
  local i
  for i in $(seq 0 $((instances - 1))); do
    if "$build/tools/orch_probe/orch-probe" --timeout-ms 500 --service orch.session.v1.Sessions \
         "127.0.0.1:${engine_ports[$i]}" >/dev/null 2>&1; then echo "$i"; return; fi
  done
  echo -1
}
targets=
for i in $(seq 0 $((instances - 1))); do
  start_engine "$i"
  targets+="${targets:+,}127.0.0.1:${engine_ports[$i]}"
  # The first one becomes primary before the standby starts.
  if [ "$i" = 0 ]; then
    "$build/tools/orch_probe/orch-probe" --wait-ms 20000 --service orch.session.v1.Sessions \
      "127.0.0.1:${engine_ports[0]}" || { keep=1; echo "kill9.sh: session-engine did not become primary" >&2; exit 1; }
  fi
done

"$build/tests/fault/kill9_client" --target "$targets" --chart "$root/tests/fault/charts/recorder.scxml" \
  --sessions "$sessions" --duration-ms $((duration * 1000)) >"$work/client.out" 2>"$work/client.err" &
client=$!
pids+=("$client")

# Kill moments: K random points in the middle 80% of the run.
sleep 1
for k in $(seq "$kills"); do
  span=$(( duration * 800 / (kills + 1) ))
  pause=$(( span / 2 + RANDOM % (span + 1) ))
  sleep "$(printf '%d.%03d' $((pause / 1000)) $((pause % 1000)))"
  kill -0 "$client" 2>/dev/null || break
  victim=$(primary)
  [ "$victim" -ge 0 ] || victim=0   # none answers yet: kill the first again
  kill -KILL "${engine_pids[$victim]}"
  wait "${engine_pids[$victim]}" 2>/dev/null || true
  echo "kill9.sh: SIGKILL $k of $kills (instance $victim, pid ${engine_pids[$victim]})" >&2
  sleep "0.$(( RANDOM % 5 ))"
  start_engine "$victim"
done

status=0
wait "$client" || status=$?
cat "$work/client.err" >&2
line=$(tail -n 1 "$work/client.out")
echo "$line"
stall=$(sed -n 's/.*max_stall_ms=\([0-9]*\).*/\1/p' <<<"$line")
if [ $status -eq 0 ] && [ "$max_stall" -gt 0 ] && [ "${stall:-0}" -gt "$max_stall" ]; then
  echo "kill9.sh: FAILED: a session waited ${stall} ms for an acknowledgement (bound ${max_stall} ms)" >&2
  status=1
fi
if [ $status -ne 0 ]; then
  keep=1
  echo "kill9.sh: FAILED (client status $status); engine log tail:" >&2
  for f in "$work"/engine*.log; do echo "--- $f" >&2; tail -n 30 "$f" >&2; done
fi
exit $status
