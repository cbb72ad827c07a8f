# futures_async.py: futures_sum.py from asyncio. `await future` waits without blocking the
# event loop (the ticker keeps ticking while the pool works).
#
#   DEPOT_ADDRESS=127.0.0.1:5000 DEPOT_AUTHKEY=abc python3 futures_async.py  # 333283335000
import asyncio
import os

import depot
from depot.futures import Executor


async def ticker(stop: asyncio.Event):
    ticks = 0
    while not stop.is_set():
        ticks += 1
        await asyncio.sleep(0.01)
    return ticks


async def main():
    client = depot.Client(os.environ.get("DEPOT_ADDRESS", "127.0.0.1:5000"),
                          authkey=os.environ.get("DEPOT_AUTHKEY", "abc"))
    with Executor(client, os.environ.get("DEPOT_POOL", "pool")) as ex:
        stop = asyncio.Event()
        ticks = asyncio.create_task(ticker(stop))
        A = ex.map("square", range(10000))
        total = ex.submit("sum", A)
        print(await total)                          # 333283335000
        squares = await asyncio.gather(*A[:3])      # futures are awaitables
        assert squares == [0, 1, 4], squares
        stop.set()
        await ticks


asyncio.run(main())
