"""A hostile or broken link: loss, duplication, reordering, corruption, partitions, forged and
replayed frames, garbage.  Each costs a counter, never a crash, unbounded memory or a wrong
entry; once the link behaves, the standby converges on the active's table."""
from __future__ import annotations

import math
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from weboslb.ha import State, wire
from weboslb.ha.pair import Faults, FaultyLink, split_frames
from weboslb.table.batch import KeyBatch
from weboslb.table.contract import NO_REAL, KeyKind

from .helpers import OTHER_KEY, bind, held, held_full, ip, pair, peer, persistence
from .test_failover import churn

SCHEDULES = settings(max_examples=25, deadline=None, derandomize=True,  # same schedules
                     suppress_health_check=[HealthCheck.too_slow])  # every run


def same_bindings(a, b, slack: float) -> None:
    """b holds a's bindings (kind, key, real, SP, flags); an expiry may be later by the link's
    latency rounded up, since a lifetime travels as the seconds left when sent."""
    fa, fb = held_full(a), held_full(b)
    assert fa.keys() == fb.keys()
    for k, (real, sp, flags, exp) in fa.items():
        real_b, sp_b, flags_b, exp_b = fb[k]
        assert (real_b, sp_b, flags_b) == (real, sp, flags), k
        assert exp <= exp_b <= exp + slack, (k, exp, exp_b)


def converge(mp, seconds: float = 20.0) -> None:
    """Heal the link and let the pair settle."""
    mp.heal()
    mp.ab.faults = mp.ba.faults = Faults()
    mp.run(mp.now + seconds)


@SCHEDULES
@given(seed=st.integers(0, 1 << 20),
       faults=st.builds(Faults, drop=st.sampled_from([0, 0.1, 0.4]),
                        duplicate=st.sampled_from([0, 0.2]),
                        reorder=st.sampled_from([0, 0.3]),
                        corrupt=st.sampled_from([0, 0.05, 0.2]),
                        delay=st.sampled_from([0, 0.02, 0.5]),
                        jitter=st.sampled_from([0, 0.3]), split=st.booleans()),
       cuts=st.lists(st.tuples(st.floats(100, 115), st.floats(0.5, 8)), max_size=2),
       update=st.sampled_from([0, 2]))
def test_after_any_fault_schedule_the_standby_converges(seed, faults, cuts, update):
    rng = random.Random(seed)
    mp = pair(update=update, seed=seed, faults=faults)
    traffic = churn(mp, rng, n=10)
    schedule = sorted(cuts)

    def each(now):
        traffic(now)
        while schedule and schedule[0][0] <= now:
            start, length = schedule.pop(0)
            mp.cut(start + length)

    mp.run(118, each=each)
    converge(mp)
    latency = faults.delay + faults.jitter
    if faults.reorder:
        latency += latency + 0.05
    same_bindings(mp.a.persistence, mp.b.persistence, latency + 1)
    assert mp.b.state is State.SYNCED and mp.a.state is State.SYNCED


def test_duplicated_frames_are_dropped_as_replays():
    mp = pair(faults=Faults(duplicate=1.0))
    mp.run(105, each=churn(mp, random.Random(1)))
    assert mp.b.stats.dropped["replay"] > 10 and mp.a.stats.dropped["replay"] > 10
    converge(mp, 3)
    assert held(mp.b.persistence) == held(mp.a.persistence)


def test_reordered_frames_are_resent_in_order():
    mp = pair(faults=Faults(reorder=0.5, delay=0.1, jitter=0.2), seed=3)
    mp.run(110, each=churn(mp, random.Random(2)))
    assert mp.b.stats.dropped["gap"] > 0  # early messages wait in the reorder buffer
    converge(mp, 5)
    same_bindings(mp.a.persistence, mp.b.persistence, 2)


