"""Coordination objects shared by every client of a manager: locks (with fencing tokens),
reentrant locks, semaphores, events, barriers, counters, variables and pub/sub topics.

They follow the threading module's surface where it has one (Lock.acquire(blocking, timeout)
-> bool, ``with lock:``, Event.wait(timeout) -> bool, Barrier.wait() -> index,
threading.BrokenBarrierError). Timeouts are seconds; None waits forever.

Holds (locks, semaphore leases) belong to the client's session: the manager releases them
when the connection ends or the session lease runs out, so a crashed holder never blocks the
others for long. The client notices the end of its connection at once: `lost` turns true,
`on_lost` callbacks run (on the client's keeper thread), and release() raises NotOwnerError
without asking the manager.
"""
from __future__ import annotations

import threading
import time
from typing import NamedTuple

from . import codecs as _codecs
from . import protocol as P
from .client import name_bytes, parse_reply
from .errors import ConnectionError, Error, NotOwnerError, TimeoutError, error_for_status

__all__ = ["Lock", "Semaphore", "Event", "Barrier", "Counter", "Variable", "Versioned",
           "CasResult", "Topic", "Subscription", "Message"]


def _raise(status: int, body: bytes):
    raise error_for_status(status, P.error_message(body))


def _acquire_timeout(blocking: bool, timeout):
    """threading.Lock.acquire's rules: timeout -1 (or None) = forever; blocking=False = no wait."""
    if not blocking:
        if timeout not in (None, -1):
            raise ValueError("can't specify a timeout for a non-blocking call")
        return 0
    if timeout is None or timeout == -1:
        return None
    if timeout < 0:
        raise ValueError("timeout value must be a non-negative number or -1")
    return timeout


class _Hold:
    __slots__ = ("token", "count", "conn", "watch")

    def __init__(self, token, count, conn):
        self.token = token
        self.count = count
        self.conn = conn
        self.watch = 0


class Lock:
    """A lock shared by every client (Client.lock / Client.rlock). Waiters are served first
    come, first served. The hold belongs to the acquiring thread; each grant carries a fencing
    token, strictly increasing across the manager: pass it to the storage the lock protects.
    With `ttl` (seconds) a hold also ends by itself that long after it was granted."""

    def __init__(self, client, name: str, *, reentrant: bool = False, ttl: float | None = None):
        self.client = client
        self.name = name
        self.reentrant = reentrant
        self._s = P.s(name_bytes(name))
        self._core = client._core
        self._ttl_ms = 0 if not ttl else max(1, int(round(ttl * 1000)))
        self._mu = threading.Lock()
        self._holds: dict[int, _Hold] = {}  # by thread ident
        self._lost_why = ""
        self._on_lost = None

    def __repr__(self) -> str:
        return "<depot.%s %r>" % ("RLock" if self.reentrant else "Lock", self.name)

    def acquire(self, blocking: bool = True, timeout: float | None = -1) -> bool:
        """Takes the lock; False when `timeout` passed first (or at once with blocking=False)."""
        t = _acquire_timeout(blocking, timeout)
        me = threading.get_ident()
        s = self._s
        flag = P.u8(1 if self.reentrant else 0)
        ttl = P.i64(self._ttl_ms)
        owner = P.u64(me & 0xFFFFFFFFFFFFFFFF)
        status, body, conn, _ = self._core.wait_call(
            P.Op.LOCK_ACQUIRE, lambda ms: s + flag + owner + P.i64(ms) + ttl, t)
        if status == P.Status.TIMEOUT:
            return False
        if status != P.Status.OK:
            _raise(status, body)
        r = P.Reader(body)
        token, count = parse_reply(r, lambda: (r.u64(), r.u32()), P.Op.LOCK_ACQUIRE)
        with self._mu:
            h = self._holds.get(me)
            if h is not None and h.conn is conn and h.token == token:
                h.count = count  # an rlock re-entered
                return True
            old = h
            h = self._holds[me] = _Hold(token, count, conn)
            self._lost_why = ""
        if old is not None and old.watch:
            self._core.unwatch(old.watch)
        h.watch = self._core.watch(conn, lambda why, me=me, token=token:
                                   self._lost(me, token, why))
        return True

    def _forget(self, me: int, h: _Hold) -> None:
        """Drops this thread's hold `h` (mu held)."""
        if self._holds.get(me) is h:
            del self._holds[me]
        if h.watch:
            self._core.unwatch(h.watch)

    def _lost(self, me: int, token: int, why: str) -> None:
        with self._mu:
            h = self._holds.get(me)
            if h is None or h.token != token:
                return
            self._lost_why = ("the hold of lock '%s' (token %d) was lost with its session: %s"
                              % (self.name, token, why))
            fn = self._on_lost
        if fn is not None:
            fn(self._lost_why)

    def release(self) -> None:
        """Releases this thread's hold (one count of a reentrant one). NotOwnerError if this
        thread holds none, or the hold ended meanwhile (TTL, session lost, forced release)."""
        me = threading.get_ident()
        with self._mu:
            h = self._holds.get(me)
            if h is None:
                raise NotOwnerError("lock '%s' is not held by this thread" % self.name)
            if h.conn.dead:
                self._forget(me, h)
                why = self._lost_why or ("the hold of lock '%s' was lost with its session (%s)"
                                         % (self.name, h.conn.reason))
                self._lost_why = ""
                raise NotOwnerError(why + "; another holder may have it now")
        status, body, _ = self._core.call(P.Op.LOCK_RELEASE, self._s + P.u64(h.token))
        if status != P.Status.OK:
            with self._mu:
                self._forget(me, h)
            _raise(status, body)
        r = P.Reader(body)
        remaining, _token = parse_reply(r, lambda: (r.u32(), r.u64()), P.Op.LOCK_RELEASE)
        with self._mu:
            if remaining == 0:
                self._forget(me, h)
            else:
                h.count = remaining

    def force_release(self) -> int:
        """Breaks whoever's hold it is (an operator's tool); returns the broken hold's token.
        NotOwnerError if the lock is not held."""
        r = P.Reader(self._core.request(P.Op.LOCK_RELEASE, self._s + P.u64(0)))
        return parse_reply(r, lambda: (r.u32(), r.u64()), P.Op.LOCK_RELEASE)[1]

    @property
    def token(self) -> int:
        """The fencing token of this thread's hold; 0 when it holds none (or lost it)."""
        h = self._holds.get(threading.get_ident())
        return 0 if h is None or h.conn.dead else h.token

    @property
    def count(self) -> int:
        h = self._holds.get(threading.get_ident())
        return 0 if h is None or h.conn.dead else h.count

    @property
    def lost(self) -> bool:
        """True while a hold of this handle was lost with its session and not released."""
        with self._mu:
            return any(h.conn.dead for h in self._holds.values())

    def on_lost(self, fn) -> "Lock":
        """fn(why) runs on the client's keeper thread each time a hold is lost with its
        session. Keep it short; do not wait on the client in it."""
        self._on_lost = fn
        return self

    def locked_by_me(self) -> bool:
        return self.token != 0

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()


