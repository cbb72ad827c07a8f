"""depot.Queue: a handle on a named queue in the manager, with the queue.Queue surface.

    q = client.queue("tasks", codec=int)       # codec: what get() returns (depot.codecs)
    q.put(42)                                   # blocks while the queue is full
    q.put(7, timeout=1)                         # queue.Full (depot.FullError) after 1 s
    n = q.get(timeout=1)                        # queue.Empty (depot.QueueTimeoutError)
    q.get_nowait()                              # queue.Empty (depot.EmptyError) when empty
    q.put_many([1, 2, 3]); q.get_many(100)      # one round trip each
    r = q.reserve(timeout=5); ...; r.ack()      # at-least-once delivery

Timeouts are seconds (float); None waits forever; block=False does not wait. A get waiting
when the connection drops is sent again after the reconnect with its remaining time; a put
is not (it may have been applied): it raises depot.ConnectionError. Puts to a queue known to
be unbounded are pipelined (see Queue.put): their errors come from a later call, flush() or
close().
"""
from __future__ import annotations

import enum
import struct
import time
from typing import NamedTuple

from . import codecs as _codecs
from . import protocol as P
from .client import check_timeout, name_bytes, parse_reply, wire_timeout
from .errors import ConnectionError, EmptyError, Error, QueueTimeoutError, error_for_status

__all__ = ["Queue", "Reservation", "NackResult", "QueueSize"]

# A put's body up to this size may be pipelined; a larger one waits for its answer (a
# manager's --max-frame refusal, TOO_LARGE, is then raised by the put itself).
PIPELINE_MAX_BODY = 65536

_i64 = struct.Struct("<q").pack
_u32 = struct.Struct("<I").pack
_u32_from = struct.Struct("<I").unpack_from
_monotonic = time.monotonic


class NackResult(enum.Enum):
    REQUEUED = 1
    DEAD_LETTERED = 2
    NOT_HELD = 0


class QueueSize(NamedTuple):
    size: int
    maxsize: int
    exists: bool


def _ms(seconds, name: str, allow_none=True) -> int:
    if seconds is None:
        if allow_none:
            return -1
        raise ValueError("%s is required" % name)
    if seconds < 0:
        raise ValueError("%s must not be negative" % name)
    return int(round(seconds * 1000))


class Reservation:
    """An item handed out by reserve(): ack() when its work is done, nack() to give it back,
    touch() to keep it longer. `deliveries` is 1 the first time the item is handed out."""

    __slots__ = ("queue", "id", "deliveries", "value")

    def __init__(self, queue: "Queue", ident: int, deliveries: int, value):
        self.queue = queue
        self.id = ident
        self.deliveries = deliveries
        self.value = value

    def ack(self) -> bool:
        return self.queue.ack(self.id)

    def nack(self, delay: float = 0) -> NackResult:
        return self.queue.nack(self.id, delay)

    def touch(self, visibility: float | None = None) -> bool:
        return self.queue.touch(self.id, visibility)

    def __repr__(self) -> str:
        return "Reservation(id=%d, deliveries=%d, value=%r)" % (self.id, self.deliveries, self.value)


