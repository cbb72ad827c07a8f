#!/usr/bin/env bash
# compare_managers.sh: seed 004's master/worker exchange over Python's
# multiprocessing.managers and over depot, in one run.
#
#   BUILD=build-dir bench/compare_managers.sh
#
# Each run: TASKS tasks, WORKERS workers, no sleep in the workers; the master times itself
# from its first put to its last result (bench/python/seed_master.py, bench/pair_bench.cpp).
# Python: seed_master.py serves two queue.Queue from a BaseManager (manager.start(), as in
# the seed). depot: a depot-manager process, per-item (put/get) and batch (put_many/get_many
# of B items per call). Prints tasks/s and the ratios to Python; targets: per-item >= 4x,
# batch >= 100x.
#
# Environment:
#   BUILD                 build directory (default: ../build next to this script)
#   DEPOT_MANAGER_FLAGS   manager flag sets separated by ';' (default
#                         "--busy-poll-us 50;--busy-poll-us 0": the default, then off)
#   CLIENT_SPIN_US        the depot clients' ClientOptions::spin (default 50, the default)
#   TASKS WORKERS         default 10000 and 2
#   BATCHES               batch sizes for the batch mode (default "100 1000")
#   RUNS                  runs per figure; the median is reported (default 3)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need "$MANAGER" "$PAIR_BENCH" "$TCP_PINGPONG" "$PYTHON"

DEPOT_MANAGER_FLAGS=${DEPOT_MANAGER_FLAGS:-"--busy-poll-us 50;--busy-poll-us 0"}
# The client's ClientOptions::spin for the depot pair (its default is 50).
CLIENT_SPIN_US=${CLIENT_SPIN_US:-50}
TASKS=${TASKS:-10000}
WORKERS=${WORKERS:-2}
BATCHES=${BATCHES:-"100 1000"}
RUNS=${RUNS:-3}
LIMIT=${LIMIT:-60}
IFS=';' read -r -a FLAGSETS <<<"$DEPOT_MANAGER_FLAGS"

median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# One run of the Python pair; prints tasks/s.
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

# One run of the depot pair against the manager on port $1; $2 = batch (0 = per item).
depot_run() {
  local port=$1 batch=$2 prefix="run$RANDOM-" pids=() p out overlap=0
  if [[ $batch == ov ]]; then  # per item, the master's put and get loops on two threads
    batch=0
    overlap=1
  fi
  out=$WORK/depot_master.$RANDOM.out
  for ((w = 0; w < WORKERS; w++)); do
    timeout "$LIMIT" "$PAIR_BENCH" worker --address "127.0.0.1:$port" --authkey "$AUTHKEY" \
      --batch "$batch" --prefix "$prefix" --timeout-ms 500 --spin-us "$CLIENT_SPIN_US" >"$WORK/depot_worker.$w.out" 2>&1 &
    pids+=($!)
  done
  sleep 0.2  # the workers connect and park in get() before the first put
  timeout "$LIMIT" "$PAIR_BENCH" master --address "127.0.0.1:$port" --authkey "$AUTHKEY" \
    --tasks "$TASKS" --batch "$batch" --prefix "$prefix" --spin-us "$CLIENT_SPIN_US" \
    --overlap "$overlap" >"$out" 2>&1 || { cat "$out" >&2; return 1; }
  for p in "${pids[@]}"; do wait "$p" || true; done
  awk '/^tasks_per_s/ {print $2}' "$out"
}

echo "# seed 004 exchange: Python multiprocessing.managers vs depot"
echo
machine_note
echo "commit: $(git -C "$BENCH_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)," \
  "$("$PYTHON" --version), $TASKS tasks, $WORKERS workers, median of $RUNS runs"
echo

# All managers run side by side and the runs are interleaved (one round = the Python pair,
# then every depot variant once), so a drift of this VM's speed hits all of them alike.
LABELS=()
PORTS=()
MPIDS=()
MLOGS=()
for flags in "${FLAGSETS[@]}"; do
  # shellcheck disable=SC2086  # the flags are words
  start_manager $flags
  LABELS+=("${flags:-(defaults)}")
  PORTS+=("$MANAGER_PORT")
  MPIDS+=("$MANAGER_PID")
  MLOGS+=("$MANAGER_LOG")
done
read -r -a MODES <<<"0 ov $BATCHES"  # 0 = per item, ov = per item with an overlapped master

