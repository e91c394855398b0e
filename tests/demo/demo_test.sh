#!/usr/bin/env bash
# Runs scripts/demo without a terminal, checks that Redis and the five
# processes come up healthy, that the demo ran the routing strategy over the
# HTTP API (its outcome printed) and printed curl commands that work, stops
# the demo with SIGINT (as Ctrl-C does), then with SIGTERM, then by killing one
# of its services, and checks that no process it started is left.
#
#   demo_test.sh <repo root> <build dir>
set -euo pipefail
# Job control, so the demo runs in its own process group with SIGINT not
# ignored (a non-interactive shell ignores SIGINT in background jobs).
set -m

root=$1
build=$2
work=$(mktemp -d)
base=$(( 20000 + RANDOM % 20000 ))
seen_pids=()

cleanup() {
  local p
  for p in "${seen_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

die() {
  echo "FAIL: $*" >&2
  echo "--- demo output:" >&2
  cat "$work/out.log" >&2 || true
  for f in "$work"/run/logs/*.log; do
    [ -f "$f" ] && { echo "--- $f:" >&2; tail -n 20 "$f" >&2; }
  done
  exit 1
}

# The strategy's outcome, and the printed curl commands, run as printed.
check_http_api() {
  local token sid sid2 line out i
  token=$(cat "$work/run/token") || die "no token file in the run directory"
  [[ $token =~ ^[0-9a-f]{48}$ ]] || die "the token is not 48 hex digits: '$token'"
  [ "$(stat -c %a "$work/run/token")" = 600 ] || die "the token file is readable by others"
  # Nobody's command line shows the token (rest-gateway has it in its environment).
  local args
  args=$(ps -eo args=)
  ! grep -qF -- "$token" <<<"$args" || die "the token shows in a command line: $(grep -F -- "$token" <<<"$args")"

  # Calls from the simulated switch: every call ended (routed, overflowed or
  # abandoned), at least one reached an agent, no agent got two calls.
  line=$(grep -E '^demo: calls: calls=8 ' "$work/out.log") || die "the demo printed no summary of its calls"
  python3 - "$line" <<'PY' || die "the calls summary is not what it should be: $line"
import re, sys
fields = dict(kv.split("=", 1) for kv in sys.argv[1].split(": ", 2)[2].split())
n = {k: int(v) for k, v in fields.items() if re.fullmatch(r"-?[0-9]+", v)}
assert n["calls"] == 8 and n["unfinished"] == 0 and n["double_routes"] == 0 and n["unacked"] == 0
assert n["routed"] >= 1 and n["routed"] + n["default_routed"] + n["abandoned"] == 8
PY
  [ "$(grep -cE '^  call demo-[0-9]+: greeted' "$work/out.log")" = 8 ] || die "the demo did not print the outcome of each call"

  line=$(grep -E '^demo: strategy outcome: routed to alice \(session ~1~[0-9A-Z]{32}; state running; active states [a-z,]*routed[a-z,]*; waited [0-9]+ ms in queue sales\)$' \
    "$work/out.log") || die "the demo printed no outcome 'routed to alice' of the strategy"
  sid=$(sed 's/.*(session \([^;]*\);.*/\1/' <<<"$line")
  sid2=$(sed -n 's/^A second call, \(~1~[0-9A-Z]\{32\}\), waits in queue sales.*/\1/p' "$work/out.log")
  [ -n "$sid2" ] || die "the demo printed no second call"

  # The commands: start, event, request, query, terminate, each with the token.
  local kind
  for kind in "/scxml/session/start'" "/event/agent.ready'" "/request/position'" "/query'" "/terminate'"; do
    grep -E '^  curl ' "$work/out.log" | grep -F -- "$kind" | grep -qF -- "Authorization: Bearer $token" ||
      die "no printed curl command for $kind with the token"
  done

  # The first call's query, pasted as printed: still connected, routed to alice.
  line=$(grep -E '^  curl ' "$work/out.log" | grep -F -- "/scxml/session/$sid/query'") ||
    die "no printed query command for $sid"
  out=$(bash -c "$line") || die "the printed command failed: $line"
  grep -qE '"sessionid" *: *"'"$sid"'"' <<<"$out" || die "the printed query did not answer session $sid: $out"
  grep -qE '"outcome" *: *"routed"' <<<"$out" && grep -qE '"route_target" *: *"alice"' <<<"$out" ||
    die "the printed query does not show the call routed to alice: $out"

  # The second call: the printed agent.ready, then its query until routed
  # (the agent may come during the greeting: connected once it ends).
  line=$(grep -E '^  curl ' "$work/out.log" | grep -F -- "/scxml/session/$sid2/event/agent.ready'") ||
    die "no printed agent.ready command for $sid2"
  out=$(bash -c "$line") || die "the printed command failed: $line"
  grep -qE '"seq" *: *[0-9]+' <<<"$out" || die "the printed agent.ready was not acknowledged: $out"
  line=$(grep -E '^  curl ' "$work/out.log" | grep -F -- "/scxml/session/$sid2/query'") ||
    die "no printed query command for $sid2"
  for i in $(seq 100); do
    out=$(bash -c "$line") || die "the printed command failed: $line"
    grep -qE '"route_target" *: *"bob"' <<<"$out" && break
    sleep 0.1
  done
  grep -qE '"route_target" *: *"bob"' <<<"$out" || die "the second call was not routed to bob: $out"
}

run_once() {
  local signal=$1  # INT or TERM to the demo; KILL-CHILD to SIGKILL one of its services
  : >"$work/out.log"
  ORCH_BUILD_DIR=$build ORCH_DEMO_DIR=$work/run ORCH_DEMO_PORT_BASE=$base \
    bash "$root/scripts/demo" --no-build >"$work/out.log" 2>&1 </dev/null &
  local demo=$!
  seen_pids+=("$demo")

  local ready=0
  for _ in $(seq 600); do
    if grep -q '^demo: ready$' "$work/out.log"; then ready=1; break; fi
    kill -0 "$demo" 2>/dev/null || die "demo exited before it was ready"
    sleep 0.1
  done
  (( ready )) || die "demo not ready within 60 s"

  # The processes it started: one pid file each, and they are its children.
  local children=()
  local f
  for f in "$work"/run/pids/*.pid; do children+=("$(cat "$f")"); done
  seen_pids+=("${children[@]}")
  (( ${#children[@]} == 6 )) || die "expected 6 pid files, found ${#children[@]}"
  for f in "${children[@]}"; do
    [ "$(ps -o ppid= -p "$f" | tr -d ' ')" = "$demo" ] || die "pid $f (from a pid file) is not a child of the demo"
  done
  # Nothing else: the demo waits without helper processes.
  local all
  all=$(ps -o pid= --ppid "$demo" | wc -l)
  (( all == 6 )) || die "the demo has $all children, expected 6"

  # Each service healthy and scraped, checked independently of the script.
  local i
  for i in 1 2 3 4 5; do
    "$build/tools/orch_probe/orch-probe" "127.0.0.1:$(( base + i ))" >/dev/null ||
      die "service on port $(( base + i )) not SERVING"
    # Fetched whole first: `curl | grep -q` fails under pipefail when grep
    # stops reading before a large page is written (curl exits 23).
    local page
    page=$(curl -sf "http://127.0.0.1:$(( base + 2000 + i ))/metrics") || page=""
    grep -q '_build_info{' <<<"$page" || die "no metrics on port $(( base + 2000 + i ))"
  done
  [ "$(redis-cli -p "$base" ping)" = "PONG" ] || die "redis not answering"
  [ -d "$work/run/redis/appendonlydir" ] || die "redis data is not under the run directory"
  check_http_api

  if [ "$signal" = KILL-CHILD ]; then
    kill -KILL "$(cat "$work/run/pids/scheduler.pid")"
  else
    kill "-$signal" "$demo"
  fi
  local rc=0
  for _ in $(seq 300); do
    kill -0 "$demo" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$demo" 2>/dev/null && die "demo still running 30 s after SIG$signal"
  wait "$demo" || rc=$?
  if [ "$signal" = KILL-CHILD ]; then
    (( rc == 1 )) || die "demo exited with status $rc after a service died, expected 1"
    grep -q '^demo: scheduler (pid [0-9]*) exited unexpectedly$' "$work/out.log" ||
      die "the demo did not say which process died"
  else
    (( rc == 0 )) || die "demo exited with status $rc after SIG$signal"
    grep -q '^demo: everything stopped$' "$work/out.log" || die "no 'everything stopped' line"
  fi
  for f in "${children[@]}"; do
    kill -0 "$f" 2>/dev/null && die "process $f is still running after the demo stopped"
  done
  local left
  left=$(ps -o pid= --ppid "$demo" 2>/dev/null | tr -d ' ' || true)
  [ -z "$left" ] || die "children left: $left"
  echo "ok: demo started 6 processes and stopped them all ($signal)"
}

run_once INT
run_once TERM
run_once KILL-CHILD
