"""The wire encoding against the worked examples of docs/protocol.md (no manager needed)."""
import os
import re

from depot import protocol as P
from depot.client import lease_hold_body
from depot.errors import (AuthError, BrokenError, ConnectionError, EmptyError, Error, FullError,
                          InternalError, LimitError, NotFoundError, NotOwnerError, ProtocolError,
                          TimeoutError, UnavailableError, WrongTypeError, error_for_status,
                          DeniedError)

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "protocol.md")


def doc_example(title):
    """The bytes of the hex block under <!-- frame: title --> or <!-- bytes: title -->."""
    text = open(DOC, encoding="utf-8").read()
    m = re.search(r"<!-- (?:frame|bytes): %s -->\n```hex\n(.*?)```" % re.escape(title), text, re.S)
    assert m, title
    out = bytearray()
    for line in m.group(1).splitlines():
        out += bytes.fromhex(line.split("#", 1)[0])
    return bytes(out)


SERVER_NONCE = bytes(range(0, 32))
CLIENT_NONCE = bytes(range(32, 64))


def test_handshake_worked_example():
    hello = doc_example("HELLO")
    assert P.HEADER.unpack_from(hello)[2] == P.KIND_HELLO
    assert P.parse_hello(hello[16:]) == SERVER_NONCE
    assert P.client_mac(b"abc", SERVER_NONCE) == doc_example("client_mac")
    assert P.client_mac(b"abc", SERVER_NONCE, b"alice") == doc_example("client_mac version 3")
    auth = P.frame(P.KIND_AUTH, 0, 0, P.auth_body(b"abc", SERVER_NONCE, CLIENT_NONCE, "alice",
                                                  "worker-7"))
    assert auth == doc_example("AUTH version 4")
    auth = P.frame(P.KIND_AUTH, 0, 0, P.auth_body(b"abc", SERVER_NONCE, CLIENT_NONCE, "",
                                                  "worker-7"))
    assert auth == doc_example("AUTH version 4 default user")
    assert P.server_mac(b"abc", CLIENT_NONCE, SERVER_NONCE) == doc_example("server_mac")
    auth_ok = doc_example("AUTH_OK")
    assert auth_ok[16:48] == doc_example("server_mac")
    assert int.from_bytes(auth_ok[48:52], "little") == 10000


def test_client_names_follow_the_documented_rule():
    assert P.check_client_name("worker-7") == ""
    assert "empty" in P.check_client_name("")
    assert "printable ASCII" in P.check_client_name("has space")
    assert "at most 64 bytes" in P.check_client_name("n" * 65)


def test_request_frames_match_the_document():
    s = P.s(b"tasks")
    assert P.frame(P.KIND_REQUEST, P.Op.QUEUE_PUT, 5, s + P.i64(-1) + P.s(b"job-1")) == \
        doc_example("QUEUE_PUT request")
    assert P.frame(P.KIND_REQUEST, P.Op.QUEUE_GET_MANY, 8, s + P.u32(10) + P.i64(0)) == \
        doc_example("QUEUE_GET_MANY request")
    body = s + P.i64(-1) + P.i32(-1) + P.u64(0) + P.s(b"order-17") + P.s(b"job-2")
    assert P.frame(P.KIND_REQUEST, P.Op.QUEUE_PUT_EX, 32, body) == doc_example("QUEUE_PUT_EX request")
    body = P.s(b"db") + P.u8(0) + P.u64(1) + P.i64(5000) + P.i64(30000)
    assert P.frame(P.KIND_REQUEST, P.Op.LOCK_ACQUIRE, 14, body) == doc_example("LOCK_ACQUIRE request")
    assert P.frame(P.KIND_REQUEST, P.Op.HEARTBEAT, 0) == doc_example("HEARTBEAT request")
    body = P.s(b"sensors.*") + P.u32(0) + P.u8(0)
    assert P.frame(P.KIND_REQUEST, P.Op.SUBSCRIBE, 28, body) == doc_example("SUBSCRIBE request")
    body = lease_hold_body("job.lease", ["job.marker", "job.r.*"], 30.0, 3600.0)
    assert P.frame(P.KIND_REQUEST, P.Op.LEASE_HOLD, 50, body) == doc_example("LEASE_HOLD request")


def test_error_bodies_are_read_as_documented():
    full = doc_example("QUEUE_PUT_MANY reply FULL")[16:]
    assert P.error_message(full).startswith("queue 'tasks' is full (maxsize 2); 2 of 3")
    assert P.put_many_accepted(full) == 2
    nf = doc_example("DELETE reply NOT_FOUND")[16:]
    assert P.error_message(nf) == "no object named 'tasks'; nothing to delete"
    assert P.put_many_accepted(nf) == 0


def test_status_mapping_mirrors_throw_status():
    expected = {
        P.Status.TIMEOUT: TimeoutError, P.Status.EMPTY: EmptyError, P.Status.FULL: FullError,
        P.Status.NOT_FOUND: NotFoundError, P.Status.WRONG_TYPE: WrongTypeError,
        P.Status.BAD_REQUEST: ProtocolError, P.Status.TOO_LARGE: ProtocolError,
        P.Status.AUTH_FAILED: AuthError, P.Status.SHUTTING_DOWN: ConnectionError,
        P.Status.LIMIT: LimitError, P.Status.NOT_OWNER: NotOwnerError,
        P.Status.BROKEN: BrokenError, P.Status.INTERNAL: InternalError,
        P.Status.UNAVAILABLE: UnavailableError, P.Status.DENIED: DeniedError,
    }
    for status, cls in expected.items():
        e = error_for_status(status, "the manager's words")
        assert type(e) is cls, status
        assert isinstance(e, Error)
        assert str(e) == "the manager's words"
        assert e.status == status
    e = error_for_status(200, "what")
    assert isinstance(e, InternalError) and "status 200" in str(e)
    assert error_for_status(P.Status.FULL, "m", 3).accepted == 3


def test_standard_library_bases():
    import builtins
    import multiprocessing
    import queue
    import threading
    assert issubclass(EmptyError, queue.Empty)
    assert issubclass(FullError, queue.Full)
    from depot import QueueTimeoutError
    assert issubclass(QueueTimeoutError, queue.Empty) and issubclass(QueueTimeoutError, TimeoutError)
    assert issubclass(TimeoutError, builtins.TimeoutError)
    assert issubclass(ConnectionError, builtins.ConnectionError)
    assert issubclass(BrokenError, threading.BrokenBarrierError)
    assert issubclass(AuthError, multiprocessing.AuthenticationError)


def test_parse_address():
    from depot import parse_address
    assert parse_address(("127.0.0.1", 5000)) == ("127.0.0.1", 5000)
    assert parse_address("127.0.0.1:5000") == ("127.0.0.1", 5000)
    assert parse_address(":5000") == ("", 5000)
    assert parse_address("5000") == ("", 5000)
    assert parse_address("[::1]:5000") == ("::1", 5000)
    for bad in ("host:", "host:port", "1.2.3.4:70000"):
        try:
            parse_address(bad)
        except ValueError:
            continue
        raise AssertionError(bad)
