"""depot.codecs.MSGPACK: the portable container encoding shared with C++'s Codec<T>
(docs/protocol.md, "Value encodings"), and C++ and Python reading each other's values."""
import os
import subprocess

import pytest

import depot
from depot.codecs import MSGPACK

from conftest import REPO

msgpack = pytest.importorskip("msgpack")

MAP = {"empty": [], "small": [1, 2, 3], "wide": [-1, 300, 70000, -2147483648]}
POINT = [7, 2.5, "été", ["a", "b"], None]  # the peer's DEPOT_FIELDS(x, y, label, tags, weight)


def peer_program():
    p = os.environ.get("DEPOT_MSGPACK_PEER")
    if p:
        return p
    local = os.path.join(REPO, "build", "bin", "depot-msgpack-peer")
    return local if os.access(local, os.X_OK) else None


PEER = peer_program()
needs_peer = pytest.mark.skipif(PEER is None, reason="no depot-msgpack-peer: set "
                                "DEPOT_MSGPACK_PEER or build it (ctest sets it)")


def run_peer(manager, *args):
    r = subprocess.run([PEER, manager.address, manager.key.decode(), *args],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, "depot-msgpack-peer %s: %s" % (" ".join(args), r.stderr)


def test_containers_encode_as_the_cpp_codec_does():
    # The bytes docs/protocol.md shows for std::map<std::string, std::vector<int>>.
    assert MSGPACK.encode({"a": [1, 2, 3], "bb": [-1, 300, 70000]}) == bytes.fromhex(
        "82 a1 61 93 01 02 03 a2 62 62 93 ff cd 01 2c ce 00 01 11 70")
    assert MSGPACK.encode(["x", b"\x00\x01"]) == bytes.fromhex("92 a1 78 c4 02 00 01")
    assert MSGPACK.encode((1, 2.5)) == bytes.fromhex("92 01 cb 40 04 00 00 00 00 00 00")
    assert MSGPACK.encode(None) == b"\xc0"


def test_scalars_keep_the_plain_encoding():
    assert MSGPACK.encode("hello") == b"hello"
    assert MSGPACK.encode(42) == b"42"
    assert MSGPACK.encode(b"\x81") == b"\x81"


def test_round_trip_and_errors():
    v = {"k": [1, "two", 3.5, None, True, b"\xff", {"n": []}]}
    assert MSGPACK.decode(MSGPACK.encode(v)) == v
    assert MSGPACK.decode(MSGPACK.encode((1, 2))) == [1, 2]
    with pytest.raises(depot.CodecError, match="not a MessagePack container"):
        MSGPACK.decode(b"42")
    with pytest.raises(depot.CodecError, match="not a valid MessagePack value"):
        MSGPACK.decode(b"\x93\x01")  # an array of 3 cut after one element
    with pytest.raises(TypeError, match="MSGPACK cannot send"):
        MSGPACK.encode([object()])


def test_the_name_msgpack_is_registered(client):
    q = client.queue("mp", codec="msgpack")
    q.put({"a": [1]})
    assert q.get(timeout=5) == {"a": [1]}


@needs_peer
def test_python_reads_what_cpp_puts(manager, client):
    run_peer(manager, "put", "from-cpp")
    q = client.queue("from-cpp", codec=MSGPACK)
    assert q.get(timeout=10) == MAP
    assert q.get(timeout=10) == POINT


@needs_peer
def test_cpp_reads_what_python_puts(manager, client):
    q = client.queue("from-py", codec=MSGPACK)
    q.put(MAP)
    q.put(tuple(POINT))
    run_peer(manager, "check", "from-py")
