"""depot's Python side of bench/compare_dask.sh: dask_bench.py's three figures with
depot.futures, a Python master on Python workers (python/examples/pool_worker.py, which
serves increment, square, sum and the Counter actor), the seed's code otherwise.

  roundtrip  ex.submit("increment", i).result(), one at a time, distinct i
  map_sum    A = ex.map("square", range(10000)); ex.submit("sum", A).result()
  actor      counter.call("increment").result() on ex.actor("Counter")

  PYTHONPATH=python /usr/bin/python3 bench/python/depot_futures_bench.py \\
      --address 127.0.0.1:PORT --authkey KEY [--n 2000] [--warmup 200] [--map 10000] [--runs 5]

Prints one key=value line per metric, in depot-executor-bench's format.
"""

import argparse
import random
import time

import depot
from depot.futures import Executor

from latencies import time_calls


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--address", required=True)
    ap.add_argument("--authkey", required=True)
    ap.add_argument("--pool", default="pool")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--map", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", default="")
    a = ap.parse_args()

    client = depot.Client(a.address, authkey=a.authkey)
    with Executor(client, a.pool) as ex:
        # Distinct arguments from any earlier run's, as depot-executor-bench's random base
        # (a pure task is only shared while a future for it is alive anyway).
        base = random.randrange(1_000_000) * 1_000_000

        if a.only in ("", "roundtrip"):
            time_calls("roundtrip", lambda i: ex.submit("increment", base + i).result(),
                       lambda i: base + i + 1, a.n, a.warmup)

        if a.only in ("", "map_sum"):
            want = sum(i * i for i in range(a.map))
            ms = []
            for r in range(a.runs + 1):  # the first run warms up
                t0 = time.perf_counter()
                A = ex.map("square", range(a.map))
                v = ex.submit("sum", A).result()
                t = (time.perf_counter() - t0) * 1e3
                if v != want:
                    raise SystemExit("sum of squares gave %r, want %d" % (v, want))
                del A
                if r > 0:
                    ms.append(t)
            ms.sort()
            print("map_sum median_ms=%.2f min_ms=%.2f max_ms=%.2f runs=%d tasks=%d sum=%d"
                  % (ms[len(ms) // 2], ms[0], ms[-1], len(ms), a.map + 1, want), flush=True)

        if a.only in ("", "actor"):
            counter = ex.actor("Counter")
            time_calls("actor", lambda i: counter.call("increment").result(), lambda i: i + 1,
                       a.n, a.warmup)
            counter.close()


if __name__ == "__main__":
    main()
