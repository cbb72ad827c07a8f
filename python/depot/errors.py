"""Exceptions of the depot client, mirroring src/depot/client/errors.h.

Every one derives from depot.Error and carries a message that names the object and what to
do (the manager's own message when the manager reported it, in which case `status` is the
manager's status code; `status` is None for errors the client found itself).

Where Python has an exception for the same situation, depot's also derives from it, so code
written for the standard library keeps working:

- EmptyError and QueueTimeoutError are queue.Empty (``except queue.Empty`` as with queue.Queue),
  FullError is queue.Full;
- TimeoutError is the builtin TimeoutError, ConnectionError the builtin ConnectionError;
- BrokenError is threading.BrokenBarrierError;
- AuthError is multiprocessing.AuthenticationError;
- CancelledError (a cancelled depot.futures task) is concurrent.futures.CancelledError.

RemoteError and CancelledError are the executor's (depot.futures, as the C++
depot::RemoteError and depot::CancelledError of depot/executor/future.h).
"""
from __future__ import annotations

import builtins
import concurrent.futures as _cf
from multiprocessing import AuthenticationError as _MpAuthenticationError
import queue as _queue
import threading as _threading

from .protocol import Status, status_name


class Error(Exception):
    """Base of every depot exception."""

    def __init__(self, message: str, status: int | None = None):
        Exception.__init__(self, message)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        if self.status is None:
            return "%s(%r)" % (type(self).__name__, self.message)
        return "%s(%r, status=%s)" % (type(self).__name__, self.message, status_name(self.status))


class TimeoutError(Error, builtins.TimeoutError):
    """A blocking call's timeout passed (a lock, event, barrier or variable wait...)."""


class EmptyError(Error, _queue.Empty):
    """A non-blocking get (or reserve) found the queue empty."""


class QueueTimeoutError(TimeoutError, _queue.Empty):
    """A get (or reserve) with a timeout: the queue stayed empty until it passed. It is both
    a depot.TimeoutError and a queue.Empty, as queue.Queue.get(timeout=...) raises Empty."""


class FullError(Error, _queue.Full):
    """A put found the queue full (at once, or until its timeout). For put_many,
    `accepted` items were enqueued, in order, before it gave up."""

    def __init__(self, message: str, status: int | None = None, accepted: int = 0):
        Error.__init__(self, message, status)
        self.accepted = accepted


class NotFoundError(Error):
    """The named object does not exist (or was deleted while the request waited)."""


class WrongTypeError(Error):
    """The name belongs to an object of another type."""


class AuthError(Error, _MpAuthenticationError):
    """The authkey was refused, or the manager could not prove it knows it. Also a
    multiprocessing.AuthenticationError, as BaseManager.connect() raises with a wrong key."""


class ProtocolError(Error):
    """The request or a frame was malformed, too large, or not understood."""


class ConnectionError(Error, builtins.ConnectionError):
    """The manager cannot be reached, the connection was lost with this request in flight
    (it may or may not have taken effect), or the manager is shutting down."""


class LimitError(Error):
    """A configured limit of the manager was hit (connections, parked requests, objects)."""


class NotOwnerError(Error):
    """Release of a lock or semaphore lease this client does not hold (any more)."""


class BrokenError(Error, _threading.BrokenBarrierError):
    """A barrier was broken: a party timed out or disconnected, or it was reset."""


class UnavailableError(Error):
    """The manager could not make a write durable (its data directory is failing); the
    write did not take effect. Reads still work; retry the write later."""


class DeniedError(Error):
    """The session's user lacks the permission (the manager's ACL file) on the object; the
    message names the user, the operation and the object."""


class CodecError(Error, ValueError):
    """A value could not be decoded by the handle's codec."""


class InternalError(Error):
    """The manager reported a bug of its own, or sent a status this client does not know."""


class RemoteError(Error):
    """A task raised an exception on its worker, or could not run there (depot.futures).
    `type` is the remote exception's type: a C++ worker's demangled type
    ("std::invalid_argument"), a Python worker's ("ValueError", "mymodule.MyError"), or one
    of the executor's own (depot.futures.WORKER_LOST "depot::WorkerLost",
    DEPENDENCY_FAILED, UNKNOWN_FUNCTION, ACTOR_DIED, ...). `remote_message` is its message,
    `function` the task's function (or "Class.method"), `key` the task's key."""

    def __init__(self, function: str, type: str, message: str, key: str):
        Error.__init__(self, "task '%s' (%s) raised %s: %s" % (key, function, type, message))
        self.function = function
        self.type = type
        self.remote_message = message
        self.key = key


class CancelledError(Error, _cf.CancelledError):
    """The result of a cancelled task (Future.cancel(), or its Executor was closed first).
    Also a concurrent.futures.CancelledError."""


_BY_STATUS = {
    Status.TIMEOUT: TimeoutError,
    Status.EMPTY: EmptyError,
    Status.FULL: FullError,
    Status.NOT_FOUND: NotFoundError,
    Status.WRONG_TYPE: WrongTypeError,
    Status.BAD_REQUEST: ProtocolError,
    Status.TOO_LARGE: ProtocolError,
    Status.AUTH_FAILED: AuthError,
    Status.SHUTTING_DOWN: ConnectionError,
    Status.LIMIT: LimitError,
    Status.NOT_OWNER: NotOwnerError,
    Status.BROKEN: BrokenError,
    Status.INTERNAL: InternalError,
    Status.UNAVAILABLE: UnavailableError,
    Status.DENIED: DeniedError,
}


def error_for_status(status: int, message: str, accepted: int = 0) -> Error:
    """The exception for a non-OK status, as the C++ client's throw_status throws it."""
    cls = _BY_STATUS.get(status)
    if cls is None:
        return InternalError("unexpected %s: %s" % (status_name(status), message), Status.INTERNAL)
    if cls is FullError:
        return FullError(message, status, accepted)
    return cls(message, status)
