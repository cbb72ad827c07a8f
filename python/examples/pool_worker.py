# pool_worker.py: a Python worker for the "pool" executor, serving what the C++ task_pool
# serves (samples/pool_functions.h): square, sum, increment, fib, sleep_ms, fail, crash and
# the Counter, PrintActor and Worker actors. C++ and Python masters (futures_sum,
# futures_sum.py, actor_cookbook.py) use it alike.
#
#   DEPOT_ADDRESS=127.0.0.1:5000 DEPOT_AUTHKEY=abc python3 pool_worker.py [threads]
#
# Stops on SIGINT / SIGTERM after acking the batch it holds.
import os
import signal
import sys
import time

import depot
from depot.futures import Worker

client = depot.Client(os.environ.get("DEPOT_ADDRESS", "127.0.0.1:5000"),
                      authkey=os.environ.get("DEPOT_AUTHKEY", "abc"))
worker = Worker(client, os.environ.get("DEPOT_POOL", "pool"),
                threads=int(sys.argv[1]) if len(sys.argv) > 1 else 1)


@worker.register
def square(x: int) -> int:
    return x * x


@worker.register("sum")
def total(xs: list[int]) -> int:     # a list of futures arrives as the list of their results
    return sum(xs)


@worker.register
def increment(x: int) -> int:
    return x + 1


@worker.register
def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


@worker.register
def sleep_ms(ms: int) -> int:
    time.sleep(ms / 1000)
    return ms


@worker.register
def fail(why: str) -> int:
    raise ValueError(why)           # arrives as RemoteError, type "ValueError"


@worker.register
def crash(code: int) -> int:
    os._exit(code)                  # kills the worker mid-task: the task outlives it


@worker.register_actor("Counter")
class Counter:                      # the seeds' actor (dask's Counter example)
    def __init__(self):
        self.n = 0

    def increment(self) -> int:
        self.n += 1
        return self.n

    def add(self, k: int) -> int:
        self.n += k
        return self.n


@worker.register_actor("PrintActor")
class PrintActor:                   # the cookbook's actors (seed 003, actor_cookbook.py)
    def print(self, msg: str) -> None:
        print("Got:", msg, flush=True)


@worker.register_actor("Worker")
class CookbookWorker:
    def add(self, x: int, y: int) -> int:
        return x + y


signal.signal(signal.SIGTERM, lambda *_: worker.stop())
signal.signal(signal.SIGINT, lambda *_: worker.stop())
print("pool_worker: serving pool '%s' with %d thread(s)" % (worker.pool, worker.threads),
      flush=True)
worker.run()
print("pool_worker: stopped after %d tasks" % worker.tasks_done, flush=True)
