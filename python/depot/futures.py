"""depot.futures: dask-style futures on a manager's queues, interoperable with the C++
executor (docs/executor.md; src/depot/executor/task.h encodes the same records).

    # master                                   # worker (python/examples/pool_worker.py)
    from depot.futures import Executor         from depot.futures import Worker
    ex = Executor(client, "pool")              w = Worker(client, "pool")
    A = ex.map("square", range(10000))         w.register("square", lambda x: x * x)
    total = ex.submit("sum", A)                w.register("sum", lambda xs: sum(xs))
    total.result()          # 333283335000     w.run()                # until w.stop()

A Python master's tasks run on C++ workers (samples/task_pool) and a C++ master's tasks on
Python workers, in one pool: the task records, result records, notifications and names of
the objects in the manager are the C++ ones, byte for byte.

Values go through a codec (default TASK): int and float as decimal text, str as UTF-8, bytes
as they are, lists / tuples / dicts as MessagePack (what a C++ ``long``, ``double``,
``std::string`` and ``std::vector<long>`` are), None as no bytes (a C++ ``void`` result). A
result is decoded by what its bytes look like (an int, a float, a MessagePack container,
else str if UTF-8, else bytes); a worker decodes each argument by its function's annotation
(``def square(x: int)``) when it has one, else the same way.
"""
from __future__ import annotations

import collections
import concurrent.futures as _cf
import hashlib
import inspect
import itertools
import logging
import os
import sys
import threading
import time
import typing
import weakref

from . import codecs as _codecs
from . import protocol as P
from .errors import (CancelledError, CodecError, ConnectionError, DeniedError, Error,
                     NotFoundError, NotOwnerError, QueueTimeoutError, RemoteError, TimeoutError)

__all__ = ["Executor", "Future", "Actor", "Worker", "wait", "as_completed", "TASK",
           "FIRST_COMPLETED", "FIRST_EXCEPTION", "ALL_COMPLETED", "DoneAndNotDoneFutures",
           "RemoteError", "CancelledError", "TimeoutError"]

FIRST_COMPLETED = _cf.FIRST_COMPLETED
FIRST_EXCEPTION = _cf.FIRST_EXCEPTION
ALL_COMPLETED = _cf.ALL_COMPLETED
DoneAndNotDoneFutures = _cf._base.DoneAndNotDoneFutures

# ---------------------------------------------------------------- names in the manager


def tasks_queue(pool: str) -> str:
    return pool + ".tasks"


def result_var(pool: str, sid: str) -> str:
    return pool + ".r." + sid


def done_queue(pool: str, executor: str) -> str:
    return pool + ".done." + executor


def marker_var(pool: str, executor: str) -> str:
    return pool + ".executor." + executor


def cancel_topic(pool: str) -> str:
    return pool + ".cancel"


def mailbox(pool: str, actor: str) -> str:
    return pool + ".actor." + actor


def alive_lock(pool: str, actor: str) -> str:
    return mailbox(pool, actor) + ".alive"


def state_var(pool: str, actor: str) -> str:
    return mailbox(pool, actor) + ".state"


def starts_counter(pool: str, sid: str) -> str:
    """Counts the starts of a call that runs alone (Worker._run_alone)."""
    return pool + ".starts." + sid


def lease_name(pool: str, executor: str) -> str:
    """The lease that holds an executor's objects (docs/executor.md, "A master that dies")."""
    return pool + ".lease." + executor


def lease_patterns(pool: str, executor: str) -> list:
    """What an executor's lease holds: its marker, done queue, results and start counters."""
    return [marker_var(pool, executor), done_queue(pool, executor),
            pool + ".r." + executor + ".*", starts_counter(pool, executor + ".*")]


def executor_of(pool: str, reply_queue: str) -> str:
    """The executor id of a reply queue named by done_queue(pool, id); "" if it is not one."""
    prefix = done_queue(pool, "")
    return reply_queue[len(prefix):] if reply_queue.startswith(prefix) else ""


# ---------------------------------------------------------------- error types (task.h)

WORKER_LOST = "depot::WorkerLost"
DEPENDENCY_FAILED = "depot::DependencyFailed"
SUBMIT_FAILED = "depot::SubmitFailed"
UNKNOWN_FUNCTION = "depot::UnknownFunction"
UNKNOWN_ACTOR_CLASS = "depot::UnknownActorClass"
UNKNOWN_METHOD = "depot::UnknownMethod"
UNKNOWN_ATTRIBUTE = "depot::UnknownAttribute"
NOT_RESILIENT = "depot::NotResilient"
SNAPSHOT_FAILED = "depot::SnapshotFailed"
RESULT_NOT_STORED = "depot::ResultNotStored"
ACTOR_BUSY = "depot::ActorBusy"
ACTOR_DIED = "depot::ActorDied"
ACTOR_CLOSED = "depot::ActorClosed"
UNKNOWN_EXCEPTION = "unknown"

# ---------------------------------------------------------------- records

CALL, ACTOR_NEW, ACTOR_CALL, ACTOR_GET, ACTOR_CLOSE = 1, 2, 3, 4, 5
RESILIENT, RESTORE, ONE_WAY = 1, 2, 4  # ONE_WAY: an ACTOR_CALL sent with Actor.send
VALUE, FUTURE, FUTURES = 0, 1, 2


class Record:
    """A task record: u8 kind, str key, str submission, str function, str reply_queue,
    u32 max_attempts, str actor, u8 flags, u32 nargs, nargs x (u8 tag, str value | u32 n,
    n x str submission). `args` holds (VALUE, bytes) or (FUTURE / FUTURES, [sid, ...])."""

    __slots__ = ("kind", "key", "sid", "name", "reply", "max_attempts", "actor", "flags", "args")

    def __init__(self, kind=CALL, key="", sid="", name="", reply="", max_attempts=3, actor="",
                 flags=0, args=()):
        self.kind = kind
        self.key = key
        self.sid = sid
        self.name = name
        self.reply = reply
        self.max_attempts = max_attempts
        self.actor = actor
        self.flags = flags
        self.args = list(args)

    def __repr__(self) -> str:
        return "Record(kind=%d, key=%r, sid=%r, name=%r, args=%r)" % (
            self.kind, self.key, self.sid, self.name, self.args)


def _s(text: str) -> bytes:
    return P.s(text.encode("utf-8"))


def encode_record(t: Record) -> bytes:
    out = [P.u8(t.kind), _s(t.key), _s(t.sid), _s(t.name), _s(t.reply), P.u32(t.max_attempts),
           _s(t.actor), P.u8(t.flags), P.u32(len(t.args))]
    for tag, v in t.args:
        out.append(P.u8(tag))
        if tag == VALUE:
            out.append(P.s(v))
        else:
            out.append(P.u32(len(v)))
            out.extend(_s(k) for k in v)
    return b"".join(out)


def decode_record(data: bytes) -> Record | None:
    """The task record in `data`; None when the bytes are not one."""
    try:
        r = P.Reader(data)
        kind = r.u8()
        if not CALL <= kind <= ACTOR_CLOSE:
            return None
        t = Record(kind)
        t.key = r.str().decode("utf-8")
        t.sid = r.str().decode("utf-8")
        t.name = r.str().decode("utf-8")
        t.reply = r.str().decode("utf-8")
        t.max_attempts = r.u32()
        t.actor = r.str().decode("utf-8")
        t.flags = r.u8()
        n = r.u32()
        if n > r.remaining():
            return None
        for _ in range(n):
            tag = r.u8()
            if tag == VALUE:
                t.args.append((VALUE, r.str()))
            elif tag in (FUTURE, FUTURES):
                k = r.u32()
                if k > r.remaining() // 4:
                    return None
                t.args.append((tag, [r.str().decode("utf-8") for _ in range(k)]))
            else:
                return None
        r.end()
        return t
    except (P.MalformedReply, UnicodeDecodeError):
        return None


def ok_record(payload: bytes) -> bytes:
    return P.u8(1) + P.s(payload)


def error_record(type: str, message: str) -> bytes:
    return P.u8(0) + _s(type) + _s(message)


def _read_result(r: P.Reader):
    ok = r.u8()
    if ok == 1:
        out = (True, r.str(), "")
    elif ok == 0:
        out = (False, r.str().decode("utf-8", "replace"), r.str().decode("utf-8", "replace"))
    else:
        return None
    r.end()
    return out


def parse_result(record: bytes):
    """(True, payload, "") or (False, type, message); None when not a result record."""
    try:
        return _read_result(P.Reader(record))
    except P.MalformedReply:
        return None


def notification(key: str, sid: str, record: bytes) -> bytes:
    return _s(key) + _s(sid) + record


