"""The latency figures of the executor benchmarks (dask_bench.py, depot_futures_bench.py), in
depot-executor-bench's format: METRIC p50_us= p99_us= mean_us= min_us= max_us= n=."""
import time


def pct(sorted_v, p):
    i = int(p / 100.0 * len(sorted_v))
    return sorted_v[min(i, len(sorted_v) - 1)]


def print_latencies(metric, v):
    v = sorted(v)
    print("%s p50_us=%.1f p99_us=%.1f mean_us=%.1f min_us=%.1f max_us=%.1f n=%d"
          % (metric, pct(v, 50), pct(v, 99), sum(v) / len(v), v[0], v[-1], len(v)), flush=True)


def time_calls(metric, call, want, n, warmup):
    """call(i) for i < warmup + n, one at a time, each checked against want(i); prints the
    latencies of the last n."""
    lat = []
    for i in range(warmup + n):
        t0 = time.perf_counter()
        r = call(i)
        us = (time.perf_counter() - t0) * 1e6
        if r != want(i):
            raise SystemExit("%s: call %d gave %r, want %r" % (metric, i, r, want(i)))
        if i >= warmup:
            lat.append(us)
    print_latencies(metric, lat)
