"""Pipelined puts: a put to a queue known to be unbounded returns once written (with
pipeline_puts="hold": held for the next request, or written by the keeper within about 2 ms);
its error is raised by a later call of the same thread (before that call does anything), by
flush() or by close()."""
import os
import subprocess
import sys
import threading

import pytest

import depot
from depot import client as client_module
from depot import protocol as P


@pytest.fixture
def client(manager):
    """A client that pipelines puts (depot.Client's default waits for every put)."""
    c = manager.client(pipeline_puts=True)
    yield c
    c.close()


def pipelined(q):
    """Puts twice (the first put is never pipelined, the second asks the bound) and checks
    the client now pipelines puts to q."""
    q.put(0)
    q.put(0)
    assert len(q.get_many(2)) == 2
    assert q._core.bounds[q._name] == 0
    return q


def make_it_a_lock(manager, name):
    """Another client deletes queue `name` and takes a lock of that name: puts to it now get
    WRONG_TYPE. Returns that client, the lock held, and the manager's message for such a put."""
    other = manager.client()
    other.remove(name)
    lock = other.lock(name)
    assert lock.acquire()
    with pytest.raises(depot.WrongTypeError) as ei:
        other.queue(name).put(1)  # a first put: not pipelined, raised by the put itself
    return other, str(ei.value)


def test_pipelined_puts_keep_their_order_and_this_client_sees_them(client, manager):
    q = pipelined(client.queue("order", codec=int))
    for i in range(1000):  # more than the window: older answers are read on the way
        assert q.put(i) is True
    assert q.put_many(range(1000, 1010)) == 10
    assert q.qsize() == 1010  # the manager ran the puts before this request
    client.flush()
    other = manager.client()
    assert other.queue("order").qsize() == 1010
    other.close()
    got = []
    while len(got) < 1010:
        got += q.get_many(1010)
    assert got == list(range(1010))


def test_a_failed_pipelined_put_is_raised_by_a_later_call_with_the_managers_message(
        client, manager):
    q = pipelined(client.queue("changed", codec=int))
    other, message = make_it_a_lock(manager, "changed")
    items = client.queue("items", codec=int)
    items.put(7)
    assert q.put(1) is True  # pipelined: the manager's WRONG_TYPE comes later
    # The put's answer comes before the ping's, so once the ping is back the client knows
    # (the ping itself started before that, so it is not the one that raises).
    client.ping()
    with pytest.raises(depot.WrongTypeError) as ei:
        items.get_nowait()
    assert str(ei.value).startswith(message)
    assert "a put to queue 'changed'" in str(ei.value) and "pipelined" in str(ei.value)
    assert ei.value.status == depot.Status.WRONG_TYPE
    # The call that raised did nothing: the item is still there, and the error is raised once.
    assert items.get_nowait() == 7
    client.ping()
    other.close()


def test_flush_waits_for_the_answers_and_raises_the_first_error(client, manager):
    q = pipelined(client.queue("flushed", codec=int))
    client.flush()  # nothing failed: returns
    other, message = make_it_a_lock(manager, "flushed")
    q.put(1)
    q.put(2)
    with pytest.raises(depot.WrongTypeError) as ei:
        client.flush()
    assert str(ei.value).startswith(message)
    assert "later pipelined puts of this thread that failed too: 1" in str(ei.value)
    client.flush()  # raised once
    # The error made the client forget the bound: the next put waits for its answer.
    with pytest.raises(depot.WrongTypeError):
        q.put(3)
    other.close()


def test_close_raises_a_pipelined_error_not_raised_yet(manager):
    c = manager.client(pipeline_puts=True)
    q = pipelined(c.queue("closing", codec=int))
    other, message = make_it_a_lock(manager, "closing")
    q.put(1)
    with pytest.raises(depot.WrongTypeError, match="a put to queue 'closing'"):
        c.close()
    assert not c.connected
    c.close()  # closed, nothing left to raise
    other.close()


def test_the_error_belongs_to_the_thread_that_put(client, manager):
    q = pipelined(client.queue("threads", codec=int))
    other, _ = make_it_a_lock(manager, "threads")
    raised = []

    def putter():
        q.put(1)
        try:
            client.flush()
        except depot.WrongTypeError as e:
            raised.append(e)
    t = threading.Thread(target=putter)
    t.start()
    t.join(30)
    assert len(raised) == 1
    client.ping()
    client.flush()  # this thread has nothing to raise
    other.close()


def test_by_default_every_put_waits_for_its_answer(manager):
    c = manager.client()
    q = c.queue("sync", codec=int)
    q.put(1)
    q.put(2)
    q.put(3)
    assert b"sync" not in c._core.bounds  # never asked
    other, message = make_it_a_lock(manager, "sync")
    with pytest.raises(depot.WrongTypeError) as ei:
        q.put(4)  # raised by the put itself
    assert str(ei.value) == message
    other.close()
    c.close()


def test_bounded_and_special_puts_are_not_pipelined(client):
    b = client.queue("bounded", maxsize=1, codec=int)
    b.put(1)
    with pytest.raises(depot.FullError):
        b.put(2, block=False)  # raised by the put itself, as every put to a bounded queue
    q = pipelined(client.queue("special", codec=str))
    assert q.put("once", dedup_id="d1") is True
    assert q.put("once", dedup_id="d1") is False  # QUEUE_PUT_EX: its answer is waited for
    assert q.get_nowait() == "once"


