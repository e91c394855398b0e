# shellcheck shell=bash
# shellcheck disable=SC2034  # STACK_* variables are read by the scripts that source this
# stack.sh: start Orchestrion processes on loopback from a bash script, and stop
# exactly those, by PID. Sourced (never run) by bench/{rest,session,persistence}.sh,
# tests/fault/{kill9,calls}.sh and scripts/demo; scripts/README.md shows a whole script.
#
#   source "$root/scripts/lib/stack.sh"
#   stack_init --tmp /tmp/orch-x.XXXXXX --grace 5 "$build"
#   stack_start_redis -- --appendonly yes
#   stack_start_proxy
#   stack_start_engine session-engine scxml.session-processing-threads=4
#   stack_start_gateway http.threads=2
#
# Setup
#   stack_init [--work DIR | --tmp TEMPLATE] [--logs DIR] [--pid-dir DIR] [--grace S]
#              [--on-exit FN] [--no-trap] BUILD
#       BUILD holds the binaries. --work: configurations and data go to DIR (created, never
#       removed); --tmp: to a new `mktemp -d TEMPLATE` directory, removed at exit unless the
#       script fails or ORCH_KEEP_LOGS=1 (then its path is printed, and on failure the tail
#       of every log). --logs: logs go there (default: the work directory). --pid-dir: each
#       process's PID also goes to DIR/<name>.pid while it runs. --grace: seconds between
#       SIGTERM and SIGKILL when stopping (default 0: SIGKILL at once). Unless --no-trap,
#       installs an EXIT trap that stops every process still running (newest first), then
#       calls FN <exit status>, then removes or keeps the --tmp directory; INT and TERM
#       exit with 130 and 143 so that it runs. Sets STACK_WORK, STACK_LOGS, STACK_CLK_TCK and
#       STACK_CLUSTER_FILE (the cluster file every process loads: the caller's, else one
#       written to the work directory: cluster "orch", nodes 1 and 2).
#   stack_build [--show] TARGET... configures BUILD (Ninja, ccache when present) if needed,
#                                  builds the targets (quietly, -j2; --show: with progress)
#   stack_require NAME...          fails unless the binaries exist (names as stack_bin)
#   stack_bin NAME                 prints a binary's path: a service (session-engine, ...),
#                                  orch-probe, session_load, persistence_load, scheduler_load,
#                                  kill9_client,
#                                  switch-sim
#
# Processes (NAME is the caller's name for one process; a name started again keeps its ports)
#   stack_spawn NAME CMD...        runs CMD in the background, output appended to
#                                  STACK_LOGS/NAME.log; STACK_PID[NAME] is its PID
#   stack_track NAME PID           adopts a child the caller started itself
#   stack_start_redis [--name N] [--port P] [--dir D] [-- REDIS-SERVER OPTIONS...]
#       standalone, --bind 127.0.0.1, no RDB, no AOF unless the options say so, data in D
#       (default: the work directory); waits until the server on P reports this PID (so a
#       server left on a fixed port is never mistaken for ours). Sets STACK_REDIS_PORT.
#   stack_start_proxy [--name N] [SECTION.KEY=VALUE...]
#       persistence-proxy against that Redis; waits for orch.persistence.v1.Persistence.
#       Sets STACK_PROXY_ENDPOINT.
#   stack_start_engine NAME [--node N] [--standby | --no-wait] [SECTION.KEY=VALUE...]
#       session-engine (node N, default 1; no TLS) against that proxy; waits until it is the
#       primary (orch.session.v1.Sessions SERVING), with --standby only until its server
#       answers. Instances of one node share its lease: one primary, the others standbys.
#   stack_start_call_watcher [--name N] [--nodes 1,2,...] [SECTION.KEY=VALUE...]
#       call-watcher (sessions on the nodes given, default 1; records through that proxy; give
#       it calls.dn-file); waits until its gRPC server reports SERVING.
#   stack_start_scheduler [--name N] [SECTION.KEY=VALUE...]
#       a scheduler replica (timers through that proxy); waits until its gRPC server reports
#       SERVING.
#   stack_start_gateway [--name N] [SECTION.KEY=VALUE...]
#       rest-gateway (routing node 1 through that proxy); waits until GET /readyz succeeds.
#       Sets STACK_HTTP_URL.
#   Each start writes WORK/NAME.toml from its defaults and the SECTION.KEY=VALUE overrides
#   (VALUE is TOML: 4, true, '"text"', '["a"]'; a key given again replaces the earlier one),
#   picks free loopback ports for gRPC and metrics, and sets STACK_ENDPOINT[NAME] and
#   STACK_METRICS_URL[NAME].
#   stack_wait_healthy NAME ENDPOINT [SERVICE] [WAIT_MS]   orch-probe until SERVING
#   stack_wait NAME                waits until NAME exits; returns its exit status
#   stack_kill NAME                SIGKILL now, and reap
#   stack_stop [--grace S] NAME... SIGTERM, SIGKILL after S s (S = 0: SIGKILL at once), reap;
#                                  with S > 0 returns 1 when one had to be killed or exited
#                                  with a non-zero status (said on stderr)
#   stack_stop_all [--grace S]     every process still running, newest first
#   stack_alive NAME               true while NAME runs
#
# Measuring
#   stack_free_port                a free TCP port on 127.0.0.1
#   stack_cpu_ticks PID            utime + stime of the process, in STACK_CLK_TCK ticks
#   stack_metric NAME METRIC       the value of an unlabelled metric of NAME (empty if none)
#   stack_scrape NAME FILE         NAME's whole metrics page to FILE (2 s at most); fails when
#                                  it does not answer
#   stack_now_us                   wall clock, Unix µs (no fork)
#
# Errors: functions print "<script>: <what>" on stderr (with the tail of the process's log
# when there is one) and return 1; under `set -e` a plain call ends the script. Signals go
# only to PIDs this shell started and that are still its children; nothing is killed by name.

