#!/usr/bin/env bash
# Runs examples/routing/api-routing.scxml through `orch-scxml run` (the real
# interpreter and ECMAScript data model, on the real clock) and checks every
# route it can take:
#
#   queue    an agent becomes ready while the call waits in the queue -> routed
#   greeting an agent becomes ready during the greeting -> routed once it ends
#   overflow nobody comes within wait_ms -> overflow to voicemail
#   hangup   the caller hangs up in the queue -> abandoned
#
# Each runs twice: plainly and with --snapshot-every-macrostep (the session is
# serialized and restored after every macrostep, as the engine does on
# recovery); the output must be the same.
#
# orch-scxml has no way to pass start parameters, so the runs that need short
# timers use a copy of the chart whose parameter defaults are changed.
#
#   api_routing_test.sh <orch-scxml> <chart>
set -euo pipefail

tool=$1
chart=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
  echo "FAIL: $*" >&2
  for f in "$work"/*.out "$work"/*.err; do
    [ -f "$f" ] && { echo "--- $f:" >&2; cat "$f" >&2; }
  done
  exit 1
}

"$tool" validate "$chart" >"$work/validate.out" || fail "the chart does not validate"

# A copy with other parameter defaults; fails when the chart's defaults moved.
# short <name> <greeting_ms> <wait_ms>
short() {
  local out="$work/$1.scxml"
  sed -e "s|<data id=\"greeting_ms\" _type=\"parameter\" expr=\"2000\"/>|<data id=\"greeting_ms\" _type=\"parameter\" expr=\"$2\"/>|" \
      -e "s|<data id=\"wait_ms\" _type=\"parameter\" expr=\"30000\"/>|<data id=\"wait_ms\" _type=\"parameter\" expr=\"$3\"/>|" \
      "$chart" >"$out"
  grep -qF "id=\"greeting_ms\" _type=\"parameter\" expr=\"$2\"" "$out" &&
    grep -qF "id=\"wait_ms\" _type=\"parameter\" expr=\"$3\"" "$out" ||
    fail "could not change the parameter defaults of $chart (greeting_ms 2000, wait_ms 30000 expected)"
  echo "$out"
}

# run <name> <chart> : runs <name>.jsonl, plain and with snapshots; leaves
# $work/<name>.out (stdout) and $work/<name>.err (the <log> lines).
run() {
  local name=$1 doc=$2 rc=0 rc_snap=0 pid pid_snap
  # Both at once: each run spends about 2 s shutting down orch-scxml.
  "$tool" run "$doc" --events "$work/$name.jsonl" --timeout-ms 5000 \
    >"$work/$name.out" 2>"$work/$name.err" &
  pid=$!
  "$tool" run "$doc" --events "$work/$name.jsonl" --timeout-ms 5000 --snapshot-every-macrostep \
    >"$work/$name.snap.out" 2>"$work/$name.snap.err" &
  pid_snap=$!
  wait "$pid" || rc=$?
  wait "$pid_snap" || rc_snap=$?
  (( rc == 0 )) || fail "$name: orch-scxml run exited with $rc"
  (( rc_snap == 0 )) || fail "$name (--snapshot-every-macrostep): orch-scxml run exited with $rc_snap"
  cmp -s "$work/$name.out" "$work/$name.snap.out" ||
    fail "$name: output differs with --snapshot-every-macrostep: $(diff "$work/$name.out" "$work/$name.snap.out")"
}

# expect <name> <file suffix> <exact line>
expect() {
  grep -qxF -- "$3" "$work/$1.$2" || fail "$1: no line $3 in $1.$2"
}

# 1. The agent comes while the call waits in the queue (greeting: 2 s).
#    An agent.ready without an agent name is ignored.
cat >"$work/queue.jsonl" <<'EOF'
{"event": "position", "data": {}}
{"event": "agent.ready", "data": {}, "after_ms": 2300}
{"event": "position", "data": {}}
{"event": "agent.ready", "data": {"agent": "alice"}, "after_ms": 200}
{"event": "position", "data": {}}
{"event": "call.ended", "data": {}}
EOF
run queue "$chart"
expect queue out '{"step": 0, "event": null, "atomic": ["greeting"], "active": ["call", "greeting"], "done": false}'
expect queue out '{"step": 1, "event": "position", "atomic": ["greeting"], "active": ["call", "greeting"], "done": false}'
expect queue out '{"step": 2, "event": "agent.ready", "atomic": ["queued"], "active": ["call", "queued"], "done": false}'
expect queue out '{"step": 4, "event": "agent.ready", "atomic": ["routed"], "active": ["call", "connected", "routed"], "done": false}'
expect queue out '{"step": 5, "event": "position", "atomic": ["routed"], "active": ["call", "connected", "routed"], "done": false}'
expect queue out '{"step": 6, "event": "call.ended", "atomic": ["ended"], "active": ["ended"], "done": true}'
expect queue out '{"outcome": "ended", "detail": null}'
expect queue err '{"log": "queued", "value": "anonymous waits in support for at most 30000 ms", "session": "session1"}'
expect queue err '{"log": "call.ended", "value": {"outcome":"routed","route_target":"alice"}, "session": "session1"}'
grep -q '^{"log": "routed", "value": {"caller":"anonymous","queue":"support","agent":"alice","waited_ms":[0-9]*}' \
  "$work/queue.err" || fail "queue: no routed line for alice"
grep -q '^{"log": "position", "value": {"phase":"queued","queue":"support","waited_ms":[0-9]*}' \
  "$work/queue.err" || fail "queue: no position answer while queued"
echo "ok: agent ready in the queue -> routed"

# 2. The agent is ready during the greeting: connected as soon as it ends.
cat >"$work/greeting.jsonl" <<'EOF'
{"event": "agent.ready", "data": {"agent": "bob"}}
{"event": "position", "data": {}, "after_ms": 400}
{"event": "call.ended", "data": {}}
EOF
run greeting "$(short greeting 200 30000)"
expect greeting out '{"step": 1, "event": "agent.ready", "atomic": ["greeting"], "active": ["call", "greeting"], "done": false}'
expect greeting out '{"step": 2, "event": "position", "atomic": ["routed"], "active": ["call", "connected", "routed"], "done": false}'
expect greeting out '{"step": 3, "event": "call.ended", "atomic": ["ended"], "active": ["ended"], "done": true}'
expect greeting err '{"log": "call.ended", "value": {"outcome":"routed","route_target":"bob"}, "session": "session1"}'
echo "ok: agent ready during the greeting -> routed after it"

# 3. Nobody comes within wait_ms (1 s): overflow to voicemail; an agent
#    that comes later changes nothing.
cat >"$work/overflow.jsonl" <<'EOF'
{"event": "position", "data": {}, "after_ms": 600}
{"event": "agent.ready", "data": {"agent": "carol"}, "after_ms": 1200}
{"event": "call.ended", "data": {}}
EOF
run overflow "$(short overflow 200 1000)"
expect overflow out '{"step": 1, "event": "position", "atomic": ["queued"], "active": ["call", "queued"], "done": false}'
expect overflow out '{"step": 2, "event": "agent.ready", "atomic": ["overflow"], "active": ["call", "connected", "overflow"], "done": false}'
expect overflow out '{"step": 3, "event": "call.ended", "atomic": ["ended"], "active": ["ended"], "done": true}'
expect overflow out '{"outcome": "ended", "detail": null}'
expect overflow err '{"log": "call.ended", "value": {"outcome":"overflow","route_target":"voicemail"}, "session": "session1"}'
grep -q '^{"log": "overflow", "value": {"caller":"anonymous","queue":"support","target":"voicemail","waited_ms":1[0-9][0-9][0-9]}' \
  "$work/overflow.err" || fail "overflow: no overflow line after about 1000 ms in the queue"
echo "ok: no agent within wait_ms -> overflow"

# 4. The caller hangs up in the queue.
cat >"$work/hangup.jsonl" <<'EOF'
{"event": "call.ended", "data": {}, "after_ms": 400}
EOF
run hangup "$(short hangup 200 30000)"
expect hangup out '{"step": 1, "event": "call.ended", "atomic": ["ended"], "active": ["ended"], "done": true}'
expect hangup err '{"log": "abandoned", "value": {"caller":"anonymous","phase":"queued"}, "session": "session1"}'
echo "ok: caller hangs up in the queue -> abandoned"
