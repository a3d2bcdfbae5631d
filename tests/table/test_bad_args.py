"""Bad arguments: a ValueError naming what is wrong, from both tables, before C sees them."""
import re
from array import array

import pytest

from weboslb.table import Entry, KeyBatch

IP1 = b"\x0a\x00\x00\x01"

BAD_CONSTRUCTION = [
    (("ipv4", 0), {}, "capacity 0 out of range"),
    (("ipv4", 12), {}, "capacity 12 is not a power of two"),
    (("ipv4", 1 << 29), {}, "out of range"),
    (("ipv5", 8), {}, "unknown key kind 'ipv5'"),
    (("ipv4", 8), {"policy": "random"}, "unknown full-table policy"),
    (("ipv4", 8), {"journal": 3}, "journal 3 is neither 0 nor a power of two"),
    (("ipv4", "8"), {}, "capacity must be an integer"),
]


@pytest.mark.parametrize("args,kwargs,message", BAD_CONSTRUCTION)
def test_bad_construction(make_table, args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_table(*args, **kwargs)


def bad_calls():
    sslid_batch = KeyBatch.of("sslid", [b"x"])
    return [
        (lambda t: t.lookup(b"\x01\x02\x03", now=0), "ipv4 key must be 4 bytes long, not 3"),
        (lambda t: t.lookup("10.0.0.1", now=0), "ipv4 key must be bytes, not str"),
        (lambda t: t.lookup(IP1, vsvc=70000, now=0), "vsvc 70000 out of range 0..65535"),
        (lambda t: t.lookup(IP1, now=-1), "now -1 out of range"),
        (lambda t: t.lookup(IP1, now=float("nan")), "finite"),
        (lambda t: t.get_or_create(IP1, real=1, now=0, timeout=-5), "timeout -5 out of range"),
        (lambda t: t.get_or_create(IP1, real=65535, now=0, timeout=5), "real 65535 out of range"),
        (lambda t: t.get_or_create(IP1, real=1, now=0, timeout=5, user_flags=1),
         "outside the user bits"),
        (lambda t: t.lookup_many(sslid_batch, now=0), "holds sslid keys; this table holds ipv4"),
        (lambda t: t.lookup_many([IP1], now=0), "expected a KeyBatch"),
        (lambda t: t.get_or_create_many(KeyBatch.of("ipv4", [IP1, IP1]), reals=[1], now=0,
                                        timeout=5), "1 real values for 2 keys"),
        (lambda t: t.get_or_create_many(KeyBatch.of("ipv4", [IP1]), reals=array("H", [1]),
                                        now=0, timeout=[-1]), "timeout values must be"),
        (lambda t: t.put(Entry(IP1, 0, 1, 0, 0x04, 0, 0, 1), now=0), "reserved bits"),
        (lambda t: t.put((IP1, 1), now=0), "put() takes an Entry"),
        (lambda t: t.expire(now=0, max_work=-1), "max_work -1 out of range"),
        (lambda t: t.updates_since(5), "seq 5 out of range 0..0"),
    ]


@pytest.mark.parametrize("call,message", bad_calls(), ids=[m for _, m in bad_calls()])
def test_bad_calls(make_table, call, message):
    t = make_table("ipv4", 8)
    with pytest.raises(ValueError, match=re.escape(message)):
        call(t)
    assert len(t) == 0  # nothing half-done


@pytest.mark.parametrize("buf,lens,message", [
    (b"\0" * 65, None, "not a multiple of 64"),
    (b"\0" * 128, [1], "1 key lengths for 2 keys"),
    (b"\0" * 64, [65], "key length 65 out of range 1..64"),
    (b"\0" * 64, [0], "key length 0 out of range"),
])
def test_bad_packed_batches(buf, lens, message):
    with pytest.raises(ValueError, match=message):
        KeyBatch.from_buffer("cookie", buf, lens=lens)


def test_key_batch_checks_each_key():
    with pytest.raises(ValueError, match="sslid key must be 1-32 bytes long, not 33"):
        KeyBatch.of("sslid", [b"a", b"b" * 33])
