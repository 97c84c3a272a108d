#!/bin/bash
# SPDX-License-Identifier: MIT
# One bounded libFuzzer run (suite fuzz-run, only in a -Dfuzz=true clang build):
#   run-fuzzer.sh FUZZER SECONDS CORPUS_DIR [libFuzzer flags...]
# New inputs go to a scratch directory (the committed corpus is only read); a crash, a leak,
# a sanitizer report or an input slower than 10 s (-timeout) fails, with the reproducer kept in
# the build directory (artifact_prefix) and its path printed.
set -euo pipefail
fuzzer=$1 secs=$2 corpus=$3
shift 3
out=$(dirname "$fuzzer")/$(basename "$fuzzer")-run
rm -rf "$out"; mkdir -p "$out/new" "$out/artifacts"
"$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$out/artifacts/" "$@" "$out/new" "$corpus" 2>"$out/log" && rc=0 || rc=$?
grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==ERROR|SUMMARY)' "$out/log" || true
if [ "$rc" -ne 0 ]; then
  tail -n 40 "$out/log"
  echo "FAIL: $(basename "$fuzzer") exited $rc; reproducer(s): $(ls "$out/artifacts")"
  exit 1
fi
echo "ok: $(basename "$fuzzer") ran ${secs} s, $(ls "$out/new" | wc -l) new input(s) found"
