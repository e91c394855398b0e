#!/usr/bin/env bash
# Makes the root filesystem of the Orchestrion image from a build directory:
# the five services and the tools (stripped), the shared libraries ldd names
# for them and the dynamic loader, the CA bundle, a passwd/group naming the
# non-root user 65532, and under usr/share/doc: LICENSE, NOTICE and the
# Debian copyright file of every package a bundled library comes from.
# Nothing else: no shell, no package manager. Prints the image version (what
# `session-engine --version` says) as its last line.
#
#   stage.sh BUILD_DIR STAGING_DIR
#   stage.sh --binaries STAGING_DIR PROGRAM...
#
# The second form stages other host programs the same way (no LICENSE/NOTICE,
# no version): the tests' Redis and Prometheus images (tests/deploy/).
#
# Used by both image paths (deploy/container/README.md): on the host before a
# prebuilt image build, and inside the Containerfile's source stage. Expects a
# merged-/usr Debian 12 (bookworm).
set -euo pipefail

usage() {
  echo "usage: stage.sh BUILD_DIR STAGING_DIR | stage.sh --binaries STAGING_DIR PROGRAM..." >&2
  exit 2
}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

declare -A bins=()  # name in the image -> path on this machine
orchestrion=1
if [ "${1:-}" = --binaries ]; then
  [ $# -ge 3 ] || usage
  orchestrion=0
  staging=$2
  shift 2
  for p in "$@"; do
    path=$(command -v "$p") || { echo "stage.sh: $p not found" >&2; exit 1; }
    bins[$(basename "$p")]=$path
  done
else
  [ $# -eq 2 ] || usage
  build=$1
  staging=$2
  bins=(
    [session-engine]=$build/services/session_engine/session-engine
    [persistence-proxy]=$build/services/persistence_proxy/persistence-proxy
    [scheduler]=$build/services/scheduler/scheduler
    [call-watcher]=$build/services/call_watcher/call-watcher
    [rest-gateway]=$build/services/rest_gateway/rest-gateway
    [orch-probe]=$build/tools/orch_probe/orch-probe
    [orch-scxml]=$build/tools/orch_scxml/orch-scxml
    [switch-sim]=$build/tools/switch_sim/switch-sim
  )
fi
for name in "${!bins[@]}"; do
  [ -x "${bins[$name]}" ] || { echo "stage.sh: ${bins[$name]} is missing: build target $name first" >&2; exit 1; }
done
for tool in ldd strip dpkg-query realpath; do
  command -v "$tool" >/dev/null || { echo "stage.sh: $tool not found (binutils, libc-bin, dpkg, coreutils)" >&2; exit 1; }
done

rm -rf "$staging"
mkdir -p "$staging"/usr/local/bin "$staging"/usr/lib "$staging"/usr/lib64 "$staging"/etc/ssl/certs \
  "$staging"/usr/share/doc
# Merged /usr, as Debian 12: the loader's path /lib64/ld-linux-x86-64.so.2 resolves.
ln -s usr/lib "$staging"/lib
ln -s usr/lib64 "$staging"/lib64

for name in "${!bins[@]}"; do
  strip --strip-unneeded -o "$staging/usr/local/bin/$name" "${bins[$name]}"
done

# Every library any program needs, at the path the loader finds it (its
# directory resolved through the /lib symlinks, under the name ldd gives).
deps=$(for name in "${!bins[@]}"; do ldd "${bins[$name]}" 2>&1 || true; done)
missing=$(grep 'not found' <<<"$deps" || true)
[ -z "$missing" ] || { echo "stage.sh: unresolved libraries: $missing" >&2; exit 1; }
mapfile -t libs < <(sed -n -e 's/.*=> \(\/[^ ]*\) .*/\1/p' -e 's/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p' <<<"$deps" | sort -u)
resolved=()
for lib in "${libs[@]}"; do
  dir=$(realpath "$(dirname "$lib")")
  mkdir -p "$staging$dir"
  cp -L "$lib" "$staging$dir/$(basename "$lib")"
  resolved+=("$dir/$(basename "$lib")")
done

# The package of each program and library, for its copyright file. dpkg
# records a path either as ldd gives it or resolved (merged /usr): ask for
# both, in one call.
owned=("${libs[@]}" "${resolved[@]}")
(( orchestrion )) || owned+=("${bins[@]}")
owners=$(dpkg-query -S "${owned[@]}" 2>/dev/null || true)
packages=(ca-certificates)
for i in "${!libs[@]}"; do
  pkg=$(awk -F': ' -v a="${libs[$i]}" -v b="${resolved[$i]}" '$2 == a || $2 == b { print $1; exit }' <<<"$owners")
  [ -n "$pkg" ] || { echo "stage.sh: no Debian package owns ${libs[$i]} (its license cannot be shipped)" >&2; exit 1; }
  packages+=("${pkg%%:*}")
done
if (( ! orchestrion )); then
  for name in "${!bins[@]}"; do
    pkg=$(awk -F': ' -v a="${bins[$name]}" '$2 == a { print $1; exit }' <<<"$owners")
    [ -n "$pkg" ] && packages+=("${pkg%%:*}")
  done
fi
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
for pkg in "${packages[@]}"; do
  copyright=/usr/share/doc/$pkg/copyright
  [ -f "$copyright" ] || { echo "stage.sh: $copyright is missing (package $pkg)" >&2; exit 1; }
  mkdir -p "$staging/usr/share/doc/$pkg"
  cp "$copyright" "$staging/usr/share/doc/$pkg/copyright"
done

# HTTPS document fetches (scxml.document-url-prefixes) verify against it.
[ -f /etc/ssl/certs/ca-certificates.crt ] ||
  { echo "stage.sh: /etc/ssl/certs/ca-certificates.crt is missing (package ca-certificates)" >&2; exit 1; }
cp /etc/ssl/certs/ca-certificates.crt "$staging"/etc/ssl/certs/

# The only user; no login shell exists in the image.
printf 'root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nnonroot:x:65532:65532:nonroot:/nonexistent:/usr/sbin/nologin\n' \
  >"$staging"/etc/passwd
printf 'root:x:0:\nnonroot:x:65532:\n' >"$staging"/etc/group

(( orchestrion )) || exit 0

mkdir -p "$staging"/usr/share/doc/orchestrion
cp "$root/LICENSE" "$root/NOTICE" "$staging"/usr/share/doc/orchestrion/
printf '%s\n' "${packages[@]}" >"$staging"/usr/share/doc/orchestrion/bundled-packages.txt
version=$("${bins[session-engine]}" --version)
version=${version#session-engine }
[[ $version =~ ^[0-9A-Za-z.+~-]+$ ]] || { echo "stage.sh: session-engine --version printed '$version'" >&2; exit 1; }
echo "$version"
