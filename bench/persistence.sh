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
source "$root/scripts/lib/stack.sh"
build=${ORCH_BUILD_DIR:-build}
[[ "$build" = /* ]] || build="$root/$build"
seconds=${ORCH_BENCH_SECONDS:-10}
sessions=${ORCH_BENCH_SESSIONS:-256}
idle=${ORCH_BENCH_IDLE:-10000}
streams=${ORCH_BENCH_STREAMS:-4}
batch_streams=${ORCH_BENCH_BATCH_STREAMS:-1}

stack_init --tmp /tmp/orch-pbench.XXXXXX --grace 5 "$build"
stack_build persistence-proxy persistence_load
stack_start_redis
port=$STACK_REDIS_PORT

value=$(head -c 150 /dev/zero | tr '\0' 'v')
n=$(( seconds * 40000 ))
raw=$(redis-benchmark -p "$port" -P 16 -c 50 -n "$n" --csv XADD bench:raw '*' f "$value" |
      awk -F'","' 'NR==2 {print $2}' | tr -d '"')
raw=${raw%.*}
echo "redis-benchmark -P 16 -c 50 -n $n XADD (150-byte value): $raw requests/s"
redis-cli -p "$port" del bench:raw >/dev/null

stack_start_proxy log.level='"warn"'
gport=$STACK_PROXY_ENDPOINT
proxy_pid=${STACK_PID[persistence-proxy]}
redis_pid=${STACK_PID[redis-server]}
tck=$STACK_CLK_TCK
cpu() { stack_cpu_ticks "$1"; }
# run <load args...>: one load run; prints its line plus the CPU per append
# of the proxy and of Redis.
run() {
  local p0 r0 out n
  p0=$(cpu "$proxy_pid"); r0=$(cpu "$redis_pid")
  out=$("$(stack_bin persistence_load)" --target "$gport" "$@")
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
"$(stack_bin persistence_load)" --target "$gport" --idle-sessions "$idle" --snapshot 1024 --prefix MEM
after=$(redis-cli -p "$port" info memory | tr -d '\r' | sed -n 's/^used_memory://p')
keys=$(redis-cli -p "$port" dbsize)
per=$(( (after - before) / idle ))
echo "memory: $idle idle sessions, $keys keys, used_memory $before -> $after: $per bytes per session"

ratio=$(awk -v a="$proxy" -v b="$raw" 'BEGIN { printf "%.2f", a / b }')
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "xadd_per_s=$raw proxy_per_s=$proxy ratio=$ratio p99_ms=$p99 bytes_per_idle_session=$per proxy_cpu_us_per_append=$cpu_per"
