"""depot.Client: one authenticated connection to a depot manager, shared by every thread.

    import depot
    c = depot.Client(("127.0.0.1", 5000), authkey=b"abc")   # or "127.0.0.1:5000"
    tasks = c.queue("tasks", codec=int)
    tasks.put(42)
    assert tasks.get(timeout=1) == 42

Threads: every method may be called from several threads at once. Requests are pipelined on
the one connection and matched to replies by id. There is no reader thread: as in the C++
client, a thread waiting for its reply (or a subscription's next message) takes the reader
role when nobody holds it, reads frames and routes each (replies to their callers, pushed
messages to their subscriptions) until its own has come, then hands the role to another
waiting thread; the others sleep until their reply is routed or the role is handed to them.
A lone caller thus reads its own reply, with no thread switch. Puts to a queue known to be
unbounded are pipelined (Queue.put): sent without waiting for the reply, which whoever reads
next routes; an error is kept for the thread that made the put and raised by its next call
(before that call sends anything), or by flush() / close(). A keeper thread sends a
HEARTBEAT whenever nothing was sent for a third of the session lease the manager announced in
AUTH_OK, watches the idle connection for its end (so a restarted manager is noticed, and the
locks of the lost session reported, without a call), fails a connection on which a reply is
overdue (reply_grace past its request's own timeout: the reader waits in a blocking recv, with
no poll before it), and runs the connection callbacks. It is a daemon thread; close() (or
``with``) ends it.

Connection loss (as the C++ client, docs/protocol.md "Reconnecting"): the reader sees the
end at once. Every request in flight then fails with depot.ConnectionError ("may or may not
have taken effect"), except a parked wait (a get, reserve, acquire, event/barrier/variable
wait with a non-zero timeout), which is sent again on the new connection with the time it
has left. The next call reconnects with capped exponential backoff (50 ms doubling to 2 s),
one thread trying while the others wait, each no longer than its own timeout (else
`reconnect_give_up`, 60 s). A reconnect refused with AUTH_FAILED is not retried. Locks,
semaphore leases and reservations belong to the old session and are gone; subscriptions
are renewed when the program next reads them.
"""
from __future__ import annotations

import collections
import itertools
import json
import math
import os
import select
import socket
import sys
import threading
import time
import weakref
from typing import Callable, NamedTuple

from . import codecs as _codecs
from . import protocol as P
from .errors import AuthError, ConnectionError, ProtocolError, error_for_status

__all__ = ["Client", "ObjectInfo", "parse_address"]

_ids = itertools.count(1)  # request ids: never reused in this process, not even across reconnects
_get_ident = threading.get_ident
_HEADER_PACK = P.HEADER.pack

# Pipelined puts in flight per connection before a put waits for the oldest half's replies.
PIPELINE_WINDOW = 256
# An idle connection (nothing in flight) is checked for an end of stream before a request is
# sent on it, unless something was sent less than this long ago (s): a manager that closed the
# connection since then is met as one that closed it while the request was in flight.
IDLE_CHECK_AFTER = 0.002
# With pipeline_puts="hold" a pipelined put is held back until the connection's next send
# (another request: a worker's put goes in one write with its next get), for at most about
# this long (s), then the keeper sends it; at most PUT_HOLD_BYTES are held.
PUT_HOLD = 0.002
PUT_HOLD_BYTES = 32768


class ObjectInfo(NamedTuple):
    """One entry of Client.list()."""

    name: str
    type: str
    size: int
    state: str


def parse_address(address) -> tuple[str, int]:
    """(host, port) from ("host", port), "host:port", ":port", "port" or "[v6]:port".
    An empty host means localhost for a client."""
    if isinstance(address, (tuple, list)):
        if len(address) != 2:
            raise ValueError("an address is (host, port), not %r" % (address,))
        host, port = address
        host = host or ""
        if isinstance(host, bytes):
            host = host.decode()
        try:
            port = int(port)
        except (TypeError, ValueError):
            raise ValueError("address %r has no valid port" % (address,)) from None
    elif isinstance(address, str):
        text = address.strip()
        if text.startswith("["):
            close = text.find("]")
            if close < 0 or not text[close + 1:].startswith(":"):
                raise ValueError("address '%s' is not [host]:port" % address)
            host, port_s = text[1:close], text[close + 2:]
        elif ":" in text:
            host, port_s = text.rsplit(":", 1)
        else:
            host, port_s = "", text
        if not port_s.isdigit():
            raise ValueError("address '%s' has no valid port (expected host:port, e.g. "
                             "127.0.0.1:5000)" % address)
        port = int(port_s)
    else:
        raise TypeError("an address is 'host:port' or (host, port), not %r" % (address,))
    if not 0 <= port <= 65535:
        raise ValueError("address %r: port %d is out of range" % (address, port))
    return host, port


def _default_client_name() -> str:
    """$DEPOT_CLIENT_NAME, else "<program>-<pid>", cleaned and cut to fit a client name."""
    if os.environ.get("DEPOT_CLIENT_NAME"):
        return os.environ["DEPOT_CLIENT_NAME"]
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
    prog = "".join(c if 0x21 <= ord(c) <= 0x7E else "_" for c in prog) or "python"
    pid = "-%d" % os.getpid()
    return prog[:P.MAX_CLIENT_NAME - len(pid)] + pid


def _authkey_bytes(authkey) -> bytes:
    if authkey is None:
        env = os.environ.get("DEPOT_AUTHKEY")
        if env is None:
            raise AuthError("no authkey: pass authkey=... or set DEPOT_AUTHKEY to the key the "
                            "manager was started with")
        authkey = env
    if isinstance(authkey, str):
        authkey = authkey.encode("utf-8")
    authkey = bytes(authkey)
    if not authkey:
        raise AuthError("the authkey is empty; the manager needs a non-empty key")
    return authkey


def wire_timeout(timeout) -> int:
    """A timeout in seconds (None = forever) as the wire's i64 milliseconds, rounded up."""
    if timeout is None:
        return P.WAIT_FOREVER
    if timeout <= 0:
        return 0
    if timeout > 100 * 365 * 86400:
        return P.WAIT_FOREVER
    return int(math.ceil(timeout * 1000))


def check_timeout(block: bool, timeout):
    """queue.Queue's rules: block=False means no wait; a negative timeout is refused."""
    if not block:
        return 0
    if timeout is not None and timeout < 0:
        raise ValueError("'timeout' must be a non-negative number")
    return timeout


class _Pending:
    __slots__ = ("event", "done", "status", "body", "lost", "lost_reason", "reissuable",
                 "resend", "on_ok", "conn", "limit", "owner", "what")

    def __init__(self, reissuable: bool, on_ok, limit=None, owner: int = 0, what: str = ""):
        # Made (under core.mu) only when the caller sleeps: set when its reply is routed, the
        # connection ends, or the reader role is handed to it.
        self.event = None
        self.done = False  # reply routed, or the connection ended (lost / resend)
        self.status = None
        self.body = b""
        self.lost = False
        self.lost_reason = ""
        self.reissuable = reissuable
        self.resend = False
        self.on_ok = on_ok
        self.conn = None
        # time.monotonic() after which a missing reply means a dead connection (the keeper
        # checks), None for no limit
        self.limit = limit
        # A pipelined put (Core.send_pipelined): the thread that made it (whose next call
        # raises its error) and what it was ("a put to queue 'x'"); 0 for a call waited for.
        self.owner = owner
        self.what = what


