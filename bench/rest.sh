#!/usr/bin/env bash
# rest-gateway benchmark. Starts its own redis-server, persistence-proxy, session-engine (node 1)
# and rest-gateway (bearer token, rate limiting off) on loopback, creates ORCH_BENCH_SESSIONS
# (1000) sessions per chart once, and then, for persistence off and on, against that one stack:
#  1. a short warm-up of the REST path (not counted);
#  2. REST peak: wrk posts POST /scxml/session/{id}/event/ev over ORCH_BENCH_CONNECTIONS (32)
#     keep-alive connections, rotating over the sessions (bench/rest_events.lua);
#  3. gRPC: the same events to session-engine directly, the same sessions and concurrency
#     (bench/session_load --mode events --ids, 32 threads, one call in flight each);
#  4. REST at half the REST peak: wrk on the same connections with an open-loop schedule in
#     rest_events.lua (latency measured from each request's due time;
#     docs/design/benchmarks.md says why);
#  5. gRPC at that same rate, latency measured the same way (session_load --rate
#     --latency-from due): the baseline of the half-load p99.
# Every phase prints the CPU time per event of each process (/proc/<pid>/stat before and after;
# the client's from bash's `time`), since clients and servers share the machine's cores.
# Ends with one line, for the last mode of ORCH_BENCH_PERSIST (default "off on": persistence on):
#   rest_per_s=<n> grpc_per_s=<n> ratio=<rest/grpc> p99_ms=<REST p99 at half load>
#
# Usage: bench/rest.sh       QUICK=1: 2 s phases (1 s warm-up) instead of 10 s (2 s)
#   ORCH_BUILD_DIR (build), ORCH_BENCH_SECONDS, ORCH_BENCH_SESSIONS (1000),
#   ORCH_BENCH_CONNECTIONS (32), ORCH_BENCH_WRK_THREADS (2), ORCH_BENCH_PERSIST ("off on"),
#   ORCH_BENCH_GRPC_CHANNELS (4: session_load's default), ORCH_BENCH_HTTP_THREADS (2: http.threads),
#   ORCH_BENCH_BUILD (1; 0: use the binaries as built), ORCH_BENCH_PERF (0; 1: perf record
#   rest-gateway during the last REST peak and print the top of the profile),
#   ORCH_BENCH_OUT=dir keeps the raw outputs and logs, ORCH_AUTH_TOKEN (random if unset).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib/stack.sh"
build=${ORCH_BUILD_DIR:-build}
[[ "$build" = /* ]] || build="$root/$build"
if [ "${QUICK:-0}" = 1 ]; then
  seconds=${ORCH_BENCH_SECONDS:-2}; warm=1
else
  seconds=${ORCH_BENCH_SECONDS:-10}; warm=2
fi
sessions=${ORCH_BENCH_SESSIONS:-1000}
conns=${ORCH_BENCH_CONNECTIONS:-32}
wrk_threads=${ORCH_BENCH_WRK_THREADS:-2}
modes=${ORCH_BENCH_PERSIST:-off on}
perf_on=${ORCH_BENCH_PERF:-0}
grpc_channels=${ORCH_BENCH_GRPC_CHANNELS:-4}
http_threads=${ORCH_BENCH_HTTP_THREADS:-2}

command -v wrk >/dev/null || { echo "rest.sh: wrk is not installed (scripts/bootstrap installs it)" >&2; exit 1; }
# The raw outputs, configurations and logs, when asked for (after the processes stopped).
keep_outputs() {
  if [ -n "${ORCH_BENCH_OUT:-}" ]; then mkdir -p "$ORCH_BENCH_OUT" && cp -r "$STACK_WORK"/. "$ORCH_BENCH_OUT"/; fi
}
stack_init --tmp /tmp/orch-rbench.XXXXXX --grace 5 --on-exit keep_outputs "$build"
work=$STACK_WORK
if [ "${ORCH_BENCH_BUILD:-1}" != 0 ]; then
  stack_build persistence-proxy session-engine rest-gateway session_load orch-probe
fi
stack_require orch-probe session_load persistence-proxy session-engine rest-gateway
load=$(stack_bin session_load)
lua=$root/bench/rest_events.lua
die() { echo "rest.sh: $*" >&2; exit 1; }
field() { sed -n "s/.*[ :]$1=\([0-9.]*\).*/\1/p" <<<" $2"; }

# The token reaches rest-gateway and rest_events.lua through the environment only.
if [ -z "${ORCH_AUTH_TOKEN:-}" ]; then
  ORCH_AUTH_TOKEN=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
fi
export ORCH_AUTH_TOKEN

# ---- the stack ----
stack_start_redis
stack_start_proxy log.level='"warn"'
# The engine as bench/session.sh runs it: 4 workers, sessions never deactivated.
stack_start_engine session-engine log.level='"warn"' orchestration.lease-ttl-ms=2000 orchestration.lease-renew-ms=500 \
  scxml.session-processing-threads=4 scxml.max-sessions=1000000 scxml.deactivate-idle-ms=0
stack_start_gateway log.level='"warn"' http.threads="$http_threads" http.rate-limit-per-s=0
engine=${STACK_ENDPOINT[session-engine]}
base=$STACK_HTTP_URL
redis_pid=${STACK_PID[redis-server]} proxy_pid=${STACK_PID[persistence-proxy]}
engine_pid=${STACK_PID[session-engine]} gateway_pid=${STACK_PID[rest-gateway]}

tck=$STACK_CLK_TCK
names=(rest-gateway session-engine persistence-proxy redis-server)
server_pids=("$gateway_pid" "$engine_pid" "$proxy_pid" "$redis_pid")
# The servers' ticks, then the whole machine's busy ticks (user nice system irq softirq steal).
snapshot() {
  local p; for p in "${server_pids[@]}"; do stack_cpu_ticks "$p"; done
  awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}
# Context switches of all of a process's threads (voluntary + involuntary).
ctxsw() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ { s += $2 } END { print s + 0 }'; }
nthreads() { ls /proc/"$1"/task | wc -l; }
# phase <out> <cmd...>: runs a client, keeps its stdout in <out>, and its CPU seconds
# (user + system, all threads) in $client_cpu; the servers' ticks before in $c0.
phase() {
  local out=$1; shift
  c0=($(snapshot))
  x0=($(ctxsw "$gateway_pid") $(ctxsw "$engine_pid"))
  local TIMEFORMAT='%U %S'
  { time "$@" >"$out" 2>>"$work/client.log"; } 2>"$work/time" || { cat "$out" >&2; die "client failed: $*"; }
  client_cpu=$(awk '{ print $1 + $2 }' "$work/time")
}
# cpu_line <label> <events> <wall s> <client name>: CPU per event of each process, and in cores.
cpu_line() {
  local c1=($(snapshot)) x1=($(ctxsw "$gateway_pid") $(ctxsw "$engine_pid")) i line="  CPU per event ($1):" total=0 us
  for i in "${!names[@]}"; do
    us=$(awk -v d=$(( c1[i] - c0[i] )) -v t="$tck" -v n="$2" 'BEGIN { printf "%.0f", n ? d * 1e6 / t / n : 0 }')
    total=$(( total + us ))
    line+=" ${names[i]} ${us} µs,"
  done
  us=$(awk -v c="$client_cpu" -v n="$2" 'BEGIN { printf "%.0f", n ? c * 1e6 / n : 0 }')
  total=$(( total + us ))
  # Everything else the machine ran meanwhile (other processes, interrupts charged to none).
  local ours=0; for i in "${!names[@]}"; do ours=$(( ours + c1[i] - c0[i] )); done
  local others; others=$(awk -v m=$(( c1[${#names[@]}] - c0[${#names[@]}] )) -v o="$ours" -v c="$client_cpu" \
                          -v t="$tck" -v w="$3" 'BEGIN { x = (m - o) / t - c; printf "%.2f", (x > 0 ? x : 0) / w }')
  echo "$line $4 ${us} µs; total ${total} µs = $(awk -v t="$total" -v n="$2" -v w="$3" \
        'BEGIN { printf "%.2f", t * n / 1e6 / w }') cores busy, anything else $others cores; context switches per event:" \
       "rest-gateway $(awk -v d=$(( x1[0] - x0[0] )) -v n="$2" 'BEGIN { printf "%.1f", n ? d / n : 0 }')," \
       "session-engine $(awk -v d=$(( x1[1] - x0[1] )) -v n="$2" 'BEGIN { printf "%.1f", n ? d / n : 0 }')"
}
wrk_run() {  # <seconds> <threads> <connections> <ids> [rate]
  wrk -t "$2" -c "$3" -d "${1}s" --timeout 10s -s "$lua" "$base" -- "$4" "$2" "${5:-0}"
}

# ---- checks that the path measured is the real one: auth on, an event accepted ----
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/scxml/session/~1~00000000000000000000000000000000/event/ev")
[ "$code" = 401 ] || die "an event without a token answered $code, not 401"

echo "rest.sh: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); phases of ${seconds} s," \
     "$sessions sessions, $conns connections (wrk -t $wrk_threads) / $conns session_load threads ($grpc_channels channels);" \
     "threads: rest-gateway $(nthreads "$gateway_pid"), session-engine $(nthreads "$engine_pid")"
summary=
for mode in $modes; do
  case $mode in
    off) chart=$root/bench/charts/session_counter_false.scxml ;;
    on) chart=$root/bench/charts/session_counter_true.scxml ;;
    *) die "ORCH_BENCH_PERSIST: '$mode' is not off or on" ;;
  esac
  ids=$work/ids.$mode
  created=$("$load" --target "$engine" --threads 32 --mode create --chart "$chart" --count "$sessions" --ids "$ids") ||
    die "creating sessions failed: $created"
  [ "$(wc -l <"$ids")" = "$sessions" ] || die "$(wc -l <"$ids") of $sessions sessions created: $created"
  one=$(head -n 1 "$ids")
  reply=$(curl -sf -X POST -H "Authorization: Bearer $ORCH_AUTH_TOKEN" -H 'Content-Type: application/json' \
          -d '{"n":1,"skill":"billing"}' "$base/scxml/session/$one/event/ev") || die "a REST event failed"
  grep -q '"seq":' <<<"$reply" || die "unexpected answer to an event: $reply"
  echo "persistence $mode ($(basename "$chart")): created $sessions sessions over gRPC: $created"

  wrk_run "$warm" "$wrk_threads" "$conns" "$ids" >"$work/warm.$mode" 2>>"$work/client.log" || die "wrk warm-up failed"

  perf_pid=
  if [ "$perf_on" = 1 ] && [ "$mode" = "${modes##* }" ]; then
    perf record -F 499 --call-graph dwarf,16384 -p "$gateway_pid" -o "$work/perf.gateway.data" -- sleep "$seconds" \
      >"$work/perf.log" 2>&1 &
    stack_track perf $!; perf_pid=$!
  fi
  phase "$work/rest.$mode" wrk_run "$seconds" "$wrk_threads" "$conns" "$ids"
  r=$(grep '^rest_events:' "$work/rest.$mode") || { cat "$work/rest.$mode" >&2; die "no wrk result"; }
  rest=$(field per_s "$r")
  echo "persistence $mode: REST peak: $rest events/s, p50 $(field wrk_p50_ms "$r") ms, p99 $(field wrk_p99_ms "$r") ms" \
       "(wrk's latencies); ${r#rest_events: }"
  cpu_line "REST peak" "$(field requests "$r")" "$(field seconds "$r")" wrk
  [ -n "$perf_pid" ] && stack_wait perf || true

  phase "$work/grpc.$mode" "$load" --target "$engine" --threads "$conns" --channels "$grpc_channels" \
    --mode events --ids "$ids" --seconds "$seconds"
  g=$(cat "$work/grpc.$mode")
  grpc=$(field events_per_s "$g")
  echo "persistence $mode: gRPC: $grpc events/s, p50 $(field p50_ms "$g") ms, p99 $(field p99_ms "$g") ms; $g"
  cpu_line "gRPC" "$(field ok "$g")" "$(field seconds "$g")" session_load

  half=$(( ${rest%.*} / 2 ))
  phase "$work/half.$mode" wrk_run "$seconds" "$wrk_threads" "$conns" "$ids" "$half"
  h=$(grep '^rest_events:' "$work/half.$mode") || { cat "$work/half.$mode" >&2; die "no wrk result"; }
  echo "persistence $mode: REST at half load ($half/s scheduled, $(field per_s "$h")/s done): p50 $(field p50_ms "$h") ms," \
       "p99 $(field p99_ms "$h") ms from the due times (wrk's own: p99 $(field wrk_p99_ms "$h") ms); ${h#rest_events: }"
  cpu_line "REST half load" "$(field requests "$h")" "$(field seconds "$h")" wrk

  # The baseline of that figure: gRPC at the same rate, latency from the due times too.
  phase "$work/grpchalf.$mode" "$load" --target "$engine" --threads "$conns" --channels "$grpc_channels" \
    --mode events --ids "$ids" --seconds "$seconds" --rate "$half" --latency-from due
  gh=$(cat "$work/grpchalf.$mode")
  echo "persistence $mode: gRPC at the same rate ($half/s): p50 $(field p50_ms "$gh") ms, p99 $(field p99_ms "$gh") ms" \
       "from the due times; $gh"
  cpu_line "gRPC at that rate" "$(field ok "$gh")" "$(field seconds "$gh")" session_load

  for x in "$r" "$h"; do
    for e in errors_connect errors_read errors_write errors_timeout non2xx; do
      [ "$(field "$e" "$x")" = 0 ] || die "wrk saw errors: $x"
    done
  done
  for x in "$g" "$gh"; do [ "$(field errors "$x")" = 0 ] || die "session_load saw errors: $x"; done
  summary="rest_per_s=$rest grpc_per_s=$grpc ratio=$(awk -v a="$rest" -v b="$grpc" 'BEGIN { printf "%.2f", a / b }') p99_ms=$(field p99_ms "$h")"
  echo "persistence $mode: $summary"
done

if [ "$perf_on" = 1 ] && [ -s "$work/perf.gateway.data" ]; then
  echo "perf profile of rest-gateway during the last REST peak (self time, top entries):"
  # Inclusive time of the gateway's own functions (and the JSON parser), then self time by library.
  perf report -i "$work/perf.gateway.data" --stdio --children -g none --sort sym 2>/dev/null |
    grep -E '^ +[0-9]' | grep -E 'orch::|JsonStringToMessage|do_run_one|ExecCtx::Flush|CallbackWithStatusTag::Run' |
    sed -E ':a; s/<[^<>]*>//g; ta' | cut -c1-150 | head -n 25 || true
  perf report -i "$work/perf.gateway.data" --stdio --no-children -g none --sort dso 2>/dev/null |
    grep -E '^ +[0-9]' | head -n 10 || true
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$summary"
