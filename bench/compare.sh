#!/usr/bin/env bash
# compare.sh: depot against Redis, one load generator for both, with the kernel floor.
#
#   BUILD=build-dir bench/compare.sh
#
# One client drives every server: depot-benchmark (single-threaded epoll, exactly -P requests
# outstanding per connection, every reply parsed and checked), speaking depot's protocol to
# depot (put / get), RESP to Redis (--proto resp: LPUSH / RPOP) and depot frames without a
# handshake to bench/echo-floor (--proto raw: ping), a minimal epoll server that answers each
# frame and does nothing else: what this machine's TCP stack allows at all. Configurations
# (-c 50 -P 1), (-c 50 -P 16) and (-c 1 -P 1), runs interleaved round by round, median of RUNS.
# Each row gives the server's CPU time per request (/proc) and, from one more short run under
# `strace -c -f`, its system calls per request. redis-benchmark's own figure for Redis is
# printed as a secondary line: it is a heavier client (about twice this one's CPU per request
# here), so ratios are never taken against it.
#
# Environment:
#   BUILD                 build directory (default: ../build next to this script)
#   DEPOT_MANAGER_FLAGS   manager flag sets, separated by ';' (default "--busy-poll-us 50;--busy-poll-us 0")
#   DATASIZE              payload bytes, -d (default 16)
#   N_C50 N_C50_P16 N_C1  -n of the three configurations (default 100000 1000000 20000)
#   RUNS                  runs per figure (default 3; even with OBSERVE, so each twin of a
#                         pair goes first in half the rounds)
#   BASELINE_MANAGER      an earlier commit's depot-manager, run beside this build's with the
#                         same flags and client (labelled "baseline")
#   SYSCALLS              0 skips the strace runs (default 1)
#   OBSERVE               1 adds, for each flag set, a second manager that is watched the way
#                         an operator watches one: the dashboard open in headless chromium
#                         (it polls /api/queues, sessions, locks and pools every second), a
#                         Prometheus-style scrape of /metrics every second, and one
#                         `depot-cli monitor` attached (its lines to /dev/null). Labelled
#                         "+observed"; a table compares it with the unwatched manager
#   WATCHERS              which of them watch, comma-separated (default dashboard,scrape,monitor);
#                         none: the second manager has its admin endpoint but nobody watches
#                         it, an A/A control showing how far two identical managers differ
#   MONITOR_ARGS          flags for the watchers' `depot-cli monitor` (e.g. --max-rate 1000)
#   OBSERVER_PRIORITY     idle (default) runs the watchers under SCHED_IDLE (chrt --idle 0):
#                         on this 2-core machine they would otherwise take CPU from the
#                         servers and the client, which on a real deployment is on another
#                         machine (the operator's browser and terminal); the report counts
#                         their dashboard updates and monitor lines to show they kept
#                         watching. normal: the same priority as everything else
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ECHO_FLOOR=$BUILD/bin/echo-floor
need "$MANAGER" "$DEPOT_BENCHMARK" "$ECHO_FLOOR" redis-server redis-benchmark redis-cli

DEPOT_MANAGER_FLAGS=${DEPOT_MANAGER_FLAGS:-"--busy-poll-us 50;--busy-poll-us 0"}
DATASIZE=${DATASIZE:-16}
N_C50=${N_C50:-100000}
N_C50_P16=${N_C50_P16:-1000000}
N_C1=${N_C1:-20000}
RUNS=${RUNS:-3}
SYSCALLS=${SYSCALLS:-1}
OBSERVE=${OBSERVE:-0}
OBSERVER_PRIORITY=${OBSERVER_PRIORITY:-idle}
WATCHERS=${WATCHERS:-dashboard,scrape,monitor}
for w in ${WATCHERS//,/ }; do
  case $w in dashboard | scrape | monitor) ;;
    none) [[ $WATCHERS == none ]] || { echo "bench: WATCHERS=none stands alone, not in '$WATCHERS'" >&2 && exit 2; } ;;
    *) echo "bench: WATCHERS lists dashboard, scrape and monitor (or is none), not '$w'" >&2 && exit 2 ;;
  esac
done
watching() { [[ ,$WATCHERS, == *,$1,* ]]; }  # watching NAME: whether WATCHERS lists NAME
case $OBSERVER_PRIORITY in
  idle) WATCH=(chrt --idle 0) ;;
  normal) WATCH=() ;;
  *) echo "bench: OBSERVER_PRIORITY is idle or normal, not '$OBSERVER_PRIORITY'" >&2 && exit 2 ;;
