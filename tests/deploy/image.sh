#!/usr/bin/env bash
# The Orchestrion image (deploy/container/), built the way CI builds it: the
# Containerfile's prebuilt path, from this build directory's binaries staged
# by deploy/container/stage.sh (no second compile). Checks that
#   - it is at most 100 MB (the size is printed);
#   - each service's --version equals the org.opencontainers.image.version
#     label, and build_info on /metrics says the same;
#   - it holds no shell (no sh, bash, dash, ash, busybox anywhere), runs as
#     65532, and carries LICENSE and NOTICE in /usr/share/doc/orchestrion/;
#   - Redis and the five services, each in its own container under
#     --read-only --cap-drop=ALL --user 65532 (one pod, so they meet on its
#     loopback with deploy/local/*.toml), reach SERVING; rest-gateway's
#     /readyz answers 200 through a port published on 127.0.0.1;
#   - SIGTERM (podman stop) stops each service with exit status 0 after its
#     drain ("shutting down", then "stopped").
# The image stays tagged localhost/orchestrion-test:latest (compose.sh builds
# it again: ctest runs the two one at a time); the pod and its containers are
# removed. ORCH_IMAGE_STAGING=source checks the users' path instead (lib.sh).
#
#   image.sh <repo root> <build dir>
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
deploy_init "$1" "$2"

services=(session-engine persistence-proxy scheduler call-watcher rest-gateway)
image=$ORCH_TEST_IMAGE

# ---- build ----
start=$(date +%s)
deploy_build_image
echo "image: built $image in $(( $(date +%s) - start )) s"
version=$DEPLOY_VERSION
revision=$DEPLOY_REVISION

# ---- size, labels, configuration ----
size=$(podman image inspect --format '{{.Size}}' "$image")
echo "image: size $size bytes ($(( size / 1000000 )) MB)"
(( size <= 100000000 )) || deploy_fail "the image is $size bytes, over 100 MB"
label=$(podman image inspect --format '{{index .Labels "org.opencontainers.image.version"}}' "$image")
[ "$label" = "$version" ] || deploy_fail "version label '$label', the binaries say '$version'"
[ "$(podman image inspect --format '{{index .Labels "org.opencontainers.image.revision"}}' "$image")" = "$revision" ] ||
  deploy_fail "the revision label is not $revision"
[ "$(podman image inspect --format '{{index .Labels "org.opencontainers.image.licenses"}}' "$image")" = Apache-2.0 ] ||
  deploy_fail "the licenses label is not Apache-2.0"
[ "$(podman image inspect --format '{{.Config.User}}' "$image")" = 65532:65532 ] ||
  deploy_fail "the image's user is not 65532:65532"
health=$(podman image inspect --format '{{json .Config.Healthcheck.Test}}' "$image")
[ "$health" = '["CMD","orch-probe","--timeout-ms","2000","127.0.0.1:7000"]' ] ||
  deploy_fail "the image's health check is $health"

# Without the image's health check: podman would ask systemd for its timer
# (and log an error where there is none); this test probes by podman exec.
quiet=(--no-healthcheck)
for s in "${services[@]}"; do
  out=$(podman run --rm "${quiet[@]}" --read-only --cap-drop=ALL --user 65532 "$image" "$s" --version 2>"$WORK/run.err") ||
    deploy_fail "$s --version in the image: $out $(cat "$WORK/run.err")"
  [ "$out" = "$s $label" ] || deploy_fail "$s --version printed '$out', the label is '$label'"
done
echo "image: --version of the five services = label $label"

# ---- the files: no shell, the licenses ----
podman create --no-healthcheck --name "orchtest-files-$$" "$image" >/dev/null
deploy_on_exit podman rm -f "orchtest-files-$$"
podman export "orchtest-files-$$" -o "$WORK/rootfs.tar"
podman rm -f "orchtest-files-$$" >/dev/null 2>&1
tar -tf "$WORK/rootfs.tar" >"$WORK/files.txt"
shells=$(grep -E '(^|/)(sh|bash|dash|ash|zsh|busybox)$' "$WORK/files.txt" || true)
[ -z "$shells" ] || deploy_fail "the image holds a shell: $shells"
grep -qx 'usr/local/bin/session-engine' "$WORK/files.txt" || deploy_fail "the file listing of the image is not what it should be"
mkdir -p "$WORK/rootfs"
tar -xf "$WORK/rootfs.tar" -C "$WORK/rootfs" usr/share/doc/orchestrion
cmp -s "$WORK/rootfs/usr/share/doc/orchestrion/LICENSE" "$ROOT/LICENSE" || deploy_fail "the image's LICENSE differs from the repository's"
cmp -s "$WORK/rootfs/usr/share/doc/orchestrion/NOTICE" "$ROOT/NOTICE" || deploy_fail "the image's NOTICE differs from the repository's"
out=$(podman run --rm "${quiet[@]}" "$image" /bin/sh -c true 2>&1) && deploy_fail "/bin/sh ran in the image"
grep -q 'no such file or directory' <<<"$out" || deploy_fail "podman run IMAGE /bin/sh failed otherwise than 'not found': $out"
echo "image: no shell; LICENSE and NOTICE in /usr/share/doc/orchestrion/"