STACK_PREFIX=${STACK_PREFIX:-${0##*/}}
STACK_BUILD=
STACK_WORK=
STACK_LOGS=
STACK_TMP=0
STACK_PID_DIR=
STACK_GRACE=0
STACK_ON_EXIT=
STACK_CLK_TCK=$(getconf CLK_TCK)
STACK_REDIS_PORT=
STACK_PROXY_ENDPOINT=
STACK_HTTP_URL=
declare -A STACK_PID=() STACK_LOG=() STACK_ENDPOINT=() STACK_METRICS_URL=() STACK__PORTS=()
STACK__ORDER=()  # names, in the order they were first started

stack__err() { echo "$STACK_PREFIX: $*" >&2; }

# stack__fail MESSAGE [LOG]: the message and the last lines of LOG; returns 1.
stack__fail() {
  stack__err "$1"
  if [ -n "${2:-}" ] && [ -s "$2" ]; then
    echo "--- last lines of $2:" >&2
    tail -n 15 "$2" >&2
  fi
  return 1
}

stack_init() {
  local tmp='' work='' no_trap=0
  while [ $# -gt 1 ]; do
    case $1 in
      --work) work=$2; shift 2 ;;
      --tmp) tmp=$2; shift 2 ;;
      --logs) STACK_LOGS=$2; shift 2 ;;
      --pid-dir) STACK_PID_DIR=$2; shift 2 ;;
      --grace) STACK_GRACE=$2; shift 2 ;;
      --on-exit) STACK_ON_EXIT=$2; shift 2 ;;
      --no-trap) no_trap=1; shift ;;
      *) stack__err "stack_init: unknown option $1"; return 1 ;;
    esac
  done
  [ $# = 1 ] || { stack__err "stack_init: the build directory is missing"; return 1; }
  STACK_BUILD=$1
  if [ -n "$tmp" ]; then
    STACK_WORK=$(mktemp -d "$tmp") || { stack__err "cannot create a directory from $tmp"; return 1; }
    STACK_TMP=1
  else
    STACK_WORK=${work:?stack_init: --work or --tmp is required}
    mkdir -p "$STACK_WORK" || return 1
  fi
  STACK_LOGS=${STACK_LOGS:-$STACK_WORK}
  mkdir -p "$STACK_LOGS" ${STACK_PID_DIR:+"$STACK_PID_DIR"} || return 1
  # Every process started here loads one cluster file (docs/cluster.md): the
  # caller's STACK_CLUSTER_FILE, or a cluster "orch" of nodes 1 and 2 in the
  # nameless data center (a process's own node options may narrow it).
  if [ -z "${STACK_CLUSTER_FILE:-}" ]; then
    STACK_CLUSTER_FILE=$STACK_WORK/cluster.toml
    printf 'name = "orch"\n[[node]]\nid = 1\n[[node]]\nid = 2\n' >"$STACK_CLUSTER_FILE" || return 1
  fi
  if [ "$no_trap" = 0 ]; then
    trap stack__exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
  fi
}

