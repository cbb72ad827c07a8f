#!/usr/bin/env bash
# web_fib_bench.sh: seed 002 (a web server with a fast page and a slow Fibonacci page) with
# depot: samples/web_fib computing /fib in its handler (--inline, the seed's blocking
# baseline: one request thread like the seed's Tornado loop) against web_fib offloading
# /fib to 2 task_pool worker processes through a depot-manager.
#
#   BUILD=build-dir bench/web_fib_bench.sh
#
# Figures, as in the seed (median of RUNS):
#   1. CONC simultaneous GET /fib/N total wall time, N in FIB_NS (the seed: 20 x /fib/28)
#   2. GET /fast latency while a GET /fib/M runs, M in SLOW_NS (the seed: /fib/35): the
#      /fast request is sent DELAY_MS after the /fib one.
# Servers: inline (--inline, 1 thread); inline with 64 request threads (POCO's pool computing
# in parallel on this machine's cores); offloaded, pure (identical requests share one task,
# as dask's pure submit does in the seed); offloaded --impure (every request its own task).
# The load generator is Python (stdlib urllib + threads), written to the work directory.
#
# Environment: BUILD, RUNS (default 5), CONC (20), FIB_NS ("28 32"), SLOW_NS ("35 40"),
# DELAY_MS (5), LIMIT (seconds per load run, 300).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
TASK_POOL=$BUILD/bin/task_pool
WEB_FIB=$BUILD/bin/web_fib
need "$MANAGER" "$TASK_POOL" "$WEB_FIB" "$PYTHON"

RUNS=${RUNS:-5}
CONC=${CONC:-20}
FIB_NS=${FIB_NS:-"28 32"}
SLOW_NS=${SLOW_NS:-"35 40"}
DELAY_MS=${DELAY_MS:-5}
LIMIT=${LIMIT:-300}

LOAD=$WORK/load.py
cat >"$LOAD" <<'EOF'
"""burst URL N RUNS: N simultaneous GETs, total wall time (median of RUNS), in ms.
fastwhile SLOW FAST RUNS DELAY_MS: FAST's latency while SLOW runs; medians, in ms."""
import statistics, sys, threading, time, urllib.request

def fetch(url):
    with urllib.request.urlopen(url, timeout=120) as r:
        if r.status != 200:
            raise SystemExit("%s: HTTP %d" % (url, r.status))
        return r.read()

def burst(url, n):
    go = threading.Barrier(n + 1)
    bodies = [None] * n
    def one(i):
        go.wait()
        bodies[i] = fetch(url)
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    go.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    dt = time.perf_counter() - t0
    if len(set(bodies)) != 1 or None in bodies:
        raise SystemExit("%s: answers differ: %r" % (url, set(bodies)))
    return dt * 1e3

def fastwhile(slow, fast, delay):
    out = {}
    def run_slow():
        t0 = time.perf_counter()
        fetch(slow)
        out["slow"] = (time.perf_counter() - t0) * 1e3
    t = threading.Thread(target=run_slow)
    t.start()
    time.sleep(delay / 1e3)
    t0 = time.perf_counter()
    fetch(fast)
    fast_ms = (time.perf_counter() - t0) * 1e3
    t.join()
    return fast_ms, out["slow"]

mode = sys.argv[1]
if mode == "burst":
    url, n, runs = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    fetch(url)  # warm up (and check) once
    v = [burst(url, n) for _ in range(runs)]
    print("burst_ms median=%.1f min=%.1f max=%.1f" % (statistics.median(v), min(v), max(v)))
else:
    slow, fast, runs, delay = sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    fetch(fast)
    r = [fastwhile(slow, fast, delay) for _ in range(runs)]
    print("fast_ms median=%.2f max=%.2f slow_ms median=%.1f"
          % (statistics.median(x[0] for x in r), max(x[0] for x in r),
             statistics.median(x[1] for x in r)))
EOF