# ---- Redis and the five services, restricted, in one pod ----
deploy_stage_image redis "$ORCH_TEST_REDIS_IMAGE" - redis-server redis-cli
pod=orchtest-image-$$
http_port=$(deploy_free_port)
metrics_port=$(deploy_free_port)
token=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
podman pod create --name "$pod" -p "127.0.0.1:$http_port:7180" -p "127.0.0.1:$metrics_port:9101" >/dev/null ||
  deploy_fail "podman pod create"
deploy_on_exit podman pod rm -f -t 0 "$pod"
restricted=(--pod "$pod" "${quiet[@]}" --read-only --cap-drop=ALL --user 65532)
podman run -d "${restricted[@]}" --name "$pod-redis" "$ORCH_TEST_REDIS_IMAGE" \
  redis-server --bind 127.0.0.1 --port 7100 --save '' --appendonly no >/dev/null || deploy_fail "starting redis"
i=0
for s in "${services[@]}"; do
  i=$(( i + 1 ))
  env=(-e "ORCH_SERVER_GRPC_LISTEN=127.0.0.1:710$i" -e "ORCH_METRICS_LISTEN=127.0.0.1:910$i")
  case $s in
    # The ports published from the pod reach it on its own address, not loopback.
    session-engine) env=(-e "ORCH_SERVER_GRPC_LISTEN=127.0.0.1:7101" -e "ORCH_METRICS_LISTEN=0.0.0.0:9101") ;;
    rest-gateway) env+=(-e "ORCH_HTTP_LISTEN=0.0.0.0:7180" -e "ORCH_AUTH_TOKEN=$token") ;;
  esac
  podman run -d "${restricted[@]}" --name "$pod-$s" -v "$ROOT/deploy:/etc/orchestrion:ro" "${env[@]}" \
    "$image" "$s" --config "/etc/orchestrion/local/$s.toml" >/dev/null || deploy_fail "starting $s"
done

logs() { for c in redis "${services[@]}"; do podman logs "$pod-$c" >"$WORK/$c.log" 2>&1 || true; done; }
deploy_show "$WORK"/{redis,session-engine,persistence-proxy,scheduler,call-watcher,rest-gateway}.log
i=0
for s in "${services[@]}"; do
  i=$(( i + 1 ))
  podman exec "$pod-$s" orch-probe --wait-ms 30000 "127.0.0.1:710$i" >"$WORK/probe.log" 2>&1 ||
    { logs; deploy_fail "$s did not report SERVING in the image: $(cat "$WORK/probe.log")"; }
  read -r ro caps user < <(podman inspect --format '{{.HostConfig.ReadonlyRootfs}} {{len .EffectiveCaps}} {{.Config.User}}' "$pod-$s")
  [ "$ro $caps $user" = "true 0 65532" ] || deploy_fail "$s runs with read-only=$ro, $caps capabilities, user $user"
done
podman exec "$pod-session-engine" orch-probe --wait-ms 30000 --service orch.session.v1.Sessions 127.0.0.1:7101 \
  >"$WORK/probe.log" 2>&1 || { logs; deploy_fail "session-engine did not become node 1's primary: $(cat "$WORK/probe.log")"; }
echo "image: redis and the five services SERVING under --read-only --cap-drop=ALL --user 65532"

ready=""
for _ in $(seq 100); do
  ready=$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http_port/readyz" || true)
  [ "$ready" = 200 ] && break
  sleep 0.2
done
[ "$ready" = 200 ] || { logs; deploy_fail "rest-gateway's /readyz on 127.0.0.1:$http_port answered '$ready'"; }
curl -sf --max-time 5 "http://127.0.0.1:$metrics_port/metrics" >"$WORK/metrics.txt" ||
  deploy_fail "session-engine's /metrics on 127.0.0.1:$metrics_port did not answer"
grep -qx "orch_session_engine_build_info{version=\"$label\"} 1" "$WORK/metrics.txt" ||
  deploy_fail "session-engine's build_info is not version $label: $(grep build_info "$WORK/metrics.txt")"
echo "image: /readyz 200 and build_info version $label through 127.0.0.1"

# ---- SIGTERM: drained, exit 0 ----
for s in rest-gateway call-watcher scheduler session-engine persistence-proxy; do
  start=$(date +%s%N)
  podman stop -t 20 "$pod-$s" >/dev/null
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  code=$(podman inspect --format '{{.State.ExitCode}}' "$pod-$s")
  podman logs "$pod-$s" >"$WORK/$s.log" 2>&1
  [ "$code" = 0 ] || deploy_fail "$s exited with $code on SIGTERM"
  grep -q '"msg":"shutting down","signal":"SIGTERM"' "$WORK/$s.log" && grep -q '"msg":"stopped"' "$WORK/$s.log" ||
    deploy_fail "$s did not log its drain (shutting down, then stopped)"
  echo "image: $s stopped by SIGTERM with exit status 0 in $ms ms"
done
echo "PASS"