def parse_notification(data: bytes):
    """(key, sid, result) as parse_result gives it; None when not a notification."""
    try:
        r = P.Reader(data)
        key = r.str().decode("utf-8")
        sid = r.str().decode("utf-8")
        res = _read_result(r)
        return None if res is None else (key, sid, res)
    except (P.MalformedReply, UnicodeDecodeError):
        return None


def snapshot(last_key: str, state: bytes) -> bytes:
    return _s(last_key) + P.s(state)


def parse_snapshot(data: bytes):
    try:
        r = P.Reader(data)
        out = (r.str().decode("utf-8"), r.str())
        r.end()
        return out
    except (P.MalformedReply, UnicodeDecodeError):
        return None


# ---------------------------------------------------------------- requests (docs/protocol.md)


def _name(n: str) -> bytes:
    return P.s(n.encode("utf-8"))


def _var_get(name: str):
    return (P.Op.VAR_GET, _name(name) + P.i64(P.NO_WAIT))


def _var_cas(name: str, expected: int, value: bytes):
    return (P.Op.VAR_CAS, _name(name) + P.u64(expected) + P.s(value))


def _var_set(name: str, value: bytes):
    return (P.Op.VAR_SET, _name(name) + P.s(value))


def _put_many(queue: str, items, wait_ms: int = P.NO_WAIT):
    return (P.Op.QUEUE_PUT_MANY, _name(queue) + P.i64(wait_ms) + P.u32(len(items))
            + b"".join(P.s(i) for i in items))


def _put_ex(queue: str, wait_ms: int, priority: int, item: bytes, dedup: str = ""):
    return (P.Op.QUEUE_PUT_EX, _name(queue) + P.i64(wait_ms) + P.i32(priority) + P.u64(0)
            + _name(dedup) + P.s(item))


def _ack(queue: str, ids):
    return (P.Op.QUEUE_ACK, _name(queue) + P.u32(len(ids)) + b"".join(P.u64(i) for i in ids))


def _publish(topic: str, payload: bytes):
    return (P.Op.PUBLISH, _name(topic) + P.s(payload))


def _unstored(status: int, body: bytes) -> bytes:
    """The record announced for a call whose result the manager refused to store."""
    return error_record(RESULT_NOT_STORED, "its result could not be stored in the manager "
                        "(%s: %s)" % (P.status_name(status), P.error_message(body)))


def _delete(name: str):
    return (P.Op.DELETE, _name(name))


def _counter_add(name: str, delta: int):
    return (P.Op.COUNTER_ADD, _name(name) + P.i64(delta))


def _var_value(status: int, body: bytes):
    """The value of a VAR_GET reply; None when there is none."""
    if status != P.Status.OK:
        return None
    try:
        r = P.Reader(body)
        r.u64()  # the version
        exists, value = r.u8(), r.str()
        return value if exists else None
    except P.MalformedReply:
        return None


def stored_results(client, pool: str, sids) -> list:
    """The result records stored for `sids` (None where none is yet), one pipelined round
    trip per 4096."""
    out = []
    sids = list(sids)
    for at in range(0, len(sids), 4096):
        part = sids[at:at + 4096]
        replies = client.call_many([_var_get(result_var(pool, s)) for s in part])
        for status, body in replies:
            v = _var_value(status, body)
            out.append(v if v is not None and parse_result(v) is not None else None)
    return out


# ---------------------------------------------------------------- values


class _Task(_codecs.Codec):
    """The executor's codec (TASK): what C++'s Codec<T> reads and writes for numbers, strings,
    byte strings and containers, decoded by what the bytes look like."""

    name = "task"

    def encode(self, value) -> bytes:
        if value is None:
            return b""
        return _codecs.MSGPACK.encode(value)

    def decode(self, data: bytes):
        if not data:
            return None
        if _codecs._INT_RE.match(data):
            return int(data)
        if _codecs._FLOAT_RE.match(data) and not data[:1].isalpha():
            return float(data)
        if _codecs._is_container_start(data[0]):
            try:
                return _codecs.MSGPACK.decode(data)
            except (CodecError, ImportError):
                pass
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data


TASK = _Task()
_codecs.register("task", TASK)

_BY_ANNOTATION = {int: _codecs.INT, float: _codecs.FLOAT, str: _codecs.TEXT,
                  bytes: _codecs.BYTES, bool: _codecs.BOOL, list: _codecs.MSGPACK,
                  tuple: _codecs.MSGPACK, dict: _codecs.MSGPACK}


def _codec_for(annotation, default):
    """(codec of the whole value, codec of each element of a list of futures)."""
    if annotation is inspect.Parameter.empty or annotation is None:
        return default, default
    origin = typing.get_origin(annotation) or annotation
    whole = _BY_ANNOTATION.get(origin, default)
    elem = default
    if origin in (list, tuple):
        targs = typing.get_args(annotation)
        if targs:
            elem = _BY_ANNOTATION.get(typing.get_origin(targs[0]) or targs[0], default)
    return whole, elem


class _Callable:
    """A registered function (or method) with how to decode each of its parameters."""

    def __init__(self, fn, name: str, codec, skip_first: bool = False):
        self.fn = fn
        self.name = name
        self.codec = codec
        self.params = []  # (whole, element) per positional parameter
        self.varargs = None
        try:
            sig = inspect.signature(fn)
            try:
                hints = typing.get_type_hints(fn)
            except Exception:  # noqa: BLE001 - unresolvable annotations: decode by the bytes
                hints = {}
            params = list(sig.parameters.values())
            if skip_first and params:
                params = params[1:]
            for p in params:
                ann = hints.get(p.name, inspect.Parameter.empty)
                if p.kind == p.VAR_POSITIONAL:
                    self.varargs = _codec_for(ann, codec)
                    break
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                    self.params.append(_codec_for(ann, codec))
        except (TypeError, ValueError):  # a builtin without a signature
            self.varargs = (codec, codec)

    def decoders(self, n: int):
        out = self.params[:n]
        while len(out) < n:
            out.append(self.varargs or (self.codec, self.codec))
        return out


def _type_name(e: BaseException) -> str:
    t = type(e)
    mod = t.__module__
    return t.__qualname__ if mod in ("builtins", "__main__") else mod + "." + t.__qualname__


# ---------------------------------------------------------------- futures

_PENDING, _OK, _FAILED, _CANCELLED = 0, 1, 2, 3
_phase_mu = threading.Lock()


class _State:
    """What every Future of one submission shares (the C++ FutureState). `cf` is a
    concurrent.futures.Future that holds the outcome: its result, or RemoteError /
    CancelledError as its exception."""

    __slots__ = ("key", "sid", "function", "record", "cf", "phase", "deps", "owner", "actor",
                 "__weakref__")

    def __init__(self, key: str, sid: str, function: str, owner):
        self.key = key
        self.sid = sid
        self.function = function
        self.record = b""  # the task as sent (sent again after a manager restart)
        self.cf = _cf.Future()
        self.phase = _PENDING
        self.deps = ()
        self.owner = owner  # weakref to the _Core
        self.actor = ""

    def __del__(self):
        try:
            core = self.owner()
            if core is not None:
                core.releases.append((self.key, self.sid))
        except Exception:  # noqa: BLE001 - during interpreter shutdown
            pass

    def resolve(self, phase: int, value=None, exc=None) -> bool:
        """Leaves PENDING (once): False if it had resolved already."""
        with _phase_mu:
            if self.phase != _PENDING:
                return False
            self.phase = phase
        if phase == _OK:
            self.cf.set_result(value)
        else:
            self.cf.set_exception(exc)
        self.deps = ()
        return True

    def done(self) -> bool:
        return self.phase != _PENDING


# States something waits on without a handle (``await ex.submit(...)``, a callback on a
# future then dropped): kept alive until they resolve, as a C++ continuation keeps its future.
_held: set = set()


def _hold(st: _State) -> None:
    _held.add(st)
    st.cf.add_done_callback(lambda _c, st=st: _held.discard(st))


