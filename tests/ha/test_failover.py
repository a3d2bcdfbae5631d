"""Failover in both modes, as Alteon's model predicts it: with immediate updates no binding
the standby acknowledged is lost; with ``update N`` exactly the bindings created since the
last periodic flush are lost."""
from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from weboslb.ha.pair import Faults
from weboslb.table.contract import KeyKind

from .helpers import bind, held, ip, pair

FAILOVER = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def churn(mp, rng: random.Random, n: int = 20):
    """Client traffic on the active: new bindings, rebindings, touches, deletions."""
    p = mp.a.persistence

    def each(now: float) -> None:
        for _ in range(n):
            i = rng.randrange(400)
            r = rng.random()
            if r < 0.5:
                bind(p, i, now, real=rng.randrange(7))
            elif r < 0.7:
                p.forget(KeyKind.IPV4, 1, ip(i))
            else:
                e = p.lookup(KeyKind.IPV4, 1, ip(i), now)
                if e is not None:
                    p.touch(KeyKind.IPV4, 1, e.key, now, e)
    return each


@FAILOVER
@given(seed=st.integers(0, 1 << 16), fail_at=st.floats(100.5, 115),
       drop=st.sampled_from([0.0, 0.2, 0.5]), delay=st.sampled_from([0.0, 0.05, 0.4]))
def test_immediate_mode_loses_no_acknowledged_binding(seed, fail_at, drop, delay):
    rng = random.Random(seed)
    mp = pair(update=0, seed=seed, faults=Faults(drop=drop, delay=delay, jitter=delay))
    mp.run(fail_at, each=churn(mp, rng))
    mp.cut()  # the active dies: nothing more leaves it
    teacher, received = mp.a.teacher, mp.b.learner.next_dseq
    mp.b.promote(fail_at)
    assert mp.b.ready
    # the standby holds the acknowledged prefix of the stream, plus the later messages it
    # received whose acknowledgements died with the active: nothing less, nothing else
    expected = teacher.acked.copy()
    acked_upto = teacher.unacked[0].msg.dseq if teacher.unacked else teacher.next_dseq
    assert received >= acked_upto
    for out in teacher.unacked:
        if out.msg.dseq < received:
            expected.apply(out.msg)
    survivor = held(mp.b.persistence)
    assert survivor == expected.entries
    # so a binding acknowledged and not changed since is never lost
    active = held(mp.a.persistence)
    changed = {r[9][:r[1]] for o in teacher.unacked for r in getattr(o.msg, "records", ())}
    kept = {k: real for k, real in mp.a.acked_entries().items()
            if active.get(k) == real and k[2] not in changed}
    assert kept.items() <= survivor.items()
    if drop == 0.0 and delay == 0.0:
        assert survivor == held(mp.a.persistence)  # a perfect link: nothing even in flight


@pytest.mark.parametrize("update,fail_at", [(10, 135.5), (5, 121.3), (30, 159.9), (1, 110.7)])
def test_periodic_mode_loses_exactly_the_bindings_of_the_last_window(update, fail_at):
    mp = pair(update=update)
    mp.run(101)
    assert mp.b.synced
    created: dict[bytes, float] = {}
    p = mp.a.persistence

    def each(now: float) -> None:  # a new client every half second
        if abs(now * 2 - round(now * 2)) < 1e-6:
            created[bind(p, len(created), now)] = now

    mp.run(fail_at, each=each)
    last = mp.a.last_flush
    mp.cut()
    mp.b.promote(fail_at)
    active, survivor = held(p), held(mp.b.persistence)
    assert survivor.items() <= active.items()
    lost = set(active) - set(survivor)
    expected = {(KeyKind.IPV4, 1, k) for k, t in created.items() if t > last}
    assert lost == expected and expected
    assert fail_at - update < last <= fail_at


def test_periodic_mode_with_update_0_is_immediate():
    mp = pair(update=0)
    mp.run(101)
    bind(mp.a.persistence, 1, 101)
    mp.step(101.1)
    assert held(mp.b.persistence) == held(mp.a.persistence)
