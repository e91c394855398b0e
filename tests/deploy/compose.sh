#!/usr/bin/env bash
# deploy/compose/docker-compose.yml, run by docker-compose against a podman
# service this test starts (and stops, by PID). With the image built from this
# build directory (as image.sh builds it) and a Redis image made from the
# host's redis-server (and a Prometheus image from the host's prometheus),
# it checks that
#   - `up -d` brings Redis and the five services up healthy, in the order of
#     their health (podman runs no health-check timers: a loop here runs
#     `podman healthcheck run` for every container while `up` waits);
#   - the demo's flow works through the HTTP API published on 127.0.0.1:
#     start (api-routing.scxml) -> request position -> the call waits in the
#     queue -> event agent.ready -> query: routed to alice;
#   - after `docker-compose kill -s KILL session-engine` and `up -d` again, the
#     same session answers its query with the same state (recovered from its
#     log in Redis once the new engine holds node 1's lease);
#   - the `observability` profile's Prometheus has all five targets up and
#     has loaded deploy/prometheus/rules;
#   - the `ha` profile's standby, started next, is not primary while the
#     primary lives; `docker-compose stop session-engine` (SIGTERM) ends the
#     primary with exit 0 and the standby takes over and answers the session
#     with the same state;
#   - `down -v` leaves no container, network or volume of the project.
#
#   compose.sh <repo root> <build dir>
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
deploy_init "$1" "$2"

project=orchtest$$
label=com.docker.compose.project=$project

start=$(date +%s)
deploy_build_image
deploy_stage_image redis "$ORCH_TEST_REDIS_IMAGE" - redis-server redis-cli
deploy_stage_image prometheus "$ORCH_TEST_PROMETHEUS_IMAGE" prometheus prometheus
echo "compose: images ready in $(( $(date +%s) - start )) s"

# ---- the podman service docker-compose talks to ----
sock=$WORK/podman.sock
podman system service --time=0 "unix://$sock" >"$WORK/podman-service.log" 2>&1 &
service_pid=$!
deploy_on_exit deploy_stop_pid "$service_pid"
deploy_show "$WORK/podman-service.log"
for _ in $(seq 100); do
  [ -S "$sock" ] && break
  kill -0 "$service_pid" 2>/dev/null || deploy_fail "podman system service exited"
  sleep 0.1
done
[ -S "$sock" ] || deploy_fail "podman system service made no socket at $sock in 10 s"
export DOCKER_HOST=unix://$sock

http_port=$(deploy_free_port)
prometheus_port=$(deploy_free_port)
token=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
export ORCH_IMAGE=$ORCH_TEST_IMAGE ORCH_REDIS_IMAGE=$ORCH_TEST_REDIS_IMAGE ORCH_HTTP_PORT=$http_port \
  ORCH_AUTH_TOKEN=$token ORCH_PROMETHEUS_IMAGE=$ORCH_TEST_PROMETHEUS_IMAGE ORCH_PROMETHEUS_PORT=$prometheus_port
compose=(docker-compose --ansi never -p "$project" -f "$ROOT/deploy/compose/docker-compose.yml" --profile observability)
compose_ha=("${compose[@]}" --profile ha)
"${compose_ha[@]}" config -q 2>"$WORK/config.log" || { deploy_show "$WORK/config.log"; deploy_fail "docker-compose config (all profiles)"; }
# Cleanup: the stack, then whatever of the project a failed `down` left.
deploy_on_exit bash -c "podman rm -f -t 0 \$(podman ps -aq --filter label=$label) ; \
  podman network rm -f \$(podman network ls -q --filter label=$label) ; \
  podman volume rm -f \$(podman volume ls -q --filter label=$label)"
deploy_on_exit "${compose_ha[@]}" down -v --remove-orphans -t 20

