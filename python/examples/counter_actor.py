# counter_actor.py: dask's Counter actor example with depot actors, synchronously and from
# asyncio. The instance lives on one worker (pool_worker.py or the C++ task_pool, which both
# register "Counter"); calls run there one at a time, in order.
#
#   DEPOT_ADDRESS=127.0.0.1:5000 DEPOT_AUTHKEY=abc python3 counter_actor.py   # 1, 1, 1, 1
import asyncio
import os

import depot
from depot.futures import Executor

client = depot.Client(os.environ.get("DEPOT_ADDRESS", "127.0.0.1:5000"),
                      authkey=os.environ.get("DEPOT_AUTHKEY", "abc"))
ex = Executor(client, os.environ.get("DEPOT_POOL", "pool"))

counter = ex.actor("Counter")         # blocks until a worker holds an instance
future = counter.call("increment")    # a Future
print(future.result())                # 1
print(counter.n)                      # 1: an attribute read, after the calls before it
counter.close()


async def main():
    counter = await asyncio.to_thread(ex.actor, "Counter")
    print(await counter.call("increment"))    # 1
    print(await counter.get_future("n"))      # 1
    await asyncio.to_thread(counter.close)

asyncio.run(main())
ex.close()
