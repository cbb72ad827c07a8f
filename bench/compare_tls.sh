#!/usr/bin/env bash
# compare_tls.sh: depot over TLS against Redis over TLS, and each against itself in clear, in
# one run, with the same certificates (scripts/dev-certs.sh) and the same client
# (depot-benchmark --tls; --proto resp for Redis, which also gets a password so both
# authenticate).
#
#   BUILD=build-dir bench/compare_tls.sh
#
# 1. Throughput: put/get (LPUSH/RPOP) of 16-byte items at -c 50 -P 1, -c 50 -P 16 and
#    -c 1 -P 1, servers interleaved, median of RUNS:
#      redis-server --port 0 --tls-port P ... (TLS) and redis-server --port P (clear)
#      depot-manager --tls-cert ... --tls-key ... (TLS) and depot-manager (clear)
#    Ratios: depot TLS / Redis TLS (target 1.2x), and depot TLS / depot clear (the cost of
#    TLS; target: at least 0.75 at -P 16).
# 2. Connection set-up: -n CONNECTS connections one after another (TCP + TLS + authentication:
#    depot's HELLO/AUTH/AUTH_OK, Redis's AUTH), p50 and p99 of each.
#
# Environment: BUILD, RUNS (3), N_P1 (20000), N_P16 (200000), N_C1 (10000), CONNECTS (300),
# DEPOT_FLAGS (extra depot-manager flags, e.g. "--busy-poll-us 0").
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need "$MANAGER" "$DEPOT_BENCHMARK" redis-server openssl
RUNS=${RUNS:-3}
N_P1=${N_P1:-20000}
N_P16=${N_P16:-200000}
N_C1=${N_C1:-10000}
CONNECTS=${CONNECTS:-300}
LIMIT=${LIMIT:-300}
read -r -a EXTRA <<<"${DEPOT_FLAGS:-}"

CERTS=$WORK/certs
"$BENCH_DIR/../scripts/dev-certs.sh" "$CERTS" >/dev/null

echo "# depot and Redis over TLS"
echo
machine_note
echo "commit: $(git -C "$BENCH_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)," \
  "$(redis-server --version | cut -d' ' -f1-3), $(openssl version | cut -d' ' -f1-2)," \
  "-d 16, median of $RUNS runs, depot-manager flags: ${DEPOT_FLAGS:-(defaults)}"
echo

start_redis_mode() {  # start_redis_mode tls|clear: sets REDIS_PID REDIS_PORT
  REDIS_PORT=$(free_port)
  local log=$WORK/redis.$REDIS_PORT.log
  local net=(--port "$REDIS_PORT")
  [[ $1 == tls ]] && net=(--port 0 --tls-port "$REDIS_PORT" --tls-cert-file "$CERTS/server.crt"
    --tls-key-file "$CERTS/server.key" --tls-ca-cert-file "$CERTS/ca.crt" --tls-auth-clients no)
  redis-server "${net[@]}" --bind 127.0.0.1 --save '' --appendonly no --requirepass "$AUTHKEY" \
    --daemonize no >"$log" 2>&1 &
  REDIS_PID=$!
  PIDS+=("$REDIS_PID")
  wait_for_line "$log" 'Ready to accept connections' 10
}

