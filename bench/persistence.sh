#!/usr/bin/env bash
# persistence-proxy benchmark. On ONE redis-server started here:
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
# With --cluster, instead (persistence.ack-replicas): a six-process Redis
# Cluster (3 masters, 1 replica each) started here, and appends through the
# proxy with ack-replicas at its default (auto: 1 replica, WAIT) and at 0
# (acknowledged on the master alone), alternating on, off, on, off, over
# AppendEventsBatchStream and unary AppendEvents. Ends with:
#   cluster_batch_on=<mean> cluster_batch_off=<mean> batch_ratio=<on/off> unary_on=... unary_off=... unary_ratio=...
#
# With --callgrind, instead: Redis instructions per append, repeatable where
# times are not. One redis-server under valgrind --tool=callgrind, the proxy
# on it, 128 sessions appending over one AppendEventsBatchStream for
# ORCH_BENCH_SECONDS; the count is redis-server's whole run (start-up and
# idle included: ~0.1% here) divided by the appends. Ends with:
#   redis_ir_per_append=<all> eval_ir_per_append=<inside EVALSHA> appends=<n> appends_per_call=<m>
# (ORCH_KEEP_LOGS=1 keeps the callgrind output, redis.callgrind, for
# callgrind_annotate).
#
# Usage: bench/persistence.sh [--cluster | --callgrind]  ORCH_BUILD_DIR=build-a to use another build dir
#        ORCH_BENCH_SECONDS (10) ORCH_BENCH_SESSIONS (256) ORCH_BENCH_IDLE (10000)
#        ORCH_BENCH_STREAMS (4: AppendEventsStream streams)
#        ORCH_BENCH_BATCH_STREAMS (1: AppendEventsBatchStream streams; a node keeps one open,
#        so the appends its sessions have ready at once share a message)
set -euo pipefail

mode=standalone
while [ $# -gt 0 ]; do
  case $1 in
    --cluster) mode=cluster; shift ;;
    --callgrind) mode=callgrind; shift ;;
    *) echo "persistence.sh: unknown argument '$1' (--cluster or --callgrind)" >&2; exit 2 ;;
  esac
done

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
if [ "$mode" = callgrind ]; then
  for tool in valgrind callgrind_annotate; do
    command -v "$tool" >/dev/null || { echo "persistence.sh --callgrind: $tool not found (Debian package valgrind)" >&2; exit 2; }
  done
  port=$(stack_free_port)
  cg="$STACK_LOGS/redis.callgrind"
  stack_spawn redis-server valgrind --tool=callgrind --callgrind-out-file="$cg" \
    redis-server --port "$port" --bind 127.0.0.1 --dir "$STACK_WORK" --save "" --appendonly no
  for _ in $(seq 300); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-cli -p "$port" ping >/dev/null || { echo "persistence.sh: redis-server under valgrind did not answer" >&2; exit 1; }
  STACK_REDIS_PORT=$port
  stack_start_proxy log.level='"warn"'
  out=$("$(stack_bin persistence_load)" --target "$STACK_PROXY_ENDPOINT" --sessions 128 \
        --seconds "$seconds" --streams 1 --batch 1 --prefix CG)
  echo "under callgrind: $out"
  calls=$(redis-cli -p "$port" info commandstats | tr -d '\r' | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\).*/\1/p')
  stack_stop persistence-proxy
  stack_stop --grace 60 redis-server  # callgrind writes its output as Redis exits
  n=$(sed -n 's/.*appends=\([0-9]*\).*/\1/p' <<<"$out")
  [ "${n:-0}" -gt 0 ] || { echo "persistence.sh: no appends under callgrind" >&2; exit 1; }
  ir() { callgrind_annotate --inclusive=yes "$cg" 2>/dev/null | awk -v f="$1" '$0 ~ f { gsub(",", "", $1); print $1; exit }'; }
  total=$(ir 'PROGRAM TOTALS')
  eval_ir=$(ir '[?]:evalGenericCommand ')
  echo "redis_ir_per_append=$(( total / n )) eval_ir_per_append=$(( ${eval_ir:-0} / n )) appends=$n appends_per_call=$(( n / ${calls:-1} ))"
  exit 0
