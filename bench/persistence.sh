#!/usr/bin/env bash
# persistence-proxy benchmark (issue 4). On ONE redis-server started here:
#  1. redis-benchmark XADD of 150-byte values at pipeline 16 (the raw baseline);
#  2. appends of 150-byte entries through persistence-proxy from many
#     concurrent sessions, as fast as possible (bench/persistence_load.cc),
#     with unary AppendEvents, over AppendEventsStream, and over
#     AppendEventsBatchStream (the figure used: what a session-engine node
#     sends, every append its sessions have ready in one message);
#  3. the same at half that rate, for the p99 latency;
#  4. Redis memory per idle persisted session (SessionStarted + 9 events,
#     a 1 KB snapshot covering them, so the log is trimmed; meta; registry).
# Each proxy run also prints the CPU time per append of the proxy, of Redis
# and of the load generator (all three share the machine's cores).
# Ends with: xadd_per_s=<raw> proxy_per_s=<proxy> ratio=<proxy/raw> p99_ms=<at half load>
#
# Usage: bench/persistence.sh            ORCH_BUILD_DIR=build-a to use another build dir
#        ORCH_BENCH_SECONDS (10) ORCH_BENCH_SESSIONS (256) ORCH_BENCH_IDLE (10000)
#        ORCH_BENCH_STREAMS (4: AppendEventsStream streams)
#        ORCH_BENCH_BATCH_STREAMS (1: AppendEventsBatchStream streams; a node keeps one open,
#        so the appends its sessions have ready at once share a message)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${ORCH_BUILD_DIR:-build}
[[ "$build" = /* ]] || build="$root/$build"
seconds=${ORCH_BENCH_SECONDS:-10}
sessions=${ORCH_BENCH_SESSIONS:-256}
idle=${ORCH_BENCH_IDLE:-10000}
streams=${ORCH_BENCH_STREAMS:-4}
batch_streams=${ORCH_BENCH_BATCH_STREAMS:-1}

if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" -j2 persistence-proxy persistence_load >/dev/null

work=$(mktemp -d /tmp/orch-pbench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

port=$(free_port)
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
  --logfile "$work/redis.log" &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-cli -p "$port" ping >/dev/null

value=$(head -c 150 /dev/zero | tr '\0' 'v')
n=$(( seconds * 40000 ))
raw=$(redis-benchmark -p "$port" -P 16 -c 50 -n "$n" --csv XADD bench:raw '*' f "$value" |
      awk -F'","' 'NR==2 {print $2}' | tr -d '"')
raw=${raw%.*}
echo "redis-benchmark -P 16 -c 50 -n $n XADD (150-byte value): $raw requests/s"
redis-cli -p "$port" del bench:raw >/dev/null

cat >"$work/proxy.toml" <<TOML
[server]
grpc-listen = "127.0.0.1:0"
[metrics]
listen = "127.0.0.1:0"
[log]
level = "warn"
[persistence]
redis-nodes = ["127.0.0.1:$port"]
redis-mode = "standalone"
TOML
# "warn" hides the serving line: ask for a fixed free port instead.
gport=$(free_port)
sed -i "s/grpc-listen = \"127.0.0.1:0\"/grpc-listen = \"127.0.0.1:$gport\"/" "$work/proxy.toml"
"$build/services/persistence_proxy/persistence-proxy" --config "$work/proxy.toml" 2>"$work/proxy.log" &
pids+=($!)

proxy_pid=${pids[-1]}
redis_pid=${pids[0]}
tck=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# run <load args...>: one load run; prints its line plus the CPU per append
# of the proxy and of Redis.
run() {
  local p0 r0 out n
  p0=$(cpu "$proxy_pid"); r0=$(cpu "$redis_pid")
  out=$("$build/bench/persistence_load" --target "127.0.0.1:$gport" "$@")
  n=$(sed -n 's/.*appends=\([0-9]*\).*/\1/p' <<<"$out")
  awk -v o="$out" -v p=$(( $(cpu "$proxy_pid") - p0 )) -v r=$(( $(cpu "$redis_pid") - r0 )) \
      -v n="${n:-0}" -v t="$tck" 'BEGIN {
        printf "%s proxy_cpu_us_per_append=%.1f redis_cpu_us_per_append=%.1f\n", o,
               n ? p * 1e6 / t / n : 0, n ? r * 1e6 / t / n : 0 }'
}
common=(--sessions "$sessions" --seconds "$seconds")
unary=$(run "${common[@]}" --prefix UNARY)
echo "proxy, unary AppendEvents, $sessions sessions, as fast as possible: $unary"
stream=$(run "${common[@]}" --streams "$streams" --prefix STREAM)
echo "proxy, AppendEventsStream x$streams, $sessions sessions, as fast as possible: $stream"
full=$(run "${common[@]}" --streams "$batch_streams" --batch 1 --prefix MAX)
echo "proxy, AppendEventsBatchStream x$batch_streams, $sessions sessions, as fast as possible: $full"
proxy=$(sed -n 's/.*appends_per_s=\([0-9]*\).*/\1/p' <<<"$full")
half=$(( proxy / 2 ))
halfrun=$(run "${common[@]}" --streams "$batch_streams" --batch 1 --rate "$half" --prefix HALF)
echo "proxy at half load ($half/s, AppendEventsBatchStream): $halfrun"
p99=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' <<<"$halfrun")
cpu_per=$(sed -n 's/.*proxy_cpu_us_per_append=\([0-9.]*\).*/\1/p' <<<"$full")

redis-cli -p "$port" flushall >/dev/null
before=$(redis-cli -p "$port" info memory | tr -d '\r' | sed -n 's/^used_memory://p')
"$build/bench/persistence_load" --target "127.0.0.1:$gport" --idle-sessions "$idle" --snapshot 1024 --prefix MEM
after=$(redis-cli -p "$port" info memory | tr -d '\r' | sed -n 's/^used_memory://p')
keys=$(redis-cli -p "$port" dbsize)
per=$(( (after - before) / idle ))
echo "memory: $idle idle sessions, $keys keys, used_memory $before -> $after: $per bytes per session"

ratio=$(awk -v a="$proxy" -v b="$raw" 'BEGIN { printf "%.2f", a / b }')
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "xadd_per_s=$raw proxy_per_s=$proxy ratio=$ratio p99_ms=$p99 bytes_per_idle_session=$per proxy_cpu_us_per_append=$cpu_per"
