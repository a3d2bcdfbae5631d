"""A hostile or broken link: loss, duplication, reordering, corruption, partitions, forged and
replayed frames, garbage.  Each costs a counter, never a crash, unbounded memory or a wrong
entry; once the link behaves, the standby converges on the active's table."""
from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from weboslb.ha import State, wire
from weboslb.ha.pair import Faults, FaultyLink, split_frames
from weboslb.table.contract import KeyKind

from .helpers import OTHER_KEY, bind, held, held_full, ip, pair
from .test_failover import churn

SCHEDULES = settings(max_examples=25, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


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
        wire.HEAD.pack(wire.MAGIC, 7, wire.Msg.ACK, 17, 1) + b"\0" * 41,  # wrong version
        wire.seal(wire.Msg.HELLO, 0, b"\1" * 84, OTHER_KEY),  # a hello under another key
        bytes(random.Random(1).randbytes(50_000)),
    ]
    for h in hostile:
        mp.ab.inject(h, mp.now)
    mp.run(103)
    d = b.stats.dropped
    assert d["malformed"] >= 2 and d["version"] >= 1 and d["bad_mac"] >= 2
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