def test_corrupted_frames_fail_authentication_and_are_resent():
    mp = pair(faults=Faults(corrupt=0.3), seed=5)
    mp.run(110, each=churn(mp, random.Random(3)))
    assert mp.b.stats.dropped["bad_mac"] > 0 and mp.a.stats.retransmits > 0
    converge(mp, 10)
    same_bindings(mp.a.persistence, mp.b.persistence, 2)  # resent records arrive late


def test_a_stream_cut_into_random_slices_is_reassembled():
    mp = pair(faults=Faults(split=True), seed=9)
    mp.run(105, each=churn(mp, random.Random(4)))
    assert mp.ab.stats["sent"] > 3 * mp.a.stats.frames_out / 2
    assert held_full(mp.b.persistence) == held_full(mp.a.persistence)


def test_forged_frames_are_counted_and_never_applied():
    mp = pair()
    mp.run(101)
    before = held(mp.b.persistence)
    epoch, dseq = mp.b.learner.epoch, mp.b.learner.next_dseq
    evil = wire.Records(epoch, dseq, KeyKind.IPV4, False,
                        [(1, 4, 1, 3, 9, 1, 600, 600, 0, b"\x06\x06\x06\x06")])
    typ, body = wire.encode(evil)
    forged = [wire.seal(typ, 1000 + i, body, k) for i, k in
              enumerate((OTHER_KEY, b"\0" * 32, mp.a._hello_key))]  # not the session key
    for f in forged:
        mp.ab.inject(f, mp.now)
    mp.run(102)
    assert held(mp.b.persistence) == before
    assert mp.b.stats.dropped["bad_mac"] == 3
    assert mp.b.state is State.SYNCED


def test_replayed_frames_never_resurrect_a_deleted_binding():
    mp = pair()
    captured: list[bytes] = []
    send = mp.ab.send
    mp.ab.send = lambda data, now: (captured.append(data), send(data, now))
    p = mp.a.persistence
    bind(p, 1, 100)
    mp.run(102)
    p.forget(KeyKind.IPV4, 1, ip(1))
    mp.run(103)
    assert held(mp.b.persistence) == {}
    sessions = mp.b.stats.sessions
    mp.ab.inject(b"".join(captured), mp.now)  # everything A ever said, again
    mp.run(105)
    assert held(mp.b.persistence) == {}
    assert mp.b.stats.dropped["replay"] > 0
    assert mp.b.stats.sessions == sessions  # old handshakes do not reset the session
    # after a reconnect, the old session's frames do not even authenticate
    mp.reconnect()
    mp.run(107)
    bad = mp.b.stats.dropped["bad_mac"]
    mp.ab.inject(b"".join(captured[3:]), mp.now)
    mp.run(108)
    assert mp.b.stats.dropped["bad_mac"] > bad and held(mp.b.persistence) == {}
    bind(p, 2, 108)
    mp.run(109)
    assert held(mp.b.persistence) == held(p)


def test_hostile_bytes_cost_counters_and_the_link_recovers():
    mp = pair()
    mp.run(101)
    b = mp.b
    head = wire.HEAD.pack(wire.MAGIC, wire.VERSION, wire.Msg.RECORDS, 0xFFFF_FFFF, 7)
    hostile = [
        b"\xde\xad\xbe\xef" * 1000,  # garbage
        wire.seal(wire.Msg.ACK, 5, b"\0" * 17, OTHER_KEY)[:-9],  # truncated, wrong key
        head + b"\0" * 100,  # a huge length field
        wire.HEAD.pack(wire.MAGIC, 7, wire.Msg.HELLO, 17, 1) + b"\0" * 41,  # wrong version
        wire.HEAD.pack(wire.MAGIC, 7, wire.Msg.ACK, 17, 1) + b"\0" * 41,  # that is no hello
        wire.seal(wire.Msg.HELLO, 0, b"\1" * 84, OTHER_KEY),  # a hello under another key
        bytes(random.Random(1).randbytes(50_000)),
    ]
    for h in hostile:
        mp.ab.inject(h, mp.now)
    mp.run(103)
    d = b.stats.dropped
    assert d["malformed"] >= 3 and d["version"] >= 1 and d["bad_mac"] >= 2
    assert b._deframer.pending < wire.MAX_FRAME
    assert b.stats.junk_bytes >= 54_000
    bind(mp.a.persistence, 1, 103)  # the real peer keeps working
    mp.run(104)
    assert held(b.persistence) == held(mp.a.persistence) and b.state is State.SYNCED


