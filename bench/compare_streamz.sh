#!/usr/bin/env bash
# compare_streamz.sh: depot::stream against Python streamz on the same pipelines, in one run.
#
#   BUILD=build-s-rel bench/compare_streamz.sh
#
# Runs bench/python/streamz_bench.py and $BUILD/bin/depot-streams-bench (build it first, in
# Release: cmake -S . -B build-s-rel -DCMAKE_BUILD_TYPE=Release && make -C build-s-rel
# depot-streams-bench) and prints a markdown table of events/s, the ratio, and depot's heap
# allocations per event. It builds nothing.
#
# Environment:
#   BUILD      build directory (default: ../build next to this script)
#   N_DEPOT    events per run for depot (default 20000000)
#   N_STREAMZ  events per run for streamz (default 200000)
#   RUNS       runs per figure, the best is kept (default 3)
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${BUILD:-$BENCH_DIR/../build}
BIN=$BUILD/bin/depot-streams-bench
PYTHON=${PYTHON:-/usr/bin/python3}
N_DEPOT=${N_DEPOT:-20000000}
N_STREAMZ=${N_STREAMZ:-200000}
RUNS=${RUNS:-3}
[[ -x $BIN ]] || { echo "compare_streamz: $BIN missing; build depot-streams-bench" >&2; exit 1; }
"$PYTHON" -c 'import streamz' 2>/dev/null ||
  { echo "compare_streamz: python streamz missing (apt-get install python3-streamz)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/streams-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
"$PYTHON" "$BENCH_DIR/python/streamz_bench.py" --n "$N_STREAMZ" --runs "$RUNS" >"$WORK/streamz"
"$BIN" --n "$N_DEPOT" --runs "$RUNS" >"$WORK/depot" 2>/dev/null

echo "| pipeline | streamz events/s | depot events/s | ratio | depot allocs/event |"
echo "|---|---:|---:|---:|---:|"
join <(sort "$WORK/streamz") <(sort "$WORK/depot") | sort -k1,1 |
  awk '{ printf "| %s | %d | %d | %.0fx | %s |\n", $1, $2, $3, $3 / $2, $4 }'
