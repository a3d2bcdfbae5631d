"""The /stats/slb counters: how they count, add up and clear."""
from __future__ import annotations

import pytest

from weboslb.engine.stats import (
    GroupStats,
    Layer7Stats,
    MaintStats,
    RealStats,
    Sessions,
    VirtStats,
    snapshot,
)


def test_sessions_count_current_total_and_highest():
    s = Sessions()
    for op in "ooocoocccc":  # three opens, a close, two opens, then more closes than opens
        s.opened() if op == "o" else s.closed()
    assert (s.current, s.total, s.highest) == (0, 5, 4)


@pytest.mark.parametrize("n, octets", [(100, 100), (0, 0), (-5, 0)])
def test_octets_only_grow(n, octets):
    s = Sessions()
    s.add_octets(n)
    assert s.octets == octets


def test_group_totals_add_up_like_the_device_page():
    # the "Real server group 1 stats" sample of the AlteonOS command reference
    g = GroupStats({1: Sessions(20, 60, 9, 480000), 2: Sessions(20, 77, 12, 616000)})
    assert g.totals == Sessions(40, 137, 21, 1096000)
    assert GroupStats().totals == Sessions()


def test_virt_stats_count_per_real_and_in_total():
    v = VirtStats()
    for real in (1, 2, 1, "web"):
        v.opened(real)
    v.closed(1)
    v.add_octets(2, 1500)
    assert (v.reals[1].current, v.reals[1].total) == (1, 2)
    assert v.totals == Sessions(current=3, total=4, highest=4, octets=1500)


def test_clear_keeps_the_session_table_gauges():
    r = RealStats(current=3, total=40, highest=9, octets=1234, failures=2)
    r.clear()
    assert r == RealStats(current=3, total=0, highest=3, octets=0, failures=0)
    v = VirtStats({1: Sessions(2, 5, 4, 10)})
    v.clear()
    assert v.reals[1] == Sessions(2, 0, 2, 0)


def test_clear_maint_zeroes_counters_not_capacity_or_current():
    m = MaintStats(maximum_sessions=1 << 20, current_sessions=7, no_available_real=3,
                   backup_activations=2, overflow_activations=1, allocation_failures=4,
                   current_ip6_sessions=2)
    m.sample(0.0)
    m.clear()
    assert (m.maximum_sessions, m.current_sessions, m.current_ip6_sessions) == (1 << 20, 7, 2)
    assert (m.no_available_real, m.backup_activations, m.overflow_activations,
            m.allocation_failures) == (0, 0, 0, 0)
    assert m.avg_4s == m.avg_64s == 7.0


def test_clear_layer7_keeps_half_open_connections():
    s = Layer7Stats(half_open=5, aged_dbind_sessions=3, invalid_handshakes=1)
    s.clear()
    assert s == Layer7Stats(half_open=5)


@pytest.mark.parametrize("steps, short, long", [
    ([(0.0, 10)], 10.0, 10.0),  # the first sample sets both averages
    ([(0.0, 0), (1000.0, 100)], 100.0, 100.0),  # long after: both converge
    ([(0.0, 0), (4.0, 100)], 63.2, 6.1),  # one time constant of the short average
    ([(0.0, 0), (4.0, 100), (2.0, 0)], 63.2, 6.1),  # time going backwards changes nothing
])
def test_four_and_sixty_four_second_averages(steps, short, long):
    m = MaintStats()
    for now, current in steps:
        m.current_sessions = current
        m.sample(now)
    assert m.avg_4s == pytest.approx(short, abs=0.1)
    assert m.avg_64s == pytest.approx(long, abs=0.1)


def test_a_snapshot_does_not_follow_later_traffic():
    r = RealStats()
    r.opened()
    snap = snapshot(r)
    r.opened()
    assert (snap.current, r.current) == (1, 2) and isinstance(snap, RealStats)