def test_endless_garbage_is_held_in_bounded_memory():
    mp = pair()
    rng = random.Random(7)
    for _ in range(100):
        mp.b.receive(rng.randbytes(100_000), mp.now)
        assert mp.b._deframer.pending < wire.MAX_FRAME
    frame = wire.HEAD.pack(wire.MAGIC, wire.VERSION, wire.Msg.ACK, wire.MAX_BODY, 1)
    mp.b.receive(frame + b"\0" * 8 + b"\0" * (wire.MAX_BODY - 100), mp.now)
    assert mp.b._deframer.pending < wire.MAX_FRAME


def test_a_silent_partition_is_detected_and_the_pair_resumes():
    mp = pair()
    mp.run(101)
    mp.cut(120)
    mp.run(106)
    assert mp.a.state is State.DOWN and mp.b.state is State.DOWN
    bind(mp.a.persistence, 5, 106)
    mp.run(125)
    assert held(mp.b.persistence) == held(mp.a.persistence)


def test_the_fault_schedule_is_deterministic():
    def run(seed):
        link = FaultyLink(seed, Faults(drop=0.3, duplicate=0.3, reorder=0.3, corrupt=0.3,
                                       delay=0.1, jitter=0.1, split=True))
        for i in range(50):
            link.send(bytes([i]) * 100, i * 0.01)
        return link.deliver(10.0), dict(link.stats)
    assert run(1) == run(1) != run(2)


def test_split_frames_keeps_unframed_bytes_whole():
    f = wire.seal(wire.Msg.ACK, 1, wire.encode(wire.Ack(1, 1))[1], b"k" * 32)
    assert split_frames(f + f + b"junk") == [f, f, b"junk"]


# ---- restarts under a faulty link, and the promise checked at every step ------------------------
#
# Promise: an entry the standby acknowledged is in its table, with its real, for as long as it
# lives and the active has not changed it since; after the link heals, the standby's
# persistent entries are the active's entry by entry (kind, vsvc, key, real; the expiries
# apart by at most the link's one-way latency rounded up: a second on any usual link).

LINKS = {  # fault profiles a restart is tried under
    "clean": Faults(),
    "lossy": Faults(drop=0.3, delay=0.05, jitter=0.1),
    "reordering": Faults(reorder=0.4, duplicate=0.3, delay=0.1, jitter=0.2),
    "corrupting": Faults(corrupt=0.15, drop=0.05, delay=0.02),
    "sliced": Faults(split=True, corrupt=0.02, drop=0.01),  # a byte stream, slices lost
}


def bound(p, keys, now: float) -> dict:
    """(kind, vsvc, key) -> real for those of ``keys`` the table binds now (one C lookup a
    kind: the check runs after every step)."""
    by_kind: dict[KeyKind, list] = {}
    for k in keys:
        by_kind.setdefault(k[0], []).append(k)
    out = {}
    for kind, ks in by_kind.items():
        table = p.tables.get(kind)
        if table is None:
            continue
        reals = table.lookup_many(KeyBatch.of(kind, [k[2] for k in ks], [k[1] for k in ks]),
                                  now=int(now))
        out.update((k, r) for k, r in zip(ks, reals) if r != NO_REAL)
    return out


