#!/usr/bin/env bash
# memory.sh: what one queued item costs, depot against Redis.
#
#   BUILD=build-dir bench/memory.sh
#
# Puts ITEMS items of SIZE bytes into one depot queue (depot-benchmark -t put, pipelined)
# and the same into one Redis list (redis-benchmark -t lpush, same -c/-P/-d), and reports
# the growth of the server's VmRSS (/proc/PID/status) per item; then drains both
# (get / rpop) and reports what RSS is left.
#
# Environment: BUILD, ITEMS (default 1000000), SIZE (default 16), PIPELINE (default 64),
# DEPOT_MANAGER_FLAGS (one flag set; default "--busy-poll-us 0").
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need "$MANAGER" "$DEPOT_BENCHMARK" "$PAIR_BENCH" redis-server redis-benchmark redis-cli

ITEMS=${ITEMS:-1000000}
SIZE=${SIZE:-16}
PIPELINE=${PIPELINE:-64}
DEPOT_MANAGER_FLAGS=${DEPOT_MANAGER_FLAGS:-"--busy-poll-us 0"}
DEPOT_MANAGER_FLAGS=${DEPOT_MANAGER_FLAGS%%;*}  # one flag set only
LIMIT=${LIMIT:-120}

echo "# Memory per queued item: $ITEMS items of $SIZE bytes"
echo
machine_note
echo "commit: $(git -C "$BENCH_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo

# ---------------------------------------------------------------- depot
# shellcheck disable=SC2086
start_manager $DEPOT_MANAGER_FLAGS
d_before=$(rss_kib "$MANAGER_PID")
timeout "$LIMIT" "$DEPOT_BENCHMARK" -p "$MANAGER_PORT" -a "$AUTHKEY" -t put -c 1 -n "$ITEMS" \
  -d "$SIZE" -P "$PIPELINE" --queue memory -q >/dev/null
d_after=$(rss_kib "$MANAGER_PID")
d_size=$("$PAIR_BENCH" size --address "127.0.0.1:$MANAGER_PORT" --authkey "$AUTHKEY" --queue memory)
timeout "$LIMIT" "$DEPOT_BENCHMARK" -p "$MANAGER_PORT" -a "$AUTHKEY" -t get -c 1 -n "$ITEMS" \
  -P "$PIPELINE" --queue memory -q >/dev/null
d_drained=$(rss_kib "$MANAGER_PID")
check_manager
stop_pid "$MANAGER_PID"

# ---------------------------------------------------------------- redis
start_redis
r_before=$(rss_kib "$REDIS_PID")
r_used_before=$(redis-cli -p "$REDIS_PORT" info memory | awk -F: '/^used_memory:/ {print $2+0}')
timeout "$LIMIT" redis-benchmark -p "$REDIS_PORT" -t lpush -c 1 -n "$ITEMS" -d "$SIZE" \
  -P "$PIPELINE" -q >/dev/null 2>&1
r_after=$(rss_kib "$REDIS_PID")
r_used_after=$(redis-cli -p "$REDIS_PORT" info memory | awk -F: '/^used_memory:/ {print $2+0}')
r_size=$(redis-cli -p "$REDIS_PORT" llen mylist)
timeout "$LIMIT" redis-benchmark -p "$REDIS_PORT" -t rpop -c 1 -n "$ITEMS" -P "$PIPELINE" \
  -q >/dev/null 2>&1
r_drained=$(rss_kib "$REDIS_PID")
stop_pid "$REDIS_PID"

per_item() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN {printf "%.1f", (b - a) * 1024 / n}'; }
echo "| server | items held | RSS before (KiB) | RSS full (KiB) | growth per item (bytes) | RSS after draining (KiB) |"
echo "|---|---:|---:|---:|---:|---:|"
echo "| depot ($DEPOT_MANAGER_FLAGS) | $d_size | $d_before | $d_after | $(per_item "$d_before" "$d_after" "$d_size") | $d_drained |"
echo "| redis | $r_size | $r_before | $r_after | $(per_item "$r_before" "$r_after" "$r_size") | $r_drained |"
echo
echo "Redis' own count (INFO used_memory): $(per_item "$((r_used_before / 1024))" "$((r_used_after / 1024))" "$r_size") bytes per item."
echo "Ratio of growth per item, depot / redis: $(awk -v a="$((d_after - d_before))" -v b="$((r_after - r_before))" 'BEGIN {printf "%.2f", a / b}')"
echo
echo "Commands:"
echo '```'
echo "depot-benchmark -p PORT -a KEY -t put -c 1 -n $ITEMS -d $SIZE -P $PIPELINE --queue memory -q"
echo "depot-benchmark -p PORT -a KEY -t get -c 1 -n $ITEMS -P $PIPELINE --queue memory -q"
echo "redis-benchmark -p PORT -t lpush -c 1 -n $ITEMS -d $SIZE -P $PIPELINE -q"
echo "redis-benchmark -p PORT -t rpop -c 1 -n $ITEMS -P $PIPELINE -q"
echo '```'
