# shellcheck shell=bash disable=SC2034  # sourced: the variables are used by the scripts
# Helpers shared by the bench/*.sh scripts: paths, free ports, starting and stopping the
# servers they compare. Sourced, never run. Every server started here is recorded in PIDS
# and killed by the EXIT trap, so an interrupted run leaves nothing behind.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${BUILD:-$BENCH_DIR/../build}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || {
  echo "bench: build directory '$BUILD' not found; build first or set BUILD=" >&2
  exit 1
}
MANAGER=$BUILD/bin/depot-manager
DEPOT_BENCHMARK=$BUILD/bin/depot-benchmark
TCP_PINGPONG=$BUILD/bin/tcp-pingpong
PAIR_BENCH=$BUILD/bin/depot-pair-bench
PYTHON=${PYTHON:-/usr/bin/python3}
AUTHKEY=${AUTHKEY:-bench-$$-$RANDOM}

PIDS=()
WORK=$(mktemp -d /tmp/depot-bench.XXXXXX)

cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need() {
  local f
  for f in "$@"; do
    if [[ ! -x $f ]] && ! command -v "$f" >/dev/null; then
      echo "bench: '$f' is missing (build the bench targets / apt-get install redis-server redis-tools)" >&2
      exit 1
    fi
  done
}

# auth_of K: the -a argument for server K of a script's PROTOS: depot's authkey for depot, none
# for the others (an -a makes depot-benchmark send AUTH to Redis, which has no password here).
auth_of() {
  [[ ${PROTOS[$1]} == depot ]] && printf -- '-a %s' "$AUTHKEY"
  return 0
}

# A TCP port that is free right now on 127.0.0.1.
free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until a line matching $2 appears in file $1 (at most $3 seconds, default 10).
wait_for_line() {
  local file=$1 pattern=$2 limit=${3:-10} i
  for ((i = 0; i < limit * 20; i++)); do
    grep -q -- "$pattern" "$file" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench: timed out waiting for '$pattern' in $file:" >&2
  cat "$file" >&2
  return 1
}

# start_manager FLAGS...: starts depot-manager on a free port; sets MANAGER_PID, MANAGER_PORT.
start_manager() {
  MANAGER_LOG=$WORK/manager.$RANDOM.log
  "$MANAGER" --address 127.0.0.1:0 --authkey "$AUTHKEY" --log-level warn "$@" >"$MANAGER_LOG" 2>&1 &
  MANAGER_PID=$!
  PIDS+=("$MANAGER_PID")
  wait_for_line "$MANAGER_LOG" '^ready' 10
  MANAGER_PORT=$(sed -n 's/^depot-manager listening on .*:\([0-9]*\)$/\1/p' "$MANAGER_LOG")
}

# Fails loudly when the manager is gone (crashed, or killed by someone else): its figures
# would be meaningless.
# start_pool_workers N: N single-threaded task_pool workers on the manager of start_manager
# (TASK_POOL names the program), each waited for until it serves.
start_pool_workers() {
  local w
  for w in $(seq 1 "$1"); do
    "$TASK_POOL" --address "127.0.0.1:$MANAGER_PORT" --authkey "$AUTHKEY" --threads 1 \
      >"$WORK/task_pool.$w.log" 2>&1 &
    PIDS+=($!)
    wait_for_line "$WORK/task_pool.$w.log" 'serving pool' 10
  done
}

# start_python_pool_workers N POOL: N python/examples/pool_worker.py processes serving POOL on
# the manager of start_manager, each waited for until it serves.
start_python_pool_workers() {
  local w
  for w in $(seq 1 "$1"); do
    DEPOT_ADDRESS=127.0.0.1:$MANAGER_PORT DEPOT_AUTHKEY=$AUTHKEY DEPOT_POOL=$2 \
      PYTHONPATH=$BENCH_DIR/../python "$PYTHON" "$BENCH_DIR/../python/examples/pool_worker.py" \
      >"$WORK/pool_worker.$2.$w.log" 2>&1 &
    PIDS+=($!)
    wait_for_line "$WORK/pool_worker.$2.$w.log" '^pool_worker: serving' 20
  done
}

check_manager() {
  if ! kill -0 "$MANAGER_PID" 2>/dev/null; then
    local st=0
    wait "$MANAGER_PID" 2>/dev/null || st=$?
    echo "bench: depot-manager (pid $MANAGER_PID) died with status $st; its log:" >&2
    cat "$MANAGER_LOG" >&2
    exit 1
  fi
}

# start_redis: starts redis-server on a free port; sets REDIS_PID, REDIS_PORT.
start_redis() {
  REDIS_PORT=$(free_port)
  local log=$WORK/redis.$REDIS_PORT.log
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no >"$log" 2>&1 &
  REDIS_PID=$!
  PIDS+=("$REDIS_PID")
  wait_for_line "$log" 'Ready to accept connections' 10
}

stop_pid() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# CPU time (user + system) a process has used, in clock ticks (getconf CLK_TCK per second).
cpu_ticks() {
  awk '{print $14 + $15}' "/proc/$1/stat"
}

# VmRSS of a process in KiB.
rss_kib() {
  awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

# One line about the machine's state: a loaded machine gives noisy figures.
median_rows() {  # median_rows FILE KEY VALUE: per KEY column value, the row of the median VALUE
  sort -t$'\t' -k"$2,$2" -k"$3,$3g" "$1" | awk -F'\t' -v key="$2" \
    '{rows[$key] = rows[$key] $0 "\n"; cnt[$key]++}
     END {for (t in rows) {split(rows[t], r, "\n"); print r[int((cnt[t] + 1) / 2)]}}'
}

machine_note() {
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
}
