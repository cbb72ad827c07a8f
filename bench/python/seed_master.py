# seed_master.py: seed 004's task_master.py as a benchmark (bench/compare_managers.sh).
#
# The seed's code, parameterised: a BaseManager serving two queue.Queue objects on
# 127.0.0.1:PORT with AUTHKEY; N random tasks are put, then N results are read back with
# get(timeout=10). The master times itself from the first put to the last result and prints
# tasks/s. Per-task printing is gone (it would measure the terminal, not the manager).
#
#   /usr/bin/python3 seed_master.py --port 5000 --authkey abc --tasks 10000 --start-delay 1.0
#
# It prints "ready" once the manager serves, then waits --start-delay seconds so that the
# workers (started on "ready") are connected and blocked in get() before the first put.
import argparse
import queue
import random
import signal
import sys
import time
from multiprocessing.managers import BaseManager

# The task and result queues:
task_queue = queue.Queue()
result_queue = queue.Queue()


class QueueManager(BaseManager):
    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=5000)
    ap.add_argument("--authkey", default="abc")
    ap.add_argument("--tasks", type=int, default=10000)
    ap.add_argument("--start-delay", type=float, default=1.0)
    a = ap.parse_args()
    # Killed by the benchmark's time limit: exit through the finalizers, which stop the
    # manager's server process, instead of leaving it behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    # Register both queues on the network; callable ties them to the Queue objects:
    QueueManager.register("get_task_queue", callable=lambda: task_queue)
    QueueManager.register("get_result_queue", callable=lambda: result_queue)
    manager = QueueManager(address=("127.0.0.1", a.port), authkey=a.authkey.encode())
    manager.start()
    task = manager.get_task_queue()
    result = manager.get_result_queue()
    print("ready", flush=True)
    time.sleep(a.start_delay)

    values = [random.randint(0, 10000) for _ in range(a.tasks)]
    expected = sum(n * n for n in values)
    total = 0
    t0 = time.perf_counter()
    for n in values:
        task.put(n)
    for _ in range(a.tasks):
        total += result.get(timeout=10)
    secs = time.perf_counter() - t0
    manager.shutdown()
    if total != expected:
        print("results sum to %d, expected %d" % (total, expected), file=sys.stderr)
        return 1
    print("python multiprocessing.managers: %d tasks in %.4f s: %.1f tasks/s"
          % (a.tasks, secs, a.tasks / secs))
    print("tasks_per_s %.1f" % (a.tasks / secs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
