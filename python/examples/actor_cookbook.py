# actor_cookbook.py: the Python Cookbook's actors (seed 003) over depot. The actors live on
# the pool's workers (pool_worker.py or the C++ task_pool, which both register them), in
# another process:
# - PrintActor gets "Hello" and "World" as one-way messages (send: nobody waits for an
#   answer), then close(), which is queued after them and answered once both have run: the
#   seed's join(). The worker serving it prints "Got: Hello" and "Got: World".
# - The cookbook's Worker actor runs add(2, 3); result() blocks until it is set, like the
#   seed's Result. This program prints 5.
#
#   DEPOT_ADDRESS=127.0.0.1:5000 DEPOT_AUTHKEY=abc python3 actor_cookbook.py   # 5
import os

import depot
from depot.futures import Executor

client = depot.Client(os.environ.get("DEPOT_ADDRESS", "127.0.0.1:5000"),
                      authkey=os.environ.get("DEPOT_AUTHKEY", "abc"))
ex = Executor(client, os.environ.get("DEPOT_POOL", "pool"))

p = ex.actor("PrintActor")      # p = PrintActor(); p.start()
p.send("print", "Hello")        # p.send('Hello')
p.send("print", "World")        # p.send('World')
p.close()                       # p.close(); p.join(): both are printed now

worker = ex.actor("Worker")
r = worker.call("add", 2, 3)    # r = worker.submit(add, 2, 3)
print(r.result())               # 5
worker.close()
ex.close()
