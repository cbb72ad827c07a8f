"""Queues: the queue.Queue surface, batches, reliable delivery, codecs."""
import queue
import threading

import pytest

import depot
from depot import codecs


def test_put_get_fifo(client):
    q = client.queue("tasks", codec=int)
    for i in range(5):
        q.put(i)
    assert q.qsize() == 5 and not q.empty() and not q.full()
    assert [q.get() for _ in range(5)] == [0, 1, 2, 3, 4]
    assert q.empty()


def test_default_codec_returns_bytes_and_sends_decimal_text(client):
    q = client.queue("raw")
    q.put(42)
    q.put(-2.5)
    q.put("héllo")
    q.put(b"\x00\xff")
    q.put(True)
    assert q.get() == b"42"  # what a C++ queue<int> and depot-cli read
    assert q.get() == b"-2.5"
    assert q.get() == "héllo".encode()
    assert q.get() == b"\x00\xff"
    assert q.get() == b"true"


def test_codecs(client):
    q = client.queue("c")
    q.put(7)
    assert client.queue("c", codec=int).get() == 7
    q.put("x")
    assert client.queue("c", codec=str).get() == "x"
    q.put(0.1)
    assert client.queue("c", codec=float).get() == 0.1
    auto = client.queue("c", codec="auto")
    auto.put_many([3, 1.5, "text", b"\xff\xfe"])
    assert auto.get_many(10) == [3, 1.5, "text", b"\xff\xfe"]
    j = client.queue("c", codec=codecs.JSON)
    j.put({"a": [1, 2, None]})
    assert j.get() == {"a": [1, 2, None]}
    p = client.queue("c", codec=codecs.Pickle())
    p.put({1, 2})
    assert p.get() == {1, 2}
    q.put(b"abc")
    with pytest.raises(depot.CodecError, match="not a decimal integer"):
        client.queue("c", codec=int).get()


def test_values_without_a_codec_are_refused(client):
    q = client.queue("t")
    with pytest.raises(TypeError, match="cannot send a value of type list"):
        q.put([1, 2])
    with pytest.raises(TypeError, match="never pickles"):
        q.put(object())
    assert q.qsize() == 0


def test_empty_and_timeouts_are_queue_empty(client):
    q = client.queue("e")
    with pytest.raises(queue.Empty) as ei:
        q.get_nowait()
    assert isinstance(ei.value, depot.EmptyError)
    assert "queue 'e' is empty" in str(ei.value)
    with pytest.raises(queue.Empty) as ei:
        q.get(block=False)
    with pytest.raises(queue.Empty) as ei:
        q.get(timeout=0.05)
    assert isinstance(ei.value, depot.TimeoutError)
    assert "stayed empty" in str(ei.value)
    with pytest.raises(ValueError):
        q.get(timeout=-1)


def test_bounded_queue_full(client):
    q = client.queue("b", maxsize=2, codec=int)
    assert q.maxsize == 2
    q.put(1)
    q.put_nowait(2)
    assert q.full()
    with pytest.raises(queue.Full) as ei:
        q.put_nowait(3)
    assert isinstance(ei.value, depot.FullError) and "full" in str(ei.value)
    with pytest.raises(queue.Full):
        q.put(3, timeout=0.05)
    assert q.get() == 1
    # Declaring it again with another bound is refused with the manager's message.
    with pytest.raises(depot.ProtocolError, match="exists with maxsize 2, not 5"):
        client.queue("b", maxsize=5)


def test_blocked_put_completes_when_a_get_frees_room(client, manager):
    q = client.queue("room", maxsize=1, codec=int)
    q.put(1)
    done = []
    t = threading.Thread(target=lambda: done.append(q.put(2, timeout=30)))
    t.start()
    other = manager.client()
    from conftest import wait_until
    wait_until(lambda: "putters=1" in next(o.state for o in other.list() if o.name == "room"),
               what="the put to park")
    assert other.queue("room", codec=int).get() == 1
    t.join(30)
    assert done == [True]
    assert q.get() == 2
    other.close()


def test_put_many_get_many(client):
    q = client.queue("m", codec=int)
    assert q.put_many(range(5)) == 5
    assert q.get_many(3) == [0, 1, 2]
    assert q.get_many(10) == [3, 4]
    assert q.get_many(10, block=False) == []
    with pytest.raises(queue.Empty):
        q.get_many(10, timeout=0.05)
    b = client.queue("mb", maxsize=2)
    with pytest.raises(depot.FullError) as ei:
        b.put_many(["a", "b", "c"], block=False)
    assert ei.value.accepted == 2
    assert "2 of 3 items were put" in str(ei.value)


def test_parked_get_is_served_by_a_later_put(client, manager):
    q = client.queue("wake", codec=str)
    got = []
    t = threading.Thread(target=lambda: got.append(q.get(timeout=30)))
    t.start()
    other = manager.client()
    other.queue("wake").put("hello")
    t.join(30)
    assert got == ["hello"]
    other.close()


