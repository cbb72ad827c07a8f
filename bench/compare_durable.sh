#!/usr/bin/env bash
# compare_durable.sh: durable depot against durable Redis (and beanstalkd), in one run.
#
#   BUILD=build-dir bench/compare_durable.sh
#
# 1. Throughput: put/get (LPUSH/RPOP) at -c 50 -P 1 and -c 50 -P 16, 16-byte items, every
#    server driven by the same client (depot-benchmark, --proto resp for Redis, --proto
#    beanstalk for beanstalkd), interleaved, median of RUNS:
#      redis-server --appendonly yes --appendfsync always | everysec   (no RDB saves)
#      depot-manager --data-dir D --fsync always | everysec
#      beanstalkd -b D -f 0                                             (put only, for the record)
#    All data directories are fresh directories under the same parent (DIR_PARENT), so every
#    server writes to the same disk and file system. Each row also gives the server's fsyncs per
#    request where it reports them (depot's STATS).
# 2. Recovery: the time to start on a log of ITEMS queued 16-byte items (depot: the log, then the
#    snapshot a compaction made of it; Redis: an AOF of ITEMS LPUSHes, no RDB preamble).
# 3. Latency of a one-client put loop while a compaction of ITEMS items runs, against the same
#    loop without one, and the loop's pause at the compaction's start (STATS compaction_pause_us).
# 4. Disk bytes per queued item: depot's snapshot and log, Redis's AOF and RDB.
#
# Environment: BUILD, RUNS (3), N_P1 (20000), N_P16 (200000), ITEMS (1000000), SKIP_THROUGHPUT,
# DIR_PARENT (default: the benchmark's work directory under /tmp).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need "$MANAGER" "$DEPOT_BENCHMARK" redis-server redis-cli
RUNS=${RUNS:-3}
N_P1=${N_P1:-20000}
N_P16=${N_P16:-200000}
ITEMS=${ITEMS:-1000000}
DIR_PARENT=${DIR_PARENT:-$WORK}
LIMIT=${LIMIT:-300}
HAVE_BEANSTALKD=0
command -v beanstalkd >/dev/null && HAVE_BEANSTALKD=1

echo "# Durable depot vs durable Redis"
echo
machine_note
echo "commit: $(git -C "$BENCH_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)," \
  "$(redis-server --version | cut -d' ' -f1-3), -d 16, median of $RUNS runs," \
  "data directories under $DIR_PARENT ($(df -T "$DIR_PARENT" | awk 'NR==2 {print $1", "$2}'))"
echo

stat_field() {  # stat_field PORT NAME: a number from depot's STATS
  DEPOT_AUTHKEY=$AUTHKEY "$BUILD/bin/depot-cli" -a "127.0.0.1:$1" stats |
    sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"
}

start_redis_aof() {  # start_redis_aof POLICY DIR: sets REDIS_PID REDIS_PORT
  REDIS_PORT=$(free_port)
  mkdir -p "$2"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$2" --save '' --appendonly yes \
    --appendfsync "$1" --aof-use-rdb-preamble no --auto-aof-rewrite-percentage 0 \
    --daemonize no >"$2/redis.log" 2>&1 &
  REDIS_PID=$!
  PIDS+=("$REDIS_PID")
  wait_for_line "$2/redis.log" 'Ready to accept connections' 20
}

start_depot() {  # start_depot POLICY DIR [FLAGS...]: sets MANAGER_PID MANAGER_PORT
  local policy=$1 dir=$2
  shift 2
  start_manager --busy-poll-us 0 --data-dir "$dir" --fsync "$policy" "$@"
}

# ---------------------------------------------------------------- 1. throughput
if [[ -z ${SKIP_THROUGHPUT:-} ]]; then
LABELS=() PORTS=() PROTOS=() SPIDS=()
for policy in always everysec; do
  start_redis_aof "$policy" "$DIR_PARENT/redis-$policy"
  LABELS+=("redis appendfsync $policy") PORTS+=("$REDIS_PORT") PROTOS+=(resp) SPIDS+=("$REDIS_PID")
  start_depot "$policy" "$DIR_PARENT/depot-$policy"
  LABELS+=("depot fsync $policy") PORTS+=("$MANAGER_PORT") PROTOS+=(depot) SPIDS+=("$MANAGER_PID")
