# futures_sum.py: seed 000's dask example with depot futures. The squares run on the pool's
# workers (python/examples/pool_worker.py or the C++ task_pool, or both), and sum takes the
# 10,000 futures as its argument: the squares go from the workers to the manager to the
# worker running sum, never through this program.
#
#   python3 pool_worker.py &            # or: build/bin/task_pool --address ... --authkey abc &
#   DEPOT_ADDRESS=127.0.0.1:5000 DEPOT_AUTHKEY=abc python3 futures_sum.py   # 333283335000
import os

import depot
from depot.futures import Executor

client = depot.Client(os.environ.get("DEPOT_ADDRESS", "127.0.0.1:5000"),
                      authkey=os.environ.get("DEPOT_AUTHKEY", "abc"))
with Executor(client, os.environ.get("DEPOT_POOL", "pool")) as ex:
    A = ex.map("square", range(10000))      # one round trip for all of them
    total = ex.submit("sum", A)             # sent once A is done
    print(total.result())                   # 333283335000
