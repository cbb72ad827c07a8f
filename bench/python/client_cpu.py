"""client_cpu.py: CPU time per call of the depot Python client and of Python's
multiprocessing.managers, same interpreter: load-independent figures (CPU time, not wall
time) for bench/RESULTS.md section 10. Run the server first, then the client against it:

    depot-manager --address 127.0.0.1:PORT --authkey K --busy-poll-us 0 &
    PYTHONPATH=python python3 bench/python/client_cpu.py depot --address 127.0.0.1:PORT \\
        --authkey K --op worker --calls 20000 --server-pid $!

    python3 bench/python/client_cpu.py serve-managers --address 127.0.0.1:PORT --authkey K &
    python3 bench/python/client_cpu.py managers --address 127.0.0.1:PORT --authkey K \\
        --op worker --calls 20000 --server-pid $!

Ops (seed 004's calls, --calls of them timed; what they need is put or drained untimed):
  put     put(n) of ints into a queue (the master's first loop)
  get     get(timeout=10) of items already there (the master's second loop)
  worker  n = tasks.get(timeout=1); results.put(n * n) (a worker's loop): a call is one of
          the two, so --calls 20000 is 10000 iterations

Prints the client's CPU time per call (time.process_time: user + system, all its threads),
and with --server-pid the server's (utime + stime from /proc/PID/stat, 10 ms ticks) over
the same calls. Syscalls per call: run the client under `strace -f -o LOG` and count the
syscalls between the stat()s of /client-cpu-mark-start and /client-cpu-mark-end (what
bench/client_cpu.sh does).
"""
import argparse
import os
import queue
import sys
import time


def server_cpu(pid):
    if not pid:
        return 0.0
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def mark(what):
    """A syscall that shows in `strace -f` output where the timed calls start and end (a stat
    of a path that does not exist)."""
    try:
        os.stat("/client-cpu-mark-" + what)
    except OSError:
        pass


def run(op, calls, tasks, results, server_pid, flush):
    """Returns (client CPU s, server CPU s) over `calls` timed calls."""
    if op == "get":
        for i in range(calls):
            tasks.put(i)
        flush()
    elif op == "worker":
        for i in range(calls // 2):
            tasks.put(i)
        flush()
    mark("start")
    s0, c0 = server_cpu(server_pid), time.process_time()
    if op == "put":
        put = tasks.put
        for i in range(calls):
            put(i)
        flush()
    elif op == "get":
        get = tasks.get
        for _ in range(calls):
            get(timeout=10)
    else:
        get, put = tasks.get, results.put
        for _ in range(calls // 2):
            n = get(timeout=1)
            put(n * n)
        flush()
    c1, s1 = time.process_time(), server_cpu(server_pid)
    mark("end")
    # Leave the queues empty for the next run.
    if op == "put":
        for _ in range(calls):
            tasks.get(timeout=10)
    elif op == "worker":
        for _ in range(calls // 2):
            results.get(timeout=10)
    return c1 - c0, s1 - s0


def address_of(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["depot", "managers", "serve-managers"])
    ap.add_argument("--address", required=True)
    ap.add_argument("--authkey", required=True)
    ap.add_argument("--op", choices=["put", "get", "worker"], default="worker")
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--server-pid", type=int, default=0)
    ap.add_argument("--prefix", default="cpu-")
    ap.add_argument("--no-pipeline", action="store_true",
                    help="depot: Client(pipeline_puts=False), every put waits for its answer")
    a = ap.parse_args()
    from multiprocessing.managers import BaseManager

    class QueueManager(BaseManager):
        pass

    if a.mode == "serve-managers":
        tq, rq = queue.Queue(), queue.Queue()
        QueueManager.register("get_task_queue", callable=lambda: tq)
        QueueManager.register("get_result_queue", callable=lambda: rq)
        m = QueueManager(address=address_of(a.address), authkey=a.authkey.encode())
        server = m.get_server()
        print("ready", flush=True)
        server.serve_forever()
        return 0

    if a.mode == "managers":
        QueueManager.register("get_task_queue")
        QueueManager.register("get_result_queue")
        m = QueueManager(address=address_of(a.address), authkey=a.authkey.encode())
        m.connect()
        tasks, results = m.get_task_queue(), m.get_result_queue()
        flush = lambda: None  # noqa: E731
    else:
        import depot
        kw = {"pipeline_puts": False} if a.no_pipeline else {}
        c = depot.Client(a.address, authkey=a.authkey, quiet=True, **kw)
        tasks = c.queue(a.prefix + "tasks", codec=int)
        results = c.queue(a.prefix + "results", codec=int)
        flush = getattr(c, "flush", lambda: None)
        # The handles' first puts (not pipelined: they learn the queues' bounds).
        for q in (tasks, results):
            q.put(0)
            q.put(0)
            q.get(timeout=10)
            q.get(timeout=10)
    client_s, server_s = run(a.op, a.calls, tasks, results, a.server_pid, flush)
    print("%s op %s calls %d: client CPU %.1f us/call, server CPU %.1f us/call"
          % (a.mode + (" (no pipelining)" if a.no_pipeline else ""), a.op, a.calls,
             client_s / a.calls * 1e6, server_s / a.calls * 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main())