class Future:
    """The result of a task, as concurrent.futures.Future (and dask's): result(), done(),
    exception(), cancel(), add_done_callback(); ``await future`` in asyncio. Identical pure
    submissions share one task: their Futures have the same key."""

    __slots__ = ("_st", "__weakref__")

    def __init__(self, state: _State):
        self._st = state

    @property
    def key(self) -> str:
        return self._st.key

    def __repr__(self) -> str:
        st = self._st
        what = {_PENDING: "pending", _OK: "finished", _FAILED: "error",
                _CANCELLED: "cancelled"}[st.phase]
        return "<depot.futures.Future %s (%s): %s>" % (st.key, st.function, what)

    def done(self) -> bool:
        """True once it has a result, an error, or was cancelled."""
        return self._st.cf.done()

    def cancelled(self) -> bool:
        return self._st.phase == _CANCELLED

    def running(self) -> bool:
        return False  # which worker runs it, and when, is not reported

    def _timeout(self, timeout) -> TimeoutError:
        return TimeoutError("task '%s' (%s) did not finish within %s s"
                            % (self._st.key, self._st.function, timeout), P.Status.TIMEOUT)

    def result(self, timeout: float | None = None):
        """Waits for the value; raises RemoteError / CancelledError if the task failed, and
        depot.TimeoutError (a builtin TimeoutError) when `timeout` passed first."""
        try:
            return self._st.cf.result(timeout)
        except _cf.TimeoutError:
            if self._st.cf.done():
                raise  # the task's own error (a builtin TimeoutError)
            raise self._timeout(timeout) from None

    def exception(self, timeout: float | None = None):
        """Waits; None on success, else the RemoteError or CancelledError."""
        try:
            return self._st.cf.exception(timeout)
        except _cf.TimeoutError:
            raise self._timeout(timeout) from None

    def cancel(self) -> bool:
        """Cancels a task that has not finished: the future fails with CancelledError, tasks
        waiting on it fail, and workers skip it if they have not started it. False when it
        had finished already."""
        st = self._st
        exc = CancelledError("task '%s' (%s) was cancelled" % (st.key, st.function))
        if not st.resolve(_CANCELLED, exc=exc):
            return False
        core = st.owner()
        if core is not None:
            core.cancelled(st)
        return True

    def add_done_callback(self, fn) -> None:
        """Calls fn(future) once it is done: at once (on this thread) if it is, else on the
        executor's thread (keep it short). An exception in fn is logged and ignored."""
        _hold(self._st)
        self._st.cf.add_done_callback(lambda _cf_future: fn(self))

    def __await__(self):
        """``await future`` in asyncio: the loop runs on while the task does. Cancelling the
        awaiting task does not cancel the depot task (call cancel() for that)."""
        import asyncio  # noqa: PLC0415 - only awaiting needs it
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()

        def copy(src):
            def settle():
                if waiter.done():
                    return
                exc = src.exception()
                if exc is not None:
                    waiter.set_exception(exc)
                else:
                    waiter.set_result(src.result())
            try:
                loop.call_soon_threadsafe(settle)
            except RuntimeError:  # the loop was closed meanwhile
                pass
        _hold(self._st)
        self._st.cf.add_done_callback(copy)
        return waiter.__await__()


def _states(fs):
    pairs = []
    for f in fs:
        if not isinstance(f, Future):
            raise TypeError("depot.futures.wait / as_completed take depot futures, not %s"
                            % type(f).__name__)
        pairs.append((f._st.cf, f))
    return pairs


def wait(fs, timeout: float | None = None, return_when=ALL_COMPLETED) -> DoneAndNotDoneFutures:
    """As concurrent.futures.wait: (done, not_done) sets once `return_when` holds
    (FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED) or `timeout` passed. A cancelled
    future counts as an exception for FIRST_EXCEPTION (as in C++ depot::wait)."""
    fs = list(fs)
    pairs = _states(fs)
    _cf.wait({c for c, _ in pairs}, timeout, return_when)
    done, not_done = set(), set()
    for c, f in pairs:
        (done if c.done() else not_done).add(f)
    return DoneAndNotDoneFutures(done, not_done)


def as_completed(fs, timeout: float | None = None):
    """As concurrent.futures.as_completed: yields the futures as they finish; raises
    depot.TimeoutError if some are not done `timeout` seconds after the call."""
    by_cf: dict = {}
    for c, f in _states(fs):
        by_cf.setdefault(c, []).append(f)
    try:
        for c in _cf.as_completed(list(by_cf), timeout):
            yield from by_cf[c]
    except _cf.TimeoutError as e:
        raise TimeoutError(str(e), P.Status.TIMEOUT) from None


# ---------------------------------------------------------------- executor


class _Blocked:
    __slots__ = ("st", "record", "priority", "missing")

    def __init__(self):
        self.st = None
        self.record = b""
        self.priority = 0
        self.missing = 0


class _ActorState:
    def __init__(self, aid: str, cls: str, resilient: bool, core):
        self.id = aid
        self.cls = cls
        self.resilient = resilient
        self.core = core
        self.mu = threading.Lock()
        self.closed = False
        self.dead = False
        self.restoring = None  # the restore's _State while one runs
        self.outstanding = []  # weakrefs to the calls' states


_ACTOR_GRACE = 5.0  # s after a reconnect before a free lock means a dead worker