LABELS=() PORTS=() PROTOS=() TLSFLAG=() SPIDS=()
start_redis_mode tls
LABELS+=("redis tls") PORTS+=("$REDIS_PORT") PROTOS+=(resp) TLSFLAG+=(1) SPIDS+=("$REDIS_PID")
start_manager --tls-cert "$CERTS/server.crt" --tls-key "$CERTS/server.key" "${EXTRA[@]}"
LABELS+=("depot tls") PORTS+=("$MANAGER_PORT") PROTOS+=(depot) TLSFLAG+=(1) SPIDS+=("$MANAGER_PID")
start_redis_mode clear
LABELS+=("redis clear") PORTS+=("$REDIS_PORT") PROTOS+=(resp) TLSFLAG+=(0) SPIDS+=("$REDIS_PID")
start_manager "${EXTRA[@]}"
LABELS+=("depot clear") PORTS+=("$MANAGER_PORT") PROTOS+=(depot) TLSFLAG+=(0) SPIDS+=("$MANAGER_PID")
S=${#LABELS[@]}

bench() {  # bench K ARGS...: depot-benchmark against server K
  local k=$1
  shift
  local tls=()
  ((TLSFLAG[k])) && tls=(--tls --cacert "$CERTS/ca.crt" -h localhost)
  timeout "$LIMIT" "$DEPOT_BENCHMARK" --proto "${PROTOS[k]}" "${tls[@]}" -p "${PORTS[k]}" \
    -a "$AUTHKEY" "$@"
}

RESULTS=$WORK/tls.tsv  # label config test rps p50 p99
: >"$RESULTS"
for cfg in "50 1 $N_P1" "50 16 $N_P16" "1 1 $N_C1"; do
  read -r c p n <<<"$cfg"
  for ((k = 0; k < S; k++)); do : >"$WORK/t.$k"; done
  for ((i = 0; i < RUNS; i++)); do
    for ((j = 0; j < S; j++)); do
      k=$(((i + j) % S))
      bench "$k" -t put,get -c "$c" -n "$n" -P "$p" -d 16 --csv | tail -n +2 | tr -d '"' |
        awk -F, -v OFS='\t' -v l="${LABELS[k]}" -v cf="-c $c -P $p" '{print l, cf, $1, $2, $5, $7}' \
          >>"$WORK/t.$k"
    done
  done
  for ((k = 0; k < S; k++)); do
    # One row per test: the median run's (sorted by test, then rps).
    median_rows "$WORK/t.$k" 3 4 >>"$RESULTS"
  done
done

echo "## 1. Throughput (requests/s; ratios of the same test)"
echo
echo "| config | test | redis tls | depot tls | depot tls / redis tls | redis clear | depot clear | depot tls / depot clear | redis tls / redis clear |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
awk -F'\t' '
  { t = $3 == "LPUSH" ? "PUT" : ($3 == "RPOP" ? "GET" : $3)
    rps[$2 SUBSEP t SUBSEP $1] = $4; if (!((($2 SUBSEP t) in seen))) { seen[$2 SUBSEP t] = 1; order[++n] = $2 SUBSEP t } }
  END {
    for (i = 1; i <= n; i++) {
      split(order[i], k, SUBSEP)
      rt = rps[order[i] SUBSEP "redis tls"]; dt = rps[order[i] SUBSEP "depot tls"]
      rc = rps[order[i] SUBSEP "redis clear"]; dc = rps[order[i] SUBSEP "depot clear"]
      printf "| %s | %s | %.0f | %.0f | %.2fx | %.0f | %.0f | %.2f | %.2f |\n", k[1], k[2], rt, dt, dt / rt, rc, dc, dt / dc, rt / rc
    }
  }' "$RESULTS"
echo

echo "## 2. Connection set-up ($CONNECTS connections one after another, ms)"
echo
echo "| server | p50 | p99 | connections/s |"
echo "|---|---:|---:|---:|"
for ((k = 0; k < S; k++)); do
  bench "$k" -t connect -n "$CONNECTS" --csv | tail -n +2 | tr -d '"' |
    awk -F, -v l="${LABELS[k]}" '{printf "| %s | %s | %s | %.0f |\n", l, $5, $7, $2}'
done
echo
echo "(connect: socket() to the first reply a connection can take: depot's AUTH_OK, Redis's reply to AUTH)"
for pid in "${SPIDS[@]}"; do check_pid=$pid; kill -0 "$check_pid" 2>/dev/null || {
  echo "bench: a server died during the run" >&2
  exit 1
}; done
