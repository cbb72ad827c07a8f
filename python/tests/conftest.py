"""Fixtures: every test starts its own depot-manager on port 0 with a random authkey.

The manager program comes from DEPOT_MANAGER (ctest passes the one it built), else the
build/bin/depot-manager of this checkout, else PATH.
"""
import os
import shutil
import socket
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PYROOT = os.path.dirname(HERE)
REPO = os.path.dirname(PYROOT)
sys.path.insert(0, PYROOT)

from depot.managers import ManagerProcess  # noqa: E402


def manager_program():
    p = os.environ.get("DEPOT_MANAGER")
    if p:
        return p
    local = os.path.join(REPO, "build", "bin", "depot-manager")
    if os.access(local, os.X_OK):
        return local
    return shutil.which("depot-manager")


PROGRAM = manager_program()
if PROGRAM:
    os.environ["DEPOT_MANAGER"] = PROGRAM


def pytest_collection_modifyitems(config, items):
    if PROGRAM:
        return
    skip = pytest.mark.skip(reason="no depot-manager: set DEPOT_MANAGER or build it")
    for item in items:
        if {"manager", "make_manager", "client"} & set(item.fixturenames):
            item.add_marker(skip)


def wait_until(pred, timeout=10.0, what="condition"):
    """Polls pred() until true; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(0.01)


def fake_manager(key, session, auth_ok=None, version=2):
    """A listener that does a manager's side of the handshake with authkey `key` for one
    client (a HELLO of protocol `version`, zero nonce, a 10 s lease), then runs
    session(conn, buf) on the connection (`buf`: what was received after the AUTH frame).
    auth_ok(client_nonce) makes the AUTH_OK frame instead (an impostor's). A client that
    sends no AUTH (it refused the HELLO) ends the session. Returns the listening socket;
    close it after."""
    from depot import protocol as P
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve():
        conn, _ = srv.accept()
        with conn:
            conn.sendall(P.frame(P.KIND_HELLO, 0, 0, P.u32(P.HELLO_MAGIC)
                                 + bytes([version]) + b"\x00\x20\x00" + bytes(32)))
            data = b""
            while len(data) < 16 or len(data) < 16 + P.HEADER.unpack_from(data)[0]:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            end = 16 + P.HEADER.unpack_from(data)[0]
            client_nonce = data[end - 32:end]
            if auth_ok is not None:
                conn.sendall(auth_ok(client_nonce))
            else:
                conn.sendall(P.frame(P.KIND_AUTH_OK, 0, 0,
                                     P.server_mac(key, client_nonce, bytes(32)) + P.u32(10000)))
            session(conn, data[end:])
    import threading
    threading.Thread(target=serve, daemon=True).start()
    return srv


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Manager:
    """A depot-manager for one test; restart() brings it back on the same port."""

    def __init__(self, args=()):
        self.key = os.urandom(12).hex().encode()
        self.args = list(args)
        self.proc = ManagerProcess("127.0.0.1:0", self.key, args=self.args, program=PROGRAM)
        self.address = "127.0.0.1:%d" % self.proc.address[1]
        self.port = self.proc.address[1]

    def client(self, **kw):
        import depot
        kw.setdefault("quiet", True)
        return depot.Client(self.address, authkey=self.key, **kw)

    def kill(self):
        self.proc.kill()

    def stop(self):
        self.proc.stop()

    def restart(self, timeout=20.0):
        """Starts a manager again on the same port (retrying while the port is not free)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.proc = ManagerProcess(self.address, self.key, args=self.args,
                                           program=PROGRAM)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


@pytest.fixture
def manager():
    m = Manager()
    yield m
    m.stop()


@pytest.fixture
def make_manager():
    made = []

    def make(args=()):
        m = Manager(args)
        made.append(m)
        return m
    yield make
    for m in made:
        m.stop()


@pytest.fixture
def client(manager):
    c = manager.client()
    yield c
    c.close()
