"""A drop-in for ``multiprocessing.managers.BaseManager`` whose objects live in a depot manager.

Change one line of a program written for multiprocessing:

    from depot.managers import BaseManager        # was: from multiprocessing.managers import ...

    class QueueManager(BaseManager):
        pass

    task_queue = queue.Queue()
    QueueManager.register('get_task_queue', callable=lambda: task_queue)
    manager = QueueManager(address=('', 5000), authkey=b'abc')
    manager.start()                   # starts a depot-manager process on port 5000
    task = manager.get_task_queue()   # a depot.Queue named 'get_task_queue'
    task.put(42)
    ...
    manager.shutdown()                # stops that depot-manager

and in the workers, ``QueueManager.register('get_task_queue')``, ``m.connect()``,
``m.get_task_queue()``: the same named queue.

How it maps:

- ``register(typeid, callable=None, ...)`` makes a method ``typeid`` that returns a handle on
  the depot object named `typeid` (``register(..., name='tasks')`` picks another name, e.g.
  to share a queue with the C++ samples). Without a callable (the workers' side), the object
  is a queue. With one, the callable is called (in this process, when the method is called)
  only to see what kind of object it returns: a ``queue.Queue`` / ``queue.SimpleQueue`` /
  ``multiprocessing`` queue becomes a depot queue (a bounded one declared with its maxsize;
  items already in it are moved into the depot queue); ``threading.Lock`` / ``RLock`` /
  ``Event`` / ``Semaphore`` / ``BoundedSemaphore`` / ``Barrier`` become the depot lock, rlock,
  event, semaphore (with the same value) or barrier (with the same parties).
- Values go through depot.codecs.AUTO: bytes, str, int, float and bool go in; ints and floats
  come back as numbers, text as str (so ``put(n)`` / ``n = get()`` / ``n * n`` works, as with a
  multiprocessing proxy). Other values raise TypeError unless ``BaseManager(codec=...)`` names
  a codec that takes them (depot.codecs.JSON, or depot.codecs.Pickle() if every process that
  holds the authkey is trusted).
- ``start()`` starts ``depot-manager`` (found through the DEPOT_MANAGER environment variable,
  else on PATH) listening on `address` (host ``''`` = every interface, as with
  multiprocessing; port 0 or address None = a free port, read back from ``manager.address``)
  with `authkey` (default: ``multiprocessing.current_process().authkey``), passed through the
  environment, never on the command line. ``shutdown()`` (or leaving a ``with`` block) stops
  it; so does the end of this process. ``connect()`` connects to a running manager.
- The environment variable DEPOT_ADDRESS ("host:port"), when set, replaces the address the
  program gives, for start() and connect() alike: it points a program with a hard-coded
  address at another manager without editing it.

What is not served, and what you get instead (depot.managers.NotServedError, a
depot.Error and a NotImplementedError, whose message says so):

- registered objects of any other type (dicts, lists, your classes): the depot manager stores
  bytes and never runs client code, so it cannot host arbitrary Python objects. Share values
  through a queue, a depot variable (``depot.Client.variable``) or a counter instead;
- a registered method called with arguments (the callable would have to run in the manager);
- ``method_to_typeid``, ``exposed`` and custom ``proxytype``s (ignored: the handles have fixed
  methods), ``start(initializer=...)``, ``get_server()``, ``serve_forever()``,
  ``Queue.task_done()`` / ``Queue.join()`` (no unfinished-task count in depot queues).
"""
from __future__ import annotations

import multiprocessing
import os
import queue as _queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import weakref

from . import codecs as _codecs
from .client import Client, parse_address
from .errors import Error
from .queues import Queue

__all__ = ["BaseManager", "NotServedError", "find_manager", "ManagerProcess"]


class NotServedError(Error, NotImplementedError):
    """A part of multiprocessing.managers that a depot manager does not serve."""


class _ManagedQueue(Queue):
    """A depot.Queue with the two methods of queue.Queue a depot queue cannot serve."""

    def task_done(self):
        raise NotServedError("task_done() is not served by depot queues (they keep no count of "
                             "unfinished tasks); use reserve() and ack() for work that must "
                             "be confirmed")

    def join(self):
        raise NotServedError("join() is not served by depot queues (they keep no count of "
                             "unfinished tasks); wait for results on a result queue instead")


