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
is not (it may have been applied): it raises depot.ConnectionError.
"""
from __future__ import annotations

import enum
from typing import NamedTuple

from . import codecs as _codecs
from . import protocol as P
from .client import check_timeout, name_bytes, parse_reply, wire_timeout
from .errors import EmptyError, QueueTimeoutError, error_for_status

__all__ = ["Queue", "Reservation", "NackResult", "QueueSize"]


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
        Returns False only for a duplicate dedup id."""
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
        status, rbody, _ = self._core.call(P.Op.QUEUE_PUT, self._s + P.i64(ms) + P.s(data),
                                           deadline=_deadline(ms))
        if status != P.Status.OK:
            self._raise(status, rbody)
        return True

    def put_nowait(self, item) -> bool:
        return self.put(item, block=False)

    def get(self, block: bool = True, timeout: float | None = None):
        """Removes and returns the oldest item, waiting while the queue is empty: EmptyError
        (block=False) or QueueTimeoutError (timeout), both queue.Empty."""
        timeout = check_timeout(block, timeout)
        s = self._s
        body = self._wait_items(P.Op.QUEUE_GET, lambda ms: s + P.i64(ms), timeout)
        if body is None:
            raise EmptyError("queue '%s' is empty" % self.name, P.Status.EMPTY)
        r = P.Reader(body)
        return self._decode(parse_reply(r, r.str, P.Op.QUEUE_GET))

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
        runs out: FullError with `accepted`, the number of leading items that were put."""
        timeout = check_timeout(block, timeout)
        enc = self.codec.encode
        items = [enc(v) for v in items]
        ms = wire_timeout(timeout)
        pack = P.u32
        body = self._s + P.i64(ms) + pack(len(items)) + b"".join([pack(len(i)) + i for i in items])
        status, rbody, _ = self._core.call(P.Op.QUEUE_PUT_MANY, body, deadline=_deadline(ms))
        if status != P.Status.OK:
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
    import time
    return None if ms < 0 else time.monotonic() + ms / 1000.0