esac
CLI=$BUILD/bin/depot-cli
((OBSERVE)) && need "$CLI" chromium curl node npm
command -v strace >/dev/null || SYSCALLS=0
CONFIGS=("50 1 $N_C50" "50 16 $N_C50_P16" "1 1 $N_C1")
LIMIT=${LIMIT:-120}
CLK_TCK=$(getconf CLK_TCK)

echo "# depot vs Redis, one load generator (depot-benchmark) for both"
echo
machine_note
echo "commit: $(git -C "$BENCH_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)," \
  "$(redis-server --version | cut -d' ' -f1-3), -d $DATASIZE, median of $RUNS interleaved runs"
echo

# observe_manager PORT ADMIN_PORT: the dashboard open in headless chromium, a /metrics scrape
# every second and one `depot-cli monitor`, all on the manager at PORT, until the script ends.
observe_manager() {
  local port=$1 admin=$2 i s="" f
  for f in dashboard.$port.log scrape.$port.log scrape.$port.err; do : >"$WORK/$f"; done
  if watching monitor; then
    # shellcheck disable=SC2086  # MONITOR_ARGS are words
    "${WATCH[@]}" "$CLI" --address "127.0.0.1:$port" --authkey "$AUTHKEY" --name bench-monitor monitor \
      ${MONITOR_ARGS:-} > >(wc -l >"$WORK/monitor.$port.lines") 2>"$WORK/monitor.$port.err" &
    PIDS+=($!)
    MONITOR_PIDS+=($!)
  fi
  if watching dashboard; then
    "${WATCH[@]}" node "$DASH/dashboard_open.mjs" "http://127.0.0.1:$admin/" \
      >"$WORK/dashboard.$port.log" 2>&1 &
    PIDS+=($!)
  fi
  if watching scrape; then
    "${WATCH[@]}" bash -c 'while :; do
      curl -sf --max-time 5 "$0" >/dev/null && echo ok || echo "scrape failed" >&2
      sleep 1
    done' "http://127.0.0.1:$admin/metrics" >"$WORK/scrape.$port.log" 2>"$WORK/scrape.$port.err" &
    PIDS+=($!)
  fi
  watching dashboard && wait_for_line "$WORK/dashboard.$port.log" '^dashboard open' 60
  if watching monitor; then
    for ((i = 0; i < 200; i++)); do
      s=$(curl -sf --max-time 5 "http://127.0.0.1:$admin/api/sessions" || true)
      [[ $s == *bench-monitor* ]] && break
      sleep 0.05
    done
    [[ $s == *bench-monitor* ]] || { echo "bench: the monitor did not attach to port $port" >&2; exit 1; }
  else
    echo 0 >"$WORK/monitor.$port.lines"
  fi
  OBSERVED+=("$port")
}
OBSERVED=() MONITOR_PIDS=()
if ((OBSERVE)); then
  # playwright-core, exactly as the dashboard test pins it, from the npm registry.
  DASH=$WORK/dashboard
  mkdir -p "$DASH"
  # (the script beside them: node resolves a module's imports from the module's own directory)
  cp "$BENCH_DIR/../tests/dashboard/package.json" "$BENCH_DIR/../tests/dashboard/package-lock.json" \
    "$BENCH_DIR/dashboard_open.mjs" "$DASH/"
  (cd "$DASH" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

# ---------------------------------------------------------------- servers
LABELS=() PORTS=() PROTOS=() SPIDS=()
start_redis
LABELS+=(redis) PORTS+=("$REDIS_PORT") PROTOS+=(resp) SPIDS+=("$REDIS_PID")
FLOOR_LOG=$WORK/floor.log
"$ECHO_FLOOR" >"$FLOOR_LOG" 2>&1 &
PIDS+=($!)
FLOOR_PID=$!
wait_for_line "$FLOOR_LOG" '^ready' 10
LABELS+=(echo-floor) PORTS+=("$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$FLOOR_LOG" | head -1)") PROTOS+=(raw)
SPIDS+=("$FLOOR_PID")
IFS=';' read -r -a FLAGSETS <<<"$DEPOT_MANAGER_FLAGS"
BINARIES=("$MANAGER")
[[ -n ${BASELINE_MANAGER:-} ]] && need "$BASELINE_MANAGER" && BINARIES+=("$BASELINE_MANAGER")
for bin in "${BINARIES[@]}"; do
  for flags in "${FLAGSETS[@]}"; do
    # shellcheck disable=SC2086  # the flags are words
    MANAGER=$bin start_manager $flags
    label="depot ${flags:-(defaults)}"
    [[ $bin != "$MANAGER" ]] && label="baseline ${flags:-(defaults)}"
    LABELS+=("$label") PORTS+=("$MANAGER_PORT") PROTOS+=(depot) SPIDS+=("$MANAGER_PID")
    if ((OBSERVE)) && [[ $bin == "$MANAGER" ]]; then
      admin_port=$(free_port)
      # shellcheck disable=SC2086
      start_manager $flags --admin-address "127.0.0.1:$admin_port"
      observe_manager "$MANAGER_PORT" "$admin_port"
      LABELS+=("$label +observed") PORTS+=("$MANAGER_PORT") PROTOS+=(depot)
      SPIDS+=("$MANAGER_PID")
    fi
  done
done
S=${#LABELS[@]}
GROUPS_OF=()  # "k" for a server alone, "k k+1" for an unwatched manager and its watched twin
for ((k = 0; k < S; k++)); do
  if ((k + 1 < S)) && [[ ${LABELS[k + 1]} == "${LABELS[k]} +observed" ]]; then
    GROUPS_OF+=("$k $((k + 1))") && ((++k))
  else
    GROUPS_OF+=("$k")
  fi
done

tests_of() {  # tests_of K: the -t list for server K
  case ${PROTOS[$1]} in raw) echo ping ;; *) echo put,get ;; esac
}

