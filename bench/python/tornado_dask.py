"""The other sides of bench/compare_tornado.sh: python/examples/tornado_fib.py's application
and experiment (seed 002), with /fib computed by dask (the seed's "after":
LocalCluster(n_workers=2, threads_per_worker=1) and Client(asynchronous=True)) or on the
server's own loop (the seed's "before": every request waits for the fib in front of it).

  PYTHONPATH=python/examples /usr/bin/python3 bench/python/tornado_dask.py dask|inline \\
      [--impure] [--conc 20] [--burst 28] [--slow 35]

Prints the example's lines: the seed's, then key=value.
"""

import argparse
import logging

import tornado.ioloop

from tornado_fib import listen, report


def fib(n):  # the seed's, defined here so dask ships it by value as the seed's notebook did
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def increment(x):
    return x + 1


FUNCTIONS = {"fib": fib, "increment": increment}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("backend", choices=["dask", "inline"])
    ap.add_argument("--impure", action="store_true")
    ap.add_argument("--conc", type=int, default=20)
    ap.add_argument("--burst", type=int, default=28)
    ap.add_argument("--slow", type=int, default=35)
    a = ap.parse_args()

    async def run():
        cluster = None
        if a.backend == "dask":
            from dask.distributed import Client, LocalCluster  # noqa: PLC0415
            cluster = await LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                         dashboard_address=None, silence_logs=logging.ERROR,
                                         asynchronous=True)
            client = await Client(cluster, asynchronous=True)
            await client.wait_for_workers(2)

            def submit(function, *args):
                return client.submit(FUNCTIONS[function], *args, pure=not a.impure)
        else:
            async def submit(function, *args):  # blocks the loop, as the seed's first server
                return FUNCTIONS[function](*args)
        server, port = listen(submit)
        await report(port, submit, a.conc, a.burst, a.slow)
        server.stop()
        if cluster is not None:
            await client.close()
            await cluster.close()

    tornado.ioloop.IOLoop.current().run_sync(run)


if __name__ == "__main__":
    main()
