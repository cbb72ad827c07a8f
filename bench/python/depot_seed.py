"""depot_seed.py: seed 004's master/worker exchange with the depot Python client
(python/depot), for bench/compare_python_client.sh; seed_master.py / seed_worker.py are the
same exchange over Python's multiprocessing.managers.

    PYTHONPATH=python /usr/bin/python3 bench/python/depot_seed.py worker --address H:P \\
        --authkey K --prefix run1- [--batch B]
    PYTHONPATH=python /usr/bin/python3 bench/python/depot_seed.py master --address H:P \\
        --authkey K --prefix run1- --tasks 10000 [--batch B]

The master puts --tasks random ints on PREFIXtasks (per item, or put_many of B), reads as
many results from PREFIXresults (get, or get_many of up to B) and prints tasks/s, timed from
its first put to its last result. A worker squares what it gets (get / get_many(B)) and puts
it back (put / put_many), and exits once no task came for --timeout s after its first.
Values are decimal text (codec=int), as a C++ queue<int> holds them.
"""
import argparse
import queue
import random
import sys
import time

import depot


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=["master", "worker"])
    ap.add_argument("--address", required=True)
    ap.add_argument("--authkey", required=True)
    ap.add_argument("--prefix", default="")
    ap.add_argument("--tasks", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=0, help="0: per item")
    ap.add_argument("--timeout", type=float, default=1.0)
    ap.add_argument("--first-timeout", type=float, default=20.0)
    ap.add_argument("--pipeline-puts", action="store_true",
                    help="depot.Client(pipeline_puts=True): puts return before their answer")
    ap.add_argument("--hold-puts", action="store_true",
                    help='depot.Client(pipeline_puts="hold"): held for the next request')
    a = ap.parse_args()
    c = depot.Client(a.address, authkey=a.authkey, quiet=True,
                     pipeline_puts="hold" if a.hold_puts else a.pipeline_puts)
    tasks = c.queue(a.prefix + "tasks", codec=int)
    results = c.queue(a.prefix + "results", codec=int)
    if a.role == "worker":
        done = 0
        timeout = a.first_timeout
        while True:
            try:
                if a.batch:
                    got = tasks.get_many(a.batch, timeout=timeout)
                    results.put_many([n * n for n in got])
                    done += len(got)
                else:
                    n = tasks.get(timeout=timeout)
                    results.put(n * n)
                    done += 1
            except queue.Empty:
                break
            timeout = a.timeout
        print("worker exit after %d tasks" % done)
        return 0

    values = [random.randint(0, 10000) for _ in range(a.tasks)]
    expected = sum(n * n for n in values)
    total = 0
    t0 = time.perf_counter()
    if a.batch:
        for i in range(0, len(values), a.batch):
            tasks.put_many(values[i:i + a.batch])
        got = 0
        while got < a.tasks:
            batch = results.get_many(min(a.batch, a.tasks - got), timeout=10)
            got += len(batch)
            total += sum(batch)
    else:
        for n in values:
            tasks.put(n)
        for _ in range(a.tasks):
            total += results.get(timeout=10)
    secs = time.perf_counter() - t0
    c.close()
    if total != expected:
        print("results sum to %d, expected %d" % (total, expected), file=sys.stderr)
        return 1
    print("depot python (batch %d): %d tasks in %.4f s: %.1f tasks/s"
          % (a.batch, a.tasks, secs, a.tasks / secs))
    print("tasks_per_s %.1f" % (a.tasks / secs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
