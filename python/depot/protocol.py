"""The depot wire protocol, version 4 (docs/protocol.md): frames, opcodes, statuses, the
handshake's proofs, and the little-endian field encoders the request bodies are made of.

Nothing here does I/O; depot.client owns the socket.
"""
from __future__ import annotations

import hashlib
import hmac
import struct

VERSION = 2  # HELLO's version: the oldest AUTH the manager accepts
AUTH_VERSION = 4  # the AUTH this client sends: user and client name
MAX_CLIENT_NAME = 64
MAGIC = 0xD7
HELLO_MAGIC = 0x544F5044  # "DPOT"
NONCE_LEN = 32
HEADER = struct.Struct("<IBBBBQ")  # body_len, magic, kind, code, flags, id
HEADER_SIZE = HEADER.size  # 16

# Frame kinds.
KIND_HELLO = 1
KIND_AUTH = 2
KIND_AUTH_OK = 3
KIND_REQUEST = 4
KIND_REPLY = 5
KIND_PUSH = 6

PUSH_MESSAGE = 1


class Op:
    PING = 0x01
    STATS = 0x02
    LIST = 0x03
    HEARTBEAT = 0x04
    DELETE = 0x05
    INSPECT = 0x06
    QUEUE_DECLARE = 0x10
    QUEUE_PUT = 0x11
    QUEUE_GET = 0x12
    QUEUE_PUT_MANY = 0x13
    QUEUE_GET_MANY = 0x14
    QUEUE_SIZE = 0x15
    QUEUE_DELETE = 0x16
    QUEUE_CONFIGURE = 0x17
    QUEUE_PUT_EX = 0x18
    QUEUE_RESERVE = 0x19
    QUEUE_ACK = 0x1A
    QUEUE_NACK = 0x1B
    QUEUE_TOUCH = 0x1C
    LOCK_ACQUIRE = 0x20
    LOCK_RELEASE = 0x21
    SEM_ACQUIRE = 0x22
    SEM_RELEASE = 0x23
    EVENT_SET = 0x24
    EVENT_CLEAR = 0x25
    EVENT_WAIT = 0x26
    BARRIER_WAIT = 0x27
    BARRIER_RESET = 0x28
    VAR_SET = 0x29
    VAR_GET = 0x2A
    VAR_CAS = 0x2B
    VAR_WAIT = 0x2C
    VAR_DELETE = 0x2D
    COUNTER_ADD = 0x2E
    LEASE_HOLD = 0x2F
    PUBLISH = 0x30
    SUBSCRIBE = 0x31
    UNSUBSCRIBE = 0x32


OP_NAMES = {v: k for k, v in vars(Op).items() if not k.startswith("_")}


class Status:
    OK = 0
    TIMEOUT = 1
    EMPTY = 2
    FULL = 3
    NOT_FOUND = 4
    WRONG_TYPE = 5
    BAD_REQUEST = 6
    TOO_LARGE = 7
    AUTH_FAILED = 8
    SHUTTING_DOWN = 9
    INTERNAL = 10
    LIMIT = 11
    NOT_OWNER = 12
    BROKEN = 13
    UNAVAILABLE = 14
    DENIED = 15


STATUS_NAMES = {v: k for k, v in vars(Status).items() if not k.startswith("_")}


def status_name(code: int) -> str:
    return STATUS_NAMES.get(code, "status %d" % code)


def op_name(code: int) -> str:
    return OP_NAMES.get(code, "opcode 0x%02x" % code)


# Timeouts on the wire: i64 milliseconds, -1 forever, 0 no wait.
WAIT_FOREVER = -1
NO_WAIT = 0


def frame(kind: int, code: int, ident: int, body: bytes = b"") -> bytes:
    return HEADER.pack(len(body), MAGIC, kind, code, 0, ident) + body


# ---------------------------------------------------------------- field encoders

_u8 = struct.Struct("<B")
_u16 = struct.Struct("<H")
_u32 = struct.Struct("<I")
_u64 = struct.Struct("<Q")
_i32 = struct.Struct("<i")
_i64 = struct.Struct("<q")


def u8(v: int) -> bytes:
    return _u8.pack(v)


def u16(v: int) -> bytes:
    return _u16.pack(v)


def u32(v: int) -> bytes:
    return _u32.pack(v)


def u64(v: int) -> bytes:
    return _u64.pack(v)


def i32(v: int) -> bytes:
    return _i32.pack(v)


def i64(v: int) -> bytes:
    return _i64.pack(v)


def s(v: bytes) -> bytes:
    """A `str` field: u32 length, then the bytes."""
    return _u32.pack(len(v)) + v


class MalformedReply(Exception):
    """A reply body that does not have the layout docs/protocol.md gives it."""