services=(redis persistence-proxy session-engine scheduler call-watcher rest-gateway prometheus session-engine-standby)
containers() { podman ps -a --filter "label=$label" --format '{{.Names}}' | sort; }
container() { podman ps -aq --filter "label=$label" --filter "label=com.docker.compose.service=$1"; }
logs() {  # each service's log to WORK/<service>.log, for a failure to show
  local s
  for s in "${services[@]}"; do podman logs "$(container "$s")" >"$WORK/$s.log" 2>&1 || true; done
}
deploy_show "$WORK/up.log"
for s in "${services[@]}"; do deploy_show "$WORK/$s.log"; done

# While `up` waits for health (and until this test ends), every running
# container of the project has its health check run once a second.
(
  for _ in $(seq 900); do
    for c in $(podman ps -q --filter "label=$label"); do podman healthcheck run "$c" >/dev/null 2>&1 || true; done
    sleep 1
  done
) &
poller_pid=$!
deploy_on_exit deploy_stop_pid "$poller_pid"

# ---- up ----
start=$(date +%s)
timeout 300 "${compose[@]}" up -d >"$WORK/up.log" 2>&1 ||
  { logs; deploy_fail "docker-compose up -d failed"; }
echo "compose: up -d in $(( $(date +%s) - start )) s"
# `up` waited for the services others depend on; the leaves (call-watcher,
# rest-gateway) get up to 60 s more.
unhealthy=""
for _ in $(seq 120); do
  unhealthy=""
  for s in "${services[@]:0:6}"; do
    c=$(podman ps -q --filter "label=$label" --filter "label=com.docker.compose.service=$s")
    health=none
    [ -n "$c" ] && health=$(podman inspect --format '{{.State.Health.Status}}' "$c")
    [ "$health" = healthy ] || unhealthy+=" $s:$health"
  done
  [ -z "$unhealthy" ] && break
  sleep 0.5
done
[ -z "$unhealthy" ] || { logs; deploy_fail "not healthy 60 s after up -d:$unhealthy"; }
[ "$(containers | wc -l)" = 7 ] || deploy_fail "the project runs $(containers | wc -l) containers, not 7 (with prometheus): $(containers | tr '\n' ' ')"
echo "compose: redis and the five services healthy"

# ---- the demo's flow over the HTTP API ----
api_url=http://127.0.0.1:$http_port
printf 'Authorization: Bearer %s\n' "$token" >"$WORK/auth.header"
status=""
body=""
api() {  # api METHOD PATH [curl arguments]: sets status and body
  local method=$1 path=$2
  shift 2
  status=$(curl -sS --max-time 20 -X "$method" -H @"$WORK/auth.header" -o "$WORK/body" -w '%{http_code}' \
    "$@" "$api_url$path" 2>"$WORK/curl.err") || status="no answer: $(cat "$WORK/curl.err")"
  body=$(cat "$WORK/body" 2>/dev/null || true)
}
want() { [ "$status" = "$1" ] || { logs; deploy_fail "$2 answered HTTP $status, expected $1: $body"; }; }
# Queries the session until it answers 200, 90 s at most (each try may wait the gateway's
# api.call-timeout-ms); every answer goes to LOG. The last answer is in $status and $body.
query_until_answered() {
  local deadline=$(( SECONDS + 90 ))
  while (( SECONDS < deadline )); do
    api GET "$path/query"
    echo "$(date +%T.%N | cut -c1-12) $status $body" >>"$1"
    [ "$status" = 200 ] && return 0
    sleep 0.2
  done
  return 1
}
# field NAME.NAME...: a member of the last answer, as JSON ("" when absent or not JSON).
field() {
  python3 -c '
import json, sys
try:
    v = json.loads(sys.argv[1])
    for k in sys.argv[2].split("."):
        v = v[k]
    print(json.dumps(v))
except (ValueError, KeyError, TypeError):
    print("")' "$body" "$1"
}

for _ in $(seq 150); do
  api GET /readyz
  [ "$status" = 200 ] && break
  sleep 0.2
done
want 200 "GET /readyz"

# Unauthenticated requests are refused (the stack is not anonymous).
status=$(curl -s -o /dev/null -w '%{http_code}' "$api_url/scxml/session/start" -X POST -d '{}' || true)
[ "$status" = 401 ] || deploy_fail "a start without the token answered $status, expected 401"

