"""The mirror's batch records in C (weboslb/ha/records.py): a bulk walk and a journal read
write exactly the records the per-entry Python form writes; a block applied on another clock
gives the same bindings with the same expiries; hostile or partial blocks are refused whole;
and the learner's sweep rules hold when one C call applies a whole message."""
from __future__ import annotations

import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from weboslb.ha import events as ev
from weboslb.ha import records, wire
from weboslb.ha.learn import Learner, rebase
from weboslb.ha.mirror import MirrorStats
from weboslb.ha.records import Exporter, Sweep
from weboslb.ha.teach import live_record
from weboslb.ha.wire import BulkBegin, BulkEnd, RecordBlock, Records, Start, WireError
from weboslb.table import CTable, RefTable
from weboslb.table.contract import Entry, JournalGap, KeyKind, Op

from .helpers import held_full, persistence

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def key_of(kind: KeyKind, i: int) -> bytes:
    if kind.fixed:
        return i.to_bytes(kind.width, "big")
    return b"k%d" % i  # variable-length kinds: short keys, zero padded on the wire


def filled(kind: KeyKind, n: int, now: int = 1000, seed: int = 1) -> CTable:
    """Persistent entries with every field varied, some never expiring, some expired, some
    touched "in the future", plus ordinary (non-persistent) sessions that never travel."""
    rng = random.Random(seed)
    t = CTable(kind, 1 << 12)
    for i in range(n):
        timeout = rng.choice([0, 60, 600, 3600])
        last_used = now - rng.randrange(0, 700) if rng.random() < 0.9 else now + 5
        t.put(Entry(key_of(kind, i), vsvc=rng.randrange(3), real=rng.randrange(65535),
                    sp=rng.randrange(256), flags=1 | rng.choice([0, 0x10, 0xF0]),
                    created=max(0, last_used - rng.randrange(100)), last_used=last_used,
                    timeout=timeout), now=now)
        t.get_or_create(key_of(kind, n + i), vsvc=1, real=1, now=now, timeout=60,
                        persistent=False)
    return t


def python_bulk(t: CTable, now: int) -> list[tuple]:
    """What the per-entry Python path sends for a bulk copy."""
    s = wire.record_struct(t.kind)
    return [s.unpack(s.pack(*live_record(Op.NEW, e, now)))
            for e in t.entries(persistent_only=True) if e.alive(now)]


def walk(t: CTable, now: int, limit: int) -> list[RecordBlock]:
    ex, cursor, blocks = Exporter(), 0, []
    while True:
        block, cursor, done = ex.bulk(t, cursor, now, limit)
        blocks.append(block)
        if done:
            return blocks


@pytest.mark.parametrize("kind", list(KeyKind), ids=lambda k: k.label)
def test_a_bulk_walk_writes_what_the_python_path_writes(kind):
    t = filled(kind, 700)
    expected = python_bulk(t, 1000)
    blocks = walk(t, 1000, 97)
    assert [r for b in blocks for r in b] == expected
    assert all(b.count == 97 for b in blocks[:-1]) and blocks[-1].count < 97
    assert not any(e.pending for e in t.entries(persistent_only=True))  # read: not pending
    # a block travels as it is: a RECORDS message carries its bytes unchanged
    typ, body = wire.encode(Records(1, 2, kind, True, blocks[0], held=4))
    back = wire.decode(typ, body)
    assert back.records == blocks[0] and back.held == 4 and back.bulk


@pytest.mark.parametrize("kind", [KeyKind.IPV4, KeyKind.COOKIE], ids=lambda k: k.label)
def test_a_block_applied_on_a_younger_clock_keeps_every_expiry(kind):
    src = filled(kind, 500)
    dst = CTable(kind, 1 << 12)
    for block in walk(src, 1000, 64):
        got = records.apply(dst, block, now=200, held=0, bulk=True)
        assert got.applied == block.count and got.full == 0
    dst.check()
    want = {(e.vsvc, e.key): e for e in src.entries(persistent_only=True) if e.alive(1000)}
    have = {(e.vsvc, e.key): e for e in dst.entries()}
    assert have.keys() == want.keys()
    for k, e in want.items():
        d = have[k]
        assert (d.real, d.sp, d.flags & ~2) == (e.real, e.sp, e.flags & ~2)
        if e.timeout == 0:
            assert d.timeout == 0 and d.alive(10**9)
        else:  # the same seconds to live, as rebase() computes them
            remaining = min(e.timeout, max(0, e.expires - 1000))
            assert d.expires == 200 + remaining
            assert (d.created, d.last_used, d.timeout) == \
                rebase(e.timeout, remaining, max(0, 1000 - e.created), 200)
    assert dst.updates_since(0) == []  # learnt entries are never mirrored back


