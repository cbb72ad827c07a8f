#!/usr/bin/env bash
# client_cpu.sh: CPU time and syscalls per call of seed 004's calls, depot Python client
# against Python's multiprocessing.managers, same interpreter. CPU time and syscall counts,
# not wall time: it may run on a busy machine (the syscall counts are exact; CPU times still
# move with the load on a shared VM, so run it more than once).
#
#   BUILD=build-dir bench/client_cpu.sh
#
# Each op (bench/python/client_cpu.py: put, get, worker) runs CALLS calls against a server
# started here: a depot-manager with --busy-poll-us 0 (its polling would add CPU time that
# depends on the load), and a BaseManager serving two queue.Queue. Prints the client's CPU
# time per call (time.process_time), the server's (/proc/PID/stat), and the client's
# syscalls per call (strace -f, counted between the marks around the timed calls).
#
# Environment: CALLS (default 20000), DEPOT_PYTHONPATH (the depot package to measure,
# default python/ of this checkout), OPS (default "put get worker"), NO_PIPELINE=1 (the
# depot client with pipeline_puts=False as well), EXCHANGE=0 (skip the whole exchange at
# the end), TASKS (its tasks, default 10000), PYTHON (default /usr/bin/python3).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need "$MANAGER" "$PYTHON" strace

CALLS=${CALLS:-20000}
OPS=${OPS:-"put get worker"}
DEPOT_PYTHONPATH=${DEPOT_PYTHONPATH:-$BENCH_DIR/../python}
CPU=$BENCH_DIR/python/client_cpu.py

# syscalls MODE OP EXTRA...: the client's syscalls per timed call (strace -f of every thread;
# counted between the marks client_cpu.py makes), the total and the four most frequent.
syscalls() {
  local mode=$1 op=$2
  shift 2
  PYTHONPATH=$DEPOT_PYTHONPATH strace -f -o "$WORK/strace.log" "$PYTHON" "$CPU" "$mode" \
    --op "$op" --calls "$CALLS" --prefix "s$RANDOM-" "$@" >/dev/null
  awk -v n="$CALLS" '
    /client-cpu-mark-start/ { on = 1; next }
    /client-cpu-mark-end/ { on = 0 }
    on && !/resumed>/ && !/\+\+\+|---/ {
      s = $2; sub(/\(.*/, "", s); count[s]++; total++ }
    END {
      printf "%.2f", total / n
      for (k in count) printf "\n%s %.2f", k, count[k] / n
    }' "$WORK/strace.log" | {
    read -r total
    printf '%s' "$total"
    sort -k2 -g -r | head -4 | awk '{printf " %s=%s", $1, $2}'
  }
}

echo "# CPU time and syscalls per call: depot Python client vs multiprocessing.managers"
echo "commit $(git -C "$BENCH_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)," \
  "$("$PYTHON" --version), $CALLS calls per op, depot package: $DEPOT_PYTHONPATH"
start_manager --busy-poll-us 0
port=$(free_port)
"$PYTHON" "$CPU" serve-managers --address "127.0.0.1:$port" --authkey "$AUTHKEY" \
  >"$WORK/mp.log" 2>&1 &
MP_PID=$!
PIDS+=("$MP_PID")
wait_for_line "$WORK/mp.log" '^ready' 20

echo
echo "| client | op | client CPU us/call | server CPU us/call | client syscalls/call (top) |"
echo "|---|---|---:|---:|---|"
row() {  # row LABEL MODE OP ADDRESS SERVER_PID EXTRA...
  local label=$1 mode=$2 op=$3 addr=$4 spid=$5 out sc
  shift 5
  out=$(PYTHONPATH=$DEPOT_PYTHONPATH "$PYTHON" "$CPU" "$mode" --address "$addr" \
    --authkey "$AUTHKEY" --op "$op" --calls "$CALLS" --server-pid "$spid" "$@")
  sc=$(syscalls "$mode" "$op" --address "$addr" --authkey "$AUTHKEY" "$@")
  echo "$out" | awk -v l="$label" -v op="$op" -v sc="$sc" '{
    for (i = 1; i <= NF; i++) { if ($i == "client") c = $(i + 2); if ($i == "server") s = $(i + 2) }
    printf "| %s | %s | %s | %s | %s |\n", l, op, c, s, sc }'
}
for op in $OPS; do
  row "multiprocessing.managers" managers "$op" "127.0.0.1:$port" "$MP_PID"
  row "depot" depot "$op" "127.0.0.1:$MANAGER_PORT" "$MANAGER_PID"
  if [[ ${NO_PIPELINE:-0} == 1 ]]; then
    row "depot, pipeline_puts=False" depot "$op" "127.0.0.1:$MANAGER_PORT" "$MANAGER_PID" \
      --no-pipeline
  fi
done

# The whole exchange (EXCHANGE=1, the default): seed 004 once per system, TASKS tasks, 2
# workers (bench/python/seed_*.py, depot_seed.py per item): the CPU time of all its processes
# (master, workers, server; interpreter start-ups included) per task.
[[ ${EXCHANGE:-1} == 1 ]] || exit 0
TASKS=${TASKS:-10000}
proc_cpu() { awk -v hz="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); print ($12 + $13) / hz}' "/proc/$1/stat"; }
# The CPU time of this (sub)shell's finished children: `times` must run in it, not in a pipe.
children_cpu() {
  local f=$WORK/times.$BASHPID
  times >"$f"
  tail -1 "$f" | awk '{split($0, f, /[ ms]+/); print f[1] * 60 + f[2] + f[3] * 60 + f[4]}'
}
exchange_managers() {
  local port
  port=$(free_port)
  (
    "$PYTHON" "$BENCH_DIR/python/seed_master.py" --port "$port" --authkey "$AUTHKEY" \
      --tasks "$TASKS" --start-delay 1.0 >"$WORK/xm.out" 2>&1 &
    wait_for_line "$WORK/xm.out" '^ready' 20 >/dev/null
    for w in 1 2; do
      "$PYTHON" "$BENCH_DIR/python/seed_worker.py" --port "$port" --authkey "$AUTHKEY" \
        --timeout 1 --first-timeout 10 >/dev/null 2>&1 &
    done
    wait
    children_cpu
  )
}
exchange_depot() {
  local prefix="x$RANDOM-" m0 t m1
  m0=$(proc_cpu "$MANAGER_PID")
  t=$(
    export PYTHONPATH=$DEPOT_PYTHONPATH
    for w in 1 2; do
      "$PYTHON" "$BENCH_DIR/python/depot_seed.py" worker --address "127.0.0.1:$MANAGER_PORT" \
        --authkey "$AUTHKEY" --prefix "$prefix" --timeout 1 >/dev/null 2>&1 &
    done
    sleep 1.0
    "$PYTHON" "$BENCH_DIR/python/depot_seed.py" master --address "127.0.0.1:$MANAGER_PORT" \
      --authkey "$AUTHKEY" --prefix "$prefix" --tasks "$TASKS" >"$WORK/xd.out" 2>&1
    wait
    children_cpu
  )
  m1=$(proc_cpu "$MANAGER_PID")
  awk -v t="$t" -v a="$m0" -v b="$m1" 'BEGIN {print t + b - a}'
}
echo
echo "| seed 004 exchange, $TASKS tasks, 2 workers | CPU s, all processes | CPU us per task |"
echo "|---|---:|---:|"
for label in managers depot; do
  s=$("exchange_$label")
  awk -v l="$label" -v s="$s" -v n="$TASKS" 'BEGIN {printf "| %s | %.2f | %.0f |\n", l, s, s / n * 1e6}'
done
