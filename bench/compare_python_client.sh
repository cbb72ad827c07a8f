#!/usr/bin/env bash
# compare_python_client.sh: seed 004's master/worker exchange over Python's
# multiprocessing.managers and over the depot Python client (python/depot), same interpreter.
#
#   BUILD=build-dir bench/compare_python_client.sh
#
# Each run: TASKS tasks, WORKERS workers, a master putting tasks and reading results. Python:
# bench/python/seed_master.py + seed_worker.py (a BaseManager serving two queue.Queue, as in
# the seed). depot: a depot-manager and bench/python/depot_seed.py, per item (put/get) and
# batch (put_many/get_many of B items per call), each with the default client (every put
# waits for its answer), with pipeline_puts=True and with pipeline_puts="hold". Prints
# tasks/s and the ratios to Python; the issue's targets: per item >= 3x, batch >= 50x.
#
# Environment: TASKS WORKERS (default 10000 and 2), BATCHES (default "100 1000"), RUNS
# (runs per figure, median reported; default 3), PYTHON (default /usr/bin/python3),
# DEPOT_PYTHONPATH (the depot package to measure, default python/ of this checkout).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need "$MANAGER" "$PYTHON"

TASKS=${TASKS:-10000}
WORKERS=${WORKERS:-2}
BATCHES=${BATCHES:-"100 1000"}
RUNS=${RUNS:-3}
LIMIT=${LIMIT:-120}
export PYTHONPATH=${DEPOT_PYTHONPATH:-$BENCH_DIR/../python}

median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

python_run() {
  local port out pids=() p
  port=$(free_port)
  out=$WORK/py_master.$RANDOM.out
  timeout "$LIMIT" "$PYTHON" "$BENCH_DIR/python/seed_master.py" --port "$port" \
    --authkey "$AUTHKEY" --tasks "$TASKS" --start-delay 1.0 >"$out" 2>&1 &
  local master=$!
  PIDS+=("$master")
  wait_for_line "$out" '^ready' 20
  for ((w = 0; w < WORKERS; w++)); do
    timeout "$LIMIT" "$PYTHON" "$BENCH_DIR/python/seed_worker.py" --port "$port" \
      --authkey "$AUTHKEY" --timeout 1 --first-timeout 10 >"$WORK/py_worker.$w.out" 2>&1 &
    pids+=($!)
  done
  wait "$master" || { cat "$out" >&2; return 1; }
  for p in "${pids[@]}"; do wait "$p" || true; done
  awk '/^tasks_per_s/ {print $2}' "$out"
}

# $1 = batch (0 = per item), with p after it: depot.Client(pipeline_puts=True), with h:
# pipeline_puts="hold"
depot_run() {
  local batch=${1%[ph]} prefix="run$RANDOM-" pids=() p out pipe=()
  [[ $1 == *p ]] && pipe=(--pipeline-puts)
  [[ $1 == *h ]] && pipe=(--hold-puts)
  out=$WORK/depot_master.$RANDOM.out
  for ((w = 0; w < WORKERS; w++)); do
    timeout "$LIMIT" "$PYTHON" "$BENCH_DIR/python/depot_seed.py" worker \
      --address "127.0.0.1:$MANAGER_PORT" --authkey "$AUTHKEY" --prefix "$prefix" \
      --batch "$batch" --timeout 1 "${pipe[@]}" >"$WORK/depot_worker.$w.out" 2>&1 &
    pids+=($!)
  done
  sleep 1.0  # the workers start (imports) and park in get() before the first put
  timeout "$LIMIT" "$PYTHON" "$BENCH_DIR/python/depot_seed.py" master \
    --address "127.0.0.1:$MANAGER_PORT" --authkey "$AUTHKEY" --prefix "$prefix" \
    --tasks "$TASKS" --batch "$batch" "${pipe[@]}" >"$out" 2>&1 || { cat "$out" >&2; return 1; }
  for p in "${pids[@]}"; do wait "$p" || true; done
  awk '/^tasks_per_s/ {print $2}' "$out"
}

echo "# seed 004 exchange: Python multiprocessing.managers vs the depot Python client"
echo
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo "commit: $(git -C "$BENCH_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)," \
  "$("$PYTHON" --version), $TASKS tasks, $WORKERS workers, median of $RUNS runs"
start_manager
MODES=(0 0p 0h)
for b in $BATCHES; do MODES+=("$b" "${b}p" "${b}h"); done
for ((i = 0; i < RUNS; i++)); do
  python_run >>"$WORK/py.runs"
  for b in "${MODES[@]}"; do depot_run "$b" >>"$WORK/depot.$b.runs"; done
done
check_manager
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo
PY=$(median <"$WORK/py.runs")
echo "| exchange | tasks/s (runs) | vs Python | target | met |"
echo "|---|---:|---:|---:|---|"
printf '| Python multiprocessing.managers (seed) | %.0f (%s) | 1.00x | - | - |\n' "$PY" \
  "$(sort -g "$WORK/py.runs" | xargs printf '%.0f ' | sed 's/ $//')"
for b in "${MODES[@]}"; do
  v=$(median <"$WORK/depot.$b.runs")
  runs=$(sort -g "$WORK/depot.$b.runs" | xargs printf '%.0f ' | sed 's/ $//')
  if [[ ${b%[ph]} == 0 ]]; then label="depot Python client, per item (put/get)"; target=3
  else label="depot Python client, batch ${b%[ph]} (put_many/get_many)"; target=50; fi
  [[ $b == *p ]] && label+=", pipeline_puts=True"
  [[ $b == *h ]] && label+=", pipeline_puts=\"hold\""
  awk -v l="$label" -v v="$v" -v py="$PY" -v t="$target" -v runs="$runs" 'BEGIN {
    r = v / py; printf "| %s | %.0f (%s) | %.1fx | %dx | %s |\n", l, v, runs, r, t, (r >= t ? "yes" : "no") }'
done