# run_server K C P N: one run, as rows "label c p n test rps avg p50 p99 max cpu_us_per_req".
run_server() {
  local k=$1 c=$2 p=$3 n=$4 t0 t1 out tests reqs
  tests=$(tests_of "$k")
  reqs=$((n * $(echo "$tests" | tr ',' '\n' | wc -l)))
  [[ ${PROTOS[k]} == resp ]] && redis-cli -p "${PORTS[k]}" flushall >/dev/null
  t0=$(cpu_ticks "${SPIDS[k]}")
  out=$(timeout "$LIMIT" "$DEPOT_BENCHMARK" --proto "${PROTOS[k]}" -p "${PORTS[k]}" $(auth_of "$k") \
    -t "$tests" -c "$c" -n "$n" -P "$p" -d "$DATASIZE" --csv | tail -n +2 | tr -d '"')
  t1=$(cpu_ticks "${SPIDS[k]}")
  echo "$out" | awk -F, -v OFS='\t' -v l="${LABELS[k]}" -v c="$c" -v p="$p" -v n="$n" \
    -v cpu="$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v r="$reqs" 'BEGIN {printf "%.2f", d * 1e6 / hz / r}')" \
    '{print l, c, p, n, $1, $2, $3, $5, $7, $8, cpu}'
}

