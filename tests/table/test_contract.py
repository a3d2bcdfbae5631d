"""The persistence-table contract, checked on the C table and on the reference alike."""
from array import array

import pytest

from weboslb.table import (
    FLAG_PENDING,
    FLAG_PERSIST,
    NO_REAL,
    Entry,
    JournalGap,
    KeyBatch,
    Op,
    Policy,
    Status,
)

IP1, IP2, IP3 = b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02", b"\x0a\x00\x00\x03"


def ip(i: int) -> bytes:
    return i.to_bytes(4, "big")


# ---- bindings -------------------------------------------------------------------------------


def test_first_binding_wins_and_a_hit_touches(make_table):
    t = make_table("ipv4", 16)
    assert t.get_or_create(IP1, real=3, now=100, timeout=60) == (Status.CREATED, 3)
    assert t.get_or_create(IP1, real=7, now=130, timeout=90) == (Status.FOUND, 3)
    e = t.lookup(IP1, now=131)
    assert (e.real, e.created, e.last_used, e.timeout) == (3, 100, 130, 90)
    assert e.persistent and e.expires == 220


def test_lookup_many_reports_reals_and_misses(make_table):
    t = make_table("ipv4", 16)
    t.get_or_create_many(KeyBatch.of("ipv4", [IP1, IP2]), reals=array("H", [4, 5]), now=10,
                         timeout=100)
    out = t.lookup_many(KeyBatch.of("ipv4", [IP2, IP3, IP1]), now=20)
    assert list(out) == [5, NO_REAL, 4]
    assert t.lookup(IP3, now=20) is None


def test_a_binding_belongs_to_its_virtual_service(make_table):
    t = make_table("ipv4", 16)
    t.get_or_create(IP1, vsvc=1, real=1, now=0, timeout=10)
    t.get_or_create(IP1, vsvc=2, real=2, now=0, timeout=10)
    assert t.lookup(IP1, vsvc=1, now=1).real == 1
    assert t.lookup(IP1, vsvc=2, now=1).real == 2
    assert t.lookup(IP1, vsvc=3, now=1) is None
    batch = KeyBatch.of("ipv4", [IP1, IP1, IP1], vsvc=[2, 1, 3])
    assert list(t.lookup_many(batch, now=1)) == [2, 1, NO_REAL]


def test_the_zero_address_is_an_ordinary_key(make_table):
    # 0.0.0.0 in vsvc 0 has the bits of an empty IPv4 slot: it must never match one
    zero = bytes(4)
    t = make_table("ipv4", 8)
    assert list(t.lookup_many(KeyBatch.of("ipv4", [zero, IP1]), now=0)) == [NO_REAL] * 2
    assert t.get_or_create(IP1, real=1, now=0, timeout=10) == (Status.CREATED, 1)
    assert t.lookup(zero, now=0) is None and t.delete(zero) is False
    assert t.get_or_create(zero, real=2, now=0, timeout=10) == (Status.CREATED, 2)
    assert list(t.lookup_many(KeyBatch.of("ipv4", [zero, IP1, IP2]), now=1)) == [2, 1, NO_REAL]
    assert [e.key for e in t.entries()] == [IP1, zero]
    assert t.delete(zero) is True
    assert list(t.lookup_many(KeyBatch.of("ipv4", [zero, IP1]), now=1)) == [NO_REAL, 1]
    assert len(t) == 1


def test_variable_length_keys_are_exact(make_table):
    t = make_table("sslid", 16)
    for key, real in ((b"\x01", 1), (b"\x01\x00", 2), (bytes(range(32)), 3)):
        assert t.get_or_create(key, real=real, now=0, timeout=50)[0] is Status.CREATED
    assert [t.lookup(k, now=1).real for k in (b"\x01", b"\x01\x00", bytes(range(32)))] == [1, 2, 3]
    assert t.lookup(b"\x01\x00\x00", now=1) is None


