#!/usr/bin/env bash
# tls_counts.sh: what TLS costs the server per request, in figures the machine's load does not
# change: system calls (strace -c) and instructions (callgrind) of depot-manager and of
# redis-server, each over TLS and in clear, driven by depot-benchmark as compare_tls.sh drives
# them (put,get of 16-byte items; --proto resp and a password for Redis).
#
#   BUILD=build-dir bench/tls_counts.sh [syscalls|instructions|all]
#
# Every figure is the difference of two runs against the same server process, of N1 and N2
# requests per test, divided by the extra requests: connection set-up, TLS handshakes and
# start-up cancel out. depot-manager runs with --busy-poll-us 0: polling while idle adds
# epoll_wait(0) and sched_yield calls (and instructions) that follow the timing, not the
# requests. Under strace and valgrind the servers are slow, so at -c 50 more sessions are
# ready per pass than in a timed run: the per-pass calls (epoll_wait) are lower bounds; the
# per-batch ones (read, write) are exact.
#
# Environment: BUILD, CONFIGS ("50 1,50 16,1 1": -c and -P pairs), N1_P16 N2_P16 (20000 60000),
# N1_P1 N2_P1 (2000 6000, for -P 1), SERVERS ("depot tls,redis tls,depot clear,redis clear").
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need "$MANAGER" "$DEPOT_BENCHMARK" redis-server openssl strace valgrind callgrind_control
WHAT=${1:-all}
CONFIGS=${CONFIGS:-50 1,50 16,1 1}
N1_P16=${N1_P16:-20000} N2_P16=${N2_P16:-60000}
N1_P1=${N1_P1:-2000} N2_P1=${N2_P1:-6000}
SERVERS=${SERVERS:-depot tls,redis tls,depot clear,redis clear}
CERTS=$WORK/certs
"$BENCH_DIR/../scripts/dev-certs.sh" "$CERTS" >/dev/null

echo "# Per-request costs of TLS (strace -c, callgrind)"
echo
echo "programs: $BUILD/bin (source at $(git -C "$BENCH_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown))," \
  "$(redis-server --version | cut -d' ' -f1-3), $(openssl version | cut -d' ' -f1-2)," \
  "depot-manager --busy-poll-us 0"
echo

# start_server "depot tls" [PREFIX...]: the server under PREFIX (valgrind ...); sets SPID SPORT.
start_server() {
  local label=$1
  shift
  local log=$WORK/server.$RANDOM.log
  SPORT=$(free_port)
  if [[ $label == depot* ]]; then
    local tls=()
    [[ $label == *tls ]] && tls=(--tls-cert "$CERTS/server.crt" --tls-key "$CERTS/server.key")
    "$@" "$MANAGER" --address "127.0.0.1:$SPORT" --authkey "$AUTHKEY" --log-level warn \
      --busy-poll-us 0 "${tls[@]}" >"$log" 2>&1 &
    SPID=$!
    PIDS+=("$SPID")
    wait_for_line "$log" '^ready' 120
  else
    local net=(--port "$SPORT")
    [[ $label == *tls ]] && net=(--port 0 --tls-port "$SPORT" --tls-cert-file "$CERTS/server.crt"
      --tls-key-file "$CERTS/server.key" --tls-ca-cert-file "$CERTS/ca.crt" --tls-auth-clients no)
    "$@" redis-server "${net[@]}" --bind 127.0.0.1 --save '' --appendonly no \
      --requirepass "$AUTHKEY" --daemonize no >"$log" 2>&1 &
    SPID=$!
    PIDS+=("$SPID")
    wait_for_line "$log" 'Ready to accept connections' 120
  fi
}

bench() {  # bench LABEL C P N
  local tls=() proto=depot
  [[ $1 == *tls ]] && tls=(--tls --cacert "$CERTS/ca.crt" -h localhost)
  [[ $1 == redis* ]] && proto=resp
  timeout 600 "$DEPOT_BENCHMARK" --proto "$proto" "${tls[@]}" -p "$SPORT" -a "$AUTHKEY" \
    -t put,get -c "$2" -n "$4" -P "$3" -d 16 --csv >/dev/null
}

n_of() {  # n_of P WHICH(1|2)
  if (($1 > 1)); then
    (($2 == 1)) && echo "$N1_P16" || echo "$N2_P16"
  else
    (($2 == 1)) && echo "$N1_P1" || echo "$N2_P1"
  fi
}

