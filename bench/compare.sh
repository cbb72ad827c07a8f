#!/usr/bin/env bash
# compare.sh: depot-benchmark against redis-benchmark, in one run, on loopback.
#
#   BUILD=build-dir bench/compare.sh
#
# Runs redis-benchmark -t lpush,rpop and depot-benchmark -t put,get at the same -c/-n/-P/-d
# for (-c 50 -P 1), (-c 50 -P 16) and (-c 1 -P 1), plus the raw TCP ping-pong baseline, and
# prints markdown tables of both figures with their ratios. It builds nothing.
#
# Environment:
#   BUILD                 build directory (default: ../build next to this script)
#   DEPOT_MANAGER_FLAGS   manager flag sets to compare, separated by ';', one fresh manager
#                         each (default "--busy-poll-us 50;--busy-poll-us 0": the default, then off)
#   DATASIZE              payload bytes, -d (default 16)
#   N_C50 N_C50_P16 N_C1  -n of the three configurations (default 100000 1000000 20000)
#   RUNS                  runs per figure; the median run (by rps) is reported (default 3)
#   BASELINE_MANAGER      another depot-manager binary (an earlier commit's build) to run
#                         beside this build's with the same flag sets and the same client, so
#                         a change is compared before/after in one run (labelled "baseline")
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need "$MANAGER" "$DEPOT_BENCHMARK" "$TCP_PINGPONG" redis-server redis-benchmark redis-cli

DEPOT_MANAGER_FLAGS=${DEPOT_MANAGER_FLAGS:-"--busy-poll-us 50;--busy-poll-us 0"}
DATASIZE=${DATASIZE:-16}
N_C50=${N_C50:-100000}
N_C50_P16=${N_C50_P16:-1000000}
N_C1=${N_C1:-20000}
RUNS=${RUNS:-3}
CONFIGS=("50 1 $N_C50" "50 16 $N_C50_P16" "1 1 $N_C1")
# Every benchmark process is bounded: these settings finish in seconds on a 2-core VM.
LIMIT=${LIMIT:-120}

IFS=';' read -r -a FLAGSETS <<<"$DEPOT_MANAGER_FLAGS"
RESULTS=$WORK/results.tsv  # server c P n test rps avg min p50 p95 p99 max cpu_us_per_req
CLK_TCK=$(getconf CLK_TCK)
: >"$RESULTS"

# csv_to_tsv SERVER C P N: turns benchmark --csv output on stdin into result rows.
csv_to_tsv() {
  tail -n +2 | tr -d '"' | awk -F, -v s="$1" -v c="$2" -v p="$3" -v n="$4" -v OFS='\t' \
    '{print s, c, p, n, $1, $2, $3, $4, $5, $6, $7, $8}'
}

# median_rows FILE: of RUNS blocks of result rows, keeps per test the run with median rps.
median_rows() {
  sort -t$'\t' -k5,5 -k6,6g "$1" | awk -F'\t' -v runs="$RUNS" \
    '{rows[$5] = rows[$5] $0 "\n"; cnt[$5]++}
     END {for (t in rows) {split(rows[t], r, "\n"); print r[int((cnt[t] + 1) / 2)]}}'
}

echo "# depot-benchmark vs redis-benchmark"
echo
machine_note
echo "commit: $(git -C "$BENCH_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)," \
  "$(redis-server --version | cut -d' ' -f1-3), -d $DATASIZE, median of $RUNS runs"
echo

# ---------------------------------------------------------------- servers
# All servers run side by side and the runs are interleaved (each round runs every server
# once, starting with a different one), so a drift of this VM's loopback latency over the
# minutes of the run hits every server alike. Idle servers cost nothing: a busy-polling
# manager sleeps after --busy-poll-us without work.
start_redis
LABELS=(redis)
PORTS=("$REDIS_PORT")
MPIDS=()
MLOGS=()
BINARIES=("$MANAGER")
[[ -n ${BASELINE_MANAGER:-} ]] && need "$BASELINE_MANAGER" && BINARIES+=("$BASELINE_MANAGER")
for bin in "${BINARIES[@]}"; do
  for flags in "${FLAGSETS[@]}"; do
    # shellcheck disable=SC2086  # the flags are words
    MANAGER=$bin start_manager $flags
    label="depot ${flags:-(defaults)}"
    [[ $bin != "$MANAGER" ]] && label="baseline ${flags:-(defaults)}"
    LABELS+=("$label")
    PORTS+=("$MANAGER_PORT")
    MPIDS+=("$MANAGER_PID")
    MLOGS+=("$MANAGER_LOG")
  done
