#!/usr/bin/env bash
# run_all.sh: every depot benchmark in sequence (the Makefile's `bench` target):
#   1. compare.sh           depot vs Redis with one generator, and the echo floor
#   1b. compare_durable.sh  durable depot vs Redis AOF (and beanstalkd), recovery, compaction
#   2. compare_managers.sh  seed 004 exchange: Python multiprocessing.managers vs depot
#   3. memory.sh            RSS per queued item, depot vs Redis
#   4. compare_dask.sh      executor, futures and actors vs dask.distributed (C++ and Python)
#   5. web_fib_bench.sh     seed 002's web server, inline vs offloaded
#   5b. compare_tornado.sh  seed 002's tornado server: /fib inline, on dask, on depot
#   6. compare_streamz.sh   depot::stream vs Python streamz
# Prints markdown (the tables of bench/RESULTS.md). Builds nothing: build the targets
# depot-manager depot-cli depot-benchmark echo-floor tcp-pingpong depot-pair-bench task_pool web_fib
# depot-executor-bench depot-streams-bench first (`make bench` builds everything), then
#   BUILD=path/to/build bench/run_all.sh
# The environment variables of each script pass through (DEPOT_MANAGER_FLAGS, RUNS, ...).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/compare.sh"
echo
"$here/compare_durable.sh"
echo
"$here/compare_managers.sh"
echo
"$here/memory.sh"
echo
"$here/compare_dask.sh"
echo
"$here/web_fib_bench.sh"
echo
"$here/compare_tornado.sh"
echo
"$here/compare_streamz.sh"
