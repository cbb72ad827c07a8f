"""depot.futures: the Python executor and worker, alone and in one pool with the C++ ones
(samples/task_pool, samples/futures_sum), and the examples of python/examples."""
import asyncio
import concurrent.futures
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import depot
from depot import futures as F
from depot.futures import (ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION, Executor, Worker,
                           as_completed, wait)

from conftest import PYROOT, REPO, wait_until

pytest.importorskip("msgpack")

EXAMPLES = os.path.join(PYROOT, "examples")
SUM_10000 = 333283335000  # sum of i*i for i < 10000


def cpp_program(env, name):
    p = os.environ.get(env)
    if p:
        return p
    local = os.path.join(REPO, "build", "bin", name)
    return local if os.access(local, os.X_OK) else None


TASK_POOL = cpp_program("DEPOT_TASK_POOL", "task_pool")
FUTURES_SUM = cpp_program("DEPOT_FUTURES_SUM", "futures_sum")
needs_task_pool = pytest.mark.skipif(TASK_POOL is None, reason="no task_pool: set "
                                     "DEPOT_TASK_POOL or build it (ctest sets it)")
needs_futures_sum = pytest.mark.skipif(FUTURES_SUM is None, reason="no futures_sum: set "
                                       "DEPOT_FUTURES_SUM or build it (ctest sets it)")