RESULTS=$WORK/results.tsv PAIRED=$WORK/paired.tsv
: >"$RESULTS"
: >"$PAIRED"
for cfg in "${CONFIGS[@]}"; do
  read -r c p n <<<"$cfg"
  for ((k = 0; k < S; k++)); do : >"$WORK/runs.$k"; done
  for ((i = 0; i < RUNS; i++)); do
    # Servers in groups (a watched manager and its unwatched twin are one), the groups in
    # an order rotated each round, and a pair's two runs back to back, which of them first
    # alternating round by round: the second run of two in a row is the slower one here
    # (the A/A control showed it in 8 of 12 rows), so a fixed order would charge it to one side.
    for ((j = 0; j < ${#GROUPS_OF[@]}; j++)); do
      read -r -a group <<<"${GROUPS_OF[(i + j) % ${#GROUPS_OF[@]}]}"
      ((${#group[@]} == 2 && i % 2)) && group=("${group[1]}" "${group[0]}")
      for k in "${group[@]}"; do run_server "$k" "$c" "$p" "$n" >>"$WORK/runs.$k"; done
    done
  done
  for ((k = 0; k < S; k++)); do
    median_rows "$WORK/runs.$k" 5 6 >>"$RESULTS"
    # A watched manager's run against its unwatched twin's in the same round (the two run
    # back to back), so a slow minute of the machine moves both sides of a ratio.
    [[ ${LABELS[k]} == *' +observed' ]] && paste "$WORK/runs.$((k - 1))" "$WORK/runs.$k" |
      awk -F'\t' -v OFS='\t' '$5 == $16 {print $12, $2, $3, $5, $17 / $6}' >>"$PAIRED"
  done
done

# System calls per request: one shorter run per server and configuration under strace.
SYS=$WORK/syscalls.tsv
: >"$SYS"
if ((SYSCALLS)); then
  for cfg in "${CONFIGS[@]}"; do
    read -r c p n <<<"$cfg"
    n=$((n / 5))
    for ((k = 0; k < S; k++)); do
      tests=$(tests_of "$k")
      reqs=$((n * $(echo "$tests" | tr ',' '\n' | wc -l)))
      strace -c -f -q -p "${SPIDS[k]}" -o "$WORK/strace.$k" &
      spid=$!
      sleep 0.5
      timeout "$LIMIT" "$DEPOT_BENCHMARK" --proto "${PROTOS[k]}" -p "${PORTS[k]}" $(auth_of "$k") \
        -t "$tests" -c "$c" -n "$n" -P "$p" -d "$DATASIZE" -q >/dev/null
      kill -INT "$spid" 2>/dev/null || true
      wait "$spid" 2>/dev/null || true
      calls=$(awk '$NF == "total" {print $4}' "$WORK/strace.$k" 2>/dev/null)
      printf '%s\t%s\t%s\t%s\n' "${LABELS[k]}" "$c" "$p" \
        "$(awk -v a="${calls:-0}" -v r="$reqs" 'BEGIN {printf "%.2f", a / r}')" >>"$SYS"
    done
  done
fi

# redis-benchmark's own view of Redis, the secondary line.
RB=$WORK/redis-benchmark.tsv
: >"$RB"
for cfg in "${CONFIGS[@]}"; do
  read -r c p n <<<"$cfg"
  redis-cli -p "$REDIS_PORT" flushall >/dev/null
  timeout "$LIMIT" redis-benchmark -p "$REDIS_PORT" -t lpush,rpop -c "$c" -n "$n" -P "$p" \
    -d "$DATASIZE" --csv | tail -n +2 | tr -d '"' |
    awk -F, -v OFS='\t' -v c="$c" -v p="$p" '{print c, p, $1, $2}' >>"$RB"
done
for ((k = 0; k < S; k++)); do
  [[ ${PROTOS[k]} == depot ]] && MANAGER_PID=${SPIDS[k]} MANAGER_LOG=/dev/null check_manager
done

# ---------------------------------------------------------------- tables
echo "## Throughput (ratio: depot / Redis for the matching test; floor: rps / echo-floor's)"
echo
echo "| -c | -P | test | server | rps | vs Redis | of floor | p50 ms | p99 ms | server CPU us/req | syscalls/req |"
echo "|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"
awk -F'\t' -v sysf="$SYS" '
  BEGIN { while ((getline line < sysf) > 0) { split(line, f, "\t"); sc[f[1] SUBSEP f[2] SUBSEP f[3]] = f[4] } }
  { row[NR] = $0; key = $2 SUBSEP $3
    if ($1 == "redis") base[key SUBSEP ($5 == "LPUSH" ? "PUT" : "GET")] = $6
    if ($1 == "echo-floor") floor[key] = $6 }
  END {
    for (i = 1; i <= NR; i++) {
      split(row[i], f, "\t"); key = f[2] SUBSEP f[3]
      t = f[5] == "LPUSH" ? "PUT" : (f[5] == "RPOP" ? "GET" : f[5])
      ratio = (f[1] != "redis" && f[1] != "echo-floor" && base[key SUBSEP t] > 0) ? sprintf("%.2fx", f[6] / base[key SUBSEP t]) : "-"
      fl = floor[key] > 0 ? sprintf("%.2f", f[6] / floor[key]) : "-"
      s = sc[f[1] SUBSEP f[2] SUBSEP f[3]]; if (s == "") s = "-"
      printf "| %s | %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %s |\n", f[2], f[3], f[5], f[1], f[6], ratio, fl, f[8], f[9], f[11], s
    }
  }' "$RESULTS"
echo
echo "Secondary, not used for any ratio: redis-benchmark's own figures for the same Redis"
echo "(a heavier client: it saturates its core well below what Redis serves at -c 50 -P 1)."
echo
echo "| -c | -P | test | redis-benchmark rps |"
echo "|---:|---:|---|---:|"
awk -F'\t' '{printf "| %s | %s | %s | %.0f |\n", $1, $2, $3, $4}' "$RB"
echo
if ((OBSERVE)); then
  echo "## Watched against unwatched (same run, same client)"
  echo
  echo "Medians of RUNS runs each; \"paired\": over the rounds, the watched run's rps over its"
  echo "unwatched twin's in the same round: their median (lowest and highest in brackets), and"
  echo "their geometric mean with its 95% confidence interval (t, from the spread of the rounds)."
  echo
  echo "| -c | -P | test | manager | rps unwatched | rps watched | ratio of medians | paired median [range] | paired mean [95% CI] |"
  echo "|---:|---:|---|---|---:|---:|---:|---:|---:|"
  awk -F'\t' -v pairedf="$PAIRED" '
    BEGIN { while ((getline line < pairedf) > 0) { split(line, f, "\t")
              k = f[1] SUBSEP f[2] SUBSEP f[3] SUBSEP f[4]; r[k, ++m[k]] = f[5] } }
    function paired(k,   i, j, t, n, v) {
      n = m[k]; for (i = 1; i <= n; i++) v[i] = r[k, i]
      for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
      return n ? sprintf("%.3f [%.2f-%.2f]", n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2, v[1], v[n]) : "-" }
    function mean_ci(k,   i, n, mu, ss, h) {  # of the log ratios; t(n-1) ~ 1.96 + 2.4 / (n-1)
      n = m[k]; if (n < 2) return "-"
      for (i = 1; i <= n; i++) mu += log(r[k, i]); mu /= n
      for (i = 1; i <= n; i++) ss += (log(r[k, i]) - mu) ^ 2
      h = (1.96 + 2.4 / (n - 1)) * sqrt(ss / (n - 1) / n)
      return sprintf("%.3f [%.3f-%.3f]", exp(mu), exp(mu - h), exp(mu + h)) }
    { key = $2 SUBSEP $3 SUBSEP $5
      if ($1 ~ / \+observed$/) { l = $1; sub(/ \+observed$/, "", l); w[l SUBSEP key] = $6; order[++n] = l SUBSEP key; pk[n] = $1 SUBSEP key }
      else plain[$1 SUBSEP key] = $6 }
    END { for (i = 1; i <= n; i++) { split(order[i], f, SUBSEP)
            printf "| %s | %s | %s | %s | %.0f | %.0f | %.3f | %s | %s |\n", f[2], f[3], f[4], f[1], plain[order[i]], w[order[i]], w[order[i]] / plain[order[i]], paired(pk[i]), mean_ci(pk[i]) } }' "$RESULTS"
  echo
  for p in "${MONITOR_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for port in "${OBSERVED[@]}"; do
    wait_for_line "$WORK/monitor.$port.lines" '[0-9]' 10 >/dev/null || true
    echo "- manager on port $port: the dashboard updated" \
      "$(grep -c '^updates' "$WORK/dashboard.$port.log") times" \
      "($(grep -c '^dashboard error' "$WORK/dashboard.$port.log") errors)," \
      "$(grep -c 'scrape failed' "$WORK/scrape.$port.err" || true) of" \
      "$(($(grep -c '^ok' "$WORK/scrape.$port.log" || true) + $(grep -c 'scrape failed' "$WORK/scrape.$port.err" || true)))" \
      "/metrics scrapes failed," \
      "the monitor printed $(cat "$WORK/monitor.$port.lines" 2>/dev/null || echo '?') lines" \
      "(one per request, or a notice of requests it fell behind on)"
  done
  echo
fi
echo "Commands (ports and key vary per run):"
echo '```'
echo "redis-server --port PORT --bind 127.0.0.1 --save '' --appendonly no"
echo "echo-floor"
echo "depot-manager --address 127.0.0.1:0 --authkey KEY --log-level warn FLAGS   # FLAGS: $DEPOT_MANAGER_FLAGS"
[[ -n ${BASELINE_MANAGER:-} ]] && echo "baseline: $BASELINE_MANAGER, same flags, same client"
for cfg in "${CONFIGS[@]}"; do
  read -r c p n <<<"$cfg"
  echo "depot-benchmark [--proto resp|raw] -t put,get|ping -c $c -n $n -P $p -d $DATASIZE --csv"
done
echo "strace -c -f -p SERVER   # during one more run of n/5 requests per configuration"
if ((OBSERVE)); then
  echo "depot-manager ... FLAGS --admin-address 127.0.0.1:ADMIN   # the +observed managers, each with"
  echo "# these watchers ($WATCHERS), run as ${WATCH[*]:-themselves} (OBSERVER_PRIORITY=$OBSERVER_PRIORITY):"
  echo "node bench/dashboard_open.mjs http://127.0.0.1:ADMIN/     # the dashboard in headless chromium"
  echo "while :; do curl -sf http://127.0.0.1:ADMIN/metrics; sleep 1; done"
  echo "depot-cli --address 127.0.0.1:PORT --authkey KEY monitor ${MONITOR_ARGS:-} | wc -l"
fi
echo '```'