class _Core:
    """The executor's shared part: submissions, dependencies, the collector thread."""

    def __init__(self, client, pool: str, max_retries: int, codec, orphan_grace: float = 30.0,
                 orphan_fence: float = 3600.0):
        self.client = client
        self.pool = pool
        self.max_retries = max_retries
        self.orphan_grace = orphan_grace
        self.orphan_fence = orphan_fence
        self.leased = True  # False once the manager refused the lease (DENIED)
        self.codec = codec
        self.id = os.urandom(8).hex()
        self.reply_q = done_queue(pool, self.id)
        self.tasks_q = tasks_queue(pool)
        self.mu = threading.Lock()
        self.live: dict = {}  # key -> weakref(_State)
        self.blocked_on: dict = {}  # key -> [_Blocked]
        self.actors: list = []  # weakref(_ActorState)
        self.counter = itertools.count(1)
        self.releases = collections.deque()  # (key, sid): appended by _State.__del__
        self.stopping = False
        self.restart_found = False
        self.sent_after_restart = []
        self.connections_seen = 0
        self.reconnected_at = 0.0
        self.collector = None

    # ------------------------------------------------------------ lifecycle

    def hold_lease(self) -> None:
        """Holds this executor's lease on its names (at start and after each reconnect, so
        that a connection down for less than orphan_grace loses nothing). A user without
        admin on the pool's names runs without one, with a warning."""
        if not self.leased:
            return
        try:
            self.client.hold_lease(lease_name(self.pool, self.id),
                                   lease_patterns(self.pool, self.id),
                                   grace=self.orphan_grace, fence=self.orphan_fence)
        except DeniedError as e:
            self.leased = False
            logging.getLogger("depot.futures").warning(
                "executor '%s' runs without a lease, so if this program dies its results stay "
                "in the manager: %s", self.pool, e)

    def start(self) -> None:
        self.hold_lease()
        self.client.call_many([_var_set(marker_var(self.pool, self.id), b"1")])
        self.connections_seen = self.client.connections
        self.collector = threading.Thread(target=self.collect_loop, daemon=True,
                                          name="depot-executor-%s" % self.pool)
        self.collector.start()

    def stop(self) -> None:
        if self.collector is None or self.stopping:
            return
        self.stopping = True
        try:  # wakes the collector at once (it also wakes by itself within 100 ms)
            self.client.call_many([_put_many(self.reply_q, [b""])], timeout=0.2)
        except Error:
            pass
        if self.collector is not threading.current_thread():
            self.collector.join()
        reachable = self.client.connected
        with self.mu:
            pending = [w() for w in self.live.values()]
            self.blocked_on.clear()
        cancels, removes = [], []
        for st in pending:
            if st is None:
                continue
            exc = CancelledError("task '%s' (%s) was cancelled: its executor was closed before "
                                 "it finished" % (st.key, st.function))
            if st.resolve(_CANCELLED, exc=exc):
                cancels.append(_publish(cancel_topic(self.pool), st.sid.encode()))
            # Futures that outlive the executor keep their values here; nothing fetches the
            # stored result any more (their releases would come after this, and go nowhere).
            if st.sid:
                removes.append(_delete(result_var(self.pool, st.sid)))
        del pending
        if not reachable:
            return
        try:
            self.client.call_many(cancels)
        except Error:
            pass
        self.flush_releases()
        try:
            self.client.call_many(removes + [_delete(self.reply_q),
                                             _delete(marker_var(self.pool, self.id)),
                                             _delete(lease_name(self.pool, self.id))])
        except Error:
            pass

    # ------------------------------------------------------------ submitting

    def new_state(self, key: str, fn: str) -> _State:
        sid = "%s.%d" % (self.id, next(self.counter))
        return _State(key, sid, fn, weakref.ref(self))

    def encode_arg(self, a):
        """(tag, bytes | [sid]) and the states it depends on."""
        if isinstance(a, Future):
            self._check_own(a)
            return (FUTURE, [a._st.sid]), [a._st]
        if isinstance(a, (list, tuple)) and a and any(isinstance(x, Future) for x in a):
            if not all(isinstance(x, Future) for x in a):
                raise TypeError("an argument list mixes futures and values: pass a list of "
                                "futures (their results arrive as a list) or a list of values")
            for x in a:
                self._check_own(x)
            return (FUTURES, [x._st.sid for x in a]), [x._st for x in a]
        return (VALUE, self.codec.encode(a)), []

    def _check_own(self, f: Future) -> None:
        if f._st.owner() is not self:
            raise ValueError("future %s belongs to another executor: pass its result() "
                             "instead, or submit from the executor that made it" % f.key)

    def make_key(self, fn: str, args, pure: bool, key: str | None) -> str:
        if key:
            return key
        if not pure:
            return "%s-%s-%d" % (fn, self.id, next(self.counter))
        blob = [fn.encode("utf-8"), b"\0"]
        for tag, v in args:
            blob.append(bytes([tag]))
            if tag == VALUE:
                blob.append(b"%d:" % len(v))
                blob.append(v)
            else:
                for k in v:
                    blob.append(k.encode("utf-8") + b"\0")
        return fn + "-" + hashlib.sha256(b"".join(blob)).hexdigest()[:32]

    def prepare(self, fn: str, raw_args, pure: bool, key, priority: int, ready: list) -> _State:
        args = []
        deps = []
        for a in raw_args:
            enc, d = self.encode_arg(a)
            args.append(enc)
            deps.extend(d)
        key = self.make_key(fn, args, pure, key)
        if len(key.encode()) + len(self.pool.encode()) + 3 > 65535:
            raise ValueError("task key '%s...' is too long; use a shorter function name or "
                             "key=" % key[:64])
        t = Record(CALL, key, "", fn, self.reply_q, self.max_retries + 1, "", 0, args)
        failed = None
        with self.mu:
            w = self.live.get(key)
            existing = w() if w is not None else None
            # The same pure task, running or done; a failed or cancelled one is sent anew.
            if existing is not None and existing.phase in (_PENDING, _OK):
                return existing
            st = self.new_state(key, fn)
            t.sid = st.sid
            self.live[key] = weakref.ref(st)
            b = _Blocked()
            for d in deps:
                if d.phase == _PENDING:
                    b.missing += 1
                    self.blocked_on.setdefault(d.key, []).append(b)
                elif d.phase != _OK and failed is None:
                    failed = d
            if failed is not None:
                for d in deps:
                    lst = self.blocked_on.get(d.key)
                    if lst and b in lst:
                        lst.remove(b)
                        if not lst:
                            del self.blocked_on[d.key]
            else:
                st.deps = tuple(deps)
                if b.missing == 0:
                    st.record = encode_record(t)
                    ready.append((st.record, priority, st))
                else:
                    b.st = st
                    b.record = encode_record(t)
                    b.priority = priority
        if failed is not None:
            self.complete(st, _FAILED, DEPENDENCY_FAILED,
                          "its argument '%s' failed: %s" % (failed.key, _why(failed)))
        return st

    def put_tasks(self, ready: list, deadline: float | None = None) -> None:
        """Sends ready tasks ((record, priority, state)); with a deadline, fails their
        futures (SubmitFailed) once it passes."""
        for at in range(0, len(ready), 4096):
            self._put_part(ready[at:at + 4096], deadline)

    def _put_part(self, ready: list, deadline: float | None) -> None:
        if not ready:
            return
        wait_ms = P.WAIT_FOREVER
        if deadline is not None:
            wait_ms = max(0, int((deadline - time.monotonic()) * 1000))
        # First, in the same write, the marker, set when missing: a worker taking one of these
        # tasks finds it, even on a manager that restarted just before.
        reqs = [_var_cas(marker_var(self.pool, self.id), 0, b"1")]
        covers = [[]]
        batch, in_batch, size = [], [], 0
        for i, (record, priority, _st) in enumerate(ready):
            if priority != 0:
                reqs.append(_put_ex(self.tasks_q, wait_ms, priority, record))
                covers.append([i])
                continue
            batch.append(record)
            in_batch.append(i)
            size += len(record) + 4
            if size > (4 << 20):
                reqs.append(_put_many(self.tasks_q, batch, wait_ms))
                covers.append(in_batch)
                batch, in_batch, size = [], [], 0
        if batch:
            reqs.append(_put_many(self.tasks_q, batch, wait_ms))
            covers.append(in_batch)
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            try:
                replies = self.client.call_many(reqs, timeout=timeout)
            except ConnectionError:
                # Some may have been enqueued: sending again may run a task twice, which
                # at-least-once delivery allows (its future resolves once).
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                replies = self.client.call_many(reqs, timeout=timeout)
        except Error as e:
            for _r, _p, st in ready:
                self.complete(st, _FAILED, SUBMIT_FAILED, "the task could not be sent: %s" % e)
            return
        for (status, body), idx in zip(replies, covers):
            if status == P.Status.OK:
                continue
            for i in idx:
                self.complete(ready[i][2], _FAILED, SUBMIT_FAILED, P.error_message(body))
        status, body = replies[0]
        if status == P.Status.OK and body[:1] == b"\x01":
            with self.mu:
                self.restart_found = True
                self.sent_after_restart.extend(st for _r, _p, st in ready)
        elif status != P.Status.OK:
            # The marker could not be set: this executor's lease expired while it was away
            # (the names are fenced). Workers drop these tasks; the collector holds the lease
            # again and, finding the marker missing, sends every unfinished task again.
            with self.mu:
                self.restart_found = True

    # ------------------------------------------------------------ resolving

    def complete(self, st: _State, phase: int, a, message: str = "") -> None:
        if phase == _OK:
            try:
                value = self.codec.decode(a)
            except Exception as e:  # noqa: BLE001 - a codec's own error becomes the result
                if not st.resolve(_FAILED, exc=e):
                    return
            else:
                if not st.resolve(_OK, value):
                    return
        else:
            if not st.resolve(phase, exc=RemoteError(st.function, a, message, st.key)):
                return
        self.settled(st)

    def cancelled(self, st: _State) -> None:
        # Never waits for a manager that is away: a worker may then run the task, and its
        # result is ignored.
        if self.client.connected:
            try:
                self.client.call_many([_publish(cancel_topic(self.pool), st.sid.encode())],
                                      timeout=1.0)
            except Error:
                pass
        self.settled(st)

    def settled(self, st: _State) -> None:
        """`st` left PENDING: wake the tasks waiting on it (or fail them)."""
        ok = st.phase == _OK
        ready, failed = [], []
        with self.mu:
            waiting = self.blocked_on.pop(st.key, None)
            if not waiting:
                return
            for b in waiting:
                if b.st is None:
                    continue  # failed through another dependency already
                if b.st.done():  # cancelled while it waited: never sent
                    b.st = None
                    continue
                if not ok:
                    failed.append(b)
                else:
                    b.missing -= 1
                    if b.missing == 0:
                        b.st.record = b.record
                        ready.append((b.record, b.priority, b.st))
                        b.st = None
        self.put_tasks(ready)
        for b in failed:
            dependent, b.st = b.st, None
            if dependent is None:
                continue
            self.complete(dependent, _FAILED, DEPENDENCY_FAILED,
                          "its argument '%s' %s" % (st.key, "was cancelled"
                                                    if st.phase == _CANCELLED
                                                    else "failed: " + _why(st)))

    def handle_notification(self, data: bytes) -> None:
        if not data:
            return  # stop()'s wake-up
        note = parse_notification(data)
        if note is None:
            return
        key, sid, (ok, a, message) = note
        with self.mu:
            w = self.live.get(key)
            st = w() if w is not None else None
        if st is None or st.sid != sid:  # nobody wants this submission: free its result
            self.releases.append((key, sid))
            return
        if ok:
            self.complete(st, _OK, a)
        else:
            self.complete(st, _FAILED, a, message)

    def flush_releases(self) -> None:
        keys = []
        while self.releases:
            keys.append(self.releases.popleft())
        if not keys:
            return
        reqs = []
        with self.mu:
            for k, sid in keys:
                w = self.live.get(k)
                if w is not None and w() is None:
                    del self.live[k]
                reqs.append(_delete(result_var(self.pool, sid)))
        try:
            self.client.call_many(reqs, timeout=1.0)
        except Error:
            self.releases.extend(keys)

    # ------------------------------------------------------------ the collector

    def collect_loop(self) -> None:
        q = self.client.queue(self.reply_q, codec=bytes)
        last_check = time.monotonic()
        while not self.stopping:
            items = []
            try:
                items = q.get_many(4096, timeout=0.1)
            except QueueTimeoutError:
                pass
            except Error:
                time.sleep(0.05)
            # Nothing may end this thread but stop(): every future depends on it.
            try:
                for n in items:
                    self.handle_notification(n)
                self.flush_releases()
                if self.client.connections != self.connections_seen or self._restart_pending():
                    self.recover()
                if time.monotonic() - last_check > 0.2:
                    self.check_actors()
                    last_check = time.monotonic()
            except Exception as e:  # noqa: BLE001
                print("depot: executor '%s': %s" % (self.pool, e), file=sys.stderr)
                time.sleep(0.05)

    def _restart_pending(self) -> bool:
        with self.mu:
            return self.restart_found

    def recover(self) -> None:
        now_seen = self.client.connections
        if now_seen != self.connections_seen:
            self.reconnected_at = time.monotonic()
        # First the lease, within its grace: after that the manager deletes what it holds, and
        # the marker's compare-and-set below finds it missing, as after a restart.
        self.hold_lease()
        # Set only when missing: whoever finds it missing (this, or a put) resends, once.
        (status, body), = self.client.call_many([_var_cas(marker_var(self.pool, self.id), 0,
                                                          b"1")])
        swapped = status == P.Status.OK and body[:1] == b"\x01"
        self.connections_seen = now_seen
        with self.mu:
            lost = swapped or self.restart_found
            sent = []
            if lost:
                self.restart_found = False
                sent, self.sent_after_restart = self.sent_after_restart, []
        if lost:
            return self.restarted(sent)
        self.look_up_results()

    def look_up_results(self) -> None:
        """After a reconnect, a notification may have been taken by a read whose reply was
        lost: resolve the pending futures whose results are stored."""
        with self.mu:
            pending = [st for st in (w() for w in self.live.values())
                       if st is not None and (st.record or st.actor) and not st.done()]
        stored = stored_results(self.client, self.pool, [st.sid for st in pending])
        for st, rec in zip(pending, stored):
            if rec is None:
                continue
            ok, a, message = parse_result(rec)
            self.complete(st, _OK if ok else _FAILED, a, message)

    def restarted(self, sent) -> None:
        """The manager restarted without its data: send again what it lost; end the actors."""
        sent_ids = {id(s) for s in sent}
        with self.mu:
            again = [(st.record, 0, st) for st in (w() for w in self.live.values())
                     if st is not None and not st.actor and st.record and not st.done()
                     and id(st) not in sent_ids]
            actors = [a for a in (w() for w in self.actors) if a is not None]
        self.put_tasks(again)
        for a in actors:
            self.end_actor(a, False, ACTOR_DIED, "actor %s (%s) was lost when the manager "
                           "restarted; create a new actor" % (a.id, a.cls))

    # ------------------------------------------------------------ actors

    def make_actor(self, cls: str, resilient: bool) -> _ActorState:
        a = _ActorState("%s-%s-%d" % (cls, self.id, next(self.counter)), cls, resilient,
                        weakref.ref(self))
        st = self._actor_new(a, a.id + "-new", RESILIENT if resilient else 0)
        with self.mu:
            self.actors.append(weakref.ref(a))
        Future(st).result()  # RemoteError if no worker could create it
        return a

    def _actor_new(self, a: _ActorState, key: str, flags: int) -> _State:
        t = Record(ACTOR_NEW, key, "", a.cls, self.reply_q, self.max_retries + 1, a.id, flags)
        st = self.new_state(key, a.cls)
        t.sid = st.sid
        st.actor = a.id
        st.record = encode_record(t)
        with self.mu:
            self.live[key] = weakref.ref(st)
        self.put_tasks([(st.record, -1, st)])
        return st

    def _actor_args(self, a: _ActorState, name: str, args) -> list:
        enc = []
        for x in args:
            if isinstance(x, Future) or (isinstance(x, (list, tuple))
                                         and any(isinstance(y, Future) for y in x)):
                raise TypeError("actor %s.%s: actor calls take values, not futures; pass "
                                "f.result()" % (a.id, name))
            enc.append((VALUE, self.codec.encode(x)))
        return enc

    def actor_send(self, a: _ActorState, name: str, args) -> None:
        t = Record(ACTOR_CALL, "%s-%d" % (a.id, next(self.counter)), "", name, "", 3,
                   a.id, ONE_WAY, self._actor_args(a, name, args))
        with a.mu:
            if a.closed:
                raise NotFoundError(_closed_message(a))
            if a.dead:
                raise NotFoundError("actor %s (%s) died with its worker; create a new one "
                                    "with Executor.actor" % (a.id, a.cls))
        self._put_in_mailbox(a, t)

    def actor_call(self, a: _ActorState, kind: int, name: str, args) -> _State:
        t = Record(kind, "%s-%d" % (a.id, next(self.counter)), "", name, self.reply_q, 3,
                   a.id, 0, self._actor_args(a, name, args))
        st = self.new_state(t.key, a.cls + "." + name)
        t.sid = st.sid
        st.actor = a.id
        with a.mu:
            if a.closed:
                raise NotFoundError(_closed_message(a))
            if a.dead:
                st.resolve(_FAILED, exc=RemoteError(st.function, ACTOR_DIED, "actor %s (%s) "
                                                    "died with its worker earlier"
                                                    % (a.id, a.cls), st.key))
                return st
            a.outstanding.append(weakref.ref(st))
        with self.mu:
            self.live[t.key] = weakref.ref(st)
        self._put_in_mailbox(a, t)
        return st

    def _put_in_mailbox(self, a: _ActorState, t: Record) -> None:
        record = encode_record(t)
        # The call's key is its dedup id: sent again after a lost connection, queued once.
        for attempt in (1, 2, 3):
            try:
                (status, body), = self.client.call_many(
                    [_put_ex(mailbox(self.pool, a.id), P.WAIT_FOREVER, 0, record, t.key)])
                if status != P.Status.OK:
                    from .errors import error_for_status  # noqa: PLC0415
                    raise error_for_status(status, P.error_message(body))
                break
            except ConnectionError:
                if attempt == 3:
                    raise

    def end_actor(self, a: _ActorState, closed: bool, type: str, why: str) -> None:
        with a.mu:
            if a.closed or a.dead:
                return
            if closed:
                a.closed = True
            else:
                a.dead = True
            pending = [s for s in (w() for w in a.outstanding) if s is not None]
            a.outstanding = []
        for s in pending:
            self.complete(s, _FAILED, type, why)

    def check_actors(self) -> None:
        with self.mu:
            self.actors = [w for w in self.actors if w() is not None]
            todo = [a for a in (w() for w in self.actors) if a is not None]
        for a in todo:
            restore_error = ""
            with a.mu:
                if a.closed or a.dead:
                    continue
                if a.restoring is not None:
                    if not a.restoring.done():
                        continue
                    e = a.restoring.cf.exception()
                    a.restoring = None
                    # ActorBusy: its old worker came back (a connection blip) and serves it.
                    if e is not None and getattr(e, "type", "") != ACTOR_BUSY:
                        restore_error = str(e)
                a.outstanding = [w for w in a.outstanding
                                 if w() is not None and not w().done()]
                if not a.outstanding and not restore_error:
                    continue
            if not restore_error:
                if time.monotonic() - self.reconnected_at < _ACTOR_GRACE:
                    continue
                # Its worker holds this lock while it serves the actor: free means gone.
                probe = self.client.lock(alive_lock(self.pool, a.id))
                try:
                    free = probe.acquire(blocking=False)
                    if free:
                        probe.release()
                except Error:
                    continue
                if self.client.connections != self.connections_seen or not free:
                    continue
            if a.resilient and not restore_error:
                st = self._actor_new(a, "%s-restore-%d" % (a.id, next(self.counter)),
                                     RESILIENT | RESTORE)
                with a.mu:
                    a.restoring = st
                continue
            why = ("actor %s (%s) died with its worker; create a new actor, or use "
                   "resilient=True to keep its state across worker deaths" % (a.id, a.cls)
                   if not restore_error else
                   "actor %s (%s) died with its worker and could not be restored: %s"
                   % (a.id, a.cls, restore_error))
            self.end_actor(a, False, ACTOR_DIED, why)
            self.remove_actor_objects(a)

    def remove_actor_objects(self, a: _ActorState) -> None:
        """Deletes what the manager holds for an actor that ended (its mailbox, liveness lock
        and snapshot; any may be gone already), in one round trip; a connection error is
        ignored."""
        try:
            self.client.call_many([_delete(mailbox(self.pool, a.id)),
                                   _delete(alive_lock(self.pool, a.id)),
                                   _delete(state_var(self.pool, a.id))])
        except Error:
            pass