def env_for(manager, **extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = PYROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["DEPOT_ADDRESS"] = manager.address
    env["DEPOT_AUTHKEY"] = manager.key.decode()
    env.update(extra)
    return env


class Proc:
    """A worker process, stopped (SIGTERM, then SIGKILL) at the end of the test."""

    def __init__(self, args, env):
        self.p = subprocess.Popen(args, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.output = None

    def kill(self):
        self.p.kill()
        self.p.wait(timeout=30)
        self.output = self.p.communicate()

    def stop(self):
        if self.output is not None:
            return self.output
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.output = self.p.communicate()
        return self.output


@pytest.fixture
def procs():
    made = []

    def start(args, env):
        p = Proc(args, env)
        made.append(p)
        return p
    yield start
    for p in made:
        p.stop()


def python_pool_worker(procs, manager, threads=1):
    return procs([sys.executable, os.path.join(EXAMPLES, "pool_worker.py"), str(threads)],
                 env_for(manager))


def cpp_pool_worker(procs, manager, threads=1):
    return procs([TASK_POOL, "--address", manager.address, "--authkey", manager.key.decode(),
                  "--threads", str(threads)], env_for(manager))


def run_example(manager, name, *args, timeout=120):
    r = subprocess.run([sys.executable, os.path.join(EXAMPLES, name), *args], env=env_for(manager),
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, "%s failed: %s" % (name, r.stderr)
    return r.stdout


class Gate:
    """A task that waits until the test opens the gate: a task that is certainly running."""

    def __init__(self):
        self.started = threading.Event()
        self.open = threading.Event()
        self.running = 0
        self.mu = threading.Lock()

    def __call__(self, x: int) -> int:
        with self.mu:
            self.running += 1
        self.started.set()
        assert self.open.wait(60), "the gate was never opened"
        return x


@pytest.fixture
def pool(manager):
    """An in-process Python worker (2 threads) on its own client, and an Executor."""
    wc = manager.client()
    w = Worker(wc, "pool", threads=2)
    calls = []
    w.register("square", lambda x: calls.append(x) or x * x)
    w.register("sum", sum)
    w.register("increment", lambda x: x + 1)

    @w.register
    def fail(why: str):
        raise ValueError(why)

    @w.register
    def concat(a: str, b: bytes, c: float, d: list) -> list:
        return [a, b, c, d]

    gate = Gate()
    w.register("gate", gate)

    class Counter:
        def __init__(self):
            self.n = 0

        def increment(self):
            self.n += 1
            return self.n

        def add(self, k: int):
            self.n += k
            return self.n

    w.register_actor("Counter", Counter)
    w.start()
    c = manager.client()
    ex = Executor(c, "pool")
    ex.calls = calls
    ex.gate = gate
    yield ex
    gate.open.set()
    ex.close()
    w.close()
    c.close()
    wc.close()


# ---------------------------------------------------------------- records


def test_records_have_the_cpp_layout():
    t = F.Record(F.CALL, "sum-k", "e.1", "sum", "pool.done.e", 3, "", 0,
                 [(F.VALUE, b"42"), (F.FUTURES, ["e.2", "e.3"])])
    data = F.encode_record(t)
    assert data == bytes.fromhex(
        "01" "05000000" "73756d2d6b" "03000000" "652e31" "03000000" "73756d"
        "0b000000" "706f6f6c2e646f6e652e65" "03000000" "00000000" "00" "02000000"
        "00" "02000000" "3432" "02" "02000000" "03000000" "652e32" "03000000" "652e33")
    back = F.decode_record(data)
    assert (back.kind, back.key, back.sid, back.name, back.reply, back.max_attempts,
            back.args) == (F.CALL, "sum-k", "e.1", "sum", "pool.done.e", 3, t.args)
    assert F.decode_record(data[:-1]) is None and F.decode_record(b"\x09") is None
    assert F.ok_record(b"9") == b"\x01\x01\x00\x00\x009"
    assert F.parse_result(F.error_record("std::invalid_argument", "boom")) == (
        False, "std::invalid_argument", "boom")
    n = F.notification("k", "s", F.ok_record(b"7"))
    assert F.parse_notification(n) == ("k", "s", (True, b"7", ""))
    assert F.parse_snapshot(F.snapshot("k", b"st")) == ("k", b"st")
    assert (F.tasks_queue("p"), F.result_var("p", "s"), F.done_queue("p", "e"),
            F.marker_var("p", "e"), F.cancel_topic("p"), F.mailbox("p", "a"),
            F.alive_lock("p", "a"), F.state_var("p", "a")) == (
        "p.tasks", "p.r.s", "p.done.e", "p.executor.e", "p.cancel", "p.actor.a",
        "p.actor.a.alive", "p.actor.a.state")


def test_task_codec_is_the_cpp_codec():
    enc = F.TASK.encode
    assert (enc(42), enc(-7), enc(2.5), enc("été"), enc(b"\x00"), enc(None)) == (
        b"42", b"-7", b"2.5", "été".encode(), b"\x00", b"")
    assert enc([1, 2, 3]) == bytes.fromhex("93010203")  # a std::vector<long>
    dec = F.TASK.decode
    assert (dec(b"42"), dec(b"2.5"), dec(b"abc"), dec(b"\xff"), dec(b""),
            dec(bytes.fromhex("93010203"))) == (42, 2.5, "abc", b"\xff", None, [1, 2, 3])


# ---------------------------------------------------------------- executor and worker


def test_submit_result_done_and_pure_keys(pool):
    f = pool.submit("square", 3)
    assert f.result(timeout=30) == 9
    assert f.done() and not f.cancelled() and f.exception() is None
    assert f.key.startswith("square-")
    assert pool.submit("square", 3).key == f.key             # pure: one task, one result
    assert pool.submit("square", 3, pure=False).key != f.key
    assert pool.submit("square", 4, key="mine").key == "mine"
    assert pool.submit("square", 4, key="mine").result(30) == 16
    assert pool.calls.count(3) <= 2  # the pure one ran once, the impure once


def test_values_round_trip(pool):
    f = pool.submit("concat", "été", b"\x00\xff", 2.5, [1, "x", None])
    assert f.result(30) == ["été", b"\x00\xff", 2.5, [1, "x", None]]


def test_map_and_futures_as_arguments(pool):
    A = pool.map("square", range(1000))
    total = pool.submit("sum", A)
    assert total.result(timeout=60) == sum(i * i for i in range(1000))
    assert [f.result() for f in A[:4]] == [0, 1, 4, 9]
    g = pool.submit("increment", pool.submit("square", 5))    # one future as an argument
    assert g.result(30) == 26
    assert pool.map("increment", []) == []


def test_remote_error_and_exception(pool):
    f = pool.submit("fail", "boom")
    with pytest.raises(depot.RemoteError) as e:
        f.result(30)
    assert (e.value.type, e.value.remote_message, e.value.function, e.value.key) == (
        "ValueError", "boom", "fail", f.key)
    assert "raised ValueError: boom" in str(e.value)
    assert isinstance(f.exception(), depot.RemoteError) and isinstance(f.exception(), depot.Error)


def test_unknown_function(pool):
    with pytest.raises(depot.RemoteError) as e:
        pool.submit("no_such_function", 1).result(30)
    assert e.value.type == "depot::UnknownFunction"
    assert "no function 'no_such_function'" in e.value.remote_message
    assert "square" in e.value.remote_message  # lists those it has


def test_dependency_failed(pool):
    bad = pool.submit("fail", "first")
    f = pool.submit("sum", [pool.submit("square", 2), bad])
    with pytest.raises(depot.RemoteError) as e:
        f.result(30)
    assert e.value.type == "depot::DependencyFailed"
    assert bad.key in e.value.remote_message
    # A dependency that failed before the submission fails it at once.
    with pytest.raises(depot.RemoteError, match="DependencyFailed"):
        pool.submit("increment", bad).result(30)


def test_result_timeout(pool):
    f = pool.submit("gate", 1)
    with pytest.raises(depot.TimeoutError) as e:
        f.result(timeout=0.05)
    assert isinstance(e.value, TimeoutError)  # the builtin, as concurrent.futures raises
    with pytest.raises(TimeoutError):
        f.exception(timeout=0.05)
    assert not f.done()
    pool.gate.open.set()
    assert f.result(30) == 1


def test_cancel(pool):
    held = [pool.submit("gate", i) for i in range(2)]  # both worker threads busy
    wait_until(lambda: pool.gate.running == 2, 30, "both worker threads to hold a task")
    f = pool.submit("square", 77)
    dependent = pool.submit("increment", f)
    assert f.cancel() is True
    assert f.done() and f.cancelled()
    assert f.cancel() is False  # as in C++: it had finished (by being cancelled)
    with pytest.raises(depot.CancelledError):
        f.result()
    with pytest.raises(concurrent.futures.CancelledError):  # it is one too
        f.result()
    with pytest.raises(depot.RemoteError, match="was cancelled"):
        dependent.result(30)
    pool.gate.open.set()
    for h in held:
        h.result(30)
    assert pool.submit("square", 78).result(30) == 6084  # served after the cancelled one
    assert 77 not in pool.calls  # the worker skipped it
    done = pool.submit("square", 2)
    done.result(30)
    assert done.cancel() is False


def test_add_done_callback(pool):
    seen = []
    got = threading.Event()
    f = pool.submit("square", 6)
    f.add_done_callback(lambda fut: (seen.append(fut.result()), got.set()))
    assert got.wait(30)
    f.add_done_callback(lambda fut: seen.append(fut is f))  # done: runs at once
    assert seen == [36, True]
    later = threading.Event()
    # On a future dropped at once: the callback keeps it alive until it runs.
    pool.submit("square", 8).add_done_callback(lambda fut: (seen.append(fut.result()),
                                                            later.set()))
    assert later.wait(30) and seen[-1] == 64


def test_wait_and_as_completed(pool):
    slow = pool.submit("gate", 5)
    quick = [pool.submit("square", i) for i in range(3)]
    assert pool.gate.started.wait(30)
    done, not_done = wait(quick + [slow], timeout=30, return_when=FIRST_COMPLETED)
    assert done and slow in not_done
    done, not_done = wait(quick, timeout=30)
    assert done == set(quick) and not not_done
    done, not_done = wait(quick + [slow], timeout=0.05, return_when=ALL_COMPLETED)
    assert not_done == {slow}
    bad = pool.submit("fail", "x")
    done, not_done = wait([slow, bad], timeout=30, return_when=FIRST_EXCEPTION)
    assert done == {bad} and not_done == {slow}
    with pytest.raises(depot.TimeoutError):
        list(as_completed([slow], timeout=0.05))
    pool.gate.open.set()
    order = list(as_completed(quick + [slow], timeout=30))
    assert set(order) == set(quick + [slow]) and len(order) == 4
    with pytest.raises(TypeError):
        wait([concurrent.futures.Future()])


def test_asyncio_await_does_not_block_the_loop(pool):
    async def main():
        f = pool.submit("gate", 9)

        async def open_gate():  # runs while main awaits f: the loop is not blocked
            while not pool.gate.started.is_set():
                await asyncio.sleep(0.01)
            pool.gate.open.set()
            return "opened"
        opener = asyncio.create_task(open_gate())
        assert await f == 9
        assert await opener == "opened"
        A = pool.map("square", range(10))
        assert await asyncio.gather(*A) == [i * i for i in range(10)]
        assert await pool.submit("sum", A) == 285
        with pytest.raises(depot.RemoteError):
            await pool.submit("fail", "async")
    asyncio.run(main())


def test_actor(pool):
    counter = pool.actor("Counter")
    assert counter.call("increment").result(30) == 1
    assert counter.n == 1
    assert counter.get("n") == 1
    assert counter.call("add", 5).result(30) == 6
    with pytest.raises(depot.RemoteError) as e:
        counter.call("nope").result(30)
    assert e.value.type == "depot::UnknownMethod"
    with pytest.raises(depot.RemoteError) as e:
        counter.get("missing")
    assert e.value.type == "depot::UnknownAttribute"
    other = pool.actor("Counter")  # a second instance has its own state
    assert other.call("increment").result(30) == 1
    counter.close()
    with pytest.raises(depot.NotFoundError, match="was closed"):
        counter.call("increment")
    with pytest.raises(TypeError, match="values, not futures"):
        other.call("add", pool.submit("square", 1))
    other.close()

    # Nothing of either is left in the manager: no mailbox, no liveness lock, no snapshot.
    def left():
        return ["%s (%s)" % (o.name, o.type) for o in pool.client.list()
                if o.name.startswith("pool.actor.")]
    try:
        wait_until(lambda: not left(), 10, "the closed actors' objects to go")
    except AssertionError:
        assert left() == []
    with pytest.raises(depot.RemoteError) as e:
        pool.actor("NoSuchClass")
    assert e.value.type == "depot::UnknownActorClass"


def test_actor_send(manager):
    """One-way sends run in order with the calls, store no results, and a failing one is
    reported on the worker; close() is answered after the sends before it."""
    wc, c = manager.client(), manager.client()
    failed, total = [], []
    w = Worker(wc, "pool", on_send_error=lambda *a: failed.append(a))

    class Log:
        def __init__(self):
            self.items = []

        def push(self, v: int) -> int:
            self.items.append(v)
            total.append(v)  # the instance lives in this process's worker
            return len(self.items)

    w.register_actor("Log", Log)
    w.start()
    ex = Executor(c, "pool")
    try:
        log = ex.actor("Log")

        def results():
            return sum(o.name.startswith("pool.r.") for o in c.list())
        before = results()
        for i in range(1, 11):  # sends 1-4, a call pushing 5, sends 6-9, a call pushing 10
            if i % 5:
                log.send("push", i)
                continue
            assert log.call("push", i).result(30) == i  # every send before it ran
            if i == 5:
                assert results() <= before + 1, "the sends stored results"
        assert log.items == list(range(1, 11))
        assert failed == []
        log.send("no_such_method", 1)
        assert log.call("push", 11).result(30) == 11  # the actor serves on
        assert len(failed) == 1, failed
        actor, method, type_, message = failed[0]
        assert (actor, method, type_) == (log.id, "no_such_method", "depot::UnknownMethod")
        assert "has no method 'no_such_method'" in message
        del total[:]
        for k in range(1, 21):
            log.send("push", k)
        log.close()  # the cookbook's close() and join()
        assert sum(total) == 210
        with pytest.raises(depot.NotFoundError, match="was closed"):
            log.send("push", 1)
        with pytest.raises(TypeError, match="values, not futures"):
            ex.actor("Log").send("push", ex.submit("nothing"))
    finally:
        ex.close()
        w.close()
        c.close()
        wc.close()


def test_actor_async(pool):
    async def main():
        counter = await asyncio.to_thread(pool.actor, "Counter")
        assert await counter.call("increment") == 1
        assert await counter.get_future("n") == 1
        await asyncio.to_thread(counter.close)
    asyncio.run(main())


def test_close_cancels_pending(manager, pool):
    ex = Executor(manager.client(), "pool")
    f = ex.submit("gate", 33)
    ex.close()
    with pytest.raises(depot.CancelledError, match="executor was closed"):
        f.result(1)
    names = [o.name for o in ex.client.list()]
    assert F.marker_var("pool", ex.id) not in names and F.done_queue("pool", ex.id) not in names


def test_manager_restart_without_data(manager, pool):
    held = [pool.submit("gate", i) for i in range(2)]
    wait_until(lambda: pool.gate.running == 2, 30, "both worker threads to hold a task")
    queued = pool.submit("square", 9)  # in <pool>.tasks only: lost with the manager
    manager.kill()
    manager.restart()
    # The executor finds its marker missing and sends again what the manager lost.
    pool.gate.open.set()
    assert queued.result(60) == 81
    assert [h.result(60) for h in held] == [0, 1]
    assert pool.submit("square", 5).result(60) == 25


def test_submit_timeout_on_a_full_tasks_queue(manager):
    c = manager.client()
    c.queue("full.tasks", maxsize=1).put(b"somebody else's task")   # nobody serves "full"
    with Executor(c, "full") as ex:
        f = ex.submit("square", 3, timeout=0.3)
        with pytest.raises(depot.RemoteError) as e:
            f.result(30)
        assert e.value.type == F.SUBMIT_FAILED
        assert "full.tasks" in str(e.value), str(e.value)    # the server's message names it
        assert ex.map("square", [1, 2], timeout=0.2)[1].exception(30).type == F.SUBMIT_FAILED
    assert c.queue("full.tasks").qsize() == 1                # nothing went in, nothing lost
    c.close()


def test_submit_timeout_with_the_manager_away(manager):
    c = manager.client()
    with Executor(c, "pool") as ex:
        assert c.stats() is not None                            # connected
        manager.kill()
        wait_until(lambda: not c.connected, what="the client to see the manager go")
        f = ex.submit("square", 4, timeout=0.5)
        with pytest.raises(depot.RemoteError) as e:
            f.result(60)
        assert e.value.type == F.SUBMIT_FAILED
        assert "could not be sent" in str(e.value), str(e.value)
    c.close()


def test_manager_restart_with_a_data_dir_keeps_tasks_and_results(make_manager, tmp_path):
    """A SIGKILLed manager with --data-dir comes back with the tasks it had taken: they are
    in pool.tasks before any worker is there, the executor sends none again (its marker
    survived), and each runs once."""
    m = make_manager(["--data-dir", str(tmp_path)])
    c = m.client()
    runs = []
    with Executor(c, "pool") as ex:
        queued = [ex.submit("square", i) for i in range(10)]   # no worker yet
        m.kill()
        m.restart()
        other = m.client()
        assert other.queue("pool.tasks").qsize() == 10
        wc = m.client()
        w = Worker(wc, "pool", threads=2)
        w.register("square", lambda x: runs.append(x) or x * x)
        w.start()
        assert [q.result(60) for q in queued] == [i * i for i in range(10)]
        assert ex.submit("square", 12).result(60) == 144
        assert sorted(runs) == list(range(10)) + [12]
        w.close()
        wc.close()
        other.close()
    c.close()


# ---------------------------------------------------------------- worker processes

HOLDER = textwrap.dedent("""
    import os, sys, time
    import depot
    from depot.futures import Worker
    c = depot.Client(os.environ["DEPOT_ADDRESS"], authkey=os.environ["DEPOT_AUTHKEY"])
    w = Worker(c, "pool")
    def hold(x: int) -> int:
        open(os.environ["HOLD_FILE"], "w").close()   # it has the task, and has not acked it
        time.sleep(3600)
        return x
    w.register("hold", hold)
    w.run()
""")


def test_worker_killed_between_reserve_and_ack_loses_nothing(manager, procs, tmp_path):
    marker = tmp_path / "held"
    victim = procs([sys.executable, "-c", HOLDER], env_for(manager, HOLD_FILE=str(marker)))
    c = manager.client()
    ex = Executor(c, "pool")
    f = ex.submit("hold", 41)
    wait_until(marker.exists, 60, "the worker to take the task")
    victim.kill()  # SIGKILL: no ack; its session's end gives the task back
    wc = manager.client()
    w = Worker(wc, "pool")
    deliveries = []
    w.register("hold", lambda x: deliveries.append(x) or x + 1)
    w.start()
    try:
        assert f.result(60) == 42
        assert deliveries == [41]
    finally:
        ex.close()
        w.close()
        c.close()
        wc.close()


def test_worker_lost_after_max_retries(manager, procs):
    with Executor(manager.client(), "pool", max_retries=1) as ex:
        f = ex.submit("crash", 3)
        starts = 0
        while not f.done() and starts < 10:
            p = python_pool_worker(procs, manager)
            starts += 1
            wait_until(lambda: p.p.poll() is not None or f.done(), 60,
                       "the worker to crash or the task to fail")
        with pytest.raises(depot.RemoteError) as e:
            f.result(30)
        assert e.value.type == "depot::WorkerLost"
        assert "started 2 times" in e.value.remote_message
        assert starts == 3  # two runs (max_retries=1), then the third worker reports it


def test_a_death_in_a_batch_charges_only_the_running_call(manager, procs):
    # Quick squares on both sides of the crash, so a worker's batch holds the crash with
    # squares it ran and squares it never started.
    with Executor(manager.client(), "pool", max_retries=1) as ex:
        first = ex.map("square", range(200))
        crash = ex.submit("crash", 3)
        rest = ex.map("square", range(200, 400))
        died = 0
        for _ in range(5):
            if crash.done():
                break
            p = python_pool_worker(procs, manager)
            wait_until(lambda: p.p.poll() is not None or crash.done(), 60,
                       "the worker to crash or the task to fail")
            if p.p.poll() is not None:
                assert p.p.returncode == 3
                died += 1
        assert died == 2  # two runs (max_retries=1), then a worker reports it
        with pytest.raises(depot.RemoteError) as e:
            crash.result(30)
        assert e.value.type == "depot::WorkerLost"
        assert "started 2 times" in e.value.remote_message
        # The squares shared the dead workers' batches, some of them twice: none was charged.
        assert [f.result(60) for f in first] == [x * x for x in range(200)]
        assert [f.result(60) for f in rest] == [x * x for x in range(200, 400)]
        # The counts of starts went with the results.
        assert [o.name for o in ex.client.list() if o.name.startswith("pool.starts.")] == []


def test_stop_finishes_the_batch(manager, procs):
    p = python_pool_worker(procs, manager)
    with Executor(manager.client(), "pool") as ex:
        assert ex.submit("square", 12).result(60) == 144
    out, _ = p.stop()
    assert p.p.returncode == 0
    assert "pool_worker: stopped after" in out


def test_actor_died_with_its_worker(manager, procs):
    victim = python_pool_worker(procs, manager)
    with Executor(manager.client(), "pool") as ex:
        counter = ex.actor("Counter")
        assert counter.call("increment").result(60) == 1
        victim.kill()
        with pytest.raises(depot.RemoteError) as e:
            counter.call("increment").result(60)
        assert e.value.type == "depot::ActorDied"
        assert "died with its worker" in e.value.remote_message
        with pytest.raises(depot.RemoteError, match="ActorDied"):  # at once from now on
            counter.call("increment").result(1)


# ---------------------------------------------------------------- one pool, two languages


@needs_task_pool
def test_python_master_on_cpp_workers(manager, procs):
    cpp_pool_worker(procs, manager, threads=2)
    with Executor(manager.client(), "pool") as ex:
        A = ex.map("square", range(10000))
        assert ex.submit("sum", A).result(120) == SUM_10000
        assert ex.submit("sum", [1, 2, 3]).result(30) == 6          # a std::vector<long>
        assert ex.submit("fib", 20).result(30) == 6765
        with pytest.raises(depot.RemoteError) as e:
            ex.submit("fail", "from C++").result(30)
        assert (e.value.type, e.value.remote_message) == ("std::invalid_argument", "from C++")
        with pytest.raises(depot.RemoteError) as e:
            ex.submit("square", "not a number").result(30)
        assert "not a valid integer" in e.value.remote_message
        counter = ex.actor("Counter")
        assert counter.call("increment").result(30) == 1
        assert counter.n == 1
        counter.close()
        resilient = ex.actor("Counter", resilient=True)  # task_pool's Counter is resilient
        assert resilient.call("add", 4).result(30) == 4
        resilient.close()


@needs_task_pool
def test_resilient_actor_on_cpp_workers_survives_a_sigkill(manager, procs):
    first = cpp_pool_worker(procs, manager)
    with Executor(manager.client(), "pool") as ex:
        counter = ex.actor("Counter", resilient=True)
        assert counter.call("add", 5).result(60) == 5
        cpp_pool_worker(procs, manager)   # the one that will restore it
        first.kill()
        assert counter.call("increment").result(60) == 6  # restored from its snapshot
        assert counter.n == 6
        counter.close()


@needs_futures_sum
def test_cpp_master_on_python_workers(manager, procs):
    python_pool_worker(procs, manager, threads=2)
    r = subprocess.run([FUTURES_SUM, "--address", manager.address, "--authkey",
                        manager.key.decode()], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "%d\n1\n1\n" % SUM_10000  # the sum, then the Counter actor's 1 and 1


@needs_task_pool
def test_futures_as_arguments_across_languages(manager, procs):
    c = manager.client()
    ex = Executor(c, "pool")
    try:
        # Squares by Python workers, their sum by a C++ worker: it reads the results the
        # Python workers stored.
        w = python_pool_worker(procs, manager)
        A = ex.map("square", range(100))
        wait(A, timeout=60)
        assert all(f.done() for f in A)
        w.stop()
        cpp = cpp_pool_worker(procs, manager)
        assert ex.submit("sum", A).result(60) == sum(i * i for i in range(100))
        # And the other way round.
        B = ex.map("increment", range(50))
        wait(B, timeout=60)
        assert all(f.done() for f in B)
        cpp.stop()
        python_pool_worker(procs, manager)
        assert ex.submit("sum", B).result(60) == sum(range(1, 51))
    finally:
        ex.close()
        c.close()


@needs_task_pool
def test_mixed_pool_runs_every_task(manager, procs):
    python_pool_worker(procs, manager)
    cpp_pool_worker(procs, manager)
    with Executor(manager.client(), "pool") as ex:
        A = ex.map("square", range(2000))
        assert ex.submit("sum", A).result(120) == sum(i * i for i in range(2000))


# ---------------------------------------------------------------- the examples


def test_example_futures_sum_on_python_workers(manager, procs):
    python_pool_worker(procs, manager, threads=2)
    assert run_example(manager, "futures_sum.py") == "%d\n" % SUM_10000


@needs_task_pool
def test_example_futures_sum_on_cpp_workers(manager, procs):
    cpp_pool_worker(procs, manager, threads=2)
    assert run_example(manager, "futures_sum.py") == "%d\n" % SUM_10000


def test_example_futures_async(manager, procs):
    python_pool_worker(procs, manager, threads=2)
    assert run_example(manager, "futures_async.py") == "%d\n" % SUM_10000


def test_example_counter_actor(manager, procs):
    python_pool_worker(procs, manager)
    assert run_example(manager, "counter_actor.py") == "1\n1\n1\n1\n"


@needs_task_pool
def test_example_counter_actor_on_cpp_workers(manager, procs):
    cpp_pool_worker(procs, manager)
    assert run_example(manager, "counter_actor.py") == "1\n1\n1\n1\n"


def cookbook_printed(workers):
    """What the workers serving the cookbook's PrintActor printed."""
    return "".join(out for out, _err in (w.stop() for w in workers) if "Got: " in out)


def test_example_actor_cookbook(manager, procs):
    workers = [python_pool_worker(procs, manager) for _ in range(2)]
    assert run_example(manager, "actor_cookbook.py") == "5\n"
    assert "Got: Hello\nGot: World\n" in cookbook_printed(workers)


@needs_task_pool
def test_example_actor_cookbook_on_cpp_workers(manager, procs):
    """A Python master's one-way sends, served by C++ workers."""
    workers = [cpp_pool_worker(procs, manager) for _ in range(2)]
    assert run_example(manager, "actor_cookbook.py") == "5\n"
    assert "Got: Hello\nGot: World\n" in cookbook_printed(workers)


def test_example_tornado_fib(manager, procs):
    """Seed 002's experiment on depot: the example checks every answer itself (fib(n)'s
    value, "Hello, world"); /fast is answered while /fib/32 is still computing on a worker."""
    python_pool_worker(procs, manager)
    python_pool_worker(procs, manager)
    out = run_example(manager, "tornado_fib.py", "--measure", "--port", "0",
                      "--conc", "8", "--burst", "20", "--slow", "32", timeout=300)
    figures = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert ", 8 simultaneous requests," in out and "/fib/20 " in out, out
    assert figures["fast_first"] == "True", out
    assert "Roundtrip latency: " in out, out


DYING_MASTER = textwrap.dedent("""
    import os, sys
    import depot
    from depot.futures import Executor
    client = depot.Client(os.environ["DEPOT_ADDRESS"], authkey=os.environ["DEPOT_AUTHKEY"])
    ex = Executor(client, "pool", orphan_grace=0.3, orphan_fence=60)
    offset = int(sys.argv[1])
    squares = ex.map("square", range(offset, offset + 20000))
    print(sum(f.result() for f in squares), flush=True)
""")


def test_a_killed_master_leaves_nothing_behind(manager, procs):
    import random
    c = manager.client()
    python_pool_worker(procs, manager)
    python_pool_worker(procs, manager)
    seen, held_at_kill, left = set(), 0, 0
    for rnd in range(3):
        master = procs([sys.executable, "-c", DYING_MASTER, str(rnd * 20000)], env_for(manager))
        leases = []
        wait_until(lambda: leases.extend(o.name for o in c.list()
                                         if o.name.startswith("pool.lease.")
                                         and o.name not in seen) or leases, 60,
                   "the master's lease")
        lease = leases[0]
        seen.add(lease)
        ex = lease[len("pool.lease."):]
        time.sleep(random.uniform(0, 0.5))  # a random moment to kill it at, not a wait
        killed = master.p.poll() is None
        master.kill()
        mine = lambda: [o for o in c.list() if ex in o.name and o.name != lease]  # noqa: E731
        held_at_kill += len(mine())

        def settled():
            tasks = [o for o in c.list() if o.name == "pool.tasks"]
            # (LIST's state of a queue shows reserved=N only while N > 0.)
            return not mine() and (not tasks or (tasks[0].size == 0 and
                                                 "reserved=" not in tasks[0].state))
        wait_until(settled, 60, "the dead master's objects and tasks to go")
        left += len(mine())
        if killed:
            state = [o.state for o in c.list() if o.name == lease]
            assert state and "expired" in state[0]
            with pytest.raises(depot.NotFoundError, match="which expired"):
                c.variable("pool.r.%s.late" % ex).set(1)
    assert left == 0
    assert held_at_kill > 0


def test_a_lease_is_held_taken_back_and_expires(manager):
    a, b = manager.client(), manager.client()
    assert a.hold_lease("job.lease", ["job.q", "job.r.*"], grace=1.0, fence=30) == "created"
    assert a.hold_lease("job.lease", ["job.q", "job.r.*"], grace=1.0, fence=30) == "held"
    with pytest.raises(depot.NotOwnerError, match="held by session"):
        b.hold_lease("job.lease", ["job.q"], grace=0.2)
    with pytest.raises(depot.ProtocolError, match="matches every object"):
        b.hold_lease("other.lease", ["*"])
    a.queue("job.q").put(b"x")
    b.variable("job.r.1").set(1)
    b.variable("kept").set(1)
    a.close()  # the session ends: the grace starts (once the manager has seen it close)
    wait_until(lambda: any(o.name == "job.lease" and o.state.startswith("orphaned")
                           for o in b.list()), 10, "the lease to be orphaned")
    assert b.hold_lease("job.lease", ["job.q", "job.r.*"], grace=1.0, fence=30) == "orphaned"
    c = manager.client()
    names = lambda: {o.name for o in c.list()}  # noqa: E731
    assert {"job.q", "job.r.1", "kept"} <= names()
    b.close()
    wait_until(lambda: not {"job.q", "job.r.1"} & names(), 30, "the expired lease's objects to go")
    assert "kept" in names()
    with pytest.raises(depot.NotFoundError, match="lease 'job.lease'"):
        c.variable("job.r.2").set(1)
    assert c.hold_lease("job.lease", ["job.q", "job.r.*"], grace=0.2) == "expired"
    c.variable("job.r.2").set(1)  # held again: the names are free


def test_a_result_the_manager_cannot_store_fails_its_future(make_manager):
    m = make_manager(["--max-objects", "40"])  # room for a few dozen results, not a hundred
    wc = m.client()
    w = Worker(wc, "pool", threads=1)
    w.register("square", lambda x: x * x)
    w.register("sum", sum)
    w.start()
    try:
        with Executor(m.client(), "pool") as ex:
            squares = ex.map("square", range(100))
            total = ex.submit("sum", squares)
            stored = refused = 0
            for i, f in enumerate(squares):
                try:
                    assert f.result(60) == i * i
                    stored += 1
                except depot.RemoteError as e:
                    assert e.type == F.RESULT_NOT_STORED
                    assert "could not be stored" in e.remote_message
                    assert "LIMIT" in e.remote_message and "--max-objects" in e.remote_message
                    refused += 1
            assert stored > 0 and refused > 0
            with pytest.raises(depot.RemoteError) as e:
                total.result(60)
            assert e.value.type == F.DEPENDENCY_FAILED
            assert "could not be stored" in e.value.remote_message
    finally:
        w.close()
        wc.close()


def test_a_closed_executor_whose_futures_live_leaves_no_results(pool):
    c = pool.client
    with Executor(c, "pool") as ex:
        fs = ex.map("square", range(5))
        assert [f.result(60) for f in fs] == [0, 1, 4, 9, 16]
        mine = "pool.r.%s." % ex.id
        assert sum(o.name.startswith(mine) for o in c.list()) == 5
    assert fs[4].result(1) == 16  # the value stays with the future
    assert not [o.name for o in c.list() if o.name.startswith(mine)]