done
if ((HAVE_BEANSTALKD)); then
  BS_PORT=$(free_port)
  mkdir -p "$DIR_PARENT/beanstalkd"
  beanstalkd -l 127.0.0.1 -p "$BS_PORT" -b "$DIR_PARENT/beanstalkd" -f 0 &
  PIDS+=($!)
  sleep 0.5
  LABELS+=("beanstalkd -b -f 0") PORTS+=("$BS_PORT") PROTOS+=(beanstalk) SPIDS+=($!)
fi
S=${#LABELS[@]}

RESULTS=$WORK/durable.tsv  # label P test rps p50 p99 fsyncs_per_req
: >"$RESULTS"
run_one() {  # run_one K P N
  local k=$1 p=$2 n=$3 tests=put,get f0=0 f1=0 out
  [[ ${PROTOS[k]} == beanstalk ]] && tests=put
  [[ ${PROTOS[k]} == depot ]] && f0=$(stat_field "${PORTS[k]}" fsyncs)
  out=$(timeout "$LIMIT" "$DEPOT_BENCHMARK" --proto "${PROTOS[k]}" -p "${PORTS[k]}" $(auth_of "$k") \
    -t "$tests" -c 50 -n "$n" -P "$p" -d 16 --csv | tail -n +2 | tr -d '"')
  [[ ${PROTOS[k]} == depot ]] && f1=$(stat_field "${PORTS[k]}" fsyncs)
  local reqs=$((n * $(echo "$tests" | tr ',' '\n' | wc -l)))
  echo "$out" | awk -F, -v OFS='\t' -v l="${LABELS[k]}" -v p="$p" \
    -v f="$(((f1 - f0) * 1000 / reqs))" '{print l, p, $1, $2, $5, $7, f / 1000}'
}
for cfg in "1 $N_P1" "16 $N_P16"; do
  read -r p n <<<"$cfg"
  for ((k = 0; k < S; k++)); do : >"$WORK/d.$k"; done
  for ((i = 0; i < RUNS; i++)); do
    for ((j = 0; j < S; j++)); do
      k=$(((i + j) % S))
      run_one "$k" "$p" "$n" >>"$WORK/d.$k"
    done
  done
  for ((k = 0; k < S; k++)); do
    median_rows "$WORK/d.$k" 3 4 >>"$RESULTS"
  done
done
for pid in "${SPIDS[@]}"; do stop_pid "$pid"; done

echo "## 1. Throughput (ratio: depot / Redis under the same policy, matching test)"
echo
echo "| -P | server | test | rps | ratio | p50 ms | p99 ms | fsyncs/request |"
echo "|---:|---|---|---:|---:|---:|---:|---:|"
awk -F'\t' '
  { key = $2 SUBSEP $1 SUBSEP $3; rps[key] = $4; row[NR] = $0 }
  END {
    for (i = 1; i <= NR; i++) {
      split(row[i], f, "\t")
      ratio = "-"
      if (f[1] ~ /^depot/) {
        pol = f[1]; sub(/depot fsync /, "", pol)
        t = f[3] == "PUT" ? "LPUSH" : (f[3] == "GET" ? "RPOP" : f[3])
        base = rps[f[2] SUBSEP "redis appendfsync " pol SUBSEP t]
        if (base > 0) ratio = sprintf("%.2fx", f[4] / base)
      }
      fs = f[1] ~ /^depot/ ? f[7] : "-"
      printf "| %s | %s | %s | %.0f | %s | %s | %s | %s |\n", f[2], f[1], f[3], f[4], ratio, f[5], f[6], fs
    }
  }' "$RESULTS"
echo
fi  # SKIP_THROUGHPUT

# ---------------------------------------------------------------- 2-4. recovery, compaction, bytes
echo "## 2. Recovery of $ITEMS queued 16-byte items"
echo
d_dir=$DIR_PARENT/depot-recovery
start_depot always "$d_dir" --compact-percent 0
timeout "$LIMIT" "$DEPOT_BENCHMARK" -p "$MANAGER_PORT" -a "$AUTHKEY" -t put -c 1 -n "$ITEMS" \
  -d 16 -P 64 --queue memory -q >/dev/null
log_bytes=$(stat_field "$MANAGER_PORT" log_since_snapshot)  # records, not the zeros written ahead
stop_pid "$MANAGER_PID"
t0=$(date +%s%N)
start_depot always "$d_dir" --compact-percent 0
d_log_ms=$((($(date +%s%N) - t0) / 1000000))
d_log_recovery=$(stat_field "$MANAGER_PORT" recovery_ms)
stop_pid "$MANAGER_PID"
# A compaction: thresholds that the next write crosses.
start_depot always "$d_dir" --compact-min-bytes 1 --compact-percent 1
DEPOT_AUTHKEY=$AUTHKEY "$BUILD/bin/depot-cli" -a "127.0.0.1:$MANAGER_PORT" put trigger x >/dev/null
for ((i = 0; i < 600; i++)); do
  [[ $(stat_field "$MANAGER_PORT" compactions) -ge 1 ]] && break
  sleep 0.1
done
snap_bytes=$(stat_field "$MANAGER_PORT" snapshot_bytes)
pause_us=$(stat_field "$MANAGER_PORT" compaction_pause_us)
stop_pid "$MANAGER_PID"
t0=$(date +%s%N)
start_depot always "$d_dir" --compact-percent 0
d_snap_ms=$((($(date +%s%N) - t0) / 1000000))
d_snap_recovery=$(stat_field "$MANAGER_PORT" recovery_ms)
stop_pid "$MANAGER_PID"

r_dir=$DIR_PARENT/redis-recovery
start_redis_aof always "$r_dir"
redis-benchmark -p "$REDIS_PORT" -t lpush -c 1 -n "$ITEMS" -d 16 -P 64 -q >/dev/null 2>&1 ||
  timeout "$LIMIT" "$DEPOT_BENCHMARK" --proto resp -p "$REDIS_PORT" -t put -c 1 -n "$ITEMS" \
    -d 16 -P 64 --queue memory -q >/dev/null
aof_bytes=$(du -b -c "$r_dir"/appendonlydir/* 2>/dev/null | tail -1 | cut -f1)
redis-cli -p "$REDIS_PORT" save >/dev/null
rdb_bytes=$(stat -c %s "$r_dir/dump.rdb")
rm -f "$r_dir/dump.rdb"
stop_pid "$REDIS_PID"
# The RDB compresses a list of identical items (LZF on its nodes): also one of distinct items.
u_dir=$DIR_PARENT/redis-distinct
start_redis_aof no "$u_dir"
python3 -c '
import os, sys
n = int(sys.argv[1]); out = sys.stdout.buffer
for i in range(n):
    v = os.urandom(8).hex().encode()
    out.write(b"*3\r\n$5\r\nLPUSH\r\n$6\r\nmemory\r\n$16\r\n" + v + b"\r\n")
' "$ITEMS" | redis-cli -p "$REDIS_PORT" --pipe >/dev/null
redis-cli -p "$REDIS_PORT" save >/dev/null
rdb_distinct_bytes=$(stat -c %s "$u_dir/dump.rdb")
stop_pid "$REDIS_PID"
t0=$(date +%s%N)
start_redis_aof always "$r_dir"
r_ms=$((($(date +%s%N) - t0) / 1000000))
r_load=$(sed -n 's/.*DB loaded from append only file: \([0-9.]*\) seconds.*/\1/p' "$r_dir/redis.log" | tail -1)
stop_pid "$REDIS_PID"

echo "| what | time to serve (process start to ready) | loading itself |"
echo "|---|---:|---:|"
echo "| depot, from the log ($log_bytes bytes) | $d_log_ms ms | $d_log_recovery ms |"
echo "| depot, from the snapshot ($snap_bytes bytes) | $d_snap_ms ms | $d_snap_recovery ms |"
echo "| Redis, from an AOF of $ITEMS LPUSHes ($aof_bytes bytes) | $r_ms ms | ${r_load:-?} s |"
echo
echo "## 3. Compaction"
echo
echo "The loop's pause at the start of the compaction of $ITEMS items (write, fdatasync, new"
echo "segment, fork): $pause_us us (STATS compaction_pause_us)."
echo

c_dir=$DIR_PARENT/depot-compaction
cp -r "$d_dir" "$c_dir"
rm -f "$c_dir/LOCK"
lat() {  # lat FLAGS...: p50 and p99 of a one-client put loop
  start_depot always "$c_dir" "$@"
  timeout "$LIMIT" "$DEPOT_BENCHMARK" -p "$MANAGER_PORT" -a "$AUTHKEY" -t put -c 1 -n 20000 -d 16 \
    --queue loop --csv | tail -1 | tr -d '"' | awk -F, '{print $5, $7, $8}'
  echo "compactions=$(stat_field "$MANAGER_PORT" compactions)" >&2
  stop_pid "$MANAGER_PID"
}
# Command substitution, not < <(...): it waits for lat to stop its manager.
quiet_run=$(lat --compact-percent 0)
# One compaction (the directory has the snapshot section 2 made): it starts once the loop has
# written 3 % of the snapshot's size, about 600 KB, half-way through.
compact_run=$(lat --compact-min-bytes 100000 --compact-percent 3)
read -r q50 q99 qmax <<<"$quiet_run"
read -r c50 c99 cmax <<<"$compact_run"
echo "| one-client put loop (20000 puts, fsync always) | p50 ms | p99 ms | max ms |"
echo "|---|---:|---:|---:|"
echo "| without a compaction | $q50 | $q99 | $qmax |"
echo "| while the $ITEMS-item state is compacted | $c50 | $c99 | $cmax |"
echo
echo "## 4. Disk bytes per queued 16-byte item"
echo
echo "| file | bytes | per item |"
echo "|---|---:|---:|"
echo "| depot log (records as written) | $log_bytes | $(awk -v b="$log_bytes" -v n="$ITEMS" 'BEGIN {printf "%.1f", b / n}') |"
echo "| depot snapshot | $snap_bytes | $(awk -v b="$snap_bytes" -v n="$ITEMS" 'BEGIN {printf "%.1f", b / n}') |"
echo "| Redis AOF | $aof_bytes | $(awk -v b="$aof_bytes" -v n="$ITEMS" 'BEGIN {printf "%.1f", b / n}') |"
echo "| Redis RDB (identical items: compressed) | $rdb_bytes | $(awk -v b="$rdb_bytes" -v n="$ITEMS" 'BEGIN {printf "%.1f", b / n}') |"
echo "| Redis RDB of $ITEMS distinct random 16-byte items | $rdb_distinct_bytes | $(awk -v b="$rdb_distinct_bytes" -v n="$ITEMS" 'BEGIN {printf "%.1f", b / n}') |"
echo
echo "depot's records are not compressed: identical or distinct items take the same bytes."
echo
echo "Commands (ports, keys and directories vary per run):"
echo '```'
echo "redis-server --dir D --save '' --appendonly yes --appendfsync always|everysec --aof-use-rdb-preamble no --auto-aof-rewrite-percentage 0"
echo "depot-manager --busy-poll-us 0 --data-dir D --fsync always|everysec"
((HAVE_BEANSTALKD)) && echo "beanstalkd -b D -f 0"
echo "depot-benchmark [--proto resp|beanstalk] -t put,get -c 50 -n $N_P1 -P 1 -d 16 --csv"
echo "depot-benchmark [--proto resp|beanstalk] -t put,get -c 50 -n $N_P16 -P 16 -d 16 --csv"
echo '```'
