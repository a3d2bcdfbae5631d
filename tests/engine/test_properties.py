"""Properties of the engine over random traffic: what holds whatever the clients do."""
from __future__ import annotations

import ipaddress

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.engine.net import Flow
from tests.engine.test_switch import VIP, make
from weboslb.engine.events import Bound, Persist, Verdict

STEP = st.tuples(
    st.integers(0, 5),  # client
    st.integers(0, 2),  # connection of that client
    st.sampled_from(["open", "data", "reply", "close", "rst"]),
    st.sampled_from([0.0, 0.5, 3.0, 30.0, 130.0]),  # seconds before the step
    st.sampled_from([None, None, None, 1, 2, 3]),  # a real that goes down (or comes back)
)


def play(sw, steps):
    flows: dict[tuple[int, int], Flow] = {}
    ports = iter(range(20000, 65536))  # every connection its own client port
    now = 1000.0
    frames = 0
    log = []  # (conn key, action)
    for client, n, what, dt, flip in steps:
        now += dt
        if flip is not None:
            sw.farm.set_health(flip, not sw.farm.available(flip))
        key = (client, n)
        f = flows.get(key)
        if what == "open" or f is None:
            f = flows[key] = Flow(f"198.51.100.{client + 1}", next(ports), VIP, 80)
            batch = f.handshake()
        elif what == "data":
            batch = [f.send(b"GET / HTTP/1.0\r\n\r\n")]
        elif what == "reply":
            batch = [f.reply(b"HTTP/1.0 200 OK\r\n\r\n")]
        elif what == "close":
            batch = f.close()
            del flows[key]  # a later step opens a new connection (a new client port)
        else:
            batch = [f.rst()]
            del flows[key]
        for frame in batch:
            log.append(((f.cip, f.cport), sw.process(frame, now)))
            frames += 1
        yield now, frames, log


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(STEP, min_size=1, max_size=40))
def test_clientip_traffic_keeps_its_promises(steps):
    sw = make("{group: 1, pbind: clientip, ptmout: 1}")
    bound_real: dict[str, int] = {}
    binds = seen = 0
    current: dict[tuple, int] = {}  # connection -> the real its session is bound to
    for now, frames, log in play(sw, steps):
        # a persistence hit goes to the real the binding named
        for e in sw.drain():
            if isinstance(e, Bound):
                binds += 1
                if e.persist is Persist.HIT:
                    assert bound_real[e.key] == e.real
                bound_real[e.key] = e.real
                current[str(ipaddress.ip_address(e.conn.cip)), e.conn.cport] = e.real
        # every packet of a connection goes to the real its session is bound to (a session
        # idle past its timeout is aged: a later packet is a new session, bound anew)
        for conn, act in log[seen:]:
            if act.real is not None:
                assert act.real == current[conn]
        seen = len(log)
        # nothing outlives its timeout by more than one sweep period
        slow = sw.sessions.slow_period
        for s in sw.sessions:
            assert now - s.last <= s.timeout + slow
        for _, e in sw.persistence.entries():
            assert now - (e.last_used + e.timeout) <= slow
        # counters add up: one verdict a frame; sessions opened = bound + refused + pending
        assert sum(sw.verdicts.values()) == frames
        assert sw.maint.current_sessions == len(sw.sessions)
        opened = sum(sw.farm.real_stats(r).total for r in (1, 2, 3))
        assert opened == binds
        assert sw.verdicts[Verdict.RESET] == sw.maint.no_available_real
        assert sum(sw.farm.real_stats(r).current for r in (1, 2, 3)) == sum(
            1 for s in sw.sessions if s.real is not None)
