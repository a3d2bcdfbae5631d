"""The mirror wire codec: round trips, record checks, framing over any split, and hostile
bytes that cost a counted WireError and nothing else."""
from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from weboslb.ha import auth, wire
from weboslb.ha.wire import (
    Ack,
    BulkBegin,
    BulkEnd,
    Deframer,
    Frame,
    Heartbeat,
    Hello,
    Msg,
    Records,
    Refuse,
    RefuseReason,
    Resync,
    Role,
    Start,
    Synced,
    WireError,
)
from weboslb.table.contract import KeyKind, Op

from .helpers import KEY, OTHER_KEY

HK = auth.hello_key(KEY)
SK = auth.session_key(KEY, b"a" * 16, b"b" * 16)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def keys(typ: Msg) -> bytes:
    return HK if typ in wire.HANDSHAKE_TYPES else SK


def rec(i: int, kind: KeyKind = KeyKind.IPV4, op: int = Op.NEW) -> tuple:
    key = i.to_bytes(kind.min_len if kind.fixed else 4, "big")
    if op in (Op.DELETE, Op.EXPIRE):
        return (op, len(key), 3, 0, 0, 0, 0, 0, 0, key)
    return (op, len(key), 3, i % 100, 9, 0x11, 600, 590, 25, key)


MESSAGES = [
    Hello(b"n" * 16, bytes(16), 1, 7, wire.SCHEMA, Role.ACTIVE, wire.READY, 30, 99, 5, 6, 7),
    Refuse(b"e" * 16, RefuseReason.SYNC_ID, "sync id 3 differs from 1"),
    Heartbeat(Role.STANDBY, wire.SYNCED),
    Ack(11, 42, nak=True),
    Resync(11, 0),
    Start(11, 1, lesson_end=True),
    BulkBegin(11, 2, KeyKind.SSLID),
    Records(11, 3, KeyKind.IPV4, True, [rec(i) for i in range(5)], held=3),
    Records(11, 4, KeyKind.COOKIE, False, [rec(1, KeyKind.COOKIE, Op.TOUCH),
                                           rec(2, KeyKind.COOKIE, Op.DELETE)]),
    Records(11, 5, KeyKind.FTP, False, []),
    BulkEnd(11, 6, KeyKind.SSLID, 12345),
    Synced(11, 7),
]


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips_through_a_frame(msg):
    typ, body = wire.encode(msg)
    out = wire.frames(wire.seal(typ, 5, body, keys(typ)), keys)
    assert out == [Frame(typ, 5, body)]
    decoded = wire.decode(typ, body)
    if isinstance(msg, Records):  # keys come back zero-padded to the kind's width
        assert [r[:9] for r in decoded.records] == [r[:9] for r in msg.records]
        assert [r[9][:r[1]] for r in decoded.records] == [r[9] for r in msg.records]
    else:
        assert decoded == msg


def test_records_are_fixed_width_and_batch_friendly():
    s = wire.record_struct(KeyKind.IPV4)
    assert s.size == 24  # 20 bytes of fields + a 4-byte key
    assert wire.record_struct(KeyKind.COOKIE).size == 84
    assert wire.max_records(KeyKind.IPV4) * 24 <= wire.MAX_BODY
    typ, body = wire.encode(Records(1, 1, KeyKind.IPV4, False, [rec(i) for i in range(1000)]))
    assert len(body) == 26 + 1000 * 24  # epoch, dseq, kind, flags, count, held
    assert wire.decode(typ, wire.with_held(body, 7)).held == 7


def test_a_frame_arrives_whole_from_any_split():
    typ, body = wire.encode(MESSAGES[7])
    data = wire.seal(typ, 1, body, SK) + wire.seal(Msg.ACK, 2, wire.encode(Ack(1, 2))[1], SK)
    for cut in range(len(data) + 1):
        d = Deframer(keys)
        got = list(d.feed(data[:cut])) + list(d.feed(data[cut:]))
        assert [f.seq for f in got] == [1, 2], cut
        assert d.pending == 0


def one_byte_at_a_time(d: Deframer, data: bytes) -> list:
    out = []
    for i in range(len(data)):
        out += d.feed(data[i:i + 1])
    return out


def test_bad_records_are_malformed_not_applied():
    bad = [
        (9, 4, 1, 1, 0, 1, 600, 10, 0, b"\0" * 4),  # unknown op
        (1, 3, 1, 1, 0, 1, 600, 10, 0, b"\0" * 4),  # ipv4 key of 3 bytes
        (1, 4, 1, 0xFFFF, 0, 1, 600, 10, 0, b"\0" * 4),  # NO_REAL
        (1, 4, 1, 1, 0, 0, 600, 10, 0, b"\0" * 4),  # live but not persistent
        (1, 4, 1, 1, 0, 0x03, 600, 10, 0, b"\0" * 4),  # the table's pending bit
        (1, 4, 1, 1, 0, 1, 600, 601, 0, b"\0" * 4),  # more life left than its timeout
    ]
    for r in bad:
        typ, body = wire.encode(Records(1, 1, KeyKind.IPV4, False, [r]))
        with pytest.raises(WireError) as e:
            wire.decode(typ, body)
        assert e.value.reason == "malformed"
    typ, body = wire.encode(Records(1, 1, KeyKind.SSLID, False, [rec(1, KeyKind.SSLID)]))
    padded = bytearray(body)
    padded[-1] = 1  # a byte beyond the key length
    with pytest.raises(WireError, match="key length"):
        wire.decode(typ, bytes(padded))
    with pytest.raises(WireError, match="need"):
        wire.decode(typ, body[:-1])


