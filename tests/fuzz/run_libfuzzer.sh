#!/usr/bin/env bash
# Runs libFuzzer binaries for a fixed time each, on a scratch copy of their
# seed corpora, and fails when one of them finds a crash, a leak, a timeout
# or an out-of-memory. Crash inputs are kept in WORKDIR/<binary>/ for
# reproduction (<binary> <crash-file>).
#
#   run_libfuzzer.sh WORKDIR SECONDS_EACH BINARY SEED_DIR [BINARY SEED_DIR]...
set -uo pipefail

if [ $# -lt 4 ] || [ $(( ($# - 2) % 2 )) -ne 0 ]; then
  echo "usage: $0 WORKDIR SECONDS_EACH BINARY SEED_DIR [BINARY SEED_DIR]..." >&2
  exit 64
fi
work=$1
seconds=$2
shift 2

status=0
while [ $# -gt 0 ]; do
  bin=$1
  seeds=$2
  shift 2
  name=$(basename "$bin")
  dir=$work/$name
  mkdir -p "$dir/corpus"
  echo "== $name: ${seconds} s (seeds: $seeds, scratch corpus: $dir/corpus)"
  # -timeout: one input running longer than 10 s is a hang; -rss_limit_mb:
  # memory growth beyond 2 GiB is a finding, as is one malloc over 512 MiB.
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
    -max_len=8192 -print_final_stats=1 -artifact_prefix="$dir/" \
    "$dir/corpus" "$seeds" 2>"$dir/log.txt"
  rc=$?
  tail -n 12 "$dir/log.txt"
  if [ $rc -ne 0 ]; then
    echo "== $name FAILED (exit $rc); full log: $dir/log.txt; inputs: $(ls "$dir" | grep -E '^(crash|leak|timeout|oom|slow-unit)-' | tr '\n' ' ')"
    grep -m 40 -E 'ERROR|SUMMARY|CHECK failed|#[0-9]+ 0x' "$dir/log.txt" || true
    status=1
  else
    echo "== $name ok"
  fi
done
exit $status
