# shellcheck shell=bash
# Shared by tests/deploy/image.sh and compose.sh (sourced, never run).
#
#   deploy_init ROOT BUILD       sets ROOT, BUILD, WORK (a new temporary directory, removed at
#                                exit), CONTAINERS_CONF; fails naming any missing tool; installs
#                                the EXIT trap that runs every deploy_on_exit command, newest first
#   deploy_on_exit CMD...        a cleanup step (runs on success and failure alike)
#   deploy_stop_pid PID          SIGTERM to a child of this shell, then waits for it
#   deploy_fail MESSAGE          prints FAIL: MESSAGE and the files deploy_show names, exits 1
#   deploy_show FILE...          files whose tail a failure prints
#   deploy_build_image           builds ORCH_TEST_IMAGE afresh the way CI does: the Containerfile's
#                                prebuilt path from BUILD's binaries (deploy/container/stage.sh);
#                                with ORCH_IMAGE_STAGING=source, the users' path (a full compile
#                                in a container: slow, opt-in); sets DEPLOY_VERSION (the
#                                binaries' version) and DEPLOY_REVISION
#   deploy_stage_image NAME IMAGE ENTRYPOINT PROGRAM...   a FROM-scratch image of host programs
#                                (the tests' Redis and Prometheus), tagged IMAGE, working directory
#                                /data, ENTRYPOINT the program run (- for none: the command names it)
#   deploy_free_port             prints a TCP port free on 127.0.0.1 right now
#
# Images the tests build are tagged localhost/orchestrion-test:* and stay between runs (the
# Orchestrion image is rebuilt without cache each time, the one it replaces removed);
# everything else they create (containers, pods, networks, volumes, the podman service) goes.
set -euo pipefail

ORCH_TEST_IMAGE=localhost/orchestrion-test:latest
ORCH_TEST_REDIS_IMAGE=localhost/orchestrion-test:redis
ORCH_TEST_PROMETHEUS_IMAGE=localhost/orchestrion-test:prometheus

_deploy_cleanups=()
_deploy_shown=()