class Reader:
    """Reads fields off a reply body, exactly as laid out."""

    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes):
        self.buf = buf
        self.pos = 0

    def _take(self, st: struct.Struct) -> int:
        end = self.pos + st.size
        if end > len(self.buf):
            raise MalformedReply("body ends inside a field")
        (v,) = st.unpack_from(self.buf, self.pos)
        self.pos = end
        return v

    def u8(self) -> int:
        return self._take(_u8)

    def u32(self) -> int:
        return self._take(_u32)

    def u64(self) -> int:
        return self._take(_u64)

    def i64(self) -> int:
        return self._take(_i64)

    def str(self) -> bytes:
        n = self.u32()
        end = self.pos + n
        if end > len(self.buf):
            raise MalformedReply("a str runs past the end of the body")
        v = self.buf[self.pos:end]
        self.pos = end
        return bytes(v)

    def strs(self) -> list:
        """A u32 count, then that many `str` fields (QUEUE_GET_MANY's items): one loop."""
        n = self.u32()
        buf = self.buf
        if not isinstance(buf, bytes):
            buf = bytes(buf)
        pos = self.pos
        size = len(buf)
        unpack = _u32.unpack_from
        out = []
        append = out.append
        for _ in range(n):
            if pos + 4 > size:
                raise MalformedReply("body ends inside a field")
            (k,) = unpack(buf, pos)
            pos += 4
            end = pos + k
            if end > size:
                raise MalformedReply("a str runs past the end of the body")
            append(buf[pos:end])
            pos = end
        self.pos = pos
        return out

    def remaining(self) -> int:
        return len(self.buf) - self.pos

    def end(self) -> None:
        if self.pos != len(self.buf):
            raise MalformedReply("%d unexpected bytes after the fields" % (len(self.buf) - self.pos))


def error_message(body: bytes) -> str:
    """The `str message` at the start of an error reply's body (lenient: a body too short
    to hold one gives what it has)."""
    if len(body) < 4:
        return ""
    (n,) = _u32.unpack_from(body, 0)
    return body[4:4 + n].decode("utf-8", "replace")


def put_many_accepted(body: bytes) -> int:
    """QUEUE_PUT_MANY's optional `u32 accepted` tail after the message (0 when absent)."""
    if len(body) < 4:
        return 0
    (n,) = _u32.unpack_from(body, 0)
    rest = body[4 + n:]
    if len(rest) >= 4:
        return _u32.unpack_from(rest, 0)[0]
    return 0


# ---------------------------------------------------------------- handshake

CLIENT_LABEL = b"depot-client"
SERVER_LABEL = b"depot-server"


def client_mac(authkey: bytes, server_nonce: bytes, user: bytes = b"") -> bytes:
    return hmac.new(authkey, CLIENT_LABEL + server_nonce + user, hashlib.sha256).digest()


def server_mac(authkey: bytes, client_nonce: bytes, server_nonce: bytes) -> bytes:
    return hmac.new(authkey, SERVER_LABEL + client_nonce + server_nonce, hashlib.sha256).digest()


def parse_hello(body: bytes) -> bytes:
    """Checks a HELLO body; returns the server nonce. Raises ValueError saying what is wrong."""
    if len(body) != 8 + NONCE_LEN:
        raise ValueError("sent a HELLO of %d bytes, not 40 (is it a depot manager?)" % len(body))
    magic, version, nonce_len = struct.unpack_from("<IHH", body, 0)
    if magic != HELLO_MAGIC:
        raise ValueError("sent a HELLO with a wrong magic (is it a depot manager?)")
    if version != VERSION:
        raise ValueError(
            "speaks protocol version %d; this client speaks version %d (upgrade the older side)"
            % (version, VERSION))
    if nonce_len != NONCE_LEN:
        raise ValueError("sent a HELLO with a nonce of %d bytes, not 32" % nonce_len)
    return bytes(body[8:8 + NONCE_LEN])


def check_client_name(name: str) -> str:
    """Empty when `name` is a valid client name (1 to 64 bytes 0x21..0x7e), else why not."""
    raw = name.encode("utf-8", "replace")
    if not raw:
        return "a client name cannot be empty"
    if len(raw) > MAX_CLIENT_NAME:
        return "a client name has at most %d bytes, not %d" % (MAX_CLIENT_NAME, len(raw))
    if any(b < 0x21 or b > 0x7E for b in raw):
        return ("a client name has printable ASCII bytes only (0x21 to 0x7e: no spaces or "
                "control bytes)")
    return ""


def auth_body(authkey: bytes, server_nonce: bytes, client_nonce: bytes, user: str = "",
              name: str = "") -> bytes:
    """The AUTH body, version 4: user (empty: the default user) and the client's name."""
    u = user.encode()
    return (_u16.pack(AUTH_VERSION) + s(u) + s(name.encode())
            + client_mac(authkey, server_nonce, u) + client_nonce)
