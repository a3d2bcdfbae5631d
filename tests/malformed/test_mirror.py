"""Mirror messages truncated, oversized, replayed and forged, one case a row, each injected
into the link of a synced pair (A active, B standby).

Every bad message costs exactly one counter on the standby (``MirrorStats.dropped`` by
reason), changes nothing in its table, and leaves the link in sync: the next binding A makes
still reaches B.  (The same defects at the frame decoder: tests/ha/test_wire.py; under link
faults and endless garbage: tests/ha/test_faults.py.)
"""
from __future__ import annotations

import pytest

from tests.ha.helpers import OTHER_KEY, bind, held, pair
from weboslb.ha import State, wire
from weboslb.ha.pair import split_frames
from weboslb.ha.wire import Ack, Msg, Records
from weboslb.table.contract import KeyKind


def synced():
    mp = pair()
    bind(mp.a.persistence, 1, 100)
    mp.run(101)
    assert held(mp.b.persistence) == held(mp.a.persistence) and mp.b.state is State.SYNCED
    return mp


def session(mp):
    """A's live session toward B: its key and next sequence number (what only A knows)."""
    s = mp.a._session
    return s.tx_key, s.tx_seq + 1000


def records(mp, record: tuple) -> bytes:
    """A RECORDS message from A's current stream, holding one record."""
    learner = mp.b.learner
    return wire.encode(Records(learner.epoch, learner.next_dseq, KeyKind.IPV4, False,
                               [record]))[1]


EVIL = (1, 4, 1, 3, 9, 1, 600, 600, 0, b"\x06\x06\x06\x06")  # 6.6.6.6 -> real 3


def truncated(mp) -> bytes:
    key, seq = session(mp)
    return wire.seal(Msg.RECORDS, seq, records(mp, EVIL), key)[:-5]


def oversized(mp) -> bytes:
    head = wire.HEAD.pack(wire.MAGIC, wire.VERSION, Msg.RECORDS, wire.MAX_BODY + 1, 7)
    return head + b"\0" * 64


def forged(mp) -> bytes:
    _, seq = session(mp)
    return wire.seal(Msg.RECORDS, seq, records(mp, EVIL), OTHER_KEY)


def wrong_version(mp) -> bytes:
    return wire.HEAD.pack(wire.MAGIC, 9, Msg.HELLO, 17, 1) + b"\0" * 41


def wrong_version_no_hello(mp) -> bytes:
    return wire.HEAD.pack(wire.MAGIC, 9, Msg.ACK, 17, 1) + b"\0" * 41


def unknown_type(mp) -> bytes:
    key, seq = session(mp)
    return wire.seal(77, seq, b"", key)


def malformed_record(mp) -> bytes:
    """Authentic (A's key, a fresh sequence number), but a record no table may hold: a live
    entry that is not flagged persistent."""
    key, seq = session(mp)
    return wire.seal(Msg.RECORDS, seq, records(mp, (1, 4, 1, 3, 9, 0, 600, 600, 0,
                                                    b"\x06\x06\x06\x06")), key)


def short_body(mp) -> bytes:
    key, seq = session(mp)
    return wire.seal(Msg.ACK, seq, wire.encode(Ack(1, 2))[1][:-3], key)


CASES = {
    "truncated (its MAC cut off)": (truncated, "bad_mac"),
    "oversized (a length past 256 KiB)": (oversized, "malformed"),
    "forged (sealed with another key)": (forged, "bad_mac"),
    "a hello of another protocol version": (wrong_version, "version"),
    "another version, and no hello": (wrong_version_no_hello, "malformed"),
    "unknown message type": (unknown_type, "malformed"),
    "authentic, but a record no table may hold": (malformed_record, "malformed"),
    "authentic, but its body cut short": (short_body, "malformed"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_bad_mirror_message_costs_one_counter_and_nothing_else(name):
    mp = synced()
    make, reason = CASES[name]
    before = held(mp.b.persistence)
    dropped = dict(mp.b.stats.dropped)
    bad = make(mp)
    # a lone damaged frame is recognised as soon as the next frame (or heartbeat) follows it
    mp.ab.inject(bad, mp.now)
    mp.run(mp.now + 2)
    new = {k: v - dropped.get(k, 0) for k, v in mp.b.stats.dropped.items()
           if v != dropped.get(k, 0)}
    assert new == {reason: 1}
    assert held(mp.b.persistence) == before
    assert mp.b.state is State.SYNCED
    bind(mp.a.persistence, 2, mp.now)
    mp.run(mp.now + 1)
    assert held(mp.b.persistence) == held(mp.a.persistence) != before


def test_a_replayed_message_is_refused_by_its_sequence_number():
    mp = pair()
    sent: list[bytes] = []
    send = mp.ab.send
    mp.ab.send = lambda data, now: (sent.append(data), send(data, now))
    bind(mp.a.persistence, 1, 100)
    mp.run(101)
    mp.a.persistence.forget(KeyKind.IPV4, 1, next(iter(held(mp.a.persistence)))[2])
    mp.run(102)
    before, replays = held(mp.b.persistence), mp.b.stats.dropped["replay"]
    frames = [f for data in sent for f in split_frames(data)
              if wire.HEAD.unpack_from(f)[2] == Msg.RECORDS]
    mp.ab.inject(b"".join(frames), mp.now)  # the binding and its delete, again
    mp.run(103)
    assert mp.b.stats.dropped["replay"] == replays + len(frames) >= replays + 2
    assert held(mp.b.persistence) == before == {}