class Semaphore:
    """At most `value` leases held at once across every client (Client.semaphore). acquire()
    returns True (or False after `timeout`); the lease id is `lease` (this thread's most
    recent one); release() returns this thread's most recent lease, or the one named."""

    def __init__(self, client, name: str, value: int = 1):
        if value < 1:
            raise ValueError("a semaphore needs a value of at least 1")
        self.client = client
        self.name = name
        self.max = value
        self._s = P.s(name_bytes(name))
        self._core = client._core
        self._mu = threading.Lock()
        self._leases: dict[int, list] = {}  # thread ident -> [(lease, conn)]

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        t = _acquire_timeout(blocking, -1 if timeout is None else timeout)
        s = self._s + P.u32(self.max)
        status, body, conn, _ = self._core.wait_call(P.Op.SEM_ACQUIRE,
                                                     lambda ms: s + P.i64(ms), t)
        if status == P.Status.TIMEOUT:
            return False
        if status != P.Status.OK:
            _raise(status, body)
        r = P.Reader(body)
        lease = parse_reply(r, r.u64, P.Op.SEM_ACQUIRE)
        with self._mu:
            self._leases.setdefault(threading.get_ident(), []).append((lease, conn))
        return True

    @property
    def lease(self) -> int:
        ls = self._leases.get(threading.get_ident())
        return ls[-1][0] if ls else 0

    @property
    def lost(self) -> bool:
        with self._mu:
            return any(c.dead for ls in self._leases.values() for _, c in ls)

    def release(self, lease: int | None = None) -> None:
        me = threading.get_ident()
        with self._mu:
            found = None
            for owner, ls in self._leases.items():
                for i, (l, c) in enumerate(ls):
                    if (lease is None and owner == me and i == len(ls) - 1) or l == lease:
                        found = (owner, i, l, c)
                        break
                if found:
                    break
            if found is None:
                raise NotOwnerError("semaphore '%s': %s" % (
                    self.name, "this thread holds no lease" if lease is None
                    else "lease %d is not held by this client" % lease))
            owner, i, l, c = found
            del self._leases[owner][i]
            if not self._leases[owner]:
                del self._leases[owner]
        if c.dead:
            raise NotOwnerError("lease %d of semaphore '%s' was lost with its session (%s)"
                                % (l, self.name, c.reason))
        self._core.request(P.Op.SEM_RELEASE, self._s + P.u64(l))

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()


