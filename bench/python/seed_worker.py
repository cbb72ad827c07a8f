# seed_worker.py: seed 004's task_worker.py as a benchmark (bench/compare_managers.sh).
#
# Connects to the seed master's manager, takes tasks, squares them and puts the results
# back. Unlike the seed there is no time.sleep(1) per task, and it loops until the task
# queue stays empty for --timeout seconds (the seed's get(timeout=1) and queue.Empty; the
# seed spelled it Queue.Empty, a NameError). The first get waits --first-timeout seconds,
# so a worker may start before the master's first put.
#
#   /usr/bin/python3 seed_worker.py --port 5000 --authkey abc
import argparse
import queue
import sys
from multiprocessing.managers import BaseManager


class QueueManager(BaseManager):
    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=5000)
    ap.add_argument("--authkey", default="abc")
    ap.add_argument("--timeout", type=float, default=1.0)
    ap.add_argument("--first-timeout", type=float, default=10.0)
    a = ap.parse_args()

    # This manager only fetches the queues from the network, so it registers names only:
    QueueManager.register("get_task_queue")
    QueueManager.register("get_result_queue")
    m = QueueManager(address=("127.0.0.1", a.port), authkey=a.authkey.encode())
    m.connect()
    task = m.get_task_queue()
    result = m.get_result_queue()
    done = 0
    timeout = a.first_timeout
    while True:
        try:
            n = task.get(timeout=timeout)
        except queue.Empty:
            break
        except (EOFError, OSError):
            break  # the master shut its manager down after the last result
        result.put(n * n)
        done += 1
        timeout = a.timeout
    print("worker exit after %d tasks" % done)
    return 0


if __name__ == "__main__":
    sys.exit(main())