def check_acked(mp) -> int:
    """The acknowledged-entries promise, checked now on whichever side teaches; the number
    of entries checked.  The teacher's model of the learner (``AckedModel``: the acknowledged
    prefix of the stream) plus the messages the learner applied whose acknowledgements are
    still in flight must all be in the learner's table; in particular every entry of
    ``acked_entries()`` that no such later message changed."""
    checked = 0
    for t, lrn in ((mp.a, mp.b), (mp.b, mp.a)):
        te, le = t.teacher, lrn.learner
        if not te.epoch or te.acked is None or \
                (le.epoch, le.teacher) != (te.epoch, t.incarnation):
            continue  # no stream between these two (a restart, a role change under way)
        # both tables change only as messages are applied or acknowledged
        sig = (t.incarnation, te.epoch, te.next_dseq, len(te.unacked), le.next_dseq,
               lrn.stats.applied)
        if _checked.get(id(mp)) == sig:
            continue
        _checked[id(mp)] = sig
        applied = [o.msg for o in te.unacked if o.msg.dseq < le.next_dseq]
        model = te.acked.copy()
        for msg in applied:
            model.apply(msg)
        have = bound(lrn.persistence, model.entries.keys(), mp.now)
        missing = {k: r for k, r in model.entries.items() if have.get(k) != r}
        assert not missing, f"{len(missing)} acknowledged entries missing, e.g. " \
                            f"{next(iter(missing.items()))}"
        acked = t.acked_entries()
        if applied:  # else acked IS the model
            changed = {(m.kind, r[2], r[9][:r[1]]) for m in applied
                       for r in getattr(m, "records", ())}
            kept = {k: r for k, r in acked.items() if k not in changed}
            assert kept.items() <= bound(lrn.persistence, kept, mp.now).items()
        checked += len(acked)
    return checked


_checked: dict[int, tuple] = {}  # pair -> what it was when last checked


def same_tables(pa, pb, within: int = 1) -> None:
    """Both tables hold the same persistent entries: kind, vsvc, key and real equal, the
    expiries at most ``within`` seconds apart (the learner's copy of an entry is later by
    its trip across the link rounded up to the second; after a lesson that is the active)."""
    fa, fb = held_full(pa), held_full(pb)
    only_a, only_b = fa.keys() - fb.keys(), fb.keys() - fa.keys()
    assert not only_a and not only_b, (f"{len(only_a)} entries only on the active, "
                                       f"{len(only_b)} only on the standby")
    for k, (real, _sp, _flags, exp) in fa.items():
        real_b, _, _, exp_b = fb[k]
        assert real_b == real, (k, real, real_b)
        assert (exp is None and exp_b is None) or abs(exp_b - exp) <= within, (k, exp, exp_b)


def latency(f: Faults) -> float:
    """The longest one-way trip a faulty link gives a frame (``FaultyLink.send``)."""
    worst = f.delay + f.jitter
    return worst + (worst + 0.051 if f.reorder else 0.0)


def drive(mp, until: float, each=None, dt: float = 0.1) -> int:
    """``mp.run`` with the acknowledged-entries promise checked after every step; the most
    entries one check covered."""
    most = 0
    while mp.now + dt <= until + 1e-9:
        now = round(mp.now + dt, 9)
        if each is not None:
            each(now)
        mp.step(now)
        most = max(most, check_acked(mp))
    return most


def drive_until(mp, done, each=None, limit: float = 30.0, dt: float = 0.1) -> None:
    """``drive`` step by step until ``done()`` (a test's moment), within ``limit`` s."""
    end = mp.now + limit
    while not done():
        assert mp.now < end, "the moment never came"
        drive(mp, mp.now + dt, each, dt)


def mid_bulk(mp) -> bool:
    """The standby holds a part of its bulk copy."""
    return ENTRIES // 5 <= mp.b.stats.bulk_applied < ENTRIES * 4 // 5 and not mp.b.synced


def serving(mp, rng: random.Random, n: int = 10):
    """Client traffic (``churn``) on whichever switch is the active now, while it serves (a
    restarted active serves once ready)."""
    def each(now: float) -> None:
        if mp.a.ready:
            churn(mp, rng, n)(now)  # churn reads mp.a when made
    return each


_restarts = iter(range(100, 1 << 30))