for ((i = 0; i < RUNS; i++)); do
  timeout "$LIMIT" "$TCP_PINGPONG" -n 20000 -s 16 -q >>"$WORK/pp.runs"
  timeout "$LIMIT" "$TCP_PINGPONG" -n 20000 -s 16 -q --busy-server >>"$WORK/ppbusy.runs"
  python_run >>"$WORK/py.runs"
  for ((k = 0; k < ${#PORTS[@]}; k++)); do
    for b in "${MODES[@]}"; do
      depot_run "${PORTS[k]}" "$b" >>"$WORK/depot.$k.$b.runs"
    done
  done
done
for ((k = 0; k < ${#MPIDS[@]}; k++)); do
  MANAGER_PID=${MPIDS[k]} MANAGER_LOG=${MLOGS[k]} check_manager
done

PY=$(median <"$WORK/py.runs")
PP=$(median <"$WORK/pp.runs")
PPBUSY=$(median <"$WORK/ppbusy.runs")
ROWS=$WORK/rows.tsv
: >"$ROWS"
for ((k = 0; k < ${#PORTS[@]}; k++)); do
  for b in "${MODES[@]}"; do
    v=$(median <"$WORK/depot.$k.$b.runs")
    if [[ $b == 0 ]]; then
      printf 'depot per-item (put/get)\t%s\t%s\t4\n' "${LABELS[k]}" "$v" >>"$ROWS"
    elif [[ $b == ov ]]; then
      printf 'depot per-item, master put and get loops on 2 threads\t%s\t%s\t4\n' "${LABELS[k]}" "$v" >>"$ROWS"
    else
      printf 'depot batch %s (put_many/get_many)\t%s\t%s\t100\n' "$b" "${LABELS[k]}" "$v" >>"$ROWS"
    fi
  done
done

echo "| exchange | manager flags | tasks/s | vs Python | target | met |"
echo "|---|---|---:|---:|---:|---|"
printf '| Python multiprocessing.managers (seed) | - | %.0f | 1.00x | - | - |\n' "$PY"
awk -F'\t' -v py="$PY" '{
  r = $3 / py
  printf "| %s | %s | %.0f | %.1fx | %dx | %s |\n", $1, $2, $3, r, $4, (r >= $4 ? "yes" : "no")
}' "$ROWS"
echo
# Per item, the master makes 2 synchronous round trips per task (put, then get of the
# result), one after the other: the raw loopback round trip bounds every manager, Python's
# as much as depot's. Which round trip applies depends on whether the peer sleeps between
# messages (an idle vCPU of this VM is slow to wake) or finds the CPU already running.
awk -v pp="$PP" -v pb="$PPBUSY" -v py="$PY" 'BEGIN {
  printf "Bound for any synchronous per-item exchange: the master alone makes 2 round trips per\n"
  printf "task. At this run'"'"'s raw TCP ping-pong (median of one per round) that allows at most\n"
  printf "%.0f tasks/s (%.1fx Python) with a sleeping peer (%.1f us round trip) and %.0f tasks/s\n", 1e6 / (2 * pp), 1e6 / (2 * pp) / py, pp, 1e6 / (2 * pb)
  printf "(%.1fx Python) with a spinning one (%.1f us), before the manager or the workers do anything.\n", 1e6 / (2 * pb) / py, pb
}'
echo
echo "Commands (ports, key and queue prefix vary per run):"
echo '```'
echo "tcp-pingpong -n 20000 -s 16 -q [--busy-server]   # once per round"
echo "$PYTHON bench/python/seed_master.py --port PORT --authkey KEY --tasks $TASKS --start-delay 1.0"
echo "$PYTHON bench/python/seed_worker.py --port PORT --authkey KEY --timeout 1 --first-timeout 10   # x $WORKERS"
echo "depot-manager --address 127.0.0.1:0 --authkey KEY --log-level warn FLAGS   # FLAGS: $DEPOT_MANAGER_FLAGS"
echo "depot-pair-bench worker --address 127.0.0.1:PORT --authkey KEY --batch B --prefix P --timeout-ms 500 --spin-us $CLIENT_SPIN_US   # x $WORKERS"
echo "depot-pair-bench master --address 127.0.0.1:PORT --authkey KEY --tasks $TASKS --batch B --prefix P --spin-us $CLIENT_SPIN_US [--overlap 1]   # B = 0 (per item), $BATCHES; --overlap 1: put and get loops on two threads"
echo '```'
