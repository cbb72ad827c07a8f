"""Locks, rlocks, semaphores, events, barriers, counters, variables, topics."""
import os
import threading

import pytest

import depot
from conftest import wait_until


def test_lock_context_manager_and_tokens(client, manager):
    lock = client.lock("db")
    with lock:
        t1 = lock.token
        assert t1 > 0 and lock.locked_by_me()
    assert lock.token == 0
    assert lock.acquire() is True
    t2 = lock.token
    assert t2 > t1  # fencing tokens increase
    other = manager.client()
    assert other.lock("db").acquire(blocking=False) is False
    assert other.lock("db").acquire(timeout=0.05) is False
    lock.release()
    with pytest.raises(depot.NotOwnerError, match="not held by this thread"):
        lock.release()
    ol = other.lock("db")
    assert ol.acquire(timeout=5)
    assert ol.token > t2
    ol.release()
    other.close()


def test_a_named_client_is_shown_as_the_lock_holder(manager):
    holder = manager.client(name="py-holder")
    assert holder.name == "py-holder"
    lock = holder.lock("jobs.lock")
    assert lock.acquire()
    other = manager.client()
    assert other.name.endswith("-%d" % os.getpid())
    state = {o.name: o.state for o in other.list()}["jobs.lock"]
    assert "name=py-holder token=%d" % lock.token in state
    with pytest.raises(ValueError, match="printable ASCII"):
        manager.client(name="has space")
    other.close()
    holder.close()


def test_lock_waiter_is_granted_on_release(client, manager):
    lock = client.lock("fifo")
    lock.acquire()
    other = manager.client()
    got = []
    t = threading.Thread(target=lambda: got.append(other.lock("fifo").acquire(timeout=30)))
    t.start()
    wait_until(lambda: "waiters=1" in next(o.state for o in client.list() if o.name == "fifo"),
               what="the acquire to park")
    lock.release()
    t.join(30)
    assert got == [True]
    other.close()


def test_lock_holds_are_per_thread(client):
    lock = client.lock("perthread")
    lock.acquire()
    errs = []

    def other_thread():
        try:
            lock.release()
        except depot.NotOwnerError as e:
            errs.append(e)
    t = threading.Thread(target=other_thread)
    t.start()
    t.join(10)
    assert len(errs) == 1
    lock.release()


def test_rlock_counts(client):
    r = client.rlock("re")
    assert r.acquire() and r.acquire()
    assert r.count == 2
    tok = r.token
    r.release()
    assert r.count == 1 and r.token == tok
    r.release()
    assert r.count == 0
    with pytest.raises(depot.WrongTypeError, match="is an rlock, not a lock"):
        client.lock("re").acquire()


def test_lock_ttl_ends_the_hold(client, manager):
    lock = client.lock("lease", ttl=0.2)
    assert lock.acquire()
    other = manager.client()
    assert other.lock("lease").acquire(timeout=30)  # granted once the TTL ran out
    with pytest.raises(depot.NotOwnerError, match="another fencing token"):
        lock.release()
    other.close()


def test_forced_release_and_lost_hold(client, manager):
    lock = client.lock("stuck")
    lock.acquire()
    tok = lock.token
    other = manager.client()
    assert other.lock("stuck").force_release() == tok
    with pytest.raises(depot.NotOwnerError, match="is not held"):
        other.lock("stuck").force_release()
    other.close()
    with pytest.raises(depot.NotOwnerError):
        lock.release()


def test_lock_lost_with_the_session(make_manager):
    m = make_manager()
    c = m.client()
    lock = c.lock("x")
    reasons = []
    lock.on_lost(reasons.append)
    lock.acquire()
    m.kill()
    wait_until(lambda: lock.lost, what="the hold to be seen lost")
    wait_until(lambda: reasons, what="on_lost to run")
    assert "lost with its session" in reasons[0]
    with pytest.raises(depot.NotOwnerError, match="lost with its session"):
        lock.release()
    c.close()


def test_semaphore(client, manager):
    s = client.semaphore("slots", 2)
    assert s.acquire() and s.acquire()
    assert s.acquire(blocking=False) is False
    assert s.acquire(timeout=0.05) is False
    first = s.lease
    s.release()
    assert s.lease != first or s.lease != 0
    with s:
        pass
    s.release()
    with pytest.raises(depot.NotOwnerError):
        s.release()
    with pytest.raises(depot.ProtocolError, match="exists with max 2, not 3"):
        client.semaphore("slots", 3).acquire()


def test_event(client, manager):
    e = client.event("ready")
    assert not e.is_set()
    assert e.wait(0.05) is False
    other = manager.client()
    got = []
    t = threading.Thread(target=lambda: got.append(e.wait(30)))
    t.start()
    other.event("ready").set()
    t.join(30)
    assert got == [True] and e.is_set()
    e.clear()
    assert not e.is_set()
    other.close()


def test_barrier(client, manager):
    b = client.barrier("start", 3)
    out = []
    clients = [manager.client() for _ in range(2)]
    ts = [threading.Thread(target=lambda c=c: out.append(c.barrier("start", 3).wait(30)))
          for c in clients]
    for t in ts:
        t.start()
    out.append(b.wait(30))
    for t in ts:
        t.join(30)
    assert sorted(out) == [0, 1, 2]
    # A party that times out breaks the barrier for the others.
    with pytest.raises(depot.TimeoutError, match="did not fill before the timeout"):
        b.wait(0.05)
    with pytest.raises(threading.BrokenBarrierError):
        clients[0].barrier("start", 3).wait(5)
    b.reset()
    for c in clients:
        c.close()


