"""MirrorPeer: bulk sync, incremental updates, periodic mode, roles, refusals, link loss,
journal gaps and restarts of either switch — on a virtual clock, through the in-memory pair."""
from __future__ import annotations

import random

import pytest

from weboslb.ha import MirrorPair, Plan, Role, State, Timers, wire
from weboslb.ha import events as ev
from weboslb.ha.learn import rebase
from weboslb.table import CTable
from weboslb.table.contract import Entry, KeyKind

from .helpers import (
    OTHER_KEY,
    PTMOUT,
    bind,
    held,
    held_full,
    ip,
    pair,
    peer,
    persistence,
)


def kinds(events, cls):
    return [e for e in events if isinstance(e, cls)]


def fill(p, n: int, now: float = 100.0) -> None:
    for i in range(n):
        bind(p, i, now)
    for i in range(n // 3):
        bind(p, i, now, kind=KeyKind.URLHASH, vsvc=2)
    p.bind(KeyKind.SSLID, 3, b"\x42" * 32, real=4, now=now, timeout=300, sp=9)
    p.bind(KeyKind.COOKIE, 4, b"session=abc", real=5, now=now, timeout=0, sp=9)


# ---- bulk and incremental ---------------------------------------------------------------------


def test_a_joining_standby_gets_every_persistent_entry_with_its_expiry():
    pa = persistence(1)
    fill(pa, 3000)
    mp = pair(pa=pa)
    mp.run(101)
    assert held_full(mp.b.persistence) == held_full(pa)
    assert len(held(pa)) == 3000 + 1000 + 2
    assert mp.a.state is State.SYNCED and mp.b.state is State.SYNCED
    assert mp.a.synced and mp.b.synced and mp.a.ready and not mp.b.ready
    done = {e.kind: e for e in kinds(mp.b.drain_events(), ev.BulkDone)}
    assert done[KeyKind.IPV4].count == done[KeyKind.IPV4].held == 3000
    assert done[KeyKind.FTP].count == 0
    assert mp.a.stats.bulk_sent == mp.b.stats.bulk_applied == mp.a.stats.acked == 4002


def test_new_touched_rebound_deleted_and_expired_entries_follow():
    pa = persistence(1)
    fill(pa, 50)
    mp = pair(pa=pa)
    mp.run(110)
    e = pa.lookup(KeyKind.IPV4, 1, bind(pa, 3, 100), 110)
    pa.touch(KeyKind.IPV4, 1, e.key, 110, e)  # touched: lives 600 s from 110 now
    bind(pa, 4, 110, real=6)  # rebound to another real
    pa.forget(KeyKind.IPV4, 1, bind(pa, 5, 100))
    bind(pa, 1000, 110)  # new
    bind(pa, 1001, 110, timeout=5)  # expires at 115
    mp.run(111)
    assert held_full(mp.b.persistence) == held_full(pa)
    assert mp.b.persistence.lookup(KeyKind.IPV4, 1, e.key, 111).last_used == 110
    pa.expire(116)
    mp.run(117)
    assert held_full(mp.b.persistence) == held_full(pa)
    assert (KeyKind.IPV4, 1, ip(1001)) not in held(mp.b.persistence)


def test_ordinary_sessions_are_never_mirrored():
    pa = persistence(1)
    t = pa.table(KeyKind.IPV4)
    t.get_or_create(b"\x01\x01\x01\x01", vsvc=1, real=1, now=100, timeout=60,
                    persistent=False)
    mp = pair(pa=pa)
    t.get_or_create(b"\x02\x02\x02\x02", vsvc=1, real=1, now=100, timeout=60,
                    persistent=False)
    bind(pa, 1, 100)
    mp.run(102)
    assert held(mp.b.persistence) == {(KeyKind.IPV4, 1, ip(1)): 1}
    assert len(mp.b.persistence) == 1


def test_expiry_travels_as_remaining_lifetime_so_clocks_need_not_agree():
    """The active's clock reads 1,000,000, the standby's 50: each entry still has the same
    number of seconds to live on both."""
    pa, pb = persistence(1), persistence(2)
    bind(pa, 1, 999_990)  # idle 10 s: 590 s left
    pa.bind(KeyKind.SSLID, 1, b"s" * 32, real=1, now=999_000, timeout=1200, sp=9)  # 200 s left
    a, b = peer(1, pa, "active"), peer(2, pb, "standby")
    a.connection_made(1_000_000)
    b.connection_made(50)
    for step in range(20):
        b.receive(a.data_to_send(), 50 + step / 10)
        a.receive(b.data_to_send(), 1_000_000 + step / 10)
        a.tick(1_000_000 + step / 10)
        b.tick(50 + step / 10)
    assert b.synced
    ip_entry = pb.lookup(KeyKind.IPV4, 1, ip(1), 50)
    assert ip_entry.expires == 50 + 590
    ssl = pb.lookup(KeyKind.SSLID, 1, b"s" * 32, 50)
    # the standby's clock is younger than the entry's idle time: the expiry is kept exact
    assert ssl.expires == 50 + 200 and ssl.last_used == 0
    assert rebase(0, 0, 30, 50) == (20, 50, 0)  # never-expiring entries stay so


def test_periodic_mode_sends_changes_once_per_update_interval():
    mp = pair(update=10)
    mp.run(101)
    assert mp.b.synced
    for t in (102, 103, 109):
        bind(mp.a.persistence, t, t)
        mp.run(t)
    assert held(mp.b.persistence) == {}  # batched until the interval ends
    mp.run(111)
    assert held(mp.b.persistence) == held(mp.a.persistence)
    assert mp.a.last_flush == pytest.approx(110)
    assert mp.a.stats.sent == 3


def test_touches_coalesce_into_one_record_per_interval():
    pa = persistence(1)
    key = bind(pa, 1, 100)
    mp = pair(pa=pa, update=10)
    mp.run(101)
    sent = mp.a.stats.sent
    for t in range(102, 110):
        pa.touch(KeyKind.IPV4, 1, key, t, pa.lookup(KeyKind.IPV4, 1, key, t))
        mp.run(t)
    mp.run(111)
    assert mp.a.stats.sent - sent == 1
    assert mp.b.persistence.lookup(KeyKind.IPV4, 1, key, 111).expires == 109 + PTMOUT


def test_update_interval_out_of_range_is_refused():
    with pytest.raises(ValueError, match="update 61 out of range 0..60"):
        peer(1, persistence(1), "active", update=61)
    with pytest.raises(ValueError, match="mirror role"):
        peer(1, persistence(1), "master")


# ---- roles ------------------------------------------------------------------------------------


def test_a_standby_applies_and_never_teaches_an_active_applies_nothing():
    pa, pb = persistence(1), persistence(2)
    bind(pb, 1, 100)  # the standby's stale entry: the bulk sweeps it away
    bind(pa, 2, 100)
    mp = pair(pa=pa, pb=pb)
    mp.run(102)
    assert held(pb) == held(pa) == {(KeyKind.IPV4, 1, ip(2)): 2}
    swept = [e for e in kinds(mp.b.drain_events(), ev.BulkDone) if e.kind is KeyKind.IPV4]
    assert swept[0].swept == 1


def test_two_actives_are_a_split_brain_and_exchange_nothing():
    pa, pb = persistence(1), persistence(2)
    bind(pa, 1, 100)
    bind(pb, 2, 100)
    a, b = peer(1, pa, "active"), peer(2, pb, "active")
    mp = MirrorPair(a, b)
    mp.now = 100
    mp.connect()
    mp.run(103)
    assert a.state is State.STALEMATE and a.plan is Plan.IDLE_BOTH_ACTIVE
    assert kinds(a.drain_events(), ev.SplitBrain)
    assert len(held(pa)) == len(held(pb)) == 1
    b.demote(103)  # VRRP settles: b is the backup now
    mp.run(105)
    assert b.role is Role.STANDBY and held(pb) == held(pa)


def test_failover_by_promotion_then_the_old_active_rejoins_as_standby():
    pa = persistence(1)
    fill(pa, 200)
    mp = pair(pa=pa)
    mp.run(101)
    mp.cut()  # switch A is gone
    bind(pa, 5000, 101)  # A's last binding never reaches B
    mp.run(106)
    assert mp.b.state is State.DOWN
    mp.b.promote(106)  # VRRP made B the master
    assert mp.b.ready and mp.b.role is Role.ACTIVE
    bind(mp.b.persistence, 6000, 107)
    mp.heal()
    mp.a.demote(107)  # A comes back as the backup
    mp.run(112)
    assert held(pa) == held(mp.b.persistence)
    assert (KeyKind.IPV4, 1, ip(5000)) not in held(pa)
    assert (KeyKind.IPV4, 1, ip(6000)) in held(pa)
    assert mp.a.plan is Plan.LEARN and mp.b.plan is Plan.TEACH


# ---- handshake refusals and authentication ---------------------------------------------------


def test_a_different_sync_id_is_refused_clearly_on_both_sides():
    a = peer(1, persistence(1), "active", sync_id=1)
    b = peer(2, persistence(2), "standby", sync_id=2)
    mp = MirrorPair(a, b)
    mp.now = 100
    mp.connect()
    mp.run(102)
    assert a.state is State.REFUSED and b.state is State.REFUSED
    ra, rb = kinds(a.drain_events(), ev.Refused), kinds(b.drain_events(), ev.Refused)
    assert {(r.reason, r.by_peer) for r in ra} == {("sync_id", True), ("sync_id", False)}
    assert "sync id 1 differs from 2" in {r.text for r in rb}
    assert b.stats.dropped["refused"] >= 1


def test_two_switches_with_one_switch_id_are_refused():
    a = peer(1, persistence(1), "active")
    b = peer(1, persistence(2), "standby")
    mp = MirrorPair(a, b)
    mp.connect(100)
    mp.run(101)
    assert b.state is State.REFUSED
    assert any("both switches have switch id 1" in r.text
               for r in kinds(b.drain_events(), ev.Refused))


def test_a_wrong_passphrase_never_gets_a_session_and_is_reported():
    pa = persistence(1)
    bind(pa, 1, 100)
    a = peer(1, pa, "active")
    b = peer(2, persistence(2), "standby", key=OTHER_KEY)
    mp = MirrorPair(a, b)
    mp.connect(100)
    mp.run(105)
    assert a.state is State.HELLO and b.state is State.HELLO
    assert b.stats.dropped["bad_mac"] >= 5 and held(b.persistence) == {}
    assert kinds(b.drain_events(), ev.AuthFailures)
    # the operator fixes the passphrase: the standby restarts with the right key
    mp.replace("b", peer(2, b.persistence, "standby"), 105)
    mp.run(107)
    assert held(mp.b.persistence) == held(pa)


def test_a_peer_speaking_another_version_is_refused_with_a_reason():
    a, b = peer(1, persistence(1), "active"), peer(2, persistence(2), "standby")
    a.connection_made(100)
    b.connection_made(100)
    frame = bytearray(a.data_to_send())
    frame[2] = 2  # a future protocol version
    b.receive(bytes(frame), 100)
    assert b.stats.dropped["version"] == 1 and b.state is State.REFUSED
    assert [r.reason for r in kinds(b.drain_events(), ev.Refused)] == ["version"]


# ---- link loss, gaps, restarts ----------------------------------------------------------------


def test_a_short_link_loss_resumes_the_stream_without_a_bulk_copy():
    pa = persistence(1)
    fill(pa, 500)
    mp = pair(pa=pa)
    mp.run(101)
    mp.a.drain_events()
    mp.cut(110)
    for t in range(102, 110):
        mp.run(t)
        bind(pa, 1000 + t, t)
    assert mp.b.state is State.DOWN
    mp.run(115)
    assert held_full(mp.b.persistence) == held_full(pa)
    evs = mp.a.drain_events()
    assert [e.resumed for e in kinds(evs, ev.PeerUp)] == [True]
    assert not kinds(evs, ev.BulkStarted)
    assert mp.a.stats.retransmits > 0


def test_a_journal_gap_resyncs_only_the_kind_that_lost_records():
    pa = persistence(1)
    pa.tables[KeyKind.IPV4] = CTable(KeyKind.IPV4, 1 << 12, journal=16, seed=b"j" * 16)
    fill(pa, 100)
    mp = pair(pa=pa, window=2)
    mp.run(101)
    mp.a.drain_events()
    mp.cut(110)
    for i in range(40):  # more changes than the 16-record journal holds
        bind(pa, 2000 + i, 102)
    pa.bind(KeyKind.SSLID, 3, b"\x43" * 32, real=1, now=102, timeout=300, sp=9)
    mp.run(116)
    assert held(mp.b.persistence) == held(pa)
    resyncs = kinds(mp.a.drain_events(), ev.BulkStarted)
    assert [(e.kind, e.why) for e in resyncs] == [(KeyKind.IPV4, "journal-gap")]
    assert mp.a.stats.resyncs == 1 and mp.a.synced


def test_a_restarted_standby_gets_a_fresh_bulk_copy():
    pa = persistence(1)
    fill(pa, 300)
    mp = pair(pa=pa)
    mp.run(101)
    mp.replace("b", peer(2, persistence(3), "standby", seed=7), 101)
    assert not mp.b.synced
    mp.run(103)
    assert held_full(mp.b.persistence) == held_full(pa)
    assert [e.resumed for e in kinds(mp.a.drain_events(), ev.PeerUp)] == [False, False]


def test_a_restarted_active_relearns_its_table_before_serving():
    """A restarts with empty tables (faster than VRRP fails over): it must not serve until
    it has relearnt every binding from B, and B needs no second bulk copy."""
    pa = persistence(1)
    fill(pa, 3000)
    mp = pair(pa=pa)
    mp.run(101)
    pb = mp.b.persistence
    before = held_full(pb)
    mp.b.drain_events()
    fresh = persistence(4)
    a2 = peer(1, fresh, "active", seed=3, audit=True)
    mp.b.teacher.budget = 500  # a lesson of several ticks
    assert not a2.ready
    mp.replace("a", a2, 101)
    mp.step(101.1)
    assert not a2.ready and a2.plan is Plan.LEARN_LESSON and a2.state is State.BULK
    mp.run(103)
    assert a2.ready and held_full(fresh) == before
    ready = kinds(a2.drain_events(), ev.Ready)
    assert [(r.learned, r.why) for r in ready] == [(True, "relearnt from the standby")]
    bulks = kinds(mp.b.drain_events(), ev.BulkStarted)
    assert {e.why for e in bulks if e.sending} == {"lesson"}
    assert not [e for e in bulks if not e.sending]  # no copy back to B
    assert a2.plan is Plan.TEACH and mp.b.plan is Plan.LEARN and mp.b.synced
    bind(fresh, 9000, 103)
    mp.run(104)
    assert held_full(pb) == held_full(fresh)


def test_an_active_alone_serves_after_the_learn_timeout():
    a = peer(1, persistence(1), "active", timers=Timers(learn_timeout=5))
    a.connection_made(100)
    a.tick(104)
    assert not a.ready
    a.tick(105)
    assert a.ready
    assert [r.learned for r in kinds(a.drain_events(), ev.Ready)] == [False]


def test_a_fresh_pair_needs_no_lesson():
    mp = pair()
    assert mp.a.ready  # the standby had nothing to teach
    mp.run(101)
    assert mp.a.synced and mp.b.synced


# ---- the bulk runs while the active keeps serving ---------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_a_bulk_copy_interleaved_with_live_changes_ends_identical(seed):
    rng = random.Random(seed)
    pa = persistence(1, capacity=1 << 14)
    for i in range(8000):
        bind(pa, i, 100)
    mp = pair(pa=pa, pb=persistence(2, capacity=1 << 14), budget=700, batch=256)
    bulk_ticks = 0

    def traffic(now):
        nonlocal bulk_ticks
        bulk_ticks += mp.a.teacher.bulking
        for _ in range(60):
            i = rng.randrange(9000)
            r = rng.random()
            if r < 0.4:
                bind(pa, i, now, real=rng.randrange(7))
            elif r < 0.7:
                pa.forget(KeyKind.IPV4, 1, ip(i))
            else:
                e = pa.lookup(KeyKind.IPV4, 1, ip(i), now)
                if e is not None:
                    pa.touch(KeyKind.IPV4, 1, e.key, now, e)

    mp.run(103, each=traffic)
    assert bulk_ticks >= 10  # the bulk really did span many ticks of live traffic
    mp.run(104)
    assert held_full(mp.b.persistence) == held_full(pa)
    assert mp.b.stats.dropped["table_full"] == 0


def test_entries_the_standby_has_no_room_for_are_counted():
    pa = persistence(1, capacity=1 << 12)
    fill(pa, 1500)
    mp = pair(pa=pa, pb=persistence(2, capacity=1 << 10))
    mp.run(101)
    full = kinds(mp.b.drain_events(), ev.TableFull)
    assert sum(e.count for e in full) == mp.b.stats.dropped["table_full"] == 1500 - 1024


def test_a_standby_whose_table_was_cleared_asks_for_a_fresh_copy():
    pa = persistence(1)
    fill(pa, 100)
    mp = pair(pa=pa)
    mp.run(101)
    mp.b.persistence.clear()  # /oper/slb/clear on the standby
    assert mp.b.request_resync(101)
    mp.run(102)
    assert held_full(mp.b.persistence) == held_full(pa) and mp.a.stats.resyncs == 1
    assert [e.why for e in kinds(mp.a.drain_events(), ev.BulkStarted)][-1] == "resync-request"
    assert not mp.a.request_resync(102)  # the active has nobody to ask


def test_undrained_events_are_bounded():
    mp = pair()
    mp.run(101)
    for _ in range(5000):
        mp.b._events.append(ev.PeerDown(0, "x"))
    mp.step(101.1)
    assert len(mp.b.drain_events()) == 4096 and mp.b.stats.events_lost >= 904


def test_frames_are_authenticated_per_session_and_direction():
    mp = pair()
    bind(mp.a.persistence, 1, 100)
    mp.step(100.1)
    s = mp.a._session
    assert s.tx_key != s.rx_key and mp.b._session.rx_key == s.tx_key
    # a frame reflected back at its sender does not authenticate
    frame = wire.seal(wire.Msg.ACK, 99, wire.encode(wire.Ack(1, 1))[1], s.tx_key)
    mp.a.receive(frame, 100.2)
    assert mp.a.stats.dropped["bad_mac"] == 1


def test_put_from_the_peer_is_not_mirrored_back():
    mp = pair()
    bind(mp.a.persistence, 1, 100)
    mp.run(101)
    t = mp.b.persistence.tables[KeyKind.IPV4]
    assert t.updates_since(0) == []  # learnt entries leave no journal records
    assert isinstance(next(iter(t.entries())), Entry)