@pytest.mark.parametrize("typ", list(Msg))
def test_short_and_long_bodies_are_malformed(typ):
    for body in (b"", b"\0" * 3, b"\xff" * 300):
        try:
            wire.decode(typ, body)
        except WireError as e:
            assert e.reason == "malformed"
        else:
            pytest.fail(f"{typ.name} accepted {len(body)} bytes")


def test_hostile_frames_each_cost_one_reason():
    good = wire.seal(Msg.ACK, 9, wire.encode(Ack(1, 2))[1], SK)
    head = wire.HEAD.pack(wire.MAGIC, wire.VERSION, Msg.ACK, 0xFFFF_FFFF, 1)
    cases = {
        "junk": b"\x00garbage\xff" * 10,
        "huge length": head + b"\0" * 8,
        "wrong version": wire.HEAD.pack(wire.MAGIC, 9, Msg.HELLO, 12, 1) + b"\0" * 40,
        "wrong key": wire.seal(Msg.ACK, 1, wire.encode(Ack(1, 2))[1], OTHER_KEY),
        "flipped body bit": good[:30] + bytes([good[30] ^ 4]) + good[31:],
        "flipped length bit": good[:6] + bytes([good[6] ^ 1]) + good[7:],
        "unknown type": wire.seal(77, 1, b"", SK),
        "truncated": good[:-5],
    }
    reasons = {}
    for name, bad in cases.items():
        d = Deframer(keys)
        out = list(d.feed(bad + good))
        frames = [x for x in out if isinstance(x, Frame)]
        errors = [x for x in out if isinstance(x, WireError)]
        assert frames and frames[-1].seq == 9, name  # the good frame behind is still found
        assert len(errors) == 1, (name, errors)
        reasons[name] = errors[0].reason
        assert d.pending == 0
    assert reasons == {"junk": "malformed", "huge length": "malformed",
                       "wrong version": "version", "wrong key": "bad_mac",
                       "flipped body bit": "bad_mac", "flipped length bit": "bad_mac",
                       "unknown type": "malformed", "truncated": "bad_mac"}


def test_a_session_frame_without_a_session_is_dropped_quietly():
    d = Deframer(lambda typ: HK if typ in wire.HANDSHAKE_TYPES else None)
    data = wire.seal(Msg.RECORDS, 1, wire.encode(MESSAGES[7])[1], SK)
    hello = wire.seal(Msg.HELLO, 0, wire.encode(MESSAGES[0])[1], HK)
    out = list(d.feed(data + hello))
    assert [getattr(x, "reason", None) for x in out] == ["no_session", None]
    assert out[1].typ is Msg.HELLO and d.junk_bytes == 0


@FUZZ
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_arbitrary_bytes_only_ever_raise_wire_errors_and_stay_bounded(chunks):
    d = Deframer(keys)
    for c in chunks:
        for item in d.feed(c):
            assert isinstance(item, (Frame, WireError))
        assert d.pending < wire.MAX_FRAME


@FUZZ
@given(st.sampled_from(list(Msg)), st.binary(max_size=400))
def test_decoding_arbitrary_bodies_raises_only_wire_error(typ, body):
    try:
        wire.decode(typ, body)
    except WireError as e:
        assert e.reason == "malformed"


@FUZZ
@given(st.binary(min_size=1, max_size=64), st.integers(0, 2000), st.integers(0, 7))
def test_damage_anywhere_in_a_stream_loses_at_most_the_damaged_frame(noise, where, bit):
    frames = [wire.seal(Msg.ACK, i, wire.encode(Ack(1, i))[1], SK) for i in range(1, 30)]
    data = bytearray(b"".join(frames))
    where %= len(data)
    data[where] ^= 1 << bit  # one flipped bit ...
    data[where:where] = noise  # ... and some injected bytes
    d = Deframer(keys)
    got = [x.seq for x in one_byte_at_a_time(d, bytes(data)) if isinstance(x, Frame)]
    assert got == sorted(set(got))
    assert len(got) >= 27  # at most the frame hit (and one the noise split) is lost


def test_a_corrupted_length_does_not_stall_the_reader():
    """The header tag rejects a damaged length at once: the reader does not wait for
    megabytes that will never come."""
    good = [wire.seal(Msg.ACK, i, wire.encode(Ack(1, i))[1], SK) for i in (1, 2)]
    bad = bytearray(good[0])
    struct.pack_into(">I", bad, 4, 200_000)
    d = Deframer(keys)
    out = list(d.feed(bytes(bad) + good[1]))
    assert [x.seq for x in out if isinstance(x, Frame)] == [2]


def test_seal_refuses_an_oversized_body():
    with pytest.raises(ValueError, match="exceeds"):
        wire.seal(Msg.RECORDS, 1, b"\0" * (wire.MAX_BODY + 1), SK)


def test_keys_are_derived_not_the_passphrase():
    assert auth.mirror_key("x") == auth.mirror_key("x") != auth.mirror_key("y")
    assert len(auth.mirror_key("")) == 32
    a, b = b"a" * 16, b"b" * 16
    # each direction of a session has its own key, and so does each session
    assert auth.session_key(KEY, a, b) != auth.session_key(KEY, b, a)
    assert auth.session_key(KEY, a, b) != auth.session_key(KEY, a, b"c" * 16)
    # RFC 5869 test case 1
    okm = auth.hkdf(bytes.fromhex("0b" * 22), bytes.fromhex("000102030405060708090a0b0c"),
                    bytes.fromhex("f0f1f2f3f4f5f6f7f8f9"), 42)
    assert okm.hex() == ("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                         "34007208d5b887185865")
    with pytest.raises(ValueError, match="32 bytes"):
        auth.check_key(b"short")
