# tornado_fib.py: seed 002's tornado web server, a fast page and a slow Fibonacci page, with
# /fib offloaded to depot workers (pool_worker.py or the C++ task_pool: both serve "fib"). The
# handler awaits the future, so the server keeps answering /fast while fib runs elsewhere,
# and 20 requests for /fib/28 run on as many workers as there are.
#
#   python3 pool_worker.py & python3 pool_worker.py &
#   DEPOT_ADDRESS=127.0.0.1:5000 DEPOT_AUTHKEY=abc python3 tornado_fib.py            # serves :9000
#   DEPOT_ADDRESS=127.0.0.1:5000 DEPOT_AUTHKEY=abc python3 tornado_fib.py --measure  # the seed's
#
# --measure runs the seed's experiment on the server's own loop and exits: /fast once and 100
# times at once, CONC (20) simultaneous /fib/BURST (28), /fast while /fib/SLOW (35) runs, and
# the submit -> result round trip. Each figure is a line as the seed prints it; the last lines
# are key=value for scripts (bench/compare_tornado.sh runs the same app on dask).
import argparse
import asyncio
import os
import statistics
from time import perf_counter as time

import tornado.gen
import tornado.httpclient
import tornado.httpserver
import tornado.ioloop
import tornado.netutil
import tornado.web


def make_app(submit):
    """The seed's application. submit(function_name, *args) returns an awaitable result."""

    class FibHandler(tornado.web.RequestHandler):
        async def get(self, n):
            result = await submit("fib", int(n))     # the work happens elsewhere
            self.write(str(result))

    class MainHandler(tornado.web.RequestHandler):
        async def get(self):
            self.write("Hello, world")

    return tornado.web.Application([
        (r"/fast", MainHandler),
        (r"/fib/(\d+)", FibHandler),
    ])


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


async def measure(url, n=100, want=None):
    """Get url n times concurrently. Print duration (the seed's measure), return it in s."""
    # A client of its own with room for all n at once: the loop's shared AsyncHTTPClient
    # keeps the max_clients (10) it was first made with and would queue the rest.
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=max(n, 10))
    start = time()
    try:
        responses = await tornado.gen.multi([client.fetch(url, request_timeout=600)
                                             for _ in range(n)])
    finally:
        client.close()
    end = time()
    for r in responses:
        if want is not None and r.body.decode() != want:
            raise SystemExit("%s answered %r, not %r" % (url, r.body, want))
    print(url, ', %d simultaneous requests, ' % n, 'total time: ', (end - start), flush=True)
    return end - start


async def experiment(base, submit, conc=20, burst=28, slow=35, round_trips=50):
    """The seed's figures against the server at base (http://host:port). Returns them as a
    dict; fast_while_slow_s is /fast's time while /fib/slow runs, and fast_first says /fast
    was answered while /fib/slow was still computing."""
    out = {"fast_1_s": await measure(base + "/fast", 1, "Hello, world"),
           "fast_100_s": await measure(base + "/fast", 100, "Hello, world"),
           "burst_s": await measure(base + "/fib/%d" % burst, conc, str(fib(burst)))}
    due = time() + 0.005                              # the seed sends /fast right after
    slow_run = asyncio.ensure_future(measure(base + "/fib/%d" % slow, 1))
    await asyncio.sleep(0.005)
    await measure(base + "/fast", 1, "Hello, world")
    out["fast_while_slow_s"] = time() - due           # from when it was due: a blocked
    out["fast_first"] = not slow_run.done()           # loop starts nothing, not even a timer
    print("/fast while /fib/%d runs: %.4f s" % (slow, out["fast_while_slow_s"]), flush=True)
    out["slow_s"] = await slow_run
    lat = []
    for i in range(-5, round_trips):                  # the seed's f(): submit, await, time
        start = time()
        result = await submit("increment", 10 + i)
        if i >= 0:                                    # (after 5 to warm up)
            lat.append(time() - start)
        assert result == 11 + i, result
    out["roundtrip_ms"] = statistics.median(lat) * 1000
    print('Roundtrip latency: %.2f ms (median of %d)' % (out["roundtrip_ms"], round_trips),
          flush=True)
    return out


def listen(submit, port=0):
    """The app served on 127.0.0.1:port (0: any free one): (server, the port)."""
    sockets = tornado.netutil.bind_sockets(port, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(make_app(submit))
    server.add_sockets(sockets)
    return server, sockets[0].getsockname()[1]


async def report(port, submit, conc, burst, slow):
    """experiment() on the server at port, its figures printed as key=value lines."""
    figures = await experiment("http://127.0.0.1:%d" % port, submit, conc, burst, slow)
    for k, v in figures.items():
        print("%s=%s" % (k, v), flush=True)


def main():
    # Imported here: bench/python/tornado_dask.py imports this module without depot.
    import depot                                      # noqa: PLC0415
    from depot.futures import Executor                # noqa: PLC0415

    ap = argparse.ArgumentParser(description="seed 002's tornado server on depot workers")
    ap.add_argument("--port", type=int, default=9000, help="0: any free port")
    ap.add_argument("--measure", action="store_true", help="run the seed's experiment, exit")
    ap.add_argument("--impure", action="store_true",
                    help="every request its own task (default: identical ones share one)")
    ap.add_argument("--conc", type=int, default=20)
    ap.add_argument("--burst", type=int, default=28)
    ap.add_argument("--slow", type=int, default=35)
    a = ap.parse_args()

    client = depot.Client(os.environ.get("DEPOT_ADDRESS", "127.0.0.1:5000"),
                          authkey=os.environ.get("DEPOT_AUTHKEY", "abc"))
    ex = Executor(client, os.environ.get("DEPOT_POOL", "pool"))

    def submit(function, *args):
        return ex.submit(function, *args, pure=not a.impure)   # a depot Future: awaitable

    server, port = listen(submit, a.port)
    if not a.measure:
        print("serving http://127.0.0.1:%d/fast and /fib/<n>" % port, flush=True)
        tornado.ioloop.IOLoop.current().start()
        return
    tornado.ioloop.IOLoop.current().run_sync(lambda: report(port, submit, a.conc, a.burst, a.slow))
    server.stop()
    ex.close()


if __name__ == "__main__":
    main()