class Event:
    """A flag clients set, clear and wait for (threading.Event across machines)."""

    def __init__(self, client, name: str):
        self.client = client
        self.name = name
        self._s = P.s(name_bytes(name))
        self._core = client._core

    def set(self) -> None:
        self._core.request(P.Op.EVENT_SET, self._s)

    def clear(self) -> None:
        self._core.request(P.Op.EVENT_CLEAR, self._s)

    def is_set(self) -> bool:
        return self.wait(0)

    def wait(self, timeout: float | None = None) -> bool:
        """True once the event is set; False when `timeout` passed first."""
        s = self._s
        status, body, _, _ = self._core.wait_call(P.Op.EVENT_WAIT, lambda ms: s + P.i64(ms),
                                                  timeout)
        if status == P.Status.OK:
            return True
        if status == P.Status.TIMEOUT:
            return False
        _raise(status, body)


class Barrier:
    """`parties` waiters proceed together; cyclic. wait() returns the arrival index (0 for
    the first). A party that times out or disconnects breaks it: BrokenError (a
    threading.BrokenBarrierError) for the others and every later wait until reset()."""

    def __init__(self, client, name: str, parties: int):
        if parties < 1:
            raise ValueError("a barrier needs at least 1 party")
        self.client = client
        self.name = name
        self.parties = parties
        self._s = P.s(name_bytes(name))
        self._core = client._core

    def wait(self, timeout: float | None = None) -> int:
        s = self._s + P.u32(self.parties)
        status, body, _, _ = self._core.wait_call(P.Op.BARRIER_WAIT, lambda ms: s + P.i64(ms),
                                                  timeout, resend_without_time=False)
        if status != P.Status.OK:
            _raise(status, body)
        r = P.Reader(body)
        return parse_reply(r, r.u32, P.Op.BARRIER_WAIT)

    def reset(self) -> None:
        self._core.request(P.Op.BARRIER_RESET, self._s)


class Counter:
    """A 64-bit signed counter changed atomically (the lock-free way to count)."""

    def __init__(self, client, name: str):
        self.client = client
        self.name = name
        self._s = P.s(name_bytes(name))
        self._core = client._core

    def add(self, delta: int = 1) -> int:
        """Adds `delta` (negative subtracts); returns the new value. ProtocolError if the sum
        would not fit 64 bits (the counter is then unchanged)."""
        r = P.Reader(self._core.request(P.Op.COUNTER_ADD, self._s + P.i64(delta)))
        return parse_reply(r, r.i64, P.Op.COUNTER_ADD)

    def incr(self, delta: int = 1) -> int:
        return self.add(delta)

    def decr(self, delta: int = 1) -> int:
        return self.add(-delta)

    @property
    def value(self) -> int:
        return self.add(0)

    def __int__(self) -> int:
        return self.value


class Versioned(NamedTuple):
    """A variable's state: `version` (0 = never set) and `value` (None when it has none)."""

    version: int
    value: object
    exists: bool


class CasResult(NamedTuple):
    swapped: bool
    version: int