# strace -c of SPID during one bench run: "syscall calls errors" lines in $1.
strace_run() {
  local out=$1 label=$2 c=$3 p=$4 n=$5
  strace -c -f -q -p "$SPID" -o "$out.raw" &
  local st=$!
  local i
  for ((i = 0; i < 200; i++)); do
    [[ $(awk '/^TracerPid:/ {print $2}' "/proc/$SPID/status") != 0 ]] && break
    sleep 0.05
  done
  bench "$label" "$c" "$p" "$n"
  kill -INT "$st"
  wait "$st" || true
  awk '$1 ~ /^[0-9.]+$/ && $NF != "total" {print $NF, $4, (NF == 6 ? $5 : 0)}' "$out.raw" >"$out"
}

syscalls() {
  echo "## System calls per request (strace -c -f -p SERVER; difference of two runs)"
  echo
  echo "| server | config | total | per call (errors: EAGAIN and the like) |"
  echo "|---|---|---:|---|"
  local label cfg c p
  IFS=, read -r -a servers <<<"$SERVERS"
  IFS=, read -r -a configs <<<"$CONFIGS"
  for label in "${servers[@]}"; do
    for cfg in "${configs[@]}"; do
      read -r c p <<<"$cfg"
      start_server "$label"
      local n1 n2
      n1=$(n_of "$p" 1) n2=$(n_of "$p" 2)
      strace_run "$WORK/s1" "$label" "$c" "$p" "$n1"
      strace_run "$WORK/s2" "$label" "$c" "$p" "$n2"
      stop_pid "$SPID"
      awk -v req=$((2 * (n2 - n1))) '
        FNR == NR { c1[$1] = $2; e1[$1] = $3; next }
        { d = ($2 - c1[$1]) / req; if (d > 0.005) printf "%s %.3f %.3f\n", $1, d, ($3 - e1[$1]) / req }
      ' "$WORK/s1" "$WORK/s2" | sort | awk -v l="$label" -v cf="-c $c -P $p" '
        { tot += $2; line = line sprintf("%s%s %.3f", NR == 1 ? "" : ", ", $1, $2)
          if ($3 > 0.005) line = line sprintf(" (errors %.3f)", $3) }
        END { printf "| %s | %s | %.2f | %s |\n", l, cf, tot, line }'
    done
  done
  echo
}

cg_total() {  # the Ir total of callgrind dump file $1
  awk '/^(summary|totals):/ {print $2; exit}' "$1"
}

instructions() {
  echo "## Instructions per request (valgrind --tool=callgrind SERVER; difference of two runs)"
  echo
  echo "| server | config | instructions per request |"
  echo "|---|---|---:|"
  local label cfg c p
  IFS=, read -r -a servers <<<"$SERVERS"
  IFS=, read -r -a configs <<<"$CONFIGS"
  for label in "${servers[@]}"; do
    for cfg in "${configs[@]}"; do
      read -r c p <<<"$cfg"
      local dir=$WORK/cg.$RANDOM
      mkdir -p "$dir"
      start_server "$label" valgrind --tool=callgrind -q --callgrind-out-file="$dir/out"
      local n1 n2 n files=()
      n1=$(n_of "$p" 1) n2=$(n_of "$p" 2)
      callgrind_control -d "$SPID" >/dev/null 2>&1  # start-up: dump 1, not counted
      for n in "$n1" "$n2"; do
        bench "$label" "$c" "$p" "$n"
        callgrind_control -d "$SPID" >/dev/null 2>&1
      done
      stop_pid "$SPID"
      mapfile -t files < <(for f in "$dir"/out.*; do echo "${f##*.} $f"; done | sort -n | cut -d' ' -f2)
      ((${#files[@]} >= 3)) || {
        echo "tls_counts: callgrind wrote no dumps into $dir" >&2
        exit 1
      }
      local i1 i2
      i1=$(cg_total "${files[1]}") i2=$(cg_total "${files[2]}")
      awk -v a="$i1" -v b="$i2" -v req=$((2 * (n2 - n1))) -v l="$label" -v cf="-c $c -P $p" \
        'BEGIN { printf "| %s | %s | %.0f |\n", l, cf, (b - a) / req }'
    done
  done
  echo
}

case $WHAT in
  syscalls) syscalls ;;
  instructions) instructions ;;
  all)
    syscalls
    instructions
    ;;
  *)
    echo "usage: bench/tls_counts.sh [syscalls|instructions|all]" >&2
    exit 2
    ;;
esac