class _Conn:
    """One TCP connection and its session."""

    def __init__(self, sock: socket.socket, lease_ms: int, number: int, leftover: bytes):
        self.sock = sock
        self.lease_ms = lease_ms
        self.number = number
        self.buf = bytearray(leftover)  # received, not yet routed: the reader role's only
        self.poller = select.poll()  # for reads with a deadline (the reader role's)
        self.poller.register(sock, select.POLLIN)
        self.idle_poller = select.poll()  # call()'s check of an idle connection (core.mu)
        self.idle_poller.register(sock, select.POLLIN | select.POLLRDHUP)
        self.write_lock = threading.Lock()
        # Pipelined puts held back (write_lock): sent ahead of the next write, or by the keeper
        # once the oldest (held since out_since) is PUT_HOLD old. `held` counts the puts held
        # so far; the keeper watches while `armed`, and stops once a wake found none new.
        self.out = bytearray()
        self.out_since = 0.0
        self.held = 0
        self.held_seen = 0
        self.armed = False
        self.pending: dict[int, _Pending] = {}
        self.pipelined: collections.deque = collections.deque()  # pipelined puts, oldest first (mu)
        self.sleepers: set = set()  # callers asleep on their event, not done (mu)
        self.reading = False  # a thread holds the reader role (core.mu)
        self.dead = False
        self.reason = ""

    def send(self, data: bytes) -> None:
        """Writes `data`, after the held puts (OSError as sendall)."""
        with self.write_lock:
            self.write_locked(data)

    def write_locked(self, data) -> None:
        """Writes the held puts, then `data`, in one write (write_lock held; OSError as
        sendall)."""
        out = self.out
        if out:
            out += data
            data = out
            self.out = bytearray()
        self.sock.sendall(data)

    def send_held(self, now: float) -> bool | None:
        """The keeper's: writes the held puts once the oldest is PUT_HOLD/2 old, unless
        another thread is writing (it writes them itself: None); stops watching (armed) when
        none is held and none was since the last call. True when it wrote. OSError as
        sendall."""
        if not self.write_lock.acquire(blocking=False):
            return None
        try:
            out = self.out
            wrote = bool(out) and now - self.out_since >= PUT_HOLD / 2
            if wrote:
                self.out = bytearray()
                self.sock.sendall(out)
            if not self.out and self.held == self.held_seen:
                self.armed = False
            self.held_seen = self.held
            return wrote
        finally:
            self.write_lock.release()


class _SubState:
    """A subscription's client side: pushed messages wait in `messages` for next()."""

    def __init__(self, pattern: bytes, buffer: int, policy: int):
        self.pattern = pattern
        self.buffer = buffer
        self.policy = policy
        self.id = 0
        self.conn: _Conn | None = None
        self.messages: collections.deque = collections.deque()
        self.local_dropped = 0
        self.manager_dropped = 0
        self.closed = False