# start_web NAME FLAGS...: web_fib on a free port; sets WEB_PORT.
start_web() {
  local name=$1 log
  shift
  log=$WORK/web.$name.log
  "$WEB_FIB" --address "127.0.0.1:$MANAGER_PORT" --authkey "$AUTHKEY" --port 0 "$@" >"$log" 2>&1 &
  PIDS+=($!)
  wait_for_line "$log" '^listening on' 10
  WEB_PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$log")
}

echo "# seed 002: web server + offloaded fib, depot"
echo
machine_note
echo "commit: $(git -C "$BENCH_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)," \
  "$("$PYTHON" --version), median of $RUNS runs, $CONC simultaneous requests"
echo

start_manager
start_pool_workers 2

NAMES=(inline inline-64 offload offload-impure)
LABELS=("inline, 1 request thread (seed baseline)" "inline, 64 request threads"
  "offloaded to 2 task_pool, pure" "offloaded to 2 task_pool, --impure")
FLAGS=("--inline" "--inline --threads 64" "" "--impure")
WEB_PORTS=()
for ((k = 0; k < ${#NAMES[@]}; k++)); do
  # shellcheck disable=SC2086  # the flags are words
  start_web "${NAMES[k]}" ${FLAGS[k]}
  WEB_PORTS+=("$WEB_PORT")
done

echo "## 1. $CONC simultaneous GET /fib/N, total wall time (ms)"
echo
printf '| server |'
for n in $FIB_NS; do printf ' /fib/%s x %s |' "$n" "$CONC"; done
echo
printf '|---|'
for _ in $FIB_NS; do printf -- '---:|'; done
echo
for ((k = 0; k < ${#NAMES[@]}; k++)); do
  printf '| %s |' "${LABELS[k]}"
  for n in $FIB_NS; do
    r=$(timeout "$LIMIT" "$PYTHON" "$LOAD" burst "http://127.0.0.1:${WEB_PORTS[k]}/fib/$n" "$CONC" "$RUNS")
    printf ' %s |' "$(awk '{split($2, a, "="); print a[2]}' <<<"$r")"
  done
  echo
done
check_manager
echo
echo "## 2. GET /fast latency while a GET /fib/M runs (sent ${DELAY_MS} ms after it), ms"
echo
printf '| server |'
for m in $SLOW_NS; do printf ' /fast during /fib/%s | /fib/%s itself |' "$m" "$m"; done
echo
printf '|---|'
for _ in $SLOW_NS; do printf -- '---:|---:|'; done
echo
for ((k = 0; k < ${#NAMES[@]}; k++)); do
  [[ ${NAMES[k]} == offload-impure ]] && continue  # one request at a time: same as pure
  printf '| %s |' "${LABELS[k]}"
  for m in $SLOW_NS; do
    r=$(timeout "$LIMIT" "$PYTHON" "$LOAD" fastwhile "http://127.0.0.1:${WEB_PORTS[k]}/fib/$m" \
      "http://127.0.0.1:${WEB_PORTS[k]}/fast" "$RUNS" "$DELAY_MS")
    printf ' %s | %s |' "$(awk '{split($2, a, "="); print a[2]}' <<<"$r")" \
      "$(awk '{split($5, a, "="); print a[2]}' <<<"$r")"
  done
  echo
done
check_manager
echo
echo "Commands (ports and key vary per run):"
echo '```'
echo "depot-manager --address 127.0.0.1:0 --authkey KEY --log-level warn"
echo "task_pool --address 127.0.0.1:PORT --authkey KEY --threads 1   # x 2"
for ((k = 0; k < ${#NAMES[@]}; k++)); do
  echo "web_fib --address 127.0.0.1:PORT --authkey KEY --port 0 ${FLAGS[k]}   # ${LABELS[k]}"
done
echo "load.py burst http://127.0.0.1:WEB/fib/N $CONC $RUNS                # N: $FIB_NS"
echo "load.py fastwhile http://127.0.0.1:WEB/fib/M http://127.0.0.1:WEB/fast $RUNS $DELAY_MS   # M: $SLOW_NS"
echo '```'