def test_held_seconds_come_off_the_remaining_lifetime():
    src = CTable(KeyKind.IPV4, 64)
    src.put(Entry(b"\1\1\1\1", 1, 3, 0, 1, 100, 100, 60), now=100)  # 60 s left at 100
    src.put(Entry(b"\2\2\2\2", 1, 3, 0, 1, 100, 100, 20), now=100)  # 20 s left
    [block] = walk(src, 100, 10)
    dst = CTable(KeyKind.IPV4, 64)
    got = records.apply(dst, block, now=500, held=25, bulk=False)
    assert got.applied == 2
    assert dst.lookup(b"\1\1\1\1", vsvc=1, now=500).expires == 500 + 35
    assert dst.lookup(b"\2\2\2\2", vsvc=1, now=500) is None  # no life left: not created
    assert len(dst) == 1


def changed_table() -> tuple[CTable, int]:
    """A table that went through every kind of change after journal position ``seq``."""
    t = CTable(KeyKind.SSLID, 256, seed=b"s" * 16)
    for i in range(40):
        t.put(Entry(key_of(KeyKind.SSLID, i), 1, i, 0, 1, 100, 100, 300), now=100)
    t.put(Entry(b"short", 1, 8, 0, 1, 100, 100, 5), now=100)
    t.put(Entry(b"gone", 1, 8, 0, 1, 100, 100, 300), now=100)
    seq = t.journal_head
    t.updates_since(0, 1000)  # read: nothing is pending any more
    t.get_or_create(key_of(KeyKind.SSLID, 1), vsvc=1, real=9, now=110, timeout=300)  # touch
    t.put(Entry(key_of(KeyKind.SSLID, 2), 1, 77, 0, 1, 100, 110, 300), now=110)  # rebind
    t.delete(key_of(KeyKind.SSLID, 3), vsvc=1)
    t.delete(key_of(KeyKind.SSLID, 4), vsvc=1)  # deleted, then bound again: an update
    t.put(Entry(key_of(KeyKind.SSLID, 4), 1, 5, 0, 1, 111, 111, 300), now=111)
    t.expire(120, 1 << 10)  # "short" expires: an EXPIRE record
    t.put(Entry(b"new", 2, 8, 0, 0x11, 120, 120, 0), now=120)
    t.put(Entry(b"gone", 1, 8, 0, 1, 100, 100, 300), now=120)
    t.delete(b"gone", vsvc=1)  # bound, then deleted before the read: a deletion
    return t, seq


def test_a_journal_read_writes_what_the_python_path_writes():
    t, seq = changed_table()
    twin, _ = changed_table()  # the same seed and changes: the same journal
    s = wire.record_struct(KeyKind.SSLID)
    expected = []
    for u in twin.updates_since(seq, 1000):
        e = u.entry
        if e is None or not e.persistent or not e.alive(120):
            op = Op.EXPIRE if u.op is Op.EXPIRE else Op.DELETE
            expected.append(s.unpack(s.pack(op, len(u.key), u.vsvc, 0, 0, 0, 0, 0, 0, u.key)))
        else:
            op = u.op if u.op in wire.LIVE_OPS else Op.UPDATE
            expected.append(s.unpack(s.pack(*live_record(op, e, 120))))
    ex, got, cursor = Exporter(), [], seq
    while True:
        block, cursor = ex.journal(t, cursor, 120, 3)
        got += list(block)
        if block.count < 3:
            break
    assert got == expected
    assert cursor == t.journal_head
    # touch, rebind, delete; a deletion whose key is bound again reads as an update, the
    # new binding as new; the expiry; a new binding; one bound and deleted: twice a deletion
    assert [(r[0], r[9][:r[1]]) for r in got] == [
        (Op.TOUCH, b"k1"), (Op.UPDATE, b"k2"), (Op.DELETE, b"k3"), (Op.UPDATE, b"k4"),
        (Op.NEW, b"k4"), (Op.EXPIRE, b"short"), (Op.NEW, b"new"), (Op.DELETE, b"gone"),
        (Op.DELETE, b"gone")]
    assert not any(e.pending for e in t.entries())  # read: a later change is journaled


def test_a_journal_read_reports_a_gap_and_a_replaced_table():
    t = CTable(KeyKind.IPV4, 4096, journal=1024)
    for i in range(1500):
        t.put(Entry(key_of(KeyKind.IPV4, i), 1, 1, 0, 1, 1, 1, 0), now=1)
    with pytest.raises(JournalGap):
        Exporter().journal(t, 10, 1, 100)
    with pytest.raises(ValueError, match="beyond the head"):
        Exporter().journal(t, t.journal_head + 1, 1, 100)