class _Core:
    """Everything the client's threads share (the threads hold this, not the Client, so a
    Client nobody references is collected and closes its connection)."""

    def __init__(self, host: str, port: int, authkey: bytes, opts: dict):
        self.host = host or "127.0.0.1"
        self.port = port
        self.address = "%s:%d" % (self.host, port)
        self.authkey = authkey
        self.connect_timeout = opts["connect_timeout"]
        self.reconnect = opts["reconnect"]
        self.initial_backoff = opts["reconnect_initial_backoff"]
        self.max_backoff = opts["reconnect_max_backoff"]
        self.give_up = opts["reconnect_give_up"]
        self.reply_grace = opts["reply_grace"]
        self.on_connection = opts["on_connection"]
        self.quiet = opts["quiet"]
        self.user = opts["user"]
        self.name = opts["name"]

        # mu: conn, connecting, subs, notes, each connection's pending requests and reader
        # role; `lock` is its lock, taken directly on the per-call paths (a Condition's
        # __enter__ is a Python call).
        self.lock = threading.Lock()
        self.mu = threading.Condition(self.lock)
        self.conn: _Conn | None = None
        self.connections = 0
        self.connecting = False
        self.backoff = self.initial_backoff
        self.next_attempt = 0.0
        self.last_connect_error = ""
        self.lost_at = 0.0
        self.lost_reason = ""
        self.closed = False
        self.subs: dict[int, _SubState] = {}
        self.sub_cond = threading.Condition(self.mu)  # pushes arrived, or a connection ended
        self.watches: dict = {}  # id -> (conn, fn): fn(reason) when conn ends (lock loss)
        self.watch_ids = itertools.count(1)
        self.notes: collections.deque = collections.deque()
        self.last_send = time.monotonic()
        self.wake = _Waker()
        self.push_waiters = 0  # threads in Subscription.next waiting on sub_cond (mu)
        self.keeper = None
        # Pipelined puts (Queue.put on a queue known to be unbounded): at most `window` in
        # flight per connection; the errors of those that failed, per thread, until a later
        # call of that thread raises them: thread id -> [(status or None, message, accepted)].
        self.pipeline = bool(opts["pipeline_puts"])
        self.hold = opts["pipeline_puts"] == "hold"  # held for the next write (_send's hold)
        self.window = PIPELINE_WINDOW
        self.put_errors: dict[int, list] = {}
        self.put_errors_count = 0  # entries in put_errors (read without mu: a fast check)
        # What this client knows of a queue's bound, by name (depot.queues uses it): -1 put to
        # once (bound not asked yet), 0 unbounded (puts are pipelined), > 0 bounded, -2 do not
        # pipeline (the bound cannot be asked).
        self.bounds: dict[bytes, int] = {}

    def where(self) -> str:
        return "the manager at " + self.address

    # ------------------------------------------------------------ connecting

    def connect_once(self, deadline: float) -> _Conn:
        timeout = max(0.001, deadline - time.monotonic())
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except OSError as e:
            raise ConnectionError("cannot connect to %s: %s (is depot-manager running there?)"
                                  % (self.where(), e.strerror or e)) from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            buf = bytearray()
            kind, code, ident, body = self._read_handshake_frame(sock, buf, deadline)
            if kind == P.KIND_REPLY:
                msg = P.error_message(body)
                raise ConnectionError("%s refused the connection: %s" % (self.where(), msg),
                                      code)
            if kind != P.KIND_HELLO:
                raise ProtocolError("%s sent frame kind %d instead of HELLO (is it a depot "
                                    "manager?)" % (self.where(), kind))
            try:
                server_nonce = P.parse_hello(body)
            except ValueError as e:
                raise ProtocolError("%s %s" % (self.where(), e)) from None
            client_nonce = os.urandom(P.NONCE_LEN)
            sock.sendall(P.frame(P.KIND_AUTH, 0, 0,
                                 P.auth_body(self.authkey, server_nonce, client_nonce,
                                             self.user, self.name)))
            kind, code, ident, body = self._read_handshake_frame(sock, buf, deadline)
            if kind == P.KIND_REPLY:
                msg = P.error_message(body)
                if code == P.Status.AUTH_FAILED:
                    raise AuthError("authentication with %s failed: %s" % (self.where(), msg),
                                    code)
                raise error_for_status(code, "handshake with %s failed: %s" % (self.where(), msg))
            if kind != P.KIND_AUTH_OK or len(body) != 36:
                raise ProtocolError("%s answered AUTH with frame kind %d of %d bytes, not AUTH_OK "
                                    "(36 bytes)" % (self.where(), kind, len(body)))
            expected = P.server_mac(self.authkey, client_nonce, server_nonce)
            import hmac
            if not hmac.compare_digest(expected, bytes(body[:32])):
                raise AuthError("%s could not prove it knows the authkey (its proof does not "
                                "match): it is not the manager you meant, or its key differs"
                                % self.where())
            lease_ms = int.from_bytes(body[32:36], "little")
            sock.settimeout(None)
        except BaseException:
            sock.close()
            raise
        return _Conn(sock, lease_ms, 0, bytes(buf))

    def _read_handshake_frame(self, sock, buf: bytearray, deadline: float):
        while True:
            if len(buf) >= P.HEADER_SIZE:
                body_len, magic, kind, code, _flags, ident = P.HEADER.unpack_from(buf, 0)
                if magic != P.MAGIC:
                    raise ProtocolError("%s sent a frame with a wrong magic (is it a depot "
                                        "manager?)" % self.where())
                if body_len > 1 << 20:
                    raise ProtocolError("%s sent a handshake frame of %d bytes"
                                        % (self.where(), body_len))
                if len(buf) >= P.HEADER_SIZE + body_len:
                    body = bytes(buf[P.HEADER_SIZE:P.HEADER_SIZE + body_len])
                    del buf[:P.HEADER_SIZE + body_len]
                    return kind, code, ident, body
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConnectionError("cannot connect to %s: no answer within the connect "
                                      "timeout (is it a depot manager?)" % self.where())
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                continue
            except OSError as e:
                raise ConnectionError("cannot connect to %s: %s" % (self.where(), e)) from None
            if not chunk:
                raise ConnectionError("cannot connect to %s: it closed the connection during "
                                      "the handshake" % self.where())
            buf += chunk

    def install(self, c: _Conn) -> None:
        """Makes `c` the current connection (mu held)."""
        self.connections += 1
        c.number = self.connections
        self.conn = c
        self.last_send = time.monotonic()
        self.wake.set()  # the keeper picks up the new lease and watches the new socket

    def unreachable(self) -> str:
        s = "%s is unreachable: the connection was lost %.1f s ago" % (
            self.where(), time.monotonic() - self.lost_at)
        if self.lost_reason:
            s += " (%s)" % self.lost_reason
        s += (" and reconnecting did not succeed within this call's time (its timeout, else "
              "reconnect_give_up)")
        s += ("; last attempt: " + self.last_connect_error if self.last_connect_error
              else "; no attempt has finished yet")
        return s

    def ensure_connected(self, give_up: float) -> _Conn:
        with self.mu:
            while True:
                if self.closed:
                    raise ConnectionError("this depot.Client was closed")
                c = self.conn
                if c is not None and not c.dead:
                    return c
                if not self.reconnect:
                    raise ConnectionError("the connection to %s was lost (%s) and reconnecting "
                                          "is off (reconnect=False)"
                                          % (self.where(), self.lost_reason))
                if not self.connecting:
                    break
                left = give_up - time.monotonic()
                if left <= 0:
                    raise ConnectionError(self.unreachable())
                self.mu.wait(left)
            self.connecting = True
        restored = None
        try:
            while True:
                now = time.monotonic()
                if now >= give_up:
                    with self.mu:
                        raise ConnectionError(self.unreachable())
                if now < self.next_attempt:
                    time.sleep(min(self.next_attempt, give_up) - now)
                    continue
                try:
                    c = self.connect_once(min(time.monotonic() + self.connect_timeout,
                                              max(give_up, time.monotonic() + 0.05)))
                except AuthError:
                    raise
                except (ConnectionError, ProtocolError, OSError) as e:
                    with self.mu:
                        self.last_connect_error = str(e)
                        self.next_attempt = time.monotonic() + self.backoff
                        self.backoff = min(self.backoff * 2, self.max_backoff)
                    continue
                with self.mu:
                    if self.closed:
                        c.sock.close()
                        raise ConnectionError("this depot.Client was closed")
                    self.install(c)
                    self.backoff = self.initial_backoff
                    self.next_attempt = 0.0
                    self.last_connect_error = ""
                    restored = "reconnected to %s after %.1f s" % (
                        self.where(), time.monotonic() - self.lost_at)
                    self.notes.append(("restored", restored))
                self.wake.set()
                return c
        finally:
            with self.mu:
                self.connecting = False
                self.mu.notify_all()

    def fail(self, c: _Conn, reason: str) -> None:
        """Connection `c` ended: fail or re-send what was in flight on it."""
        with self.mu:
            if c.dead:
                return
            c.dead = True
            c.reason = reason
            if self.conn is c:
                self.conn = None
                self.lost_at = time.monotonic()
                self.lost_reason = reason
                if not self.closed:
                    self.notes.append(("lost", "lost the connection to %s (%s); the next call "
                                       "reconnects" % (self.where(), reason)))
            pending = list(c.pending.values())
            c.pending.clear()
            for key, (conn, fn) in list(self.watches.items()):
                if conn is c:
                    del self.watches[key]
                    self.notes.append(("call", fn, reason))
            for p in pending:
                if p.reissuable:
                    p.resend = True
                else:
                    p.lost = True
                    p.lost_reason = reason
                    if p.owner:
                        self._put_failed(p, None, "the connection to %s was lost before the "
                                         "manager answered %s (%s); it may or may not have "
                                         "taken effect" % (self.where(), p.what, reason))
                p.done = True
                if p.event is not None:
                    p.event.set()
            c.pipelined.clear()
            c.sleepers.clear()
            self.sub_cond.notify_all()
        try:
            c.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            c.sock.close()
        except OSError:
            pass
        self.wake.set()

    def watch(self, c: _Conn, fn) -> int:
        """Runs fn(reason) on the keeper thread when connection `c` ends (at once if it has).
        Returns a key for unwatch()."""
        key = next(self.watch_ids)
        with self.mu:
            if c.dead:
                self.notes.append(("call", fn, c.reason))
            else:
                self.watches[key] = (c, fn)
        self.wake.set()
        return key

    def unwatch(self, key: int) -> None:
        with self.mu:
            self.watches.pop(key, None)

    # ------------------------------------------------------------ calls

    def call(self, op: int, body, *, deadline: float | None = None, reissuable: bool = False,
             on_ok=None, resend_without_time: bool = True, rebuild=None):
        """Sends one request and waits for its reply: (status, body, conn).

        `body` is the request's bytes, or a function of the wire timeout (ms; None for the
        first send) that builds them. A reissuable wait is sent again after a reconnect with
        the time it has left: its body then comes from `rebuild(ms)` (else from `body(ms)`).
        `deadline` (time.monotonic()) is when the manager will have answered by. Raises
        ConnectionError only, and first, before sending anything, the error of a pipelined put
        of this thread that failed (raise_put_errors)."""
        if self.put_errors_count:
            self.raise_put_errors()
        give_up = None
        first = True
        while True:
            c = self.conn
            if c is None or c.dead or self.closed:
                if give_up is None:
                    give_up = self._give_up(deadline)
                c = self.ensure_connected(give_up)
            if first:
                data = body(None) if callable(body) else body
            else:
                left = P.WAIT_FOREVER if deadline is None else max(
                    0, int((deadline - time.monotonic()) * 1000))
                if left == 0 and not resend_without_time:
                    # A barrier party sent with timeout 0 would break the barrier for the
                    # others: report the timeout instead of sending it.
                    return (P.Status.TIMEOUT,
                            P.s(b"%s timed out while reconnecting to %s"
                                % (P.op_name(op).encode(), self.where().encode())), c)
                fn = rebuild if rebuild is not None else body
                data = fn(left) if callable(fn) else fn
            p = _Pending(reissuable, on_ok,
                         None if deadline is None else deadline + self.reply_grace)
            ident = next(_ids)
            now = time.monotonic()
            with self.lock:
                if c.dead:
                    continue
                # An idle connection: is an end of stream waiting on it? (A manager that
                # stopped or restarted since the last call closed it: found out before
                # sending, so the request is not lost in it.)
                idle_end = (not c.pending and now - self.last_send > IDLE_CHECK_AFTER
                            and self._idle_end(c))
                if not idle_end:
                    c.pending[ident] = p
                    # The reader role at once (one hold of mu), unless a long send could keep
                    # the others' replies unread meanwhile: then _wait takes it after the send.
                    reader = not c.reading and len(data) <= 65536
                    if reader:
                        c.reading = True
            if idle_end:
                self.fail(c, "the manager closed the connection")
                continue
            self._send(c, op, ident, data, now)
            if reader:
                try:
                    self._read_for(c, p)
                finally:
                    self.release_reader(c, p)
            if not p.done:
                self._wait(c, p, deadline)
            if p.resend:
                first = False
                continue
            if p.lost:
                raise ConnectionError("the connection to %s was lost while %s was in flight (%s); "
                                      "it may or may not have taken effect"
                                      % (self.where(), P.op_name(op), p.lost_reason))
            if p.status == P.Status.SHUTTING_DOWN and reissuable and self.reconnect:
                if give_up is None:
                    give_up = self._give_up(deadline)
                if time.monotonic() < give_up:
                    time.sleep(self.initial_backoff)
                    first = False
                    continue
            return p.status, p.body, c

    def call_many(self, reqs, *, deadline: float | None = None) -> list:
        """Sends several requests in one write and waits for all their replies:
        [(status, body)] in the order of `reqs` ((op, body) pairs). The manager runs a
        session's requests in order, so a later request sees what an earlier one did. Raises
        ConnectionError if the connection ends before every reply came (those before it may
        have taken effect); nothing is re-sent."""
        if self.put_errors_count:
            self.raise_put_errors()  # as call(): a failed pipelined put of this thread first
        if not reqs:
            return []
        give_up = self._give_up(deadline)
        while True:
            c = self.ensure_connected(give_up)
            ps = []
            frames = []
            with self.mu:
                if c.dead:
                    continue
                for op, body in reqs:
                    p = _Pending(False, None)
                    ident = next(_ids)
                    c.pending[ident] = p
                    ps.append(p)
                    frames.append(P.frame(P.KIND_REQUEST, op, ident, body))
            try:
                c.send(b"".join(frames))
                self.last_send = time.monotonic()
            except OSError as e:
                self.fail(c, "sending failed: %s" % (e.strerror or e))
            for p in ps:
                self._wait(c, p, deadline)
            for op_body, p in zip(reqs, ps):
                if p.lost or p.resend:
                    raise ConnectionError(
                        "the connection to %s was lost while %d requests were in flight (%s); "
                        "some may have taken effect"
                        % (self.where(), len(reqs), p.lost_reason or c.reason))
            return [(p.status, p.body) for p in ps]


    def _send(self, c: _Conn, op: int, ident: int, body: bytes, now: float,
              hold: bool = False) -> bool:
        """Sends one request frame on `c`, after the held puts; a failed send fails the
        connection (its requests in flight learn it). True when it was sent. `hold` (a
        pipelined put): held back instead, if there is room, for the next send or the
        keeper (which is woken when it was not watching)."""
        frame = _HEADER_PACK(len(body), P.MAGIC, P.KIND_REQUEST, op, 0, ident) + body
        try:
            with c.write_lock:
                out = c.out
                if hold and len(out) + len(frame) <= PUT_HOLD_BYTES:
                    if not out:
                        c.out_since = now
                    out += frame
                    c.held += 1
                    if c.armed:
                        return True
                    c.armed = True
                else:
                    c.write_locked(frame)
                    self.last_send = now
                    return True
        except OSError as e:
            self.fail(c, "sending failed: %s" % (e.strerror or e))
            return False
        self.wake.set()
        return True

    def _give_up(self, deadline: float | None) -> float:
        """When a call stops trying to reconnect: its deadline, at most reconnect_give_up."""
        give_up = time.monotonic() + self.give_up
        return deadline if deadline is not None and deadline < give_up else give_up

    def _idle_end(self, c: _Conn) -> bool:
        """An end of stream waits on idle connection `c` (mu held: the poll object is not for
        concurrent use)."""
        return bool(c.idle_poller.poll(0)) and _peer_closed(c.sock, True)

    # ------------------------------------------------------------ pipelined puts

    def send_pipelined(self, op: int, body: bytes, what: str, name: bytes) -> bool:
        """Sends a request whose reply this thread does not wait for (a pipelined put): True
        once it is sent or held (sent ahead of the next write, or by the keeper once PUT_HOLD
        old: _send's `hold`). Its reply is routed by whoever reads the connection next; an error
        is kept for this thread, and its next call raises it before sending anything
        (raise_put_errors), as do flush() and close(). At most `window` are in flight per
        connection: past that, this waits for the replies of this thread's puts in the older
        half (which keeps a put from running ahead of a manager that cannot keep up). False,
        with nothing sent, when there is no usable connection now: the caller then makes an
        ordinary call (which reconnects, and raises if it cannot)."""
        if self.put_errors_count:
            self.raise_put_errors()
        c = self.conn
        if c is None or c.dead or self.closed:
            return False
        # No limit: its answer may wait unread until this client next reads (a put to an
        # unbounded queue does not park, so its timeout does not delay the answer).
        p = _Pending(False, None, None, _get_ident(), what)
        p.body = name  # for _put_failed
        ident = next(_ids)
        now = time.monotonic()
        with self.lock:
            if c.dead or (not c.pending and now - self.last_send > IDLE_CHECK_AFTER
                          and self._idle_end(c)):
                return False  # the ordinary call finds the end too, and reconnects
            c.pending[ident] = p
            q = c.pipelined
            q.append(p)
            while q[0].done:  # p itself is not done: the loop stops at it at the latest
                q.popleft()
            if len(q) > 2 * self.window:  # another thread's old put is still unanswered
                c.pipelined = q = collections.deque(x for x in q if not x.done)
            older = None
            if len(q) > self.window:
                # This thread's newest put in the older half (each thread waits for its own
                # only: a pending's event has one waiter).
                for i in range(len(q) - 1 - self.window // 2, -1, -1):
                    if q[i].owner == p.owner:
                        older = q[i]
                        break
        if not self._send(c, op, ident, body, now, self.hold):
            self.raise_put_errors()
        if older is not None:
            self._wait(c, older, None)
        return True

    def _put_failed(self, p: _Pending, status, message: str, accepted: int = 0) -> None:
        """Keeps the error of pipelined put `p` for its thread (mu held)."""
        if status is not None:
            message = "%s (%s: it was pipelined, so this later call of the same thread raises " \
                      "its error)" % (message, p.what)
            if isinstance(p.body, bytes):
                self.bounds.pop(p.body, None)  # ask the queue's bound again
        errs = self.put_errors.get(p.owner)
        if errs is None:
            self.put_errors[p.owner] = errs = []
            self.put_errors_count += 1
        errs.append((status, message, accepted))

    def raise_put_errors(self, owner: int = 0) -> None:
        """Raises the error of the first pipelined put of this thread (or `owner`) that
        failed and was not raised yet; the message counts the others, which it clears."""
        owner = owner or _get_ident()
        with self.lock:
            errs = self.put_errors.pop(owner, None)
            if errs:
                self.put_errors_count -= 1
        if not errs:
            return
        status, message, accepted = errs[0]
        if len(errs) > 1:
            message += "; later pipelined puts of this thread that failed too: %d" % (
                len(errs) - 1)
        if status is None:
            raise ConnectionError(message)
        raise error_for_status(status, message, accepted)

    def flush(self) -> None:
        """Waits until the manager has answered every pipelined put of this thread, then
        raises the error of the first one that failed, if any."""
        me = _get_ident()
        c = self.conn
        if c is not None:
            with self.lock:
                mine = [p for p in c.pipelined if p.owner == me and not p.done]
            for p in mine:
                self._wait(c, p, None)
        self.raise_put_errors(me)

    def _wait(self, c: _Conn, p: _Pending, deadline: float | None = None) -> None:
        """Until p is done: as the reader when the role is free, else asleep until the reply
        is routed or the role handed over. A reply later than the request's own timeout plus
        reply_grace fails the connection (a reader blocked in recv is woken by the keeper,
        which checks the limits of the requests in flight)."""
        limit = None if deadline is None else deadline + self.reply_grace
        if c.out:  # a held put of this thread may be what it waits for
            try:
                c.send(b"")
            except OSError as e:
                self.fail(c, "sending failed: %s" % (e.strerror or e))
        while True:
            with self.lock:
                if p.done:
                    return
                reader = not c.reading and not c.dead
                if reader:
                    c.reading = True
                    c.sleepers.discard(p)
                else:
                    if p.event is None:
                        p.event = threading.Event()
                    else:
                        p.event.clear()
                    c.sleepers.add(p)
            if reader:
                try:
                    self._read_for(c, p)
                finally:
                    self.release_reader(c, p)
            else:
                left = None if limit is None else max(0.0, limit - time.monotonic())
                p.event.wait(left)
            if not p.done and limit is not None and time.monotonic() >= limit:
                self.fail(c, "no reply %.0f s after the request's own timeout; the connection "
                          "is taken for dead" % self.reply_grace)

    # ------------------------------------------------------------ the reader role

    def _recv(self, c: _Conn, sock: socket.socket) -> bytes | None:
        """One blocking recv on `c` (the reader role's); None, with `c` failed, when the
        connection ended or the read failed."""
        try:
            chunk = sock.recv(65536)
        except OSError as e:
            self.fail(c, e.strerror or str(e))
            return None
        if not chunk:
            self.fail(c, "the manager closed the connection")
            return None
        return chunk

    def _read_for(self, c: _Conn, p: _Pending) -> None:
        """Holding the reader role of `c`: reads (blocking) and routes frames until p is done
        or the connection ends."""
        sock = c.sock
        try:
            if c.buf:
                self._route(c)
            while not p.done and not c.dead:
                chunk = self._recv(c, sock)
                if chunk is None:
                    return
                self._take(c, chunk)
        except ProtocolError as e:
            self.fail(c, str(e))
        except Exception as e:  # noqa: BLE001 - never leave callers waiting on a dead reader
            self.fail(c, "the client's reader failed: %r" % e)

    def read(self, c: _Conn, done, limit: float | None, tick: float | None = None) -> None:
        """Holding the reader role of `c`: reads and routes frames until done() is true, the
        connection ends or time.monotonic() passes `limit` (None: no limit). With `tick`,
        done() is also checked every `tick` s while nothing arrives (for a done() that another
        thread may make true, as a subscription's close())."""
        sock = c.sock
        try:
            while True:
                self._route(c)
                if done() or c.dead:
                    return
                if limit is not None or tick is not None:
                    left = tick if limit is None else limit - time.monotonic()
                    if left <= 0:
                        return
                    if tick is not None and left > tick:
                        left = tick
                    if not c.poller.poll(max(1, int(left * 1000 + 0.999))):
                        continue
                chunk = self._recv(c, sock)
                if chunk is None:
                    return
                c.buf += chunk
        except ProtocolError as e:
            self.fail(c, str(e))
        except Exception as e:  # noqa: BLE001 - never leave callers waiting on a dead reader
            self.fail(c, "the client's reader failed: %r" % e)

    def _take(self, c: _Conn, chunk: bytes) -> None:
        """Routes the whole frames of what was just received; keeps the rest in c.buf."""
        if c.buf:
            c.buf += chunk
            self._route(c)
            return
        used = self._route_frames(c, chunk)
        if used < len(chunk):
            c.buf += chunk[used:]

    def _route(self, c: _Conn) -> None:
        """Routes every whole frame in c.buf (the reader role's)."""
        used = self._route_frames(c, c.buf)
        if used:
            del c.buf[:used]

    def _route_frames(self, c: _Conn, buf) -> int:
        """Routes every whole frame at the start of `buf`; returns the bytes they took."""
        pos = 0
        n = len(buf)
        unpack = P.HEADER.unpack_from
        mu = self.lock
        copy = bytes if isinstance(buf, bytearray) else None
        while n - pos >= 16:
            body_len, magic, kind, code, _f, ident = unpack(buf, pos)
            if magic != P.MAGIC:
                raise ProtocolError("the manager sent a frame with a wrong magic")
            end = pos + 16 + body_len
            if end > n:
                break
            if not body_len:
                body = b""
            elif copy is None:
                body = buf[pos + 16:end]
            else:
                body = copy(buf[pos + 16:end])
            pos = end
            if kind == P.KIND_REPLY:
                with mu:
                    p = c.pending.pop(ident, None)
                    if p is not None and (code != 0 or p.on_ok is None):
                        p.status = code  # the common case: done in the same hold of mu
                        if p.owner:
                            if code:
                                self._put_failed(p, code, P.error_message(body),
                                                 P.put_many_accepted(body))
                        p.body = body
                        p.conn = c
                        p.done = True
                        if p.event is not None:
                            c.sleepers.discard(p)
                            p.event.set()
                        continue
                if p is None:
                    continue
                p.status = code
                p.body = body
                p.conn = c
                if code == P.Status.OK and p.on_ok is not None:
                    try:
                        p.on_ok(body, c)
                    except Exception:  # noqa: BLE001 - the caller parses again and reports
                        pass
                with mu:
                    p.done = True
                    if p.event is not None:
                        c.sleepers.discard(p)
                        p.event.set()
            elif kind == P.KIND_PUSH:
                self.on_push(c, code, ident, body)
            else:
                raise ProtocolError("the manager sent frame kind %d on an open session" % kind)
        return pos

    def take_reader(self, c: _Conn) -> bool:
        """Takes the reader role of `c` if nobody holds it (mu held)."""
        if c.reading or c.dead:
            return False
        c.reading = True
        return True

    def release_reader(self, c: _Conn, me=None) -> None:
        """Gives the role up and hands it to a thread still waiting on `c`, so replies and
        pushes keep flowing: a caller asleep for its reply, else a subscription's next()."""
        with self.lock:
            c.reading = False
            if c.dead:
                return
            for p in c.sleepers:
                if p is not me and not p.event.is_set():
                    p.event.set()
                    return
            if self.push_waiters:
                self.sub_cond.notify_all()

    def drain(self, c: _Conn) -> None:
        """Reads and routes what has arrived on `c`, without waiting (pushed messages nobody
        was reading; the end of the connection, which fails it). Does nothing if a reader is
        busy on it (it routes them itself)."""
        with self.mu:
            if not self.take_reader(c):
                return
        try:
            while True:
                try:
                    chunk = c.sock.recv(65536, socket.MSG_DONTWAIT)
                except (BlockingIOError, InterruptedError):
                    return  # not the end after all
                except OSError as e:
                    self.fail(c, e.strerror or str(e))
                    return
                if not chunk:
                    self._route(c)
                    self.fail(c, "the manager closed the connection")
                    return
                c.buf += chunk
                self._route(c)
        except ProtocolError as e:
            self.fail(c, str(e))
        except Exception as e:  # noqa: BLE001
            self.fail(c, "the client's reader failed: %r" % e)
        finally:
            self.release_reader(c)

    def wait_call(self, op: int, encode, timeout, on_ok=None, resend_without_time=True):
        """A wait that may be re-sent after a reconnect: encode(timeout_ms) builds its body.
        `timeout` is in seconds (None = forever). Returns (status, body, conn, wire_ms) where
        wire_ms is the timeout first sent (0: did not wait, so it is not re-sent)."""
        first = wire_timeout(timeout)
        deadline = None if first < 0 else time.monotonic() + first / 1000.0
        status, body, conn = self.call(
            op, encode(first), deadline=deadline, reissuable=first != 0, on_ok=on_ok,
            resend_without_time=resend_without_time, rebuild=encode)
        return status, body, conn, first

    def request(self, op: int, body: bytes = b"", **kw) -> bytes:
        """call(), raising the status' exception unless OK; returns the reply body."""
        status, rbody, _ = self.call(op, body, **kw)
        if status != P.Status.OK:
            raise error_for_status(status, P.error_message(rbody))
        return rbody

    def heartbeat_loop(self) -> None:
        hb = P.frame(P.KIND_REQUEST, P.Op.HEARTBEAT, 0)
        check_at = 0.0  # when the requests in flight are next checked against their limits
        hold_wait = PUT_HOLD  # how long the keeper sleeps while puts are held
        while True:
            with self.mu:
                c = self.conn
                todo = list(self.notes)
                self.notes.clear()
                closed = self.closed
            for note in todo:
                self._run_note(note)
            if closed:
                return
            lease = c.lease_ms / 1000.0 if c is not None and c.lease_ms else 10.0
            every = max(lease / 3, 0.005)
            period = min(every, max(self.reply_grace, 0.01)) / 2
            # Asleep until woken, the next heartbeat is due, held puts are due (PUT_HOLD), or
            # the connection ends (POLLRDHUP: its hang-up only; the reader role reads its data).
            if c is None or c.dead:
                timeout = period
            else:
                # Not past the next check (a wake-up in between, for held puts or a note,
                # skips it), so the requests in flight are still checked every `period`.
                timeout = min(period, max(check_at - time.monotonic(), 0.0))
                if c.armed:
                    timeout = min(timeout, hold_wait)
            hup = self.wake.wait(timeout, None if c is None or c.dead else c.sock)
            if c is None or c.dead:
                continue
            if hup:
                self.drain(c)
                if not c.dead:
                    time.sleep(0.001)  # a reader is busy on it and sees the end itself
                continue
            now = time.monotonic()
            if c.armed:
                try:
                    wrote = c.send_held(now)
                    # A write in progress (blocked, when the manager does not read): look
                    # again less and less often, up to 0.1 s, rather than every PUT_HOLD.
                    hold_wait = min(hold_wait * 2, 0.1) if wrote is None else PUT_HOLD
                    if wrote:
                        self.last_send = now
                except OSError as e:
                    self.fail(c, "sending pipelined puts failed: %s" % (e.strerror or e))
                    continue
            if now < check_at:
                continue
            check_at = now + period
            if c.pending and self._overdue(c):
                # The reader waits in a blocking recv: failing the connection wakes it.
                self.fail(c, "no reply %.0f s after the request's own timeout; the connection "
                          "is taken for dead" % self.reply_grace)
                continue
            if time.monotonic() - self.last_send < every:
                continue
            # Never wait for another thread's write: a write in progress keeps the session.
            if c.write_lock.acquire(blocking=False):
                try:
                    c.write_locked(hb)
                    self.last_send = time.monotonic()
                except OSError as e:
                    c.write_lock.release()
                    self.fail(c, "sending a heartbeat failed: %s" % (e.strerror or e))
                    continue
                c.write_lock.release()

    def _overdue(self, c: _Conn) -> bool:
        """A request in flight on `c` is past its limit (its timeout plus reply_grace)."""
        now = time.monotonic()
        with self.mu:
            return any(p.limit is not None and p.limit < now for p in c.pending.values())

    def _run_note(self, note) -> None:
        try:
            if note[0] == "call":
                note[1](note[2])
                return
            kind, line = note
            if self.on_connection is not None:
                self.on_connection(kind, line)
            elif not self.quiet:
                print("depot: " + line, file=sys.stderr, flush=True)
        except Exception as e:  # noqa: BLE001 - a user callback
            print("depot: a connection callback raised %r" % e, file=sys.stderr)

    def close(self, keep: int = 0) -> None:
        """Waits (at most reply_grace) for the replies of the pipelined puts in flight, then
        closes. Their errors stay for thread `keep` (Client.close raises its own); those of
        other threads, which no later call will raise now, are printed on stderr."""
        with self.mu:
            c = self.conn
            flying = [p for p in c.pipelined if not p.done] if c is not None and not c.dead else []
        if flying:
            deadline = time.monotonic()
            for p in flying:
                self._wait(c, p, deadline)
        with self.mu:
            lost = [e for owner, errs in self.put_errors.items() if owner != keep for e in errs]
            for owner in [o for o in self.put_errors if o != keep]:
                del self.put_errors[owner]
                self.put_errors_count -= 1
        for _, message, _ in lost:
            print("depot: a pipelined put failed and no later call of its thread raised the "
                  "error: " + message, file=sys.stderr)
        with self.mu:
            if self.closed:
                return
            self.closed = True
            c = self.conn
            for st in self.subs.values():
                st.closed = True
            self.sub_cond.notify_all()
            self.mu.notify_all()
        if c is not None:
            self.fail(c, "the client was closed")
        self.wake.set()

    # ------------------------------------------------------------ pushes

    def on_push(self, c: _Conn, code: int, ident: int, body: bytes) -> None:
        if code != P.PUSH_MESSAGE:
            return  # unknown push types are skipped, as docs/protocol.md asks
        r = P.Reader(body)
        try:
            topic = r.str()
            dropped = r.u64()
            payload = r.str()
        except P.MalformedReply:
            return
        with self.mu:
            st = self.subs.get(ident)
            if st is None or st.conn is not c or st.closed:
                return
            st.manager_dropped = dropped
            if len(st.messages) >= st.buffer:
                if st.policy == 1:  # drop newest
                    st.local_dropped += 1
                    return
                st.messages.popleft()  # drop oldest (also for 'disconnect', as the C++ client)
                st.local_dropped += 1
            st.messages.append((topic, payload, dropped))
            self.sub_cond.notify_all()


def _peer_closed(sock: socket.socket, readable: bool = False) -> bool:
    """True when an end of stream (or a reset) is waiting on the socket; never blocks.
    `readable`: a poll already said something is waiting."""
    try:
        if not readable:
            r, _, _ = select.select([sock], [], [], 0)
            if not r:
                return False
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except (OSError, ValueError):
        return True


class _Waker:
    """What the keeper sleeps on: set() from any thread wakes it (a pipe, so that one poll
    also watches the connection for its end)."""

    def __init__(self):
        self.r, self.w = os.pipe()
        os.set_blocking(self.r, False)
        os.set_blocking(self.w, False)
        self.lock = threading.Lock()
        self.closed = False

    def set(self) -> None:
        with self.lock:
            if self.closed:
                return
            try:
                os.write(self.w, b"x")
            except OSError:
                pass  # already pending

    def wait(self, timeout: float, sock=None) -> bool:
        """Sleeps up to `timeout` s or until set(); True if `sock` hung up meanwhile."""
        p = select.poll()
        p.register(self.r, select.POLLIN)
        fd = -1
        if sock is not None:
            try:
                fd = sock.fileno()
            except OSError:
                fd = -1
            if fd >= 0:
                p.register(fd, select.POLLRDHUP)
        try:
            events = p.poll(max(1, int(timeout * 1000)))
        except OSError:
            events = []
        hup = False
        for f, ev in events:
            if f == self.r:
                try:
                    while os.read(self.r, 4096):
                        pass
                except (BlockingIOError, OSError):
                    pass
            elif f == fd and ev & (select.POLLRDHUP | select.POLLHUP | select.POLLERR):
                hup = True
        return hup

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            for fd in (self.r, self.w):
                try:
                    os.close(fd)
                except OSError:
                    pass


def _keeper(core_ref) -> None:
    core = core_ref
    try:
        core.heartbeat_loop()
    finally:
        core.wake.close()



def lease_hold_body(name: str, patterns, grace: float, fence: float) -> bytes:
    """LEASE_HOLD's body (docs/protocol.md); grace and fence in seconds (the manager checks
    their ranges, and the patterns)."""
    def ms(seconds: float, what: str) -> int:
        if not 0 <= seconds <= 0xFFFFFFFF / 1000:
            raise ValueError("a lease's %s is 0 to 4294967 seconds, got %r" % (what, seconds))
        return int(round(seconds * 1000))
    if not 0 < len(patterns) < 0x10000:
        raise ValueError("a lease names 1 to 5 patterns, got %d" % len(patterns))
    return (P.s(name_bytes(name)) + P.u32(ms(grace, "grace")) + P.u32(ms(fence, "fence")) +
            P.u16(len(patterns)) + b"".join(P.s(name_bytes(p)) for p in patterns))

class Client:
    """A connection to a depot manager. See the module docstring.

    Parameters: `address` ("host:port" or (host, port)); `authkey` (bytes or str; default:
    the DEPOT_AUTHKEY environment variable); `codec`: the default codec of the handles this
    client makes (default depot.codecs.BYTES: gets return bytes); `connect_timeout` (s, per
    attempt); `reconnect`, `reconnect_initial_backoff`, `reconnect_max_backoff`,
    `reconnect_give_up` (s); `reply_grace` (s: a reply not seen this long after a request's
    own timeout means the connection is dead); `on_connection(kind, line)` (kind "lost" or
    "restored"; runs on the keeper thread; default: the line goes to stderr unless `quiet`);
    `user` (with a manager that has an ACL file; default DEPOT_USER, else the default user);
    `name`: the client's name shown in LIST (a lock's holder), the admin API and the manager's
    log lines (1 to 64 printable ASCII bytes, no spaces; default: program name and pid);
    `pipeline_puts` (default False: every put waits for the manager's answer, so a put that
    returned is acknowledged, and with a data directory on disk): True makes a plain put or
    put_many to a queue this client knows to be unbounded return once it is written, a
    failure being raised by the thread's next call (Queue.put says when); for throughput where
    a later error is acceptable. "hold" pipelines them too, and holds each in the client until
    its next request (one write for both) or about 2 ms (the keeper thread writes it then):
    faster still, but a process that ends without close() or flush() (os._exit, a kill)
    loses the puts held at that moment, and the keeper's write waits while other threads keep
    the GIL or a callback runs on the keeper (python/README.md).
    """

    def __init__(self, address="127.0.0.1:5000", authkey=None, *, codec=None,
                 connect_timeout: float = 5.0, reconnect: bool = True,
                 reconnect_initial_backoff: float = 0.05, reconnect_max_backoff: float = 2.0,
                 reconnect_give_up: float = 60.0, reply_grace: float = 10.0,
                 on_connection: Callable[[str, str], None] | None = None, quiet: bool = False,
                 user: str | None = None, name: str | None = None,
                 pipeline_puts: bool | str = False):
        if pipeline_puts not in (False, True, "hold"):
            raise ValueError("pipeline_puts=%r: use False (every put waits for its answer), "
                             "True (puts return once written) or \"hold\" (puts are held for "
                             "the next request)" % (pipeline_puts,))
        host, port = parse_address(address)
        key = _authkey_bytes(authkey)
        user = user if user is not None else os.environ.get("DEPOT_USER", "")
        if name is None:
            name = _default_client_name()
        elif P.check_client_name(name):
            raise ValueError("client name %r: %s; choose another name"
                             % (name, P.check_client_name(name)))
        self.codec = _codecs.resolve(codec)
        core = _Core(host, port, key, dict(
            connect_timeout=connect_timeout, reconnect=reconnect,
            reconnect_initial_backoff=reconnect_initial_backoff,
            reconnect_max_backoff=reconnect_max_backoff, reconnect_give_up=reconnect_give_up,
            reply_grace=reply_grace, on_connection=on_connection, quiet=quiet, user=user,
            name=name, pipeline_puts=pipeline_puts))
        c = core.connect_once(time.monotonic() + connect_timeout)
        with core.mu:
            core.install(c)
        core.keeper = threading.Thread(target=_keeper, args=(core,), daemon=True,
                                       name="depot-keeper-%s" % core.address)
        core.keeper.start()
        self._core = core
        self._finalizer = weakref.finalize(self, core.close)

    # ------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Closes the connection; what this session held (locks, leases, reservations,
        subscriptions) is released by the manager. Calls after close raise ConnectionError.
        Pipelined puts still in flight are waited for first, and the error of one of this
        thread's that failed is raised (after closing)."""
        if self._finalizer.detach() is not None:
            self._core.close(keep=_get_ident())
        self._core.raise_put_errors()

    def flush(self) -> None:
        """Waits until the manager has answered every pipelined put of this thread (see
        Queue.put) and raises the error of the first one that failed, if one did."""
        self._core.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def address(self) -> str:
        return self._core.address

    @property
    def name(self) -> str:
        """The name this client gives the manager (shown in LIST, the admin API, logs)."""
        return self._core.name

    @property
    def connections(self) -> int:
        """Connections made so far (1 + reconnects)."""
        return self._core.connections

    @property
    def connected(self) -> bool:
        c = self._core.conn
        return c is not None and not c.dead

    @property
    def session_lease(self) -> float:
        """The manager's session lease (seconds) from the current connection's AUTH_OK."""
        c = self._core.conn
        return c.lease_ms / 1000.0 if c is not None else 0.0

    def __repr__(self) -> str:
        return "<depot.Client %s%s>" % (self.address, "" if self.connected else " (disconnected)")

    # ------------------------------------------------------------ handles

    def queue(self, name: str, *, maxsize: int | None = None, codec=None):
        """A handle on a queue (no round trip: queues are created on first use). With
        `maxsize`, declares the queue with that bound (one round trip; ProtocolError if it
        exists with another one; 0 = unbounded)."""
        from .queues import Queue
        q = Queue(self, name, codec=codec)
        if maxsize is not None:
            q.declare(maxsize)
        return q

    def lock(self, name: str, *, ttl: float | None = None):
        from .coord import Lock
        return Lock(self, name, reentrant=False, ttl=ttl)

    def rlock(self, name: str, *, ttl: float | None = None):
        from .coord import Lock
        return Lock(self, name, reentrant=True, ttl=ttl)

    def semaphore(self, name: str, value: int = 1):
        from .coord import Semaphore
        return Semaphore(self, name, value)

    def event(self, name: str):
        from .coord import Event
        return Event(self, name)

    def barrier(self, name: str, parties: int):
        from .coord import Barrier
        return Barrier(self, name, parties)

    def counter(self, name: str):
        from .coord import Counter
        return Counter(self, name)

    def variable(self, name: str, *, codec=None):
        from .coord import Variable
        return Variable(self, name, codec=codec)

    def topic(self, name: str, *, codec=None):
        from .coord import Topic
        return Topic(self, name, codec=codec)

    def subscribe(self, pattern: str, callback=None, *, codec=None, buffer: int = 1024,
                  policy: str = "drop_oldest"):
        """A subscription to a topic or a glob pattern ("sensors.*"): see Topic.subscribe."""
        from .coord import Subscription
        return Subscription(self, pattern, codec=codec, buffer=buffer, policy=policy,
                            callback=callback)

    def publish(self, topic: str, value, *, codec=None) -> int:
        return self.topic(topic, codec=codec).publish(value)

    # ------------------------------------------------------------ admin

    def ping(self, payload: bytes = b"ping") -> float:
        """Round trip to the manager; returns the time it took in seconds."""
        t0 = time.monotonic()
        body = self._core.request(P.Op.PING, bytes(payload))
        if body != bytes(payload):
            raise ProtocolError("the manager echoed %d bytes for a PING of %d"
                                % (len(body), len(payload)))
        return time.monotonic() - t0

    def stats(self) -> dict:
        """The manager's counters (docs/protocol.md STATS), as a dict."""
        r = P.Reader(self._core.request(P.Op.STATS))
        text = _parse(r, lambda: r.str(), P.Op.STATS)
        return json.loads(text)

    def inspect(self, section: str) -> dict:
        """Who holds what (docs/protocol.md INSPECT): one section of "objects", "sessions",
        "locks", "queues", "pools", as a dict. Needs admin on every name."""
        r = P.Reader(self._core.request(P.Op.INSPECT, P.s(section.encode())))
        text = _parse(r, lambda: r.str(), P.Op.INSPECT)
        return json.loads(text)

    def list(self) -> list[ObjectInfo]:
        """Every object (and topic with subscribers) with its type, size and state."""
        r = P.Reader(self._core.request(P.Op.LIST))

        def parse():
            out = []
            for _ in range(r.u32()):
                name = r.str().decode("utf-8", "replace")
                typ = r.str().decode("utf-8", "replace")
                size = r.u64()
                state = r.str().decode("utf-8", "replace")
                out.append(ObjectInfo(name, typ, size, state))
            return out
        return _parse(r, parse, P.Op.LIST)

    def remove(self, name: str) -> str:
        """Deletes any object by name (parked requests on it get NotFoundError); returns
        its type. NotFoundError if nothing has this name."""
        r = P.Reader(self._core.request(P.Op.DELETE, P.s(name_bytes(name))))
        return _parse(r, lambda: r.str().decode(), P.Op.DELETE)

    LEASE_FOUND = ("created", "held", "orphaned", "expired")

    def hold_lease(self, name: str, patterns, *, grace: float = 30.0,
                   fence: float = 3600.0) -> str:
        """Holds lease `name` for this connection's session (docs/protocol.md LEASE_HOLD):
        once the session ends and `grace` seconds pass without another hold, the manager
        deletes every object the patterns match (names, or "PREFIX*"; 1 to 5), and refuses
        to create one for `fence` seconds after. Hold it again after a reconnect, within the
        grace, to keep them. Returns what it found: "created", "held" (this session held it
        already), "orphaned" (its session had ended, nothing was deleted) or "expired" (what
        it owned was deleted). NotOwnerError while another session holds it."""
        r = P.Reader(self._core.request(P.Op.LEASE_HOLD,
                                        lease_hold_body(name, patterns, grace, fence)))
        found = _parse(r, lambda: r.u8(), P.Op.LEASE_HOLD)
        return self.LEASE_FOUND[found] if found < len(self.LEASE_FOUND) else "created"

    def call_many(self, requests, timeout=None) -> list:
        """Sends several raw requests ((op, body) pairs) in one write and returns their
        [(status, body)] in order, whatever the statuses: one round trip for all (the
        executor's results, notifications and acks). Raises ConnectionError only (then the
        requests before the loss may have taken effect)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        return self._core.call_many([(op, bytes(b)) for op, b in requests], deadline=deadline)

    def call(self, op: int, body: bytes = b"", timeout=None):
        """Sends one raw request (docs/protocol.md) and returns (status, body) whatever the
        status. Raises ConnectionError only."""
        deadline = None if timeout is None else time.monotonic() + timeout
        status, rbody, _ = self._core.call(op, bytes(body), deadline=deadline)
        return status, rbody


def name_bytes(name) -> bytes:
    if isinstance(name, bytes):
        return name
    if isinstance(name, str):
        return name.encode("utf-8")
    raise TypeError("a name is a str, not %s" % type(name).__name__)


def _parse(r: P.Reader, fn, op: int):
    """Runs a reply parser and checks the body was consumed exactly."""
    try:
        v = fn()
        r.end()
        return v
    except (P.MalformedReply, UnicodeDecodeError) as e:
        raise ProtocolError("malformed %s reply from the manager (%s): it does not have the "
                            "layout of docs/protocol.md (a manager of another depot version?)"
                            % (P.op_name(op), e)) from None


parse_reply = _parse
