"""The connection: handshake, errors, admin calls, pipelining, heartbeats, reconnecting."""
import json
import multiprocessing
import queue
import tempfile
import threading

import pytest

import depot
from depot import protocol as P
from conftest import fake_manager, free_port, wait_until


def test_connect_forms_and_env_key(manager, monkeypatch):
    host, port = manager.address.split(":")
    c1 = depot.Client((host, int(port)), authkey=manager.key, quiet=True)
    c2 = depot.Client(manager.address, authkey=manager.key.decode(), quiet=True)
    monkeypatch.setenv("DEPOT_AUTHKEY", manager.key.decode())
    c3 = depot.Client(manager.address, quiet=True)
    for c in (c1, c2, c3):
        assert c.ping() >= 0
        assert c.connected and c.connections == 1
        assert c.session_lease == 10.0
        c.close()
    with pytest.raises(depot.ConnectionError, match="closed"):
        c1.ping()


def test_wrong_key_is_auth_error_with_the_managers_message(manager):
    with pytest.raises(depot.AuthError, match="the authkey does not match the manager's") as ei:
        depot.Client(manager.address, authkey=b"wrong", quiet=True)
    assert isinstance(ei.value, multiprocessing.AuthenticationError)
    assert ei.value.status == P.Status.AUTH_FAILED


def test_no_manager_is_connection_error():
    port = free_port()
    with pytest.raises(depot.ConnectionError, match="is depot-manager running there") as ei:
        depot.Client("127.0.0.1:%d" % port, authkey=b"k", quiet=True)
    assert isinstance(ei.value, ConnectionError)


def test_no_key_at_all(monkeypatch):
    monkeypatch.delenv("DEPOT_AUTHKEY", raising=False)
    with pytest.raises(depot.AuthError, match="DEPOT_AUTHKEY"):
        depot.Client("127.0.0.1:1")


def test_the_managers_proof_is_checked():
    # An impostor that accepts any AUTH but cannot prove it knows the key.
    srv = fake_manager(b"k", lambda conn, buf: conn.recv(1),
                       auth_ok=lambda nonce: P.frame(P.KIND_AUTH_OK, 0, 0,
                                                     bytes(32) + P.u32(10000)))
    with srv:
        with pytest.raises(depot.AuthError, match="could not prove it knows the authkey"):
            depot.Client("127.0.0.1:%d" % srv.getsockname()[1], authkey=b"k", quiet=True)


def test_a_manager_of_another_version_is_refused():
    srv = fake_manager(b"k", lambda conn, buf: None, version=3)
    with srv:
        with pytest.raises(depot.ProtocolError, match="protocol version 3"):
            depot.Client("127.0.0.1:%d" % srv.getsockname()[1], authkey=b"k", quiet=True)


def test_admin_calls(client):
    client.queue("tasks").put("x")
    client.counter("hits").add(2)
    st = client.stats()
    assert st["version"] == "4" and st["objects"] == 2 and st["connections"] >= 1
    entries = {o.name: o for o in client.list()}
    assert entries["tasks"].type == "queue" and entries["tasks"].size == 1
    assert entries["hits"].state == "value=2"
    assert client.remove("tasks") == "queue"
    with pytest.raises(depot.NotFoundError, match="no object named 'tasks'; nothing to delete"):
        client.remove("tasks")
    assert client.ping(b"\x00echo") >= 0
    status, body = client.call(0x7F)
    assert status == P.Status.BAD_REQUEST and b"unknown opcode 127" in body


def test_invalid_name_is_protocol_error(client):
    with pytest.raises(depot.ProtocolError):
        client.queue("bad\nname").put(1)


def test_pipelined_threads_share_one_connection(client, manager):
    q = client.queue("pipe", codec=int)
    n_threads, per = 8, 50
    errors = []

    def work(k):
        try:
            for i in range(per):
                q.put(k * 1000 + i)
                client.ping()
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    ts = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in ts:
        t.start()
    # A parked get on the same connection does not hold up the others.
    parked = []
    tg = threading.Thread(target=lambda: parked.append(client.queue("other").get(timeout=30)))
    tg.start()
    for t in ts:
        t.join(60)
    assert not errors
    got = q.get_many(n_threads * per)
    while len(got) < n_threads * per:
        got += q.get_many(n_threads * per)
    assert sorted(got) == sorted(k * 1000 + i for k in range(n_threads) for i in range(per))
    client.queue("other").put(b"done")
    tg.join(30)
    assert parked == [b"done"]
    assert client.connections == 1
    assert client.stats()["connections"] == 1


def test_heartbeats_keep_an_idle_session(make_manager):
    m = make_manager(["--session-lease", "300"])
    holder = m.client()
    assert holder.session_lease == 0.3
    lock = holder.lock("held")
    assert lock.acquire()
    other = m.client()
    # Five leases of silence from the holder's program: its heartbeats keep the lock.
    assert other.lock("held").acquire(timeout=1.5) is False
    assert not lock.lost
    lock.release()
    assert other.lock("held").acquire(timeout=5) is True
    holder.close()
    other.close()