class Variable:
    """A named value shared by every client, with a version every change increases.

        cfg = client.variable("config", codec=str)
        v = cfg.set("a=1")
        nxt = cfg.wait_for_change(v)           # blocks until someone changes it
        cfg.compare_and_set(nxt.version, "a=2")
    """

    def __init__(self, client, name: str, *, codec=None):
        self.client = client
        self.name = name
        self._s = P.s(name_bytes(name))
        self._core = client._core
        self.codec = _codecs.resolve(codec, client.codec)

    def _versioned(self, body: bytes, op: int) -> Versioned:
        r = P.Reader(body)
        version, exists, value = parse_reply(r, lambda: (r.u64(), r.u8(), r.str()), op)
        return Versioned(version, self.codec.decode(value) if exists else None, exists == 1)

    def set(self, value) -> int:
        """Stores `value`; returns its new version."""
        r = P.Reader(self._core.request(P.Op.VAR_SET, self._s + P.s(self.codec.encode(value))))
        return parse_reply(r, r.u64, P.Op.VAR_SET)

    def get_versioned(self, block: bool = True, timeout: float | None = None) -> Versioned:
        """The value with its version, waiting while the variable has none (TimeoutError).
        With block=False: Versioned(version, None, False) at once when it has no value."""
        t = 0 if not block else timeout
        s = self._s
        last = [None]

        def encode(ms):
            last[0] = ms
            return s + P.i64(ms)
        status, body, _, first = self._core.wait_call(P.Op.VAR_GET, encode, t)
        if status == P.Status.OK:
            return self._versioned(body, P.Op.VAR_GET)
        if status == P.Status.NOT_FOUND and first == 0:
            # No value: its version (of the delete that removed one, or 0) from a no-wait VAR_WAIT.
            try:
                return self.wait_for_change(0, timeout=0)
            except TimeoutError:
                return Versioned(0, None, False)
        if status == P.Status.NOT_FOUND and first != 0 and last[0] == 0:
            # A wait re-sent after a reconnect with no time left: answered as a no-wait get.
            raise TimeoutError("variable '%s' still had no value at the timeout" % self.name,
                               P.Status.TIMEOUT)
        _raise(status, body)

    def get(self, block: bool = True, timeout: float | None = None, default=None):
        """The value, waiting while the variable has none (TimeoutError after `timeout`).
        With block=False returns `default` when it has none."""
        v = self.get_versioned(block, timeout)
        return v.value if v.exists else default

    def compare_and_set(self, expected_version: int, value) -> CasResult:
        """Stores `value` only if the current version is `expected_version` (0: only if it has
        no value). A failed compare is CasResult(False, current_version), not an error."""
        body = self._s + P.u64(expected_version) + P.s(self.codec.encode(value))
        r = P.Reader(self._core.request(P.Op.VAR_CAS, body))
        swapped, version = parse_reply(r, lambda: (r.u8(), r.u64()), P.Op.VAR_CAS)
        return CasResult(swapped == 1, version)

    def wait_for_change(self, after_version: int = 0, timeout: float | None = None) -> Versioned:
        """Blocks until the version is above `after_version`; returns the new state (exists
        False when the change was a delete). TimeoutError after `timeout`."""
        s = self._s + P.u64(after_version)
        status, body, _, _ = self._core.wait_call(P.Op.VAR_WAIT, lambda ms: s + P.i64(ms),
                                                  timeout)
        if status != P.Status.OK:
            _raise(status, body)
        return self._versioned(body, P.Op.VAR_WAIT)

    def delete(self) -> bool:
        """Removes the value (a change with a new version); False when it had none."""
        r = P.Reader(self._core.request(P.Op.VAR_DELETE, self._s))
        existed, _version = parse_reply(r, lambda: (r.u8(), r.u64()), P.Op.VAR_DELETE)
        return existed == 1

    erase = delete

    @property
    def version(self) -> int:
        """The version of the last change (0 = never set), without waiting."""
        try:
            return self.wait_for_change(0, timeout=0).version
        except TimeoutError:
            return 0


class Message(NamedTuple):
    """A published message as a subscriber receives it."""

    topic: str
    value: object
    dropped: int  # messages this subscription lost so far to a full buffer


_POLICIES = {"drop_oldest": 0, "drop_newest": 1, "disconnect": 2}


class Topic:
    """Publish/subscribe on a named topic. Messages from one publisher reach each subscriber
    in order; a slow subscriber loses messages by its policy instead of slowing anyone."""

    def __init__(self, client, name: str, *, codec=None):
        self.client = client
        self.name = name
        self._s = P.s(name_bytes(name))
        self._core = client._core
        self.codec = _codecs.resolve(codec, client.codec)

    def publish(self, value) -> int:
        """Returns how many subscriptions took the message."""
        r = P.Reader(self._core.request(P.Op.PUBLISH, self._s + P.s(self.codec.encode(value))))
        return parse_reply(r, r.u32, P.Op.PUBLISH)

    def subscribe(self, callback=None, *, buffer: int = 1024, policy: str = "drop_oldest"):
        """A Subscription: iterate it (``for msg in sub``) or call next(timeout); or pass
        `callback(message)`, which then runs on a thread of the subscription's own."""
        return Subscription(self.client, self.name, codec=self.codec, buffer=buffer,
                            policy=policy, callback=callback)


