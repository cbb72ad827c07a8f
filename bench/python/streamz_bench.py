"""streamz's side of bench/compare_streamz.sh: the pipelines depot-streams-bench runs, with
Python streamz (Debian's python3-streamz), synchronous, one thread.

  map_sink         source.map(inc).sink(f)
  filter_map_acc   source.filter(even).map(double).accumulate(add).sink(f)
  partition_sum    source.partition(5).map(sum).sink(f)
  sliding_window   source.sliding_window(3).sink(f)
  zip2             s1.zip(s2).sink(f), emits alternating between s1 and s2

  /usr/bin/python3 bench/python/streamz_bench.py [--n 200000] [--runs 3] [--only NAME]

Prints one line per pipeline: name events/s (best run), as depot-streams-bench does.
"""

import argparse
import time

from streamz import Stream

total = 0


def sink(x):
    global total
    total += 1


def map_sink():
    s = Stream()
    s.map(lambda x: x + 1).sink(sink)
    return s.emit


def filter_map_acc():
    s = Stream()
    s.filter(lambda x: x % 2 == 0).map(lambda x: x * 2).accumulate(lambda a, b: a + b).sink(sink)
    return s.emit


def partition_sum():
    s = Stream()
    s.partition(5).map(sum).sink(sink)
    return s.emit


def sliding_window():
    s = Stream()
    s.sliding_window(3).sink(sink)
    return s.emit


def zip2():
    a, b = Stream(), Stream()
    a.zip(b).sink(sink)

    def emit(i):
        (b if i & 1 else a).emit(i)

    return emit


BENCHES = [map_sink, filter_map_acc, partition_sum, sliding_window, zip2]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=200000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--only", default="")
    a = p.parse_args()
    for bench in BENCHES:
        if a.only and a.only != bench.__name__:
            continue
        best = 0.0
        for _ in range(a.runs):
            emit = bench()
            for i in range(1000):
                emit(i)
            t0 = time.perf_counter()
            for i in range(a.n):
                emit(i)
            eps = a.n / (time.perf_counter() - t0)
            best = max(best, eps)
        print(f"{bench.__name__} {best:.0f}", flush=True)


if __name__ == "__main__":
    main()