def test_a_pipelined_put_lost_with_the_connection_is_a_connection_error():
    # A manager that answers QUEUE_DECLARE and drops the connection when a put arrives.
    from conftest import fake_manager
    key = b"k"

    def session(conn, buf):
        while True:
            while len(buf) < 16 or len(buf) < 16 + P.HEADER.unpack_from(buf)[0]:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
            n, _, _, op, _, ident = P.HEADER.unpack_from(buf)
            buf = buf[16 + n:]
            if op == P.Op.QUEUE_PUT:
                return  # closes the connection, unanswered
            if op != P.Op.HEARTBEAT:
                conn.sendall(P.frame(P.KIND_REPLY, P.Status.OK, ident))
    srv = fake_manager(key, session)
    with srv:
        c = depot.Client("127.0.0.1:%d" % srv.getsockname()[1], authkey=key, quiet=True,
                         reconnect=False, pipeline_puts=True)
        q = c.queue("q", maxsize=0)  # declared unbounded: its puts are pipelined at once
        assert q.put(b"x") is True
        with pytest.raises(depot.ConnectionError) as ei:
            c.flush()
        assert "before the manager answered a put to queue 'q'" in str(ei.value)
        assert "may or may not have taken effect" in str(ei.value)
        c.close()


class _Recorder:
    """Stands in for a client's socket: records what each sendall wrote."""

    def __init__(self, sock):
        self._sock = sock
        self.writes = []

    def sendall(self, data, *args):
        self.writes.append(bytes(data))
        return self._sock.sendall(data, *args)

    def __getattr__(self, name):
        return getattr(self._sock, name)


def ops_of(data):
    """The request ops of the frames in one write."""
    ops = []
    while data:
        n, _, _, op, _, _ = P.HEADER.unpack_from(data)
        ops.append(op)
        data = data[16 + n:]
    return ops


def test_pipeline_puts_true_writes_each_put_at_once(client):
    q = pipelined(client.queue("at-once", codec=int))
    conn = client._core.conn
    rec = conn.sock = _Recorder(conn.sock)
    assert q.put(5) is True
    assert [ops_of(w) for w in rec.writes] == [[P.Op.QUEUE_PUT]]  # nothing held
    assert conn.out == b""


def test_a_pipelined_put_survives_os_exit_right_after_it(manager, tmp_path):
    from conftest import PYROOT
    prog = tmp_path / "exit_after_put.py"
    prog.write_text(
        "import os, sys, depot\n"
        "c = depot.Client(sys.argv[1], authkey=sys.argv[2], pipeline_puts=True, quiet=True)\n"
        "q = c.queue('exits', maxsize=0)\n"  # declared unbounded: pipelined from the first
        "q.put(b'a'); q.put(b'b')\n"
        "os._exit(0)\n")
    env = dict(os.environ, PYTHONPATH=str(PYROOT))
    key = manager.key.decode() if isinstance(manager.key, bytes) else manager.key
    for _ in range(5):
        subprocess.run([sys.executable, str(prog), manager.address, key], env=env, check=True,
                       timeout=60)
    c = manager.client()
    assert c.queue("exits").qsize() == 10
    c.close()


def test_pipeline_puts_takes_three_values(manager):
    with pytest.raises(ValueError, match='"hold"'):
        depot.Client(manager.address, authkey=manager.key, pipeline_puts="yes")


def test_a_held_put_goes_in_one_write_with_the_next_request(manager, monkeypatch):
    monkeypatch.setattr(client_module, "PUT_HOLD", 30.0)  # the keeper would wait 30 s
    client = manager.client(pipeline_puts="hold")
    q = pipelined(client.queue("together", codec=int))
    conn = client._core.conn
    rec = conn.sock = _Recorder(conn.sock)
    assert q.put(5) is True
    assert q.put(6) is True
    assert rec.writes == []  # held
    assert q.qsize() == 2  # the manager ran both puts first: they went ahead of QUEUE_SIZE
    assert [ops_of(w) for w in rec.writes] == [[P.Op.QUEUE_PUT, P.Op.QUEUE_PUT,
                                                P.Op.QUEUE_SIZE]]
    assert q.get_many(2) == [5, 6]
    client.close()


def test_flush_and_close_send_held_puts(manager, monkeypatch):
    monkeypatch.setattr(client_module, "PUT_HOLD", 30.0)
    c = manager.client(pipeline_puts="hold")
    q = pipelined(c.queue("held", codec=int))
    other = manager.client()
    seen = other.queue("held", codec=int)
    q.put(1)
    c.flush()  # sends it and waits for its answer
    assert seen.get(timeout=10) == 1
    q.put(2)
    c.close()
    assert seen.get(timeout=10) == 2
    other.close()


def test_a_held_put_reaches_the_manager_with_no_request_after_it(manager):
    client = manager.client(pipeline_puts="hold")
    q = pipelined(client.queue("alone", codec=int))
    conn = client._core.conn
    held = conn.held
    assert q.put(7) is True
    assert conn.held == held + 1  # held back: no request follows it, the keeper sends it
    # Within half the heartbeat period (a heartbeat would carry it too): PUT_HOLD (2 ms) is
    # what brings it.
    within = conn.lease_ms / 1000.0 / 3 / 2
    assert within >= 1.0
    other = manager.client()
    assert other.queue("alone", codec=int).get(timeout=within) == 7
    other.close()
    client.close()