class Queue:
    """A named queue of the manager. Cheap; may be used from several threads."""

    def __init__(self, client, name: str, *, codec=None):
        self.client = client
        self.name = name
        self._name = name_bytes(name)
        self._s = P.s(self._name)
        self.codec = _codecs.resolve(codec, client.codec)
        self._core = client._core
        text = self._name.decode("utf-8", "replace")
        self._what = "a put to queue '%s'" % text
        self._what_many = "a put_many of %%d items to queue '%s'" % text.replace("%", "%%")

    def __repr__(self) -> str:
        return "<depot.Queue %r on %s>" % (self.name, self.client.address)

    # ------------------------------------------------------------ helpers

    def _encode(self, value) -> bytes:
        return self.codec.encode(value)

    def _decode(self, data: bytes):
        return self.codec.decode(data)

    def _raise(self, status: int, body: bytes):
        raise error_for_status(status, P.error_message(body))

    def _wait_items(self, op: int, encode, timeout):
        """GET / GET_MANY / RESERVE: the OK reply body, or None when the queue was empty and
        the caller did not wait. A wait that ran out raises QueueTimeoutError (queue.Empty),
        also a re-sent wait whose time had run out (the manager answers it EMPTY)."""
        status, body, _, first = self._core.wait_call(op, encode, timeout)
        if status == P.Status.OK:
            return body
        if status == P.Status.EMPTY:
            if first == 0:
                return None
            raise QueueTimeoutError("queue '%s' stayed empty until the timeout" % self.name,
                                    P.Status.TIMEOUT)
        if status == P.Status.TIMEOUT:
            raise QueueTimeoutError(P.error_message(body), status)
        self._raise(status, body)

    # ------------------------------------------------------------ queue.Queue surface

    def put(self, item, block: bool = True, timeout: float | None = None, *,
            priority: int = 0, delay: float = 0, dedup_id: str | bytes | None = None) -> bool:
        """Appends `item`, waiting while the queue is full (FullError, a queue.Full, when it
        stays full until `timeout`, or at once with block=False). With `priority` (lower is
        served first), `delay` (seconds before it can be handed out) or `dedup_id` (a second
        put with this id within the queue's dedup window is not enqueued) it is a QUEUE_PUT_EX.
        Returns False only for a duplicate dedup id.

        Pipelined: a plain put (no priority, delay or dedup_id) of up to 64 KiB to a queue this
        client knows to be unbounded (declared so, or asked at its second put to the name)
        returns once it is written, without waiting for the manager's answer (with
        pipeline_puts="hold": at once, the put being written with this client's next request,
        or by the keeper thread about 2 ms later when none follows). The manager runs a
        connection's requests in order, so whatever this client does next sees the item;
        another connection may see it a moment later. Should it fail (the name
        was taken by another object, the manager cannot write its data directory, the connection
        dropped before the answer: "may or may not have taken effect"), a later call of the same
        thread on this client raises the error before doing anything: the first that starts once
        the answer is in (in a loop the call after next, as the answer travels just ahead of the
        next call's), or flush() / close(), which wait for it.
        depot.Client(pipeline_puts=False) makes every put wait for its answer."""
        timeout = check_timeout(block, timeout)
        data = self._encode(item)
        ms = wire_timeout(timeout)
        if priority or delay or dedup_id:
            if isinstance(dedup_id, str):
                dedup_id = dedup_id.encode("utf-8")
            body = (self._s + P.i64(ms) + P.i32(priority) + P.u64(_ms(delay, "delay"))
                    + P.s(dedup_id or b"") + P.s(data))
            status, rbody, _ = self._core.call(P.Op.QUEUE_PUT_EX, body, deadline=_deadline(ms))
            if status != P.Status.OK:
                self._raise(status, rbody)
            r = P.Reader(rbody)
            return parse_reply(r, r.u8, P.Op.QUEUE_PUT_EX) == 1
        body = self._s + _i64(ms) + _u32(len(data)) + data
        core = self._core
        if core.pipeline and len(body) <= PIPELINE_MAX_BODY and self._unbounded():
            if core.send_pipelined(P.Op.QUEUE_PUT, body, self._what, self._name):
                return True
        status, rbody, _ = core.call(P.Op.QUEUE_PUT, body, deadline=_deadline(ms))
        if status != P.Status.OK:
            core.bounds.pop(self._name, None)
            self._raise(status, rbody)
        return True

    def _unbounded(self) -> bool:
        """Whether a put may be pipelined: the queue is known to be unbounded (so the put
        cannot park or be refused for room). A client's first put to a name is not pipelined
        (errors such as a wrong type or a bad name are raised by it); the second asks the
        bound (QUEUE_SIZE, once per client and name; asked again after a put to it failed)."""
        core = self._core
        bound = core.bounds.get(self._name)
        if bound == 0:
            return True
        if bound is None:
            core.bounds[self._name] = -1
            return False
        if bound != -1:
            return False
        if core.put_errors_count:
            core.raise_put_errors()  # an earlier put's error first, before anything is sent
        try:
            s = self.size()
        except ConnectionError:
            return False  # the put's own call reconnects (or says why it cannot)
        except Error:  # e.g. a user allowed to put but not to read: do not ask again
            core.bounds[self._name] = -2
            return False
        if s.exists:
            core.bounds[self._name] = s.maxsize
        return s.exists and s.maxsize == 0

    def put_nowait(self, item) -> bool:
        return self.put(item, block=False)

    def get(self, block: bool = True, timeout: float | None = None):
        """Removes and returns the oldest item, waiting while the queue is empty: EmptyError
        (block=False) or QueueTimeoutError (timeout), both queue.Empty."""
        timeout = check_timeout(block, timeout)
        body = self._wait_items(P.Op.QUEUE_GET, self._get_body, timeout)
        if body is None:
            raise EmptyError("queue '%s' is empty" % self.name, P.Status.EMPTY)
        if len(body) >= 4 and _u32_from(body)[0] == len(body) - 4:  # str item: the whole body
            return self.codec.decode(body[4:])
        r = P.Reader(body)
        return self._decode(parse_reply(r, r.str, P.Op.QUEUE_GET))

    def _get_body(self, ms: int) -> bytes:
        return self._s + _i64(ms)

    def get_nowait(self):
        return self.get(block=False)

    def qsize(self) -> int:
        """Items a get could take now (reserved and delayed items are not counted)."""
        return self.size().size

    def empty(self) -> bool:
        return self.qsize() == 0

    def full(self) -> bool:
        s = self.size()
        return s.maxsize != 0 and s.size >= s.maxsize

    @property
    def maxsize(self) -> int:
        return self.size().maxsize

    def size(self) -> QueueSize:
        r = P.Reader(self._core.request(P.Op.QUEUE_SIZE, self._s))
        return parse_reply(r, lambda: QueueSize(r.u64(), r.u64(), r.u8() == 1), P.Op.QUEUE_SIZE)

    def __len__(self) -> int:
        return self.qsize()

    # ------------------------------------------------------------ batches

    def put_many(self, items, block: bool = True, timeout: float | None = None) -> int:
        """Appends several items in one round trip, in order; returns how many (all). If room
        runs out: FullError with `accepted`, the number of leading items that were put.
        Pipelined as put() is (up to 64 KiB of request), to a queue known to be unbounded."""
        timeout = check_timeout(block, timeout)
        pack = _u32
        parts = [pack(len(d)) + d for d in map(self.codec.encode, items)]
        n = len(parts)
        ms = wire_timeout(timeout)
        body = self._s + _i64(ms) + pack(n) + b"".join(parts)
        core = self._core
        if core.pipeline and n and len(body) <= PIPELINE_MAX_BODY and self._unbounded():
            if core.send_pipelined(P.Op.QUEUE_PUT_MANY, body, self._what_many % n, self._name):
                return n
        status, rbody, _ = core.call(P.Op.QUEUE_PUT_MANY, body, deadline=_deadline(ms))
        if status != P.Status.OK:
            core.bounds.pop(self._name, None)
            raise error_for_status(status, P.error_message(rbody), P.put_many_accepted(rbody))
        r = P.Reader(rbody)
        return parse_reply(r, r.u32, P.Op.QUEUE_PUT_MANY)

    def get_many(self, max_items: int, block: bool = True, timeout: float | None = None) -> list:
        """1..max_items of the oldest items, waiting as get() does for the first one (a
        QueueTimeoutError when none came). With block=False returns at once, possibly []."""
        if max_items <= 0:
            return []
        timeout = check_timeout(block, timeout)
        n = min(int(max_items), 0xFFFFFFFF)
        s = self._s
        body = self._wait_items(P.Op.QUEUE_GET_MANY, lambda ms: s + P.u32(n) + P.i64(ms), timeout)
        if body is None:
            return []
        r = P.Reader(body)

        dec = self.codec.decode
        return [dec(v) for v in parse_reply(r, r.strs, P.Op.QUEUE_GET_MANY)]

    # ------------------------------------------------------------ declare, configure, delete

    def declare(self, maxsize: int = 0) -> "Queue":
        """Creates the queue with this bound (0 = unbounded), or checks an existing one has it
        (ProtocolError if not: delete it first to change it)."""
        self._core.request(P.Op.QUEUE_DECLARE, self._s + P.u64(maxsize))
        self._core.bounds[self._name] = maxsize
        return self

    def configure(self, *, visibility: float = 30.0, max_deliveries: int = 0,
                  dedup_window: float = 300.0, dead_letter: str = "") -> None:
        """Reliable-delivery settings, all four replaced at once: how long a reservation lasts
        (s), after how many deliveries an item goes to the dead-letter queue (0 = never; the
        dead-letter queue is `<name>.dead` unless named), how long dedup ids are remembered."""
        vis = _ms(visibility, "visibility")
        if vis < 1:
            vis = 1 if visibility > 0 else 0
        body = (self._s + P.u64(vis) + P.u32(max_deliveries)
                + P.u64(_ms(dedup_window, "dedup_window")) + P.s(name_bytes(dead_letter)))
        self._core.request(P.Op.QUEUE_CONFIGURE, body)

    def delete(self) -> int:
        """Deletes the queue and its items; returns how many it held. Requests parked on it
        get NotFoundError."""
        self._core.bounds.pop(self._name, None)
        r = P.Reader(self._core.request(P.Op.QUEUE_DELETE, self._s))
        return parse_reply(r, r.u64, P.Op.QUEUE_DELETE)

    destroy = delete

    # ------------------------------------------------------------ reliable delivery

    def reserve_many(self, max_items: int, block: bool = True, timeout: float | None = None,
                     visibility: float | None = None) -> list[Reservation]:
        """1..max_items head items as reservations, waiting as get_many() does. Each comes back
        to the queue unless acked before `visibility` seconds (default: the queue's setting)
        or before this client's session ends."""
        if max_items <= 0:
            return []
        timeout = check_timeout(block, timeout)
        n = min(int(max_items), 0xFFFFFFFF)
        vis = -1 if visibility is None else max(1, _ms(visibility, "visibility"))
        s = self._s
        body = self._wait_items(P.Op.QUEUE_RESERVE,
                                lambda ms: s + P.u32(n) + P.i64(ms) + P.i64(vis), timeout)
        if body is None:
            return []
        r = P.Reader(body)

        def parse():
            return [(r.u64(), r.u32(), r.str()) for _ in range(r.u32())]
        raw = parse_reply(r, parse, P.Op.QUEUE_RESERVE)
        out = []
        for i, (ident, deliveries, item) in enumerate(raw):
            try:
                value = self._decode(item)
            except Exception:
                # A value that does not decode is given back (it counts as a delivery, so a
                # poisoned item ends in the dead-letter queue), with the rest of the batch.
                for ident2, _, _ in raw[i:]:
                    self.nack(ident2)
                for done in out:
                    self.nack(done.id)
                raise
            out.append(Reservation(self, ident, deliveries, value))
        return out

    def reserve(self, block: bool = True, timeout: float | None = None,
                visibility: float | None = None) -> Reservation:
        """The head item as a reservation (EmptyError / QueueTimeoutError as get())."""
        got = self.reserve_many(1, block, timeout, visibility)
        if not got:
            raise EmptyError("queue '%s' is empty" % self.name, P.Status.EMPTY)
        return got[0]

    def ack(self, reservation) -> bool:
        """Deletes a reserved item for good. False if the reservation was no longer held (its
        deadline passed or its session ended: the item may be with another consumer).
        Also takes a list of ids / Reservations: then returns how many were held."""
        if isinstance(reservation, (list, tuple)):
            ids = [getattr(x, "id", x) for x in reservation]
            return self._ack(ids)
        return self._ack([getattr(reservation, "id", reservation)]) == 1

    def _ack(self, ids) -> int:
        body = self._s + P.u32(len(ids)) + b"".join(P.u64(i) for i in ids)
        r = P.Reader(self._core.request(P.Op.QUEUE_ACK, body))
        return parse_reply(r, r.u32, P.Op.QUEUE_ACK)

    def nack(self, reservation, delay: float = 0) -> NackResult:
        """Gives a reserved item back (after `delay` seconds). DEAD_LETTERED when this was its
        last allowed delivery; NOT_HELD when the reservation was no longer held."""
        ident = getattr(reservation, "id", reservation)
        status, body, _ = self._core.call(P.Op.QUEUE_NACK,
                                          self._s + P.u64(ident) + P.u64(_ms(delay, "delay")))
        if status == P.Status.NOT_FOUND:
            return NackResult.NOT_HELD
        if status != P.Status.OK:
            self._raise(status, body)
        r = P.Reader(body)
        return NackResult(parse_reply(r, r.u8, P.Op.QUEUE_NACK))

    def touch(self, reservation, visibility: float | None = None) -> bool:
        """Moves a reservation's deadline to now + `visibility` (default: the queue's
        setting); False if it is no longer held."""
        ident = getattr(reservation, "id", reservation)
        vis = -1 if visibility is None else max(1, _ms(visibility, "visibility"))
        status, body, _ = self._core.call(P.Op.QUEUE_TOUCH, self._s + P.u64(ident) + P.i64(vis))
        if status == P.Status.NOT_FOUND:
            return False
        if status != P.Status.OK:
            self._raise(status, body)
        return True

    # ------------------------------------------------------------ iteration

    def __iter__(self):
        """Yields items as they come, forever (a get() per item)."""
        while True:
            yield self.get()


def _deadline(ms: int):
    return None if ms < 0 else _monotonic() + ms / 1000.0