def find_manager() -> str:
    """The depot-manager program: $DEPOT_MANAGER, else depot-manager on PATH."""
    path = os.environ.get("DEPOT_MANAGER")
    if path:
        if not os.access(path, os.X_OK):
            raise FileNotFoundError("DEPOT_MANAGER=%s is not an executable file" % path)
        return path
    found = shutil.which("depot-manager")
    if not found:
        raise FileNotFoundError("cannot find depot-manager: put it on PATH or set DEPOT_MANAGER "
                                "to its path (it is build/bin/depot-manager in a depot build)")
    return found


try:  # loaded here, not in the child: a preexec_fn must not import
    import ctypes as _ctypes
    _libc = _ctypes.CDLL(None, use_errno=True)
except Exception:  # noqa: BLE001 - not Linux / no ctypes
    _libc = None


def _die_with_parent():  # runs in the child between fork and exec
    if _libc is not None:
        _libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: stop when the starter goes away


def _address_text(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):
        return "[%s]:%d" % (host, port)
    return "%s:%d" % (host, port)


class ManagerProcess:
    """A depot-manager process started by this one (BaseManager.start uses it; tests too).

        mp = ManagerProcess(address="127.0.0.1:0", authkey=b"k", args=["--data-dir", d])
        mp.address        # ('127.0.0.1', 41234): where it listens
        mp.stop()
    """

    def __init__(self, address="127.0.0.1:0", authkey: bytes = b"", args=(),
                 program: str | None = None, ready_timeout: float = 30.0):
        host, port = parse_address(address)
        self.program = program or find_manager()
        if isinstance(authkey, str):
            authkey = authkey.encode("utf-8")
        if not authkey:
            raise ValueError("the manager needs a non-empty authkey")
        # The key goes through a file only this user can read, never the command line or the
        # environment (a multiprocessing key may hold NUL bytes). The manager drops one
        # trailing "\n" and then one trailing "\r": "\r\n" after the key keeps it exact.
        fd, keyfile = tempfile.mkstemp(prefix="depot-authkey-")
        try:
            os.write(fd, bytes(authkey) + b"\r\n")
        finally:
            os.close(fd)
        self._log = tempfile.NamedTemporaryFile(prefix="depot-manager-", suffix=".log",
                                                delete=False)
        bind = _address_text(host or "0.0.0.0", port)
        try:
            self.proc = subprocess.Popen(
                [self.program, "--address", bind, "--authkey-file", keyfile, *args],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent, close_fds=True)
        except BaseException:
            os.unlink(keyfile)
            raise
        self._finalizer = weakref.finalize(self, ManagerProcess._kill, self.proc, self._log.name)
        deadline = time.monotonic() + ready_timeout
        listening = None
        while True:
            text = self.output()
            for line in text.splitlines():
                if line.startswith("depot-manager listening on "):
                    listening = line.split(" on ", 1)[1].strip()
            if listening and "\nready" in "\n" + text:
                break
            if listening and keyfile:  # read by now
                os.unlink(keyfile)
                keyfile = None
            if self.proc.poll() is not None:
                out = text.strip()
                if keyfile:
                    os.unlink(keyfile)
                self.stop()
                raise OSError("depot-manager (%s) exited with status %s before it was ready: %s"
                              % (self.program, self.proc.returncode, out or "no output"))
            if time.monotonic() > deadline:
                if keyfile:
                    os.unlink(keyfile)
                self.stop()
                raise OSError("depot-manager did not report ready within %.0f s" % ready_timeout)
            time.sleep(0.01)
        if keyfile:
            os.unlink(keyfile)
        lhost, lport = parse_address(listening)
        self.listening = (lhost, lport)
        # Where a client reaches it: localhost when it listens on every interface.
        self.address = ("127.0.0.1" if host in ("", "0.0.0.0") else host, lport)

    def output(self) -> str:
        try:
            with open(self._log.name, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not stopped within `timeout`."""
        ManagerProcess._kill(self.proc, None, timeout)
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: a crash, for tests of what survives one."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    @staticmethod
    def _kill(proc, logname, timeout: float = 2.0) -> None:
        if proc.poll() is None:
            try:
                proc.terminate()
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            except OSError:
                pass
        if logname:
            try:
                os.unlink(logname)
            except OSError:
                pass


# Kinds a registered callable's result maps to.
def _kind_of(obj):
    if isinstance(obj, Queue):
        return ("queue", obj.size().maxsize)
    q_types = (_queue.Queue, _queue.SimpleQueue)
    if isinstance(obj, (_queue.LifoQueue, _queue.PriorityQueue)):
        return None
    if isinstance(obj, q_types):
        return ("queue", getattr(obj, "maxsize", 0) or 0)
    try:
        from multiprocessing.queues import Queue as MpQueue
        if isinstance(obj, MpQueue):
            return ("queue", obj._maxsize if obj._maxsize < 2 ** 31 - 1 else 0)
    except ImportError:
        pass
    if isinstance(obj, type(threading.Lock())):
        return ("lock", None)
    if isinstance(obj, type(threading.RLock())):
        return ("rlock", None)
    if isinstance(obj, threading.Event):
        return ("event", None)
    if isinstance(obj, threading.Semaphore):  # BoundedSemaphore is a subclass
        return ("semaphore", obj._value)
    if isinstance(obj, threading.Barrier):
        return ("barrier", obj.parties)
    return None


class BaseManager:
    """multiprocessing.managers.BaseManager, served by a depot manager. See the module text."""

    _registry: dict = {}

    def __init__(self, address=None, authkey=None, serializer="pickle", ctx=None, *,
                 shutdown_timeout: float = 1.0, codec=None, manager_args=(),
                 pipeline_puts: bool | str = False):
        override = os.environ.get("DEPOT_ADDRESS")
        if override:
            address = parse_address(override)
        elif address is not None:
            address = parse_address(address)
        if authkey is None:
            authkey = bytes(multiprocessing.current_process().authkey)
        self._address = address
        self._authkey = bytes(authkey) if not isinstance(authkey, str) else authkey.encode()
        self._shutdown_timeout = shutdown_timeout
        self._pipeline_puts = pipeline_puts  # depot.Client's option (off: every put waits)
        self._codec = _codecs.resolve(codec, _codecs.AUTO)
        self._manager_args = tuple(manager_args)
        self._process: ManagerProcess | None = None
        self._client: Client | None = None
        self._mu = threading.Lock()
        self._kinds: dict = {}

    # ------------------------------------------------------------ registry

    @classmethod
    def register(cls, typeid, callable=None, proxytype=None, exposed=None,
                 method_to_typeid=None, create_method=True, *, name=None):
        """Registers `typeid`: ``manager.typeid()`` returns a handle on the depot object named
        `name` (default: typeid). See the module text for what `callable` may return."""
        if "_registry" not in cls.__dict__:
            cls._registry = cls._registry.copy()
        cls._registry[typeid] = (callable, name or typeid)
        if create_method:
            def temp(self, *args, **kwds):
                return self._handle(typeid, args, kwds)
            temp.__name__ = typeid
            temp.__qualname__ = "%s.%s" % (cls.__name__, typeid)
            setattr(cls, typeid, temp)

    # ------------------------------------------------------------ lifecycle

    @property
    def address(self):
        return self._address

    def start(self, initializer=None, initargs=()):
        """Starts a depot-manager process serving this manager's address and authkey."""
        if initializer is not None:
            raise NotServedError("start(initializer=...) is not served: the depot manager runs "
                                 "no Python code; run the initializer in your own process")
        with self._mu:
            if self._process is not None:
                raise multiprocessing.ProcessError("Already started server")
            addr = self._address or ("127.0.0.1", 0)
            self._process = ManagerProcess(_address_text(addr[0], addr[1]), self._authkey,
                                           args=self._manager_args)
            self._address = (addr[0], self._process.address[1])
        self.connect()

    def connect(self):
        """Connects to the depot manager at this manager's address (depot.ConnectionError, a
        builtin ConnectionError, when none is there; depot.AuthError, a
        multiprocessing.AuthenticationError, for a wrong authkey)."""
        with self._mu:
            if self._client is not None:
                return
            if self._address is None:
                raise ValueError("connect() needs an address")
            host, port = self._address
            self._client = Client((host or "127.0.0.1", port), self._authkey, codec=self._codec,
                                  quiet=True, pipeline_puts=self._pipeline_puts)

    def shutdown(self):
        """Closes this manager's connection and stops the depot-manager that start() began."""
        with self._mu:
            c, self._client = self._client, None
            p, self._process = self._process, None
        if c is not None:
            c.close()
        if p is not None:
            p.stop(max(self._shutdown_timeout, 0.1))

    def join(self, timeout=None):
        p = self._process
        if p is not None:
            try:
                p.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass

    def get_server(self):
        raise NotServedError("get_server() is not served: run depot-manager itself "
                             "(depot-manager --address HOST:PORT --authkey-file FILE)")

    def __enter__(self):
        if self._process is None and self._client is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()

    @property
    def client(self) -> Client:
        """The depot.Client this manager uses (after start() or connect())."""
        if self._client is None:
            raise multiprocessing.ProcessError("the manager is neither started nor connected: "
                                               "call start() or connect() first")
        return self._client

    # ------------------------------------------------------------ handles

    def _handle(self, typeid, args, kwds):
        callable_, name = self._registry[typeid]
        if args or kwds:
            raise NotServedError("%s() was called with arguments: a depot manager runs no "
                                 "Python code, so registered callables cannot take arguments"
                                 % typeid)
        c = self.client
        kind = self._kinds.get(typeid)
        if kind is None:
            kind = ("queue", None)
            if callable_ is not None:
                obj = callable_()
                kind = _kind_of(obj)
                if kind is None:
                    raise NotServedError(
                        "%s() returns a %s, which depot does not serve: the depot manager stores "
                        "bytes and never runs client code, so it hosts queues, locks, events, "
                        "semaphores and barriers, not arbitrary Python objects (share values "
                        "through a queue or a depot.Client variable instead)"
                        % (typeid, type(obj).__name__))
                if kind[0] == "queue":
                    q = _ManagedQueue(c, name)
                    if kind[1]:
                        q.declare(kind[1])
                    if isinstance(obj, (_queue.Queue, _queue.SimpleQueue)):
                        while True:  # items already in the local queue move to depot
                            try:
                                q.put(obj.get_nowait())
                            except _queue.Empty:
                                break
            self._kinds[typeid] = kind
        k, arg = kind
        if k == "queue":
            return _ManagedQueue(c, name)
        if k == "lock":
            return c.lock(name)
        if k == "rlock":
            return c.rlock(name)
        if k == "event":
            return c.event(name)
        if k == "semaphore":
            return c.semaphore(name, max(1, arg))
        if k == "barrier":
            return c.barrier(name, arg)
        raise NotServedError("unknown kind %r" % (k,))


class SyncManager(BaseManager):
    """The parts of multiprocessing's SyncManager a depot manager serves: Queue, Lock, RLock,
    Event, Semaphore, BoundedSemaphore, Barrier, each named by its `name` argument (default:
    the type's name). dict(), list(), Value(), Namespace() ... raise NotServedError."""

    def Queue(self, maxsize=0, *, name="Queue"):
        q = _ManagedQueue(self.client, name)
        if maxsize:
            q.declare(maxsize)
        return q

    def Lock(self, *, name="Lock"):
        return self.client.lock(name)

    def RLock(self, *, name="RLock"):
        return self.client.rlock(name)

    def Event(self, *, name="Event"):
        return self.client.event(name)

    def Semaphore(self, value=1, *, name="Semaphore"):
        return self.client.semaphore(name, value)

    BoundedSemaphore = Semaphore

    def Barrier(self, parties, action=None, timeout=None, *, name="Barrier"):
        if action is not None:
            raise NotServedError("Barrier(action=...) is not served: the manager runs no code")
        return self.client.barrier(name, parties)

    def _not_served(self, what):
        raise NotServedError("SyncManager.%s() is not served: a depot manager stores bytes and "
                             "never runs client code; use a depot variable or queue" % what)

    def dict(self, *a, **k):
        self._not_served("dict")

    def list(self, *a, **k):
        self._not_served("list")

    def Namespace(self, *a, **k):
        self._not_served("Namespace")

    def Value(self, *a, **k):
        self._not_served("Value")

    def Array(self, *a, **k):
        self._not_served("Array")

    def Condition(self, *a, **k):
        self._not_served("Condition")

    def Pool(self, *a, **k):
        self._not_served("Pool")