class Subscription:
    """Messages pushed by the manager for one subscription (topic or glob pattern).

    Messages published while the client is disconnected are lost; the subscription is
    renewed on the new connection when it is next read. Close it (or use ``with``) to
    unsubscribe."""

    def __init__(self, client, pattern: str, *, codec=None, buffer: int = 1024,
                 policy: str = "drop_oldest", callback=None):
        from .client import _SubState
        if policy not in _POLICIES:
            raise ValueError("policy is one of %s" % ", ".join(_POLICIES))
        if not 1 <= buffer <= 1000000:
            raise ValueError("buffer is 1 to 1000000 messages")
        self.client = client
        self.pattern = pattern
        self.codec = _codecs.resolve(codec, client.codec)
        self._core = client._core
        self._st = _SubState(name_bytes(pattern), buffer, _POLICIES[policy])
        self._thread = None
        self.error = None
        self._subscribe()
        if callback is not None:
            self._thread = threading.Thread(target=self._run, args=(callback,), daemon=True,
                                            name="depot-subscription-%s" % pattern)
            self._thread.start()

    def _subscribe(self, deadline=None) -> None:
        core, st = self._core, self._st

        def register(body, conn):
            r = P.Reader(body)
            ident = r.u64()
            with core.mu:
                core.subs.pop(st.id, None)
                st.id = ident
                st.conn = conn
                core.subs[ident] = st

        status, rbody, _ = core.call(P.Op.SUBSCRIBE,
                                     P.s(st.pattern) + P.u32(st.buffer) + P.u8(st.policy),
                                     deadline=deadline, on_ok=register)
        if status != P.Status.OK:
            _raise(status, rbody)
        if st.closed:  # closed while the SUBSCRIBE was in flight: undo it
            self._unsubscribe_id(st.id)

    def _unsubscribe_id(self, ident: int) -> None:
        try:
            self._core.request(P.Op.UNSUBSCRIBE, P.u64(ident))
        except Error:
            pass  # the session's end removes it anyway

    def next(self, timeout: float | None = None):
        """The next Message; None when `timeout` passed first (or the subscription is closed)."""
        core, st = self._core, self._st
        deadline = None if timeout is None else time.monotonic() + timeout
        drained = False  # once the time is up: read what has arrived once more
        while True:
            with core.mu:
                if st.messages:
                    topic, payload, dropped = st.messages.popleft()
                    break
                if st.closed:
                    return None
                cur = core.conn
                stale = st.conn is None or st.conn.dead or st.conn is not cur
                if not stale:
                    left = None if deadline is None else deadline - time.monotonic()
                    expired = left is not None and left <= 0
                    if expired and drained:
                        return None
                    reader = expired or core.take_reader(cur)
                    if not reader:
                        # Another thread reads: it routes the pushes here, or hands the role
                        # over when it is done.
                        core.push_waiters += 1
                        try:
                            core.sub_cond.wait(left)
                        finally:
                            core.push_waiters -= 1
                        continue
            if not stale:
                if expired:
                    drained = True
                    core.drain(cur)
                    continue
                try:
                    core.read(cur, lambda: bool(st.messages) or st.closed, deadline, 0.1)
                finally:
                    core.release_reader(cur)
                continue
            # A new connection: the manager forgot the subscription with the old session.
            if deadline is not None and time.monotonic() >= deadline and cur is None:
                return None
            self._subscribe(deadline)
        return Message(topic.decode("utf-8", "replace"), self.codec.decode(payload),
                       dropped + st.local_dropped)

    def __iter__(self):
        while True:
            m = self.next()
            if m is None:
                return
            yield m

    def _run(self, callback) -> None:
        try:
            while not self._st.closed:
                try:
                    m = self.next(0.1)
                except ConnectionError:
                    if self._st.closed:
                        return
                    time.sleep(self._core.initial_backoff)
                    continue
                if m is not None:
                    callback(m)
        except BaseException as e:  # noqa: BLE001 - reported through .error
            self.error = e

    @property
    def dropped(self) -> int:
        """Messages lost so far to a full buffer (the manager's and the local one), counting
        the messages that have arrived (they are read now if nobody is reading)."""
        c = self._st.conn
        if c is not None and not c.dead:
            self._core.drain(c)
        return self._st.manager_dropped + self._st.local_dropped

    @property
    def id(self) -> int:
        return self._st.id

    def close(self) -> None:
        """Unsubscribes (and stops the callback thread)."""
        core, st = self._core, self._st
        with core.mu:
            if st.closed:
                return
            st.closed = True
            core.subs.pop(st.id, None)
            current = st.conn is not None and not st.conn.dead and st.conn is core.conn
            core.sub_cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        if current:
            self._unsubscribe_id(st.id)

    unsubscribe = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:  # forgotten without close(): stop buffering for it (the session's end unsubscribes)
            st = self._st
            if not st.closed:
                with self._core.mu:
                    st.closed = True
                    self._core.subs.pop(st.id, None)
        except Exception:  # noqa: BLE001
            pass