def restarted(mp, which: str, *, slow: bool = True):
    """A new incarnation of switch ``which`` with empty tables (a fresh seed: new nonces)."""
    sid, role = (1, "active") if which == "a" else (2, "standby")
    kw = SLOW if slow else {}
    return peer(sid, persistence(sid + 4), role, seed=next(_restarts), audit=True, **kw)


SLOW = {"batch": 16, "window": 32, "budget": 32}  # a bulk of 32 entries a tick at most
ENTRIES = 600


def slow_pair(faults: Faults, seed: int, entries: int = ENTRIES):
    """A pair whose bulk copy of ``entries`` bindings takes a few seconds."""
    pa = persistence(1)
    for i in range(entries):
        bind(pa, 1000 + i, 100, real=i % 7)
    return pair(pa=pa, faults=faults, seed=seed, **SLOW)


@pytest.mark.parametrize("link", LINKS)
def test_a_standby_restarting_mid_bulk_sync_ends_with_the_active_s_table(link):
    mp = slow_pair(LINKS[link], seed=11)
    rng = random.Random(11)
    traffic = serving(mp, rng)
    for restart in range(2):  # restarts twice, each time in the middle of its copy
        drive_until(mp, lambda: mid_bulk(mp), traffic)
        mp.replace("b", restarted(mp, "b"))
        assert held(mp.b.persistence) == {}
    drive_until(mp, lambda: mp.b.synced, traffic, limit=120)
    assert drive(mp, mp.now + 2, traffic) > ENTRIES  # the promise held on full tables
    converge(mp, 5)
    same_tables(mp.a.persistence, mp.b.persistence, max(1, math.ceil(latency(LINKS[link]))))
    assert mp.b.state is State.SYNCED and mp.a.state is State.SYNCED


@pytest.mark.parametrize("link", LINKS)
def test_a_restarted_active_relearns_every_acknowledged_entry(link):
    faults = LINKS[link]
    mp = slow_pair(faults, seed=12)
    traffic = serving(mp, random.Random(12))
    drive(mp, 125, traffic)
    assert mp.b.synced
    promised = mp.a.acked_entries()
    assert len(promised) >= ENTRIES
    # what the standby applied beyond its last acknowledgement may have changed some
    te, next_dseq = mp.a.teacher, mp.b.learner.next_dseq
    changed = {(o.msg.kind, r[2], r[9][:r[1]]) for o in te.unacked if o.msg.dseq < next_dseq
               for r in getattr(o.msg, "records", ())}
    mp.replace("a", restarted(mp, "a"))
    assert not mp.a.ready  # serves nothing until it has relearnt the table
    drive_until(mp, lambda: mp.a.ready, traffic, limit=20)
    ready = [e for e in mp.a.drain_events() if type(e).__name__ == "Ready"]
    assert [(e.learned, e.why) for e in ready] == [(True, "relearnt from the standby")]
    # the moment it serves: the standby's table, so every acknowledged entry
    relearnt = held(mp.a.persistence)
    assert relearnt == held(mp.b.persistence)
    assert {k: r for k, r in promised.items() if k not in changed}.items() <= relearnt.items()
    drive(mp, mp.now + 10, traffic)  # clients again, on the fresh active
    assert held(mp.a.persistence) != relearnt
    converge(mp, 5)
    same_tables(mp.a.persistence, mp.b.persistence, max(1, math.ceil(latency(faults))))


def test_a_restarted_active_relearns_before_any_client_changes_its_table():
    """The exact form of the promise, on a clean link: the relearnt table IS what the
    standby acknowledged (no traffic until the fresh active is ready)."""
    mp = slow_pair(Faults(), seed=13)
    drive(mp, 110, churn(mp, random.Random(13)))
    promised = mp.a.acked_entries()
    mp.replace("a", restarted(mp, "a"))
    drive(mp, mp.now + 5)
    assert mp.a.ready and held(mp.a.persistence) == promised == held(mp.b.persistence)