def _why(st: _State) -> str:
    if st.phase == _CANCELLED:
        return "cancelled"
    e = st.cf.exception() if st.cf.done() else None
    return getattr(e, "remote_message", None) or str(e)


class Executor:
    """Submits calls by name to the workers of a pool and returns Futures (the C++
    depot::Executor). `max_retries`: a task whose worker died runs again on another worker
    this many times, then fails with RemoteError type depot::WorkerLost. `codec`: how
    arguments are sent and results read (default TASK). close() (or leaving a ``with``
    block) cancels what is still pending. What the executor keeps in the manager is held by
    the lease "<pool>.lease.<id>": if this program dies (or its connection stays down) for
    `orphan_grace` seconds, the manager deletes it, workers drop its queued tasks, and for
    `orphan_fence` seconds after that a late result is not stored."""

    def __init__(self, client, pool: str = "pool", *, max_retries: int = 2, codec=None,
                 orphan_grace: float = 30.0, orphan_fence: float = 3600.0):
        self._core = _Core(client, pool, max_retries, _codecs.resolve(codec, TASK),
                           orphan_grace, orphan_fence)
        self._core.start()
        self._finalizer = weakref.finalize(self, self._core.stop)

    @property
    def pool(self) -> str:
        return self._core.pool

    @property
    def client(self):
        return self._core.client

    @property
    def id(self) -> str:
        return self._core.id

    def close(self) -> None:
        """Cancels the pending futures (workers skip their tasks) and removes this executor's
        objects from the manager."""
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def submit(self, function: str, *args, pure: bool = True, key: str | None = None,
               priority: int = 0, timeout: float | None = None) -> Future:
        """Runs function(*args) on a worker. An argument may be a Future or a list of Futures
        (the worker gets their results; the task is sent once they are done). Pure tasks
        (the default) are keyed by function and arguments: identical submissions share one
        task while a future for it exists; pure=False always makes a new one; key= names it.
        priority: lower runs first. timeout bounds how long sending may block (a manager
        away, a full queue): then the future fails with depot::SubmitFailed."""
        ready: list = []
        st = self._core.prepare(function, args, pure, key, priority, ready)
        self._core.put_tasks(ready, None if timeout is None else time.monotonic() + timeout)
        return Future(st)

    def map(self, function: str, *iterables, pure: bool = True, priority: int = 0,
            timeout: float | None = None) -> list:
        """One task per input (per tuple of inputs with several iterables, as map()), all
        sent in one round trip; returns their Futures in order."""
        deadline = None if timeout is None else time.monotonic() + timeout
        ready: list = []
        core = self._core
        out = [Future(core.prepare(function, args, pure, None, priority, ready))
               for args in zip(*iterables)]
        core.put_tasks(ready, deadline)
        return out

    def actor(self, class_name: str, *, resilient: bool = False) -> "Actor":
        """An instance of a class the workers registered (Worker.register_actor in Python,
        Worker::actor<C> in C++), living on one worker; blocks until one holds it."""
        return Actor(self._core.make_actor(class_name, resilient))