def test_cookie_batch_from_a_packed_buffer(make_table):
    t = make_table("cookie", 16)
    values = [b"A" * 64, b"JSESSIONID-abc", b"x"]
    buf = b"".join(v.ljust(64, b"\0") for v in values)
    batch = KeyBatch.from_buffer("cookie", buf, lens=[len(v) for v in values])
    reals, status = t.get_or_create_many(batch, reals=[1, 2, 3], now=5, timeout=10)
    assert list(status) == [Status.CREATED] * 3 and list(reals) == [1, 2, 3]
    assert t.lookup(b"JSESSIONID-abc", now=6).real == 2


def test_all_key_kinds_round_trip(make_table):
    for kind, key in (("ipv6", bytes(range(16))), ("ftp", b"\x0a\x00\x00\x01\x13\x88"),
                      ("ftp6", bytes(18)), ("urlhash", b"\xff" * 8)):
        t = make_table(kind, 4)
        t.get_or_create(key, real=9, now=0, timeout=0)
        assert t.lookup(key, now=10**9).real == 9


def test_batches_see_their_own_inserts(make_table):
    t = make_table("ipv4", 16)
    reals, status = t.get_or_create_many(KeyBatch.of("ipv4", [IP1, IP2, IP1]),
                                         reals=[1, 2, 3], now=0, timeout=10)
    assert list(status) == [Status.CREATED, Status.CREATED, Status.FOUND]
    assert list(reals) == [1, 2, 1]
    assert len(t) == 2


# ---- expiry ---------------------------------------------------------------------------------


def test_an_expired_entry_is_gone_before_any_sweep(make_table):
    t = make_table("ipv4", 16)
    t.get_or_create(IP1, real=1, now=100, timeout=30)
    assert t.lookup(IP1, now=129) is not None
    assert t.lookup(IP1, now=130) is None
    # a new binding replaces it, as a fresh entry
    assert t.get_or_create(IP1, real=2, now=131, timeout=30) == (Status.CREATED, 2)
    assert t.stats().expirations == 1


def test_timeout_zero_never_expires(make_table):
    t = make_table("ipv4", 4)
    t.get_or_create(IP1, real=1, now=0, timeout=0)
    assert t.expire(2**32 - 1) == 0
    assert t.lookup(IP1, now=2**32 - 1).real == 1


def test_expire_does_bounded_work_and_covers_the_table(make_table):
    t = make_table("ipv4", 64)
    t.get_or_create_many(KeyBatch.of("ipv4", [ip(i) for i in range(40)]), reals=1, now=0,
                         timeout=[10 if i % 2 else 1000 for i in range(40)])
    assert t.expire(now=500, max_work=8) == 4  # 8 entries scanned, every other one expired
    assert len(t) == 36
    swept = sum(t.expire(now=500, max_work=8) for _ in range(4))
    assert swept == 16 and len(t) == 20
    assert all(e.timeout == 1000 for e in t.entries())


# ---- a full table ---------------------------------------------------------------------------


def test_full_table_refuses_and_counts(make_table):
    t = make_table("ipv4", 4, policy=Policy.REFUSE)
    for i in range(4):
        t.get_or_create(ip(i), real=1, now=0, timeout=100, persistent=False)
    assert t.get_or_create(ip(9), real=1, now=1, timeout=100) == (Status.FULL, NO_REAL)
    s = t.stats()
    assert (s.entries, s.alloc_failures, s.evictions) == (4, 1, 0)


def test_full_table_reclaims_expired_entries_first(make_table):
    t = make_table("ipv4", 4, policy=Policy.EVICT_LRU)
    for i in range(4):
        t.get_or_create(ip(i), real=1, now=0, timeout=10 if i == 2 else 100, persistent=False)
    assert t.get_or_create(ip(9), real=5, now=20, timeout=100)[0] is Status.CREATED
    assert t.lookup(ip(2), now=20) is None and t.lookup(ip(0), now=20) is not None
    s = t.stats()
    assert (s.expirations, s.evictions, s.alloc_failures) == (1, 0, 0)