@pytest.mark.parametrize("link", ["clean", "lossy"])
def test_an_active_restarting_while_the_standby_is_mid_bulk_learns_nothing_partial(link):
    """A standby without a complete copy teaches no lesson: the fresh active serves from
    empty tables as soon as the handshake tells it so (at the latest after the learn
    timeout), and its bulk copy sweeps the standby's partial one."""
    mp = slow_pair(LINKS[link], seed=14)
    drive_until(mp, lambda: mid_bulk(mp))
    mp.replace("a", restarted(mp, "a"))
    drive_until(mp, lambda: mp.a.ready, limit=mp.a.timers.learn_timeout + 0.2)
    ready = [e for e in mp.a.drain_events() if type(e).__name__ == "Ready"]
    assert [e.learned for e in ready] == [False]
    drive(mp, mp.now + 30, serving(mp, random.Random(14)))
    converge(mp, 5)
    same_tables(mp.a.persistence, mp.b.persistence, 1)
    assert not held(mp.b.persistence).keys() & {(KeyKind.IPV4, 1, ip(1000 + i))
                                                  for i in range(ENTRIES)}


ACTIONS = st.sampled_from(["cut", "restart-standby", "restart-active", "reconnect"])


@SCHEDULES
@given(seed=st.integers(0, 1 << 20),
       faults=st.builds(Faults, drop=st.sampled_from([0, 0.2]),
                        duplicate=st.sampled_from([0, 0.2]),
                        reorder=st.sampled_from([0, 0.3]),
                        corrupt=st.sampled_from([0, 0.1]),
                        delay=st.sampled_from([0, 0.05, 0.3]),
                        jitter=st.sampled_from([0, 0.2]), split=st.booleans()),
       actions=st.lists(st.tuples(st.floats(100.2, 130), ACTIONS, st.floats(0.2, 6)),
                        max_size=4),
       update=st.sampled_from([0, 2]))
def test_any_schedule_of_faults_and_restarts_keeps_the_promise(seed, faults, actions,
                                                               update):
    """Faults, partitions, reconnections and restarts of either switch at any time (mid-bulk
    included): the promise holds at every step, and once the link heals the tables agree."""
    pa = persistence(1)
    for i in range(300):
        bind(pa, 1000 + i, 100)
    mp = pair(pa=pa, faults=faults, seed=seed, update=update, **SLOW)
    traffic = serving(mp, random.Random(seed))
    checked = 0
    for at, action, length in sorted(actions):
        checked = max(checked, drive(mp, at, traffic))
        if action == "cut":
            mp.cut(mp.now + length)
        elif action == "reconnect":
            mp.reconnect()
        else:
            mp.replace("b" if action == "restart-standby" else "a",
                       restarted(mp, "b" if action == "restart-standby" else "a"))
    checked = max(checked, drive(mp, 140, traffic))
    mp.heal()
    mp.ab.faults = mp.ba.faults = Faults()
    checked = max(checked, drive(mp, mp.now + 25))
    # the promise was checked on the whole table (smaller than 300 when the active
    # restarted before the standby held a complete copy: then its 300 entries are gone)
    assert checked >= len(held(mp.a.persistence)) > 0
    # periodic mode: the last flush may have read a touch a second before the clean link
    same_tables(mp.a.persistence, mp.b.persistence,
                max(1, math.ceil(latency(faults))) + (update > 0))
    assert mp.b.state is State.SYNCED and mp.a.state is State.SYNCED


@pytest.mark.parametrize("seed", [1, 2, 4])  # the schedules that stalled for minutes
def test_a_link_losing_a_third_of_its_frames_slows_the_bulk_but_never_stalls_it(seed):
    """Each lost message is resent; an acknowledgement that moves the window on ends the
    timeout's back-off (it used to keep doubling up to a minute: these copies of 600
    entries under traffic took 224, 409 and 172 s; now 13 to 19 s)."""
    mp = slow_pair(Faults(drop=0.3, delay=0.05, jitter=0.1), seed=seed)
    drive_until(mp, lambda: mp.b.synced, serving(mp, random.Random(seed)), limit=40)
    assert mp.a.stats.retransmits > 20 and mp.a.teacher.rto < 5