def test_delete_wakes_parked_get_with_not_found(client, manager):
    q = client.queue("gone")
    errors = []

    def getter():
        try:
            q.get(timeout=30)
        except depot.Error as e:
            errors.append(e)
    t = threading.Thread(target=getter)
    t.start()
    other = manager.client()
    from conftest import wait_until
    wait_until(lambda: "getters=1" in next((o.state for o in other.list() if o.name == "gone"), ""),
               what="the get to park")
    assert other.queue("gone").delete() == 0
    t.join(30)
    assert isinstance(errors[0], depot.NotFoundError)
    assert "was deleted while this request waited" in str(errors[0])
    with pytest.raises(depot.NotFoundError, match="does not exist"):
        other.queue("gone").delete()
    other.close()


def test_priority_delay_dedup(client):
    q = client.queue("px", codec=str)
    q.put("normal")
    q.put("urgent", priority=-1)
    assert q.get() == "urgent"
    assert q.get() == "normal"
    assert q.put("once", dedup_id="order-17") is True
    assert q.put("once", dedup_id="order-17") is False
    assert q.get() == "once"
    assert q.get_nowait.__self__ is q
    with pytest.raises(queue.Empty):
        q.get_nowait()
    q.put("later", delay=2)
    with pytest.raises(queue.Empty):
        q.get_nowait()  # not handed out before its delay
    assert q.get(timeout=30) == "later"


def test_reserve_ack_nack_touch(client, manager):
    q = client.queue("rel", codec=str)
    q.put_many(["a", "b"])
    r = q.reserve(timeout=5)
    assert (r.value, r.deliveries) == ("a", 1)
    assert q.qsize() == 1  # reserved items are not counted
    assert r.touch(60) is True
    assert r.nack() == depot.NackResult.REQUEUED
    r2 = q.reserve()
    assert (r2.value, r2.deliveries) == ("a", 2)
    assert r2.ack() is True
    assert r2.ack() is False  # no longer held
    assert q.nack(r2.id) == depot.NackResult.NOT_HELD
    assert q.touch(r2.id) is False
    many = q.reserve_many(10, block=False)
    assert [x.value for x in many] == ["b"]
    assert q.ack(many) == 1
    with pytest.raises(queue.Empty):
        q.reserve(block=False)
    with pytest.raises(queue.Empty):
        q.reserve(timeout=0.05)


def test_reservation_comes_back_when_its_session_ends(manager):
    a = manager.client()
    a.queue("work").put("job")
    assert a.queue("work", codec=str).reserve().value == "job"
    a.close()
    b = manager.client()
    r = b.queue("work", codec=str).reserve(timeout=30)
    assert (r.value, r.deliveries) == ("job", 2)
    b.close()


def test_dead_letter_after_max_deliveries(client):
    q = client.queue("dl", codec=str)
    q.configure(max_deliveries=2, visibility=30)
    q.put("poison")
    assert q.reserve().nack() == depot.NackResult.REQUEUED
    assert q.reserve().nack() == depot.NackResult.DEAD_LETTERED
    assert client.queue("dl.dead", codec=str).get(timeout=5) == "poison"
    with pytest.raises(depot.ProtocolError, match="cannot be its own dead-letter queue"):
        q.configure(dead_letter="dl")


def test_wrong_type(client):
    with client.lock("L"):
        pass
    with pytest.raises(depot.WrongTypeError):
        client.queue("L").put(1)


def test_interop_with_depot_cli(client, manager):
    """Values cross between the C++ tools and Python: decimal text both ways."""
    import os
    import subprocess
    from conftest import PROGRAM
    cli = os.path.join(os.path.dirname(PROGRAM), "depot-cli")
    if not os.access(cli, os.X_OK):
        pytest.skip("no depot-cli next to the manager")
    base = [cli, "-a", manager.address, "-k", manager.key.decode()]
    subprocess.run(base + ["put", "interop", "42", "-7"], check=True, timeout=30)
    q = client.queue("interop", codec=int)
    assert q.get_many(2, timeout=5) == [42, -7]
    q.put(1234)
    q.put(2.5)
    out = subprocess.run(base + ["get", "interop", "--count", "2", "--timeout", "5"], check=True,
                         timeout=30, stdout=subprocess.PIPE, text=True).stdout
    assert out.split() == ["1234", "2.5"]


def test_codec_hook(client):
    class Upper(codecs.Codec):
        name = "upper"

        def encode(self, value):
            return str(value).upper().encode()

        def decode(self, data):
            return data.decode().lower()
    codecs.register("upper", Upper())
    q = client.queue("hook", codec="upper")
    q.put("abc")
    assert client.queue("hook").get() == b"ABC"
    q.put("xyz")
    assert q.get() == "xyz"
    with pytest.raises(ValueError, match="unknown codec"):
        client.queue("hook", codec="nope")
