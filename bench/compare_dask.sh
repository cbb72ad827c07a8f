#!/usr/bin/env bash
# compare_dask.sh: depot's executor against dask.distributed on seed 000/002's figures.
#
#   BUILD=build-dir bench/compare_dask.sh
#
# depot in C++: a depot-manager and 2 single-threaded task_pool workers, measured by
# depot-executor-bench. depot in Python: the same manager, 2 Python workers
# (python/examples/pool_worker.py, pool "pypool") and a Python master
# (bench/python/depot_futures_bench.py, depot.futures). dask: LocalCluster(n_workers=2,
# threads_per_worker=1, processes=True) and a Client, measured by bench/python/dask_bench.py.
# No two of them run at the same time. Figures (ratio = dask time / depot time; targets from
# the issues, C++ / Python):
#   roundtrip  submit(increment, i).result() one at a time, distinct i      target 50x / 20x
#   map_sum    map(square, range(10000)) + submit(sum, A), wall time        target 100x / 20x
#   actor      Counter.increment() round trip                              target 10x / -
# Builds nothing: build depot-manager, task_pool and depot-executor-bench first.
#
# Environment: BUILD; N round trips per latency figure (depot 2000, dask DASK_N 500); RUNS of
# map_sum (depot 5, dask DASK_RUNS 3); LIMIT seconds per program (600).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
TASK_POOL=$BUILD/bin/task_pool
EXECUTOR_BENCH=$BUILD/bin/depot-executor-bench
need "$MANAGER" "$TASK_POOL" "$EXECUTOR_BENCH" "$PYTHON"

N=${N:-2000}
RUNS=${RUNS:-5}
DASK_N=${DASK_N:-500}
DASK_RUNS=${DASK_RUNS:-3}
LIMIT=${LIMIT:-600}

echo "# depot executor vs dask.distributed"
echo
machine_note
echo "commit: $(git -C "$BENCH_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)," \
  "$("$PYTHON" --version), dask $("$PYTHON" -c 'import distributed; print(distributed.__version__)')"
echo

start_manager
start_pool_workers 2
DEPOT_OUT=$WORK/depot.out
timeout "$LIMIT" "$EXECUTOR_BENCH" --address "127.0.0.1:$MANAGER_PORT" --authkey "$AUTHKEY" \
  --n "$N" --runs "$RUNS" >"$DEPOT_OUT" || {
  echo "bench: depot-executor-bench failed:" >&2
  cat "$DEPOT_OUT" >&2
  exit 1
}
check_manager
# The task_pool workers stay idle (blocked in the manager) while the Python ones work.
start_python_pool_workers 2 pypool
PY_OUT=$WORK/depot-python.out
PYTHONPATH=$BENCH_DIR/../python timeout "$LIMIT" "$PYTHON" "$BENCH_DIR/python/depot_futures_bench.py" --pool pypool \
  --address "127.0.0.1:$MANAGER_PORT" --authkey "$AUTHKEY" --n "$N" --runs "$RUNS" \
  >"$PY_OUT" 2>"$WORK/depot-python.err" || {
  echo "bench: depot_futures_bench.py failed:" >&2
  cat "$PY_OUT" "$WORK/depot-python.err" >&2
  exit 1
}
check_manager
# The depot processes stay idle (blocked in the manager) while dask runs.
DASK_OUT=$WORK/dask.out
timeout "$LIMIT" "$PYTHON" "$BENCH_DIR/python/dask_bench.py" --n "$DASK_N" --runs "$DASK_RUNS" \
  >"$DASK_OUT" 2>"$WORK/dask.err" || {
  echo "bench: dask_bench.py failed:" >&2
  cat "$DASK_OUT" "$WORK/dask.err" >&2
  exit 1
}

# field FILE METRIC KEY: the value of KEY= on METRIC's line.
field() {
  awk -v m="$2" -v k="$3" '$1 == m { for (i = 2; i <= NF; i++) { split($i, a, "="); if (a[1] == k) print a[2] } }' "$1"
}

row() {  # row LABEL METRIC KEY UNIT TARGET_CPP TARGET_PYTHON
  local d p q
  d=$(field "$DEPOT_OUT" "$2" "$3")
  p=$(field "$PY_OUT" "$2" "$3")
  q=$(field "$DASK_OUT" "$2" "$3")
  awk -v l="$1" -v d="$d" -v p="$p" -v q="$q" -v u="$4" -v t="$5" -v tp="$6" '
    function met(r, t) { return t == "" ? "-" : sprintf("%sx: %s", t, r >= t ? "yes" : "no") }
    BEGIN {
      printf "| %s | %s %s | %s %s | %.1fx | %s | %s %s | %.1fx | %s |\n", l, q, u, d, u, q / d, met(q / d, t), p, u, q / p, met(q / p, tp)
    }'
}

echo "| figure | dask | depot C++ | dask / depot C++ | target | depot Python | dask / depot Python | target |"
echo "|---|---:|---:|---:|---|---:|---:|---|"
row "submit->result round trip, p50" roundtrip p50_us us 50 20
row "submit->result round trip, p99" roundtrip p99_us us "" ""
row "map(square, range(10000)) + submit(sum, A), median" map_sum median_ms ms 100 20
row "map + sum, best run" map_sum min_ms ms "" ""
row "actor call (Counter.increment) round trip, p50" actor p50_us us 10 ""
row "actor call round trip, p99" actor p99_us us "" ""
echo
echo "Raw lines:"
echo '```'
sed 's/^/depot C++:    /' "$DEPOT_OUT"
sed 's/^/depot Python: /' "$PY_OUT"
sed 's/^/dask:         /' "$DASK_OUT"
echo '```'
echo
echo "Commands (port and key vary per run):"
echo '```'
echo "depot-manager --address 127.0.0.1:0 --authkey KEY --log-level warn"
echo "task_pool --address 127.0.0.1:PORT --authkey KEY --threads 1   # x 2"
echo "depot-executor-bench --address 127.0.0.1:PORT --authkey KEY --n $N --runs $RUNS"
echo "DEPOT_POOL=pypool python3 python/examples/pool_worker.py   # x 2"
echo "PYTHONPATH=python $PYTHON bench/python/depot_futures_bench.py --pool pypool --address 127.0.0.1:PORT --authkey KEY --n $N --runs $RUNS"
echo "$PYTHON bench/python/dask_bench.py --n $DASK_N --runs $DASK_RUNS"
echo '```'