def _closed_message(a: _ActorState) -> str:
    return "actor %s was closed; create a new one with Executor.actor" % a.id


class Actor:
    """A handle on an actor: ``call(method, *args)`` returns a Future, ``send(method,
    *args)`` is a one-way call; ``actor.n`` (or get("n")) reads an attribute, ordered after
    the calls before it; close() frees it."""

    def __init__(self, state: _ActorState):
        object.__setattr__(self, "_a", state)

    @property
    def id(self) -> str:
        return self._a.id

    @property
    def class_name(self) -> str:
        return self._a.cls

    def _core(self) -> _Core:
        core = self._a.core()
        if core is None:
            raise NotFoundError("actor %s: its executor is gone" % self._a.id)
        return core

    def call(self, method: str, *args) -> Future:
        """Runs method(*args) on the instance, after the calls made before it."""
        return Future(self._core().actor_call(self._a, ACTOR_CALL, method, args))

    def send(self, method: str, *args) -> None:
        """A one-way call, as in the actor model (the cookbook's send): queued in order with
        the calls and run once, but nobody waits for it and nothing is stored for it. Returns
        once the manager has it; a later call's (or close()'s) answer means it ran. If it
        fails on the worker, the worker's on_send_error hears of it there."""
        self._core().actor_send(self._a, method, args)

    def get_future(self, attribute: str) -> Future:
        """A Future of the attribute's value (ordered with the calls); awaitable."""
        return Future(self._core().actor_call(self._a, ACTOR_GET, attribute, ()))

    def get(self, attribute: str, timeout: float | None = None):
        """The attribute's value (waits; ordered after the calls made before it)."""
        return self.get_future(attribute).result(timeout)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return self.get(name)

    def __setattr__(self, name, value):
        raise AttributeError("an actor's attributes are read-only here: call a method that "
                             "sets %r" % name)

    def close(self) -> None:
        """Frees the instance on its worker and deletes its mailbox; later calls raise
        NotFoundError. Waits for the worker to confirm."""
        core = self._core()
        Future(core.actor_call(self._a, ACTOR_CLOSE, "close", ())).result()
        core.end_actor(self._a, True, ACTOR_CLOSED,
                       "actor %s was closed before this call ran" % self._a.id)
        # The worker deletes them too; the liveness check may have made the lock again.
        core.remove_actor_objects(self._a)

    def __repr__(self) -> str:
        return "<depot.futures.Actor %s>" % self._a.id


# ---------------------------------------------------------------- worker


def _runs_alone(r) -> bool:
    """Whether a call runs on its own after the rest of its batch, its start counted first: a
    redelivered one (a worker died holding it) or one that may start only once."""
    return r.deliveries > 1 or r.task.max_attempts <= 1


class _Reserved:
    __slots__ = ("rid", "deliveries", "task")

    def __init__(self, rid, deliveries, task):
        self.rid = rid
        self.deliveries = deliveries
        self.task = task


class _ActorClass:
    def __init__(self, cls, codec):
        self.cls = cls
        self.codec = codec
        self.methods: dict = {}

    def method(self, obj, name: str):
        """(bound method, _Callable) or None when the class has no such public method."""
        if name.startswith("_"):
            return None
        m = getattr(obj, name, None)
        if m is None or not callable(m):
            return None
        c = self.methods.get(name)
        if c is None:
            c = self.methods[name] = _Callable(m, name, self.codec)
        return m, c


