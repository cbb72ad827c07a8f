"""dask's side of bench/compare_dask.sh: the three figures depot-executor-bench measures,
on a LocalCluster(n_workers=2, threads_per_worker=1, processes=True) and a Client, with
the seed's code (seed 000: map/sum and the Counter actor; seed 002: the round trip).

  roundtrip  client.submit(increment, i, pure=False).result(), one at a time
  map_sum    A = client.map(square, range(10000)); client.submit(sum, A).result()
  actor      counter.increment().result() on client.submit(Counter, actor=True)

  /usr/bin/python3 bench/python/dask_bench.py [--n 500] [--warmup 50] [--map 10000] [--runs 3]

Prints one key=value line per metric, in depot-executor-bench's format.
"""

import argparse
import logging
import time

from dask.distributed import Client, LocalCluster

from latencies import time_calls


def increment(x):
    return x + 1


def square(x):
    return x ** 2


class Counter:
    n = 0

    def __init__(self):
        self.n = 0

    def increment(self):
        self.n += 1
        return self.n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--map", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="")
    a = ap.parse_args()

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)
    client = Client(cluster)
    try:
        client.wait_for_workers(2)

        if a.only in ("", "roundtrip"):
            time_calls("roundtrip", lambda i: client.submit(increment, i, pure=False).result(),
                       lambda i: i + 1, a.n, a.warmup)

        if a.only in ("", "map_sum"):
            want = sum(i * i for i in range(a.map))
            ms = []
            for r in range(a.runs + 1):  # the first run warms up
                t0 = time.perf_counter()
                A = client.map(square, range(a.map))
                total = client.submit(sum, A)
                v = total.result()
                t = (time.perf_counter() - t0) * 1e3
                assert v == want, v
                del A, total
                if r > 0:
                    ms.append(t)
                # Let the scheduler forget the keys, so the next run computes them again.
                while client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)):
                    time.sleep(0.05)
            ms.sort()
            print("map_sum median_ms=%.2f min_ms=%.2f max_ms=%.2f runs=%d tasks=%d sum=%d"
                  % (ms[len(ms) // 2], ms[0], ms[-1], len(ms), a.map + 1, want), flush=True)

        if a.only in ("", "actor"):
            counter = client.submit(Counter, actor=True).result()
            time_calls("actor", lambda i: counter.increment().result(), lambda i: i + 1, a.n,
                       a.warmup)
            assert counter.n == a.warmup + a.n
    finally:
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