strategy=file:///srv/orchestrion/examples/routing/api-routing.scxml
key=compose-$$-$RANDOM
for _ in $(seq 20); do
  api POST /scxml/session/start -H 'Content-Type: application/json' -H "Idempotency-Key: $key" \
    --data-binary "{\"src\": \"$strategy\", \"caller\": \"+15550100\", \"queue\": \"sales\", \"greeting_ms\": 500, \"wait_ms\": 600000}"
  [ "$status" = 503 ] || break
  sleep 0.5
done
want 200 "POST /scxml/session/start"
sid=$(field sessionid | tr -d '"')
[[ $sid =~ ^~1~[0-9A-Z]{32}$ ]] || deploy_fail "the start answered no session id of node 1: $body"
[ "$(field persistent)" = true ] || deploy_fail "the session is not persistent: $body"
path=/scxml/session/$sid

api POST "$path/request/position"
want 200 "request position"
queued=0
for _ in $(seq 100); do
  api GET "$path/query"
  want 200 "query"
  if python3 -c 'import json,sys; sys.exit(0 if "queued" in json.loads(sys.argv[1])["active_states"] else 1)' "$body"; then
    queued=1
    break
  fi
  sleep 0.1
done
(( queued )) || deploy_fail "the call is not in the queue 10 s after its start: $body"
api POST "$path/event/agent.ready" --data-urlencode agent=alice
want 200 "event agent.ready"
api GET "$path/query"
want 200 "query"
before=$body
[ "$(field data.outcome)" = '"routed"' ] && [ "$(field data.route_target)" = '"alice"' ] ||
  deploy_fail "the call was not routed to alice: $body"
echo "compose: start -> request -> event -> query: routed to alice (session $sid)"

# ---- observability: Prometheus scrapes the five ----
# Every target up == 1 (a scrape every 15 s: up to 60 s).
targets=""
deadline=$(( SECONDS + 60 ))
while (( SECONDS < deadline )); do
  curl -sf --max-time 5 "http://127.0.0.1:$prometheus_port/api/v1/query" --data-urlencode 'query=up{job="orchestrion"} == 1' \
    -o "$WORK/up.json" 2>/dev/null &&
    targets=$(python3 -c 'import json,sys; print(" ".join(sorted(r["metric"]["instance"] for r in json.load(open(sys.argv[1]))["data"]["result"])))' "$WORK/up.json")
  [ "$targets" = "call-watcher:9100 persistence-proxy:9100 rest-gateway:9100 scheduler:9100 session-engine:9100" ] && break
  sleep 1
done
[ "$targets" = "call-watcher:9100 persistence-proxy:9100 rest-gateway:9100 scheduler:9100 session-engine:9100" ] ||
  { logs; deploy_fail "Prometheus on 127.0.0.1:$prometheus_port has up == 1 only for: '$targets'"; }
curl -sf --max-time 5 "http://127.0.0.1:$prometheus_port/api/v1/rules" -o "$WORK/rules.json" ||
  deploy_fail "Prometheus's /api/v1/rules did not answer"
grep -q '"name":"OrchClusterFilesDiffer"' "$WORK/rules.json" || deploy_fail "Prometheus did not load deploy/prometheus/rules"
echo "compose: observability: Prometheus has the five targets up and the project's rules"

# ---- SIGKILL the session-engine container, then the same session ----
"${compose[@]}" kill -s KILL session-engine >"$WORK/kill.log" 2>&1 || { deploy_show "$WORK/kill.log"; deploy_fail "docker-compose kill -s KILL session-engine"; }
engine=$(container session-engine)
code=$(podman inspect --format '{{.State.ExitCode}}' "$engine")
[ "$code" = 137 ] || [ "$(podman inspect --format '{{.State.Running}}' "$engine")" = true ] ||
  deploy_fail "session-engine's container exited with $code after SIGKILL, not 137"