def test_only_c_tables_can_be_read_or_written_in_batches():
    with pytest.raises(TypeError, match="open C table, not RefTable"):
        Exporter().bulk(RefTable(KeyKind.IPV4, 64), 0, 1, 10)
    closed = CTable(KeyKind.IPV4, 64)
    closed.close()
    with pytest.raises(TypeError, match="open C table"):
        records.apply(closed, RecordBlock(KeyKind.IPV4, 0, b""), now=1, held=0, bulk=False)
    with pytest.raises(ValueError, match="ipv6 records for a ipv4 table"):
        records.apply(CTable(KeyKind.IPV4, 64), RecordBlock(KeyKind.IPV6, 0, b""), now=1,
                      held=0, bulk=False)


# ---- hostile and partial blocks --------------------------------------------------------------

S4 = wire.record_struct(KeyKind.IPV4)
GOOD = (1, 4, 1, 3, 0, 1, 600, 10, 0, b"\x01\x02\x03\x04")
BAD = [
    ((9, 4, 1, 1, 0, 1, 600, 10, 0, b"\0" * 4), "unknown op"),
    ((1, 3, 1, 1, 0, 1, 600, 10, 0, b"\0" * 4), "key length"),
    ((1, 4, 1, 0xFFFF, 0, 1, 600, 10, 0, b"\0" * 4), "bad real 65535"),
    ((1, 4, 1, 1, 0, 0, 600, 10, 0, b"\0" * 4), "or flags 0x0"),  # live, not persistent
    ((1, 4, 1, 1, 0, 0x05, 600, 10, 0, b"\0" * 4), "or flags 0x5"),  # a reserved bit
    ((1, 4, 1, 1, 0, 1, 600, 601, 0, b"\0" * 4), "remaining"),
]


@pytest.mark.parametrize("bad,why", BAD, ids=[w for _, w in BAD])
def test_one_bad_record_refuses_the_whole_block(bad, why):
    data = S4.pack(*GOOD) + S4.pack(*GOOD[:-1], b"\x05\x06\x07\x08") + S4.pack(*bad)
    t = CTable(KeyKind.IPV4, 64)
    with pytest.raises(WireError, match=f"record 2: .*{why}") as e:
        records.apply(t, RecordBlock(KeyKind.IPV4, 3, data), now=5, held=0, bulk=False)
    assert e.value.reason == "malformed"
    assert len(t) == 0  # the two good records before it were not applied either
    body = struct.pack(">QQBBII", 1, 1, KeyKind.IPV4.cid, 0, 3, 0) + data
    with pytest.raises(WireError, match=f"record 2: .*{why}"):
        wire.decode(wire.Msg.RECORDS, body)


def test_padding_after_a_short_key_must_be_zero():
    s = wire.record_struct(KeyKind.COOKIE)
    rec = bytearray(s.pack(1, 3, 1, 1, 0, 1, 60, 6, 0, b"abc"))
    rec[-1] = 7
    with pytest.raises(WireError, match="record 0: bad cookie key length 3"):
        wire.decode(wire.Msg.RECORDS,
                    struct.pack(">QQBBII", 1, 1, KeyKind.COOKIE.cid, 0, 1, 0) + bytes(rec))
    with pytest.raises(WireError, match="bad cookie key length 3"):
        records.apply(CTable(KeyKind.COOKIE, 64), RecordBlock(KeyKind.COOKIE, 1, bytes(rec)),
                      now=1, held=0, bulk=True)


def test_a_block_shorter_than_its_count_is_never_read_past_its_end():
    data = S4.pack(*GOOD) * 3
    t = CTable(KeyKind.IPV4, 64)
    for n, cut in ((4, data), (3, data[:-1]), (1 << 30, data)):
        with pytest.raises(WireError, match="need"):
            records.apply(t, RecordBlock(KeyKind.IPV4, n, cut), now=1, held=0, bulk=False)
    assert len(t) == 0
    head = struct.pack(">QQBBII", 1, 1, KeyKind.IPV4.cid, 0, 3, 0)
    for body in (head + data[:-1], head + data + b"\0", head[:-1]):
        with pytest.raises(WireError) as e:
            wire.decode(wire.Msg.RECORDS, body)
        assert e.value.reason == "malformed"


@FUZZ
@given(data=st.binary(min_size=0, max_size=24 * 6), held=st.integers(0, 1 << 32),
       bulk=st.booleans(), kind=st.sampled_from([KeyKind.IPV4, KeyKind.SSLID]))