stack__exit() {
  local rc=$?
  trap - EXIT
  stack_stop_all --grace "$STACK_GRACE" >/dev/null 2>&1 || true
  if [ -n "$STACK_ON_EXIT" ]; then "$STACK_ON_EXIT" "$rc" || true; fi
  if [ "$STACK_TMP" = 1 ] && [ -d "$STACK_WORK" ]; then
    if [ "$rc" != 0 ]; then
      local f
      for f in "$STACK_LOGS"/*.log; do
        [ -s "$f" ] && { echo "--- $f (tail):" >&2; tail -n 15 "$f" >&2; }
      done
    fi
    if [ "$rc" != 0 ] || [ "${ORCH_KEEP_LOGS:-0}" = 1 ]; then
      stack__err "logs kept in $STACK_WORK"
    else
      rm -rf "$STACK_WORK"
    fi
  fi
  exit "$rc"
}

stack_build() {
  local show=0 launcher=() root
  [ "${1:-}" = --show ] && { show=1; shift; }
  if [ ! -f "$STACK_BUILD/build.ninja" ]; then
    command -v ccache >/dev/null 2>&1 &&
      launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    cmake -S "$root" -B "$STACK_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >/dev/null ||
      { stack__err "configuring $STACK_BUILD failed"; return 1; }
  fi
  if (( show )); then
    cmake --build "$STACK_BUILD" --target "$@" || { stack__err "building $* failed"; return 1; }
  else
    ninja -C "$STACK_BUILD" -j2 "$@" >/dev/null || { stack__err "building $* failed"; return 1; }
  fi
}

stack_bin() {
  case $1 in
    session-engine|persistence-proxy|scheduler|call-watcher|rest-gateway)
      echo "$STACK_BUILD/services/${1//-/_}/$1" ;;
    orch-probe) echo "$STACK_BUILD/tools/orch_probe/orch-probe" ;;
    session_load|persistence_load|scheduler_load) echo "$STACK_BUILD/bench/$1" ;;
    kill9_client|scheduler_client) echo "$STACK_BUILD/tests/fault/$1" ;;
    switch-sim) echo "$STACK_BUILD/tools/switch_sim/switch-sim" ;;
    *) stack__err "stack_bin: no binary called '$1'"; return 1 ;;
  esac
}

stack_require() {
  local n b
  for n in "$@"; do
    b=$(stack_bin "$n") || return 1
    [ -x "$b" ] || { stack__err "$b is missing (build it first)"; return 1; }
  done
}

stack_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

stack_now_us() { local t=${EPOCHREALTIME/[.,]/}; echo "$t"; }

stack_cpu_ticks() {
  local stat
  read -r stat <"/proc/$1/stat" || return 1
  stat=${stat##*) }  # the fields after the command name, which may hold spaces
  # shellcheck disable=SC2086
  set -- $stat
  echo $(( ${12} + ${13} ))  # utime, stime: fields 14 and 15 of the whole line
}

# True when PID is a child of this shell that has not been reaped (a PID that bash reaped
# may belong to someone else by now); sets stack__state (R, S, Z, ...).
stack__state=
stack__ours() {
  local stat
  [ -n "$1" ] && read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
  stat=${stat##*) }
  # shellcheck disable=SC2086
  set -- $stat
  stack__state=$1
  [ "$2" = "$$" ]
}

stack_alive() { stack__ours "${STACK_PID[$1]:-}" && [ "$stack__state" != Z ]; }

stack__register() {  # NAME PID
  [[ -v STACK_LOG[$1] ]] || { STACK__ORDER+=("$1"); STACK_LOG[$1]=$STACK_LOGS/$1.log; }
  STACK_PID[$1]=$2
  if [ -n "$STACK_PID_DIR" ]; then echo "$2" >"$STACK_PID_DIR/$1.pid"; fi
}

stack_spawn() {
  local name=$1
  shift
  if stack_alive "$name"; then stack__err "stack_spawn: $name is already running"; return 1; fi
  "$@" >>"$STACK_LOGS/$name.log" 2>&1 &
  stack__register "$name" $!
}

stack_track() { stack__register "$1" "$2"; }

stack_wait_healthy() {  # NAME ENDPOINT [SERVICE] [WAIT_MS]
  local name=$1 endpoint=$2 service=${3:-} wait_ms=${4:-30000} out waited=0 step
  # In steps of a second, so a process that exits (a configuration it refuses)
  # is reported at once rather than after WAIT_MS.
  while :; do
    step=$(( wait_ms - waited < 1000 ? wait_ms - waited : 1000 ))
    if out=$("$(stack_bin orch-probe)" --wait-ms "$step" ${service:+--service "$service"} "$endpoint" 2>&1 >/dev/null); then
      return 0
    fi
    waited=$(( waited + step ))
    if [[ -v STACK_PID[$name] ]] && ! stack_alive "$name"; then
      stack__fail "$name exited before it was SERVING${service:+ ($service)} on $endpoint" "${STACK_LOG[$name]:-}"
      return 1
    fi
    (( waited < wait_ms )) || break
  done
  stack__fail "$name is not SERVING${service:+ ($service)} on $endpoint after $wait_ms ms: $out" "${STACK_LOG[$name]:-}"
}

# stack_write_toml FILE SECTION.KEY=VALUE...: sections in the order first named; a key given
# again replaces its earlier value.
stack_write_toml() {
  local file=$1 kv key section
  shift
  local -a toml_keys=() toml_sections=()
  local -A toml_value=()
  for kv in "$@"; do
    key=${kv%%=*}
    if [[ $kv != *=* || $key != ?*.?* ]]; then
      stack__err "'$kv' is not SECTION.KEY=VALUE"
      return 1
    fi
    if [[ ! -v toml_value[$key] ]]; then
      toml_keys+=("$key")
      [[ " ${toml_sections[*]} " == *" ${key%%.*} "* ]] || toml_sections+=("${key%%.*}")
    fi
    toml_value[$key]=${kv#*=}
  done
  {
    for section in "${toml_sections[@]}"; do
      echo "[$section]"
      for key in "${toml_keys[@]}"; do
        if [ "${key%%.*}" = "$section" ]; then echo "${key#*.} = ${toml_value[$key]}"; fi
      done
    done
  } >"$file"
}

# stack__port NAME ROLE: sets stack__p to the port NAME had for ROLE before, or a free one.
stack__p=
stack__port() {
  local k="$1/$2"
  if [ -z "${STACK__PORTS[$k]:-}" ]; then STACK__PORTS[$k]=$(stack_free_port) || return 1; fi
  stack__p=${STACK__PORTS[$k]}
}

# stack__start_service NAME BINARY-NAME DEFAULTS... -- OVERRIDES...
stack__start_service() {
  local name=$1 bin=$2
  shift 2
  local -a all=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do all+=("$1"); shift; done
  shift
  all+=("$@")
  stack_write_toml "$STACK_WORK/$name.toml" cluster.file="\"$STACK_CLUSTER_FILE\"" "${all[@]}" || return 1
  local path
  path=$(stack_bin "$bin") || return 1
  stack_spawn "$name" "$path" --config "$STACK_WORK/$name.toml"
}

stack_start_redis() {
  local name=redis-server port='' dir=$STACK_WORK
  while [ $# -gt 0 ]; do
    case $1 in
      --name) name=$2; shift 2 ;;
      --port) port=$2; shift 2 ;;
      --dir) dir=$2; shift 2 ;;
      --) shift; break ;;
      *) stack__err "stack_start_redis: unknown option $1"; return 1 ;;
    esac
  done
  if [ -z "$port" ]; then stack__port "$name" redis || return 1; port=$stack__p; fi
  mkdir -p "$dir" || return 1
  stack_spawn "$name" redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly no \
    --daemonize no "$@" || return 1
  local pid=${STACK_PID[$name]} seen=
  for _ in $(seq 100); do
    seen=$(redis-cli -p "$port" info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p') || seen=''
    [ "$seen" = "$pid" ] && { STACK_REDIS_PORT=$port; return 0; }
    stack_alive "$name" || { stack__fail "$name did not start on 127.0.0.1:$port" "${STACK_LOG[$name]}"; return 1; }
    sleep 0.1
  done
  stack__fail "$name on 127.0.0.1:$port did not answer within 10 s${seen:+ (pid $seen answers there, not $pid)}" \
    "${STACK_LOG[$name]}"
}

stack_start_proxy() {
  local name=persistence-proxy
  [ "${1:-}" = --name ] && { name=$2; shift 2; }
  [ -n "$STACK_REDIS_PORT" ] || { stack__err "stack_start_proxy: no Redis started"; return 1; }
  local port metrics
  stack__port "$name" grpc && port=$stack__p && stack__port "$name" metrics && metrics=$stack__p || return 1
  stack__start_service "$name" persistence-proxy \
    server.grpc-listen="\"127.0.0.1:$port\"" metrics.listen="\"127.0.0.1:$metrics\"" \
    persistence.redis-nodes="[\"127.0.0.1:$STACK_REDIS_PORT\"]" persistence.redis-mode='"standalone"' \
    -- "$@" || return 1
  STACK_ENDPOINT[$name]=127.0.0.1:$port
  STACK_METRICS_URL[$name]=http://127.0.0.1:$metrics/metrics
  STACK_PROXY_ENDPOINT=127.0.0.1:$port
  stack_wait_healthy "$name" "127.0.0.1:$port" orch.persistence.v1.Persistence 20000
}

stack_start_engine() {
  local name=$1 wait=primary node=1
  shift
  while [ $# -gt 0 ]; do
    case $1 in
      --node) node=$2; shift 2 ;;
      --standby) wait=server; shift ;;
      --no-wait) wait=none; shift ;;
      *) break ;;
    esac
  done
  [ -n "$STACK_PROXY_ENDPOINT" ] || { stack__err "stack_start_engine: no persistence-proxy started"; return 1; }
  local port metrics
  stack__port "$name" grpc && port=$stack__p && stack__port "$name" metrics && metrics=$stack__p || return 1
  stack__start_service "$name" session-engine \
    server.grpc-listen="\"127.0.0.1:$port\"" server.shutdown-grace-ms=1000 \
    metrics.listen="\"127.0.0.1:$metrics\"" orchestration.node-id="$node" \
    persistence.proxy-endpoint="\"$STACK_PROXY_ENDPOINT\"" -- "$@" || return 1
  STACK_ENDPOINT[$name]=127.0.0.1:$port
  STACK_METRICS_URL[$name]=http://127.0.0.1:$metrics/metrics
  case $wait in
    primary) stack_wait_healthy "$name" "127.0.0.1:$port" orch.session.v1.Sessions 30000 ;;
    server) stack_wait_healthy "$name" "127.0.0.1:$port" "" 30000 ;;
  esac
}

stack_start_gateway() {
  local name=rest-gateway
  [ "${1:-}" = --name ] && { name=$2; shift 2; }
  [ -n "$STACK_PROXY_ENDPOINT" ] || { stack__err "stack_start_gateway: no persistence-proxy started"; return 1; }
  local port metrics http
  stack__port "$name" grpc && port=$stack__p && stack__port "$name" metrics && metrics=$stack__p &&
    stack__port "$name" http && http=$stack__p || return 1
  stack__start_service "$name" rest-gateway \
    server.grpc-listen="\"127.0.0.1:$port\"" metrics.listen="\"127.0.0.1:$metrics\"" \
    http.listen="\"127.0.0.1:$http\"" routing.nodes='["1"]' routing.proxy-endpoint="\"$STACK_PROXY_ENDPOINT\"" \
    -- "$@" || return 1
  STACK_ENDPOINT[$name]=127.0.0.1:$port
  STACK_METRICS_URL[$name]=http://127.0.0.1:$metrics/metrics
  STACK_HTTP_URL=http://127.0.0.1:$http
  for _ in $(seq 300); do
    stack_alive "$name" || { stack__fail "$name exited" "${STACK_LOG[$name]}"; return 1; }
    curl -sf "$STACK_HTTP_URL/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  stack__fail "$name not ready after 30 s: $(curl -s "$STACK_HTTP_URL/readyz")" "${STACK_LOG[$name]}"
}

stack_start_call_watcher() {
  local name=call-watcher nodes='["1"]'
  while [ $# -gt 0 ]; do
    case $1 in
      --name) name=$2; shift 2 ;;
      --nodes) nodes="[\"${2//,/\",\"}\"]"; shift 2 ;;
      *) break ;;
    esac
  done
  [ -n "$STACK_PROXY_ENDPOINT" ] || { stack__err "stack_start_call_watcher: no persistence-proxy started"; return 1; }
  local port metrics
  stack__port "$name" grpc && port=$stack__p && stack__port "$name" metrics && metrics=$stack__p || return 1
  stack__start_service "$name" call-watcher \
    server.grpc-listen="\"127.0.0.1:$port\"" server.shutdown-grace-ms=1000 metrics.listen="\"127.0.0.1:$metrics\"" \
    calls.proxy-endpoint="\"$STACK_PROXY_ENDPOINT\"" calls.nodes="$nodes" -- "$@" || return 1
  STACK_ENDPOINT[$name]=127.0.0.1:$port
  STACK_METRICS_URL[$name]=http://127.0.0.1:$metrics/metrics
  stack_wait_healthy "$name" "127.0.0.1:$port" "" 30000
}

stack_start_scheduler() {
  local name=scheduler
  while [ $# -gt 0 ]; do
    case $1 in
      --name) name=$2; shift 2 ;;
      *) break ;;
    esac
  done
  [ -n "$STACK_PROXY_ENDPOINT" ] || { stack__err "stack_start_scheduler: no persistence-proxy started"; return 1; }
  local port metrics
  stack__port "$name" grpc && port=$stack__p && stack__port "$name" metrics && metrics=$stack__p || return 1
  stack__start_service "$name" scheduler \
    server.grpc-listen="\"127.0.0.1:$port\"" server.shutdown-grace-ms=1000 metrics.listen="\"127.0.0.1:$metrics\"" \
    scheduler.proxy-endpoint="\"$STACK_PROXY_ENDPOINT\"" -- "$@" || return 1
  STACK_ENDPOINT[$name]=127.0.0.1:$port
  STACK_METRICS_URL[$name]=http://127.0.0.1:$metrics/metrics
  stack_wait_healthy "$name" "127.0.0.1:$port" "" 30000
}

stack_metric() {
  local page
  page=$(curl -sf "${STACK_METRICS_URL[$1]:?stack_metric: $1 has no metrics}") || return 0
  sed -n "s/^$2 //p" <<<"$page"
}

stack_scrape() {
  curl -sf --max-time 2 "${STACK_METRICS_URL[$1]:?stack_scrape: $1 has no metrics}" >"$2" ||
    { stack__err "stack_scrape: $1 did not answer on ${STACK_METRICS_URL[$1]}"; return 1; }
}

stack__rc=0
stack__reap() {  # NAME: waits for it and forgets its PID; its exit status in stack__rc
  local name=$1 pid=${STACK_PID[$1]:-}
  stack__rc=0
  [ -n "$pid" ] || return 0
  wait "$pid" 2>/dev/null || stack__rc=$?
  STACK_PID[$name]=
  if [ -n "$STACK_PID_DIR" ]; then rm -f "$STACK_PID_DIR/$name.pid"; fi
}

stack_wait() { stack__reap "$1"; return "$stack__rc"; }

stack_kill() {
  local name=$1 pid=${STACK_PID[$1]:-}
  if stack__ours "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  stack__reap "$name"
}

stack_stop() {
  local grace=$STACK_GRACE name pid failed=0
  [ "${1:-}" = --grace ] && { grace=$2; shift 2; }
  local -a names=()
  for name in "$@"; do
    pid=${STACK_PID[$name]:-}
    [ -n "$pid" ] || continue
    names+=("$name")
    if stack__ours "$pid"; then
      if [ "$grace" = 0 ]; then kill -KILL "$pid" 2>/dev/null || true; else kill -TERM "$pid" 2>/dev/null || true; fi
    fi
  done
  local deadline_ms=$(( $(stack_now_us) / 1000 + grace * 1000 ))
  for name in "${names[@]}"; do
    pid=${STACK_PID[$name]}
    if [ "$grace" != 0 ]; then
      while stack_alive "$name" && (( $(stack_now_us) / 1000 < deadline_ms )); do sleep 0.1; done
      if stack_alive "$name"; then
        stack__err "$name (pid $pid) did not stop in time; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        failed=1
      fi
    fi
    stack__reap "$name"
    if [ "$grace" != 0 ] && [ "$stack__rc" != 0 ]; then
      stack__err "$name exited with status $stack__rc (log: ${STACK_LOG[$name]:-none})"
      failed=1
    fi
  done
  return $failed
}

stack_stop_all() {
  local grace=$STACK_GRACE i
  [ "${1:-}" = --grace ] && grace=$2
  local -a names=()
  for (( i=${#STACK__ORDER[@]}-1; i>=0; i-- )); do names+=("${STACK__ORDER[i]}"); done
  stack_stop --grace "$grace" "${names[@]}"
}