start=$(date +%s)
timeout 120 "${compose[@]}" up -d session-engine >"$WORK/up2.log" 2>&1 ||
  { deploy_show "$WORK/up2.log"; logs; deploy_fail "docker-compose up -d session-engine after the kill"; }
deploy_show "$WORK/after-kill.log"
query_until_answered "$WORK/after-kill.log" ||
  { logs; deploy_fail "session $sid did not answer within 90 s of the restart: $status $body"; }
python3 - "$before" "$body" <<'PY' || deploy_fail "the session's state differs after the restart: before $before, after $body"
import json, sys
a, b = (json.loads(x) for x in sys.argv[1:3])
assert a["active_states"] == b["active_states"], (a["active_states"], b["active_states"])
assert a["state"] == b["state"]
for name in ("outcome", "route_target", "caller", "queue"):
    assert a["data"][name] == b["data"][name], name
PY
echo "compose: after SIGKILL of session-engine, session $sid answered with the same state $(( $(date +%s) - start )) s after up -d ($(grep -c ' 504 ' "$WORK/after-kill.log" || true) queries answered 504 before)"

# ---- ha: a standby takes over from a primary stopped by SIGTERM ----
"${compose_ha[@]}" up -d session-engine-standby >"$WORK/up3.log" 2>&1 ||
  { deploy_show "$WORK/up3.log"; logs; deploy_fail "docker-compose --profile ha up -d session-engine-standby"; }
standby=$(container session-engine-standby)
podman exec "$standby" orch-probe --wait-ms 30000 127.0.0.1:7000 >"$WORK/probe.log" 2>&1 ||
  { logs; deploy_fail "the standby does not serve: $(cat "$WORK/probe.log")"; }
podman exec "$standby" orch-probe --service orch.session.v1.Sessions 127.0.0.1:7000 >/dev/null 2>&1 &&
  deploy_fail "the standby serves orch.session.v1.Sessions while the primary holds node 1's lease"
start=$(date +%s)
"${compose[@]}" stop -t 15 session-engine >"$WORK/stop.log" 2>&1 || { deploy_show "$WORK/stop.log"; deploy_fail "docker-compose stop session-engine"; }
code=$(podman inspect --format '{{.State.ExitCode}}' "$(container session-engine)")
[ "$code" = 0 ] || { logs; deploy_fail "session-engine exited with $code on SIGTERM (docker-compose stop), not 0"; }
podman exec "$standby" orch-probe --wait-ms 20000 --service orch.session.v1.Sessions 127.0.0.1:7000 >"$WORK/probe.log" 2>&1 ||
  { logs; deploy_fail "the standby did not become node 1's primary after the primary's clean stop: $(cat "$WORK/probe.log")"; }
: >"$WORK/after-kill.log"
query_until_answered "$WORK/after-kill.log" ||
  { logs; deploy_fail "session $sid did not answer through the standby within 90 s: $status $body"; }
python3 - "$before" "$body" <<'PY' || deploy_fail "the session's state differs on the standby: before $before, after $body"
import json, sys
a, b = (json.loads(x) for x in sys.argv[1:3])
assert a["active_states"] == b["active_states"] and a["state"] == b["state"] and a["data"] == b["data"]
PY
echo "compose: ha: primary stopped by SIGTERM (exit 0); the standby answered session $sid with its state $(( $(date +%s) - start )) s later"

# ---- down ----
"${compose_ha[@]}" down -v -t 20 >"$WORK/down.log" 2>&1 || { deploy_show "$WORK/down.log"; deploy_fail "docker-compose down -v"; }
left=$(containers | tr '\n' ' ')
[ -z "$left" ] || deploy_fail "containers left after down: $left"
left=$(podman network ls -q --filter "label=$label" | tr '\n' ' ')
[ -z "$left" ] || deploy_fail "networks left after down: $left"
left=$(podman volume ls -q --filter "label=$label" | tr '\n' ' ')
[ -z "$left" ] || deploy_fail "volumes left after down: $left"
echo "compose: down -v left no container, network or volume"
echo "PASS"