def test_reconnect_across_a_restart_and_a_blocked_get_survives(make_manager):
    data = tempfile.mkdtemp(prefix="depot-pytest-")
    m = make_manager(["--data-dir", data])
    lines = []
    c = m.client(on_connection=lambda kind, line: lines.append((kind, line)))
    q = c.queue("durable", codec=str)
    q.put_many(["one", "two"])
    assert q.get() == "one"

    blocked = []

    def getter():
        try:
            blocked.append(c.queue("later", codec=str).get(timeout=60))
        except Exception as e:  # noqa: BLE001
            blocked.append(e)
    t = threading.Thread(target=getter)
    t.start()
    wait_until(lambda: c.stats()["parked"] == 1, what="the get to park")

    m.kill()  # a crash: nothing is answered
    wait_until(lambda: not c.connected, what="the client to see the connection end")
    m.restart()
    # The next call reconnects; the queue's item survived in the data directory.
    assert q.get(timeout=10) == "two"
    assert c.connections >= 2
    wait_until(lambda: any(k == "restored" for k, _ in lines), what="the restored report")
    assert any(k == "lost" for k, _ in lines)
    # The blocked get was sent again on the new connection: a put now reaches it.
    wait_until(lambda: c.stats()["parked"] == 1, what="the re-sent get to park")
    other = m.client()
    other.queue("later").put("after the restart")
    t.join(60)
    assert blocked == ["after the restart"]
    other.close()
    c.close()


def test_a_request_in_flight_when_the_connection_drops_fails(make_manager):
    m = make_manager()
    c = m.client()
    full = c.queue("full", maxsize=1)
    full.put(1)
    errors = []

    def putter():
        try:
            full.put(2, timeout=60)  # parks: the queue is full
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    t = threading.Thread(target=putter)
    t.start()
    wait_until(lambda: c.stats()["parked"] == 1, what="the put to park")
    m.kill()
    t.join(30)
    assert len(errors) == 1 and isinstance(errors[0], depot.ConnectionError)
    assert "may or may not have taken effect" in str(errors[0])
    assert "QUEUE_PUT" in str(errors[0])
    # With no manager to come back, a call gives up after its own timeout.
    c2_err = None
    try:
        c.queue("x").get(timeout=0.3)
    except depot.ConnectionError as e:
        c2_err = e
    assert c2_err is not None and "unreachable" in str(c2_err)
    c.close()


def test_reconnect_off(make_manager):
    m = make_manager()
    c = m.client(reconnect=False)
    m.kill()
    wait_until(lambda: not c.connected, what="the loss")
    with pytest.raises(depot.ConnectionError, match="reconnecting is off"):
        c.ping()
    c.close()


def test_stats_is_json(client):
    assert json.loads(json.dumps(client.stats()))["version"] == "4"


def test_inspect_shows_the_lock_holder(client):
    lock = client.lock("inspected")
    assert lock.acquire()
    locks = client.inspect("locks")["locks"]
    held = [l for l in locks if l["name"] == "inspected"]
    assert held and held[0]["held"] and int(held[0]["holder"]["token"]) > 0
    sessions = {s["id"]: s for s in client.inspect("sessions")["sessions"]}
    assert [l["name"] for l in sessions[held[0]["holder"]["session"]]["holds"]["locks"]] == [
        "inspected"
    ]
    with pytest.raises(depot.Error, match="no section 'nope'"):
        client.inspect("nope")
    lock.release()


def test_a_parked_get_outlives_a_graceful_stop(make_manager):
    # SIGTERM: the manager answers parked requests SHUTTING_DOWN; the get waits on its successor.
    data = tempfile.mkdtemp(prefix="depot-pytest-")
    m = make_manager(["--data-dir", data])
    c = m.client()
    got = []

    def getter():
        try:
            got.append(c.queue("q", codec=int).get(timeout=60))
        except Exception as e:  # noqa: BLE001
            got.append(e)
    t = threading.Thread(target=getter)
    t.start()
    wait_until(lambda: c.stats()["parked"] == 1, what="the get to park")
    m.stop()
    m.restart()
    other = m.client()
    wait_until(lambda: other.stats()["parked"] == 1, what="the get to be re-sent", timeout=30)
    other.queue("q").put(7)
    t.join(60)
    assert got == [7]
    other.close()
    c.close()


def test_too_large_keeps_the_connection(make_manager):
    m = make_manager(["--max-frame", "1024"])
    c = m.client()
    with pytest.raises(depot.ProtocolError, match="exceeds the limit of 1024 bytes"):
        c.queue("big").put(b"x" * 2000)
    c.queue("big").put(b"small")
    assert c.queue("big").get() == b"small"
    assert c.connections == 1
    c.close()


def test_limit_on_parked_requests(make_manager):
    m = make_manager(["--max-waiters", "1"])
    c = m.client()
    outcome = []

    def first():
        try:
            outcome.append(c.queue("w").get_many(1, timeout=30))
        except queue.Empty as e:
            outcome.append(e)
    t = threading.Thread(target=first)
    t.start()
    wait_until(lambda: c.stats()["parked"] == 1, what="the first get to park")
    with pytest.raises(depot.LimitError):
        c.queue("w").get(timeout=5)
    c.queue("w").put(b"x")  # the parked one is still served
    t.join(30)
    assert outcome == [[b"x"]]
    c.close()


def test_a_reply_overdue_past_reply_grace_fails_the_connection():
    # A manager that completes the handshake, then reads requests and answers none. The
    # caller reads in a blocking recv; the keeper finds the reply overdue and ends the wait.
    key = b"k"

    def session(conn, _):
        while conn.recv(65536):
            pass
    srv = fake_manager(key, session)
    with srv:
        c = depot.Client("127.0.0.1:%d" % srv.getsockname()[1], authkey=key, quiet=True,
                         reply_grace=0.3, reconnect=False)
        with pytest.raises(depot.ConnectionError, match="taken for dead"):
            c.queue("q").put(1, timeout=0.2)
        assert not c.connected
        c.close()
