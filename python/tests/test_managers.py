"""depot.managers.BaseManager as a drop-in for multiprocessing.managers.BaseManager, and the
seed's task_master.py / task_worker.py run unmodified but for the import."""
import os
import queue
import re
import subprocess
import sys
import threading

import pytest

import depot
from depot.managers import BaseManager, NotServedError, SyncManager
from conftest import PYROOT, free_port, wait_until

EXAMPLES = os.path.join(PYROOT, "examples")
SEED = "/work/shared/seeds/004_c75d1020169a03eb.txt"
pytestmark = pytest.mark.usefixtures("needs_manager")


@pytest.fixture
def needs_manager():
    from conftest import PROGRAM
    if not PROGRAM:
        pytest.skip("no depot-manager")


def _env(port):
    env = dict(os.environ)
    env["PYTHONPATH"] = PYROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["DEPOT_ADDRESS"] = "127.0.0.1:%d" % port
    env["PYTHONUNBUFFERED"] = "1"
    return env


def test_examples_are_the_seed_with_only_the_import_changed():
    if not os.path.exists(SEED):
        pytest.skip("the seed is not on this machine")
    text = open(SEED, encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    originals = {("task_master.py" if "task_master.py" in b.splitlines()[0] else "task_worker.py"): b
                 for b in blocks}
    for name, original in originals.items():
        mine = open(os.path.join(EXAMPLES, name), encoding="utf-8").read()
        assert mine == original.replace("from multiprocessing.managers import BaseManager",
                                        "from depot.managers import BaseManager"), name


def test_seed_master_and_worker_as_processes():
    port = free_port()
    env = _env(port)
    master = subprocess.Popen([sys.executable, os.path.join(EXAMPLES, "task_master.py")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    lines = []
    try:
        # The worker starts once the master's manager serves the queue, as the seed's reader
        # would start it after the master.
        for line in master.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Try get results"):
                break
        worker = subprocess.run([sys.executable, os.path.join(EXAMPLES, "task_worker.py")],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                text=True, timeout=120)
        rest, _ = master.communicate(timeout=120)
    finally:
        if master.poll() is None:
            master.kill()
    lines += rest.splitlines()
    assert master.returncode == 0, "\n".join(lines)
    assert worker.returncode == 0, worker.stdout

    tasks = [int(m.group(1)) for m in map(re.compile(r"Put task (\d+)\.\.\.$").match, lines) if m]
    results = [int(m.group(1)) for m in map(re.compile(r"Result: (\d+)$").match, lines) if m]
    assert len(tasks) == 10 and all(0 <= n <= 10000 for n in tasks)
    assert lines[10] == "Try get results..."
    assert results == [n * n for n in tasks]
    assert lines[-1] == "master exit."
    assert len(lines) == 22

    wl = worker.stdout.splitlines()
    assert wl[0] == "Connect to server 127.0.0.1..."
    assert wl[1:11] == ["run task %d * %d..." % (n, n) for n in tasks]
    assert wl[11:] == ["worker exit."]


class QueueManager(BaseManager):
    pass


task_queue = queue.Queue()
QueueManager.register("get_task_queue", callable=lambda: task_queue)
QueueManager.register("get_result_queue")


def test_start_connect_shutdown_in_process():
    m = QueueManager(address=("127.0.0.1", 0), authkey=b"xyz")
    m.start()
    host, port = m.address
    assert port != 0
    task = m.get_task_queue()
    assert isinstance(task, depot.Queue) and task.name == "get_task_queue"
    task.put(12)
    task.put("text")

    class Worker(BaseManager):
        pass
    Worker.register("get_task_queue")
    w = Worker(address=(host, port), authkey=b"xyz")
    w.connect()
    wt = w.get_task_queue()
    assert wt.get(timeout=5) == 12  # an int comes back as an int
    assert wt.get(timeout=5) == "text"
    with pytest.raises(queue.Empty):
        wt.get(timeout=0.05)
    w.shutdown()
    m.shutdown()
    # Once the manager is gone, connecting fails as multiprocessing's does.
    w2 = Worker(address=(host, port), authkey=b"xyz")
    with pytest.raises(ConnectionError):
        w2.connect()


def test_wrong_authkey_and_address_none():
    import multiprocessing
    with QueueManager(authkey=b"right") as m:  # __enter__ starts it, on a free port
        assert m.address[1] != 0
        w = QueueManager(address=m.address, authkey=b"wrong")
        with pytest.raises(multiprocessing.AuthenticationError):
            w.connect()
        with pytest.raises(multiprocessing.ProcessError, match="Already started"):
            m.start()


def test_default_authkey_is_the_process_key():
    m = QueueManager(address=("127.0.0.1", 0))
    m.start()
    try:
        import multiprocessing
        assert m._authkey == bytes(multiprocessing.current_process().authkey)
        m.get_result_queue().put(1)
        assert m.get_result_queue().get(timeout=5) == 1
    finally:
        m.shutdown()


def test_bounded_queue_and_coordination_objects():
    class M(BaseManager):
        pass
    bounded = queue.Queue(maxsize=2)
    bounded.put("already there")
    M.register("bounded", callable=lambda: bounded)
    M.register("lock", callable=threading.Lock)
    M.register("event", callable=threading.Event)
    M.register("sem", callable=lambda: threading.Semaphore(3))
    M.register("bar", callable=lambda: threading.Barrier(1))
    M.register("named", callable=queue.Queue, name="tasks")
    with M(address=("127.0.0.1", 0), authkey=b"k") as m:
        b = m.bounded()
        assert b.maxsize == 2
        assert b.get(timeout=5) == "already there"  # moved from the local queue
        lock = m.lock()
        assert isinstance(lock, depot.Lock)
        with lock:
            assert lock.token > 0
        assert isinstance(m.event(), depot.Event) and not m.event().is_set()
        assert m.sem().max == 3
        assert m.bar().wait(5) == 0
        m.named().put(5)
        assert m.client.queue("tasks", codec=int).get(timeout=5) == 5


def test_what_is_not_served():
    class M(BaseManager):
        pass
    M.register("get_dict", callable=dict)
    M.register("get_queue")
    with M(address=("127.0.0.1", 0), authkey=b"k") as m:
        with pytest.raises(NotServedError, match="returns a dict, which depot does not serve"):
            m.get_dict()
        with pytest.raises(NotServedError, match="arguments"):
            m.get_queue(1)
        with pytest.raises(NotServedError, match="task_done"):
            m.get_queue().task_done()
        with pytest.raises(NotImplementedError):
            m.get_queue().join()
        with pytest.raises(NotServedError):
            m.get_server()
    with pytest.raises(NotServedError, match="initializer"):
        M(address=("127.0.0.1", 0), authkey=b"k").start(initializer=print)
    assert issubclass(NotServedError, depot.Error)


def test_registry_is_per_class():
    class A(BaseManager):
        pass

    class B(BaseManager):
        pass
    A.register("only_in_a")
    assert hasattr(A, "only_in_a") and not hasattr(B, "only_in_a")
    with pytest.raises(Exception, match="start\\(\\) or connect\\(\\)"):
        A(address=("127.0.0.1", 1), authkey=b"k").only_in_a()


def test_sync_manager():
    with SyncManager(address=("127.0.0.1", 0), authkey=b"k") as m:
        q = m.Queue(name="jobs")
        q.put(3)
        assert q.get(timeout=5) == 3
        with m.Lock():
            pass
        with pytest.raises(NotServedError):
            m.dict()


def test_manager_stops_with_shutdown():
    m = QueueManager(address=("127.0.0.1", 0), authkey=b"k")
    m.start()
    proc = m._process.proc
    m.shutdown()
    wait_until(lambda: proc.poll() is not None, what="the manager process to end")