deploy_init() {
  ROOT=$1
  BUILD=$2
  local tool missing=()
  # bootstrap installs them; a missing one is a failure, never a skip.
  for tool in podman runc docker-compose curl python3 tar; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  [ -x /usr/lib/cni/dnsname ] || missing+=("dnsname CNI plugin (golang-github-containernetworking-plugin-dnsname)")
  if [ ${#missing[@]} -gt 0 ]; then
    echo "FAIL: missing: ${missing[*]} (scripts/bootstrap installs them)" >&2
    exit 1
  fi
  export CONTAINERS_CONF=$ROOT/deploy/podman/containers.conf
  WORK=$(mktemp -d /tmp/orch-deploy.XXXXXX)
  deploy_on_exit rm -rf "$WORK"
  trap _deploy_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

deploy_on_exit() {
  local q
  printf -v q '%q ' "$@"
  _deploy_cleanups+=("$q")
}

_deploy_exit() {
  local status=$? i
  for (( i = ${#_deploy_cleanups[@]} - 1; i >= 0; i-- )); do
    eval "${_deploy_cleanups[$i]}" >/dev/null 2>&1 || true
  done
  exit $status
}

deploy_stop_pid() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

deploy_show() { _deploy_shown+=("$@"); }

deploy_fail() {
  local f
  echo "FAIL: $*" >&2
  for f in "${_deploy_shown[@]}"; do
    [ -s "$f" ] || continue
    echo "--- last lines of $f:" >&2
    tail -n 25 "$f" >&2
  done
  exit 1
}

deploy_build_image() {
  DEPLOY_REVISION=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)
  if [ "${ORCH_IMAGE_STAGING:-prebuilt}" = source ]; then
    _deploy_build_from_source
    return
  fi
  local ctx=$WORK/image-context
  mkdir -p "$ctx"
  DEPLOY_VERSION=$("$ROOT/deploy/container/stage.sh" "$BUILD" "$ctx/staging" 2>"$WORK/stage.log" | tail -n 1) ||
    { deploy_show "$WORK/stage.log"; deploy_fail "deploy/container/stage.sh $BUILD failed"; }
  # --no-cache: podman 4.3 reuses a cached LABEL layer made with other --build-arg values (a
  # stale version or revision label).
  _deploy_build "$ORCH_TEST_IMAGE" --no-cache --format docker --build-arg STAGING=prebuilt \
    --build-arg VERSION="$DEPLOY_VERSION" --build-arg REVISION="$DEPLOY_REVISION" \
    -f "$ROOT/deploy/container/Containerfile" "$ctx"
}

# _deploy_build TAG ARGS...: podman build -t TAG ARGS. So that runs do not pile up untagged
# layers, the image TAG named before (when replaced) and the untagged images of the build's
# intermediate stages are removed. (`--layers=false` would make none, but podman 4.3 then fails
# a multi-stage build: "identifier is not an image".)
_deploy_build() {
  local tag=$1 previous id
  shift
  previous=$(podman image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
  podman images -q --no-trunc --filter dangling=true | sort >"$WORK/dangling.before"
  podman build -t "$tag" "$@" >"$WORK/build.log" 2>&1 ||
    { deploy_show "$WORK/build.log"; deploy_fail "podman build of $tag"; }
  if [ -n "$previous" ] && [ "$previous" != "$(podman image inspect --format '{{.Id}}' "$tag")" ]; then
    podman rmi "$previous" >/dev/null 2>&1 || true
  fi
  for id in $(podman images -q --no-trunc --filter dangling=true | sort | comm -13 "$WORK/dangling.before" -); do
    podman rmi "$id" >/dev/null 2>&1 || true
  done
}

# The users' path (opt-in: ORCH_IMAGE_STAGING=source, not in the default suite): the whole
# tree compiled in a Debian 12 container. Its base is made once by mmdebstrap (Docker Hub is not
# reachable here) and kept as localhost/orchestrion-test:bookworm-base.
_deploy_build_from_source() {
  local base=localhost/orchestrion-test:bookworm-base
  command -v mmdebstrap >/dev/null 2>&1 || deploy_fail "ORCH_IMAGE_STAGING=source needs mmdebstrap (apt-get install mmdebstrap)"
  if ! podman image exists "$base"; then
    mmdebstrap --variant=minbase --include=ca-certificates bookworm "$WORK/base.tar" >"$WORK/mmdebstrap.log" 2>&1 ||
      { deploy_show "$WORK/mmdebstrap.log"; deploy_fail "mmdebstrap bookworm"; }
    podman import "$WORK/base.tar" "$base" >/dev/null || deploy_fail "podman import of the mmdebstrap base"
    rm -f "$WORK/base.tar"
  fi
  DEPLOY_VERSION=$("$BUILD/services/session_engine/session-engine" --version) ||
    deploy_fail "$BUILD/services/session_engine/session-engine --version (the version the source build must print)"
  DEPLOY_VERSION=${DEPLOY_VERSION#session-engine }
  _deploy_build "$ORCH_TEST_IMAGE" --no-cache --isolation chroot --format docker --build-arg BASE="$base" \
    --build-arg STAGING=source --build-arg VERSION="$DEPLOY_VERSION" --build-arg REVISION="$DEPLOY_REVISION" \
    -f "$ROOT/deploy/container/Containerfile" "$ROOT"
}

deploy_stage_image() {
  local name=$1 image=$2 entrypoint=$3
  shift 3
  local ctx=$WORK/$name-context
  "$ROOT/deploy/container/stage.sh" --binaries "$ctx/staging" "$@" >"$WORK/$name-stage.log" 2>&1 ||
    { deploy_show "$WORK/$name-stage.log"; deploy_fail "staging $* for the $name test image"; }
  mkdir -p "$ctx/staging/data"
  # As root, like the images users pull (whose entrypoints start as root): a
  # new named volume is root's, and /data must be writable.
  cat >"$ctx/Containerfile" <<EOF
FROM scratch
COPY staging/ /
ENV PATH=/usr/local/bin
WORKDIR /data
EOF
  [ "$entrypoint" = - ] || echo "ENTRYPOINT [\"$entrypoint\"]" >>"$ctx/Containerfile"
  _deploy_build "$image" --format docker -f "$ctx/Containerfile" "$ctx"
}

deploy_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
