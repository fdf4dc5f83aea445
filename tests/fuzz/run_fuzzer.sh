#!/bin/sh
# Runs one libFuzzer target for a short time from its seed corpus (kept in the
# repository, never written to): new inputs go to a scratch corpus in the build
# directory, a crashing input to <work>/artifacts/. Exits non-zero on a crash,
# a hang (one input running over -timeout; generous, as a legitimately large
# input, e.g. 2^24 std::monostate, is slow under ASan on a loaded machine), an
# allocation over -malloc_limit_mb or an RSS over -rss_limit_mb.
#
#   run_fuzzer.sh FUZZER SEED_DIR WORK_DIR
#   LUNATIC_FUZZ_SECONDS (default 10): how long to fuzz.
set -eu
fuzzer=$1
seeds=$2
work=$3
seconds=${LUNATIC_FUZZ_SECONDS:-10}
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
"$fuzzer" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=2048 -malloc_limit_mb=512 \
    -max_len=8192 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    "$work/corpus" "$seeds"