def test_random_bytes_are_applied_or_refused_never_anything_else(data, held, bulk, kind):
    size = wire.record_struct(kind).size
    n = len(data) // size
    t = CTable(kind, 16)
    try:
        got = records.apply(t, RecordBlock(kind, n, data[:n * size]), now=7, held=held,
                            bulk=bulk, sweep=Sweep(t))
    except WireError as e:
        assert e.reason == "malformed"
        assert len(t) == 0
    else:
        assert got.applied + got.skipped + got.full == n
    t.check()


# ---- the learner's sweep, one C call a message --------------------------------------------


def learner(p=None):
    events: list = []
    p = persistence(2) if p is None else p
    return Learner(p, events=events, stats=MirrorStats()), events


def rec(op: int, i: int, real: int = 3) -> tuple:
    key = key_of(KeyKind.IPV4, i)
    if op in (Op.DELETE, Op.EXPIRE):
        return (op, 4, 1, 0, 0, 0, 0, 0, 0, key)
    return (op, 4, 1, real, 0, 1, 600, 600, 0, key)


def stream(le: Learner, msgs: list, now: float = 50.0) -> None:
    for m in msgs:
        if isinstance(m, Records):  # as received: decoded from its bytes
            m = wire.decode(*wire.encode(m))
        assert le.accept(m, 7, now) == "applied"


def test_a_bulk_copy_replaces_the_kind_and_an_incremental_write_wins_over_its_copy():
    p = persistence(2)
    le, events = learner(p)
    for i in (1, 2, 3):  # held before the bulk: 1 is resent, 2 and 3 are not
        p.bind(KeyKind.IPV4, 1, key_of(KeyKind.IPV4, i), real=1, now=10, timeout=600, sp=0)
    stream(le, [
        Start(1, 1),
        BulkBegin(1, 2, KeyKind.IPV4),
        Records(1, 3, KeyKind.IPV4, False, [rec(Op.DELETE, 4), rec(Op.UPDATE, 5, real=9),
                                            rec(Op.NEW, 2, real=8)]),
        # copies read before those changes: they must not undo them
        Records(1, 4, KeyKind.IPV4, True, [rec(Op.NEW, 1, real=6), rec(Op.NEW, 4),
                                           rec(Op.NEW, 5, real=2), rec(Op.NEW, 6)]),
        BulkEnd(1, 5, KeyKind.IPV4, 4),
    ])
    have = {e.key: e.real for _, e in p.entries()}
    assert have == {key_of(KeyKind.IPV4, 1): 6, key_of(KeyKind.IPV4, 2): 8,
                    key_of(KeyKind.IPV4, 5): 9, key_of(KeyKind.IPV4, 6): 3}
    [done] = [e for e in events if isinstance(e, ev.BulkDone)]
    assert (done.count, done.held, done.swept) == (2, 4, 1)  # 2 copies applied; 3 swept
    assert le.stats.applied == 5 and le.stats.bulk_applied == 2


def test_a_sweep_without_incremental_records_makes_no_recent_set():
    p = persistence(2)
    le, _ = learner(p)
    stream(le, [Start(1, 1), BulkBegin(1, 2, KeyKind.IPV4),
                Records(1, 3, KeyKind.IPV4, True, [rec(Op.NEW, i) for i in range(50)])])
    assert le.sweeps[KeyKind.IPV4].recent is None
    stream(le, [Records(1, 4, KeyKind.IPV4, False, [rec(Op.NEW, 99)])])
    assert le.sweeps[KeyKind.IPV4].recent is not None
    stream(le, [BulkEnd(1, 5, KeyKind.IPV4, 50)])
    assert not le.sweeps and len(p) == 51


def test_a_learner_table_that_is_full_reports_what_it_refused():
    p = persistence(2, capacity=16)
    le, events = learner(p)
    stream(le, [Start(1, 1), Records(1, 2, KeyKind.IPV4, False,
                                     [rec(Op.NEW, i) for i in range(20)])])
    assert len(p) == 16
    assert le.stats.dropped["table_full"] == 4
    assert [e.count for e in events if isinstance(e, ev.TableFull)] == [4]


def test_the_block_path_matches_a_bulk_sync_through_the_pair():
    """End to end through MirrorPair: the C blocks carry an active's every kind."""
    from .helpers import pair

    pa = persistence(1)
    for kind in KeyKind:
        t = pa.table(kind)
        for e in filled(kind, 200, now=1000).entries(persistent_only=True):
            if e.last_used <= 1000:  # (one touched "later" than now lives a full timeout)
                t.put(e, now=1000)
    mp = pair(pa=pa, start=1000.0)
    mp.run(1001)
    live = {k: v for k, v in held_full(pa).items() if v[3] is None or v[3] > 1000}
    assert len(live) > 7 * 100
    assert held_full(mp.b.persistence) == live
