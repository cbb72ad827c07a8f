"""depot: the Python client of the depot shared-queue manager.

    import depot
    c = depot.Client(("127.0.0.1", 5000), authkey=b"abc")
    q = c.queue("tasks", codec=int)
    q.put(42); q.get(timeout=1)

See python/README.md, depot.managers for the multiprocessing.managers drop-in, and
depot.futures for dask-style futures shared with the C++ executor.
"""
from . import codecs
from . import futures
from .client import Client, ObjectInfo, parse_address
from .codecs import Codec
from .coord import (Barrier, CasResult, Counter, Event, Lock, Message, Semaphore, Subscription,
                    Topic, Variable, Versioned)
from .errors import (AuthError, BrokenError, CodecError, ConnectionError, DeniedError,
                     EmptyError, Error,
                     FullError, InternalError, LimitError, NotFoundError, NotOwnerError,
                     ProtocolError, QueueTimeoutError, TimeoutError, UnavailableError,
                     WrongTypeError, error_for_status, RemoteError, CancelledError)
from .protocol import Op, Status
from .queues import NackResult, Queue, QueueSize, Reservation

__version__ = "0.1.0"

__all__ = [
    "Client", "ObjectInfo", "parse_address", "codecs", "Codec", "futures",
    "Queue", "QueueSize", "Reservation", "NackResult",
    "Lock", "Semaphore", "Event", "Barrier", "Counter", "Variable", "Versioned", "CasResult",
    "Topic", "Subscription", "Message",
    "Error", "TimeoutError", "EmptyError", "QueueTimeoutError", "FullError", "NotFoundError",
    "WrongTypeError", "AuthError", "ProtocolError", "ConnectionError", "LimitError",
    "NotOwnerError", "BrokenError", "UnavailableError", "DeniedError", "CodecError", "InternalError",
    "error_for_status", "Op", "Status", "RemoteError", "CancelledError",
]