done
S=${#LABELS[@]}

# run_server K C P N: one run of server K's benchmark, as result rows; each row ends with
# the server's CPU time (user + system, from /proc) per request over the run's two tests.
run_server() {
  local k=$1 c=$2 p=$3 n=$4 pid t0 t1 out
  out=$WORK/run.out
  if ((k == 0)); then
    pid=$REDIS_PID
    redis-cli -p "$REDIS_PORT" flushall >/dev/null
    t0=$(cpu_ticks "$pid")
    timeout "$LIMIT" redis-benchmark -p "${PORTS[0]}" -t lpush,rpop -c "$c" -n "$n" -P "$p" \
      -d "$DATASIZE" --csv | csv_to_tsv redis "$c" "$p" "$n" >"$out"
  else
    pid=${MPIDS[k - 1]}
    t0=$(cpu_ticks "$pid")
    timeout "$LIMIT" "$DEPOT_BENCHMARK" -p "${PORTS[k]}" -a "$AUTHKEY" -t put,get -c "$c" \
      -n "$n" -P "$p" -d "$DATASIZE" --csv | csv_to_tsv "${LABELS[k]}" "$c" "$p" "$n" >"$out"
  fi
  t1=$(cpu_ticks "$pid")
  awk -v OFS='\t' -v us="$(((t1 - t0) * 1000000 / CLK_TCK))" -v reqs="$((2 * n))" \
    '{print $0, sprintf("%.2f", us / reqs)}' "$out"
}

PP=$WORK/pp.tsv  # blocking, busy: one pair per -c 1 round
: >"$PP"
for cfg in "${CONFIGS[@]}"; do
  read -r c p n <<<"$cfg"
  for ((k = 0; k < S; k++)); do : >"$WORK/runs.$k"; done
  for ((i = 0; i < RUNS; i++)); do
    for ((j = 0; j < S; j++)); do
      k=$(((i + j) % S))
      run_server "$k" "$c" "$p" "$n" >>"$WORK/runs.$k"
    done
    if [[ $c == 1 && $p == 1 ]]; then
      printf '%s\t%s\n' "$(timeout "$LIMIT" "$TCP_PINGPONG" -n 20000 -s 16 -q)" \
        "$(timeout "$LIMIT" "$TCP_PINGPONG" -n 20000 -s 16 -q --busy-server)" >>"$PP"
    fi
  done
  for ((k = 0; k < S; k++)); do median_rows "$WORK/runs.$k" >>"$RESULTS"; done
done
for ((k = 0; k < ${#MPIDS[@]}; k++)); do
  MANAGER_PID=${MPIDS[k]} MANAGER_LOG=${MLOGS[k]} check_manager
done
PP_BLOCK=$(cut -f1 "$PP" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
PP_BUSY=$(cut -f2 "$PP" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')

# ---------------------------------------------------------------- tables
echo "## Throughput and latency (ratio = depot rps / redis rps for the matching test)"
echo
echo "Server CPU = the server process' user + system time per request over the run (both tests)."
echo
echo "| -c | -P | -n | test | server | rps | ratio | avg ms | p50 ms | p99 ms | max ms | server CPU us/req |"
echo "|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"
for cfg in "${CONFIGS[@]}"; do
  read -r c p n <<<"$cfg"
  for pair in "LPUSH PUT" "RPOP GET"; do
    read -r rt dt <<<"$pair"
    awk -F'\t' -v c="$c" -v p="$p" -v rt="$rt" -v dt="$dt" '
      $2 == c && $3 == p && ($5 == rt || $5 == dt) { rows[++k] = $0; if ($5 == rt) base = $6 }
      END {
        for (i = 1; i <= k; i++) {
          split(rows[i], f, "\t")
          ratio = (f[5] == dt && base > 0) ? sprintf("%.2fx", f[6] / base) : "-"
          printf "| %s | %s | %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %s |\n",
            f[2], f[3], f[4], f[5], f[1], f[6], ratio, f[7], f[9], f[11], f[12], f[13]
        }
      }' "$RESULTS"
  done
done
echo
echo "## Round trip at -c 1 -P 1 against the raw TCP ping-pong"
echo
echo "Ratio = mean request latency / mean ping-pong round trip. tcp-pingpong ran once per round"
echo "of the -c 1 runs (median of $RUNS: ${PP_BLOCK} us with a blocking echo side, ${PP_BUSY} us"
echo "with a busy-polling one). The goal is depot within 1.1x of the ping-pong it compares with:"
echo "the blocking one for --busy-poll-us 0, the busy one when the manager busy-polls."
echo
echo "| server | test | avg us | p50 us | p99 us | vs blocking ping-pong | vs busy ping-pong |"
echo "|---|---|---:|---:|---:|---:|---:|"
awk -F'\t' -v pb="$PP_BLOCK" -v ps="$PP_BUSY" '
  $2 == 1 && $3 == 1 {
    printf "| %s | %s | %.1f | %.1f | %.1f | %.2fx | %.2fx |\n",
      $1, $5, $7 * 1000, $9 * 1000, $11 * 1000, $7 * 1000 / pb, $7 * 1000 / ps
  }' "$RESULTS"
echo
echo "Commands (ports and key vary per run):"
echo '```'
echo "tcp-pingpong -n 20000 -s 16 -q [--busy-server]   # once per -c 1 round"
echo "redis-server --port PORT --bind 127.0.0.1 --save '' --appendonly no"
echo "depot-manager --address 127.0.0.1:0 --authkey KEY --log-level warn FLAGS   # FLAGS: $DEPOT_MANAGER_FLAGS"
[[ -n ${BASELINE_MANAGER:-} ]] && echo "baseline: $BASELINE_MANAGER, same flags, same depot-benchmark"
for cfg in "${CONFIGS[@]}"; do
  read -r c p n <<<"$cfg"
  echo "redis-benchmark -p PORT -t lpush,rpop -c $c -n $n -P $p -d $DATASIZE --csv"
  echo "depot-benchmark -p PORT -a KEY -t put,get -c $c -n $n -P $p -d $DATASIZE --csv"
done
echo '```'