fi
if [ "$mode" = cluster ]; then
  tck=$STACK_CLK_TCK
  cpu() { stack_cpu_ticks "$1"; }
  # A port p with p + 10000 (the cluster bus) free too.
  cluster_port() {
    python3 -c '
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(200):
    p = random.randint(20000, 29999)
    if free(p) and free(p + 10000):
        print(p); break'
  }
  ports=()
  redis_pids=()
  for _ in 1 2 3 4 5 6; do
    p=$(cluster_port)
    mkdir -p "$STACK_WORK/n$p"
    stack_spawn "redis-$p" redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly no \
      --dir "$STACK_WORK/n$p" --cluster-enabled yes --cluster-config-file "nodes-$p.conf" \
      --cluster-node-timeout 2000 --repl-diskless-sync-delay 0
    redis_pids+=("${STACK_PID[redis-$p]}")
    ports+=("$p")
  done
  for p in "${ports[@]}"; do
    for _ in $(seq 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.05; done
  done
  redis-cli --cluster create $(printf '127.0.0.1:%s ' "${ports[@]}") --cluster-replicas 1 \
    --cluster-yes >"$STACK_WORK/create.log"
  for p in "${ports[@]}"; do
    for _ in $(seq 300); do
      redis-cli -p "$p" cluster info | grep -q cluster_state:ok && break; sleep 0.1
    done
  done
  # Every master with its replica online, and past the replica's first
  # acknowledgement (the master holds the stream until then, up to 1 s).
  for p in "${ports[@]}"; do
    redis-cli -p "$p" role | head -1 | grep -q master || continue
    for _ in $(seq 300); do
      redis-cli -p "$p" info replication | grep -q 'state=online' && break; sleep 0.1
    done
  done
  sleep 2
  nodes=$(printf '"127.0.0.1:%s", ' "${ports[@]}")

  # run_cluster <ack-replicas> <load args...>: a proxy with that setting,
  # one load run, the proxy stopped. Sets cluster_line to the load line plus
  # CPU per append of the proxy and of the six Redis processes together (not
  # printed: a command substitution would run it in a subshell, which does
  # not own the processes stack.sh started).
  run_cluster() {
    local ack=$1; shift
    local gport out n p0 r0 r1 ppid
    gport=$(stack_free_port)
    cat >"$STACK_WORK/proxy-$ack.toml" <<TOML
[server]
grpc-listen = "127.0.0.1:$gport"
[metrics]
listen = "127.0.0.1:0"
[log]
level = "warn"
[persistence]
redis-nodes = [${nodes%, }]
ack-replicas = $ack
TOML
    stack_spawn "proxy-$ack" "$(stack_bin persistence-proxy)" --config "$STACK_WORK/proxy-$ack.toml"
    ppid=${STACK_PID[proxy-$ack]}
    r0=0; for rp in "${redis_pids[@]}"; do r0=$(( r0 + $(cpu "$rp") )); done
    p0=0
    out=$("$(stack_bin persistence_load)" --target "127.0.0.1:$gport" "$@")
    p0=$(cpu "$ppid")
    r1=0; for rp in "${redis_pids[@]}"; do r1=$(( r1 + $(cpu "$rp") )); done
    stack_stop "proxy-$ack"
    n=$(sed -n 's/.*appends=\([0-9]*\).*/\1/p' <<<"$out")
    cluster_line=$(awk -v o="$out" -v p="$p0" -v r=$(( r1 - r0 )) -v n="${n:-0}" -v t="$tck" 'BEGIN {
          printf "%s proxy_cpu_us_per_append=%.1f redis_cpu_us_per_append=%.1f\n", o,
                 n ? p * 1e6 / t / n : 0, n ? r * 1e6 / t / n : 0 }')
  }
  rate() { sed -n 's/.*appends_per_s=\([0-9]*\).*/\1/p' <<<"$1"; }
  common=(--sessions "$sessions" --seconds "$seconds")
  declare -A sum=()
  for round in 1 2; do
    for ack in -1 0; do
      label=$([ "$ack" = 0 ] && echo off || echo on)
      run_cluster "$ack" "${common[@]}" --streams "$batch_streams" --batch 1 --prefix "B$label$round"
      line=$cluster_line
      echo "cluster, ack-replicas $ack ($label), AppendEventsBatchStream x$batch_streams, $sessions sessions: $line"
      sum[batch_$label]=$(( ${sum[batch_$label]:-0} + $(rate "$line") ))
      run_cluster "$ack" "${common[@]}" --prefix "U$label$round"
      line=$cluster_line
      echo "cluster, ack-replicas $ack ($label), unary AppendEvents, $sessions sessions: $line"
      sum[unary_$label]=$(( ${sum[unary_$label]:-0} + $(rate "$line") ))
    done
  done
  echo "WAIT calls per master: $(for p in "${ports[@]}"; do redis-cli -p "$p" info commandstats |
        sed -n 's/^cmdstat_wait:calls=\([0-9]*\).*/\1/p'; done | tr '\n' ' ')"
  echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  awk -v bon="${sum[batch_on]}" -v boff="${sum[batch_off]}" -v uon="${sum[unary_on]}" \
      -v uoff="${sum[unary_off]}" 'BEGIN {
        printf "cluster_batch_on=%.0f cluster_batch_off=%.0f batch_ratio=%.2f unary_on=%.0f unary_off=%.0f unary_ratio=%.2f\n",
               bon / 2, boff / 2, bon / boff, uon / 2, uoff / 2, uon / uoff }'
  exit 0
fi
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
