"""The values of bench/codec_bench.cpp through Python's encoders: depot.codecs.MSGPACK
(python3-msgpack), json and pickle. Prints bytes and ns per encode / decode.

    PYTHONPATH=python /usr/bin/python3 bench/python/codec_bench.py
"""
import json
import pickle
import timeit

from depot.codecs import MSGPACK

VALUES = [
    ("vector<int> x1000", [i * 37 for i in range(1000)]),
    ("map<string,int> x100", {"key-%d" % i: i * 1000 for i in range(100)}),
    ("struct of 5 fields", [42, 3.25, "sensor-17", [1, 2, 3], True]),
    ("vector<string> x100", ["item-%d" % i for i in range(100)]),
]
CODECS = [
    ("python msgpack", MSGPACK.encode, MSGPACK.decode),
    ("python json", lambda v: json.dumps(v, separators=(",", ":")).encode(), json.loads),
    ("python pickle", pickle.dumps, pickle.loads),
]


def ns(f):
    n, t = timeit.Timer(f).autorange()
    best = min(timeit.Timer(f).repeat(3, n))
    return min(best, t) / n * 1e9


print("%-22s %-16s %7s %10s %10s" % ("value", "codec", "bytes", "encode ns", "decode ns"))
for what, v in VALUES:
    for name, enc, dec in CODECS:
        b = enc(v)
        assert dec(b) == v, (what, name)
        print("%-22s %-16s %7d %10.0f %10.0f" % (what, name, len(b), ns(lambda: enc(v)),
                                                  ns(lambda: dec(b))))
