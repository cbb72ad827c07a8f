"""How Python values become the opaque bytes the manager stores, and back.

A codec is any object with ``encode(value) -> bytes`` and ``decode(bytes) -> value``
(subclass Codec, or pass any object with those two methods). Every handle
(``client.queue(name, codec=...)``, ``client.variable(...)``, ``client.topic(...)``) takes one;
``depot.Client(..., codec=...)`` sets the default for the handles it makes.

What is sent (every codec below, for ``encode``):

- ``bytes`` / ``bytearray`` / ``memoryview``: the bytes themselves;
- ``str``: its UTF-8 bytes;
- ``bool``: ``true`` / ``false`` (as the C++ Codec<bool>);
- ``int``, ``float``: decimal text (``42``, ``-7``, ``2.5``; floats in Python's shortest
  round-trip form), which a C++ ``queue<int>`` / ``queue<double>`` reads and which
  ``depot-cli put tasks 42`` writes;
- anything else: TypeError, unless the handle's codec knows the type (JSON, Pickle, your
  own). Nothing is ever pickled by default.

What a get returns depends on the codec:

============  ====================================================================
``BYTES``     ``bytes``, as stored (the default of a Client: nothing is guessed)
``TEXT``      ``str`` (UTF-8; CodecError if the bytes are not UTF-8)
``INT``       ``int`` (CodecError if the bytes are not a decimal integer)
``FLOAT``     ``float``
``BOOL``      ``bool`` (``true``/``false``/``1``/``0``)
``AUTO``      ``int`` if the bytes are a decimal integer, else ``float`` if a decimal
              number, else ``str`` if UTF-8, else ``bytes``: what the BaseManager drop-in
              uses, so ``put(42)`` comes back as ``42`` as with a multiprocessing queue
              (but a str that looks like a number comes back as a number)
``JSON``      any JSON value (``json.dumps`` / ``json.loads``); a portable container format
``MSGPACK``   lists, tuples, dicts (and None) as MessagePack: what a C++ ``std::vector``,
              ``std::map``, ``std::tuple``, ``std::optional`` or a ``DEPOT_FIELDS`` struct
              is (docs/protocol.md, "Value encodings"); inside them str is a MessagePack
              str and bytes a bin. Top-level bytes, str, int, float and bool keep the plain
              encoding above, as in C++. Needs the ``msgpack`` module (Debian's
              ``python3-msgpack``)
``Pickle()``  any picklable object. Only for readers and writers that trust each other:
              unpickling runs code chosen by whoever wrote the bytes
============  ====================================================================

The Python types themselves are accepted as shorthands: ``codec=int`` is ``INT``,
``codec=str`` is ``TEXT``, ``codec=bytes`` is ``BYTES``, ``codec=float`` is ``FLOAT``,
``codec=bool`` is ``BOOL``; ``codec="auto"``, ``"json"``, ... name them too.

``register`` is the hook that makes a name (``codec="msgpack"``) point at a codec: the
MessagePack codec is registered through it.
"""
from __future__ import annotations

import json
import math
import pickle
import re

from .errors import CodecError

__all__ = ["Codec", "BYTES", "TEXT", "INT", "FLOAT", "BOOL", "AUTO", "JSON", "MSGPACK", "Pickle",
           "register", "resolve", "encode_scalar"]


def encode_scalar(value) -> bytes:
    """The common encoding of bytes, str, bool, int and float; TypeError for other types."""
    t = type(value)
    if t is int:  # the common exact types first (bool is not int here)
        return b"%d" % value
    if t is bytes:
        return value
    if t is str:
        return value.encode("utf-8")
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, int):
        return str(value).encode("ascii")
    if isinstance(value, float):
        return repr(value).encode("ascii")
    raise TypeError(
        "depot cannot send a value of type %s with this codec: send bytes, str, int or float, "
        "or give the handle a codec for it (codec=depot.codecs.JSON for lists and dicts, "
        "or a Codec of your own); depot never pickles by default"
        % type(value).__name__)


class Codec:
    """Base class: encode() takes bytes, str, bool, int and float; decode() returns bytes."""

    name = "bytes"

    def encode(self, value) -> bytes:
        return encode_scalar(value)

    def decode(self, data: bytes):
        return data

    def __repr__(self) -> str:
        return "<depot codec %s>" % self.name


class _Bytes(Codec):
    name = "bytes"


class _Text(Codec):
    name = "text"

    def decode(self, data: bytes):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise CodecError("a value of %d bytes is not UTF-8 text (%s); read it with "
                             "codec=bytes" % (len(data), e)) from None


_INT_RE = re.compile(rb"[+-]?[0-9]+\Z")
_FLOAT_RE = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z"
                       rb"|[+-]?(?:inf|infinity|nan)\Z", re.IGNORECASE)


def _preview(data: bytes) -> str:
    return repr(data[:64])


class _Int(Codec):
    name = "int"

    def decode(self, data: bytes):
        if data.isdigit():  # ASCII digits only: int() would also take spaces and underscores
            return int(data)
        if not _INT_RE.match(data):
            raise CodecError("%s is not a decimal integer" % _preview(data))
        return int(data)


