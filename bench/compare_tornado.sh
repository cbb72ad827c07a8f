#!/usr/bin/env bash
# compare_tornado.sh: seed 002's tornado experiment, the same application and the same
# measurements (python/examples/tornado_fib.py's make_app and experiment) with /fib on:
#   inline  the server's own loop (the seed's "before")
#   dask    LocalCluster(n_workers=2, threads_per_worker=1) + Client(asynchronous=True),
#           bench/python/tornado_dask.py (the seed's "after")
#   depot   a depot-manager and 2 Python workers (python/examples/pool_worker.py), the
#           example itself: tornado_fib.py --measure
# each pure (identical requests share one task: the seed's default, and depot's) and
# --impure (every request its own task). One at a time; median of RUNS per figure.
#
#   BUILD=build-dir bench/compare_tornado.sh
#
# Figures: CONC simultaneous GET /fib/BURST (the seed: 20 x /fib/28), GET /fast while a GET
# /fib/SLOW runs (the seed: /fib/35; timed from 5 ms after the /fib was sent), /fast alone
# and 100 at once, and the submit -> await round trip (median of 50 in each run).
# Environment: BUILD, RUNS (default 3), CONC (20), BURST (28), SLOW (35), LIMIT (seconds per
# program, 600).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need "$MANAGER" "$PYTHON"
"$PYTHON" -c 'import tornado, distributed' 2>/dev/null ||
  { echo "bench: needs Debian's python3-tornado and python3-distributed" >&2 && exit 1; }

RUNS=${RUNS:-3}
CONC=${CONC:-20}
BURST=${BURST:-28}
SLOW=${SLOW:-35}
LIMIT=${LIMIT:-600}
EXAMPLES=$BENCH_DIR/../python/examples
SIZES=(--conc "$CONC" --burst "$BURST" --slow "$SLOW")

echo "# seed 002: tornado with /fib inline, on dask, on depot"
echo
machine_note
echo "commit: $(git -C "$BENCH_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)," \
  "$("$PYTHON" --version), tornado $("$PYTHON" -c 'import tornado; print(tornado.version)')," \
  "dask $("$PYTHON" -c 'import distributed; print(distributed.__version__)'), median of $RUNS runs"
echo

start_manager
start_python_pool_workers 2 pool

# one LABEL COMMAND...: one run, its key=value lines as "LABEL key value" rows in FIGURES.
FIGURES=$WORK/figures.tsv
: >"$FIGURES"
one() {
  local label=$1 out=$WORK/run.out
  shift
  timeout "$LIMIT" "$@" >"$out" 2>"$WORK/run.err" || {
    echo "bench: $label failed:" >&2
    cat "$out" "$WORK/run.err" >&2
    exit 1
  }
  grep -q '^fast_first=' "$out" || { echo "bench: $label printed no figures" >&2 && exit 1; }
  sed -n 's/^\([a-z_0-9]*\)=\(.*\)$/\1\t\2/p' "$out" | awk -v l="$label" -v OFS='\t' '{print l, $1, $2}' >>"$FIGURES"
}
for ((i = 0; i < RUNS; i++)); do
  one inline env PYTHONPATH="$EXAMPLES" "$PYTHON" "$BENCH_DIR/python/tornado_dask.py" inline "${SIZES[@]}"
  for purity in pure impure; do
    flag=()
    [[ $purity == impure ]] && flag=(--impure)
    one "dask $purity" env PYTHONPATH="$EXAMPLES" "$PYTHON" "$BENCH_DIR/python/tornado_dask.py" dask "${flag[@]}" "${SIZES[@]}"
    one "depot $purity" env DEPOT_ADDRESS="127.0.0.1:$MANAGER_PORT" DEPOT_AUTHKEY="$AUTHKEY" \
      PYTHONPATH="$BENCH_DIR/../python" "$PYTHON" "$EXAMPLES/tornado_fib.py" --measure --port 0 "${flag[@]}" "${SIZES[@]}"
  done
  check_manager
done

# med LABEL KEY: the median of KEY over LABEL's runs (true/false: how many of them were true).
med() {
  awk -F'\t' -v l="$1" -v k="$2" '$1 == l && $2 == k {v[++n] = $3}
    END { if (v[1] == "True" || v[1] == "False") { t = 0; for (i = 1; i <= n; i++) t += v[i] == "True"; printf "%d of %d", t, n; exit }
          for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { x = v[j]; v[j] = v[j - 1]; v[j - 1] = x }
          printf "%.4g", n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }' "$FIGURES"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", a / b }'; }

row() {  # row TITLE KEY UNIT
  local p
  printf '| %s | %s |' "$1" "$(med inline "$2")"
  for p in pure impure; do
    printf ' %s | %s | %s |' "$(med "dask $p" "$2")" "$(med "depot $p" "$2")" \
      "$(ratio "$(med "dask $p" "$2")" "$(med "depot $p" "$2")")"
  done
  echo
}
echo "| figure | inline | dask (pure) | depot (pure) | dask / depot | dask (impure) | depot (impure) | dask / depot |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
row "$CONC x /fib/$BURST at once, s" burst_s
row "/fast while /fib/$SLOW runs, s" fast_while_slow_s
row "/fib/$SLOW alone, s" slow_s
row "/fast alone, s" fast_1_s
row "100 x /fast at once, s" fast_100_s
row "submit -> await round trip, ms" roundtrip_ms
printf '| /fast answered before /fib/%s | %s |' "$SLOW" "$(med inline fast_first)"
for p in pure impure; do printf ' %s | %s | - |' "$(med "dask $p" fast_first)" "$(med "depot $p" fast_first)"; done
echo
echo
echo "Commands (port and key vary per run):"
echo '```'
echo "depot-manager --address 127.0.0.1:0 --authkey KEY --log-level warn"
echo "DEPOT_POOL=pool python3 python/examples/pool_worker.py   # x 2"
echo "python3 python/examples/tornado_fib.py --measure --port 0 [--impure] ${SIZES[*]}"
echo "PYTHONPATH=python/examples python3 bench/python/tornado_dask.py dask|inline [--impure] ${SIZES[*]}"
echo '```'