class Worker:
    """Runs registered functions and actor classes for a pool (the C++ depot::Worker).

        w = Worker(client, "pool", threads=2)
        @w.register
        def square(x: int) -> int: return x * x
        w.register_actor("Counter", Counter)
        w.run()                                 # until w.stop() (from another thread)

    Tasks are reserved from "<pool>.tasks" with a visibility of `task_timeout` seconds and
    acked after their results are stored, so a worker that dies loses none: its session's
    end gives them back and another worker runs them. `threads` tasks run at once (Python
    threads: useful for tasks that wait; CPU-bound ones want more worker processes).
    Arguments are decoded by each function's annotations (int, float, str, bytes, bool,
    list, dict, list[int] ...), else by what their bytes look like; results are encoded with
    `codec` (default TASK). `on_send_error(actor, method, type, message)` hears of a one-way
    actor call (Actor.send) that failed here, on the actor's thread; unset, it is logged as
    a warning on the "depot.futures" logger."""

    def __init__(self, client, pool: str = "pool", *, threads: int = 1, max_batch: int = 256,
                 task_timeout: float = 3600.0, codec=None, on_send_error=None):
        self.client = client
        self.pool = pool
        self.threads = max(1, int(threads))
        self.max_batch = max(1, int(max_batch))
        self.task_timeout = task_timeout
        self.codec = _codecs.resolve(codec, TASK)
        self.on_send_error = on_send_error
        self.tasks_q = tasks_queue(pool)
        self._functions: dict = {}
        self._classes: dict = {}
        self._defs_mu = threading.Lock()
        self._stopping = False  # a plain flag: stop() may run in a signal handler
        self._threads: list = []
        self._actor_threads: list = []
        self._mu = threading.Lock()
        self._done = 0
        self._cancel_sub = None
        self._cancel_mu = threading.Lock()
        self._cancelled: set = set()
        self._cancel_order = collections.deque()
        self._submitters: dict = {}  # reply queue -> [alive, checked_at]

    # ------------------------------------------------------------ registering

    def register(self, name, fn=None):
        """Registers fn under `name`: ``w.register("square", fn)``, or as a decorator,
        ``@w.register`` (the function's own name) or ``@w.register("sum")``."""
        if callable(name) and fn is None:
            fn, name = name, name.__name__
        if fn is None:
            def deco(f):
                self.register(name, f)
                return f
            return deco
        with self._defs_mu:
            self._functions[name] = _Callable(fn, name, self.codec)
        return fn

    def register_actor(self, name: str, cls=None):
        """Registers a class workers can instantiate as an actor (constructed without
        arguments; its public methods are callable, its other attributes readable). Also a
        decorator: ``@w.register_actor("Counter")``."""
        if cls is None:
            def deco(c):
                self.register_actor(name, c)
                return c
            return deco
        with self._defs_mu:
            self._classes[name] = _ActorClass(cls, self.codec)
        return cls

    # ------------------------------------------------------------ running

    @property
    def tasks_done(self) -> int:
        """Tasks (and actor calls) this worker has finished, successfully or not."""
        return self._done

    def start(self) -> None:
        """Serves on background threads; returns at once."""
        if self._threads:
            return
        self._stopping = False
        # Subscribed before the first task is taken, so no cancellation published from then
        # on is missed.
        self._cancel_sub = self.client.subscribe(cancel_topic(self.pool), codec=bytes,
                                                 buffer=100000)
        for i in range(self.threads):
            t = threading.Thread(target=self._serve, daemon=True,
                                 name="depot-worker-%s-%d" % (self.pool, i))
            t.start()
            self._threads.append(t)

    def run(self) -> None:
        """Serves until stop() (from another thread or a signal handler)."""
        self.start()
        try:
            while not self._stopping:
                time.sleep(0.05)
        finally:
            self._join()

    def stop(self) -> None:
        """Asks the worker to stop: it finishes and acks the batch it holds. Safe from a
        signal handler."""
        self._stopping = True

    def close(self) -> None:
        """stop() and wait for the threads."""
        self.stop()
        self._join()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def _join(self) -> None:
        me = threading.current_thread()
        for t in self._threads:
            if t is not me:
                t.join()
        self._threads = []
        with self._mu:
            at, self._actor_threads = self._actor_threads, []
        for t in at:
            if t is not me:
                t.join()
        with self._cancel_mu:
            if self._cancel_sub is not None:
                try:
                    self._cancel_sub.close()
                except Error:
                    pass
                self._cancel_sub = None

    # ------------------------------------------------------------ the serve loop

    def _drain_cancels(self) -> None:
        with self._cancel_mu:
            if self._cancel_sub is None:
                return
            try:
                while True:
                    m = self._cancel_sub.next(0)
                    if m is None:
                        break
                    sid = m.value.decode("utf-8", "replace")
                    if sid not in self._cancelled:
                        self._cancelled.add(sid)
                        self._cancel_order.append(sid)
                    while len(self._cancel_order) > 100000:
                        self._cancelled.discard(self._cancel_order.popleft())
            except Error:
                pass  # the manager is away: try again next batch

    def _check_submitters(self, batch) -> None:
        now = time.monotonic()
        stale = []
        with self._mu:
            for r in batch:
                if r.task is None:
                    continue
                s = self._submitters.setdefault(r.task.reply, [True, -10.0])
                # "Alive" is trusted for a second; "gone" is looked at again before tasks are
                # dropped for it: a master back from a long outage sets its marker again in
                # the write that sends its next tasks.
                if s[0] and now - s[1] < 1.0:
                    continue
                s[1] = now
                if r.task.reply not in stale:
                    stale.append(r.task.reply)
        if not stale:
            return
        replies = self.client.call_many(
            [_var_get(marker_var(self.pool, executor_of(self.pool, q))) for q in stale])
        with self._mu:
            for q, (status, _body) in zip(stale, replies):
                self._submitters[q][0] = status == P.Status.OK

    def _submitter_alive(self, reply: str) -> bool:
        with self._mu:
            s = self._submitters.get(reply)
            return s is None or s[0]

    def _fetch(self, calls):
        """The results the calls' future arguments refer to: (values, missing) by sid."""
        values, missing = {}, {}
        keys = []
        seen = set()
        for r in calls:
            for tag, v in r.task.args:
                if tag == VALUE:
                    continue
                for k in v:
                    if k not in seen:
                        seen.add(k)
                        keys.append(k)
        for at in range(0, len(keys), 4096):
            part = keys[at:at + 4096]
            replies = self.client.call_many([_var_get(result_var(self.pool, k)) for k in part])
            for k, (status, body) in zip(part, replies):
                v = _var_value(status, body)
                if v is None:
                    missing[k] = ("the result of task submission '%s' is not in the manager (it "
                                  "was released, or the manager restarted)" % k)
                    continue
                res = parse_result(v)
                if res is None or not res[0]:
                    missing[k] = "its argument '%s' failed" % k
                    continue
                values[k] = res[1]
        return values, missing

    def _run_call(self, t: Record, values: dict, missing: dict) -> bytes:
        with self._defs_mu:
            f = self._functions.get(t.name)
            known = ", ".join(sorted(self._functions))
        if f is None:
            return error_record(UNKNOWN_FUNCTION,
                                "no function '%s' is registered on this worker of pool '%s' (it "
                                "has: %s); register it with Worker.register" % (t.name, self.pool,
                                                                               known))
        for tag, v in t.args:
            if tag != VALUE:
                for k in v:
                    if k in missing:
                        return error_record(DEPENDENCY_FAILED, missing[k])
        try:
            args = []
            for (tag, v), (whole, elem) in zip(t.args, f.decoders(len(t.args))):
                if tag == VALUE:
                    args.append(whole.decode(v))
                elif tag == FUTURE:
                    args.append(whole.decode(values[v[0]]))
                else:
                    args.append([elem.decode(values[k]) for k in v])
            return ok_record(self.codec.encode(f.fn(*args)))
        except Exception as e:  # noqa: BLE001 - the task's exception is its result
            return error_record(_type_name(e), str(e))

    def _serve(self) -> None:
        q = self.client.queue(self.tasks_q, codec=bytes)
        batch_size = 1
        while not self._stopping:
            try:
                got = q.reserve_many(batch_size, timeout=0.2, visibility=self.task_timeout)
            except QueueTimeoutError:
                batch_size = 1  # after a lull the next tasks may be slow: one at a time
                continue
            except Error:
                time.sleep(0.1)
                continue
            if len(got) < batch_size:
                batch_size = max(1, len(got))
            self._drain_cancels()
            connection = self.client.connections  # the session holding `got`
            batch = [_Reserved(g.id, g.deliveries, decode_record(g.value)) for g in got]
            calls = [r for r in batch if r.task is not None and r.task.kind == CALL]
            try:
                self._check_submitters(batch)
                # A call that runs alone fetches its arguments after its start is counted.
                values, missing = self._fetch([r for r in calls if not _runs_alone(r)])
                redelivered = [r.task.sid for r in calls if r.deliveries > 1]
                stored = dict(zip(redelivered, stored_results(self.client, self.pool,
                                                              redelivered)))
            except Error:
                continue  # connection lost: the reservations went back with the session
            out = []
            stores = []     # the results, written first
            announced = []  # (task, record) for each of them: announced after
            notes: dict = {}
            acks = []
            alone = []  # run after the batch's results are written
            t0 = time.monotonic()
            ran = 0

            def forget_starts(r):
                # A redelivered call that is not run may have counted starts: not kept.
                if r.task is not None and r.task.kind == CALL and _runs_alone(r):
                    out.append(_delete(starts_counter(self.pool, r.task.sid)))

            for r in batch:
                t = r.task
                if t is None or not self._submitter_alive(t.reply):
                    # Not a task record (nobody can run it), or its executor is gone (nobody
                    # wants the result): dropped rather than redelivered forever.
                    acks.append(r.rid)
                    forget_starts(r)
                    continue
                if t.kind == ACTOR_NEW and r.deliveries <= t.max_attempts:
                    self._start_actor(r)  # the actor's thread acks it once it exists
                    continue
                with self._cancel_mu:
                    cancelled = t.sid in self._cancelled
                if (t.kind == CALL and _runs_alone(r) and stored.get(t.sid) is None
                        and not cancelled):
                    alone.append(r)  # acked once it has run
                    continue
                acks.append(r.rid)
                if cancelled:
                    forget_starts(r)
                    continue
                if stored.get(t.sid) is not None:
                    record = stored[t.sid]  # it ran to the end before: announce it again
                    forget_starts(r)
                elif r.deliveries > t.max_attempts:  # an actor's creation
                    record = error_record(WORKER_LOST, "it was started %d times and its worker "
                                          "died each time; not retrying (max_retries)"
                                          % (r.deliveries - 1))
                elif t.kind != CALL:
                    record = error_record(UNKNOWN_FUNCTION, "task kind %d is not a call"
                                          % t.kind)
                else:
                    record = self._run_call(t, values, missing)
                    ran += 1
                # The first result stored wins: a task run twice never overwrites it.
                stores.append(_var_cas(result_var(self.pool, t.sid), 0, record))
                announced.append((t, record))
            spent = time.monotonic() - t0
            try:
                # The results first, then (knowing which the manager kept) the notifications
                # and the acks: a result it refused (its object limit, a frame too large, a
                # failing disk) is announced as that failure, so its future fails with the
                # reason instead of resolving to a value no dependent task can fetch.
                kept = self.client.call_many(stores) if stores else []
                for i, (status, body) in enumerate(kept):
                    if status != P.Status.OK:
                        announced[i] = (announced[i][0], _unstored(status, body))
                for t, record in announced:
                    notes.setdefault(t.reply, []).append(notification(t.key, t.sid, record))
                for reply, items in notes.items():
                    out.append(_put_many(reply, items))
                if acks:
                    out.append(_ack(self.tasks_q, acks))
                if out:
                    self.client.call_many(out)
            except Error:
                continue  # lost with the connection: the tasks come back (at-least-once)
            with self._mu:
                self._done += len(acks)
            for r in alone:
                if not self._run_alone(r, connection):
                    break
            if ran > 0 and spent < 0.001:
                batch_size = min(batch_size * 2, self.max_batch)
            elif ran > 0:
                batch_size = 1

    def _run_alone(self, r: _Reserved, connection: int) -> bool:
        """Counts the start of a call that runs alone in the manager, checks the retry limit,
        then fetches its arguments, runs it, stores and announces its result and acks it.
        False when the connection was lost (the reservation went back with the session)."""
        t = r.task
        starts = starts_counter(self.pool, t.sid)
        try:
            # call_many: never sent again after a reconnect, which would count this start
            # twice on a session that no longer holds the task.
            status, body = self.client.call_many([_counter_add(starts, 1)])[0]
            if self.client.connections != connection:
                return False
            if status != P.Status.OK:
                # Nothing can count its starts (the object limit, a permission): running it
                # uncounted could let it kill worker after worker, so it fails with the reason.
                record = error_record(WORKER_LOST, "its start could not be counted in the "
                                      "manager (%s); not running it" % P.error_message(body))
            else:
                # Counted starts, this one included. A call's first start, in a batch, is not
                # counted (a dead worker's batch cannot tell which call it was running) but is
                # assumed, except for a call that may start only once: those count every start.
                n = P.Reader(body).i64()
                before = n - 1 + (1 if t.max_attempts > 1 else 0)
                if before >= t.max_attempts:
                    record = error_record(WORKER_LOST, "it was started %d times and its worker "
                                          "died each time; not retrying (max_retries)" % before)
                else:
                    values, missing = self._fetch([r])
                    record = self._run_call(t, values, missing)
            # The first result stored wins, as in a batch; the count goes with it. Then the
            # notification, of the failure to store it if the manager refused it.
            (status, body), _ = self.client.call_many(
                [_var_cas(result_var(self.pool, t.sid), 0, record), _delete(starts)])
            if status != P.Status.OK:
                record = _unstored(status, body)
            self.client.call_many([_put_many(t.reply, [notification(t.key, t.sid, record)]),
                                   _ack(self.tasks_q, [r.rid])])
        except Error:
            return False  # connection lost: the reservation goes back with the session
        with self._mu:
            self._done += 1
        return True

    # ------------------------------------------------------------ actors

    def _start_actor(self, r: _Reserved) -> None:
        t = threading.Thread(target=self._actor_loop, args=(r,), daemon=True,
                             name="depot-actor-%s" % r.task.actor)
        with self._mu:
            self._actor_threads.append(t)
        t.start()

    def _finish(self, call: Record, queue: str, rid: int, record: bytes) -> None:
        """Result (first stored wins), notification and ack, in one write; a one-way call
        (Actor.send) has only the ack."""
        reqs = [_ack(queue, [rid])]
        if not call.flags & ONE_WAY:
            reqs[:0] = [_var_cas(result_var(self.pool, call.sid), 0, record),
                        _put_many(call.reply, [notification(call.key, call.sid, record)])]
        self.client.call_many(reqs)
        with self._mu:
            self._done += 1

    def _report_send_error(self, call: Record, record: bytes) -> None:
        r = parse_result(record)
        if r is None or r[0]:
            return
        _ok, type_, message = r
        if self.on_send_error is None:
            logging.getLogger("depot.futures").warning(
                "actor %s: the one-way call %s failed: %s: %s", call.actor, call.name, type_,
                message)
            return
        try:
            self.on_send_error(call.actor, call.name, type_, message)
        except Exception:  # noqa: BLE001 - the callback's failure must not stop the actor
            logging.getLogger("depot.futures").exception("on_send_error failed")

    def _actor_loop(self, create: _Reserved) -> None:
        t = create.task
        with self._defs_mu:
            d = self._classes.get(t.name)

        def fail_create(type_, msg):
            try:
                self._finish(t, self.tasks_q, create.rid, error_record(type_, msg))
            except Error:
                pass
        if d is None:
            return fail_create(UNKNOWN_ACTOR_CLASS, "no actor class '%s' is registered on this "
                               "worker of pool '%s'; register it with Worker.register_actor"
                               % (t.name, self.pool))
        if t.flags & RESILIENT:
            return fail_create(NOT_RESILIENT, "actor class '%s' is served by a Python worker, "
                               "which cannot keep an actor's state across workers; create it "
                               "with resilient=False" % t.name)
        alive = self.client.lock(alive_lock(self.pool, t.actor))
        try:
            if not alive.acquire(timeout=10):
                return fail_create(ACTOR_BUSY, "actor %s is still served by another worker"
                                   % t.actor)
        except Error as e:
            return fail_create(_type_name(e), str(e))
        try:
            obj = d.cls()
        except Exception as e:  # noqa: BLE001
            _release(alive)
            return fail_create(_type_name(e), str(e))
        try:
            self._finish(t, self.tasks_q, create.rid, ok_record(b""))
        except Error:
            _release(alive)
            return
        box_name = mailbox(self.pool, t.actor)
        box = self.client.queue(box_name, codec=bytes)
        held_on = self.client.connections
        regained = None
        applied_key, applied_record = "", b""
        closed = False  # an ACTOR_CLOSE was answered
        try:
            while not self._stopping and not closed:
                if self.client.connections != held_on:
                    # The old session's end freed the lock: take it again, or stop if another
                    # worker serves the actor now.
                    again = self.client.lock(alive_lock(self.pool, t.actor))
                    try:
                        on = self.client.connections
                        if not again.acquire(timeout=1):
                            break
                    except Error:
                        time.sleep(0.1)
                        continue
                    held_on = on
                    if regained is not None:
                        _release(regained)
                    regained = again
                try:
                    got = box.reserve(timeout=0.2, visibility=self.task_timeout)
                except QueueTimeoutError:
                    continue
                except NotFoundError:
                    break  # the mailbox was deleted
                except Error:
                    time.sleep(0.1)
                    continue
                c = decode_record(got.value)
                try:
                    if c is None:
                        box.ack(got.id)
                        continue
                    if applied_key and c.key == applied_key:
                        # Applied already: answered again, not applied twice.
                        self._finish(c, box_name, got.id, applied_record)
                        continue
                    if c.kind == ACTOR_CLOSE:
                        # The executor deletes the mailbox, lock and snapshot too once answered
                        # (NOT_FOUND: fine). Once answered this stops, whatever happens next: a
                        # reserve on the mailbox would make it again.
                        obj = None
                        self.client.call_many([_delete(state_var(self.pool, t.actor))])
                        self._finish(c, box_name, got.id, ok_record(b""))
                        closed = True
                        self.client.call_many([_delete(box_name)])
                        break
                    record = self._actor_apply(d, obj, t.name, c)
                    if c.flags & ONE_WAY:
                        self._report_send_error(c, record)
                    applied_key, applied_record = c.key, record
                    self._finish(c, box_name, got.id, record)
                except Error:
                    pass  # connection trouble: the reservation goes back with the session
        finally:
            if regained is not None:
                _release(regained)
            _release(alive)
            if closed:
                try:
                    self.client.call_many([_delete(alive_lock(self.pool, t.actor))])
                except Error:
                    pass  # the connection is gone: Actor.close() deletes it too

    def _actor_apply(self, d: _ActorClass, obj, cls: str, c: Record) -> bytes:
        try:
            if c.kind == ACTOR_GET:
                if c.name.startswith("_") or not hasattr(obj, c.name) or callable(
                        getattr(obj, c.name)):
                    return error_record(UNKNOWN_ATTRIBUTE, "actor class '%s' has no attribute "
                                        "'%s'" % (cls, c.name))
                return ok_record(self.codec.encode(getattr(obj, c.name)))
            m = d.method(obj, c.name)
            if m is None:
                return error_record(UNKNOWN_METHOD, "actor class '%s' has no method '%s'"
                                    % (cls, c.name))
            fn, spec = m
            args = [whole.decode(v) for (_tag, v), (whole, _e)
                    in zip(c.args, spec.decoders(len(c.args)))]
            return ok_record(self.codec.encode(fn(*args)))
        except Exception as e:  # noqa: BLE001
            return error_record(_type_name(e), str(e))


def _release(lock) -> None:
    try:
        lock.release()
    except (NotOwnerError, Error):
        pass