def test_full_table_evicts_least_recently_used_ordinary_entry(make_table):
    t = make_table("ipv4", 4, policy=Policy.EVICT_LRU)
    t.get_or_create(ip(0), real=1, now=0, timeout=100, persistent=True)
    t.get_or_create(ip(1), real=1, now=1, timeout=100, persistent=False)
    t.get_or_create(ip(2), real=1, now=2, timeout=100, persistent=False)
    t.get_or_create(ip(3), real=1, now=3, timeout=100, persistent=True)
    t.get_or_create(ip(1), real=1, now=4, timeout=100)  # touch: ip(2) is now the LRU one
    assert t.get_or_create(ip(9), real=2, now=5, timeout=100)[0] is Status.CREATED
    assert t.lookup(ip(2), now=5) is None
    assert all(t.lookup(ip(i), now=5) for i in (0, 1, 3, 9))
    assert t.stats().evictions == 1


def test_persistent_entries_are_never_evicted(make_table):
    t = make_table("ipv4", 2, policy=Policy.EVICT_LRU)
    t.get_or_create(ip(0), real=1, now=0, timeout=100)
    t.get_or_create(ip(1), real=1, now=0, timeout=100)
    assert t.get_or_create(ip(2), real=1, now=1, timeout=100)[0] is Status.FULL
    assert len(t) == 2 and t.stats().alloc_failures == 1


# ---- explicit writes and deletes ------------------------------------------------------------


def test_put_rebinds_and_learns_remote_entries(make_table):
    t = make_table("sslid", 8)
    t.get_or_create(b"sess", real=1, now=0, timeout=100)
    e = Entry(key=b"sess", vsvc=0, real=2, sp=9, flags=FLAG_PERSIST, created=0, last_used=40,
              timeout=100)
    assert t.put(e, now=50) is Status.FOUND
    assert t.lookup(b"sess", now=139).real == 2 and t.lookup(b"sess", now=140) is None
    remote = Entry(key=b"peer", vsvc=1, real=3, sp=9, flags=FLAG_PERSIST | 0x10, created=5,
                   last_used=45, timeout=20)
    assert t.put(remote, now=50, journal=False) is Status.CREATED
    got = t.lookup(b"peer", vsvc=1, now=50)
    assert (got.real, got.sp, got.flags, got.created) == (3, 9, FLAG_PERSIST | 0x10, 5)


def test_put_into_a_full_table(make_table):
    t = make_table("ipv4", 1)
    t.get_or_create(IP1, real=1, now=0, timeout=10)
    e = Entry(IP2, 0, 1, 0, FLAG_PERSIST, 0, 0, 10)
    assert t.put(e, now=1) is Status.FULL
    assert t.put(e, now=10) is Status.CREATED  # IP1 has expired by then: reclaimed


def test_delete(make_table):
    t = make_table("ipv4", 8)
    t.get_or_create(IP1, real=1, now=0, timeout=10)
    assert t.delete(IP1) is True
    assert t.delete(IP1) is False
    assert t.lookup(IP1, now=0) is None and t.stats().deletes == 1


def test_clear_drops_everything(make_table):
    t = make_table("ipv4", 8)
    t.get_or_create_many(KeyBatch.of("ipv4", [IP1, IP2]), reals=1, now=0, timeout=10)
    t.clear()
    assert len(t) == 0 and list(t.entries()) == []
    assert t.get_or_create(IP1, real=4, now=1, timeout=10) == (Status.CREATED, 4)


# ---- iteration and the journal --------------------------------------------------------------


def test_entries_iterates_in_storage_order_and_filters(make_table):
    t = make_table("ipv4", 8)
    for i in range(5):
        t.get_or_create(ip(i), real=i, now=i, timeout=10, persistent=i % 2 == 0)
    assert [e.key for e in t.entries()] == [ip(i) for i in range(5)]
    assert [e.real for e in t.entries(persistent_only=True)] == [0, 2, 4]
    assert all(e.pending for e in t.entries(persistent_only=True, clear_pending=True))
    assert not any(e.pending for e in t.entries())