class _Float(Codec):
    name = "float"

    def decode(self, data: bytes):
        if not _FLOAT_RE.match(data):
            raise CodecError("%s is not a decimal number" % _preview(data))
        return float(data)


class _Bool(Codec):
    name = "bool"

    def decode(self, data: bytes):
        if data in (b"true", b"1"):
            return True
        if data in (b"false", b"0"):
            return False
        raise CodecError("%s is not a bool (true/false)" % _preview(data))


class _Auto(Codec):
    name = "auto"

    def decode(self, data: bytes):
        if data.isdigit() or _INT_RE.match(data):
            return int(data)
        if _FLOAT_RE.match(data) and not data[:1].isalpha():
            return float(data)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data


class _Json(Codec):
    name = "json"

    def encode(self, value) -> bytes:
        if isinstance(value, float) and not math.isfinite(value):
            raise TypeError("JSON has no %r" % value)
        try:
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        except TypeError as e:
            raise TypeError("depot.codecs.JSON cannot send this value: %s" % e) from None

    def decode(self, data: bytes):
        try:
            return json.loads(data)
        except ValueError as e:
            raise CodecError("%s is not JSON: %s" % (_preview(data), e)) from None


class Pickle(Codec):
    """Any picklable object. Unpickling runs code chosen by the writer: use it only when
    every process that can put values (anyone holding the authkey) is trusted."""

    name = "pickle"

    def __init__(self, protocol: int = pickle.HIGHEST_PROTOCOL):
        self.protocol = protocol

    def encode(self, value) -> bytes:
        return pickle.dumps(value, self.protocol)

    def decode(self, data: bytes):
        try:
            return pickle.loads(data)
        except Exception as e:  # noqa: BLE001 - whatever a bad pickle raises
            raise CodecError("cannot unpickle a value of %d bytes: %s" % (len(data), e)) from None


# The first byte of a MessagePack map, array or nil: what a container (or an empty optional)
# starts with. Plain text never does (all are >= 0x80 or 0xc0).
def _is_container_start(b: int) -> bool:
    return 0x80 <= b <= 0x9f or 0xdc <= b <= 0xdf or b == 0xc0


class _MsgPack(Codec):
    name = "msgpack"

    def __init__(self):
        self._mod = None

    def _msgpack(self):
        if self._mod is None:
            try:
                import msgpack  # noqa: PLC0415 - optional: only this codec needs it
            except ImportError:
                raise ImportError("depot.codecs.MSGPACK needs the msgpack module: install "
                                  "Debian's python3-msgpack (or pip install msgpack)") from None
            self._mod = msgpack
        return self._mod

    def encode(self, value) -> bytes:
        if not isinstance(value, (list, tuple, dict)) and value is not None:
            return encode_scalar(value)
        try:
            return self._msgpack().packb(value, use_bin_type=True)
        except (TypeError, ValueError, OverflowError) as e:
            raise TypeError("depot.codecs.MSGPACK cannot send this value: %s (lists, tuples, "
                            "dicts, str, bytes, int, float, bool and None only)" % e) from None

    def decode(self, data: bytes):
        m = self._msgpack()
        if not data or not _is_container_start(data[0]):
            raise CodecError("%s is not a MessagePack container (an array, map or nil): "
                             "top-level strings and numbers are plain; read them with "
                             "codec=str, int, float or auto" % _preview(data))
        try:
            return m.unpackb(data, raw=False, strict_map_key=False, use_list=True)
        except (ValueError, m.ExtraData, m.FormatError, m.StackError,
                UnicodeDecodeError) as e:
            raise CodecError("%s is not a valid MessagePack value: %s; was it written by "
                             "another codec?" % (_preview(data), e)) from None


BYTES = _Bytes()
TEXT = _Text()
INT = _Int()
FLOAT = _Float()
BOOL = _Bool()
AUTO = _Auto()
JSON = _Json()
MSGPACK = _MsgPack()

_NAMED = {"bytes": BYTES, "text": TEXT, "str": TEXT, "int": INT, "float": FLOAT, "bool": BOOL,
          "auto": AUTO, "json": JSON}
_TYPES = {bytes: BYTES, str: TEXT, int: INT, float: FLOAT, bool: BOOL}


def register(name: str, codec) -> None:
    """Makes ``codec=name`` mean `codec` (the hook for codecs shipped elsewhere)."""
    _NAMED[name] = codec


register("msgpack", MSGPACK)


def resolve(codec, default=None):
    """A codec object for what a handle was given: None (the default), a Codec, a name, or
    one of the types bytes, str, int, float, bool."""
    if codec is None:
        return default if default is not None else BYTES
    if isinstance(codec, str):
        try:
            return _NAMED[codec]
        except KeyError:
            raise ValueError("unknown codec %r (known: %s)" % (codec, ", ".join(sorted(_NAMED))))
    if isinstance(codec, type) and codec in _TYPES:
        return _TYPES[codec]
    if isinstance(codec, type) and issubclass(codec, Codec):
        return codec()
    if hasattr(codec, "encode") and hasattr(codec, "decode"):
        return codec
    raise TypeError("a codec needs encode(value) and decode(bytes) methods; got %r" % (codec,))
