#!/usr/bin/env bash
# The Redis failover soak (not in ctest): tests/persistence's failover test
# with many more master kills, run several times over (each run on a fresh
# six-process cluster). Every run must end with 0 acknowledged appends lost;
# the test's own assertions decide, this only repeats and lengthens it.
#
#   failover_soak.sh [--build DIR] [--rounds 30] [--repeat 3]
#
# Everything runs on loopback; the test starts its processes and stops them
# by PID.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${ORCH_BUILD_DIR:-$root/build}
rounds=30
repeat=3
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    *) echo "failover_soak.sh: unknown argument '$1' (--build DIR, --rounds N, --repeat N)" >&2; exit 2 ;;
  esac
done
[[ "$build" = /* ]] || build="$root/$build"
bin=$build/tests/persistence/persistence_failover_test
if [ ! -x "$bin" ]; then
  echo "failover_soak.sh: $bin not built (cmake --build $build --target persistence_failover_test)" >&2
  exit 2
fi
ORCH_FAILOVER_ROUNDS=$rounds exec "$bin" --gtest_repeat="$repeat" --gtest_break_on_failure