def test_journal_records_persistent_changes_in_order(make_table):
    t = make_table("ipv4", 8, journal=16)
    t.get_or_create(IP1, real=1, now=0, timeout=10)
    t.get_or_create(IP2, real=2, now=0, timeout=10, persistent=False)  # ordinary: not journaled
    t.get_or_create(IP3, real=3, now=0, timeout=10)
    t.delete(IP1)
    ups = t.updates_since(0)
    assert [(u.seq, u.op, u.key) for u in ups] == [
        (1, Op.NEW, IP1), (2, Op.NEW, IP3), (3, Op.DELETE, IP1)]
    assert ups[0].entry is None  # IP1 is absent now
    assert ups[1].entry.real == 3 and ups[1].entry.pending  # state as it was read
    assert t.updates_since(3) == [] and t.journal_head == 3


def test_journal_coalesces_touches_until_read(make_table):
    t = make_table("ipv4", 8, journal=16)
    t.get_or_create(IP1, real=1, now=0, timeout=10)
    for now in (1, 2, 3):
        t.get_or_create(IP1, real=1, now=now, timeout=10)
    ups = t.updates_since(0)
    assert len(ups) == 1 and ups[0].entry.last_used == 3  # one record, current state
    assert not t.lookup(IP1, now=3).pending  # reading cleared the flag
    t.get_or_create(IP1, real=1, now=4, timeout=10)
    assert [(u.seq, u.op) for u in t.updates_since(1)] == [(2, Op.TOUCH)]


def test_journal_records_expiry_of_persistent_entries(make_table):
    t = make_table("ipv4", 8, journal=16)
    t.get_or_create(IP1, real=1, now=0, timeout=10)
    t.updates_since(0)
    assert t.expire(now=10) == 1
    (u,) = t.updates_since(1)
    assert (u.op, u.key, u.entry) == (Op.EXPIRE, IP1, None)


def test_journal_gap_after_overflow_and_after_clear(make_table):
    t = make_table("ipv4", 16, journal=4)
    for i in range(6):
        t.get_or_create(ip(i), real=1, now=0, timeout=10)
    with pytest.raises(JournalGap) as exc:
        t.updates_since(1)
    assert exc.value.oldest == 3
    assert [u.seq for u in t.updates_since(2)] == [3, 4, 5, 6]
    t.clear()
    with pytest.raises(JournalGap):
        t.updates_since(5)
    assert t.updates_since(6) == []


def test_no_journal_means_no_pending_flags(make_table):
    t = make_table("ipv4", 8, journal=0)
    t.get_or_create(IP1, real=1, now=0, timeout=10)
    assert t.journal_head == 0 and not t.lookup(IP1, now=0).flags & FLAG_PENDING
    assert t.updates_since(0) == []


def test_remote_put_is_not_journaled(make_table):
    t = make_table("ipv4", 8, journal=16)
    t.put(Entry(IP1, 0, 1, 0, FLAG_PERSIST, 0, 0, 10), now=0, journal=False)
    assert t.journal_head == 0 and not t.lookup(IP1, now=0).pending


def test_stats_count_what_happened(make_table):
    t = make_table("ipv4", 4)
    batch = KeyBatch.of("ipv4", [IP1, IP2])
    t.get_or_create_many(batch, reals=1, now=0, timeout=10)
    t.get_or_create(IP1, real=1, now=1, timeout=10)
    t.lookup_many(KeyBatch.of("ipv4", [IP1, IP3]), now=1)
    t.delete(IP2)
    s = t.stats()
    assert (s.entries, s.capacity, s.persistent) == (1, 4, 1)
    assert (s.inserts, s.touches, s.lookups, s.hits, s.deletes) == (2, 1, 2, 1, 1)
    assert s.load == 0.25


def test_tables_are_independent(make_table):
    a, b = make_table("ipv4", 8), make_table("ipv4", 8)
    a.get_or_create(IP1, real=1, now=0, timeout=10)
    assert b.lookup(IP1, now=0) is None and len(b) == 0