def test_counter(client):
    c = client.counter("hits")
    assert c.add(5) == 5
    assert c.decr(2) == 3
    assert c.value == 3
    c.add(2 ** 63 - 4)
    with pytest.raises(depot.ProtocolError, match="would overflow 64 bits"):
        c.add(10)
    assert c.add(-(2 ** 63 - 1)) == 0


def test_variable(client, manager):
    v = client.variable("config", codec=str)
    assert v.get(block=False) is None
    assert v.get(block=False, default="none") == "none"
    with pytest.raises(depot.TimeoutError):
        v.get(timeout=0.05)
    ver = v.set("v=1")
    assert v.get() == "v=1"
    assert v.get_versioned() == (ver, "v=1", True)
    assert v.compare_and_set(ver, "v=2") == (True, v.version)
    assert v.compare_and_set(ver, "v=3").swapped is False
    cur = v.version
    other = manager.client()
    got = []
    t = threading.Thread(target=lambda: got.append(v.wait_for_change(cur, timeout=30)))
    t.start()
    wait_until(lambda: "watchers=1" in next(o.state for o in client.list() if o.name == "config"),
               what="the wait to park")
    other.variable("config").set("v=4")
    t.join(30)
    assert got[0].value == "v=4" and got[0].version > cur
    with pytest.raises(depot.TimeoutError, match="did not change"):
        v.wait_for_change(got[0].version, timeout=0.05)
    before = v.version
    assert v.delete() is True
    assert v.version > before  # a delete is a change
    assert v.get_versioned(block=False) == (v.version, None, False)
    assert v.delete() is False
    assert v.get(block=False) is None
    # A get that waits is answered by the next set.
    t = threading.Thread(target=lambda: got.append(v.get(timeout=30)))
    t.start()
    wait_until(lambda: "watchers=1" in next(o.state for o in client.list() if o.name == "config"),
               what="the get to park")
    other.variable("config").set(b"v=5")
    t.join(30)
    assert got[-1] == "v=5"
    other.close()


def test_topic_iterator_and_pattern(client, manager):
    sub = client.subscribe("sensors.*", codec=float)
    exact = client.topic("sensors.temp", codec=float).subscribe()
    pub = manager.client()
    assert pub.publish("sensors.temp", 21.5) == 2
    assert pub.topic("sensors.hum").publish(40) == 1
    assert pub.publish("other", 1) == 0
    m1 = sub.next(10)
    m2 = sub.next(10)
    assert (m1.topic, m1.value, m1.dropped) == ("sensors.temp", 21.5, 0)
    assert (m2.topic, m2.value) == ("sensors.hum", 40.0)
    assert exact.next(10).value == 21.5
    assert exact.next(0.05) is None
    sub.close()
    assert sub.next(0) is None
    assert pub.publish("sensors.temp", 1) == 1
    exact.close()
    assert pub.publish("sensors.temp", 1) == 0
    pub.close()


def test_topic_callback_form(client, manager):
    seen = []
    lock = threading.Lock()

    def on_message(m):
        with lock:
            seen.append(m.value)
    sub = client.topic("news", codec=str).subscribe(on_message)
    pub = manager.client()
    for i in range(5):
        pub.topic("news").publish("item %d" % i)
    wait_until(lambda: len(seen) == 5, what="five messages")
    assert seen == ["item %d" % i for i in range(5)]
    sub.close()
    pub.close()


def test_subscription_iterates_in_publish_order(client):
    sub = client.subscribe("order")
    t = client.topic("order", codec=int)
    for i in range(100):
        t.publish(i)
    got = []
    for m in sub:
        got.append(int(m.value))
        if len(got) == 100:
            break
    assert got == list(range(100))
    sub.close()


def test_subscription_is_renewed_after_a_reconnect(make_manager):
    m = make_manager()
    c = m.client()
    sub = c.subscribe("t", codec=str)
    m.kill()
    wait_until(lambda: not c.connected, what="the loss")
    m.restart()
    assert sub.next(0.5) is None  # renews the subscription on a new connection
    pub = m.client()
    wait_until(lambda: pub.publish("t", "again") == 1, what="the renewed subscription")
    assert sub.next(10).value == "again"
    pub.close()
    c.close()


def test_released_holds_leave_nothing_behind(client):
    lock = client.lock("many")
    r = client.rlock("many-r")
    for _ in range(50):
        with lock:
            pass
        with r:
            with r:
                pass
    assert client._core.watches == {}
    assert lock._holds == {} and r._holds == {}


@pytest.mark.parametrize("policy,kept", [("drop_newest", [0, 1]), ("drop_oldest", [3, 4])])
def test_slow_subscriber_policies(client, manager, policy, kept):
    sub = client.subscribe("burst", codec=int, buffer=2, policy=policy)
    pub = manager.client()
    for i in range(5):
        pub.publish("burst", i)
    wait_until(lambda: sub.dropped == 3, what="three messages dropped")
    assert [sub.next(5).value for _ in kept] == kept
    assert sub.next(0) is None
    with pytest.raises(ValueError):
        client.subscribe("x", policy="keep_all")
    sub.close()
    pub.close()
